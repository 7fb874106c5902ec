"""An async (trio) client of a node's WitnessService: ask a peer to cosign a checkpoint.

Deadlines are the caller's (``trio.fail_after`` around the call; see
``rpc.bridge.call_unary``). Refusals arrive as the package errors of
``rpc.errors``: MalformedError (INVALID_ARGUMENT), NotFoundError (the peer
does not cosign this log), SignatureError (PERMISSION_DENIED), OutOfRangeError,
ConflictError with ``known_size`` (ABORTED: retry from that size),
ProofError (FAILED_PRECONDITION), EquivocationError (ALREADY_EXISTS),
OverloadedError, and UnavailableError for an unreachable peer or any other status.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

import grpc

from pypi_witness.rpc.bridge import call_unary
from pypi_witness.rpc.client import DEFAULT_MAX_MESSAGE_BYTES, _count
from pypi_witness.rpc.errors import error_from_status
from pypi_witness.rpc.gen.v1 import witness_pb2 as pb
from pypi_witness.rpc.gen.v1.witness_pb2_grpc import WitnessServiceStub


class WitnessClient:
    """A client of the witness at ``target`` (``host:port``), over one gRPC channel.

    Use as ``async with WitnessClient(target) as client:`` or call ``aclose()``.
    No connection is made until the first call. ``reconnect_seconds`` (low,
    high) bounds gRPC's waits before reconnecting to an unreachable peer.
    ``credentials`` None: plaintext; else TLS (``rpc.tls.channel_credentials``).
    """

    def __init__(
        self,
        target: str,
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        reconnect_seconds: tuple[float, float] | None = None,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self.target = target
        options: list[tuple[str, int]] = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
        if reconnect_seconds is not None:
            # gRPC waits between attempts to reconnect to an unreachable peer
            # (from 1 s, growing 1.6 times, to 120 s), failing calls at once
            # meanwhile; with these bounds it waits no longer than its caller
            # does between retries.
            low, high = (max(1, round(s * 1000)) for s in reconnect_seconds)
            options += [
                ("grpc.initial_reconnect_backoff_ms", low),
                ("grpc.min_reconnect_backoff_ms", low),
                ("grpc.max_reconnect_backoff_ms", high),
            ]
        if credentials is None:
            self._channel = grpc.insecure_channel(target, options=options)
        else:
            self._channel = grpc.secure_channel(target, credentials, options=options)
        self._stub = WitnessServiceStub(self._channel)

    async def aclose(self) -> None:
        self._channel.close()

    async def __aenter__(self) -> WitnessClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def add_checkpoint(self, old_size: int, proof: Sequence[bytes], checkpoint: bytes) -> bytes:
        """The witness's cosignature lines for the signed ``checkpoint`` note (unverified).

        ``old_size`` is the size the witness last cosigned for this log (0 if
        unknown: a ConflictError then tells it), ``proof`` the consistency
        proof from it. Verify the answer with ``core.tlog.witness.open_cosignature``.
        """
        request = pb.AddCheckpointRequest(old_size=_count("old_size", old_size), proof=list(proof), checkpoint=checkpoint)
        try:
            response = await call_unary(self._stub.AddCheckpoint, request)
        except grpc.RpcError as e:
            raise error_from_status(e.code(), e.details(), e.trailing_metadata()) from None
        return response.cosignatures
