"""The WitnessService servicer (proto/pypi_witness/v1/witness.proto): add-checkpoint over gRPC.

``AddCheckpoint`` runs whole in the gRPC worker thread, like LogService's
bounded calls: its work (one Ed25519 verification, a consistency proof of a
few hashes, one LMDB compare-and-swap, one Ed25519 signature) is about a
millisecond, less than a hop into trio and back would add, and it needs
nothing from trio: ``Witness`` is thread-safe and the state store's committer
thread group-commits the writes. The deadline is checked before the work starts.

The thread waits for the write's fsync; ``rpc.thread_budget`` keeps those
waits to their own share of the server's threads, so a slow disk never
holds up reads.

Every refusal becomes its status through ``rpc.errors`` (the table there and
in the .proto); the size last cosigned travels as trailing metadata
``known-size`` with ABORTED.
"""

from __future__ import annotations

import logging

import grpc
from google.protobuf.message import DecodeError

from pypi_witness.core.tlog.witness import WitnessRequest, format_cosignature_line
from pypi_witness.core.errors import MalformedError
from pypi_witness.privacy.identity import ClientIdentifier
from pypi_witness.privacy.period_keys import PeriodKeys
from pypi_witness.rpc.errors import report
from pypi_witness.rpc.gen.v1 import witness_pb2 as pb
from pypi_witness.signing.witness import Witness

logger = logging.getLogger("pypi_witness.rpc")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["WitnessService"].full_name
# The methods that wait for a durable write (rpc.thread_budget gives them their own threads).
WRITE_METHODS = (f"/{SERVICE_NAME}/AddCheckpoint",)


class WitnessServicer:
    """Serves ``witness``'s add-checkpoint. ``handler()`` gives the gRPC handler to add to a server."""

    def __init__(self, witness: Witness, *, identifier: ClientIdentifier | None = None) -> None:
        self._witness = witness
        # Log lines name a caller by its keyed hash (default: a key held in memory only).
        self._identifier = identifier if identifier is not None else ClientIdentifier(PeriodKeys(7 * 24 * 3600))

    def handler(self) -> grpc.GenericRpcHandler:
        """The generic handler serving every WitnessService method."""
        declared = {m.name for m in pb.DESCRIPTOR.services_by_name["WitnessService"].methods}
        assert declared == {"AddCheckpoint"}, f"WitnessService methods not served: {declared}"
        return grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                "AddCheckpoint": grpc.unary_unary_rpc_method_handler(
                    self._add_checkpoint, request_deserializer=None, response_serializer=lambda m: m.SerializeToString()
                )
            },
        )

    def _add_checkpoint(self, raw: bytes, context: grpc.ServicerContext) -> pb.AddCheckpointResponse:
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded")
        try:
            try:
                request = pb.AddCheckpointRequest.FromString(raw)
            except DecodeError as e:
                raise MalformedError(f"the request does not parse: {e}") from None
            return pb.AddCheckpointResponse(cosignatures=self.add_checkpoint(request))
        except Exception as e:  # every failure becomes a status
            status = report(e, "AddCheckpoint", self._identifier.tag(context))
            if status.trailing_metadata:
                context.set_trailing_metadata(status.trailing_metadata)
            context.abort(status.code, status.message)
            raise  # unreachable: abort raised

    def add_checkpoint(self, request: pb.AddCheckpointRequest) -> bytes:
        """The cosignature line for ``request``; raises what ``Witness.add_checkpoint`` raises."""
        cosignature = self._witness.add_checkpoint(
            WitnessRequest(request.old_size, tuple(request.proof), request.checkpoint)
        )
        return format_cosignature_line(cosignature)
