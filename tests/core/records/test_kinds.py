"""The removal, yank and alarm records: exact bytes, round trips, refusals, index keys."""

from __future__ import annotations

import dataclasses

import pytest

from pypi_witness.core.records.format import (
    AlarmKind,
    AlarmRecord,
    FileRecord,
    RecordKind,
    RemovalRecord,
    YankRecord,
    format_record,
    parse_record,
    record_filename,
)
from pypi_witness.core.errors import RecordError

T = "2023-06-01T08:00:00.000000Z"
FILE = FileRecord(
    "requests", "2.31.0", "requests-2.31.0-py3-none-any.whl", "a" * 64, "b" * 64, 62574,
    "2023-05-22T15:12:42.313790Z", 18432512,
)  # fmt: skip

REMOVAL_BYTES = (
    b"pypi-witness/v1 removal\nname requests\nversion 2.31.0\n"
    b"file requests-2.31.0-py3-none-any.whl\ntime 2023-06-01T08:00:00.000000Z\nserial 18532512\n"
)
YANK_BYTES = (
    b"pypi-witness/v1 yank\nname requests\nversion 2.31.0\nyanked yes\n"
    b"time 2023-06-01T08:00:00.000000Z\nserial 18532513\n"
)
ALARM_BYTES = (
    b"pypi-witness/v1 alarm\nalarm bad-bytes\nname requests\nversion 2.31.0\n"
    b"file requests-2.31.0-py3-none-any.whl\nsha256 " + b"a" * 64 + b"\nblake2b " + b"b" * 64
    + b"\nsize 62574\ntime 2023-05-22T15:12:42.313790Z\nserial 18432512\nseen_sha256 " + b"c" * 64
    + b"\nseen_blake2b -\nseen_size 100\n"
)  # fmt: skip

EXAMPLES = [
    RemovalRecord("requests", "2.31.0", "requests-2.31.0-py3-none-any.whl", T, 18532512),
    RemovalRecord("requests", "2.31.0", None, T, 7),
    RemovalRecord("requests", None, None, T, None),
    YankRecord("requests", "2.31.0", True, T, 18532513),
    YankRecord("requests", "2.31.0", False, T, None),
    AlarmRecord(AlarmKind.BAD_BYTES, FILE, "c" * 64, None, 100),
    AlarmRecord(AlarmKind.BAD_PATH, FILE, None, "d" * 64, None),
    AlarmRecord(AlarmKind.RESURRECT, dataclasses.replace(FILE, serial=None)),
    AlarmRecord(AlarmKind.LATE_FILE, FILE),
]


def test_exact_bytes() -> None:
    assert format_record(EXAMPLES[0]) == REMOVAL_BYTES
    assert format_record(EXAMPLES[3]) == YANK_BYTES
    assert format_record(EXAMPLES[5]) == ALARM_BYTES


@pytest.mark.parametrize("record", EXAMPLES, ids=lambda r: type(r).__name__)
def test_round_trip_both_ways(record: object) -> None:
    data = format_record(record)  # type: ignore[arg-type]
    assert parse_record(data) == record
    assert format_record(parse_record(data)) == data


@pytest.mark.parametrize("record", EXAMPLES, ids=lambda r: type(r).__name__)
def test_every_single_byte_mutation_is_refused_or_canonical(record: object) -> None:
    data = format_record(record)  # type: ignore[arg-type]
    for position in range(len(data)):
        for byte in (b" ", b"\n", b"-", b"0", b"x", b"\xff"):
            for candidate in (data[:position] + byte + data[position + 1 :], data[:position] + data[position + 1 :]):
                try:
                    parsed = parse_record(candidate)
                except RecordError:
                    continue
                assert format_record(parsed) == candidate


def test_kinds() -> None:
    assert [r.kind for r in EXAMPLES[::3]] == [RecordKind.REMOVAL, RecordKind.YANK, RecordKind.ALARM]


def test_index_keys() -> None:
    # A release's key holds the canonical version: PEP 440 drops the trailing zeros of 2.31.0.
    assert [record_filename(r) for r in EXAMPLES] == [
        "requests-2.31.0-py3-none-any.whl",
        "/release/requests/2.31",
        "/project/requests",
        "/release/requests/2.31",
        "/release/requests/2.31",
        *[FILE.filename] * 4,
    ]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: RemovalRecord("Requests", None, None, T, 1), "normalized"),
        (lambda: RemovalRecord("requests", None, "a.whl", T, 1), "names its version"),
        (lambda: RemovalRecord("requests", "-", None, T, 1), "means absent"),
        (lambda: RemovalRecord("requests", "1.0", "-", T, 1), "means absent"),
        (lambda: RemovalRecord("requests", "1.0", "a/b.whl", T, 1), "is a path"),
        (lambda: RemovalRecord("requests", "1 0", None, T, 1), "whitespace"),
        (lambda: RemovalRecord("requests", "1.0", None, "2023-06-01T08:00:00Z", 1), "not canonical"),
        (lambda: RemovalRecord("requests", "1.0", None, T, -1), "out of range"),
        (lambda: YankRecord("requests", "1.0", 1, T, 1), "must be a bool"),  # type: ignore[arg-type]
        (lambda: YankRecord("requests", None, True, T, 1), "must be a string"),  # type: ignore[arg-type]
        (lambda: AlarmRecord("bad-bytes", FILE), "AlarmKind"),  # type: ignore[arg-type]
        (lambda: AlarmRecord(AlarmKind.BAD_BYTES, EXAMPLES[0]), "FileRecord"),  # type: ignore[arg-type]
        (lambda: AlarmRecord(AlarmKind.BAD_BYTES, FILE, "C" * 64), "seen_sha256"),
        (lambda: AlarmRecord(AlarmKind.BAD_BYTES, FILE, None, "ab"), "seen_blake2b_256"),
        (lambda: AlarmRecord(AlarmKind.BAD_BYTES, FILE, None, None, 2**63), "seen_size"),
    ],
)
def test_invalid_fields_are_refused(make: object, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        make()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (YANK_BYTES.replace(b"yanked yes", b"yanked true"), "yes or no"),
        (ALARM_BYTES.replace(b"alarm bad-bytes", b"alarm swap"), "unknown alarm"),
        (ALARM_BYTES.replace(b"seen_size 100\n", b""), "missing field 'seen_size'"),
        (REMOVAL_BYTES.replace(b"serial 18532512", b"serial 018532512"), "leading zeros"),
        (REMOVAL_BYTES + b"extra x\n", "extra line"),
        (REMOVAL_BYTES.replace(b"file requests", b"files requests"), "unknown field"),
    ],
)
def test_malformed_bytes_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        parse_record(data)
