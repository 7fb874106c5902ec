"""core.tlog.tiles: tlog-tiles paths, which tiles a tree has, tile bytes from a hash reader, entry bundles."""

from __future__ import annotations

import pytest

from pypi_witness.core.tlog import merkle
from pypi_witness.core.tlog.tiles import (
    TILE_WIDTH,
    Tile,
    bundles_of,
    check_tile,
    format_bundle,
    format_index,
    parse_bundle,
    parse_tile_path,
    read_tile,
    tiles_of,
    width_at,
)
from pypi_witness.core.errors import MalformedError, NotFoundError


@pytest.mark.parametrize(
    ("index", "text"),
    [(0, "000"), (7, "007"), (999, "999"), (1000, "x001/000"), (1234067, "x001/x234/067"), (10**9, "x001/x000/x000/000")],
)
def test_index_groups_round_trip(index, text):
    assert format_index(index) == text
    assert parse_tile_path(f"tile/3/{text}") == Tile(3, index, TILE_WIDTH)
    assert parse_tile_path(f"tile/entries/{text}.p/9") == Tile(None, index, 9)


def test_paths_round_trip_for_every_tile_of_a_tree():
    for tile in [*tiles_of(70_000), *bundles_of(70_000)]:
        assert parse_tile_path(tile.path()) == tile


@pytest.mark.parametrize(
    "path",
    [
        "tile/0", "tile/00/000", "tile/64/000", "tile/-1/000", "tile/0/00", "tile/0/0000", "tile/0/001/002",
        "tile/0/x1/000", "tile/0/x000/001", "tile/0/000.p/0", "tile/0/000.p/256", "tile/0/000.p/07",
        "tile/0/000.p/", "tile/0/000.p", "tile/0/000/", "tiles/0/000", "tile/data/000", "tile/0/abc",
        "tile/7/x001/000",  # its first leaf is past 2**64
    ],
)  # fmt: skip
def test_malformed_paths_are_refused(path):
    with pytest.raises(MalformedError):
        parse_tile_path(path)


def test_the_spec_example_of_a_tree_of_70000():
    tiles = list(tiles_of(70_000))
    level0 = [t for t in tiles if t.level == 0]
    assert sum(t.is_full for t in level0) == 273 and [t.width for t in level0 if not t.is_full] == [112]
    level1 = [t for t in tiles if t.level == 1]
    assert [t.width for t in level1] == [256, 17]
    assert [t.width for t in tiles if t.level == 2] == [1]
    assert max(t.level for t in tiles) == 2
    assert [t.path() for t in tiles if not t.is_full] == ["tile/0/273.p/112", "tile/1/001.p/17", "tile/2/000.p/1"]


def test_a_tree_of_256_has_a_full_tile_and_a_partial_level_1():
    assert [t.path() for t in tiles_of(256)] == ["tile/0/000", "tile/1/000.p/1"]
    assert list(tiles_of(0)) == [] and list(bundles_of(0)) == []
    assert [t.path() for t in bundles_of(257)] == ["tile/entries/000", "tile/entries/001.p/1"]


def test_tile_bytes_are_the_hashes_of_level_8l():
    leaves = [b"leaf %d" % i for i in range(70_000)]
    reader = merkle.hash_reader_for([merkle.leaf_hash(x) for x in leaves])
    level1 = read_tile(Tile(1, 0, TILE_WIDTH), reader)
    # Each level-1 hash is the root of one full level-0 tile's 256 leaves.
    assert level1[32 * 5 : 32 * 6] == merkle.root_of([merkle.leaf_hash(x) for x in leaves[5 * 256 : 6 * 256]])
    partial = read_tile(Tile(0, 273, 112), reader)
    assert partial == b"".join(merkle.leaf_hash(x) for x in leaves[273 * 256 : 273 * 256 + 112])
    with pytest.raises(MalformedError):
        read_tile(Tile(None, 0, 1), reader)


def test_which_tiles_exist_at_a_size():
    assert width_at(0, 0, 300) == 256 and width_at(0, 1, 300) == 44 and width_at(0, 2, 300) == 0
    check_tile(Tile(0, 1, 44), 300)
    check_tile(Tile(0, 1, 40), 300)  # an earlier checkpoint's partial tile: its hashes never change
    for tile in (Tile(0, 1, TILE_WIDTH), Tile(0, 1, 45), Tile(0, 2, 1), Tile(1, 0, 2), Tile(None, 2, 1)):
        with pytest.raises(NotFoundError):
            check_tile(tile, 300)


def test_bundles_round_trip_and_refuse_what_they_cannot_hold():
    entries = [b"", b"a", b"x" * 65535]
    data = format_bundle(entries)
    assert data[:2] == b"\x00\x00" and data[2:5] == b"\x00\x01a" and parse_bundle(data) == entries
    with pytest.raises(MalformedError, match="entry 1 of the bundle is 65536 bytes"):
        format_bundle([b"", b"y" * 65536])
    for bad in (b"\x00", b"\x00\x05abc"):
        with pytest.raises(MalformedError):
            parse_bundle(bad)
