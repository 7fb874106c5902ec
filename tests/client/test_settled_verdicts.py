"""classify with a policy: a quorum of the logs' voters settles a disagreement among trusted logs."""

from __future__ import annotations

from pypi_witness.client.report import verdict_json, verdict_line
from pypi_witness.client.targets import Expected
from pypi_witness.client.verdict import SourceAnswer, Status, classify, statement
from tests.core.disputes.settle_fixtures import LIE, OTHER_LIE, TRUTH, federation_policy, origin

POLICY = federation_policy(5, 3)


def answer(i: int, record, source: str | None = None) -> SourceAnswer:
    name = source or f"node {i}"
    found = statement(name, origin(i), 10, True, [(i, record)])
    assert found is not None
    return SourceAnswer(name, origin(i), 10, True, None, {record.filename: found})


def expected(record) -> Expected:
    return Expected("requirements.txt:1", record.filename, frozenset({record.sha256}))


def answers(records) -> list[SourceAnswer]:
    return [answer(i, r) for i, r in enumerate(records, 1)]


def test_a_quorum_overrules_a_liar_and_the_reason_names_it() -> None:
    verdict = classify(expected(TRUTH), answers([TRUTH, TRUTH, LIE, TRUTH, TRUTH]), POLICY)
    assert verdict.status is Status.OK
    assert f"overruled: {origin(3)} (sha256 {LIE.sha256})" in verdict.reason
    assert [s.origin for s in verdict.overruled] == [origin(3)]
    assert [s.origin for s in verdict.evidence] == [origin(i) for i in (1, 2, 4, 5)]
    assert [o["origin"] for o in verdict_json(verdict)["overruled"]] == [origin(3)]  # type: ignore[index]
    line = verdict_line(verdict)
    assert "\n" not in line and f"overruled: {origin(3)} (sha256 {LIE.sha256})" in line


def test_without_a_policy_the_same_disagreement_is_unresolved() -> None:
    verdict = classify(expected(TRUTH), answers([TRUTH, TRUTH, LIE, TRUTH, TRUTH]))
    assert verdict.status is Status.UNRESOLVED and verdict.overruled == ()


def test_expecting_the_minority_value_is_a_mismatch_naming_the_quorum_value() -> None:
    verdict = classify(expected(LIE), answers([TRUTH, LIE, LIE, TRUTH, TRUTH]), POLICY)
    assert verdict.status is Status.MISMATCH
    assert f"sha256 {TRUTH.sha256}" in verdict.reason
    assert f"{origin(2)} (sha256 {LIE.sha256}), {origin(3)} (sha256 {LIE.sha256})" in verdict.reason
    assert [s.origin for s in verdict.overruled] == [origin(2), origin(3)]
    assert verdict_json(verdict)["status"] == "MISMATCH" and len(verdict_json(verdict)["overruled"]) == 2


def test_no_value_with_a_quorum_stays_unresolved() -> None:
    verdict = classify(expected(TRUTH), answers([TRUTH, TRUTH, LIE, LIE, OTHER_LIE]), POLICY)
    assert verdict.status is Status.UNRESOLVED and "disagree" in verdict.reason


def test_a_log_that_told_two_sources_two_values_casts_no_vote() -> None:
    told = [*answers([TRUTH, TRUTH, TRUTH, LIE]), answer(3, LIE, source="bundle node3")]
    verdict = classify(expected(TRUTH), told, POLICY)
    assert verdict.status is Status.UNRESOLVED  # node1 and node2 alone are short of 3


def test_untrusted_answers_do_not_vote() -> None:
    untrusted = [SourceAnswer(a.source, a.origin, 10, False, "no quorum", {
        f: type(s)(s.source, s.origin, s.tree_size, s.index, s.record, False) for f, s in a.statements.items()
    }) for a in answers([LIE, LIE, LIE])]  # fmt: skip
    verdict = classify(expected(TRUTH), [*answers([TRUTH]), *untrusted], POLICY)
    assert verdict.status is Status.OK and verdict.overruled == ()
