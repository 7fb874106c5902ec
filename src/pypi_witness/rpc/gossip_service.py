"""The GossipService servicer (proto/pypi_witness/v1/gossip.proto) and its client.

Server: ``Exchange`` parses the request and decodes every message in the gRPC
worker thread (a malformed one refuses the whole call with INVALID_ARGUMENT,
naming it), checks the sender's signature (``rpc.gossip_auth``: NOT_FOUND for
an unknown sender, PERMISSION_DENIED for a bad signature), then hands the
messages to the trio side (``ServerBridge``), where ``exchange(sender,
messages)`` feeds them to the gossip machine and returns its answers. Every
failure becomes its status through ``rpc.errors``.

Client: ``GossipClient.exchange`` signs and sends messages to one peer and
returns the decoded answer; a reply that does not decode raises
MalformedError, a status the package error of ``rpc.errors``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

import grpc
from google.protobuf.message import DecodeError

from pypi_witness.core.gossip.messages import Message, decode, encode
from pypi_witness.core.tlog.note import Signer, Verifier
from pypi_witness.core.errors import MalformedError
from pypi_witness.privacy.identity import ClientIdentifier
from pypi_witness.privacy.period_keys import PeriodKeys
from pypi_witness.rpc.bridge import ServerBridge, call_unary
from pypi_witness.rpc.errors import error_from_status, report
from pypi_witness.rpc.gen.v1 import gossip_pb2 as pb
from pypi_witness.rpc.gen.v1.gossip_pb2_grpc import GossipServiceStub
from pypi_witness.rpc.gossip_auth import check_exchange, sign_exchange

logger = logging.getLogger("pypi_witness.rpc")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["GossipService"].full_name
EXCHANGE_METHOD = f"/{SERVICE_NAME}/Exchange"
# 256 messages a call: heads of every origin plus evidence and proofs, with room.
MAX_MESSAGES = 256

# (sender, messages) -> the answers; runs in trio.
Exchange = Callable[[str, list[Message]], Awaitable[list[Message]]]


def decode_all(raw: Sequence[bytes]) -> list[Message]:
    """Every message decoded; MalformedError naming the first bad one, or too many."""
    if len(raw) > MAX_MESSAGES:
        raise MalformedError(f"{len(raw)} gossip messages in one call; at most {MAX_MESSAGES}")
    out = []
    for i, data in enumerate(raw):
        try:
            out.append(decode(data))
        except MalformedError as e:
            raise MalformedError(f"gossip message {i}: {e}") from None
    return out


class GossipServicer:
    """Serves Exchange for ``exchange`` (see the module docstring); ``keys``: peer name -> witness key."""

    def __init__(
        self,
        exchange: Exchange,
        keys: Mapping[str, Verifier],
        bridge: ServerBridge,
        clock: Callable[[], float],
        *,
        identifier: ClientIdentifier | None = None,
    ) -> None:
        self._exchange = exchange
        self._keys = dict(keys)
        self._bridge = bridge
        self._clock = clock
        self._identifier = identifier if identifier is not None else ClientIdentifier(PeriodKeys(7 * 24 * 3600))

    def handler(self) -> grpc.GenericRpcHandler:
        """The generic handler serving every GossipService method."""
        declared = {m.name for m in pb.DESCRIPTOR.services_by_name["GossipService"].methods}
        assert declared == {"Exchange"}, f"GossipService methods not served: {declared}"
        return grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                "Exchange": grpc.unary_unary_rpc_method_handler(
                    self._serve, request_deserializer=None, response_serializer=lambda m: m.SerializeToString()
                )
            },
        )

    def _serve(self, raw: bytes, context: grpc.ServicerContext) -> pb.ExchangeResponse:
        try:
            try:
                request = pb.ExchangeRequest.FromString(raw)
            except DecodeError as e:
                raise MalformedError(f"the request does not parse: {e}") from None
            messages = decode_all(request.messages)
            sender = check_exchange(
                self._keys, request.sender, request.time, request.messages, request.signature, self._clock()
            )
            answers = self._bridge.run(lambda: self._exchange(sender, messages), context)
            return pb.ExchangeResponse(messages=[encode(m) for m in answers])
        except Exception as e:  # every failure becomes a status
            status = report(e, "Exchange", self._identifier.tag(context))
            context.abort(status.code, status.message)
            raise  # unreachable: abort raised


class GossipClient:
    """Exchanges gossip with the peer at ``target`` over one channel, as ``sender`` signing with ``signer``.

    ``credentials`` None: plaintext. Deadlines are the caller's (cancel scopes).
    """

    def __init__(
        self,
        target: str,
        sender: str,
        signer: Signer,
        clock: Callable[[], float],
        *,
        credentials: grpc.ChannelCredentials | None = None,
        reconnect_seconds: tuple[float, float] = (0.5, 10.0),
    ) -> None:
        self.target = target
        self._sender, self._signer, self._clock = sender, signer, clock
        low, high = (max(1, round(s * 1000)) for s in reconnect_seconds)
        options = [
            ("grpc.initial_reconnect_backoff_ms", low),
            ("grpc.min_reconnect_backoff_ms", low),
            ("grpc.max_reconnect_backoff_ms", high),
        ]
        if credentials is None:
            self._channel = grpc.insecure_channel(target, options=options)
        else:
            self._channel = grpc.secure_channel(target, credentials, options=options)
        self._stub = GossipServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    async def exchange(self, messages: Sequence[Message]) -> list[Message]:
        """Send ``messages``; the peer's answers. Raises the package errors of ``rpc.errors``."""
        raw = [encode(m) for m in messages]
        now = int(self._clock())
        request = pb.ExchangeRequest(
            sender=self._sender, messages=raw, time=now, signature=sign_exchange(self._signer, self._sender, now, raw)
        )
        try:
            response = await call_unary(self._stub.Exchange, request)
        except grpc.RpcError as e:
            raise error_from_status(e.code(), e.details(), e.trailing_metadata()) from None
        return decode_all(response.messages)
