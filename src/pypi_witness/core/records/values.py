"""The field values log records hold, and the checks every record kind shares.

Project names (PEP 503 normalization), times (canonical UTC RFC 3339), digests,
counts and free text without whitespace or invisible characters. Each check
raises ``RecordError`` naming the field; ``core.records.format`` builds the record
kinds on them.
"""

from __future__ import annotations

import calendar
import datetime
import re

from pypi_witness.core.errors import RecordError, quoted

MAX_INT = 2**63 - 1
"""The largest size or serial a record holds (so int64 readers can take any record)."""

_NORMALIZED = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*", re.ASCII)
# PEP 508 names; the same rule PyPI enforces on every project.
_VALID_NAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?", re.ASCII | re.IGNORECASE)
_SEPARATOR_RUN = re.compile(r"[-_.]+")
_HEX64 = re.compile(r"[0-9a-f]{64}", re.ASCII)
DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}", re.ASCII)
# Controls (C0, DEL, C1), every Unicode White_Space character, zero-width and
# bidirectional formatting characters, the BOM, and lone surrogates.
_BAD_CHARS = (
    "\x00-\x20\x7f-\xa0\u1680\u2000-\u200f\u2028-\u202f\u205f-\u206f"
    "\u3000\ufeff\ud800-\udfff"
)
_BAD_CHAR = re.compile(f"[{_BAD_CHARS}]")
_BAD_FILENAME_CHAR = re.compile(f"[{_BAD_CHARS}/\\\\]")
DOT_NAMES = (".", "..")
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
is_normalized = _NORMALIZED.fullmatch
is_time = _CANONICAL_TIME.fullmatch
is_hex64 = _HEX64.fullmatch
is_hex128 = re.compile(r"[0-9a-f]{128}", re.ASCII).fullmatch
bad_char = _BAD_CHAR.search
bad_filename_char = _BAD_FILENAME_CHAR.search


def normalize_project(name: str) -> str:
    """Return the PEP 503 normalized form of project ``name``.

    Lowercases and collapses every run of ``-``, ``_`` and ``.`` into one ``-``.
    Raises ``RecordError`` if ``name`` is not a string or not a valid PEP 508
    project name (ASCII letters and digits, with ``-_.`` only inside), which
    PyPI requires of every project.
    """
    if type(name) is not str:
        raise RecordError(f"project name must be a string, not {type(name).__name__}")
    if is_normalized(name):
        return name
    if not _VALID_NAME.fullmatch(name):
        raise RecordError(f"project name {quoted(name)} is not a valid PEP 508 name")
    return _SEPARATOR_RUN.sub("-", name).lower()


def day_exists(value: str) -> bool:
    """Whether the day 29, 30 or 31 of a ``_CANONICAL_TIME`` match is in its month."""
    return int(value[8:10]) <= calendar.monthrange(int(value[:4]), int(value[5:7]))[1]


def is_canonical_time(value: str) -> bool:
    """Whether the string ``value`` is a real UTC instant in canonical form."""
    return is_time(value) is not None and (value[8:10] <= "28" or day_exists(value))


def time_of(seconds: float) -> str:
    """The canonical record time of ``seconds`` since the Unix epoch (UTC, to the microsecond)."""
    stamp = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
        if is_canonical_time(value):
            return value
    elif len(value) == 30 and value[10] == " " and value[26:] == " UTC":
        candidate = f"{value[:10]}T{value[11:26]}Z"
        if is_canonical_time(candidate):
            return candidate
    match = _ANY_TIME.fullmatch(value)
    if match is None:
        raise RecordError(f"upload_time {quoted(value)} is not a time PyPI writes")
    separator, fraction, zone = match[4], match[8] or "", match[9]
    if (separator == " ") != (zone == " UTC"):
        raise RecordError(f"upload_time {quoted(value)} mixes date/time separator and zone")
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
        raise RecordError(f"upload_time {quoted(value)} is not a valid time: {exc}") from None
    return instant.isoformat(timespec="microseconds") + "Z"


def check_text(field: str, value: object) -> None:
    if type(value) is not str:
        raise RecordError(f"{field} must be a string, not {type(value).__name__}")
    if not value:
        raise RecordError(f"{field} is empty")
    bad = bad_char(value)
    if bad is not None:
        raise RecordError(
            f"{field} {quoted(value)} holds a whitespace, control or invisible "
            f"character {quoted(bad[0])} at {bad.start()}"
        )


def check_digest(field: str, value: object) -> None:
    if type(value) is not str or not is_hex64(value):
        raise RecordError(f"{field} must be 64 lowercase hex digits, got {quoted(value)}")


def check_count(field: str, value: object) -> None:
    if type(value) is not int:
        raise RecordError(f"{field} must be an int, not {type(value).__name__}")
    if not 0 <= value <= MAX_INT:
        raise RecordError(f"{field} {value} is out of range 0..2**63-1")
