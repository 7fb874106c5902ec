"""An async (trio) client of one node's LogService, returning plain values.

It verifies nothing: every value is what the node said (``rpc.convert``), for a
verifying client to check against a checkpoint and the log's verifier key.

Deadlines are the caller's: wrap calls in ``trio.fail_after`` / ``move_on_after``
and the gRPC call gets the time that is left and is cancelled with the scope
(``rpc.bridge.call_unary``). Without a deadline a call waits as long as the
node takes.

Every method raises, for a status the node answered (``rpc.errors``):
MalformedError (INVALID_ARGUMENT), OutOfRangeError, NotFoundError,
OverloadedError (RESOURCE_EXHAUSTED), ConflictError (ABORTED), and
UnavailableError for the node unreachable or any other status. An answer
whose bytes are not the response message the method returns raises
VerificationError naming the node (the node said something that cannot be
true; gRPC's own decoding would have reported it as INTERNAL, the node's
fault indistinguishable from a status it sent). Arguments that cannot be
sent (a negative index) raise MalformedError without a call.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message

from pypi_witness.core.errors import MalformedError, VerificationError, quoted
from pypi_witness.rpc import convert
from pypi_witness.rpc.bridge import call_unary
from pypi_witness.rpc.errors import error_from_status
from pypi_witness.rpc.gen.v1 import log_pb2 as pb

_SERVICE = pb.DESCRIPTOR.services_by_name["LogService"]

# The largest answer accepted: gRPC's own default, and the node's (config.LimitsConfig).
DEFAULT_MAX_MESSAGE_BYTES = 4 << 20
_MAX_UINT64 = (1 << 64) - 1


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


def _count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_UINT64:
        raise MalformedError(f"{name} must be a whole number from 0 to 2**64-1, got {quoted(value)}")
    return value


class LogClient:
    """A client of the node at ``target`` (``host:port``), over one gRPC channel.

    Use as ``async with LogClient(target) as client:``, or call ``aclose()``;
    closing cancels calls still in flight. No connection is made until the
    first call.
    """

    def __init__(
        self,
        target: str,
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self.target = target
        self.max_message_bytes = max_message_bytes
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
        # credentials: TLS (rpc.tls.client_credentials); None: plaintext.
        self._channel = (
            grpc.insecure_channel(target, options=options)
            if credentials is None
            else grpc.secure_channel(target, credentials, options=options)
        )
        # Answers arrive as bytes and are decoded in _call, so that bytes that do not decode are told
        # apart from a status the node sent.
        self._methods = {
            m.name: self._channel.unary_unary(
                f"/{_SERVICE.full_name}/{m.name}", request_serializer=_serialize, response_deserializer=None
            )
            for m in _SERVICE.methods
        }

    async def aclose(self) -> None:
        self._channel.close()

    async def __aenter__(self) -> LogClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _call(self, method: str, request: Message, response_type: type[Message]) -> Any:
        try:
            raw = await call_unary(self._methods[method], request)
        except grpc.RpcError as e:
            raise error_from_status(e.code(), e.details(), e.trailing_metadata()) from None
        try:
            return response_type.FromString(raw)
        except DecodeError as e:
            raise VerificationError(
                f"{self.target} answered {method} with {len(raw)} bytes that are not a {response_type.__name__}: {e}"
            ) from None

    async def checkpoint(self) -> bytes:
        """The node's latest signed checkpoint note, verbatim (unverified)."""
        response = await self._call("GetCheckpoint", pb.GetCheckpointRequest(), pb.GetCheckpointResponse)
        return response.checkpoint

    async def entries(self, start: int, end: int) -> convert.EntriesPage:
        """One page of leaves from ``start`` toward ``end`` (exclusive); may be shorter than asked.

        MalformedError if start > end, OutOfRangeError if end is past the log.
        """
        request = pb.GetEntriesRequest(start=_count("start", start), end=_count("end", end))
        return convert.entries_page(await self._call("GetEntries", request, pb.GetEntriesResponse))

    async def lookup(self, filename: str) -> convert.LookupAnswer:
        """Every entry for ``filename`` with proofs against the answer's checkpoint (one result).

        NotFoundError if the node holds none; MalformedError for an empty filename.
        """
        request = pb.LookupFilenameRequest(filename=filename)
        response = await self._call("LookupFilename", request, pb.LookupFilenameResponse)
        return convert.LookupAnswer(response.checkpoint, (convert.filename_entries(response, filename),))

    async def lookup_many(self, filenames: Sequence[str], max_answer_bytes: int = 0) -> convert.LookupAnswer:
        """One result per filename (empty entries: not logged), all against one checkpoint.

        With ``max_answer_bytes`` (at most this client's message limit) the
        answer is a page: results for the first filenames only (at least one),
        ask again for the rest. MalformedError for more filenames than the
        node's limit, or an empty one, or (paged) a first filename whose result
        alone exceeds the page.
        """
        request = pb.LookupFilenamesRequest(
            filenames=list(filenames), max_answer_bytes=_count("max_answer_bytes", max_answer_bytes)
        )
        return convert.lookup_answer(await self._call("LookupFilenames", request, pb.LookupFilenamesResponse))

    async def inclusion_proof(self, index: int, size: int) -> convert.InclusionAnswer:
        """Leaf ``index`` and its proof in the tree of ``size``. OutOfRangeError past the log or index >= size."""
        request = pb.GetInclusionProofRequest(index=_count("index", index), size=_count("size", size))
        return convert.inclusion_answer(await self._call("GetInclusionProof", request, pb.GetInclusionProofResponse))

    async def consistency_proof(self, old_size: int, new_size: int) -> convert.ConsistencyAnswer:
        """Proof that tree ``old_size`` is a prefix of ``new_size``.

        OutOfRangeError if new_size is past the log or old_size > new_size.
        """
        request = pb.GetConsistencyProofRequest(
            old_size=_count("old_size", old_size), new_size=_count("new_size", new_size)
        )
        response = await self._call("GetConsistencyProof", request, pb.GetConsistencyProofResponse)
        return convert.consistency_answer(response)
