"""RFC 9162 Merkle proofs: exhaustive small trees against a naive recursive reference."""

from __future__ import annotations

import hashlib

import pytest

from pypi_witness.core.tlog import merkle
from pypi_witness.core.errors import ProofError

MAX = 64


def naive_mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH, literally."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((n - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + naive_mth(leaves[:k]) + naive_mth(leaves[k:])).digest()


def naive_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n]), literally."""
    n = len(leaves)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return naive_path(m, leaves[:k]) + [naive_mth(leaves[k:])]
    return naive_path(m - k, leaves[k:]) + [naive_mth(leaves[:k])]


def naive_subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    """RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b), literally."""
    n = len(leaves)
    if m == n:
        return [] if b else [naive_mth(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return naive_subproof(m, leaves[:k], b) + [naive_mth(leaves[k:])]
    return naive_subproof(m - k, leaves[k:], False) + [naive_mth(leaves[:k])]


LEAVES = [f"leaf {i}\n".encode() for i in range(MAX)]
TREE = merkle.hash_reader_for([merkle.leaf_hash(x) for x in LEAVES])
ROOTS = [naive_mth(LEAVES[:n]) for n in range(MAX + 1)]


def flip(h: bytes, bit: int = 0) -> bytes:
    return bytes([h[0] ^ (1 << bit)]) + h[1:]


def test_empty_root_is_sha256_of_nothing():
    assert merkle.EMPTY_ROOT.hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert merkle.root_of([]) == merkle.EMPTY_ROOT
    assert merkle.tree_root(0, TREE) == merkle.EMPTY_ROOT


def test_leaf_and_node_hash_domain_separation():
    assert merkle.leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    a, b = b"a" * 32, b"b" * 32
    assert merkle.node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()
    assert merkle.node_hash(a, b) != merkle.node_hash(b, a)


@pytest.mark.parametrize("n", range(1, MAX + 1))
def test_roots_match_naive(n):
    hashes = [merkle.leaf_hash(x) for x in LEAVES[:n]]
    assert merkle.root_of(hashes) == ROOTS[n]
    assert merkle.tree_root(n, TREE) == ROOTS[n]
    assert merkle.hash_reader_for(hashes).root() == ROOTS[n]


def _corruptions(proof: list[bytes]):
    """Every single-element corruption, truncation and extension of a proof."""
    for i in range(len(proof)):
        for bit in (0, 7):
            bad = list(proof)
            bad[i] = flip(bad[i], bit)
            yield f"flip {i}/{bit}", bad
    if proof:
        yield "truncated", proof[:-1]
        yield "first dropped", proof[1:]
    yield "extended", [*proof, b"\x00" * 32]
    yield "extended front", [b"\x00" * 32, *proof]


@pytest.mark.parametrize("n", range(1, MAX + 1))
def test_every_inclusion_proof(n):
    root = ROOTS[n]
    for m in range(n):
        proof = merkle.inclusion_proof(m, n, TREE)
        assert proof == naive_path(m, LEAVES[:n]), (m, n)
        lh = merkle.leaf_hash(LEAVES[m])
        merkle.verify_inclusion(lh, m, n, proof, root)
        for what, bad in _corruptions(proof):
            with pytest.raises(ProofError):
                merkle.verify_inclusion(lh, m, n, bad, root)
                pytest.fail(f"corrupted ({what}) inclusion proof {m}/{n} verified")
        with pytest.raises(ProofError):
            merkle.verify_inclusion(flip(lh), m, n, proof, root)
        with pytest.raises(ProofError):
            merkle.verify_inclusion(lh, m, n, proof, flip(root))
        # The proof must not verify at another index or size.
        for other in {m - 1, m + 1} & set(range(n)):
            if merkle.leaf_hash(LEAVES[other]) != lh:
                with pytest.raises(ProofError):
                    merkle.verify_inclusion(lh, other, n, proof, root)
        # (The size alone is not bound by the path: leaf 0 of 3 has the same
        # path shape in a tree of 4. The signed checkpoint binds size and root.)


@pytest.mark.parametrize("new", range(1, MAX + 1))
def test_every_consistency_proof(new):
    for old in range(1, new + 1):
        proof = merkle.consistency_proof(old, new, TREE)
        expected = [] if old == new else naive_subproof(old, LEAVES[:new], True)
        assert proof == expected, (old, new)
        merkle.verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)
        for what, bad in _corruptions(proof):
            with pytest.raises(ProofError):
                merkle.verify_consistency(old, new, ROOTS[old], ROOTS[new], bad)
                pytest.fail(f"corrupted ({what}) consistency proof {old}->{new} verified")
        if old != new:
            with pytest.raises(ProofError):
                merkle.verify_consistency(old, new, flip(ROOTS[old]), ROOTS[new], proof)
            with pytest.raises(ProofError):
                merkle.verify_consistency(old, new, ROOTS[old], flip(ROOTS[new]), proof)
            # A proof for one pair of sizes proves nothing about another.
            if old > 1:
                with pytest.raises(ProofError):
                    merkle.verify_consistency(old - 1, new, ROOTS[old - 1], ROOTS[new], proof)


def test_consistency_edge_cases():
    merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, ROOTS[5], [])
    with pytest.raises(ProofError, match="size 0 must be empty"):
        merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, ROOTS[5], [ROOTS[5]])
    with pytest.raises(ProofError, match="empty tree"):
        merkle.verify_consistency(0, 5, ROOTS[1], ROOTS[5], [])
    with pytest.raises(ProofError, match="different root"):
        merkle.verify_consistency(5, 5, ROOTS[5], ROOTS[4], [])
    with pytest.raises(ProofError, match="greater than"):
        merkle.verify_consistency(6, 5, ROOTS[6], ROOTS[5], [])
    with pytest.raises(ProofError):
        merkle.consistency_proof(6, 5, TREE)
    assert merkle.consistency_proof(0, 5, TREE) == []


@pytest.mark.parametrize(
    "args, message",
    [
        ((b"x" * 31, 0, 1, [], ROOTS[1]), "leaf hash"),
        ((b"x" * 32, 0, 1, [], ROOTS[1][:31]), "root hash"),
        ((b"x" * 32, 1, 1, [], ROOTS[1]), "not in a tree"),
        ((b"x" * 32, -1, 1, [], ROOTS[1]), "not in a tree"),
        ((b"x" * 32, 0, 0, [], ROOTS[0]), "not in a tree"),
        ((b"x" * 32, 0, 2, [b"y" * 33], ROOTS[2]), "proof element 0"),
        ((b"x" * 32, 0, 2, ["y" * 32], ROOTS[2]), "proof element 0"),
        ((b"x" * 32, 0, 2, [b"y" * 32] * 65, ROOTS[2]), "more than"),
    ],
)
def test_malformed_inclusion_input(args, message):
    with pytest.raises(ProofError, match=message):
        merkle.verify_inclusion(*args)


def test_malformed_consistency_input():
    with pytest.raises(ProofError, match="old root"):
        merkle.verify_consistency(1, 2, b"", ROOTS[2], [])
    with pytest.raises(ProofError, match="new root"):
        merkle.verify_consistency(1, 2, ROOTS[1], None, [])  # type: ignore[arg-type]
    with pytest.raises(ProofError, match="negative"):
        merkle.verify_consistency(-1, 2, ROOTS[1], ROOTS[2], [])
    with pytest.raises(ProofError, match="proof element 1"):
        merkle.verify_consistency(3, 4, ROOTS[3], ROOTS[4], [ROOTS[1], b"z"])


def test_proofs_at_earlier_sizes_of_a_larger_tree():
    """A reader for a big tree proves anything at any earlier size."""
    leaves = [f"big {i}".encode() for i in range(1000)]
    tree = merkle.hash_reader_for([merkle.leaf_hash(x) for x in leaves])
    for size in (1, 2, 3, 255, 256, 257, 999, 1000):
        root = naive_mth(leaves[:size])
        assert merkle.tree_root(size, tree) == root
        for index in {0, size // 2, size - 1}:
            proof = merkle.inclusion_proof(index, size, tree)
            merkle.verify_inclusion(merkle.leaf_hash(leaves[index]), index, size, proof, root)
        for old in {1, size // 3 or 1, size}:
            proof = merkle.consistency_proof(old, size, tree)
            merkle.verify_consistency(old, size, naive_mth(leaves[:old]), root, proof)


def test_reader_refuses_what_it_does_not_hold():
    with pytest.raises(ProofError):
        merkle.inclusion_proof(3, MAX * 2, TREE)


def test_frontier_ids_cover_the_tree():
    for size in range(0, 130):
        ids = merkle.frontier_ids(size)
        assert sum(1 << level for level, _ in ids) == size
        start = 0
        for level, index in ids:
            assert index << level == start
            start += 1 << level


def test_extend_frontier_matches_one_leaf_at_a_time():
    hashes = [merkle.leaf_hash(x) for x in LEAVES]
    for split in (0, 1, 5, 31, 32, 33, 64):
        frontier: list[bytes] = []
        nodes: list[tuple[int, int, bytes]] = []
        size = merkle.extend_frontier(frontier, 0, hashes[:split], nodes)
        size = merkle.extend_frontier(frontier, size, hashes[split:], nodes)
        assert size == MAX
        assert merkle.root_from_frontier(frontier) == ROOTS[MAX]
        one_by_one: list[tuple[int, int, bytes]] = []
        reference: list[bytes] = []
        for n, h in enumerate(hashes):
            merkle.append_to_frontier(reference, n, h, one_by_one)
        assert nodes == one_by_one
