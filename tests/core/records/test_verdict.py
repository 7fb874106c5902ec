"""The verdict record: exact layout, round trips, mutations, limits, and re-checking a verdict."""

from __future__ import annotations

import dataclasses

import pytest

from pypi_witness.core.quorum.statement import (
    MAX_ENTRY_BYTES,
    LogStatement,
    format_statement,
    parse_statement,
)
from pypi_witness.core.records.format import RecordKind, format_record, parse_record, record_filename
from pypi_witness.core.disputes.settle import Outcome, tally, verdict_record, verify_verdict
from pypi_witness.core.records.verdict import MAX_STATEMENTS, VerdictRecord, format_verdict, parse_verdict
from pypi_witness.core.errors import RecordError, VerificationError
from tests.core.disputes.settle_fixtures import LIE, TRUTH, federation_policy, log_statement, votes

POLICY = federation_policy(5, 3)
FILENAME = TRUTH.filename
T = "2024-02-01T10:00:00.000000Z"
VALUE = (TRUTH.sha256, TRUTH.blake2b_256, TRUTH.size)
SMALL = (log_statement(1, size=2, position=1, cosigners=(1, 2, 3)), log_statement(2, LIE, size=1, position=0))
EXAMPLES = [
    VerdictRecord(FILENAME, Outcome.SETTLED, VALUE, T, SMALL),
    VerdictRecord(FILENAME, Outcome.UNRESOLVED, None, T, SMALL[1:]),
]


def test_exact_layout() -> None:
    data = format_record(EXAMPLES[0])
    head = (
        f"pypi-witness/v1 verdict\nfile {FILENAME}\noutcome settled\nsha256 {TRUTH.sha256}\n"
        f"blake2b {TRUTH.blake2b_256}\nsize {TRUTH.size}\ntime {T}\nstatements 2\n"
    ).encode()
    first = format_statement(SMALL[0])
    assert data.startswith(head + f"statement {len(first)}\n".encode() + first)
    assert first.startswith(f"entry {len(SMALL[0].entry)}\n".encode() + SMALL[0].entry + b"proof ")
    assert format_record(EXAMPLES[1]).startswith(
        f"pypi-witness/v1 verdict\nfile {FILENAME}\noutcome unresolved\nsha256 -\nblake2b -\nsize -\n".encode()
    )


@pytest.mark.parametrize("record", EXAMPLES, ids=["settled", "unresolved"])
def test_round_trip_both_ways(record: VerdictRecord) -> None:
    data = format_record(record)
    assert data == format_verdict(record)
    assert parse_record(data) == record == parse_verdict(data)
    assert format_record(parse_record(data)) == data
    assert record.kind is RecordKind.VERDICT


def test_every_single_byte_mutation_is_refused_or_canonical() -> None:
    data = format_record(EXAMPLES[0])
    for position in range(len(data)):
        for byte in (b" ", b"\n", b"-", b"0", b"x", b"\xff"):
            for candidate in (data[:position] + byte + data[position + 1 :], data[:position] + data[position + 1 :]):
                try:
                    parsed = parse_record(candidate)
                except RecordError:
                    continue
                assert format_record(parsed) == candidate


def test_the_index_key_is_under_verdict() -> None:
    assert record_filename(EXAMPLES[0]) == f"/verdict/{FILENAME}"


def test_an_entry_that_is_not_utf8_is_kept_as_bytes() -> None:
    odd = LogStatement(b"\xff\xfe not text\n", SMALL[0].bundle)
    record = VerdictRecord(FILENAME, Outcome.UNRESOLVED, None, T, (odd,))
    assert parse_record(format_record(record)) == record


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: VerdictRecord("a/b.whl", Outcome.UNRESOLVED, None, T, SMALL), "is a path"),
        (lambda: VerdictRecord("a b.whl", Outcome.UNRESOLVED, None, T, SMALL), "whitespace"),
        (lambda: VerdictRecord(FILENAME, "settled", VALUE, T, SMALL), "Outcome"),
        (lambda: VerdictRecord(FILENAME, Outcome.SETTLED, None, T, SMALL), "settled verdict's value"),
        (lambda: VerdictRecord(FILENAME, Outcome.UNRESOLVED, VALUE, T, SMALL), "no value"),
        (lambda: VerdictRecord(FILENAME, Outcome.SETTLED, ("A" * 64, VALUE[1], 1), T, SMALL), "sha256"),
        (lambda: VerdictRecord(FILENAME, Outcome.SETTLED, (VALUE[0], "b", 1), T, SMALL), "blake2b"),
        (lambda: VerdictRecord(FILENAME, Outcome.SETTLED, (*VALUE[:2], -1), T, SMALL), "out of range"),
        (lambda: VerdictRecord(FILENAME, Outcome.UNRESOLVED, None, "2024-02-01T10:00:00Z", SMALL), "not canonical"),
        (lambda: VerdictRecord(FILENAME, Outcome.UNRESOLVED, None, T, ()), "1 to 32 statements"),
        (lambda: VerdictRecord(FILENAME, Outcome.UNRESOLVED, None, T, SMALL * 17), "1 to 32 statements"),
        (lambda: VerdictRecord(FILENAME, Outcome.UNRESOLVED, None, T, ("x",)), "LogStatement"),
        (lambda: LogStatement(b"", SMALL[0].bundle), "1 to"),
        (lambda: LogStatement(b"x" * (MAX_ENTRY_BYTES + 1), SMALL[0].bundle), "1 to"),
        (lambda: LogStatement("text", SMALL[0].bundle), "is bytes"),
        (lambda: LogStatement(b"x", b"bundle"), "TlogProof"),
    ],
)
def test_invalid_fields_are_refused(make: object, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        make()  # type: ignore[operator]


GOOD = format_record(EXAMPLES[0])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (GOOD.replace(b"outcome settled", b"outcome won"), "unknown verdict outcome"),
        (GOOD.replace(b"statements 2", b"statements 3"), "missing a final newline"),
        (GOOD.replace(b"statements 2", b"statements 1"), "unexpected bytes"),
        (GOOD.replace(b"statements 2", b"statements 33"), "not a decimal in 0..32"),
        (GOOD.replace(b"time " + T.encode(), b"time yesterday"), "not canonical"),
        (GOOD.replace(b"size 1007", b"size 01007"), "leading zeros"),
        (GOOD.replace(b"\nsize 1007", b"\nsize -"), "size"),
        (GOOD.replace(b"file ", b"files "), "expected a 'file' line"),
        (GOOD.replace(b"c2sp.org/tlog-proof@v1", b"c2sp.org/tlog-proof@v2", 1), "tlog-proof does not parse"),
        (GOOD + b"\n", "unexpected bytes"),
        (GOOD[:-1], "cut short"),
    ],
)
def test_malformed_bytes_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        parse_record(data)


def test_a_statement_round_trips_on_its_own() -> None:
    data = format_statement(SMALL[0])
    assert parse_statement(data) == SMALL[0]
    with pytest.raises(RecordError, match="unexpected bytes"):
        parse_statement(data + b"x")


# --- verdict_record and verify_verdict ----------------------------------------------------


def settled_verdict() -> tuple[VerdictRecord, list[LogStatement]]:
    statements = votes([TRUTH, LIE, TRUTH, TRUTH, LIE])
    return verdict_record(tally(POLICY, FILENAME, statements), statements, T), statements


def test_a_verdict_verifies_and_gives_the_same_tally() -> None:
    record, statements = settled_verdict()
    assert (record.outcome, record.value, record.statements) == (Outcome.SETTLED, VALUE, tuple(statements))
    again = verify_verdict(POLICY, parse_record(format_record(record)))  # type: ignore[arg-type]
    assert again == tally(POLICY, FILENAME, statements)


def test_an_unresolved_verdict_verifies() -> None:
    statements = votes([TRUTH, TRUTH, LIE, LIE])
    record = verdict_record(tally(POLICY, FILENAME, statements), statements, T)
    assert verify_verdict(POLICY, record).outcome is Outcome.UNRESOLVED


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: dataclasses.replace(r, value=(LIE.sha256, LIE.blake2b_256, LIE.size)), "records settled"),
        (lambda r: dataclasses.replace(r, outcome=Outcome.UNRESOLVED, value=None), "records unresolved"),
        (lambda r: dataclasses.replace(r, statements=r.statements[1:]), "give unresolved"),
        (
            lambda r: dataclasses.replace(r, statements=(*r.statements[:2], log_statement(3, LIE), r.statements[3])),
            "give unresolved",
        ),
    ],
    ids=["value-edited", "outcome-edited", "statement-removed", "statement-replaced"],
)
def test_an_edited_verdict_is_refused(edit: object, message: str) -> None:
    record, _ = settled_verdict()
    with pytest.raises(VerificationError, match=message):
        verify_verdict(POLICY, edit(record))  # type: ignore[operator]


def test_a_verdict_with_more_statements_than_allowed_cannot_be_made() -> None:
    statements = [log_statement(1, size=2, position=0)] * (MAX_STATEMENTS + 1)
    with pytest.raises(RecordError, match="statements"):
        verdict_record(tally(POLICY, FILENAME, statements), statements, T)


def test_verify_verdict_wants_a_verdict() -> None:
    with pytest.raises(RecordError, match="not a verdict record"):
        verify_verdict(POLICY, TRUTH)  # type: ignore[arg-type]
