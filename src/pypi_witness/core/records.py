"""The log-entry format: one canonical, versioned, line-based record per observation.

A record is UTF-8 text. Its first line names the format version and the record
kind; then comes one ``key value`` line per field, in a fixed order, each line
ending in ``\\n``. Nothing else is allowed: no missing, extra, repeated or
reordered keys, no empty lines, no ``\\r``, no space other than the single one
after each key. So every record has exactly one byte string, and::

    format_record(parse_record(b)) == b   for every b that parses
    parse_record(format_record(r)) == r   for every record r

The bytes are what the Merkle log hashes as a leaf, so they never change: a new
field or a new encoding means a new kind or a new format version, never an edit.

Kind ``file`` (a file observed on an index; digests illustrative), 293 bytes::

    pypi-witness/v1 file
    name requests
    version 2.31.0
    file requests-2.31.0-py3-none-any.whl
    sha256 942c5a758f98d790eaed1a29cb6eefc7ffb0d1cf7af05c3d2791656dbd6ad1e1
    blake2b 58cd2187c01e70e6e26505bca751777aa9f2ee0b7f4300988b709f44e013003f
    size 62574
    time 2023-05-22T15:12:42.313790Z
    serial 18432512

- ``name``: the PEP 503 normalized project name (``[a-z0-9]+(-[a-z0-9]+)*``).
- ``version``, ``file``: as the index spells them; no whitespace, control or
  invisible formatting characters; ``file`` holds no ``/`` or ``\\``.
- ``sha256``, ``blake2b``: 64 lowercase hex digits (BLAKE2b with 256-bit output).
- ``size``, ``serial``: decimal without leading zeros, below 2**63;
  ``serial -`` means the index serial is unknown (a backfill).
- ``time``: the upload time, UTC, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``.

Later kinds (``removal``, ``yank``, ``submission``, ``verdict``) join
``RecordKind`` with their own field lists; the ``file`` format does not change.
"""

from __future__ import annotations

import calendar
import datetime
import enum
import re
from dataclasses import dataclass, fields

from pypi_witness.errors import RecordError

FORMAT = "pypi-witness/v1"
"""The format-version word that starts every record this module writes."""

_FORMAT_PREFIX = "pypi-witness/"
MAX_INT = 2**63 - 1
"""The largest size or serial a record holds (so int64 readers can take any record)."""


class RecordKind(enum.Enum):
    """The kinds of observation a log records; the value is the header word."""

    FILE = "file"


# -- field checks ------------------------------------------------------------

_NORMALIZED = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*", re.ASCII)
# PEP 508 names; the same rule PyPI enforces on every project.
_VALID_NAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?", re.ASCII | re.IGNORECASE)
_SEPARATOR_RUN = re.compile(r"[-_.]+")
_HEX64 = re.compile(r"[0-9a-f]{64}", re.ASCII)
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}", re.ASCII)
# Controls (C0, DEL, C1), every Unicode White_Space character, zero-width and
# bidirectional formatting characters, the BOM, and lone surrogates.
_BAD_CHARS = (
    "\x00-\x20\x7f-\xa0\u1680\u2000-\u200f\u2028-\u202f\u205f-\u206f"
    "\u3000\ufeff\ud800-\udfff"
)
_BAD_CHAR = re.compile(f"[{_BAD_CHARS}]")
_BAD_FILENAME_CHAR = re.compile(f"[{_BAD_CHARS}/\\\\]")
_DOT_NAMES = (".", "..")
_CANONICAL_TIME = re.compile(
    r"(?!0000)[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{6}Z",
    re.ASCII,
)
_ANY_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})([T ])([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,6}))?(Z| UTC|[+-][0-9]{2}:[0-9]{2})?",
    re.ASCII,
)

# Bound methods, looked up once: these run for every record.
_is_normalized = _NORMALIZED.fullmatch
_is_time = _CANONICAL_TIME.fullmatch
_is_hex128 = re.compile(r"[0-9a-f]{128}", re.ASCII).fullmatch
_bad_char = _BAD_CHAR.search
_bad_filename_char = _BAD_FILENAME_CHAR.search


def _show(value: object) -> str:
    """A short repr of a refused value, for error messages."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def normalize_project(name: str) -> str:
    """Return the PEP 503 normalized form of project ``name``.

    Lowercases and collapses every run of ``-``, ``_`` and ``.`` into one ``-``.
    Raises ``RecordError`` if ``name`` is not a string or not a valid PEP 508
    project name (ASCII letters and digits, with ``-_.`` only inside), which
    PyPI requires of every project.
    """
    if type(name) is not str:
        raise RecordError(f"project name must be a string, not {type(name).__name__}")
    if _is_normalized(name):
        return name
    if not _VALID_NAME.fullmatch(name):
        raise RecordError(f"project name {_show(name)} is not a valid PEP 508 name")
    return _SEPARATOR_RUN.sub("-", name).lower()


def _day_exists(value: str) -> bool:
    """Whether the day 29, 30 or 31 of a ``_CANONICAL_TIME`` match is in its month."""
    return int(value[8:10]) <= calendar.monthrange(int(value[:4]), int(value[5:7]))[1]


def _is_canonical_time(value: str) -> bool:
    """Whether the string ``value`` is a real UTC instant in canonical form."""
    return _is_time(value) is not None and (value[8:10] <= "28" or _day_exists(value))


def canonical_time(value: str) -> str:
    """Return ``value`` as canonical UTC RFC 3339: ``2023-05-22T15:12:42.313790Z``.

    Accepts the forms PyPI and its BigQuery export use, with 0 to 6 fraction
    digits (padded to 6): ``...T15:12:42.313790Z``, ``...T15:12:42Z``,
    ``...T15:12:42`` (no zone: UTC, as in the JSON API's ``upload_time``),
    ``... 15:12:42.313790 UTC`` (BigQuery), and ``...T15:12:42+00:00`` (any
    ``±HH:MM`` offset is converted to UTC). Raises ``RecordError`` for anything
    else, including impossible dates and times, leap seconds and more than six
    fraction digits.
    """
    if type(value) is not str:
        raise RecordError(f"upload_time must be a string, not {type(value).__name__}")
    # Fast paths: already canonical, and BigQuery's "YYYY-MM-DD HH:MM:SS.ffffff UTC".
    if len(value) == 27:
        if _is_canonical_time(value):
            return value
    elif len(value) == 30 and value[10] == " " and value[26:] == " UTC":
        candidate = f"{value[:10]}T{value[11:26]}Z"
        if _is_canonical_time(candidate):
            return candidate
    match = _ANY_TIME.fullmatch(value)
    if match is None:
        raise RecordError(f"upload_time {_show(value)} is not a time PyPI writes")
    separator, fraction, zone = match[4], match[8] or "", match[9]
    if (separator == " ") != (zone == " UTC"):
        raise RecordError(f"upload_time {_show(value)} mixes date/time separator and zone")
    fields = [int(part) for part in match.group(1, 2, 3, 5, 6, 7)]
    try:
        instant = datetime.datetime(*fields, int(fraction.ljust(6, "0")))
        if zone is not None and zone[0] in "+-":
            hours, minutes = int(zone[1:3]), int(zone[4:6])
            if hours > 23 or minutes > 59:
                raise ValueError("UTC offset out of range")
            offset = datetime.timedelta(hours=hours, minutes=minutes)
            instant -= offset if zone[0] == "+" else -offset
    except (ValueError, OverflowError) as exc:
        raise RecordError(f"upload_time {_show(value)} is not a valid time: {exc}") from None
    return instant.isoformat(timespec="microseconds") + "Z"


def _check_text(field: str, value: object) -> None:
    if type(value) is not str:
        raise RecordError(f"{field} must be a string, not {type(value).__name__}")
    if not value:
        raise RecordError(f"{field} is empty")
    bad = _bad_char(value)
    if bad is not None:
        raise RecordError(
            f"{field} {_show(value)} holds a whitespace, control or invisible "
            f"character {bad[0]!r} at {bad.start()}"
        )


def _check_digest(field: str, value: object) -> None:
    if type(value) is not str or not _HEX64.fullmatch(value):
        raise RecordError(f"{field} must be 64 lowercase hex digits, got {_show(value)}")


def _check_count(field: str, value: object) -> None:
    if type(value) is not int:
        raise RecordError(f"{field} must be an int, not {type(value).__name__}")
    if not 0 <= value <= MAX_INT:
        raise RecordError(f"{field} {value} is out of range 0..2**63-1")


# -- kind: file --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileRecord:
    """A file an index said it serves, with its digests: kind ``file``.

    Construction validates every field and raises ``RecordError`` naming the
    field: ``project`` PEP 503 normalized; ``version`` and ``filename``
    non-empty, without whitespace, control or invisible characters, and
    ``filename`` without ``/`` or ``\\`` (nor ``.`` or ``..``); ``sha256`` and
    ``blake2b_256`` 64 lowercase hex digits; ``size`` an int in 0..2**63-1;
    ``upload_time`` canonical (see ``canonical_time``); ``serial`` None (unknown)
    or an int in 0..2**63-1. Strings must be ``str`` and numbers ``int``
    exactly (no subclasses, no ``bool``). So every ``FileRecord`` can be formatted.
    """

    project: str
    version: str
    filename: str
    sha256: str
    blake2b_256: str
    size: int
    upload_time: str
    serial: int | None

    # dataclass keeps a hand-written __init__. This one checks the arguments as
    # locals in one expression and stores them through the slot descriptors:
    # twice as fast as the generated frozen __init__ plus a __post_init__, and
    # every imported record comes through here. _refuse_file says what is wrong.
    def __init__(
        self, project: str, version: str, filename: str, sha256: str, blake2b_256: str,
        size: int, upload_time: str, serial: int | None,
    ) -> None:  # fmt: skip
        if not (
            type(project) is str and _is_normalized(project)
            and type(version) is str and version and not _bad_char(version)
            and type(filename) is str and filename and not _bad_filename_char(filename)
            and filename not in _DOT_NAMES
            and type(sha256) is str and type(blake2b_256) is str and len(sha256) == 64
            and _is_hex128(sha256 + blake2b_256)
            and type(size) is int and 0 <= size <= MAX_INT
            and type(upload_time) is str and _is_time(upload_time)
            and (upload_time[8:10] <= "28" or _day_exists(upload_time))
            and (serial is None or type(serial) is int and 0 <= serial <= MAX_INT)
        ):  # fmt: skip
            _refuse_file(project, version, filename, sha256, blake2b_256, size, upload_time, serial)
        _set_project(self, project)
        _set_version(self, version)
        _set_filename(self, filename)
        _set_sha256(self, sha256)
        _set_blake2b_256(self, blake2b_256)
        _set_size(self, size)
        _set_upload_time(self, upload_time)
        _set_serial(self, serial)

    @property
    def kind(self) -> RecordKind:
        """Always ``RecordKind.FILE``."""
        return RecordKind.FILE


# The slot descriptors' setters, which a frozen dataclass's __setattr__ does not guard.
(
    _set_project, _set_version, _set_filename, _set_sha256, _set_blake2b_256, _set_size,
    _set_upload_time, _set_serial,
) = (getattr(FileRecord, field.name).__set__ for field in fields(FileRecord))  # fmt: skip


def _refuse_file(*values: object) -> None:
    """Raise the ``RecordError`` for the first invalid ``FileRecord`` field in ``values``."""
    project, version, filename, sha256, blake2b_256, size, upload_time, serial = values
    if type(project) is not str or not _is_normalized(project):
        raise RecordError(f"project {_show(project)} is not a PEP 503 normalized name")
    _check_text("version", version)
    _check_text("filename", filename)
    if _bad_filename_char(filename) or filename in _DOT_NAMES:  # type: ignore[arg-type]
        raise RecordError(f"filename {_show(filename)} is a path, not a file name")
    _check_digest("sha256", sha256)
    _check_digest("blake2b_256", blake2b_256)
    _check_count("size", size)
    if type(upload_time) is not str or not _is_canonical_time(upload_time):
        raise RecordError(
            f"upload_time {_show(upload_time)} is not canonical (YYYY-MM-DDTHH:MM:SS.ffffffZ)"
        )
    if serial is not None:
        _check_count("serial", serial)
    raise AssertionError("FileRecord refused but no field is invalid")


_FILE_KEYS = ("name", "version", "file", "sha256", "blake2b", "size", "time", "serial")
_FILE_HEADER = f"{FORMAT} file\n"
# The whole body of a well-formed file record; values are checked by FileRecord.
_FILE_BODY = re.compile(
    "name ([^\n]*)\nversion ([^\n]*)\nfile ([^\n]*)\nsha256 ([^\n]*)\n"
    "blake2b ([^\n]*)\nsize (0|[1-9][0-9]{0,18})\ntime ([^\n]*)\n"
    "serial (-|0|[1-9][0-9]{0,18})\n",
    re.ASCII,
)


def _format_file(record: FileRecord) -> bytes:
    serial = "-" if record.serial is None else record.serial
    return (
        f"{_FILE_HEADER}name {record.project}\nversion {record.version}\n"
        f"file {record.filename}\nsha256 {record.sha256}\nblake2b {record.blake2b_256}\n"
        f"size {record.size}\ntime {record.upload_time}\nserial {serial}\n"
    ).encode()


def _parse_count(key: str, text: str) -> int:
    if not _DECIMAL.fullmatch(text):
        raise RecordError(
            f"field {key!r} must be a decimal below 2**63 without leading zeros, "
            f"got {_show(text)}"
        )
    return int(text)


def _parse_file(values: list[str]) -> FileRecord:
    name, version, filename, sha256, blake2b, size, time, serial = values
    size_value = _parse_count("size", size)
    serial_value = None if serial == "-" else _parse_count("serial", serial)
    return FileRecord(name, version, filename, sha256, blake2b, size_value, time, serial_value)


# -- dispatch ----------------------------------------------------------------

Record = FileRecord
"""Any log record: the union of the kinds' classes (only ``FileRecord`` so far)."""

_KEYS_BY_KIND = {RecordKind.FILE: _FILE_KEYS}
_PARSERS = {RecordKind.FILE: _parse_file}
_FORMATTERS = {FileRecord: _format_file}


def _split_fields(kind: RecordKind, lines: list[str]) -> list[str]:
    """The values of ``lines``, which must hold exactly the keys of ``kind`` in order."""
    keys = _KEYS_BY_KIND[kind]
    values = []
    for position, key in enumerate(keys):
        if position >= len(lines):
            raise RecordError(f"{kind.value} record is missing field {key!r}")
        found, space, value = lines[position].partition(" ")
        if found != key:
            if not found and not space:
                raise RecordError(f"empty line where field {key!r} belongs")
            if found in keys:
                raise RecordError(f"field {found!r} out of order or repeated; expected {key!r}")
            raise RecordError(f"unknown field {_show(found)}; expected {key!r}")
        if not space:
            raise RecordError(f"field {key!r} has no value")
        values.append(value)
    if len(lines) > len(keys):
        raise RecordError(
            f"{kind.value} record has {len(lines) - len(keys)} extra line(s) after {keys[-1]!r}"
        )
    return values


def format_record(record: Record) -> bytes:
    """The one canonical byte string of ``record``.

    Records validate themselves when constructed, so this only raises
    ``RecordError`` when given something that is not a record.
    """
    formatter = _FORMATTERS.get(type(record))
    if formatter is None:
        raise RecordError(f"not a log record: {type(record).__name__}")
    return formatter(record)


def parse_record(data: bytes) -> Record:
    """Parse the canonical bytes of one record.

    Raises ``RecordError`` saying what is wrong if ``data`` is not exactly the
    canonical form of a record: not UTF-8, no final newline, an unknown format
    version or kind, a missing, extra, repeated, reordered or unknown key, an
    empty line, stray whitespace, or a value its field refuses.
    """
    if type(data) is not bytes:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise RecordError(f"a record is bytes, not {type(data).__name__}")
        data = bytes(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(f"record is not UTF-8 (byte {exc.start})") from None
    if text.startswith(_FILE_HEADER):
        match = _FILE_BODY.fullmatch(text, len(_FILE_HEADER))
        if match is not None:
            name, version, filename, sha256, blake2b, size, time, serial = match.groups()
            serial_value = None if serial == "-" else int(serial)
            return FileRecord(
                name, version, filename, sha256, blake2b, int(size), time, serial_value
            )
    return _parse_slowly(text)


def _parse_slowly(text: str) -> Record:
    """Parse line by line, for any kind, saying exactly what is wrong if anything is."""
    if not text:
        raise RecordError("record is empty")
    if text[-1] != "\n":
        raise RecordError("record does not end with a newline")
    lines = text[:-1].split("\n")
    version, _space, kind_word = lines[0].partition(" ")
    if version != FORMAT:
        if version.startswith(_FORMAT_PREFIX):
            raise RecordError(f"unsupported record format version {_show(version)}")
        raise RecordError(f"not a pypi-witness record: header {_show(lines[0])}")
    try:
        kind = RecordKind(kind_word)
    except ValueError:
        raise RecordError(f"unknown record kind {_show(kind_word)}") from None
    return _PARSERS[kind](_split_fields(kind, lines[1:]))


def record_filename(record: Record) -> str | None:
    """The index filename ``record`` is about, or None for kinds about no one file."""
    if type(record) is FileRecord:
        return record.filename
    raise RecordError(f"not a log record: {type(record).__name__}")
