"""``ThreadBudget``: the gRPC server's worker threads, shared out between reads and durable writes.

A gRPC call holds a worker thread until it answers. A read (a proof, a
lookup, a checkpoint) holds it while it computes; a write (AddCheckpoint)
holds it while it waits for the witness state's fsync. On a slow disk the
writes would take every thread and reads would queue behind fsyncs. So the
server's pool has ``reads + writes`` threads, and this interceptor keeps
each class within its own share:

* a write method (``write_methods``) takes a write slot if one is free, else
  is answered RESOURCE_EXHAUSTED at once (``retry-after: 1``), holding its
  thread for no time; the writes that wait share fsyncs (the state store's
  group commit), so many slots cost little;
* every other unary call waits for a read slot before it runs: at most
  ``reads`` run at once (more threads only add contention under one GIL,
  scripts/bench_rpc.py), and a thread that waits for a slot does not compete.

Streaming calls (health Watch, reflection) pass untouched. The slots are
taken in the worker thread and given back when the handler returns or
raises, so an aborted call frees its slot too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from typing import Any

import grpc

from pypi_witness.core.errors import OverloadedError
from pypi_witness.rpc.errors import status_for


class ThreadBudget(grpc.ServerInterceptor):
    """Keeps reads to ``reads`` threads and writes to ``writes`` (see the module docstring)."""

    def __init__(self, reads: int, writes: int, write_methods: Collection[str]) -> None:
        self._reads = threading.BoundedSemaphore(reads)
        self._writes = threading.BoundedSemaphore(writes)
        self.writes = writes
        self._write_methods = frozenset(write_methods)
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None], details
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(details)
        if handler is None or handler.request_streaming or handler.response_streaming:
            return handler
        method = details.method
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        behaviour = handler.unary_unary
        wrapped = grpc.unary_unary_rpc_method_handler(
            self._write(behaviour) if method in self._write_methods else self._read(behaviour),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _read(self, behaviour: Callable[[Any, grpc.ServicerContext], Any]) -> Callable:
        slots = self._reads

        def read(request: Any, context: grpc.ServicerContext) -> Any:
            with slots:
                return behaviour(request, context)

        return read

    def _write(self, behaviour: Callable[[Any, grpc.ServicerContext], Any]) -> Callable:
        slots = self._writes

        def write(request: Any, context: grpc.ServicerContext) -> Any:
            if not slots.acquire(blocking=False):
                status = status_for(
                    OverloadedError(f"{self.writes} checkpoints are waiting for the witness's disk; retry later", 1)
                )
                context.set_trailing_metadata(status.trailing_metadata)
                context.abort(status.code, status.message)
            try:
                return behaviour(request, context)
            finally:
                slots.release()

        return write
