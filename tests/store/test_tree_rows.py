import hashlib
import random

import pytest

from pypi_witness.core.tlog import merkle
from pypi_witness.store.tree_rows import extend_rows, frontier_levels


def _hashes(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [hashlib.sha256(rng.randbytes(8)).digest() for _ in range(n)]


@pytest.mark.parametrize("size", [0, 1, 2, 3, 5, 7, 8, 31, 64, 100])
@pytest.mark.parametrize("count", [0, 1, 2, 3, 9, 33, 128])
def test_same_nodes_and_frontier_as_one_leaf_at_a_time(size: int, count: int) -> None:
    first = _hashes(size, 1)
    frontier: list[bytes] = []
    merkle.extend_frontier(frontier, 0, first, [])
    expected_frontier = list(frontier)
    expected_nodes: list[tuple[int, int, bytes]] = []
    new = _hashes(count, 2)
    expected_size = merkle.extend_frontier(expected_frontier, size, new, expected_nodes)

    got_frontier, got_size, rows = extend_rows(frontier, size, new)

    assert got_size == expected_size == size + count
    assert got_frontier == expected_frontier
    got_nodes = sorted((level, first + i, h) for level, first, row in rows for i, h in enumerate(row))
    assert got_nodes == sorted(expected_nodes)
    assert merkle.root_from_frontier(got_frontier) == merkle.root_of(first + new)


def test_frontier_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError):
        extend_rows([b"\x00" * 32], 3, _hashes(2, 3))


def test_frontier_levels() -> None:
    assert frontier_levels(0) == []
    assert frontier_levels(13) == [3, 2, 0]
