"""Tests for core.tlog.evidence: building, round trips, verification, and corruption of every element."""

from __future__ import annotations

import pytest

from pypi_witness.core.tlog import merkle
from pypi_witness.core.tlog.checkpoint import Checkpoint, sign_checkpoint
from pypi_witness.core.tlog.cosignature import add_cosignatures, cosign
from pypi_witness.core.tlog.evidence import (
    PREFIX,
    SAME_SIZE,
    Evidence,
    evidence_id,
    format_evidence,
    parse_evidence,
    prefix_evidence,
    same_size_evidence,
    verify_evidence,
)
from pypi_witness.core.tlog.note import ALG_COSIGNATURE_V1, Signer
from pypi_witness.core.errors import (
    EvidenceError,
    MalformedError,
    ProofError,
    SignatureError,
    VerificationError,
)

ORIGIN = "example.org/log"
LOG = Signer.from_seed(ORIGIN, b"\x01" * 32)
OTHER = Signer.from_seed(ORIGIN, b"\x02" * 32)  # same name, other key
WITNESS = Signer.from_seed("witness.example", b"\x03" * 32, ALG_COSIGNATURE_V1)


def tree(branch: str, size: int, fork_at: int = 0) -> merkle.MemoryHashes:
    """A tree whose leaves from ``fork_at`` on depend on ``branch``."""
    leaves = [f"leaf {i}" if i < fork_at else f"{branch} {i}" for i in range(size)]
    return merkle.hash_reader_for([merkle.leaf_hash(x.encode()) for x in leaves])


def signed(t: merkle.MemoryHashes, signer: Signer = LOG) -> bytes:
    return sign_checkpoint(Checkpoint(signer.name, t.size, t.root()), signer)


def same_size_pair(size: int = 7) -> tuple[bytes, bytes]:
    return signed(tree("a", size)), signed(tree("b", size))


def prefix_case(m: int, n: int, fork_at: int = 2) -> tuple[bytes, bytes, list[bytes]]:
    """(old note on branch a, new note on branch b, full proof m->n from branch b's tree)."""
    old = signed(tree("a", m, fork_at))
    b = tree("b", n, fork_at)
    return old, signed(b), merkle.full_consistency_proof(m, n, b)


# ---------------------------------------------------------------- building and round trips


def test_same_size_round_trip_and_id() -> None:
    a, b = same_size_pair()
    ev = same_size_evidence(a, b, LOG.verifier())
    data = format_evidence(ev)
    assert data.startswith(b"pypi-witness/evidence/v1 same-size\norigin example.org/log\nnote ")
    assert parse_evidence(data) == ev
    assert format_evidence(parse_evidence(data)) == data
    assert verify_evidence(data, LOG.verifier()) == ev
    assert ev.id() == evidence_id(data) and len(ev.id()) == 64
    # Order of the inputs and cosignatures do not change the canonical bytes or the ID.
    cosigned = add_cosignatures(b, [cosign(Checkpoint(ORIGIN, 7, tree("b", 7).root()), WITNESS, 1000)])
    assert format_evidence(same_size_evidence(cosigned, a, LOG.verifier())) == data


@pytest.mark.parametrize(("m", "n"), [(1, 2), (2, 3), (3, 8), (4, 9), (5, 6), (8, 16), (6, 33), (16, 17)])
def test_prefix_round_trip_including_power_of_two_old_sizes(m: int, n: int) -> None:
    old, new, proof = prefix_case(m, n, fork_at=min(m - 1, 2))
    ev = prefix_evidence(old, new, proof, LOG.verifier())
    data = format_evidence(ev)
    assert ev.kind == PREFIX and ev.checkpoints()[0].size == m and ev.checkpoints()[1].size == n
    assert format_evidence(parse_evidence(data)) == data
    assert verify_evidence(data, LOG.verifier()) == ev


def test_fork_at_zero_leaves_is_evidence_too() -> None:
    old, new, proof = prefix_case(3, 5, fork_at=0)
    assert verify_evidence(format_evidence(prefix_evidence(old, new, proof, LOG.verifier())), LOG.verifier())


# ---------------------------------------------------------------- evidence that proves nothing


def test_consistent_checkpoints_are_refused() -> None:
    t = tree("a", 9)
    small = merkle.hash_reader_for([merkle.leaf_hash(f"a {i}".encode()) for i in range(5)])
    proof = merkle.full_consistency_proof(5, 9, t)
    with pytest.raises(EvidenceError, match="consistent"):
        prefix_evidence(signed(small), signed(t), proof, LOG.verifier())
    # Hand-made evidence text with a consistent pair is refused by the verifier as well.
    fake = Evidence(PREFIX, ORIGIN, (signed(small), signed(t)), tuple(proof))
    with pytest.raises(EvidenceError, match="consistent"):
        verify_evidence(format_evidence(fake), LOG.verifier())


def test_a_failing_third_party_proof_proves_nothing() -> None:
    t = tree("a", 9)
    small = merkle.hash_reader_for([merkle.leaf_hash(f"a {i}".encode()) for i in range(5)])
    proof = merkle.full_consistency_proof(5, 9, t)
    proof[-1] = bytes(32)  # anyone can make a proof fail
    fake = Evidence(PREFIX, ORIGIN, (signed(small), signed(t)), tuple(proof))
    with pytest.raises(EvidenceError, match="does not lead to the newer signed root"):
        verify_evidence(format_evidence(fake), LOG.verifier())


def test_same_checkpoint_twice_is_not_evidence() -> None:
    a = signed(tree("a", 4))
    with pytest.raises(EvidenceError, match="equal root"):
        same_size_evidence(a, a, LOG.verifier())
    with pytest.raises(EvidenceError, match="sizes"):
        same_size_evidence(a, signed(tree("b", 5)), LOG.verifier())


def test_notes_not_signed_by_the_log_are_refused() -> None:
    a, _ = same_size_pair()
    forged = signed(tree("b", 7), OTHER)  # right name, wrong key
    with pytest.raises(SignatureError):
        same_size_evidence(a, forged, LOG.verifier())
    ev = Evidence(SAME_SIZE, ORIGIN, tuple(sorted([a, forged], key=lambda n: parse_root(n))))
    with pytest.raises(SignatureError):
        verify_evidence(format_evidence(ev), LOG.verifier())
    with pytest.raises(SignatureError):
        verify_evidence(format_evidence(ev), Signer.from_seed("someone.else", b"\x01" * 32).verifier())


def parse_root(note: bytes) -> bytes:
    return Evidence(SAME_SIZE, ORIGIN, (note, note)).checkpoints()[0].root_hash


# ---------------------------------------------------------------- corruption of every element


def corruptions(data: bytes) -> list[tuple[str, bytes]]:
    """Every element of an evidence text changed in turn: signatures, roots, sizes, origins, hashes."""
    out: list[tuple[str, bytes]] = []
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        for what, new in _mutate_line(line):
            out.append((f"line {i} {what}", b"\n".join([*lines[:i], new, *lines[i + 1 :]])))
    return out


def _mutate_line(line: bytes) -> list[tuple[str, bytes]]:
    import base64

    if line.startswith("\u2014 ".encode()):  # a signature line: flip a bit of the signature
        name, b64 = line.rsplit(b" ", 1)
        raw = bytearray(base64.b64decode(b64))
        raw[-1] ^= 1
        return [("signature", name + b" " + base64.b64encode(bytes(raw)))]
    if line.startswith(b"hash "):  # a proof hash
        raw = bytearray(base64.b64decode(line[5:]))
        raw[0] ^= 1
        return [("proof hash", b"hash " + base64.b64encode(bytes(raw)))]
    if len(line) == 44 and line.endswith(b"="):  # a checkpoint root
        raw = bytearray(base64.b64decode(line))
        raw[5] ^= 1
        return [("root", base64.b64encode(bytes(raw)))]
    if line.isdigit():  # a checkpoint size (length unchanged, so the framing still parses)
        return [("size", str(int(line) + 1 if line[-1:] != b"9" else int(line) - 1).encode())]
    if line == ORIGIN.encode():
        return [("note origin", b"example.org/loh")]
    if line.startswith(b"origin "):
        return [("origin", b"origin example.org/loh")]
    return []


@pytest.mark.parametrize("kind", [SAME_SIZE, PREFIX])
def test_every_corruption_is_refused(kind: str) -> None:
    if kind == SAME_SIZE:
        ev = same_size_evidence(*same_size_pair(), LOG.verifier())
    else:
        ev = prefix_evidence(*prefix_case(6, 13), LOG.verifier())
    data = format_evidence(ev)
    cases = corruptions(data)
    kinds = {what.split(" ", 2)[2] for what, _ in cases}
    expected = {"signature", "root", "size", "note origin", "origin"} | ({"proof hash"} if kind == PREFIX else set())
    assert kinds == expected
    for what, bad in cases:
        with pytest.raises((MalformedError, VerificationError)):
            verify_evidence(bad, LOG.verifier())
            pytest.fail(f"accepted evidence with a corrupted {what}")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.replace(b"evidence/v1", b"evidence/v2"), "expected"),
        (lambda d: d.replace(b"same-size", b"other-kind"), "unknown evidence kind"),
        (lambda d: d + b"x", "unexpected bytes"),
        (lambda d: d[:-3], "cut short"),
        (lambda d: d.replace(b"note ", b"note 0", 1), "decimal"),
        (lambda d: d.replace(b"note ", b"note 99999999", 1), "decimal"),
        (lambda d: b"", "missing a final newline"),
        (lambda d: "pypi-witness/evidence/v1 same-size\norigin \u00e9\x01\n".encode(), "control character"),
    ],
)
def test_malformed_framing_is_refused_with_a_message(mutate, message: str) -> None:
    data = format_evidence(same_size_evidence(*same_size_pair(), LOG.verifier()))
    with pytest.raises(MalformedError, match=message):
        parse_evidence(mutate(data))


def test_non_canonical_forms_are_refused() -> None:
    a, b = same_size_pair()
    ev = same_size_evidence(a, b, LOG.verifier())
    swapped = Evidence(SAME_SIZE, ORIGIN, (ev.notes[1], ev.notes[0]))
    with pytest.raises(MalformedError, match="ascending order"):
        parse_evidence(format_evidence(swapped))
    cosigned = add_cosignatures(ev.notes[0], [cosign(ev.checkpoints()[0], WITNESS, 5)])
    with pytest.raises(MalformedError, match="exactly one signature"):
        parse_evidence(format_evidence(Evidence(SAME_SIZE, ORIGIN, (cosigned, ev.notes[1]))))
    p = prefix_evidence(*prefix_case(3, 6), LOG.verifier())
    with pytest.raises(MalformedError, match="smaller size first"):
        parse_evidence(format_evidence(Evidence(PREFIX, ORIGIN, (p.notes[1], p.notes[0]), p.proof)))


def test_prefix_proof_of_the_wrong_length_or_sizes_is_refused() -> None:
    old, new, proof = prefix_case(5, 12)
    with pytest.raises(ProofError):
        prefix_evidence(old, new, proof[:-1], LOG.verifier())
    with pytest.raises(ProofError):
        prefix_evidence(new, old, proof, LOG.verifier())
    empty = signed(merkle.hash_reader_for([]))
    with pytest.raises((EvidenceError, ProofError)):
        verify_evidence(format_evidence(Evidence(PREFIX, ORIGIN, (empty, new), ())), LOG.verifier())


def test_full_proofs_agree_with_rfc_verification() -> None:
    t = tree("a", 40)
    for n in range(2, 41):
        sub = merkle.hash_reader_for([merkle.leaf_hash(f"a {i}".encode()) for i in range(n)])
        for m in range(1, n):
            proof = merkle.full_consistency_proof(m, n, sub)
            old_root, new_root = merkle.full_proof_roots(m, n, proof)
            assert new_root == sub.root() and old_root == merkle.tree_root(m, t)
            rfc = merkle.consistency_proof(m, n, sub)
            merkle.verify_consistency(m, n, old_root, new_root, rfc)
            assert proof[len(proof) - len(rfc) :] == rfc
    with pytest.raises(ProofError):
        merkle.full_proof_roots(3, 3, [])
    with pytest.raises(ProofError):
        merkle.full_consistency_proof(0, 3, t)
