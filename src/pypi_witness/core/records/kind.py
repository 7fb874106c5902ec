"""The kinds of log record, and the format-version word every record starts with.

Its own module so that the record kinds kept in their own modules (a verdict,
``core.records.verdict``) and the dispatch in ``core.records.format`` share one list.
"""

from __future__ import annotations

import enum

FORMAT = "pypi-witness/v1"
"""The format-version word that starts every record this package writes."""


class RecordKind(enum.Enum):
    """The kinds of observation a log records; the value is the header word."""

    FILE = "file"
    REMOVAL = "removal"
    YANK = "yank"
    ALARM = "alarm"
    VERDICT = "verdict"
