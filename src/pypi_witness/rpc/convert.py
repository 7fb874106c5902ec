"""Between protobuf messages and plain values.

Server side: the log's values (``signing.log.InclusionProof``, ``store.base.Conflict``...)
into response messages. Client side: response messages into the frozen
dataclasses below, which hold what a node *said*: nothing in them is verified
(the verifying client checks them against a checkpoint and the log's key).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pypi_witness.signing.log import ConsistencyProof, InclusionProof
from pypi_witness.rpc.gen.v1 import log_pb2 as pb
from pypi_witness.store.base import Conflict

# --- plain values (client side) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProvenEntry:
    """Leaf ``index`` and its inclusion proof, as a node sent them (unverified)."""

    index: int
    leaf: bytes
    proof: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class FilenameEntries:
    """The entries a node says log ``filename``, and the conflicts among them (unverified)."""

    filename: str
    entries: tuple[ProvenEntry, ...]
    conflicts: tuple[Conflict, ...]


@dataclass(frozen=True, slots=True)
class LookupAnswer:
    """A lookup's answer: the signed note bytes the proofs are against, one result per filename."""

    checkpoint: bytes
    results: tuple[FilenameEntries, ...]


@dataclass(frozen=True, slots=True)
class EntriesPage:
    """Leaves ``start``, ``start + 1``, ... as a node sent them."""

    start: int
    leaves: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class InclusionAnswer:
    """A node's inclusion proof for leaf ``index`` in the tree of ``size`` (unverified)."""

    index: int
    size: int
    leaf: bytes
    proof: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class ConsistencyAnswer:
    """A node's consistency proof from ``old_size`` to ``new_size`` (unverified)."""

    old_size: int
    new_size: int
    proof: tuple[bytes, ...]


# --- server side: values to messages ----------------------------------------------------


def proven_entry_pb(proof: InclusionProof) -> pb.ProvenEntry:
    return pb.ProvenEntry(index=proof.index, leaf=proof.leaf, proof=proof.proof)


def conflict_pb(conflict: Conflict) -> pb.Conflict:
    return pb.Conflict(filename=conflict.filename, index=conflict.index, earlier_index=conflict.earlier_index)


def filename_result_pb(
    filename: str, proofs: Iterable[InclusionProof], conflicts: Iterable[Conflict]
) -> pb.FilenameResult:
    return pb.FilenameResult(
        filename=filename,
        entries=[proven_entry_pb(p) for p in proofs],
        conflicts=[conflict_pb(c) for c in conflicts],
    )


def consistency_pb(proof: ConsistencyProof) -> pb.GetConsistencyProofResponse:
    return pb.GetConsistencyProofResponse(old_size=proof.old_size, new_size=proof.new_size, proof=proof.proof)


# --- client side: messages to values ----------------------------------------------------


def proven_entry(message: pb.ProvenEntry) -> ProvenEntry:
    return ProvenEntry(message.index, message.leaf, tuple(message.proof))


def conflict(message: pb.Conflict) -> Conflict:
    return Conflict(message.filename, message.index, message.earlier_index)


def filename_entries(message: pb.FilenameResult | pb.LookupFilenameResponse, filename: str) -> FilenameEntries:
    return FilenameEntries(
        filename,
        tuple(proven_entry(e) for e in message.entries),
        tuple(conflict(c) for c in message.conflicts),
    )


def lookup_answer(message: pb.LookupFilenamesResponse) -> LookupAnswer:
    return LookupAnswer(message.checkpoint, tuple(filename_entries(r, r.filename) for r in message.results))


def entries_page(message: pb.GetEntriesResponse) -> EntriesPage:
    return EntriesPage(message.start, tuple(message.leaves))


def inclusion_answer(message: pb.GetInclusionProofResponse) -> InclusionAnswer:
    return InclusionAnswer(message.index, message.size, message.leaf, tuple(message.proof))


def consistency_answer(message: pb.GetConsistencyProofResponse) -> ConsistencyAnswer:
    return ConsistencyAnswer(message.old_size, message.new_size, tuple(message.proof))
