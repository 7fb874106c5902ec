"""A log's statement about one filename: a log entry and the C2SP tlog-proof that the log holds it.

The entry is the record's bytes (the leaf the log hashed); the bundle
(``core.quorum.tlogproof``) gives its index, its inclusion proof and the signed,
cosigned checkpoint the proof leads to. Anyone holding the policy can check a
statement on its own (``core.disputes.settle.check_statement``); a verdict record holds
the statements it was decided on.

A statement's bytes (inside a verdict record) are framed (``core.tlog.framing``)::

    entry <n>
    <n bytes: the entry>
    proof <m>
    <m bytes: the tlog-proof bundle>

``parse_statement(format_statement(s)) == s`` and, for every byte string that
parses, ``format_statement(parse_statement(b)) == b``.
"""

from __future__ import annotations

from dataclasses import dataclass

from pypi_witness.core.tlog.framing import FrameReader, FrameWriter
from pypi_witness.core.quorum.tlogproof import TlogProof, format_tlog_proof, parse_tlog_proof
from pypi_witness.core.errors import BundleError, RecordError

MAX_ENTRY_BYTES = 4 << 10
"""The longest entry a statement holds: a file record is a few hundred bytes."""

MAX_STATEMENT_BYTES = 16 << 10
"""The longest framed statement: a ~300-byte entry and a ~2 KB bundle (a 64-hash
proof is 2.9 KB; a note cosigned by 64 witnesses about 10 KB)."""


@dataclass(frozen=True)
class LogStatement:
    """One log's signed statement about a filename: the entry bytes and the bundle proving them.

    Nothing is verified on construction (see ``core.disputes.settle.check_statement``).
    Raises RecordError if ``entry`` is not bytes, is empty or is longer than
    MAX_ENTRY_BYTES, or ``bundle`` is not a TlogProof.
    """

    entry: bytes
    bundle: TlogProof

    def __post_init__(self) -> None:
        if type(self.entry) is not bytes:
            raise RecordError(f"a statement's entry is bytes, not {type(self.entry).__name__}")
        if not 0 < len(self.entry) <= MAX_ENTRY_BYTES:
            raise RecordError(f"a statement's entry is {len(self.entry)} bytes; it must be 1 to {MAX_ENTRY_BYTES}")
        if not isinstance(self.bundle, TlogProof):
            raise RecordError(f"a statement's bundle is a TlogProof, not {type(self.bundle).__name__}")


def format_statement(statement: LogStatement) -> bytes:
    """The framed bytes of ``statement`` (see the module docstring). Never raises."""
    return bytes(FrameWriter().block("entry", statement.entry).block("proof", format_tlog_proof(statement.bundle)))


def parse_statement(data: bytes) -> LogStatement:
    """The statement whose framed bytes are ``data``.

    Raises RecordError naming the problem: not exactly an ``entry`` block and
    a ``proof`` block, more than MAX_STATEMENT_BYTES, an entry refused by
    LogStatement, or a bundle that does not parse (the BundleError's message).
    """
    if len(data) > MAX_STATEMENT_BYTES:
        raise RecordError(f"statement is {len(data)} bytes, more than {MAX_STATEMENT_BYTES}")
    reader = FrameReader(data, "statement", RecordError)
    entry = reader.block("entry", MAX_ENTRY_BYTES)
    proof = reader.block("proof", MAX_STATEMENT_BYTES)
    reader.end()
    try:
        bundle = parse_tlog_proof(proof)
    except BundleError as e:
        raise RecordError(f"statement: its tlog-proof does not parse: {e}") from None
    return LogStatement(entry, bundle)
