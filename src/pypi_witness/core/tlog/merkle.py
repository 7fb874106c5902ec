"""RFC 9162 §2.1 Merkle trees: hashing, roots, proofs and their verification.

Proof construction reads stored hashes through a one-method protocol,
``HashReader.read_hashes(ids)``, where an id ``(level, index)`` names the hash of
the perfect subtree holding leaves ``[index * 2**level, (index + 1) * 2**level)``.
Only perfect subtrees are ever stored; every other node a proof needs (the
right edge of a tree whose size is not a power of two) is computed from them.
So a store that keeps the perfect subtree hashes can prove anything, at its
current size or at any earlier one, in O(log n) reads.

Verification functions take plain values, return ``None`` on success and raise
``ProofError`` on any failure, including malformed input.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Protocol

from pypi_witness.core.errors import ProofError

HASH_SIZE = 32

# RFC 9162 §2.1.1: the hash of an empty list is the hash of an empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256
NodeId = tuple[int, int]


class HashReader(Protocol):
    """Something that returns stored perfect-subtree hashes."""

    def read_hashes(self, ids: Sequence[NodeId]) -> list[bytes]:
        """Return the hashes of the perfect subtrees ``ids``, in order.

        Raises ``OutOfRangeError`` (or a store error) if one is not stored.
        """
        ...


def leaf_hash(leaf: bytes) -> bytes:
    """RFC 9162 §2.1.1: MTH({d(0)}) = SHA-256(0x00 || d(0))."""
    return _sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: interior node = SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """The root of a tree given all its leaf hashes (RFC 9162 §2.1.1 MTH, iteratively)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    frontier: list[bytes] = []
    for size, h in enumerate(leaf_hashes):
        frontier = append_to_frontier(frontier, size, h, None)
    return root_from_frontier(frontier)


# --- The right frontier ("compact range") of a growing tree ------------------


def append_to_frontier(
    frontier: list[bytes],
    size: int,
    leaf_hash_: bytes,
    new_nodes: list[tuple[int, int, bytes]] | None,
) -> list[bytes]:
    """Append one leaf hash to a tree of ``size`` leaves, given its frontier.

    The frontier holds the hashes of the perfect subtrees that make up the tree,
    largest (leftmost) first: one per set bit of ``size``. The list is updated
    in place and returned. Every interior perfect subtree (level >= 1)
    completed by this leaf is appended to ``new_nodes`` as ``(level, index,
    hash)`` when a list is given; the leaf itself is the caller's to keep.
    """
    h = leaf_hash_
    index = size
    level = 0
    while index & 1:
        h = node_hash(frontier.pop(), h)
        index >>= 1
        level += 1
        if new_nodes is not None:
            new_nodes.append((level, index, h))
    frontier.append(h)
    return frontier


def extend_frontier(
    frontier: list[bytes],
    size: int,
    leaf_hashes: Iterable[bytes],
    new_nodes: list[tuple[int, int, bytes]],
) -> int:
    """``append_to_frontier`` for each of ``leaf_hashes`` in turn; returns the new size."""
    for h in leaf_hashes:
        index = size
        level = 0
        while index & 1:
            h = _sha256(b"\x01" + frontier.pop() + h).digest()
            index >>= 1
            level += 1
            new_nodes.append((level, index, h))
        frontier.append(h)
        size += 1
    return size


def root_from_frontier(frontier: Sequence[bytes]) -> bytes:
    """The root of the tree whose perfect subtrees (largest first) are ``frontier``."""
    if not frontier:
        return EMPTY_ROOT
    h = frontier[-1]
    for left in reversed(frontier[:-1]):
        h = node_hash(left, h)
    return h


def frontier_ids(size: int) -> list[NodeId]:
    """Ids of the perfect subtrees that make up a tree of ``size`` leaves, largest first."""
    ids: list[NodeId] = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            ids.append((level, start >> level))
            start += 1 << level
    return ids


# --- Reading hashes of arbitrary ranges ----------------------------------------


def _range_ids(start: int, end: int) -> list[NodeId]:
    """Perfect subtrees covering leaves [start, end), largest (leftmost) first.

    Valid for the ranges RFC 9162 proofs use: ``start`` aligned to a power of two
    at least ``end - start``, so the greedy split matches MTH's own split.
    """
    ids: list[NodeId] = []
    while start < end:
        level = (end - start).bit_length() - 1
        ids.append((level, start >> level))
        start += 1 << level
    return ids


def _read_ranges(ranges: Sequence[tuple[int, int]], reader: HashReader) -> list[bytes]:
    """The MTH of each range, reading all needed perfect subtrees in one batch."""
    flat: list[NodeId] = []
    # Most ranges are one perfect subtree; only those at a tree's right edge
    # are several, folded after the read. (position in flat, count) per range.
    spans: list[tuple[int, int]] = []
    for start, end in ranges:
        width = end - start
        if width & (width - 1) == 0:
            level = width.bit_length() - 1
            spans.append((len(flat), 1))
            flat.append((level, start >> level))
        else:
            ids = _range_ids(start, end)
            spans.append((len(flat), len(ids)))
            flat.extend(ids)
    hashes = reader.read_hashes(flat)
    if len(hashes) == len(ranges):
        return hashes
    return [hashes[pos] if n == 1 else root_from_frontier(hashes[pos : pos + n]) for pos, n in spans]


def tree_root(size: int, reader: HashReader) -> bytes:
    """The root hash of the first ``size`` leaves (RFC 9162 §2.1.1)."""
    if size < 0:
        raise ProofError(f"tree size {size} is negative")
    if size == 0:
        return EMPTY_ROOT
    return root_from_frontier(reader.read_hashes(frontier_ids(size)))


def _check_index(index: int, size: int) -> None:
    if not 0 <= index < size:
        raise ProofError(f"index {index} is not in a tree of size {size}")


def inclusion_proof(index: int, size: int, reader: HashReader) -> list[bytes]:
    """PATH(index, D[0:size]): the inclusion proof of leaf ``index`` (RFC 9162 §2.1.3.1), bottom up.

    Raises ProofError if index is not in [0, size).
    """
    _check_index(index, size)
    ids: list[NodeId] = []
    edge: tuple[int, int] | None = None  # (position in ids, number of subtrees) of the cut sibling
    # Levels below `inner` are those where the path and the tree's last leaf
    # differ: the sibling there is the other child, cut at `size` at most once
    # (where it holds the last leaf).
    inner = (index ^ (size - 1)).bit_length()
    for level in range(inner):
        sibling = (index >> level) ^ 1
        if (sibling + 1) << level <= size:
            ids.append((level, sibling))
        else:
            cut = _range_ids(sibling << level, size)
            edge = (len(ids), len(cut))
            ids.extend(cut)
    # Above `inner` the path runs along the right edge: it has a (left) sibling
    # exactly where the index has a 1 bit.
    for level in range(inner, size.bit_length()):
        if index >> level & 1:
            ids.append((level, (index >> level) ^ 1))
    hashes = reader.read_hashes(ids)
    if edge is not None:
        pos, n = edge
        hashes[pos : pos + n] = [root_from_frontier(hashes[pos : pos + n])]
    return hashes


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form PROOF(old_size, D[0:new_size]) (RFC 9162 §2.1.4.1)."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size == 0 or old_size == new_size:
        return []
    ranges: list[tuple[int, int]] = []
    lo, hi, m, complete = 0, new_size, old_size, True
    # SUBPROOF(m, D[lo:hi], complete) with m absolute, unrolled: the ranges come
    # out top down, and the subtree where m == hi closes the proof.
    while m != hi:
        k = 1 << ((hi - lo - 1).bit_length() - 1)  # largest power of two < hi - lo
        if m - lo <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
            complete = False
    if not complete:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def consistency_proof(old_size: int, new_size: int, reader: HashReader) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) (RFC 9162 §2.1.4.1); empty when sizes are equal or 0."""
    return _read_ranges(consistency_ranges(old_size, new_size), reader)


# --- Verification ---------------------------------------------------------------


def _check_hash(value: object, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise ProofError(f"{what} is not a {HASH_SIZE}-byte hash")


def _check_proof(proof: Sequence[bytes], max_len: int) -> None:
    if len(proof) > max_len:
        raise ProofError(f"proof has {len(proof)} hashes, more than the {max_len} possible")
    for p in proof:
        if type(p) is not bytes or len(p) != HASH_SIZE:
            for i, q in enumerate(proof):
                _check_hash(q, f"proof element {i}")


def verify_inclusion(
    leaf_hash_: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes
) -> None:
    """Check that ``leaf_hash_`` is leaf ``index`` of the tree of ``size`` with ``root_hash``.

    RFC 9162 §2.1.3.2. Returns None on success; raises ProofError if the proof
    fails or any input is malformed (a hash not 32 bytes, index >= size, a proof
    of the wrong length).
    """
    _check_hash(leaf_hash_, "leaf hash")
    _check_hash(root_hash, "root hash")
    _check_index(index, size)
    _check_proof(proof, 64)
    # RFC 9162 §2.1.3.2 steps 2-5.
    fn, sn = index, size - 1
    r = leaf_hash_
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the path")
        if fn & 1 or fn == sn:
            r = _sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    # RFC 9162 §2.1.3.2 step 6: sn is 0 and r equals the root.
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the path")
    if r != root_hash:
        raise ProofError("inclusion proof does not lead to the root hash")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree (new_size, new_root) extends the tree (old_size, old_root).

    RFC 9162 §2.1.4.2. Equal sizes need an empty proof and equal roots; old size
    0 needs an empty proof and the empty root. Returns None on success; raises
    ProofError on failure or malformed input (hashes not 32 bytes, negative
    sizes, old_size > new_size, a proof of the wrong length).
    """
    _check_hash(old_root, "old root hash")
    _check_hash(new_root, "new root hash")
    if old_size < 0 or new_size < 0:
        raise ProofError("tree sizes must not be negative")
    if old_size > new_size:
        raise ProofError(f"old size {old_size} is greater than new size {new_size}")
    _check_proof(proof, 128)
    if old_size == 0:
        if proof:
            raise ProofError("consistency proof from size 0 must be empty")
        if old_root != EMPTY_ROOT:
            raise ProofError("old root hash is not the empty tree's root")
        return
    if old_size == new_size:
        if proof:
            raise ProofError("consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError("same tree size with different root hashes")
        return
    # RFC 9162 §2.1.4.2 step 1: a power-of-two old size prepends first_hash.
    if old_size & (old_size - 1) == 0:
        proof = [old_root, *proof]
    fr, sr = _consistency_walk(old_size, new_size, proof)
    if fr != old_root:
        raise ProofError("consistency proof does not lead to the old root hash")
    if sr != new_root:
        raise ProofError("consistency proof does not lead to the new root hash")


def _consistency_walk(old_size: int, new_size: int, proof: Sequence[bytes]) -> tuple[bytes, bytes]:
    """RFC 9162 §2.1.4.2 steps 2-7 over a proof whose first hash is explicit: (fr, sr).

    Needs 0 < old_size < new_size and well-formed hashes; raises ProofError
    for a proof of the wrong length.
    """
    # Step 2: the proof must not be empty.
    if not proof:
        raise ProofError("consistency proof is empty")
    # Steps 3-4.
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    # Step 6.
    for c in proof[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than needed")
        if fn & 1 or fn == sn:
            fr = _sha256(b"\x01" + c + fr).digest()
            sr = _sha256(b"\x01" + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _sha256(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    # Step 7.
    if sn != 0:
        raise ProofError("consistency proof is shorter than needed")
    return fr, sr


# --- Full consistency proofs: the implicit first hash made explicit ------------
#
# RFC 9162 leaves out MTH(D[0:old_size]) when old_size is a power of two, since
# a verifier that knows the old root puts it back. A third party who wants to
# learn what old root a *new* tree implies (to show that a log signed two
# incompatible histories) needs that hash, so the full form carries it.


def full_consistency_proof(old_size: int, new_size: int, reader: HashReader) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) with MTH(D[0:old_size]) first when old_size is a power of two.

    Requires 0 < old_size < new_size (raises ProofError otherwise); the
    reader's errors propagate.
    """
    if not 0 < old_size < new_size:
        raise ProofError(f"no full consistency proof from size {old_size} to size {new_size}")
    proof = consistency_proof(old_size, new_size, reader)
    if old_size & (old_size - 1) == 0:
        level = old_size.bit_length() - 1
        proof = [*reader.read_hashes([(level, 0)]), *proof]
    return proof


def full_proof_roots(old_size: int, new_size: int, proof: Sequence[bytes]) -> tuple[bytes, bytes]:
    """The (old root, new root) that a full consistency proof implies.

    If the new root is a signed tree head, the old root returned is what that
    tree's first ``old_size`` leaves hash to (SHA-256 collision resistance binds
    the proof's hashes to the tree). A proof is valid for (old_root, new_root)
    exactly when this returns that pair. Raises ProofError unless
    0 < old_size < new_size, or if the proof is malformed (a hash not 32 bytes,
    the wrong number of hashes).
    """
    if old_size <= 0 or new_size <= old_size:
        raise ProofError(f"no full consistency proof from size {old_size} to size {new_size}")
    _check_proof(proof, 129)
    return _consistency_walk(old_size, new_size, list(proof))


# --- An in-memory reader, for tests and small trees ----------------------------


class MemoryHashes:
    """Every perfect subtree hash of a tree, kept in memory: the simplest HashReader."""

    def __init__(self) -> None:
        self._levels: list[list[bytes]] = []
        self._frontier: list[bytes] = []
        self.size = 0

    def append(self, leaf_hash_: bytes) -> None:
        """Add one leaf hash and every perfect subtree it completes."""
        nodes: list[tuple[int, int, bytes]] = [(0, self.size, leaf_hash_)]
        append_to_frontier(self._frontier, self.size, leaf_hash_, nodes)
        for level, _index, h in nodes:
            if level == len(self._levels):
                self._levels.append([])
            self._levels[level].append(h)
        self.size += 1

    def root(self) -> bytes:
        """The root hash at the current size."""
        return root_from_frontier(self._frontier)

    def read_hashes(self, ids: Sequence[NodeId]) -> list[bytes]:
        """See HashReader. Raises ProofError for an id that is not a stored subtree."""
        try:
            return [self._levels[level][index] for level, index in ids]
        except IndexError:
            raise ProofError("hash not stored: beyond the tree") from None


def hash_reader_for(leaf_hashes: Sequence[bytes]) -> MemoryHashes:
    """An in-memory HashReader holding every perfect subtree of the given leaves."""
    tree = MemoryHashes()
    for h in leaf_hashes:
        tree.append(h)
    return tree
