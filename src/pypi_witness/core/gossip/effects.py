"""What the gossip machine asks its host to do: the effects ``GossipMachine`` returns.

The host (the node's ``runtime.gossip``, or the simulator) carries each out,
in order: sends, proofs of its own log (``prove``), cosigning through the
witness's gate, durable writes, alarms and staleness reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from pypi_witness.core.errors import MalformedError
from pypi_witness.core.gossip.messages import Message, ProofRequest, ProofResponse
from pypi_witness.core.tlog.merkle import HashReader, full_consistency_proof


@dataclass(frozen=True)
class Send:
    """Deliver ``message`` to ``peer`` (best effort: loss is tolerated)."""

    peer: str
    message: Message


@dataclass(frozen=True)
class ServeProof:
    """``peer`` asked this node's own log for a proof: answer with ``Send(peer, prove(request, reader))``."""

    peer: str
    request: ProofRequest


@dataclass(frozen=True)
class Cosign:
    """Ask the node's witness to cosign ``note`` (log signature only) of ``origin``.

    ``proof`` (RFC 9162, empty from size 0 or between equal sizes) proves the
    note's tree consistent with the tree of ``old_size`` this machine accepted
    before it (0: none, first use). Answer with ``cosigned`` or ``cosign_refused``.
    """

    origin: str
    note: bytes
    old_size: int
    proof: tuple[bytes, ...]


@dataclass(frozen=True)
class Persist:
    """Store durably: ``kind`` "head" (key: origin, data: the cosigned note) or "evidence" (key: id, data: text)."""

    kind: str
    key: str
    data: bytes


@dataclass(frozen=True)
class Alarm:
    """``kind`` "equivocation" (with the evidence id) or "bad-proof" (an origin served a useless proof)."""

    kind: str
    origin: str
    detail: str
    evidence_id: str | None = None
    peer: str | None = None


@dataclass(frozen=True)
class Stale:
    """``kind`` "peer" or "origin": ``subject`` has been silent or stuck for ``rounds`` rounds."""

    kind: str
    subject: str
    rounds: int


Effect = Send | ServeProof | Cosign | Persist | Alarm | Stale


# ---------------------------------------------------------------- the own log's answer


def prove(request: ProofRequest, reader: HashReader, size: int) -> ProofResponse:
    """Answer ``request`` from this node's own log (``reader``, ``size`` = its signed size).

    Raises MalformedError if the request asks beyond ``size``; the reader's
    errors (OutOfRangeError, StoreError) propagate.
    """
    if request.new_size > size:
        raise MalformedError(f"proof asked up to size {request.new_size}, beyond the signed size {size}")
    proof = full_consistency_proof(request.old_size, request.new_size, reader)
    return ProofResponse(request.origin, request.old_size, request.new_size, tuple(proof))
