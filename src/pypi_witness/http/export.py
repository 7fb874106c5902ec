"""Static tlog-tiles: the log written as files any web server, object store or CDN can serve.

``export_tiles`` writes, under a directory, exactly the resources the HTTP
face serves: ``tile/<L>/<N>[.p/<W>]``, ``tile/entries/<N>[.p/<W>]`` and
``checkpoint``. Served from that directory as the log's prefix, they are a
C2SP tlog-tiles log. Each file is written to a temporary name and renamed,
so a reader never sees half a tile; the checkpoint is written last, so every
tile it needs is there before it appears. Files already present are kept
(tiles never change: a full tile, and a partial tile of a given width, have
the same bytes forever), so a second export writes only what is new.
``keep_exported`` runs in a node and exports after each new checkpoint.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import trio

from pypi_witness.core.tlog.checkpoint import parse_checkpoint
from pypi_witness.core.tlog.merkle import leaf_hash
from pypi_witness.core.tlog.note import parse_note
from pypi_witness.core.tlog.tiles import TILE_WIDTH, Tile, bundles_of, format_bundle, tiles_of, width_at
from pypi_witness.core.errors import MalformedError, StoreError
from pypi_witness.http.tiles import make_tile
from pypi_witness.store.base import LogStore

logger = logging.getLogger("pypi_witness.http.export")
CHECKPOINT_FILE = "checkpoint"


@dataclass(frozen=True, slots=True)
class Exported:
    """What one export did: the tree size, files written, files already there, bundles left out."""

    size: int
    written: int
    kept: int
    skipped_bundles: tuple[str, ...] = ()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def export_tiles(store: LogStore, out: Path, note: bytes, *, since: int = 0) -> Exported:
    """Write the tiles and entry bundles of the tree ``note`` (a signed checkpoint of ``store``'s log) under ``out``.

    ``since``: a size exported before into ``out`` by this caller; full tiles
    it had are not even looked for. Then ``out/checkpoint`` is ``note``.
    Raises MalformedError if ``note`` is not a checkpoint, StoreError if the
    store does not hold its tree or ``out`` cannot be written. An entry bundle
    holding an entry longer than 65,535 bytes (tlog-tiles' limit) is left out
    and named in the result.
    """
    size = parse_checkpoint(parse_note(note).text).size
    if store.size() < size:
        raise StoreError(f"the store holds {store.size()} entries, fewer than the checkpoint's {size}")
    written = kept = 0
    skipped: list[str] = []

    def done_before(tile: Tile) -> bool:
        return tile.is_full and width_at(tile.level or 0, tile.index, since) == TILE_WIDTH

    try:
        # Level 0 and the bundles: one walk over the leaves, 256 at a time.
        for bundle in bundles_of(size):
            hashes = Tile(0, bundle.index, bundle.width)
            if done_before(bundle):
                continue
            paths = [out / bundle.path(), out / hashes.path()]
            if all(p.exists() for p in paths):
                kept += 2
                continue
            leaves = store.leaves(bundle.first, bundle.first + bundle.width)
            _write(paths[1], b"".join(map(leaf_hash, leaves)))
            try:
                _write(paths[0], format_bundle(leaves))
            except MalformedError as e:
                skipped.append(f"{bundle.path()}: {e}")
                written -= 1
            written += 2
        for tile in tiles_of(size):
            if tile.level == 0 or done_before(tile):
                continue
            path = out / tile.path()
            if path.exists():
                kept += 1
                continue
            _write(path, make_tile(tile, store))
            written += 1
        _write(out / CHECKPOINT_FILE, note)
    except OSError as e:
        raise StoreError(f"cannot write the tiles under {out}: {e.strerror or e}") from None
    return Exported(size, written + 1, kept, tuple(skipped))


async def keep_exported(
    store: LogStore, out: Path, checkpoint: Callable[[], bytes | None], every: float
) -> None:
    """Export into ``out`` whenever ``checkpoint()`` (the note to publish) changes, checking every ``every`` s.

    Runs until cancelled. A failed export is logged and tried again next time.
    """
    last: bytes | None = None
    since = 0
    while True:
        note = checkpoint()
        if note is not None and note != last:
            try:
                result = await trio.to_thread.run_sync(lambda: export_tiles(store, out, note, since=since))
            except (StoreError, MalformedError) as e:
                logger.warning("static tiles export into %s failed: %s", out, e)
            else:
                last, since = note, result.size
                for message in result.skipped_bundles:
                    logger.warning("static tiles export: %s", message)
                logger.debug("exported tiles of size %d into %s: %d written", result.size, out, result.written)
        await trio.sleep(every)
