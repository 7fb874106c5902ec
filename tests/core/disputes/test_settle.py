"""core.disputes.settle: voters, checked statements, and tallies of five real logs under a 3-of-5 policy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from pypi_witness import core as core_package
from pypi_witness.core.tlog.note import ALG_COSIGNATURE_V1, Signer
from pypi_witness.core.quorum.policy import parse_policy
from pypi_witness.core.records.format import RemovalRecord, format_record
from pypi_witness.core.disputes.settle import (
    CheckedStatement,
    LogStatement,
    Outcome,
    check_statement,
    tally,
    voter_for_log,
)
from pypi_witness.core.errors import ProofError, QuorumError, RecordError, SignatureError
from tests.core.disputes.settle_fixtures import (
    DISPUTED,
    LIE,
    OTHER_LIE,
    TRUTH,
    federation_policy,
    log_signer,
    log_statement,
    origin,
    votes,
    with_bad_proof,
    witness_signer,
)
from tests.factories import record

POLICY = federation_policy(5, 3)
FILENAME = DISPUTED.filename


def value(r: object) -> tuple[str, str, int]:
    return (r.sha256, r.blake2b_256, r.size)  # type: ignore[attr-defined]


def origins(statements: tuple[CheckedStatement, ...]) -> list[str]:
    return [s.origin for s in statements]


# --- voters -------------------------------------------------------------------------


def test_the_voter_of_a_log_is_the_witness_named_after_it() -> None:
    assert [voter_for_log(POLICY, origin(i)) for i in range(1, 6)] == [f"node{i}" for i in range(1, 6)]


def test_a_log_without_its_witness_in_the_policy_has_no_voter() -> None:
    assert voter_for_log(POLICY, origin(6)) is None
    assert voter_for_log(federation_policy(5, 3, witnesses=[1, 2, 3, 4]), origin(5)) is None


def test_the_first_witness_with_the_key_name_votes() -> None:
    other = Signer.from_seed(witness_signer(1).name, bytes(32), ALG_COSIGNATURE_V1).verifier().vkey()
    key = witness_signer(1).verifier().vkey()
    text = f"log {log_signer(1).verifier().vkey()}\nwitness first {key}\nwitness later {other}\nquorum first\n"
    assert voter_for_log(parse_policy(text.encode()), origin(1)) == "first"


# --- one statement ------------------------------------------------------------------


def test_a_good_statement_checks() -> None:
    checked = check_statement(POLICY, FILENAME, log_statement(2, position=4, size=9))
    assert checked == CheckedStatement(origin(2), "node2", 4, 9, TRUTH)
    assert checked.value == value(TRUTH)


@pytest.mark.parametrize(
    ("statement", "error", "message"),
    [
        (with_bad_proof(log_statement(1)), ProofError, "inclusion"),
        (log_statement(6), SignatureError, "not a log the policy trusts"),
        (log_statement(1, cosigners=(1, 2)), QuorumError, "2 of 3"),
        (log_statement(1, record(8)), RecordError, "is about"),
        (log_statement(1, RemovalRecord("demo", "1.7", None, TRUTH.upload_time, 1)), RecordError, "removal record"),
        (log_statement(1, b"not a record\n"), RecordError, "not a pypi-witness record"),
        ("a statement", RecordError, "LogStatement"),
    ],
    ids=["bad-proof", "unknown-log", "short-of-quorum", "wrong-filename", "not-a-file-record", "garbage", "type"],
)
def test_a_bad_statement_is_refused(statement: LogStatement, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        check_statement(POLICY, FILENAME, statement)


def test_a_statement_whose_entry_is_not_the_proven_leaf_is_refused() -> None:
    good = log_statement(1)
    swapped = LogStatement(format_record(LIE), good.bundle)
    with pytest.raises(ProofError):
        check_statement(POLICY, FILENAME, swapped)


# --- tallies ---------------------------------------------------------------------------


def test_all_agree_settles_with_no_minority() -> None:
    result = tally(POLICY, FILENAME, votes([TRUTH] * 5))
    assert (result.outcome, result.value) == (Outcome.SETTLED, value(TRUTH))
    assert origins(result.majority) == [origin(i) for i in range(1, 6)]
    assert result.minority == () and result.rejected == ()
    assert "overruled: none" in result.reason


@pytest.mark.parametrize("liars", [[3], [2, 5]], ids=["one-liar", "two-liars"])
def test_the_truth_wins_over_a_minority_of_liars(liars: list[int]) -> None:
    result = tally(POLICY, FILENAME, votes([LIE if i in liars else TRUTH for i in range(1, 6)]))
    assert (result.outcome, result.value) == (Outcome.SETTLED, value(TRUTH))
    assert origins(result.minority) == [origin(i) for i in liars]
    assert origins(result.majority) == [origin(i) for i in range(1, 6) if i not in liars]
    for i in liars:
        assert f"{origin(i)} (sha256 {LIE.sha256}" in result.reason


def test_three_liars_of_five_win_under_three_of_five() -> None:
    """The policy's limit: a quorum of colluding logs is, by definition, the federation's word."""
    result = tally(POLICY, FILENAME, votes([LIE, TRUTH, LIE, TRUTH, LIE]))
    assert (result.outcome, result.value) == (Outcome.SETTLED, value(LIE))
    assert origins(result.minority) == [origin(2), origin(4)]


def test_a_two_two_one_split_is_unresolved() -> None:
    result = tally(POLICY, FILENAME, votes([TRUTH, TRUTH, LIE, LIE, OTHER_LIE]))
    assert (result.outcome, result.value, result.majority) == (Outcome.UNRESOLVED, None, ())
    assert origins(result.minority) == [origin(i) for i in range(1, 6)]
    assert result.reason.startswith("no value has a quorum")


def test_a_weak_policy_where_two_values_win_is_unresolved() -> None:
    result = tally(federation_policy(5, 2), FILENAME, votes([TRUTH, TRUTH, LIE, LIE, TRUTH]))
    assert (result.outcome, result.value) == (Outcome.UNRESOLVED, None)
    assert "2 values each have a quorum" in result.reason


def test_no_statement_is_unresolved() -> None:
    result = tally(POLICY, FILENAME, [])
    assert (result.outcome, result.reason) == (Outcome.UNRESOLVED, "no statement counts")


def test_bad_statements_are_rejected_with_their_reasons_and_do_not_vote() -> None:
    statements = [
        with_bad_proof(log_statement(1)),
        log_statement(2),
        log_statement(6),  # a log the policy does not list
        log_statement(3, cosigners=(1, 2)),
        log_statement(4, record(8)),
        log_statement(5, RemovalRecord("demo", "1.7", None, TRUTH.upload_time, 1)),
    ]
    result = tally(POLICY, FILENAME, statements)
    assert result.outcome is Outcome.UNRESOLVED  # one good vote of three needed
    assert [p for p, _ in result.rejected] == [0, 2, 3, 4, 5]
    reasons = dict(result.rejected)
    assert reasons[0].startswith("ProofError")
    assert reasons[2].startswith("SignatureError") and "not a log the policy trusts" in reasons[2]
    assert reasons[3].startswith("QuorumError")
    assert "is about" in reasons[4]
    assert "removal record" in reasons[5]
    assert origins(result.minority) == [origin(2)]


def test_a_statement_from_a_log_with_no_voter_is_listed_but_casts_no_vote() -> None:
    policy = federation_policy(5, 3, witnesses=[1, 2, 3, 4])  # node5's witness is not in the policy: 3 of 4
    statements = [log_statement(i, TRUTH if i in (1, 2, 5) else LIE, cosigners=(1, 2, 3, 4)) for i in range(1, 6)]
    result = tally(policy, FILENAME, statements)
    assert result.outcome is Outcome.UNRESOLVED  # the truth has two voters, node1 and node2
    assert origins(result.minority) == [origin(i) for i in range(1, 6)]
    assert result.rejected == ()
    settled = tally(policy, FILENAME, [*statements[:2], log_statement(3, cosigners=(1, 2, 3, 4)), statements[4]])
    assert (settled.outcome, origins(settled.majority)) == (Outcome.SETTLED, [origin(i) for i in (1, 2, 3, 5)])


def test_a_second_statement_with_the_same_value_is_not_a_second_vote() -> None:
    statements = [log_statement(1), log_statement(1, position=1, size=8), log_statement(2), log_statement(3, LIE)]
    result = tally(POLICY, FILENAME, statements)
    assert result.outcome is Outcome.UNRESOLVED  # node1 counted once: two voters for the truth
    assert origins(result.minority).count(origin(1)) == 1
    assert result.rejected == ()


def test_a_log_that_states_two_values_equivocated_and_is_rejected() -> None:
    statements = [*votes([TRUTH, TRUTH, TRUTH, LIE]), log_statement(4, TRUTH, position=1)]
    result = tally(POLICY, FILENAME, statements)
    assert (result.outcome, result.value) == (Outcome.SETTLED, value(TRUTH))
    assert [p for p, _ in result.rejected] == [3, 4]
    assert all(f"log {origin(4)} equivocated" in reason for _, reason in result.rejected)
    assert origin(4) not in origins(result.majority + result.minority)


def test_the_order_of_statements_does_not_change_the_tally() -> None:
    statements = votes([LIE, TRUTH, TRUTH, LIE, TRUTH])
    forward = tally(POLICY, FILENAME, statements)
    backward = tally(POLICY, FILENAME, statements[::-1])
    assert (forward.outcome, forward.value, forward.majority, forward.minority, forward.reason) == (
        backward.outcome, backward.value, backward.majority, backward.minority, backward.reason,
    )  # fmt: skip

