"""Import of file observations from JSON Lines shaped like PyPI's BigQuery table.

Each line is one JSON object with the column names of
``bigquery-public-data.pypi.distribution_metadata``. Required:

- ``name`` (the project's display name; normalized per PEP 503 here),
- ``version``, ``filename`` (strings),
- ``size`` (an integer, or a decimal string: BigQuery exports INT64 as strings),
- ``upload_time`` (BigQuery's ``2023-05-22 15:12:42.313790 UTC`` or an ISO form
  that ``canonical_time`` accepts),
- ``sha256_digest``, ``blake2_256_digest`` (64 lowercase hex digits).

Optional: ``serial`` (integer or decimal string; absent or null means unknown),
and ``path``, which, if present and not null, must be where PyPI stores the
file: ``<b2[:2]>/<b2[2:4]>/<b2[4:]>/<filename>`` with b2 the BLAKE2b-256 digest.
Every other column (``packagetype``, ``python_version``, ``md5_digest``, ...)
is ignored. A command such as::

    bq query --format=json ... | jq -c '.[]'

or a JSON export of the table with those columns produces this format.
"""

from __future__ import annotations

import orjson
from collections.abc import Iterator
from typing import IO

from pypi_witness.core.records.values import canonical_time, normalize_project
from pypi_witness.core.records.format import FileRecord
from pypi_witness.core.errors import RecordError, quoted

REQUIRED_FIELDS = (
    "name",
    "version",
    "filename",
    "size",
    "upload_time",
    "sha256_digest",
    "blake2_256_digest",
)
"""The columns every line must hold."""


PROJECT_CACHE_SIZE = 65_536
"""How many display names ``normalize_project`` results are kept for (names repeat
across a project's files); the cache is emptied when full."""
_projects: dict[str, str] = {}


def _project(name: str) -> str:
    """``normalize_project(name)``, remembered."""
    project = _projects.get(name)
    if project is None:
        project = normalize_project(name)
        if len(_projects) >= PROJECT_CACHE_SIZE:
            _projects.clear()
        _projects[name] = project
    return project


def _count(field: str, value: object) -> int | None:
    """The integer ``value`` of column ``field`` (an int or a decimal string); None if null."""
    if type(value) is int or value is None:
        return value  # type: ignore[return-value]
    if type(value) is str and value.isascii() and value.isdecimal() and len(value) <= 19:
        return int(value)
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    raise RecordError(
        f"field {quoted(field)} must be an integer or a decimal string below 2**63, "
        f"got {type(value).__name__} {shown}"
    )


def _refuse_columns(obj: object) -> None:
    """Raise the ``RecordError`` for a decoded line whose columns are unusable."""
    if type(obj) is not dict:
        raise RecordError(f"expected a JSON object, got {type(obj).__name__}")
    missing = [field for field in REQUIRED_FIELDS if field not in obj]
    if missing:
        raise RecordError(f"missing field(s) {', '.join(map(repr, missing))}")
    for field in REQUIRED_FIELDS:
        if obj[field] is None:
            raise RecordError(f"field {quoted(field)} is null")
    for field in REQUIRED_FIELDS:
        if field != "size" and type(obj[field]) is not str:
            raise RecordError(
                f"field {quoted(field)} must be a string, got {type(obj[field]).__name__}"
            )
    raise AssertionError("columns refused but none is unusable")


def _time(value: str) -> str:
    """``canonical_time(value)``, with BigQuery's form rewritten unchecked.

    Only for ``_convert``: ``FileRecord`` checks the result, and ``_convert``
    calls ``canonical_time`` for the message if it is refused.
    """
    if len(value) == 30 and value[26:] == " UTC" and value[10] == " ":
        return f"{value[:10]}T{value[11:26]}Z"
    if len(value) == 23 and value[19:] == " UTC" and value[10] == " ":  # whole seconds
        return f"{value[:10]}T{value[11:19]}.000000Z"
    return canonical_time(value)


def _convert(obj: object) -> FileRecord:
    """The record one decoded line describes; RecordError without the line number."""
    if type(obj) is not dict:
        _refuse_columns(obj)
    try:
        name = obj["name"]  # type: ignore[index]
        version = obj["version"]  # type: ignore[index]
        filename = obj["filename"]  # type: ignore[index]
        size = obj["size"]  # type: ignore[index]
        upload_time = obj["upload_time"]  # type: ignore[index]
        sha256 = obj["sha256_digest"]  # type: ignore[index]
        blake2b_256 = obj["blake2_256_digest"]  # type: ignore[index]
    except KeyError:
        _refuse_columns(obj)
    if not (
        type(name) is str
        and type(version) is str
        and type(filename) is str
        and type(upload_time) is str
        and type(sha256) is str
        and type(blake2b_256) is str
        and size is not None
    ):
        _refuse_columns(obj)
    get = obj.get  # type: ignore[union-attr]
    if type(size) is not int:
        size = _count("size", size)
    serial = get("serial")
    if type(serial) is not int and serial is not None:
        serial = _count("serial", serial)
    project = _projects.get(name) or _project(name)
    try:
        record = FileRecord(
            project, version, filename, sha256, blake2b_256, size, _time(upload_time), serial
        )
    except RecordError:
        canonical_time(upload_time)  # the message for a bad time, in the form given
        raise
    path = get("path")
    if path is not None:
        # PyPI stores a file at <b2[:2]>/<b2[2:4]>/<b2[4:]>/<filename> (DESIGN §2).
        expected = f"{blake2b_256[:2]}/{blake2b_256[2:4]}/{blake2b_256[4:]}/{filename}"
        if path != expected:
            raise RecordError(
                f"path {quoted(path)} does not match blake2_256_digest and filename "
                f"(expected {quoted(expected)})"
            )
    return record


def _decode(line: str) -> object:
    """The JSON value of ``line``; RecordError if it is not exactly one JSON value.

    orjson decodes a line in a quarter of the standard library's time, which
    the import's throughput depends on; it is strict RFC 8259 (no NaN, no
    nesting deeper than 1024, integers within 64 bits).
    """
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"bad JSON: {exc}") from None


def parse_line(line: bytes | str, lineno: int) -> FileRecord:
    """Convert one JSON Lines line (with or without its newline) into a ``FileRecord``.

    Raises ``RecordError`` whose message starts with ``line <lineno>:`` and says
    what is wrong: not UTF-8, bad JSON, not an object, a missing or null
    required field, a field of the wrong type, or a value the record refuses
    (an invalid project name, a bad digest, a negative size, an unreadable
    time, a ``path`` that does not match the BLAKE2b digest and filename).
    """
    try:
        if type(line) is bytes:
            try:
                obj = orjson.loads(line)  # validates UTF-8 itself: no decoding pass
            except orjson.JSONDecodeError:
                obj = _decode(line.decode("utf-8"))  # for the precise message
            return _convert(obj)
        if type(line) is not str:
            line = bytes(line).decode("utf-8")
        return _convert(_decode(line))  # type: ignore[arg-type]
    except UnicodeDecodeError as exc:
        raise RecordError(f"line {lineno}: not UTF-8 (byte {exc.start})") from None
    except RecordError as exc:
        raise RecordError(f"line {lineno}: {exc}") from None


def iter_records(stream: IO[bytes], start_line: int = 1) -> Iterator[FileRecord]:
    """Yield the record of every non-blank line of ``stream``, in order.

    ``start_line`` is the line number of the stream's first line (to resume
    counting part-way through a file); lines holding only whitespace are
    skipped but counted. Raises ``RecordError`` from ``parse_line`` at the
    first bad line; the records before it have been yielded.
    """
    lineno = start_line
    for line in stream:
        if not line.isspace():
            yield parse_line(line, lineno)
        lineno += 1
