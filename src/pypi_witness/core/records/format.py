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

Kind ``removal`` (the index removed a file, a release or a project)::

    pypi-witness/v1 removal
    name requests
    version 2.31.0
    file requests-2.31.0-py3-none-any.whl
    time 2023-06-01T08:00:00.000000Z
    serial 18532512

``file -`` removes the whole release; ``version -`` and ``file -`` the whole
project. ``time`` is when the index says it happened.

Kind ``yank`` (PEP 592; ``yanked yes``, or ``yanked no`` for an unyank)::

    pypi-witness/v1 yank
    name requests
    version 2.31.0
    yanked yes
    time 2023-06-01T08:00:00.000000Z
    serial 18532513

Kind ``alarm``: tampering this witness saw. After ``alarm <what>`` come the
eight fields of a ``file`` record, as the index stated them, then
``seen_sha256``, ``seen_blake2b`` and ``seen_size``: what the witness found
instead, ``-`` where it found nothing of that kind. What: ``resurrect`` (a
removed file served again), ``late-file`` (a new file on a release older than
the index allows), ``bad-path`` (the download path's BLAKE2b part is not the
stated blake2b; ``seen_blake2b`` holds the path's), ``bad-bytes`` (the bytes
served do not match the stated digests or size). A file served with other
digests than logged before needs no alarm kind: the second ``file`` record is
the evidence, and the store records the conflict.

``record_filename`` is the key the log's filename index uses: the file for
``file``, ``alarm`` and a file ``removal``; ``/release/<name>/<version>`` (the version in its
PEP 440 canonical form, ``canonical_version``) for a
release removal and a yank; ``/project/<name>`` for a project removal (``/``
never occurs in a filename, so these keys cannot collide with one).

Kind ``verdict`` (a dispute settled by the federation's quorum, with the log
statements it rests on) holds blocks of raw bytes, so it is framed rather than
one line per field: see ``core.records.verdict``. Its index key is
``/verdict/<file>``.

Later kinds (``submission``) join ``RecordKind`` with their own field lists;
the existing formats do not change.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, fields

from packaging.utils import canonicalize_version

from pypi_witness.core.records.values import (
    DECIMAL,
    DOT_NAMES,
    MAX_INT,
    bad_char,
    bad_filename_char,
    check_count,
    check_digest,
    check_text,
    day_exists,
    is_canonical_time,
    is_hex128,
    is_normalized,
    is_time,
)
from pypi_witness.core.records.kind import FORMAT as FORMAT
from pypi_witness.core.records.kind import RecordKind as RecordKind
from pypi_witness.core.records.verdict import HEADER_BYTES as _VERDICT_HEADER
from pypi_witness.core.records.verdict import VerdictRecord, format_verdict, parse_verdict
from pypi_witness.core.errors import RecordError, quoted

_FORMAT_PREFIX = "pypi-witness/"


class AlarmKind(enum.Enum):
    """What an ``alarm`` record reports (see the module docstring)."""

    RESURRECT = "resurrect"
    LATE_FILE = "late-file"
    BAD_PATH = "bad-path"
    BAD_BYTES = "bad-bytes"


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
            type(project) is str and is_normalized(project)
            and type(version) is str and version and not bad_char(version)
            and type(filename) is str and filename and not bad_filename_char(filename)
            and filename not in DOT_NAMES
            and type(sha256) is str and type(blake2b_256) is str and len(sha256) == 64
            and is_hex128(sha256 + blake2b_256)
            and type(size) is int and 0 <= size <= MAX_INT
            and type(upload_time) is str and is_time(upload_time)
            and (upload_time[8:10] <= "28" or day_exists(upload_time))
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
    if type(project) is not str or not is_normalized(project):
        raise RecordError(f"project {quoted(project)} is not a PEP 503 normalized name")
    check_text("version", version)
    check_text("filename", filename)
    if bad_filename_char(filename) or filename in DOT_NAMES:  # type: ignore[arg-type]
        raise RecordError(f"filename {quoted(filename)} is a path, not a file name")
    check_digest("sha256", sha256)
    check_digest("blake2b_256", blake2b_256)
    check_count("size", size)
    if type(upload_time) is not str or not is_canonical_time(upload_time):
        raise RecordError(
            f"upload_time {quoted(upload_time)} is not canonical (YYYY-MM-DDTHH:MM:SS.ffffffZ)"
        )
    if serial is not None:
        check_count("serial", serial)
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
    if not DECIMAL.fullmatch(text):
        raise RecordError(
            f"field {key!r} must be a decimal below 2**63 without leading zeros, "
            f"got {quoted(text)}"
        )
    return int(text)


def _parse_file(values: list[str]) -> FileRecord:
    name, version, filename, sha256, blake2b, size, time, serial = values
    size_value = _parse_count("size", size)
    serial_value = None if serial == "-" else _parse_count("serial", serial)
    return FileRecord(name, version, filename, sha256, blake2b, size_value, time, serial_value)


# -- kinds: removal, yank, alarm ------------------------------------------------
# Rare records (a few per thousand files): plain frozen dataclasses that check
# themselves in __post_init__, formatted and parsed through the generic path.

_NONE = "-"  # how an absent optional value is written


def _check_optional_text(field: str, value: object) -> None:
    if value is not None:
        check_text(field, value)
        if value == _NONE:
            raise RecordError(f"{field} cannot be {_NONE!r} (that spelling means absent)")


def _check_time(field: str, value: object) -> None:
    if type(value) is not str or not is_canonical_time(value):
        raise RecordError(f"{field} {quoted(value)} is not canonical (YYYY-MM-DDTHH:MM:SS.ffffffZ)")


def _check_project(value: object) -> None:
    if type(value) is not str or not is_normalized(value):
        raise RecordError(f"project {quoted(value)} is not a PEP 503 normalized name")


def _check_filename(value: object) -> None:
    _check_optional_text("filename", value)
    if value is not None and (bad_filename_char(value) or value in DOT_NAMES):  # type: ignore[arg-type]
        raise RecordError(f"filename {quoted(value)} is a path, not a file name")


def _opt(value: object) -> str:
    return _NONE if value is None else str(value)


def _opt_count(key: str, text: str) -> int | None:
    return None if text == _NONE else _parse_count(key, text)


def _opt_text(text: str) -> str | None:
    return None if text == _NONE else text


@dataclass(frozen=True, slots=True)
class RemovalRecord:
    """The index removed a file (``filename`` set), a release (``filename`` None)
    or a whole project (``version`` and ``filename`` None): kind ``removal``.

    RecordError on construction for an invalid field; a filename needs a version.
    """

    project: str
    version: str | None
    filename: str | None
    time: str
    serial: int | None

    def __post_init__(self) -> None:
        _check_project(self.project)
        _check_optional_text("version", self.version)
        _check_filename(self.filename)
        if self.filename is not None and self.version is None:
            raise RecordError("a file removal names its version")
        _check_time("time", self.time)
        if self.serial is not None:
            check_count("serial", self.serial)

    @property
    def kind(self) -> RecordKind:
        return RecordKind.REMOVAL


_REMOVAL_KEYS = ("name", "version", "file", "time", "serial")


def _format_removal(r: RemovalRecord) -> bytes:
    return (
        f"{FORMAT} removal\nname {r.project}\nversion {_opt(r.version)}\nfile {_opt(r.filename)}\n"
        f"time {r.time}\nserial {_opt(r.serial)}\n"
    ).encode()


def _parse_removal(values: list[str]) -> RemovalRecord:
    name, version, filename, time, serial = values
    return RemovalRecord(name, _opt_text(version), _opt_text(filename), time, _opt_count("serial", serial))


@dataclass(frozen=True, slots=True)
class YankRecord:
    """The index yanked (``yanked`` True) or unyanked a release: kind ``yank``."""

    project: str
    version: str
    yanked: bool
    time: str
    serial: int | None

    def __post_init__(self) -> None:
        _check_project(self.project)
        check_text("version", self.version)
        if type(self.yanked) is not bool:
            raise RecordError(f"yanked must be a bool, not {type(self.yanked).__name__}")
        _check_time("time", self.time)
        if self.serial is not None:
            check_count("serial", self.serial)

    @property
    def kind(self) -> RecordKind:
        return RecordKind.YANK


_YANK_KEYS = ("name", "version", "yanked", "time", "serial")
_YES_NO = {"yes": True, "no": False}


def _format_yank(r: YankRecord) -> bytes:
    return (
        f"{FORMAT} yank\nname {r.project}\nversion {r.version}\n"
        f"yanked {'yes' if r.yanked else 'no'}\ntime {r.time}\nserial {_opt(r.serial)}\n"
    ).encode()


def _parse_yank(values: list[str]) -> YankRecord:
    name, version, yanked, time, serial = values
    if yanked not in _YES_NO:
        raise RecordError(f"field 'yanked' must be yes or no, got {quoted(yanked)}")
    return YankRecord(name, version, _YES_NO[yanked], time, _opt_count("serial", serial))


@dataclass(frozen=True, slots=True)
class AlarmRecord:
    """Tampering seen on the index: kind ``alarm`` (see the module docstring).

    ``file`` holds what the index stated (its serial may be None); ``seen_*`` what
    the witness found instead, None where it found nothing of that kind.
    """

    alarm: AlarmKind
    file: FileRecord
    seen_sha256: str | None = None
    seen_blake2b_256: str | None = None
    seen_size: int | None = None

    def __post_init__(self) -> None:
        if type(self.alarm) is not AlarmKind:
            raise RecordError(f"alarm must be an AlarmKind, not {quoted(self.alarm)}")
        if type(self.file) is not FileRecord:
            raise RecordError(f"an alarm holds a FileRecord, not {type(self.file).__name__}")
        for field, value in (("seen_sha256", self.seen_sha256), ("seen_blake2b_256", self.seen_blake2b_256)):
            if value is not None:
                check_digest(field, value)
        if self.seen_size is not None:
            check_count("seen_size", self.seen_size)

    @property
    def kind(self) -> RecordKind:
        return RecordKind.ALARM

    @property
    def filename(self) -> str:
        return self.file.filename


_ALARM_KEYS = ("alarm",) + _FILE_KEYS + ("seen_sha256", "seen_blake2b", "seen_size")


def _format_alarm(r: AlarmRecord) -> bytes:
    body = _format_file(r.file)[len(_FILE_HEADER) :].decode()
    return (
        f"{FORMAT} alarm\nalarm {r.alarm.value}\n{body}seen_sha256 {_opt(r.seen_sha256)}\n"
        f"seen_blake2b {_opt(r.seen_blake2b_256)}\nseen_size {_opt(r.seen_size)}\n"
    ).encode()


def _parse_alarm(values: list[str]) -> AlarmRecord:
    alarm, *file_values, seen_sha256, seen_blake2b, seen_size = values
    try:
        kind = AlarmKind(alarm)
    except ValueError:
        raise RecordError(f"unknown alarm {quoted(alarm)}") from None
    return AlarmRecord(
        kind, _parse_file(file_values), _opt_text(seen_sha256), _opt_text(seen_blake2b),
        _opt_count("seen_size", seen_size),
    )  # fmt: skip


# -- dispatch ----------------------------------------------------------------

Record = FileRecord | RemovalRecord | YankRecord | AlarmRecord | VerdictRecord
"""Any log record: the union of the kinds' classes."""

_KEYS_BY_KIND = {
    RecordKind.FILE: _FILE_KEYS,
    RecordKind.REMOVAL: _REMOVAL_KEYS,
    RecordKind.YANK: _YANK_KEYS,
    RecordKind.ALARM: _ALARM_KEYS,
}
_PARSERS = {
    RecordKind.FILE: _parse_file,
    RecordKind.REMOVAL: _parse_removal,
    RecordKind.YANK: _parse_yank,
    RecordKind.ALARM: _parse_alarm,
}
_FORMATTERS = {
    FileRecord: _format_file,
    RemovalRecord: _format_removal,
    YankRecord: _format_yank,
    AlarmRecord: _format_alarm,
    VerdictRecord: format_verdict,
}


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
            raise RecordError(f"unknown field {quoted(found)}; expected {key!r}")
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
        if data.startswith(_VERDICT_HEADER):  # its entries are bytes, not necessarily text
            return parse_verdict(data)
        raise RecordError(f"record is not UTF-8 (byte {exc.start})") from None
    if text.startswith(_FILE_HEADER):
        match = _FILE_BODY.fullmatch(text, len(_FILE_HEADER))
        if match is not None:
            name, version, filename, sha256, blake2b, size, time, serial = match.groups()
            serial_value = None if serial == "-" else int(serial)
            return FileRecord(
                name, version, filename, sha256, blake2b, int(size), time, serial_value
            )
    if text.startswith(_VERDICT_HEADER_TEXT):
        return parse_verdict(data)
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
            raise RecordError(f"unsupported record format version {quoted(version)}")
        raise RecordError(f"not a pypi-witness record: header {quoted(lines[0])}")
    try:
        kind = RecordKind(kind_word)
    except ValueError:
        raise RecordError(f"unknown record kind {quoted(kind_word)}") from None
    if kind not in _PARSERS:  # a framed kind, whose header parse_record dispatched on
        raise RecordError(f"{kind.value} record header is not alone on its first line")
    return _PARSERS[kind](_split_fields(kind, lines[1:]))


_VERDICT_HEADER_TEXT = _VERDICT_HEADER.decode("ascii")


RELEASE_PREFIX = "/release/"
"""How every release key starts (never a filename: a filename holds no ``/``)."""


def canonical_version(version: str) -> str:
    """The PEP 440 canonical form of ``version`` (``packaging.utils.canonicalize_version``): PyPI keeps
    ``2015.04.28``, ``1.8c1`` as uploaded, lock tools write ``2015.4.28``, ``1.8rc1``; both give one form
    (trailing zeros dropped: ``1.0`` is ``1``). Not valid PEP 440: returned unchanged. Never raises."""
    # SPEC: PEP 440 "Normalization"; PyPI's uniqueness of a project's releases is by this canonical form.
    return canonicalize_version(version)


def release_key(project: str, version: str) -> str:
    """The filename-index key of a release's removal and yank records (and, via ``record_keys``, its
    files): the PEP 503 name and the ``canonical_version``; records keep the version verbatim."""
    return f"{RELEASE_PREFIX}{project}/{canonical_version(version)}"


def project_key(project: str) -> str:
    """The filename-index key of a project's removal records."""
    return f"/project/{project}"


def verdict_key(filename: str) -> str:
    """The filename-index key of the verdicts on ``filename``."""
    return f"/verdict/{filename}"


def record_keys(record: Record) -> tuple[str, ...]:
    """Every filename-index key ``record`` is found under: ``record_filename``, and for a ``file``
    record also its release's key (so a lookup of ``release_key(p, v)`` gives the release's files,
    removals and yanks). Raises RecordError for something that is not a record."""
    key = record_filename(record)
    if type(record) is FileRecord:
        return (key, release_key(record.project, record.version))  # type: ignore[return-value]
    return () if key is None else (key,)


def record_filename(record: Record) -> str | None:
    """The index filename ``record`` is about, or None for kinds about no one file.

    Raises RecordError for something that is not a record.
    """
    kind = type(record)
    if kind is FileRecord or kind is AlarmRecord:
        return record.filename  # type: ignore[union-attr]
    if kind is RemovalRecord:
        if record.filename is not None:  # type: ignore[union-attr]
            return record.filename  # type: ignore[union-attr]
        if record.version is None:  # type: ignore[union-attr]
            return project_key(record.project)  # type: ignore[union-attr]
        return release_key(record.project, record.version)  # type: ignore[union-attr]
    if kind is YankRecord:
        return release_key(record.project, record.version)  # type: ignore[union-attr]
    if kind is VerdictRecord:
        return verdict_key(record.filename)  # type: ignore[union-attr]
    raise RecordError(f"not a log record: {type(record).__name__}")
