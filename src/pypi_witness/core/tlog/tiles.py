"""C2SP tlog-tiles: the tiles and entry bundles of a tree, and their paths, as pure functions.

A tiled log serves its Merkle tree as *tiles*: the tile at level ``L``,
index ``N`` holds up to 256 consecutive hashes of tree level ``8 * L``,
those of the perfect subtrees ``(8L, N*256 + i)`` (ids as in ``core.tlog.merkle``:
the subtree of leaves ``[(N*256 + i) * 256**L, (N*256 + i + 1) * 256**L)``).
A *full* tile has 256 hashes (8,192 bytes); the rightmost tile of a level is
*partial* when the tree's size leaves it ``floor(size / 256**L) mod 256``
hashes (1 to 255). Leaves are served in *entry bundles*, one per level-0
tile, each entry prefixed by its length as a big-endian uint16.

Paths (``<prefix>/`` not included)::

    tile/<L>/<N>[.p/<W>]        tile/entries/<N>[.p/<W>]

with ``N`` written in 3-digit groups, all but the last prefixed ``x``
(1234067 is ``x001/x234/067``).

Everything here takes a tree size and a ``merkle.HashReader``; nothing reads
a clock or a file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pypi_witness.core.tlog.merkle import HashReader, NodeId
from pypi_witness.core.errors import MalformedError, NotFoundError

# SPEC: tlog-tiles — full tiles are exactly 256 hashes wide; a tile spans tree levels 8L to 8L+8.
TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
HASH_SIZE = 32
# SPEC: tlog-tiles — <L> is a decimal between 0 and 63.
MAX_LEVEL = 63
# SPEC: tlog-tiles — entries in a bundle are big-endian uint16 length-prefixed.
MAX_ENTRY_BYTES = 0xFFFF
ENTRIES = "entries"

_LEVEL = re.compile(r"0|[1-9][0-9]?")
_WIDTH = re.compile(r"[1-9][0-9]{0,2}")
_GROUP = re.compile(r"[0-9]{3}")


@dataclass(frozen=True, slots=True)
class Tile:
    """A tile (``level`` >= 0) or an entry bundle (``level`` is None) of ``width`` hashes or entries."""

    level: int | None
    index: int
    width: int

    @property
    def is_entries(self) -> bool:
        return self.level is None

    @property
    def is_full(self) -> bool:
        return self.width == TILE_WIDTH

    @property
    def first(self) -> int:
        """The index, at its tree level, of the first hash (or entry) the tile holds."""
        return self.index * TILE_WIDTH

    def node_ids(self) -> list[NodeId]:
        """The ids (``core.tlog.merkle``) of the hashes this tile holds, in order (level 0 for a bundle)."""
        height = 0 if self.level is None else self.level * TILE_HEIGHT
        return [(height, self.first + i) for i in range(self.width)]

    def path(self) -> str:
        """The tile's path after the prefix: ``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]``."""
        head = ENTRIES if self.level is None else str(self.level)
        tail = "" if self.is_full else f".p/{self.width}"
        return f"tile/{head}/{format_index(self.index)}{tail}"


def format_index(index: int) -> str:
    """``index`` as tlog-tiles path elements: 3-digit groups, all but the last ``x``-prefixed."""
    # SPEC: tlog-tiles — N is encoded in zero-padded 3-digit path elements; all but the last begin with x.
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(groups))


def parse_tile_path(path: str) -> Tile:
    """The tile or entry bundle a path names (``tile/...``, no prefix, no leading slash).

    Raises MalformedError for anything that is not exactly a tlog-tiles path:
    a level out of 0..63 or with leading zeroes, an index group that is not 3
    digits (``x``-prefixed but the last), a width out of 1..255 or with
    leading zeroes, anything extra.
    """
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != "tile":
        raise MalformedError(f"not a tile path: {path!r}")
    head, rest = parts[1], parts[2:]
    level: int | None
    if head == ENTRIES:
        level = None
    elif _LEVEL.fullmatch(head) and int(head) <= MAX_LEVEL:
        level = int(head)
    else:
        raise MalformedError(f"tile level {head!r} is not a decimal from 0 to {MAX_LEVEL}")
    width = TILE_WIDTH
    if len(rest) >= 2 and rest[-2].endswith(".p"):
        w = rest[-1]
        # SPEC: tlog-tiles — <W> is a decimal between 1 and 255 with no leading zeroes.
        if not _WIDTH.fullmatch(w) or int(w) >= TILE_WIDTH:
            raise MalformedError(f"partial tile width {w!r} is not a decimal from 1 to {TILE_WIDTH - 1}")
        width = int(w)
        rest = [*rest[:-2], rest[-2][: -len(".p")]]
    index = 0
    for i, group in enumerate(rest):
        digits = group if i == len(rest) - 1 else group.removeprefix("x")
        if (i < len(rest) - 1 and not group.startswith("x")) or not _GROUP.fullmatch(digits):
            raise MalformedError(f"tile index element {group!r} is not 3 digits (x-prefixed but the last)")
        index = index * 1000 + int(digits)
    if len(rest) > 1 and rest[0] == "x000":
        raise MalformedError("tile index has a leading x000 group")
    # A tile whose first leaf is past 2**64 - 1 belongs to no tree (tree sizes are uint64).
    if index << (TILE_HEIGHT * ((level or 0) + 1)) >= 1 << 64:
        raise MalformedError(f"tile {path!r} lies beyond any tree of up to 2**64 - 1 leaves")
    return Tile(level, index, width)


def width_at(level: int, index: int, size: int) -> int:
    """How many hashes tile ``level``/``index`` holds in a tree of ``size`` leaves (0: none yet)."""
    # SPEC: tlog-tiles — the partial tile at level l of a tree of size s has floor(s / 256**l) mod 256 entries.
    hashes = size >> (TILE_HEIGHT * level)  # hashes of tree level 8l that the tree holds
    return max(0, min(TILE_WIDTH, hashes - index * TILE_WIDTH))


def check_tile(tile: Tile, size: int) -> None:
    """NotFoundError unless the tree of ``size`` leaves holds ``tile`` at its width.

    SPEC: tlog-tiles — a full tile exists once the tree holds all 256 of its
    hashes; a partial tile of width W once it holds at least W (its first W
    hashes never change, so a partial tile of an earlier checkpoint stays
    servable); empty tiles never.
    """
    have = width_at(tile.level or 0, tile.index, size)
    if have < tile.width:
        what = "entry bundle" if tile.is_entries else "tile"
        state = "beyond" if have == 0 else f"only {have} wide in"
        raise NotFoundError(f"{what} {tile.path()} is {state} the tree of size {size}")


def tiles_of(size: int) -> Iterator[Tile]:
    """Every hash tile of a tree of ``size`` leaves: full ones, then the partial one, level by level."""
    level = 0
    while size >> (TILE_HEIGHT * level):
        hashes = size >> (TILE_HEIGHT * level)
        full, partial = divmod(hashes, TILE_WIDTH)
        for index in range(full):
            yield Tile(level, index, TILE_WIDTH)
        if partial:
            yield Tile(level, full, partial)
        level += 1


def bundles_of(size: int) -> Iterator[Tile]:
    """Every entry bundle of a tree of ``size`` leaves: full ones, then the partial one."""
    full, partial = divmod(size, TILE_WIDTH)
    for index in range(full):
        yield Tile(None, index, TILE_WIDTH)
    if partial:
        yield Tile(None, full, partial)


def read_tile(tile: Tile, reader: HashReader) -> bytes:
    """The bytes of hash tile ``tile``: its hashes concatenated, read from ``reader``.

    Raises what ``reader.read_hashes`` raises for a hash it does not hold
    (OutOfRangeError from a store, ProofError from ``merkle.MemoryHashes``).
    """
    if tile.level is None:
        raise MalformedError("an entry bundle is made of entries, not hashes")
    return b"".join(reader.read_hashes(tile.node_ids()))


def format_bundle(entries: Sequence[bytes]) -> bytes:
    """An entry bundle: each entry prefixed by its length as a big-endian uint16.

    Raises MalformedError naming the position of an entry longer than 65,535 bytes.
    """
    parts = []
    for i, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_BYTES:
            raise MalformedError(
                f"entry {i} of the bundle is {len(entry)} bytes; an entry bundle holds at most {MAX_ENTRY_BYTES}"
            )
        parts.append(len(entry).to_bytes(2, "big"))
        parts.append(entry)
    return b"".join(parts)


def parse_bundle(data: bytes) -> list[bytes]:
    """The entries of an entry bundle. MalformedError if a length runs past the end."""
    entries, pos = [], 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise MalformedError(f"entry bundle ends inside a length prefix at byte {pos}")
        n = int.from_bytes(data[pos : pos + 2], "big")
        if pos + 2 + n > len(data):
            raise MalformedError(f"entry at byte {pos} claims {n} bytes; the bundle ends first")
        entries.append(data[pos + 2 : pos + 2 + n])
        pos += 2 + n
    return entries
