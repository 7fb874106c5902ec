"""tlog-tiles byte for byte with Go's golang.org/x/mod/sumdb/tlog (frozen vectors, no Go needed).

tests/vectors/go_tiles.json holds, for trees of each size in SIZES over the
leaves ``test_leaves`` makes, every tile Go's ``tlog.NewTiles`` lists with
the SHA-256 of what ``tlog.ReadTileData`` made of it (scripts/gen_tile_vectors.py
ran Go). Here the same tiles are made as the node serves them, from an LMDB
store of those leaves through ``http.tiles`` (tlog-tiles' 256-wide tiles
built from the store's own 127-hash layout), and must be Go's, path for path
and byte for byte; the entry bundles must hold the leaves whose hashes are
Go's level-0 tiles. The sizes cover the empty tree, one leaf, one short of
a full tile, exactly full, one past, and partial tiles at levels 0, 1 and 2
(65,793 is partial at each with width 1; 70,000 is tlog-tiles' own example).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pypi_witness.core.tlog import merkle
from pypi_witness.core.records.format import format_record
from pypi_witness.core.tlog.tiles import Tile, bundles_of, parse_bundle, parse_tile_path, tiles_of
from pypi_witness.http.tiles import TileSource
from pypi_witness.store.lmdb_store import LmdbStore
from tests.factories import record

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "go_tiles.json"
SIZES = (0, 1, 255, 256, 257, 65_535, 65_536, 65_537, 65_793, 70_000)


def test_leaves(n: int) -> list[bytes]:
    """The leaves of the vectors' log: test records 0..n-1, formatted."""
    return [format_record(record(i)) for i in range(n)]


test_leaves.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def our_tiles(directory: Path, leaves: list[bytes]) -> Callable[[int, list[str]], list[tuple[str, int, str]]]:
    """A function giving (path, length, sha256) of the tiles at ``paths`` of a tree size, made as the node makes them."""
    store = LmdbStore(directory / "store", create=True)
    for start in range(0, len(leaves), 20_000):
        store.append([record(i) for i in range(start, min(start + 20_000, len(leaves)))])
    assert store.size() == len(leaves)
    source = TileSource(store, cache_size=1_000)

    def tiles(size: int, paths: list[str]) -> list[tuple[str, int, str]]:
        out = []
        for path in paths:
            data = source.get(parse_tile_path(path), size)
            out.append((path, len(data), hashlib.sha256(data).hexdigest()))
        return out

    tiles.source = source  # type: ignore[attr-defined]
    return tiles


@pytest.fixture(scope="module")
def vectors() -> dict:
    return json.loads(VECTORS.read_text())


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory):
    return our_tiles(tmp_path_factory.mktemp("tiles"), test_leaves(max(SIZES)))


def test_the_vectors_cover_the_sizes_asked_for(vectors):
    assert set(map(int, vectors["sizes"])) == set(SIZES)
    partial_levels = {
        int(path.split("/")[1]) for tiles in vectors["sizes"].values() for path, _, _ in tiles if ".p/" in path
    }
    assert partial_levels == {0, 1, 2}
    assert vectors["sizes"]["0"] == []


def latest_partials(paths: list[str]) -> set[str]:
    """``paths`` less the partial tiles that a wider partial of the same tile replaces.

    Go's ``NewTiles`` from size 0 lists every width a partial tile had on the
    way (.p/1, .p/2 ...); a tree of one size has only the widest.
    """
    widest: dict[tuple[int | None, int], int] = {}
    for path in paths:
        tile = parse_tile_path(path)
        key = (tile.level, tile.index)
        widest[key] = max(widest.get(key, 0), tile.width)
    return {p for p in paths if parse_tile_path(p).width == widest[(parse_tile_path(p).level, parse_tile_path(p).index)]}


@pytest.mark.parametrize("size", SIZES)
def test_our_tiles_are_gos(vectors, ours, size):
    go = sorted(tuple(t) for t in vectors["sizes"][str(size)])
    # The same bytes for every tile Go made (partial tiles of earlier widths too: they stay servable)...
    assert sorted(ours(size, [path for path, _, _ in go])) == go
    # ...and a tree of this size has exactly the full tiles and the widest partial tiles Go listed.
    assert {t.path() for t in tiles_of(size)} == latest_partials([path for path, _, _ in go])


@pytest.mark.parametrize("size", [257, 70_000])
def test_entry_bundles_hash_to_gos_level_0_tiles(vectors, ours, size):
    go = {path: digest for path, _, digest in vectors["sizes"][str(size)]}
    source = ours.source
    for bundle in bundles_of(size):
        leaves = parse_bundle(source.get(bundle, size))
        assert len(leaves) == bundle.width
        hashes = b"".join(merkle.leaf_hash(leaf) for leaf in leaves)
        assert hashlib.sha256(hashes).hexdigest() == go[Tile(0, bundle.index, bundle.width).path()]
