"""The standard gRPC services a node serves beside its own: health checking and server reflection.

The servicers are grpcio's (``grpc_health``, ``grpc_reflection``), but the
handlers that carry calls to them are made here, taking the raw request bytes
and parsing them as the node's own services do. With grpcio's own handlers,
bytes that are not a request got INTERNAL and a logged traceback per call, and
a streaming call whose request did not parse was never finished, so that the
server could not stop (ten such reflection calls made SIGTERM wait forever).
Here:

- A request that does not parse: INVALID_ARGUMENT ``the request does not
  parse: ...``; in a reflection stream, the first such request ends the call.
  Failures go through ``rpc.errors`` (client mistakes logged at DEBUG).
- ``Check`` of a service the node reports no status for: NOT_FOUND naming it
  (``core.errors.quoted``) and the services it does report on.
- ``Watch`` holds no worker thread while it waits for changes (grpc_health's
  non-blocking mode, kept through the privacy gate), and at most
  HEALTH_WATCHES run at once; more get RESOURCE_EXHAUSTED.
- A reflection stream holds a worker thread while it waits for the client's
  next request, so at most REFLECTION_STREAMS run at once (more get
  RESOURCE_EXHAUSTED): streams left open cannot take the threads every other
  call needs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health, health_pb2
from grpc_reflection.v1alpha import reflection, reflection_pb2

from pypi_witness.core.errors import MalformedError, NotFoundError, OverloadedError, quoted
from pypi_witness.privacy.identity import ClientIdentifier
from pypi_witness.rpc.errors import report

# Health watches at once: each holds one of max_concurrent_rpcs while it lasts.
HEALTH_WATCHES = 16
# Reflection streams at once: each holds a gRPC worker thread while it lasts;
# reflection is a debugging aid (grpcurl), one at a time is enough.
REFLECTION_STREAMS = 1


def _parse(message_type: type[Message], raw: bytes) -> Any:
    try:
        return message_type.FromString(raw)
    except DecodeError as e:
        raise MalformedError(f"the request does not parse: {e}") from None


class _Slots:
    """At most ``limit`` holders at once; a slot is released when its call terminates."""

    def __init__(self, limit: int, what: str) -> None:
        self._limit, self._what = limit, what
        self._used = 0
        self._lock = threading.Lock()

    def take(self, context: grpc.ServicerContext) -> None:
        """Take a slot until the call of ``context`` ends; OverloadedError if none is free."""
        with self._lock:
            if self._used >= self._limit:
                raise OverloadedError(f"{self._limit} {self._what} are open already; try again later")
            self._used += 1
        if not context.add_callback(self._release):
            self._release()  # the call is over already

    def _release(self) -> None:
        with self._lock:
            self._used -= 1


class StandardServices:
    """Handlers for health checking (status from ``health_servicer``, for ``services``) and reflection.

    ``reflected`` are the full service names reflection lists. Log lines name
    a client by ``identifier``'s tag.
    """

    def __init__(
        self,
        health_servicer: health.HealthServicer,
        services: Sequence[str],
        reflected: Sequence[str],
        identifier: ClientIdentifier,
    ) -> None:
        self._health = health_servicer
        self._services = tuple(services)
        self._reflection = reflection.ReflectionServicer(tuple(reflected))
        self._identifier = identifier
        self._watches = _Slots(HEALTH_WATCHES, "health watches")
        self._streams = _Slots(REFLECTION_STREAMS, "reflection streams")

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        """The generic handlers serving grpc.health.v1.Health and grpc.reflection.v1alpha.ServerReflection."""
        serialize: Callable[[Message], bytes] = lambda m: m.SerializeToString()  # noqa: E731
        watch = self._watch
        health_methods = {
            "Check": grpc.unary_unary_rpc_method_handler(self._check, response_serializer=serialize),
            "Watch": grpc.unary_stream_rpc_method_handler(watch, response_serializer=serialize),
        }
        reflection_methods = {
            "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(self._info, response_serializer=serialize),
        }
        return [
            grpc.method_handlers_generic_handler(health.SERVICE_NAME, health_methods),
            grpc.method_handlers_generic_handler(reflection.SERVICE_NAME, reflection_methods),
        ]

    def _fail(self, context: grpc.ServicerContext, method: str, error: Exception) -> None:
        status = report(error, method, self._identifier.tag(context))
        if status.trailing_metadata:
            context.set_trailing_metadata(status.trailing_metadata)
        context.abort(status.code, status.message)

    def _check(self, raw: bytes, context: grpc.ServicerContext) -> health_pb2.HealthCheckResponse:
        try:
            request = _parse(health_pb2.HealthCheckRequest, raw)
            if request.service not in self._services:
                known = ", ".join(repr(s) for s in self._services)
                raise NotFoundError(f"no health status for service {quoted(request.service)} (known: {known})")
            return self._health.Check(request, context)
        except Exception as e:  # every failure becomes a status
            self._fail(context, "Check", e)
            raise  # unreachable: abort raised

    def _watch(
        self, raw: bytes, context: grpc.ServicerContext, send_response_callback: Callable[[Any], None]
    ) -> None:
        try:
            request = _parse(health_pb2.HealthCheckRequest, raw)
            self._watches.take(context)
            self._health.Watch(request, context, send_response_callback)
        except Exception as e:  # every failure becomes a status
            self._fail(context, "Watch", e)
            raise  # unreachable: abort raised

    _watch.experimental_non_blocking = True  # type: ignore[attr-defined]

    def _info(self, raw_requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[Message]:
        try:
            self._streams.take(context)
            requests = (_parse(reflection_pb2.ServerReflectionRequest, raw) for raw in raw_requests)
            yield from self._reflection.ServerReflectionInfo(requests, context)
        except Exception as e:  # every failure becomes a status
            self._fail(context, "ServerReflectionInfo", e)
            raise  # unreachable: abort raised
