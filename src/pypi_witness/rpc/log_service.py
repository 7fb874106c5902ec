"""The LogService servicer (proto/pypi_witness/v1/log.proto): thin shims over the log.

Where each call's work runs, and why (scripts/bench_rpc.py, 2 cores, 1 M
leaves; figures in docs/benchmarks.md):

====================  ==================  ============================================
call                  runs in             why
====================  ==================  ============================================
GetCheckpoint         gRPC worker thread  one short read
GetEntries            gRPC worker thread  bounded by the page limit (~5 ms at most)
GetInclusionProof     gRPC worker thread  ~50 µs of work. Measured against the empty
GetConsistencyProof   gRPC worker thread  call: 69-82 % of its rate here; 43 % with a
                                          hop into a trio handler doing the work,
                                          27 % with the handler handing it on to a
                                          thread. The hop costs more than the work.
LookupFilename(s)     trio handler,       up to max_lookup_filenames names, ~100 µs
                      work in threads     each: the handler runs them in chunks in
                                          ``lookup_threads`` threads (shared by all
                                          calls), and the call's cancel scope stops it
                                          between chunks when the client's deadline
                                          passes or it cancels
====================  ==================  ============================================

The bounded calls check the deadline before they start; they are too short to
be worth interrupting. Reads need no trio: the store serves any thread (LMDB
read transactions under MDB_NOTLS) and only the node's writer writes.

Every request arrives as raw bytes and is parsed here, so that bytes that are
not a valid request get INVALID_ARGUMENT (gRPC's own parser would answer
INTERNAL). Every failure becomes a status through ``rpc.errors``; nothing a
client sends can raise out of a handler or show it a traceback.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import trio
from google.protobuf.message import DecodeError, Message

from pypi_witness.config.node import LimitsConfig
from pypi_witness.core.tlog.signed_checkpoint import SignedCheckpoint, open_checkpoint
from pypi_witness.core.errors import (
    MalformedError,
    NoteError,
    NotFoundError,
    OutOfRangeError,
    SignatureError,
    StoreError,
    quoted,
)
from pypi_witness.signing.log import Log
from pypi_witness.privacy.identity import ClientIdentifier
from pypi_witness.privacy.period_keys import PeriodKeys
from pypi_witness.rpc import convert
from pypi_witness.rpc.bridge import CallEnded, ServerBridge
from pypi_witness.rpc.errors import report
from pypi_witness.rpc.gen.v1 import log_pb2 as pb

logger = logging.getLogger("pypi_witness.rpc")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["LogService"].full_name
# Filenames looked up per hop into a lookup thread: ~2 ms of work, so a
# cancelled call stops within about that, and the hop's cost is shared by 16.
LOOKUP_CHUNK = 16
# Bytes a GetEntries answer keeps free of leaves: the start field and framing.
_PAGE_OVERHEAD = 64


def _field_bytes(message: Message) -> int:
    """The bytes ``message`` takes as a repeated field of its parent: tag, length prefix, body."""
    size = message.ByteSize()
    return 1 + max(1, (size.bit_length() + 6) // 7) + size


def _fitting_prefix(results: list[pb.FilenameResult], budget: int) -> list[pb.FilenameResult]:
    """The longest prefix of ``results`` whose field bytes fit in ``budget``."""
    kept = []
    for result in results:
        budget -= _field_bytes(result)
        if budget < 0:
            break
        kept.append(result)
    return kept


def _parse(message_type: type[Message], raw: bytes) -> Any:
    try:
        return message_type.FromString(raw)
    except DecodeError as e:
        raise MalformedError(f"the request does not parse: {e}") from None


class LogServicer:
    """Serves ``log`` read-only under ``limits``; trio handlers run through ``bridge``.

    ``witnessed(note)`` gives a checkpoint note with the peers' cosignatures
    of it appended; every answer carries the note through it.
    Log lines name a client by ``identifier`` (default: keys held in memory only).

    ``handler()`` gives the gRPC handler to add to a server. The servicer
    holds no tasks; the trio run behind ``bridge`` must outlive the server.
    """

    def __init__(
        self,
        log: Log,
        limits: LimitsConfig,
        bridge: ServerBridge,
        *,
        identifier: ClientIdentifier | None = None,
        witnessed: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self._log = log
        # The checkpoint note as served: with the cosignature lines the node holds for it.
        self._witnessed = witnessed if witnessed is not None else (lambda note: note)
        self._limits = limits
        self._bridge = bridge
        self._identifier = identifier if identifier is not None else ClientIdentifier(PeriodKeys(7 * 24 * 3600))
        self._lookup_threads = trio.CapacityLimiter(limits.lookup_threads)
        self._cached: SignedCheckpoint | None = None

    def handler(self) -> grpc.GenericRpcHandler:
        """The generic handler serving every LogService method."""
        methods = {
            "GetCheckpoint": self._direct("GetCheckpoint", pb.GetCheckpointRequest, self.get_checkpoint),
            "GetEntries": self._direct("GetEntries", pb.GetEntriesRequest, self.get_entries),
            "GetInclusionProof": self._direct(
                "GetInclusionProof", pb.GetInclusionProofRequest, self.get_inclusion_proof
            ),
            "GetConsistencyProof": self._direct(
                "GetConsistencyProof", pb.GetConsistencyProofRequest, self.get_consistency_proof
            ),
            "LookupFilename": self._in_trio("LookupFilename", pb.LookupFilenameRequest, self.lookup_filename),
            "LookupFilenames": self._in_trio("LookupFilenames", pb.LookupFilenamesRequest, self.lookup_filenames),
        }
        declared = {m.name for m in pb.DESCRIPTOR.services_by_name["LogService"].methods}
        assert set(methods) == declared, f"LogService methods not served: {declared - set(methods)}"
        return grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                name: grpc.unary_unary_rpc_method_handler(
                    behaviour, request_deserializer=None, response_serializer=lambda m: m.SerializeToString()
                )
                for name, behaviour in methods.items()
            },
        )

    # --- shims -----------------------------------------------------------------------

    def _fail(self, context: grpc.ServicerContext, method: str, error: BaseException) -> None:
        """Answer ``error`` as a status (rpc.errors); context.abort raises to end the call."""
        if isinstance(error, CallEnded):
            code = grpc.StatusCode.DEADLINE_EXCEEDED if error.deadline_exceeded else grpc.StatusCode.CANCELLED
            logger.debug("client %s %s: %s", self._identifier.tag(context), method, error)
            context.abort(code, str(error))
        status = report(error, method, self._identifier.tag(context))
        if status.trailing_metadata:
            context.set_trailing_metadata(status.trailing_metadata)
        context.abort(status.code, status.message)

    def _direct(self, method: str, request_type: type[Message], work: Callable[[Any], Message]) -> Callable:
        """A behaviour running ``work(request)`` in the gRPC worker thread."""

        def behaviour(raw: bytes, context: grpc.ServicerContext) -> Message:
            try:
                request = _parse(request_type, raw)
                remaining = context.time_remaining()
                if remaining is not None and remaining <= 0:
                    raise CallEnded(deadline_exceeded=True)
                return work(request)
            except Exception as e:  # every failure becomes a status
                self._fail(context, method, e)
                raise  # unreachable: abort raised

        return behaviour

    def _in_trio(
        self, method: str, request_type: type[Message], work: Callable[[Any], Awaitable[Message]]
    ) -> Callable:
        """A behaviour running ``await work(request)`` as a trio handler (rpc.bridge)."""

        def behaviour(raw: bytes, context: grpc.ServicerContext) -> Message:
            try:
                request = _parse(request_type, raw)
                return self._bridge.run(functools.partial(work, request), context)
            except Exception as e:  # every failure becomes a status
                self._fail(context, method, e)
                raise  # unreachable: abort raised

        return behaviour

    # --- reads ---------------------------------------------------------------------

    def signed_checkpoint(self) -> SignedCheckpoint:
        """The log's latest signed checkpoint, verified once per new note.

        StoreError if there is none, or it does not verify with the log's own
        key (a damaged store: not the client's fault).
        """
        note = self._log.store.checkpoint()
        if note is None:
            raise StoreError("the log has no signed checkpoint yet")
        cached = self._cached
        if cached is not None and cached.note == note:
            return cached
        try:
            signed = open_checkpoint(note, self._log.verifier)
        except (NoteError, SignatureError) as e:
            raise StoreError(f"the stored checkpoint does not verify: {e}") from None
        self._cached = signed
        return signed

    def get_checkpoint(self, request: pb.GetCheckpointRequest) -> pb.GetCheckpointResponse:
        """The stored note with the cosignatures held for it. StoreError if the log has none."""
        note = self._log.store.checkpoint()
        if note is None:
            raise StoreError("the log has no signed checkpoint yet")
        return pb.GetCheckpointResponse(checkpoint=self._witnessed(note))

    def get_entries(self, request: pb.GetEntriesRequest) -> pb.GetEntriesResponse:
        """Leaves from ``start``: at most ``max_entries_per_page`` and what fits in a message.

        MalformedError if start > end; OutOfRangeError if end is past the log.
        """
        start, end = request.start, request.end
        if start > end:
            raise MalformedError(f"start {start} is after end {end}")
        size = self._log.store.size()
        if end > size:
            raise OutOfRangeError(f"entries [{start}, {end}) are not in a log of size {size}")
        # RFC 6962 §4.6 precedent: a log may return fewer entries than asked for.
        end = min(end, start + self._limits.max_entries_per_page)
        leaves = self._log.entries(start, end)
        budget = self._limits.max_message_bytes - _PAGE_OVERHEAD
        kept = 0
        for leaf in leaves:
            budget -= len(leaf) + 8  # field tag and length prefix, at most
            if budget < 0 and kept:
                break
            kept += 1
        return pb.GetEntriesResponse(start=start, leaves=leaves[:kept])

    def get_inclusion_proof(self, request: pb.GetInclusionProofRequest) -> pb.GetInclusionProofResponse:
        """Leaf ``index`` and its proof at ``size``. OutOfRangeError past the log or index >= size.

        The answer carries no root (clients take it from a checkpoint), so
        none is computed: this is the hottest call.
        """
        index, size = request.index, request.size
        leaf, proof = self._log.leaf_and_proof(index, size)
        return pb.GetInclusionProofResponse(index=index, size=size, leaf=leaf, proof=proof)

    def get_consistency_proof(self, request: pb.GetConsistencyProofRequest) -> pb.GetConsistencyProofResponse:
        """OutOfRangeError if new_size is past the log or old_size > new_size."""
        return convert.consistency_pb(self._log.consistency_proof(request.old_size, request.new_size))

    # --- lookups ----------------------------------------------------------------------

    def _lookup_chunk(
        self, signed: SignedCheckpoint | None, filenames: list[str]
    ) -> tuple[SignedCheckpoint, list[pb.FilenameResult]]:
        """Look up ``filenames`` at ``signed`` (None: the latest checkpoint, read here)."""
        if signed is None:
            signed = self.signed_checkpoint()
        found = [self._log.lookup(name, signed) for name in filenames]
        return signed, [convert.filename_result_pb(n, f.entries, f.conflicts) for n, f in zip(filenames, found)]

    def _fitting(self, response: Message, what: str) -> Any:
        """``response``, if it fits in ``max_message_bytes``; else MalformedError naming ``what`` it answers.

        Lookups answer whole records, and a verdict record is tens of KB, so
        a lookup of many verdicts can outgrow a message: refused here with a
        reason rather than by gRPC as a resource exhausted ("retry later").
        """
        size = response.ByteSize()
        limit = self._limits.max_message_bytes
        if size > limit:
            raise MalformedError(f"the answer would be {size} bytes, more than the {limit} a message holds: {what}")
        return response

    async def lookup_filenames(self, request: pb.LookupFilenamesRequest) -> pb.LookupFilenamesResponse:
        """Every filename's entries, proven against one checkpoint; none found is an empty result.

        With ``max_answer_bytes`` the answer is a page: the results of the
        first filenames that fit in it and ``max_message_bytes`` (at least
        one), and no lookup is done past them. MalformedError for more than
        ``max_lookup_filenames`` filenames or an empty one, an answer larger
        than ``max_message_bytes`` (without ``max_answer_bytes``), or a first
        result that alone does not fit the page. Runs in chunks of
        LOOKUP_CHUNK; a cancellation stops it between chunks (logged at DEBUG).
        """
        filenames = list(request.filenames)
        limit = self._limits.max_lookup_filenames
        if len(filenames) > limit:
            raise MalformedError(f"{len(filenames)} filenames in one lookup; at most {limit} (split the request)")
        for i, filename in enumerate(filenames):
            if not filename:
                raise MalformedError(f"filenames[{i}] is empty")
        paged = request.max_answer_bytes > 0
        budget = min(request.max_answer_bytes, self._limits.max_message_bytes) if paged else 0
        signed: SignedCheckpoint | None = None
        results: list[pb.FilenameResult] = []
        used = 0
        try:
            for offset in range(0, max(len(filenames), 1), LOOKUP_CHUNK):
                chunk = filenames[offset : offset + LOOKUP_CHUNK]
                signed, found = await trio.to_thread.run_sync(
                    self._lookup_chunk, signed, chunk, limiter=self._lookup_threads
                )
                if not paged:
                    results.extend(found)
                    continue
                if not results:
                    used = len(self._witnessed(signed.note)) + _PAGE_OVERHEAD
                fitting = _fitting_prefix(found, budget - used)
                used += sum(_field_bytes(r) for r in fitting)
                results.extend(fitting)
                if len(fitting) < len(found):
                    break
        except trio.Cancelled:
            logger.debug("LookupFilenames cancelled after %d of %d filenames", len(results), len(filenames))
            raise
        assert signed is not None
        if paged and not results and filenames:
            raise MalformedError(
                f"the entries of {filenames[0][:100]!r} alone are more than the {budget} bytes an answer may hold"
            )
        response = pb.LookupFilenamesResponse(checkpoint=self._witnessed(signed.note), results=results)
        return self._fitting(response, f"{len(filenames)} filenames; ask for fewer filenames at a time")

    async def lookup_filename(self, request: pb.LookupFilenameRequest) -> pb.LookupFilenameResponse:
        """One filename's entries, proven against the latest checkpoint.

        MalformedError for an empty filename or an answer larger than
        ``max_message_bytes``; NotFoundError if the tree of the checkpoint
        holds no entry for it.
        """
        if not request.filename:
            raise MalformedError("filename is empty")
        signed, (result,) = await trio.to_thread.run_sync(
            self._lookup_chunk, None, [request.filename], limiter=self._lookup_threads
        )
        if not result.entries:
            raise NotFoundError(f"{quoted(request.filename)} is not in the log (checked up to size {signed.checkpoint.size})")
        response = pb.LookupFilenameResponse(
            checkpoint=self._witnessed(signed.note), entries=result.entries, conflicts=result.conflicts
        )
        return self._fitting(response, f"the entries of {quoted(request.filename)}")
