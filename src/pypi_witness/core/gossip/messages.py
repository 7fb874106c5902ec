"""Gossip messages: plain dataclasses and their byte encoding (version 1).

Every message is framed text (:mod:`pypi_witness.core.tlog.framing`) starting with
``pypi-witness/gossip/v1 <type>\\n``:

=================  =========================================================
type               fields
=================  =========================================================
``heads``          ``reply 0|1``, ``count <n>``, n × ``note <len>`` blocks
``evidence``       one ``evidence <len>`` block (an evidence text)
``evidence-ack``   ``id <64 hex>``
``proof-request``  ``origin``, ``old <size>``, ``new <size>``
``proof-response`` ``origin``, ``old``, ``new``, ``proof <n>``, n × ``hash``
``verdict``        one ``record <len>`` block (a verdict record the sender logged)
``bucket-*``       dispute finding: :mod:`pypi_witness.core.disputes.messages`
=================  =========================================================

``decode(encode(m)) == m`` and ``encode(decode(b)) == b``; ``decode`` refuses
anything else with a MalformedError naming the problem. Content is checked
for form only here: notes, evidence and proofs are verified by the machine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pypi_witness.core.disputes import messages as dispute_messages
from pypi_witness.core.disputes.messages import DisputeMessage
from pypi_witness.core.tlog.framing import FrameReader, FrameWriter
from pypi_witness.core.records.verdict import MAX_VERDICT_BYTES
from pypi_witness.core.errors import MalformedError, quoted

MAGIC = "pypi-witness/gossip/v1"
MAX_HEADS = 1024
MAX_NOTE_BYTES = 16 * 1024
MAX_EVIDENCE_BYTES = 64 * 1024
MAX_PROOF_HASHES = 129
MAX_SIZE = 2**63 - 1
_ID = re.compile("[0-9a-f]{64}")


@dataclass(frozen=True)
class Heads:
    """The sender's latest signed (and cosigned) checkpoint note per origin.

    ``reply`` is True on a push: the receiver answers with its own heads
    (``reply=False``), which makes each exchange a push-pull.
    """

    notes: tuple[bytes, ...]
    reply: bool = True


@dataclass(frozen=True)
class EvidencePush:
    """An evidence text (:mod:`pypi_witness.core.tlog.evidence`); the receiver acknowledges it."""

    text: bytes


@dataclass(frozen=True)
class EvidenceAck:
    """ "I hold this evidence (or its origin is already proven): stop sending it to me"."""

    evidence_id: str

    def __post_init__(self) -> None:
        if not isinstance(self.evidence_id, str) or _ID.fullmatch(self.evidence_id) is None:
            raise MalformedError(f"evidence id is not 64 lowercase hex digits: {quoted(self.evidence_id)}")


@dataclass(frozen=True)
class ProofRequest:
    """Ask a log's node for a full consistency proof from ``old_size`` to ``new_size``."""

    origin: str
    old_size: int
    new_size: int

    def __post_init__(self) -> None:
        _check_sizes(self.old_size, self.new_size)


@dataclass(frozen=True)
class ProofResponse:
    """A full consistency proof (:func:`pypi_witness.core.tlog.merkle.full_consistency_proof`)."""

    origin: str
    old_size: int
    new_size: int
    proof: tuple[bytes, ...]

    def __post_init__(self) -> None:
        _check_sizes(self.old_size, self.new_size)
        if len(self.proof) > MAX_PROOF_HASHES or any(len(h) != 32 for h in self.proof):
            raise MalformedError("proof response must hold at most 129 hashes of 32 bytes")


@dataclass(frozen=True)
class VerdictPush:
    """A verdict record (:mod:`pypi_witness.core.records.verdict`) the sender logged; the receiver re-checks it."""

    record: bytes


Message = Heads | EvidencePush | EvidenceAck | ProofRequest | ProofResponse | DisputeMessage | VerdictPush


_DISPUTE_TYPES = (
    dispute_messages.BucketRoot,
    dispute_messages.BucketDigests,
    dispute_messages.BucketRequest,
    dispute_messages.BucketFiles,
)
_DISPUTE_KINDS = dict(zip(_DISPUTE_TYPES, dispute_messages.KINDS))


def _check_sizes(old_size: int, new_size: int) -> None:
    for size in (old_size, new_size):
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_SIZE:
            raise MalformedError(f"tree size {quoted(size)} is not an int in 0..2**63-1")
    if not 0 < old_size < new_size:
        raise MalformedError(f"a proof needs 0 < old size < new size, not {old_size} and {new_size}")


def encode(message: Message) -> bytes:
    """The bytes of ``message``. Raises MalformedError for an object that is not a Message."""
    w = FrameWriter()
    if isinstance(message, Heads):
        w.line(MAGIC, "heads").number("reply", int(message.reply)).number("count", len(message.notes))
        for note in message.notes:
            w.block("note", note)
    elif isinstance(message, EvidencePush):
        w.line(MAGIC, "evidence").block("evidence", message.text)
    elif isinstance(message, EvidenceAck):
        w.line(MAGIC, "evidence-ack").line("id", message.evidence_id)
    elif isinstance(message, ProofRequest):
        w.line(MAGIC, "proof-request").line("origin", message.origin)
        w.number("old", message.old_size).number("new", message.new_size)
    elif isinstance(message, ProofResponse):
        w.line(MAGIC, "proof-response").line("origin", message.origin)
        w.number("old", message.old_size).number("new", message.new_size).number("proof", len(message.proof))
        for h in message.proof:
            w.hash("hash", h)
    elif isinstance(message, VerdictPush):
        w.line(MAGIC, "verdict").block("record", message.record)
    elif isinstance(message, _DISPUTE_TYPES):
        w.line(MAGIC, _DISPUTE_KINDS[type(message)])
        dispute_messages.write_body(message, w)
    else:
        raise MalformedError(f"not a gossip message: {type(message).__name__}")
    return bytes(w)


def decode(data: bytes) -> Message:
    """Parse message bytes. Raises MalformedError for anything malformed, oversized or left over."""
    r = FrameReader(data, "gossip message")
    kind = r.line(MAGIC)
    message: Message
    if kind == "heads":
        reply = r.number("reply", 1) == 1
        count = r.number("count", MAX_HEADS)
        message = Heads(tuple(r.block("note", MAX_NOTE_BYTES) for _ in range(count)), reply)
    elif kind == "evidence":
        message = EvidencePush(r.block("evidence", MAX_EVIDENCE_BYTES))
    elif kind == "evidence-ack":
        message = EvidenceAck(r.line("id"))
    elif kind in ("proof-request", "proof-response"):
        origin, old, new = r.line("origin"), r.number("old"), r.number("new")
        if kind == "proof-request":
            message = ProofRequest(origin, old, new)
        else:
            count = r.number("proof", MAX_PROOF_HASHES)
            message = ProofResponse(origin, old, new, tuple(r.hash("hash") for _ in range(count)))
    elif kind == "verdict":
        message = VerdictPush(r.block("record", MAX_VERDICT_BYTES))
    elif kind in dispute_messages.KINDS:
        message = dispute_messages.read_body(kind, r)
    else:
        raise r.fail(f"unknown message type {quoted(kind)}")
    r.end()
    return message
