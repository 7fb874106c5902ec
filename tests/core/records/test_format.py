"""Tests of the canonical log-entry format (pypi_witness.core.records.format)."""

from __future__ import annotations

import ast
import dataclasses
import pickle
import random
from pathlib import Path

import pytest

import pypi_witness.core.records.format as records_module
from pypi_witness.core.records.values import canonical_time, normalize_project
from pypi_witness.core.records.format import (
    FORMAT,
    FileRecord,
    RecordKind,
    format_record,
    parse_record,
    record_filename,
)
from pypi_witness.core.errors import RecordError
from tests.factories import gen_records

ROOT = Path(__file__).resolve().parents[3]

SHA = "942c5a758f98d790eaed1a29cb6eefc7ffb0d1cf7af05c3d2791656dbd6ad1e1"
B2 = "58cd2187c01e70e6e26505bca751777aa9f2ee0b7f4300988b709f44e013003f"
EXAMPLE = (
    b"pypi-witness/v1 file\n"
    b"name requests\n"
    b"version 2.31.0\n"
    b"file requests-2.31.0-py3-none-any.whl\n"
    b"sha256 " + SHA.encode() + b"\n"
    b"blake2b " + B2.encode() + b"\n"
    b"size 62574\n"
    b"time 2023-05-22T15:12:42.313790Z\n"
    b"serial 18432512\n"
)


def fields(**overrides: object) -> dict[str, object]:
    """The fields of the example record, with ``overrides``."""
    values: dict[str, object] = dict(
        project="requests",
        version="2.31.0",
        filename="requests-2.31.0-py3-none-any.whl",
        sha256=SHA,
        blake2b_256=B2,
        size=62574,
        upload_time="2023-05-22T15:12:42.313790Z",
        serial=18432512,
    )
    values.update(overrides)
    return values


def replace_line(data: bytes, key: bytes, line: bytes | None) -> bytes:
    """``data`` with the line starting ``key `` replaced by ``line`` (None: removed)."""
    out = []
    for existing in data.split(b"\n")[:-1]:
        if existing.startswith(key + b" "):
            if line is not None:
                out.append(line)
        else:
            out.append(existing)
    return b"\n".join(out) + b"\n"


def generated_records(n: int, seed: int) -> list[FileRecord]:
    """``n`` varied, valid records from the generator, some with serials."""
    rng = random.Random(seed)
    result = []
    for row in gen_records.generate(n, seed):
        result.append(
            FileRecord(
                project=normalize_project(row["name"]),
                version=row["version"],
                filename=row["filename"],
                sha256=row["sha256_digest"],
                blake2b_256=row["blake2_256_digest"],
                size=int(row["size"]),
                upload_time=canonical_time(row["upload_time"]),
                serial=rng.choice((None, 0, rng.randrange(2**63))),
            )
        )
    return result


# -- the example and the format -------------------------------------------------


def test_example_formats_to_exact_bytes() -> None:
    assert format_record(FileRecord(**fields())) == EXAMPLE  # type: ignore[arg-type]
    assert len(EXAMPLE) == 293


def test_example_parses_to_its_fields() -> None:
    assert parse_record(EXAMPLE) == FileRecord(**fields())  # type: ignore[arg-type]


def test_module_docstring_example_is_a_valid_record_of_stated_length() -> None:
    doc = records_module.__doc__ or ""
    block = doc.split("293 bytes::\n\n")[1].split("\n\n")[0]
    data = ("\n".join(line[4:] for line in block.splitlines()) + "\n").encode()
    assert data == EXAMPLE


def test_unknown_serial_is_a_dash() -> None:
    record = FileRecord(**fields(serial=None))  # type: ignore[arg-type]
    data = format_record(record)
    assert data.endswith(b"\nserial -\n")
    assert parse_record(data) == record


def test_zero_size_and_serial_round_trip() -> None:
    record = FileRecord(**fields(size=0, serial=0))  # type: ignore[arg-type]
    assert b"\nsize 0\n" in format_record(record)
    assert parse_record(format_record(record)) == record


def test_largest_size_and_serial_round_trip() -> None:
    record = FileRecord(**fields(size=2**63 - 1, serial=2**63 - 1))  # type: ignore[arg-type]
    assert parse_record(format_record(record)) == record


def test_non_ascii_version_and_filename_round_trip() -> None:
    values = fields(version="1.0é", filename="ünïcode-1.0é.tar.gz")
    record = FileRecord(**values)  # type: ignore[arg-type]
    data = format_record(record)
    assert "ünïcode".encode() in data
    assert parse_record(data) == record


def test_round_trip_over_generated_records() -> None:
    for record in generated_records(2000, seed=3):
        data = format_record(record)
        assert parse_record(data) == record
        assert format_record(parse_record(data)) == data


def test_generated_records_fit_the_disk_budget() -> None:
    sizes = [len(format_record(record)) for record in generated_records(2000, seed=4)]
    assert max(sizes) <= 400
    assert sum(sizes) / len(sizes) <= 330


def test_every_single_byte_mutation_is_refused_or_canonical() -> None:
    # Whatever parses must be the canonical form of what it parses to.
    data = format_record(FileRecord(**fields(serial=None)))  # type: ignore[arg-type]
    candidates = []
    for position in range(len(data) + 1):
        candidates.append(data[:position] + data[position + 1 :])  # deletion
        for byte in (b" ", b"\n", b"\r", b"0", b"a", b"A", b"-", b"\xff"):
            candidates.append(data[:position] + byte + data[position:])  # insertion
            candidates.append(data[:position] + byte + data[position + 1 :])  # substitution
    parsed = 0
    for candidate in candidates:
        try:
            record = parse_record(candidate)
        except RecordError:
            continue
        parsed += 1
        assert format_record(record) == candidate
    assert parsed > 100  # many digit and letter changes stay valid


def test_parse_accepts_bytearray_and_memoryview() -> None:
    assert parse_record(bytearray(EXAMPLE)) == parse_record(memoryview(EXAMPLE))


def test_parse_refuses_str() -> None:
    with pytest.raises(RecordError, match="bytes, not str"):
        parse_record(EXAMPLE.decode())  # type: ignore[arg-type]


# -- structural violations ---------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (EXAMPLE[:-1], "newline"),
        (EXAMPLE + b"\n", "extra line"),
        (EXAMPLE + b"extra 1\n", "extra line"),
        (b"\xef\xbb\xbf" + EXAMPLE, "header"),
        (EXAMPLE.replace(b"2.31.0\n", b"2.31.\xff\n"), "not UTF-8"),
        (EXAMPLE.replace(b"\n", b"\r\n"), "header|kind"),
        (
            EXAMPLE.replace(b"pypi-witness/v1 file", b"pypi-witness/v2 file"),
            "version 'pypi-witness/v2'",
        ),
        (EXAMPLE.replace(b"pypi-witness/v1 file", b"pypi-witness/v1 spam"), "kind 'spam'"),
        (EXAMPLE.replace(b"pypi-witness/v1 file", b"pypi-witness/v1 file "), "kind 'file '"),
        (EXAMPLE.replace(b"pypi-witness/v1 file", b"pypi-witness/v1"), "kind ''"),
        (EXAMPLE.replace(b"pypi-witness/v1 file", b"hello"), "not a pypi-witness record"),
        (replace_line(EXAMPLE, b"size", None), "'size' out of order|expected 'size'"),
        (replace_line(EXAMPLE, b"serial", None), "missing field 'serial'"),
        (replace_line(EXAMPLE, b"version", b"versions 2.31.0"), "unknown field 'versions'"),
        (replace_line(EXAMPLE, b"version", b"Version 2.31.0"), "unknown field 'Version'"),
        (replace_line(EXAMPLE, b"version", b""), "empty line"),
        (replace_line(EXAMPLE, b"version", b"version"), "'version' has no value"),
        (replace_line(EXAMPLE, b"version", b"name requests"), "'name' out of order or repeated"),
        (replace_line(EXAMPLE, b"size", b"time 2023-05-22T15:12:42.3Z"), "'time' out of order"),
    ],
)
def test_structure_violations_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        parse_record(data)


def test_swapped_lines_are_refused() -> None:
    lines = EXAMPLE.split(b"\n")
    lines[3], lines[4] = lines[4], lines[3]
    with pytest.raises(RecordError, match="out of order"):
        parse_record(b"\n".join(lines))


@pytest.mark.parametrize(
    ("key", "line", "field"),
    [
        (b"name", b"name Requests", "project"),
        (b"name", b"name requests ", "project"),
        (b"name", b"name ", "project"),
        (b"version", b"version 2.31.0 ", "version"),
        (b"version", b"version  2.31.0", "version"),
        (b"version", b"version 2.31.0\r", "version"),
        (b"version", b"version ", "version"),
        (b"file", b"file a/b.whl", "filename"),
        (b"sha256", b"sha256 " + SHA.upper().encode(), "sha256"),
        (b"blake2b", b"blake2b " + B2[:-1].encode(), "blake2b_256"),
        (b"size", b"size 062574", "size"),
        (b"size", b"size -1", "size"),
        (b"size", b"size +1", "size"),
        (b"size", b"size 1_000", "size"),
        (b"size", b"size ", "size"),
        (b"size", b"size 9223372036854775808", "size"),
        (b"size", b"size 99999999999999999999", "size"),
        (b"size", b"size \xd9\xa3", "size"),  # ARABIC-INDIC DIGIT THREE
        (b"time", b"time 2023-05-22T15:12:42Z", "upload_time"),
        (b"time", b"time 2023-05-22 15:12:42.313790 UTC", "upload_time"),
        (b"time", b"time 2023-02-29T15:12:42.313790Z", "upload_time"),
        (b"serial", b"serial 018432512", "serial"),
        (b"serial", b"serial ", "serial"),
        (b"serial", b"serial none", "serial"),
        (b"serial", b"serial --", "serial"),
        (b"serial", b"serial 9223372036854775808", "serial"),
    ],
)
def test_bad_values_in_bytes_are_refused_naming_the_field(
    key: bytes, line: bytes, field: str
) -> None:
    with pytest.raises(RecordError, match=field):
        parse_record(replace_line(EXAMPLE, key, line))


# -- field validation at construction ------------------------------------------

BAD_TEXT = [
    "",
    " ",
    "1.0 ",
    "1\t0",
    "1\n0",
    "1\r0",
    "1\x00",
    "1\x7f",
    "1\x85",
    "1\xa0",
    "1\u2003",
    "1\u200b",  # zero-width space
    "1\u202e",  # right-to-left override
    "1\u2066",  # left-to-right isolate
    "1\u3000",
    "\ufeff1",
    "1\ud800",  # lone surrogate: not encodable
    7,
    None,
    b"1.0",
]


@pytest.mark.parametrize("value", BAD_TEXT)
def test_bad_version_is_refused(value: object) -> None:
    with pytest.raises(RecordError, match="version"):
        FileRecord(**fields(version=value))  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [*BAD_TEXT, "a/b.whl", "a\\b.whl", "/", ".", ".."])
def test_bad_filename_is_refused(value: object) -> None:
    with pytest.raises(RecordError, match="filename"):
        FileRecord(**fields(filename=value))  # type: ignore[arg-type]


def test_filename_with_dots_inside_is_accepted() -> None:
    record = FileRecord(**fields(filename="...a..b.tar.gz"))  # type: ignore[arg-type]
    assert record_filename(record) == "...a..b.tar.gz"


@pytest.mark.parametrize(
    "value", ["Requests", "requests_oauth", "zope.interface", "a--b", "-a", "a-", "", "ä", 1, None]
)
def test_unnormalized_project_is_refused(value: object) -> None:
    with pytest.raises(RecordError, match="project"):
        FileRecord(**fields(project=value))  # type: ignore[arg-type]


BAD_DIGESTS = [
    SHA.upper(),
    SHA[:-1] + "A",
    SHA[:-1],
    SHA + "0",
    SHA[:-1] + "g",
    " " + SHA[1:],
    "",
    "０" * 64,  # fullwidth digit zero
    int(SHA, 16),
    None,
    bytes.fromhex(SHA),
]


@pytest.mark.parametrize("value", BAD_DIGESTS)
def test_bad_sha256_is_refused(value: object) -> None:
    with pytest.raises(RecordError, match="sha256"):
        FileRecord(**fields(sha256=value))  # type: ignore[arg-type]


@pytest.mark.parametrize("value", BAD_DIGESTS)
def test_bad_blake2b_is_refused(value: object) -> None:
    with pytest.raises(RecordError, match="blake2b_256"):
        FileRecord(**fields(blake2b_256=value))  # type: ignore[arg-type]


BAD_COUNTS = [-1, 2**63, True, False, 1.0, "1", None]


@pytest.mark.parametrize("value", BAD_COUNTS)
def test_bad_size_is_refused(value: object) -> None:
    with pytest.raises(RecordError, match="size"):
        FileRecord(**fields(size=value))  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [v for v in BAD_COUNTS if v is not None])
def test_bad_serial_is_refused(value: object) -> None:
    with pytest.raises(RecordError, match="serial"):
        FileRecord(**fields(serial=value))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        "2023-05-22T15:12:42Z",
        "2023-05-22T15:12:42.31379Z",
        "2023-05-22T15:12:42.313790",
        "2023-05-22T15:12:42.313790+00:00",
        "2023-05-22 15:12:42.313790 UTC",
        "2023-05-22t15:12:42.313790z",
        "2023-13-22T15:12:42.313790Z",
        "2023-00-22T15:12:42.313790Z",
        "2023-04-31T15:12:42.313790Z",
        "2023-02-29T15:12:42.313790Z",
        "1900-02-29T15:12:42.313790Z",
        "0000-01-01T00:00:00.000000Z",
        "2023-05-22T24:00:00.000000Z",
        "2023-05-22T15:60:42.313790Z",
        "2023-05-22T15:12:60.313790Z",
        "2023-05-22T15:12:42.313790Z\n",
        "２023-05-22T15:12:42.313790Z",
        "",
        None,
        1684768362,
    ],
)
def test_non_canonical_upload_time_is_refused(value: object) -> None:
    with pytest.raises(RecordError, match="upload_time"):
        FileRecord(**fields(upload_time=value))  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["2024-02-29T00:00:00.000000Z", "2000-02-29T23:59:59.999999Z"])
def test_leap_days_are_accepted(value: str) -> None:
    assert FileRecord(**fields(upload_time=value)).upload_time == value  # type: ignore[arg-type]


def test_first_invalid_field_is_named() -> None:
    with pytest.raises(RecordError, match="^sha256"):
        FileRecord(**fields(sha256="x", size=-1))  # type: ignore[arg-type]


# -- canonical_time ------------------------------------------------------------


def test_record_is_frozen_hashable_and_picklable() -> None:
    record = FileRecord(**fields())  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.size = 1  # type: ignore[misc]
    assert hash(record) == hash(FileRecord(**fields()))  # type: ignore[arg-type]
    assert pickle.loads(pickle.dumps(record)) == record
    assert record != FileRecord(**fields(serial=None))  # type: ignore[arg-type]


def test_replace_validates() -> None:
    record = FileRecord(**fields())  # type: ignore[arg-type]
    assert dataclasses.replace(record, size=1).size == 1
    with pytest.raises(RecordError, match="size"):
        dataclasses.replace(record, size=-1)


def test_kind_and_registry() -> None:
    record = FileRecord(**fields())  # type: ignore[arg-type]
    assert record.kind is RecordKind.FILE
    assert RecordKind("file") is RecordKind.FILE
    assert format_record(record).startswith(f"{FORMAT} {RecordKind.FILE.value}\n".encode())


def test_record_filename() -> None:
    assert record_filename(parse_record(EXAMPLE)) == "requests-2.31.0-py3-none-any.whl"
    with pytest.raises(RecordError, match="not a log record"):
        record_filename("requests-2.31.0-py3-none-any.whl")  # type: ignore[arg-type]


def test_format_refuses_non_records() -> None:
    with pytest.raises(RecordError, match="not a log record: dict"):
        format_record(fields())  # type: ignore[arg-type]


def test_module_is_pure() -> None:
    tree = ast.parse(Path(records_module.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"os", "time", "random", "trio", "grpc", "lmdb", "socket", "sys"}
