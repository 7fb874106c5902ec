"""Record kind ``verdict``: how a dispute about one filename was settled, with every statement it rests on.

A verdict is what a node appends to its own log after it asked the federation's
logs what they hold for a filename they disagree about (``core.disputes.settle``): the
outcome, the value the policy's quorum vouched for, and every log statement it
was decided on, so that anyone holding the policy can decide it again
(``core.disputes.settle.verify_verdict``). Its bytes (a block holds exactly its length
in raw bytes, ``core.tlog.framing``; ``-`` means absent)::

    pypi-witness/v1 verdict
    file requests-2.31.0-py3-none-any.whl
    outcome settled
    sha256 942c5a758f98d790eaed1a29cb6eefc7ffb0d1cf7af05c3d2791656dbd6ad1e1
    blake2b 58cd2187c01e70e6e26505bca751777aa9f2ee0b7f4300988b709f44e013003f
    size 62574
    time 2024-02-01T10:00:00.000000Z
    statements 3
    statement <n>
    <n bytes: a framed log statement, core.quorum.statement>
    ... (one block per statement)

- ``file``: the filename in dispute, as in a ``file`` record.
- ``outcome``: ``settled`` (one value has the quorum; ``sha256``, ``blake2b``
  and ``size`` give it) or ``unresolved`` (none has, or several: the three
  fields are ``-``).
- ``time``: when the verdict was reached, canonical UTC as in every record.
- ``statements``: how many statement blocks follow, 1 to MAX_STATEMENTS, in
  the order they were tallied; each at most MAX_STATEMENT_BYTES.

Like every record: ``format_verdict(parse_verdict(b)) == b`` for every ``b``
that parses, and ``parse_verdict(format_verdict(r)) == r``. Its filename-index
key is ``/verdict/<file>`` (``core.records.format.verdict_key``). A verdict of 16
statements, each cosigned by 16 witnesses, is about 55 KB: it travels in one
gRPC message of the default 4 MiB.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pypi_witness.core.tlog.framing import FrameReader, FrameWriter
from pypi_witness.core.quorum.statement import MAX_STATEMENT_BYTES, LogStatement, format_statement, parse_statement
from pypi_witness.core.records.values import (
    DECIMAL,
    DOT_NAMES,
    bad_filename_char,
    check_count,
    check_digest,
    check_text,
    is_canonical_time,
)
from pypi_witness.core.records.kind import FORMAT, RecordKind
from pypi_witness.core.errors import RecordError, quoted

HEADER = f"{FORMAT} {RecordKind.VERDICT.value}"
HEADER_BYTES = (HEADER + "\n").encode("ascii")

MAX_STATEMENTS = 32
"""The most statements a verdict holds: one per log of a federation of up to 32 nodes."""

MAX_VERDICT_BYTES = 1024 + MAX_STATEMENTS * (len("statement 99999\n") + MAX_STATEMENT_BYTES)
"""No verdict is longer (about 512 KiB); a typical one of 16 statements is about 55 KB."""

_NONE = "-"

Value = tuple[str, str, int]
"""What a log vouches for about a file: (sha256, blake2b-256, size)."""


class Outcome(enum.Enum):
    """How a dispute ended; the value is the word a verdict record holds."""

    SETTLED = "settled"
    UNRESOLVED = "unresolved"


@dataclass(frozen=True)
class VerdictRecord:
    """A dispute's verdict: kind ``verdict`` (see the module docstring).

    ``value`` is (sha256, blake2b-256, size) for ``Outcome.SETTLED``, None for
    ``Outcome.UNRESOLVED``. Construction raises RecordError naming the field:
    a filename a ``file`` record would refuse, an outcome that is not an
    Outcome, a value present when unresolved or absent when settled, a digest
    that is not 64 lowercase hex digits, a size out of 0..2**63-1, a time
    that is not canonical, or statements that are not 1 to MAX_STATEMENTS
    LogStatements, each framing to at most MAX_STATEMENT_BYTES.
    """

    filename: str
    outcome: Outcome
    value: Value | None
    time: str
    statements: tuple[LogStatement, ...]

    def __post_init__(self) -> None:
        check_text("filename", self.filename)
        if bad_filename_char(self.filename) or self.filename in DOT_NAMES:
            raise RecordError(f"filename {quoted(self.filename)} is a path, not a file name")
        if type(self.outcome) is not Outcome:
            raise RecordError(f"outcome must be an Outcome, not {quoted(self.outcome)}")
        if self.outcome is Outcome.SETTLED:
            if type(self.value) is not tuple or len(self.value) != 3:
                raise RecordError(f"a settled verdict's value is (sha256, blake2b, size), not {quoted(self.value)}")
            check_digest("sha256", self.value[0])
            check_digest("blake2b", self.value[1])
            check_count("size", self.value[2])
        elif self.value is not None:
            raise RecordError("an unresolved verdict has no value")
        if type(self.time) is not str or not is_canonical_time(self.time):
            raise RecordError(f"time {quoted(self.time)} is not canonical (YYYY-MM-DDTHH:MM:SS.ffffffZ)")
        object.__setattr__(self, "statements", tuple(self.statements))
        if not 0 < len(self.statements) <= MAX_STATEMENTS:
            raise RecordError(f"a verdict holds 1 to {MAX_STATEMENTS} statements, not {len(self.statements)}")
        for position, statement in enumerate(self.statements):
            if type(statement) is not LogStatement:
                raise RecordError(f"statement {position} is a LogStatement, not {type(statement).__name__}")
            if len(format_statement(statement)) > MAX_STATEMENT_BYTES:
                raise RecordError(f"statement {position} is longer than {MAX_STATEMENT_BYTES} bytes")

    @property
    def kind(self) -> RecordKind:
        """Always ``RecordKind.VERDICT``."""
        return RecordKind.VERDICT


def format_verdict(record: VerdictRecord) -> bytes:
    """The one canonical byte string of ``record``. Never raises for a VerdictRecord."""
    sha256, blake2b, size = record.value if record.value is not None else (_NONE, _NONE, _NONE)
    writer = FrameWriter().line(HEADER).line("file", record.filename).line("outcome", record.outcome.value)
    writer.line("sha256", sha256).line("blake2b", blake2b).line("size", str(size)).line("time", record.time)
    writer.number("statements", len(record.statements))
    for statement in record.statements:
        writer.block("statement", format_statement(statement))
    return bytes(writer)


def _value(sha256: str, blake2b: str, size: str) -> Value | None:
    if (sha256, blake2b, size) == (_NONE, _NONE, _NONE):
        return None
    if DECIMAL.fullmatch(size) is None:
        raise RecordError(f"field 'size' must be a decimal below 2**63 without leading zeros, or '-', got {quoted(size)}")
    return (sha256, blake2b, int(size))


def parse_verdict(data: bytes) -> VerdictRecord:
    """Parse the canonical bytes of one verdict record.

    Raises RecordError saying what is wrong if ``data`` is not exactly the
    canonical form of a verdict: longer than MAX_VERDICT_BYTES, a missing,
    reordered or unknown line, a value its field refuses, a statement block
    cut short or not a statement, a statement count that is not the number of
    blocks, or bytes after the last block.
    """
    if len(data) > MAX_VERDICT_BYTES:
        raise RecordError(f"verdict record is {len(data)} bytes, more than {MAX_VERDICT_BYTES}")
    reader = FrameReader(data, "verdict record", RecordError)
    reader.bare(HEADER)
    filename = reader.line("file")
    outcome_word = reader.line("outcome")
    try:
        outcome = Outcome(outcome_word)
    except ValueError:
        raise RecordError(f"unknown verdict outcome {quoted(outcome_word)}") from None
    value = _value(reader.line("sha256"), reader.line("blake2b"), reader.line("size"))
    time = reader.line("time")
    count = reader.number("statements", MAX_STATEMENTS)
    statements = []
    for position in range(count):
        block = reader.block("statement", MAX_STATEMENT_BYTES)
        try:
            statements.append(parse_statement(block))
        except RecordError as e:
            raise RecordError(f"verdict record: statement {position}: {e}") from None
    reader.end()
    return VerdictRecord(filename, outcome, value, time, tuple(statements))
