"""The add-checkpoint ladder: one test per rule, each hitting exactly that rule."""

from __future__ import annotations

import hashlib

import pytest

from pypi_witness.core.tlog import merkle
from pypi_witness.core.tlog.checkpoint import Checkpoint, sign_checkpoint
from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint
from pypi_witness.core.tlog.cosignature import verify_cosignature
from pypi_witness.core.tlog.note import ALG_COSIGNATURE_V1, Signer, sign_note
from pypi_witness.core.tlog.witness import (
    MAX_PROOF_HASHES,
    WitnessRequest,
    WitnessState,
    add_checkpoint,
    check_request,
    decide,
    format_cosignature_line,
    logs_by_origin,
    open_cosignature,
)
from pypi_witness.core.errors import (
    ConflictError,
    EquivocationError,
    MalformedError,
    NoteError,
    NotFoundError,
    OutOfRangeError,
    ProofError,
    SignatureError,
)

ORIGIN = "example.org/log"
LOG = Signer.from_seed(ORIGIN, b"L" * 32)
OTHER_LOG = Signer.from_seed("example.org/other", b"O" * 32)
IMPOSTOR = Signer.from_seed(ORIGIN, b"I" * 32)  # same name, another key
WITNESS = Signer.from_seed("example.org/witness", b"W" * 32, ALG_COSIGNATURE_V1)
LOGS = logs_by_origin([LOG.verifier(), OTHER_LOG.verifier()])
NOW = 1_700_000_000


class Tree:
    """A log's tree in memory: roots, proofs and signed checkpoints at any size."""

    def __init__(self, size: int, salt: bytes = b"") -> None:
        self.hashes = merkle.hash_reader_for([hashlib.sha256(salt + b"%d" % i).digest() for i in range(size)])

    def root(self, size: int) -> bytes:
        return merkle.tree_root(size, self.hashes)

    def proof(self, old: int, new: int) -> tuple[bytes, ...]:
        return tuple(merkle.consistency_proof(old, new, self.hashes))

    def note(self, size: int, signer: Signer = LOG) -> bytes:
        return sign_checkpoint(Checkpoint(signer.name, size, self.root(size)), signer)

    def state(self, size: int) -> WitnessState:
        return WitnessState(size, self.root(size))


TREE = Tree(20)


def request(old: int, new: int, proof: tuple[bytes, ...] | None = None, note: bytes | None = None) -> WitnessRequest:
    return WitnessRequest(old, TREE.proof(old, new) if proof is None else proof, note or TREE.note(new))


def run(known: WitnessState | None, req: WitnessRequest):
    return add_checkpoint(LOGS, {} if known is None else {ORIGIN: known}, req, WITNESS, NOW)


# --- success -----------------------------------------------------------------


def test_first_checkpoint_from_size_zero_is_cosigned():
    decision = run(None, request(0, 7))
    assert decision.previous is None
    assert decision.state == TREE.state(7)
    assert decision.checkpoint == Checkpoint(ORIGIN, 7, TREE.root(7))
    assert decision.cosignature.timestamp == NOW
    verify_cosignature(decision.checkpoint, decision.cosignature, WITNESS.verifier())


@pytest.mark.parametrize(("old", "new"), [(1, 2), (3, 7), (4, 8), (7, 20), (8, 9), (16, 20)])
def test_growing_checkpoints_with_valid_proofs_are_cosigned(old, new):
    decision = run(TREE.state(old), request(old, new))
    assert (decision.previous, decision.state) == (TREE.state(old), TREE.state(new))


def test_the_same_checkpoint_again_is_cosigned_again_and_the_state_is_unchanged():
    decision = run(TREE.state(9), request(9, 9, proof=()))
    assert decision.state == decision.previous == TREE.state(9)


def test_an_empty_log_is_cosigned_at_size_zero():
    decision = run(None, request(0, 0))
    assert decision.state == WitnessState(0, merkle.EMPTY_ROOT)


def test_signatures_from_unknown_keys_are_ignored():
    note = TREE.note(5)
    cosigned = open_checkpoint(note, LOG.verifier())
    from pypi_witness.core.tlog.cosignature import add_cosignatures, cosign

    other = Signer.from_seed("someone/else", b"S" * 32, ALG_COSIGNATURE_V1)
    with_extra = add_cosignatures(note, [cosign(cosigned.checkpoint, other, 5)])
    assert run(None, request(0, 5, note=with_extra)).state == TREE.state(5)


def test_a_log_with_two_trusted_keys_may_sign_with_either():
    second = Signer.from_seed(ORIGIN, b"2" * 32)
    logs = logs_by_origin([LOG.verifier(), second.verifier()])
    for signer in (LOG, second):
        checked = check_request(logs, request(0, 3, note=TREE.note(3, signer)))
        assert checked.checkpoint.size == 3


# --- rule 0: malformed -----------------------------------------------------------


@pytest.mark.parametrize(
    ("req", "error", "message"),
    [
        (WitnessRequest(0, (), b"not a note"), NoteError, "blank line"),
        (WitnessRequest(0, (), sign_note("only\ntwo\n", [LOG])), NoteError, "need at least 3"),
        (WitnessRequest(-1, (), TREE.note(3)), MalformedError, "old size must be a whole number"),
        (WitnessRequest(2, (b"x" * 31,), TREE.note(3)), MalformedError, "consistency proof hash 0 is not 32 bytes"),
        (
            WitnessRequest(2, (b"x" * 32,) * (MAX_PROOF_HASHES + 1), TREE.note(3)),
            MalformedError,
            "at most 63",
        ),
    ],
)
def test_malformed_requests_are_refused(req, error, message):
    with pytest.raises(error, match=message):
        run(None, req)


# --- rule 1: unknown origin ------------------------------------------------------


def test_unknown_origin():
    stranger = Signer.from_seed("stranger.example/log", b"X" * 32)
    with pytest.raises(NotFoundError, match="does not cosign the log 'stranger.example/log'"):
        run(None, request(0, 3, note=TREE.note(3, stranger)))


# --- rule 2: signature -----------------------------------------------------------


def test_no_signature_from_the_logs_key():
    with pytest.raises(SignatureError, match="no signature from a known key"):
        run(None, request(0, 3, note=TREE.note(3, IMPOSTOR)))


def test_a_failing_signature_from_the_logs_key():
    note = bytearray(TREE.note(3))
    note[len(ORIGIN) + 3] ^= 1  # one character of the root line changes: the signature no longer matches
    with pytest.raises(SignatureError, match="does not verify"):
        run(None, WitnessRequest(0, (), bytes(note)))


# --- rule 3: old size past the checkpoint ----------------------------------------


def test_old_size_greater_than_the_checkpoint():
    with pytest.raises(OutOfRangeError, match="old size 9 is greater than the checkpoint's size 5"):
        run(TREE.state(9), request(9, 5, proof=()))


# --- rule 4: old size is not the size last cosigned ------------------------------


@pytest.mark.parametrize(("known", "old", "known_size"), [(None, 3, 0), (TREE.state(5), 0, 5), (TREE.state(5), 4, 5)])
def test_stale_old_size_answers_the_known_size(known, old, known_size):
    with pytest.raises(ConflictError, match="last cosigned") as caught:
        run(known, request(old, 8))
    assert caught.value.known_size == known_size


def test_a_smaller_tree_than_the_one_cosigned_is_a_conflict_never_a_rollback():
    with pytest.raises(ConflictError) as caught:
        run(TREE.state(10), request(4, 6))
    assert caught.value.known_size == 10


# --- rules 5-9: proofs and roots ---------------------------------------------------


def test_old_size_zero_needs_an_empty_proof():
    with pytest.raises(ProofError, match="from size 0 must be empty"):
        run(None, request(0, 5, proof=(TREE.root(1),)))


def test_a_size_zero_checkpoint_needs_the_empty_root():
    note = sign_checkpoint(Checkpoint(ORIGIN, 0, b"\x01" * 32), LOG)
    with pytest.raises(ProofError, match="empty tree's root"):
        run(None, WitnessRequest(0, (), note))


def test_equal_sizes_need_an_empty_proof():
    with pytest.raises(ProofError, match="between equal sizes must be empty"):
        run(TREE.state(6), request(6, 6, proof=(TREE.root(3),)))


def test_same_size_with_another_root_is_equivocation():
    forked = Tree(6, salt=b"fork")
    with pytest.raises(EquivocationError, match="two checkpoints of size 6"):
        run(TREE.state(6), WitnessRequest(6, (), forked.note(6)))


@pytest.mark.parametrize("element", range(3))
def test_a_corrupted_consistency_proof_is_refused(element):
    proof = list(TREE.proof(5, 13))
    proof[element] = bytes(b ^ 0xFF for b in proof[element])
    with pytest.raises(ProofError, match="not consistent with size 5"):
        run(TREE.state(5), request(5, 13, proof=tuple(proof)))


def test_a_proof_that_is_too_short_or_too_long_is_refused():
    proof = TREE.proof(5, 13)
    for bad in (proof[:-1], (*proof, proof[0])):
        with pytest.raises(ProofError):
            run(TREE.state(5), request(5, 13, proof=bad))


def test_a_forked_history_fails_the_proof():
    forked = Tree(13, salt=b"fork")
    with pytest.raises(ProofError, match="not consistent"):
        run(TREE.state(5), WitnessRequest(5, forked.proof(5, 13), forked.note(13)))


# --- order of the rules -------------------------------------------------------------


def test_rules_apply_in_the_specs_order():
    stranger = Signer.from_seed("stranger.example/log", b"X" * 32)
    # unknown origin before a bad proof and a stale size
    with pytest.raises(NotFoundError):
        run(TREE.state(5), WitnessRequest(3, (b"x" * 32,), TREE.note(13, stranger)))
    # signature before old > new
    with pytest.raises(SignatureError):
        run(TREE.state(5), WitnessRequest(30, (), TREE.note(13, IMPOSTOR)))
    # old > new before the stale-size conflict
    with pytest.raises(OutOfRangeError):
        run(TREE.state(5), WitnessRequest(30, (), TREE.note(13)))
    # the stale-size conflict before the proof
    with pytest.raises(ConflictError):
        run(TREE.state(5), WitnessRequest(4, (b"x" * 32,), TREE.note(13)))


def test_decide_alone_needs_no_signature_check():
    checked = check_request(LOGS, request(3, 9))
    assert decide(checked, TREE.state(3)) == TREE.state(9)


def test_logs_by_origin_refuses_cosigner_keys():
    with pytest.raises(MalformedError, match="cosigner key"):
        logs_by_origin([WITNESS.verifier()])


# --- the answer's wire form -----------------------------------------------------------


def test_the_answer_line_opens_as_the_witness_cosignature():
    decision = run(None, request(0, 7))
    line = format_cosignature_line(decision.cosignature)
    assert line.startswith("— example.org/witness ".encode())
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    note = TREE.note(7)
    assert open_cosignature(note, line, LOG.verifier(), WITNESS.verifier()) == decision.cosignature


def test_an_answer_without_the_witness_cosignature_is_refused():
    decision = run(None, request(0, 7))
    line = format_cosignature_line(decision.cosignature)
    other = Signer.from_seed("example.org/witness2", b"V" * 32, ALG_COSIGNATURE_V1)
    with pytest.raises(SignatureError, match="no cosignature from example.org/witness2"):
        open_cosignature(TREE.note(7), line, LOG.verifier(), other.verifier())
    with pytest.raises(SignatureError):  # a cosignature of another checkpoint
        open_cosignature(TREE.note(8), line, LOG.verifier(), WITNESS.verifier())
    for garbage in (b"", b"hello\n", "— x !!\n".encode()):
        with pytest.raises(NoteError):
            open_cosignature(TREE.note(7), garbage, LOG.verifier(), WITNESS.verifier())
