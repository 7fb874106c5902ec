"""Grow a Merkle tree's right frontier by a batch of leaves, level by level.

``core.tlog.merkle.extend_frontier`` adds one leaf at a time; this computes the same
interior hashes a whole level at a time (one list comprehension a level), which
is what a store needs to write them into tiles and about three times faster in
CPython for large batches. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

_sha256 = hashlib.sha256

# (level, index of the first node, hashes of consecutive nodes from it)
Row = tuple[int, int, list[bytes]]


def frontier_levels(size: int) -> list[int]:
    """The levels of the perfect subtrees of a tree of ``size`` leaves, largest first."""
    return [level for level in range(size.bit_length() - 1, -1, -1) if size >> level & 1]


def extend_rows(frontier: Sequence[bytes], size: int, leaf_hashes: Sequence[bytes]) -> tuple[list[bytes], int, list[Row]]:
    """Append ``leaf_hashes`` to the tree of ``size`` leaves whose frontier is ``frontier``.

    ``frontier`` holds the hashes of the tree's perfect subtrees, largest first
    (as ``core.tlog.merkle.frontier_ids`` orders them). Returns ``(new_frontier,
    new_size, rows)``: ``rows`` holds, for each level >= 1 that gains nodes, the
    new perfect-subtree hashes of that level, consecutive from the first index
    given. ValueError if ``frontier`` does not have one hash per set bit of ``size``.
    """
    levels = frontier_levels(size)
    if len(frontier) != len(levels):
        raise ValueError(f"a tree of {size} leaves has {len(levels)} frontier hashes, not {len(frontier)}")
    old = dict(zip(levels, frontier))
    new_size = size + len(leaf_hashes)
    row = list(leaf_hashes)
    start = size  # index of row[0] at this level
    level = 0
    last: dict[int, bytes] = {}  # the rightmost node of each level reached
    rows: list[Row] = []
    sha = _sha256
    while row:
        if start & 1:  # the left sibling of the first new node is a frontier subtree
            row = [old[level], *row]  # a new list: the old one is in ``rows``
            start -= 1
        last[level] = row[-1]
        row = [sha(b"\x01" + left + right).digest() for left, right in zip(row[0::2], row[1::2])]
        level += 1
        start >>= 1
        if row:
            rows.append((level, start, row))
    new_frontier = [last.get(level, old.get(level)) for level in frontier_levels(new_size)]
    return new_frontier, new_size, rows  # type: ignore[return-value]
