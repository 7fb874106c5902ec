"""Settling a dispute: which value a quorum of the federation's logs vouches for, and who is overruled.

Every node of a federation runs a log and a witness named after it
(``<origin>/witness``, ``core.tlog.witness.default_witness_name``), and the
federation's tlog-policy lists every log and every witness. When the logs
disagree about a filename's hashes, each log's *statement* (its entry for the
filename and a tlog-proof that it holds it, ``core.quorum.statement``) is a vote,
cast by the witness its node runs: the log's *voter*. A value wins if its
voters satisfy the policy's quorum, exactly as cosignatures of a checkpoint
would (``core.quorum.evaluation.evaluate``).

:func:`tally` checks every statement (:func:`check_statement`), counts one vote
per log, and settles when exactly one value wins. So under a k-of-n quorum the
truth wins as long as at most n - k logs lie about it; k logs lying together
win (that is the policy's limit, not something a tally can detect); and when
no value, or more than one (a policy weak enough that two disjoint sets of
voters both satisfy it), has the quorum, the dispute stays unresolved.

:func:`verdict_record` turns a tally into the ``verdict`` record a node appends
to its log, holding every statement, and :func:`verify_verdict` lets anyone
with the policy tally them again.

Pure: statements and policies in, values out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pypi_witness.core.quorum.statement import LogStatement as LogStatement
from pypi_witness.core.quorum.policy import Policy
from pypi_witness.core.quorum.evaluation import evaluate
from pypi_witness.core.records.format import FileRecord, parse_record
from pypi_witness.core.quorum.tlogproof import verify_bundle
from pypi_witness.core.records.verdict import Outcome as Outcome
from pypi_witness.core.records.verdict import Value as Value
from pypi_witness.core.records.verdict import VerdictRecord
from pypi_witness.core.tlog.witness import default_witness_name
from pypi_witness.core.errors import RecordError, VerificationError, WitnessError, quoted

__all__ = [
    "CheckedStatement",
    "LogStatement",
    "Outcome",
    "Tally",
    "Value",
    "check_statement",
    "tally",
    "verdict_record",
    "verify_verdict",
    "voter_for_log",
]


def voter_for_log(policy: Policy, origin: str) -> str | None:
    """The policy name of the witness run with log ``origin``, or None if the policy lists none.

    That is the first witness, in policy order, whose key name is
    ``<origin>/witness`` (``core.tlog.witness.default_witness_name``). Never raises.
    """
    name = default_witness_name(origin)
    return next((w.name for w in policy.witnesses if w.verifier.name == name), None)


@dataclass(frozen=True)
class CheckedStatement:
    """A statement that verified: its log, that log's voter (None: no vote), where the entry is, the record."""

    origin: str
    voter: str | None
    index: int
    tree_size: int
    record: FileRecord

    @property
    def value(self) -> Value:
        """What the log vouches for: (sha256, blake2b-256, size)."""
        return (self.record.sha256, self.record.blake2b_256, self.record.size)


def check_statement(policy: Policy, filename: str, statement: LogStatement) -> CheckedStatement:
    """Check one log's statement about ``filename`` under ``policy``.

    The entry must parse as a ``file`` record for ``filename``; the bundle must
    verify (``core.quorum.tlogproof.verify_bundle``): a checkpoint signed by a log of
    the policy, the entry's inclusion proof to its root, and the policy's
    quorum of cosignatures. Returns the CheckedStatement.

    Raises RecordError if ``statement`` is not a LogStatement, the entry is
    not a record, not a ``file`` record or about another filename;
    NoteError if the checkpoint note is malformed; SignatureError if no log
    of the policy signed it; ProofError if the inclusion proof fails;
    QuorumError if the cosignatures fall short of the quorum.
    """
    if type(statement) is not LogStatement:
        raise RecordError(f"a statement is a LogStatement, not {type(statement).__name__}")
    record = parse_record(statement.entry)
    if type(record) is not FileRecord:
        raise RecordError(f"the entry is a {record.kind.value} record, not a file record")
    if record.filename != filename:
        raise RecordError(f"the entry is about {quoted(record.filename)}, not {quoted(filename)}")
    verified = verify_bundle(statement.bundle, policy, leaf=statement.entry)
    checkpoint = verified.checked.signed.checkpoint
    return CheckedStatement(
        checkpoint.origin, voter_for_log(policy, checkpoint.origin), verified.index, checkpoint.size, record
    )


@dataclass(frozen=True)
class Tally:
    """The outcome of a dispute about ``filename`` (see :func:`tally`).

    SETTLED: ``value`` is the one value whose voters satisfy the quorum,
    ``majority`` its statements, ``minority`` every other checked statement
    (the overruled logs). UNRESOLVED: ``value`` is None, ``majority`` empty,
    ``minority`` every checked statement. Both sorted by origin. ``rejected``
    holds (position in the statements given, reason) for every statement
    that does not count, by position. ``reason`` says in one line why.
    """

    filename: str
    outcome: Outcome
    value: Value | None
    majority: tuple[CheckedStatement, ...]
    minority: tuple[CheckedStatement, ...]
    rejected: tuple[tuple[int, str], ...]
    reason: str


def _describe(value: Value) -> str:
    return f"sha256 {value[0]} size {value[2]}"


def _by_origin(statements: list[tuple[int, CheckedStatement]]) -> tuple[CheckedStatement, ...]:
    return tuple(s for _, s in sorted(statements, key=lambda p: (p[1].origin, p[0])))


def _one_per_log(
    checked: list[tuple[int, CheckedStatement]], rejected: list[tuple[int, str]]
) -> list[tuple[int, CheckedStatement]]:
    """Each log's first statement; a log that gave different values has all of its statements rejected."""
    by_origin: dict[str, list[tuple[int, CheckedStatement]]] = {}
    for position, statement in checked:
        by_origin.setdefault(statement.origin, []).append((position, statement))
    votes = []
    for origin, statements in by_origin.items():
        values = {s.value for _, s in statements}
        if len(values) == 1:
            votes.append(statements[0])  # the same value again is not a second vote
            continue
        positions = ", ".join(str(p) for p, _ in statements)
        shown = "; ".join(f"entry {s.index}: {_describe(s.value)}" for _, s in statements)
        for position, _ in statements:
            rejected.append((position, f"log {origin} equivocated: statements {positions} differ ({shown})"))
    return votes


def tally(policy: Policy, filename: str, statements: Sequence[LogStatement]) -> Tally:
    """Settle the dispute about ``filename`` from the logs' ``statements`` under ``policy``.

    Each statement is checked (:func:`check_statement`); one that fails goes
    to ``rejected`` with the reason. One vote per log: a log's further
    statements with the same value are ignored; a log whose statements give
    different values equivocated, and all of them are rejected. A statement
    from a log with no voter in the policy (:func:`voter_for_log`) is counted
    but casts no vote. Values are grouped; a value wins if the voters of its
    statements satisfy the policy's quorum. Exactly one winner: SETTLED.
    None, or several: UNRESOLVED. Never raises for a bad statement.
    """
    checked: list[tuple[int, CheckedStatement]] = []
    rejected: list[tuple[int, str]] = []
    for position, statement in enumerate(statements):
        try:
            checked.append((position, check_statement(policy, filename, statement)))
        except WitnessError as e:
            rejected.append((position, f"{type(e).__name__}: {e}"))
    votes = _one_per_log(checked, rejected)
    rejected.sort()
    groups: dict[Value, list[tuple[int, CheckedStatement]]] = {}
    for position, statement in votes:
        groups.setdefault(statement.value, []).append((position, statement))
    voters = {value: sorted({s.voter for _, s in group if s.voter is not None}) for value, group in groups.items()}
    winners = sorted(value for value in groups if evaluate(policy, voters[value]).satisfied)
    if len(winners) == 1:
        (value,) = winners
        minority = [p for v, group in groups.items() if v != value for p in group]
        overruled = ", ".join(f"{s.origin} ({_describe(s.value)})" for s in _by_origin(minority)) or "none"
        return Tally(
            filename, Outcome.SETTLED, value, _by_origin(groups[value]), _by_origin(minority), tuple(rejected),
            f"{_describe(value)} is vouched for by a quorum ({', '.join(voters[value])}); overruled: {overruled}",
        )  # fmt: skip
    counted = _by_origin(votes)
    if not groups:
        reason = "no statement counts"
    elif winners:
        reason = f"{len(winners)} values each have a quorum (the policy lets disjoint voters satisfy it): " + "; ".join(
            f"{_describe(v)} by {', '.join(voters[v])}" for v in winners
        )
    else:
        reason = "no value has a quorum: " + "; ".join(
            f"{_describe(v)} by {', '.join(voters[v]) or 'no voter'}" for v in sorted(groups)
        )
    return Tally(filename, Outcome.UNRESOLVED, None, (), counted, tuple(rejected), reason)


def verdict_record(tally: Tally, statements: Sequence[LogStatement], time: str) -> VerdictRecord:
    """The ``verdict`` record of ``tally``, holding ``statements`` (those it was tallied from, in order).

    ``time`` is when it was reached, canonical UTC. Raises RecordError as
    VerdictRecord does (e.g. more than MAX_STATEMENTS statements, a bad time).
    """
    return VerdictRecord(tally.filename, tally.outcome, tally.value, time, tuple(statements))


def verify_verdict(policy: Policy, record: VerdictRecord) -> Tally:
    """Tally a verdict's statements again under ``policy``; return the Tally if it agrees with the record.

    Raises RecordError if ``record`` is not a VerdictRecord; VerificationError
    if the recorded outcome or value is not the re-tally's (the message gives
    both).
    """
    if type(record) is not VerdictRecord:
        raise RecordError(f"not a verdict record: {type(record).__name__}")
    again = tally(policy, record.filename, record.statements)
    if (again.outcome, again.value) != (record.outcome, record.value):
        recorded = record.outcome.value + (f" {_describe(record.value)}" if record.value else "")
        found = again.outcome.value + (f" {_describe(again.value)}" if again.value else "")
        raise VerificationError(
            f"verdict on {record.filename} records {recorded}, but its statements give {found}: {again.reason}"
        )
    return again
