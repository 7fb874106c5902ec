"""Tests for core.quorum.evaluation: evaluating a policy against real Ed25519 cosignatures."""

from __future__ import annotations

import pytest

from pypi_witness.core.tlog.checkpoint import Checkpoint, parse_checkpoint, sign_checkpoint
from pypi_witness.core.tlog.cosignature import Cosignature, add_cosignatures, cosign
from pypi_witness.core.tlog.note import Note, NoteSignature, format_note, parse_note
from pypi_witness.core.quorum.policy import parse_policy
from pypi_witness.core.quorum.evaluation import (
    QuorumResult,
    check_checkpoint,
    check_cosignatures,
    evaluate,
    require_quorum,
)
from pypi_witness.core.errors import NoteError, QuorumError, SignatureError
from tests.core.quorum.policy_fixtures import (
    ORIGIN,
    SPEC_EXAMPLE,
    TIMESTAMP,
    cosigned_note,
    flat_policy_text,
    log_signer,
    log_vkey,
    witness_signer,
    witness_vkey,
)

CHECKPOINT = Checkpoint(ORIGIN, 12, bytes(range(32)))
OTHER = Checkpoint(ORIGIN, 12, bytes(range(1, 33)))
FLAT = parse_policy(flat_policy_text(3, 2).encode())  # W0..W2 are test witnesses 0..2
NESTED = parse_policy(SPEC_EXAMPLE.encode())  # X1..X3 = witnesses 1..3, Y1..Y3 = 4..6


def checked(policy, witnesses, checkpoint=CHECKPOINT) -> QuorumResult:
    return check_checkpoint(policy, cosigned_note(checkpoint, witnesses)).quorum


def with_lines(note: bytes, *lines: NoteSignature) -> bytes:
    parsed = parse_note(note)
    return format_note(Note(parsed.text, parsed.signatures + lines))


# ---------------------------------------------------------------- evaluate (by name)


def test_evaluate_flat_satisfied_and_partitions_witnesses() -> None:
    result = evaluate(FLAT, ["W0", "W2"])
    assert result.satisfied
    assert result.verified == ("W0", "W2")
    assert result.missing == ("W1",)
    assert dict(result.failed) == {}
    assert result.groups["g"].satisfied_members == ("W0", "W2")


def test_evaluate_flat_not_satisfied() -> None:
    result = evaluate(FLAT, ["W1"])
    assert not result.satisfied
    assert not result.groups["g"].satisfied


def test_evaluate_ignores_unknown_names_and_counts_failed_apart() -> None:
    result = evaluate(FLAT, ["W0", "stranger"], failed={"W1": "bad", "other": "x"})
    assert not result.satisfied
    assert result.verified == ("W0",)
    assert dict(result.failed) == {"W1": "bad"}
    assert result.missing == ("W2",)


def test_evaluate_quorum_none_is_always_satisfied() -> None:
    policy = parse_policy(f"witness W {witness_vkey(1)}\nquorum none\n".encode())
    assert evaluate(policy, []).satisfied


def test_evaluate_single_witness_quorum() -> None:
    policy = parse_policy(f"witness A {witness_vkey(1)}\nwitness B {witness_vkey(2)}\nquorum A\n".encode())
    assert evaluate(policy, ["A"]).satisfied
    assert not evaluate(policy, ["B"]).satisfied


def test_evaluate_nested_groups() -> None:
    ok = evaluate(NESTED, ["X1", "X3", "Y2"])
    assert ok.satisfied
    assert ok.groups["X-and-Y"].satisfied_members == ("X-witnesses", "Y-witnesses")
    short = evaluate(NESTED, ["X1", "Y1", "Y2", "Y3"])
    assert not short.satisfied
    assert short.groups["X-witnesses"].satisfied_members == ("X1",)
    assert short.groups["Y-witnesses"].satisfied
    assert short.groups["X-and-Y"].satisfied_members == ("Y-witnesses",)
    assert not evaluate(NESTED, ["X1", "X2", "X3"]).satisfied


def test_explain_names_what_is_short_failed_and_missing() -> None:
    text = evaluate(NESTED, ["X1", "Y1"], failed={"X2": "signature does not verify"}).explain()
    assert "quorum 'X-and-Y' is not satisfied" in text
    assert "1 of 2 needed members (Y-witnesses)" in text
    assert "group 'X-witnesses' has 1 of 2" in text
    assert "failed: X2 (signature does not verify)" in text
    assert "missing: X3, Y2, Y3" in text


def test_require_quorum() -> None:
    require_quorum(evaluate(FLAT, ["W0", "W1"]))
    result = evaluate(FLAT, ["W0"])
    with pytest.raises(QuorumError, match="not satisfied") as info:
        require_quorum(result)
    assert info.value.result is result


# ---------------------------------------------------------------- real cosignatures


def test_real_cosignatures_satisfy_flat_quorum() -> None:
    note = cosigned_note(CHECKPOINT, [0, 2])
    result = check_checkpoint(FLAT, note)
    assert result.quorum.satisfied
    assert result.quorum.verified == ("W0", "W2")
    assert result.quorum.cosignatures["W2"].timestamp == TIMESTAMP
    assert result.signed.checkpoint == CHECKPOINT
    assert result.signed.note == note
    assert [c.name for c in result.signed.cosignatures] == ["w0.example", "w2.example"]
    assert result.log.origin == ORIGIN


def test_real_cosignatures_short_of_quorum() -> None:
    result = checked(FLAT, [1])
    assert not result.satisfied
    assert result.verified == ("W1",)
    assert result.missing == ("W0", "W2")


def test_failed_cosignature_counts_as_failed_not_fatal() -> None:
    bad = cosign(OTHER, witness_signer(1), TIMESTAMP).to_note_signature()  # W1 signed another checkpoint
    note = with_lines(cosigned_note(CHECKPOINT, [0]), bad)
    result = check_checkpoint(FLAT, note).quorum
    assert not result.satisfied
    assert result.verified == ("W0",)
    assert list(result.failed) == ["W1"]
    assert "does not verify" in result.failed["W1"]
    # With W2 as well the quorum holds despite W1's bad line.
    note = with_lines(cosigned_note(CHECKPOINT, [0, 2]), bad)
    assert check_checkpoint(FLAT, note).quorum.satisfied


def test_cosignature_with_wrong_timestamp_fails() -> None:
    good = cosign(CHECKPOINT, witness_signer(0), TIMESTAMP)
    moved = Cosignature(good.name, good.key_id, TIMESTAMP + 1, good.signature).to_note_signature()
    result = check_checkpoint(FLAT, with_lines(cosigned_note(CHECKPOINT, []), moved)).quorum
    assert list(result.failed) == ["W0"]


def test_malformed_cosignature_payload_counts_as_failed() -> None:
    signer = witness_signer(2)
    short = NoteSignature(signer.name, signer.key_id, b"\x00" * 10)
    result = check_checkpoint(FLAT, with_lines(cosigned_note(CHECKPOINT, [0, 1]), short)).quorum
    assert result.satisfied
    assert "not 72" in result.failed["W2"]


def test_one_good_line_outweighs_a_bad_one_from_the_same_witness() -> None:
    bad = cosign(OTHER, witness_signer(0), TIMESTAMP).to_note_signature()
    note = cosigned_note(CHECKPOINT, [])
    good = cosign(CHECKPOINT, witness_signer(0), TIMESTAMP).to_note_signature()
    for lines in ((bad, good), (good, bad)):
        result = check_checkpoint(FLAT, with_lines(note, *lines)).quorum
        assert result.verified == ("W0",) and dict(result.failed) == {}


def test_unknown_cosigners_are_ignored() -> None:
    result = checked(FLAT, [0, 7, 8])
    assert not result.satisfied
    assert result.verified == ("W0",)
    assert dict(result.failed) == {}
    assert result.missing == ("W1", "W2")


def test_unknown_cosigner_with_garbage_is_ignored() -> None:
    stranger = witness_signer(9)
    junk = NoteSignature(stranger.name, stranger.key_id, b"\x01" * 72)
    result = check_checkpoint(FLAT, with_lines(cosigned_note(CHECKPOINT, [0, 1]), junk)).quorum
    assert result.satisfied and dict(result.failed) == {}


def test_real_cosignatures_nested_groups() -> None:
    assert checked(NESTED, [1, 2, 6]).satisfied
    result = checked(NESTED, [1, 4, 5, 6])
    assert not result.satisfied
    assert result.groups["X-witnesses"].satisfied_members == ("X1",)


def test_check_cosignatures_takes_parsed_signatures() -> None:
    note = parse_note(cosigned_note(CHECKPOINT, [0, 1]))
    result = check_cosignatures(FLAT, parse_checkpoint(note.text), note.signatures)
    assert result.satisfied and result.verified == ("W0", "W1")
    # The same lines do not verify for another checkpoint.
    result = check_cosignatures(FLAT, OTHER, note.signatures)
    assert not result.satisfied and list(result.failed) == ["W0", "W1"]


# ---------------------------------------------------------------- the log's signature


def test_origin_not_in_policy_is_refused() -> None:
    other = Checkpoint("other.example/log", 1, bytes(32))
    with pytest.raises(SignatureError, match="not a log the policy trusts"):
        check_checkpoint(FLAT, cosigned_note(other, [0, 1]))


def test_log_signature_from_another_key_is_refused() -> None:
    impostor = log_signer(ORIGIN, n=9)
    with pytest.raises(SignatureError):
        check_checkpoint(FLAT, cosigned_note(CHECKPOINT, [0, 1], log=impostor))


def test_missing_log_signature_is_refused_even_with_quorum() -> None:
    note = sign_checkpoint(CHECKPOINT, log_signer())
    parsed = parse_note(note)
    cosigs = tuple(cosign(CHECKPOINT, witness_signer(i), TIMESTAMP).to_note_signature() for i in range(3))
    only_witnesses = format_note(Note(parsed.text, cosigs))
    with pytest.raises(SignatureError, match="no signature from a known key"):
        check_checkpoint(FLAT, only_witnesses)


def test_malformed_note_is_refused() -> None:
    with pytest.raises(NoteError):
        check_checkpoint(FLAT, b"not a note\n")
    bad_body = add_cosignatures(sign_checkpoint(CHECKPOINT, log_signer()), [])
    with pytest.raises(NoteError):
        check_checkpoint(FLAT, bad_body.replace(b"\n12\n", b"\n012\n"))


def test_extra_logs_serve_a_policy_without_logs() -> None:
    policy = parse_policy((flat_policy_text(3, 2).split("\n", 1)[1]).encode())
    assert policy.logs == ()
    note = cosigned_note(CHECKPOINT, [0, 1])
    with pytest.raises(SignatureError):
        check_checkpoint(policy, note)
    result = check_checkpoint(policy, note, extra_logs=[log_signer().verifier()])
    assert result.quorum.satisfied and result.log.verifier == log_signer().verifier()


def test_two_logs_with_the_same_origin_either_may_sign() -> None:
    second = log_signer(ORIGIN, n=5)
    policy = parse_policy(
        f"log {log_vkey()}\nlog {second.verifier().vkey()}\nwitness W0 {witness_vkey(0)}\nquorum W0\n".encode()
    )
    result = check_checkpoint(policy, cosigned_note(CHECKPOINT, [0], log=second))
    assert result.log.verifier == second.verifier() and result.quorum.satisfied
