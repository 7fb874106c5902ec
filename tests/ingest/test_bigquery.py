"""Tests of the BigQuery-shaped JSON Lines import (pypi_witness.ingest.bigquery)."""

from __future__ import annotations

import importlib.resources
import importlib.util
import io
import json
from pathlib import Path

import pytest

from pypi_witness.core.records.values import canonical_time, normalize_project
from pypi_witness.core.records.format import (
    FileRecord,
    format_record,
    parse_record,
)
from pypi_witness.core.errors import RecordError
from pypi_witness.ingest.bigquery import REQUIRED_FIELDS, iter_records, parse_line
from tests.factories import gen_records

ROOT = Path(__file__).resolve().parents[2]

SHA = "942c5a758f98d790eaed1a29cb6eefc7ffb0d1cf7af05c3d2791656dbd6ad1e1"
B2 = "58cd2187c01e70e6e26505bca751777aa9f2ee0b7f4300988b709f44e013003f"
FILENAME = "requests-2.31.0-py3-none-any.whl"
PATH = f"{B2[:2]}/{B2[2:4]}/{B2[4:]}/{FILENAME}"


def row(**overrides: object) -> dict[str, object]:
    """A BigQuery export row of the example file, with ``overrides`` (None removes)."""
    values: dict[str, object] = {
        "name": "Requests",
        "version": "2.31.0",
        "upload_time": "2023-05-22 15:12:42.313790 UTC",
        "filename": FILENAME,
        "size": "62574",
        "path": PATH,
        "python_version": "py3",
        "packagetype": "bdist_wheel",
        "md5_digest": "ab6e3b9d3bcf4f6bb25a7a4ec0b4bd42",
        "sha256_digest": SHA,
        "blake2_256_digest": B2,
    }
    values.update(overrides)
    return {key: value for key, value in values.items() if value is not None}


def line(**overrides: object) -> bytes:
    return json.dumps(row(**overrides)).encode() + b"\n"


EXPECTED = FileRecord(
    project="requests",
    version="2.31.0",
    filename=FILENAME,
    sha256=SHA,
    blake2b_256=B2,
    size=62574,
    upload_time="2023-05-22T15:12:42.313790Z",
    serial=None,
)


# -- accepted lines ---------------------------------------------------------------


def test_bigquery_export_line() -> None:
    assert parse_line(line(), 1) == EXPECTED


def test_str_bytearray_and_memoryview_lines() -> None:
    data = line()
    assert parse_line(data.decode(), 1) == EXPECTED
    assert parse_line(bytearray(data), 1) == EXPECTED
    assert parse_line(memoryview(data), 1) == EXPECTED


@pytest.mark.parametrize(
    "text", [line().rstrip(b"\n"), line().replace(b"\n", b"\r\n"), b"  " + line(), line() + b"  \t"]
)
def test_surrounding_whitespace_is_accepted(text: bytes) -> None:
    assert parse_line(text, 1) == EXPECTED


def test_integer_size_is_accepted() -> None:
    assert parse_line(line(size=62574), 1) == EXPECTED


@pytest.mark.parametrize(
    "upload_time",
    [
        "2023-05-22T15:12:42.313790Z",
        "2023-05-22T15:12:42.313790",
        "2023-05-22T15:12:42.313790+00:00",
        "2023-05-22T17:12:42.313790+02:00",
    ],
)
def test_iso_upload_times_are_accepted(upload_time: str) -> None:
    assert parse_line(line(upload_time=upload_time), 1) == EXPECTED


def test_whole_second_bigquery_time() -> None:
    record = parse_line(line(upload_time="2023-05-22 15:12:42 UTC"), 1)
    assert record.upload_time == "2023-05-22T15:12:42.000000Z"


@pytest.mark.parametrize(
    ("serial", "expected"), [(18432512, 18432512), ("18432512", 18432512), (0, 0)]
)
def test_serial_is_kept(serial: object, expected: int) -> None:
    assert parse_line(line(serial=serial), 1).serial == expected


def test_null_serial_and_path_mean_absent() -> None:
    text = json.dumps({**row(), "serial": None, "path": None})
    assert parse_line(text, 1) == EXPECTED


def test_missing_path_is_accepted() -> None:
    data = row()
    del data["path"]
    assert parse_line(json.dumps(data), 1) == EXPECTED


def test_other_columns_are_ignored() -> None:
    extra = {"summary": "HTTP for Humans.", "description": "x" * 10_000, "has_signature": False}
    assert parse_line(json.dumps({**row(), **extra}), 1) == EXPECTED


def test_project_names_are_normalized() -> None:
    assert parse_line(line(name="Zope.Interface__X"), 1).project == "zope-interface-x"


# -- refused lines: the message starts with the line number and says why ----------


def refused(text: bytes | str, lineno: int = 42) -> str:
    with pytest.raises(RecordError) as info:
        parse_line(text, lineno)
    message = str(info.value)
    assert message.startswith(f"line {lineno}: "), message
    return message


@pytest.mark.parametrize(
    "text", [b"", b"\n", b"{", b"{'name': 1}", b"nope", b'{"a": 1} {"b": 2}', b"[" * 100_000]
)
def test_bad_json(text: bytes) -> None:
    assert "bad JSON" in refused(text)


@pytest.mark.parametrize(
    ("text", "kind"), [(b"[]", "list"), (b'"x"', "str"), (b"7", "int"), (b"null", "NoneType")]
)
def test_not_an_object(text: bytes, kind: str) -> None:
    assert f"expected a JSON object, got {kind}" in refused(text)


def test_not_utf8() -> None:
    assert "not UTF-8" in refused(line(version="2.31.0").replace(b"2.31.0", b"2.31.\xff"))


@pytest.mark.parametrize("field", REQUIRED_FIELDS)
def test_missing_field(field: str) -> None:
    data = row()
    del data[field]
    assert f"missing field(s) {field!r}" in refused(json.dumps(data))


def test_all_missing_fields_are_listed() -> None:
    message = refused(b'{"name": "requests"}')
    for field in REQUIRED_FIELDS[1:]:
        assert repr(field) in message


@pytest.mark.parametrize("field", REQUIRED_FIELDS)
def test_null_field(field: str) -> None:
    assert f"field {field!r} is null" in refused(json.dumps({**row(), field: None}))


@pytest.mark.parametrize("field", [f for f in REQUIRED_FIELDS if f != "size"])
@pytest.mark.parametrize("value", [7, 1.5, True, [], {}])
def test_non_string_field(field: str, value: object) -> None:
    assert f"field {field!r} must be a string" in refused(json.dumps({**row(), field: value}))


@pytest.mark.parametrize("value", [1.5, True, "", "-1", "+1", "1e3", " 1", "٣", "9" * 20, [], {}])
def test_bad_size_type(value: object) -> None:
    assert "field 'size' must be an integer or a decimal string" in refused(line(size=value))


@pytest.mark.parametrize("value", [-1, 2**63])
def test_size_out_of_range(value: int) -> None:
    assert "size" in refused(line(size=value))


@pytest.mark.parametrize("value", [1.5, True, "", "x", "-1", [], {}])
def test_bad_serial(value: object) -> None:
    assert "field 'serial' must be an integer or a decimal string" in refused(line(serial=value))


def test_negative_serial() -> None:
    assert "serial -1 is out of range" in refused(line(serial=-1))


@pytest.mark.parametrize(
    ("column", "field"), [("sha256_digest", "sha256"), ("blake2_256_digest", "blake2b_256")]
)
@pytest.mark.parametrize("value", [SHA.upper(), SHA[:-1], SHA + "0", "z" * 64, ""])
def test_bad_digest(column: str, field: str, value: str) -> None:
    overrides: dict[str, object] = {column: value, "path": None}
    assert f"{field} must be 64 lowercase hex digits" in refused(line(**overrides))


@pytest.mark.parametrize("name", ["-requests", "requests-", "re quests", "réquests", ""])
def test_invalid_project_name(name: str) -> None:
    assert "not a valid PEP 508 name" in refused(line(name=name))


@pytest.mark.parametrize("version", ["2.31.0 ", "2.31\n0", "2.31\u200b0"])
def test_bad_version(version: str) -> None:
    assert "version" in refused(line(version=version))


@pytest.mark.parametrize("filename", ["../requests.whl", "a\\b.whl", ".."])
def test_bad_filename(filename: str) -> None:
    assert "filename" in refused(line(filename=filename, path=None))


@pytest.mark.parametrize(
    "upload_time",
    [
        "2023-05-22",
        "2023-02-30 15:12:42.313790 UTC",
        "2023-05-22 25:12:42.313790 UTC",
        "2023-05-22 15:12:42.31379x UTC",
        "2023-02-30 15:12:42 UTC",
        "2023-05-22 15:12:4x UTC",
        "2023-05-22 15:12:42 utc",
        "yesterday",
    ],
)
def test_bad_upload_time_is_reported_as_given(upload_time: str) -> None:
    message = refused(line(upload_time=upload_time))
    assert f"upload_time {upload_time!r}" in message


@pytest.mark.parametrize(
    "path",
    [
        f"{B2[:2]}/{B2[2:4]}/{B2[4:]}/requests-2.31.0.tar.gz",  # other file
        f"{B2[:2]}/{B2[2:4]}/{B2[4:-1]}0/{FILENAME}",  # other digest
        f"{SHA[:2]}/{SHA[2:4]}/{SHA[4:]}/{FILENAME}",  # the sha256, not the blake2b
        f"{B2[:2]}{B2[2:4]}/{B2[4:]}//{FILENAME}",  # same characters, slashes moved
        f"{B2[:4]}/{B2[4:]}/{FILENAME}",
        f"packages/{PATH}",
        f"/{PATH}",
        PATH.upper(),
        FILENAME,
        "",
    ],
)
def test_path_must_match_blake2b_and_filename(path: str) -> None:
    assert "does not match blake2_256_digest" in refused(line(path=path))


def test_non_string_path_is_refused() -> None:
    assert "path" in refused(line(path=7))


# -- iter_records ------------------------------------------------------------------


def test_iter_records_skips_blank_lines_but_counts_them() -> None:
    stream = io.BytesIO(line() + b"\n   \n\r\n" + line(version="2.32.0", path=None) + b"{bad\n")
    records = iter_records(stream, start_line=10)
    assert next(records) == EXPECTED
    assert next(records).version == "2.32.0"
    with pytest.raises(RecordError, match="^line 15: bad JSON"):
        next(records)


def test_iter_records_of_empty_stream() -> None:
    assert list(iter_records(io.BytesIO(b""))) == []


def test_iter_records_line_without_final_newline() -> None:
    assert list(iter_records(io.BytesIO(line().rstrip(b"\n")))) == [EXPECTED]


# -- the generator and the bundled sample ------------------------------------------------


def sample_bytes() -> bytes:
    resource = importlib.resources.files("pypi_witness").joinpath("data", "sample_records.jsonl")
    return resource.read_bytes()


def test_sample_parses_entirely() -> None:
    records = list(iter_records(io.BytesIO(sample_bytes())))
    assert len(records) == 200
    assert len({record.filename for record in records}) == 200
    for record in records:
        assert parse_record(format_record(record)) == record


def test_sample_is_what_the_generator_makes() -> None:
    expected = "".join(
        json.dumps(item, separators=(",", ":")) + "\n" for item in gen_records.generate(200, 1)
    )
    assert sample_bytes() == expected.encode()


def test_generated_rows_convert_field_by_field() -> None:
    for lineno, item in enumerate(gen_records.generate(3000, seed=11), start=1):
        record = parse_line(json.dumps(item), lineno)
        assert record.project == normalize_project(item["name"])
        assert record.version == item["version"]
        assert record.filename == item["filename"]
        assert record.sha256 == item["sha256_digest"]
        assert record.blake2b_256 == item["blake2_256_digest"]
        assert record.size == int(item["size"])
        assert record.upload_time == canonical_time(item["upload_time"])
        assert record.serial is None
        assert parse_record(format_record(record)) == record


def test_generator_is_deterministic_and_seeded() -> None:
    first = list(gen_records.generate(500, seed=5))
    assert first == list(gen_records.generate(500, seed=5))
    assert first != list(gen_records.generate(500, seed=6))
    assert list(gen_records.generate(0, seed=5)) == []


def test_generator_looks_like_pypi() -> None:
    items = list(gen_records.generate(5000, seed=2))
    assert len(items) == 5000
    filenames = [item["filename"] for item in items]
    assert len(set(filenames)) == len(filenames)
    assert 45 <= sum(map(len, filenames)) / len(filenames) <= 55
    names = {item["name"] for item in items}
    assert all(5 <= len(name) <= 25 for name in names)
    assert any(name != name.lower() for name in names)
    assert any("_" in name for name in names)
    kinds = {item["packagetype"] for item in items}
    assert kinds == {"sdist", "bdist_wheel"}
    assert any("manylinux" in name for name in filenames)
    assert any(name.endswith("-none-any.whl") for name in filenames)


def test_generator_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert gen_records.main(["3", "--seed", "9"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(text) for text in lines] == list(gen_records.generate(3, seed=9))
