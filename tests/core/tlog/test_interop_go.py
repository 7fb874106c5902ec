"""Byte-for-byte interoperability with Go's golang.org/x/mod/sumdb/{tlog,note}.

The vectors in tests/vectors/go_tlog.json and tests/vectors/go_note.json were
produced by Go itself (scripts/interop/gotlog, run by
scripts/gen_interop_vectors.py, which also records Go's verdict on notes our
code signed). These tests need no Go: they check that

* our leaf hashes and tree roots equal Go's for every recorded size;
* our inclusion and consistency proofs are byte-identical to Go's;
* our verifiers accept Go's valid proofs, and on every mutated proof (recorded
  as an op on a valid proof, replayed here and pinned by a digest of Go's exact
  inputs) reach the verdict Go's CheckRecord / CheckTree reached;
* our keys derived from the same seeds are Go's key strings, and our signing
  reproduces Go's signed notes byte for byte (Ed25519 is deterministic);
* our open_note / open_checkpoint accept Go's notes; Go's note.Open accepted
  the notes our code signed and rejected the mutated ones our verifier
  rejects, except for the few recorded divergences, each with its reason.

The helpers below (op replay, digest) are also used by the generator, so the
replay this test relies on is the one the generator checked against Go.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from pypi_witness.core.tlog import merkle
from pypi_witness.core.tlog.checkpoint import Checkpoint, parse_checkpoint, sign_checkpoint
from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint
from pypi_witness.core.tlog.note import Signer, Verifier, open_note, sign_note
from pypi_witness.core.errors import NoteError, ProofError, SignatureError

VECTORS = Path(__file__).resolve().parents[2] / "vectors"
TLOG_VECTORS = VECTORS / "go_tlog.json"
NOTE_VECTORS = VECTORS / "go_note.json"


# ------------------------------------------------------------------ shared helpers


def b64d(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def b64e(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def flip_bit(h: bytes, bit: int) -> bytes:
    """``h`` with bit ``bit`` flipped: bit 8*j+k is ``1 << k`` of byte j (as the Go oracle)."""
    out = bytearray(h)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def apply_proof_op(proof: list[bytes], op: Sequence[Any], extra: bytes) -> list[bytes] | None:
    """Apply a proof-editing op (flip / drop / insert / swap); None if ``op`` edits something else."""
    name, args = op[0], list(op[1:])
    p = list(proof)
    if name == "flip":
        i, bit = args
        p[i] = flip_bit(p[i], bit)
    elif name == "drop":
        del p[args[0]]
    elif name == "insert":
        p.insert(args[0], extra)
    elif name == "swap":
        i, j = args
        p[i], p[j] = p[j], p[i]
    else:
        return None
    return p


InclusionInputs = tuple[bytes, int, int, list[bytes], bytes]  # leaf_hash, index, size, proof, root
ConsistencyInputs = tuple[int, int, bytes, bytes, list[bytes]]  # old, new, old_root, new_root, proof


def inclusion_inputs(
    size: int,
    index: int,
    op: Sequence[Any],
    proof: list[bytes],
    leaf_hash_of: dict[int, bytes],
    root_of_size: dict[int, bytes],
    extra: bytes,
) -> InclusionInputs:
    """The inputs to verify_inclusion for ``op`` applied to the valid proof of (size, index)."""
    leaf, root = leaf_hash_of[index], root_of_size[size]
    edited = apply_proof_op(proof, op, extra)
    if edited is not None:
        return leaf, index, size, edited, root
    name, arg = op[0], (op[1] if len(op) > 1 else None)
    if name == "index":
        return leaf, index + arg, size, proof, root
    if name == "size":
        return leaf, index, size + arg, proof, root
    if name == "leaf_hash_of":
        return leaf_hash_of[arg], index, size, proof, root
    if name == "leaf_hash_flip":
        return flip_bit(leaf, arg), index, size, proof, root
    if name == "root_flip":
        return leaf, index, size, proof, flip_bit(root, arg)
    if name == "root_of_size":
        return leaf, index, size, proof, root_of_size[arg]
    raise ValueError(f"unknown inclusion op {op!r}")


def consistency_inputs(
    old_size: int,
    new_size: int,
    op: Sequence[Any],
    proof: list[bytes],
    root_of_size: dict[int, bytes],
    extra: bytes,
) -> ConsistencyInputs:
    """The inputs to verify_consistency for ``op`` applied to the valid proof of (old, new)."""
    old_root, new_root = root_of_size[old_size], root_of_size[new_size]
    edited = apply_proof_op(proof, op, extra)
    if edited is not None:
        return old_size, new_size, old_root, new_root, edited
    name, arg = op[0], (op[1] if len(op) > 1 else None)
    if name == "old_size":
        return old_size + arg, new_size, old_root, new_root, proof
    if name == "new_size":
        return old_size, new_size + arg, old_root, new_root, proof
    if name == "old_root_flip":
        return old_size, new_size, flip_bit(old_root, arg), new_root, proof
    if name == "new_root_flip":
        return old_size, new_size, old_root, flip_bit(new_root, arg), proof
    if name == "roots_swapped":
        return old_size, new_size, new_root, old_root, proof
    if name == "new_root_of_size":
        return old_size, new_size, old_root, root_of_size[arg], proof
    raise ValueError(f"unknown consistency op {op!r}")


def canonical_inclusion(x: InclusionInputs) -> list[Any]:
    """The JSON form hashed into the digest: [size, index, leaf_hash, root, [proof]] in base64."""
    leaf, index, size, proof, root = x
    return [size, index, b64e(leaf), b64e(root), [b64e(h) for h in proof]]


def canonical_consistency(x: ConsistencyInputs) -> list[Any]:
    """The JSON form hashed into the digest: [old, new, old_root, new_root, [proof]] in base64."""
    old_size, new_size, old_root, new_root, proof = x
    return [old_size, new_size, b64e(old_root), b64e(new_root), [b64e(h) for h in proof]]


def inputs_digest(inclusion: list[list[Any]], consistency: list[list[Any]]) -> str:
    """SHA-256 (hex) of the canonical inputs of every mutated check, in order."""
    blob = json.dumps({"inclusion": inclusion, "consistency": consistency}, separators=(",", ":"))
    return hashlib.sha256(blob.encode("ascii")).hexdigest()


def inclusion_verdict(x: InclusionInputs) -> tuple[bool, str]:
    """(accepted, error text) of our verify_inclusion; only ProofError counts as a rejection."""
    leaf, index, size, proof, root = x
    try:
        merkle.verify_inclusion(leaf, index, size, proof, root)
    except ProofError as exc:
        return False, str(exc)
    return True, ""


def consistency_verdict(x: ConsistencyInputs) -> tuple[bool, str]:
    """(accepted, error text) of our verify_consistency; only ProofError counts as a rejection."""
    old_size, new_size, old_root, new_root, proof = x
    try:
        merkle.verify_consistency(old_size, new_size, old_root, new_root, proof)
    except ProofError as exc:
        return False, str(exc)
    return True, ""


def note_verdict(data: bytes, vkeys: Sequence[str]) -> tuple[bool, str]:
    """(accepted, error text) of our open_note under the given verifier keys."""
    verifiers = [Verifier.from_vkey(k) for k in vkeys]
    try:
        open_note(data, verifiers)
    except (NoteError, SignatureError) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    return True, ""


# ------------------------------------------------------------------ tlog vectors


class TlogVectors:
    """go_tlog.json decoded: hashes resolved from the table, keys made ints."""

    def __init__(self, raw: dict[str, Any]) -> None:
        table = [b64d(h) for h in raw["hashes"]]
        self.raw = raw
        self.leaf_format: str = raw["leaf_format"]
        self.go_empty_tree_hash = b64d(raw["go_empty_tree_hash"])
        self.extra = b64d(raw["extra_hash"])
        self.leaf_hashes = {int(i): table[x] for i, x in raw["leaf_hashes"].items()}
        self.roots = {int(s): table[x] for s, x in raw["roots"].items()}
        self.inclusion = {
            (int(s), int(i)): [table[x] for x in proof]
            for s, by_index in raw["inclusion"].items()
            for i, proof in by_index.items()
        }
        self.consistency = {
            (int(o), int(n)): [table[x] for x in proof]
            for n, by_old in raw["consistency"].items()
            for o, proof in by_old.items()
        }
        self.inclusion_mutations: list[tuple[int, int, list[Any], bool]] = [
            (s, i, op, ok) for s, i, op, ok in raw["inclusion_mutations"]
        ]
        self.consistency_mutations: list[tuple[int, int, list[Any], bool]] = [
            (o, n, op, ok) for o, n, op, ok in raw["consistency_mutations"]
        ]

    def leaf(self, i: int) -> bytes:
        return (self.leaf_format % i).encode("ascii")

    def mutated_inclusion_inputs(self) -> list[InclusionInputs]:
        return [
            inclusion_inputs(s, i, op, self.inclusion[(s, i)], self.leaf_hashes, self.roots, self.extra)
            for s, i, op, _ in self.inclusion_mutations
        ]

    def mutated_consistency_inputs(self) -> list[ConsistencyInputs]:
        return [
            consistency_inputs(o, n, op, self.consistency[(o, n)], self.roots, self.extra)
            for o, n, op, _ in self.consistency_mutations
        ]


@cache
def tlog_vectors() -> TlogVectors:
    return TlogVectors(json.loads(TLOG_VECTORS.read_text(encoding="utf-8")))


@cache
def our_tree() -> merkle.MemoryHashes:
    """Our in-memory tree over the same leaves, as large as the largest recorded root."""
    v = tlog_vectors()
    return merkle.hash_reader_for([merkle.leaf_hash(v.leaf(i)) for i in range(max(v.roots))])


def test_vectors_are_small_and_cover_the_brief() -> None:
    v = tlog_vectors()
    assert TLOG_VECTORS.stat().st_size + NOTE_VECTORS.stat().st_size < 1_000_000
    assert set(range(1, 65)) | {100, 1000, 4097} <= set(v.roots)
    # Every index of every size up to 64, every 1 <= old <= new <= 64.
    assert {(s, i) for s in range(1, 65) for i in range(s)} <= set(v.inclusion)
    assert {(o, n) for n in range(1, 65) for o in range(1, n + 1)} <= set(v.consistency)
    assert {s for s, _ in v.inclusion} >= {100, 1000, 4097}
    assert {n for _, n in v.consistency} >= {100, 1000, 4097}
    ops = {op[0] for *_, op, _ in v.inclusion_mutations} | {op[0] for *_, op, _ in v.consistency_mutations}
    assert {"flip", "drop", "insert", "swap", "index", "size", "old_size", "new_size"} <= ops
    # Go rejected most mutations but accepted some (a wrong size is not always detectable).
    verdicts = {ok for *_, ok in v.inclusion_mutations} | {ok for *_, ok in v.consistency_mutations}
    assert verdicts == {True, False}


def test_leaf_hashes_match_go() -> None:
    v = tlog_vectors()
    for i, go_hash in v.leaf_hashes.items():
        assert merkle.leaf_hash(v.leaf(i)) == go_hash, i


def test_roots_match_go() -> None:
    v = tlog_vectors()
    leaf_hashes = [merkle.leaf_hash(v.leaf(i)) for i in range(max(v.roots))]
    reader = our_tree()
    for size, go_root in sorted(v.roots.items()):
        assert merkle.root_of(leaf_hashes[:size]) == go_root, size
        assert merkle.tree_root(size, reader) == go_root, size


def test_empty_tree_is_a_known_divergence() -> None:
    # Go's tlog.TreeHash(0) is 32 zero bytes; RFC 9162 §2.1.1 (and we) say SHA-256("").
    # Nothing here compares roots of size 0 with Go for that reason.
    v = tlog_vectors()
    assert v.go_empty_tree_hash == bytes(32)
    assert merkle.EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert 0 not in v.roots


def test_inclusion_proofs_are_byte_identical() -> None:
    v = tlog_vectors()
    reader = our_tree()
    for (size, index), go_proof in sorted(v.inclusion.items()):
        assert merkle.inclusion_proof(index, size, reader) == go_proof, (size, index)


def test_consistency_proofs_are_byte_identical() -> None:
    v = tlog_vectors()
    reader = our_tree()
    for (old_size, new_size), go_proof in sorted(v.consistency.items()):
        assert merkle.consistency_proof(old_size, new_size, reader) == go_proof, (old_size, new_size)


def test_we_accept_every_valid_go_proof() -> None:
    # The generator checked that Go's CheckRecord / CheckTree accepted each of these.
    v = tlog_vectors()
    for (size, index), proof in v.inclusion.items():
        merkle.verify_inclusion(v.leaf_hashes[index], index, size, proof, v.roots[size])
    for (old_size, new_size), proof in v.consistency.items():
        merkle.verify_consistency(old_size, new_size, v.roots[old_size], v.roots[new_size], proof)


def test_replayed_mutations_are_exactly_gos_inputs() -> None:
    v = tlog_vectors()
    inclusion = [canonical_inclusion(x) for x in v.mutated_inclusion_inputs()]
    consistency = [canonical_consistency(x) for x in v.mutated_consistency_inputs()]
    assert inputs_digest(inclusion, consistency) == v.raw["mutated_inputs_sha256"]


def test_inclusion_verdicts_match_go_on_mutated_proofs() -> None:
    v = tlog_vectors()
    disagreements = []
    for (size, index, op, go_ok), x in zip(v.inclusion_mutations, v.mutated_inclusion_inputs(), strict=True):
        ours, why = inclusion_verdict(x)
        if ours != go_ok:
            disagreements.append((size, index, op, go_ok, why))
    assert not disagreements, disagreements[:20]


def test_consistency_verdicts_match_go_on_mutated_proofs() -> None:
    v = tlog_vectors()
    disagreements = []
    for (old_size, new_size, op, go_ok), x in zip(
        v.consistency_mutations, v.mutated_consistency_inputs(), strict=True
    ):
        ours, why = consistency_verdict(x)
        if ours != go_ok:
            disagreements.append((old_size, new_size, op, go_ok, why))
    assert not disagreements, disagreements[:20]


# ------------------------------------------------------------------ note vectors


@cache
def note_vectors() -> dict[str, Any]:
    return json.loads(NOTE_VECTORS.read_text(encoding="utf-8"))


def signers() -> dict[str, Signer]:
    return {k["name"]: Signer.from_seed(k["name"], bytes.fromhex(k["seed_hex"])) for k in note_vectors()["keys"]}


def test_keys_from_the_same_seed_are_gos_key_strings() -> None:
    for k in note_vectors()["keys"]:
        signer = Signer.from_seed(k["name"], bytes.fromhex(k["seed_hex"]))
        assert signer.skey() == k["skey"]
        assert signer.verifier().vkey() == k["vkey"]
        assert Signer.from_skey(k["skey"]).verifier() == signer.verifier()
        assert Verifier.from_vkey(k["vkey"]) == signer.verifier()


def test_go_notes_are_reproduced_byte_for_byte() -> None:
    by_name = signers()
    notes = note_vectors()["go_signed"]
    assert len(notes) >= 8
    for n in notes:
        go_note = n["note"].encode("utf-8")
        if n["kind"] == "checkpoint":
            cp = Checkpoint(n["origin"], n["size"], b64d(n["root"]))
            assert cp.body() == n["text"]
            assert parse_checkpoint(n["text"]) == cp
            if n["signers"] == [n["origin"]]:
                assert sign_checkpoint(cp, by_name[n["origin"]]) == go_note
        assert sign_note(n["text"], [by_name[s] for s in n["signers"]]) == go_note, n["text"]


def test_go_checkpoint_roots_are_go_tree_roots() -> None:
    roots = tlog_vectors().roots
    for n in note_vectors()["go_signed"]:
        if n["kind"] == "checkpoint":
            assert b64d(n["root"]) == roots[n["size"]]


def test_we_open_go_notes() -> None:
    by_name = signers()
    for n in note_vectors()["go_signed"]:
        go_note = n["note"].encode("utf-8")
        verifiers = [by_name[s].verifier() for s in n["signers"]]
        note, verified = open_note(go_note, verifiers)
        assert note.text == n["text"]
        assert [s.name for s in verified] == n["signers"]
        # Each signer alone suffices; the other's signature is from an unknown key.
        for v in verifiers:
            open_note(go_note, [v])
        if n["kind"] == "checkpoint" and n["origin"] in by_name:
            signed = open_checkpoint(go_note, by_name[n["origin"]].verifier())
            assert signed.checkpoint == Checkpoint(n["origin"], n["size"], b64d(n["root"]))
            assert signed.note == go_note


def test_go_accepted_our_notes_and_we_agree_with_go_on_every_mutation() -> None:
    cases = note_vectors()["ours_checked_by_go"]
    assert any(c["go_ok"] for c in cases) and any(not c["go_ok"] for c in cases)
    disagreements = []
    for c in cases:
        ours, why = note_verdict(b64d(c["note_b64"]), c["vkeys"])
        expected = c["ours_ok"]
        if "divergence" not in c:
            assert expected == c["go_ok"], c["case"]
        if ours != expected:
            disagreements.append((c["case"], c["go_ok"], expected, why))
    assert not disagreements, disagreements


def test_our_unmutated_notes_are_gos_and_go_accepted_them() -> None:
    by_name = signers()
    go_notes = {n["note"] for n in note_vectors()["go_signed"]}
    ours = [c for c in note_vectors()["ours_checked_by_go"] if c.get("signed_by_us")]
    assert ours
    for c in ours:
        data = b64d(c["note_b64"])
        assert c["go_ok"], c["case"]
        assert data.decode("utf-8") in go_notes, c["case"]
        assert sign_note(c["text"], [by_name[s] for s in c["signed_by_us"]]) == data, c["case"]


def test_go_parsed_our_sumdb_tree_note() -> None:
    cases = [c for c in note_vectors()["ours_checked_by_go"] if "go_tree" in c]
    assert cases
    for c in cases:
        note, _ = open_note(b64d(c["note_b64"]), [Verifier.from_vkey(k) for k in c["vkeys"]])
        cp = parse_checkpoint(note.text)
        assert c["go_tree"] == {"ok": True, "size": cp.size, "root": b64e(cp.root_hash)}
        assert cp.origin == "go.sum database tree"


# Where our open_note deliberately differs from Go's note.Open, we are the
# stricter side, following c2sp.org/signed-note (the generator records why).
DELIBERATE_DIVERGENCES = {
    # Go skips a later line from an already-seen key without verifying it;
    # the spec says a matching known key's signature MUST be verified.
    "valid signature, then an invalid signature line from the same key",
    # Go's decoder ignores non-zero base64 padding bits; we accept only the
    # canonical RFC 4648 encoding, so every note has a single byte form.
    "signature base64 with non-zero padding bits",
}


def test_the_only_divergences_are_the_deliberate_ones() -> None:
    divergent = {c["case"]: c for c in note_vectors()["ours_checked_by_go"] if c["go_ok"] != c["ours_ok"]}
    assert set(divergent) == DELIBERATE_DIVERGENCES
    for c in divergent.values():
        assert c["go_ok"] and not c["ours_ok"] and c["divergence"]
    marked = {c["case"] for c in note_vectors()["ours_checked_by_go"] if "divergence" in c}
    assert marked == DELIBERATE_DIVERGENCES
