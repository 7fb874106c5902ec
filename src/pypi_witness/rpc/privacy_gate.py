"""``PrivacyGate``: the gRPC server interceptor every call passes first.

For each call, before its handler runs, the gate

1. identifies the caller (``identity``): an authenticated peer witness as
   ``peer:<key name>``, else a keyed hash of the client (or a trusted
   proxy's client id); the address goes no further;
2. charges the method's cost to the caller's budget (``rate_limit``) and, if
   it is used up, answers RESOURCE_EXHAUSTED through the one error table
   (``rpc.errors``, OverloadedError) with trailing metadata ``retry-after``
   (whole seconds) and the same hint in the message;
3. counts the call, refused or not, in the access events (``events``).

It gates every service on the server (LogService, health, reflection, and
services added later) and every kind of call (unary and streaming).

Why an interceptor rather than code in each servicer's shim: one place for
every service, including ones not written yet; the wrapped handler is made
once per method and cached, so a call pays only the gate's own work
(measured by ``scripts/bench_rpc.py --compare-rate-limit``; docs/benchmarks.md).

Peer budgets (the hook for the witness and gossip services):
``peer_authenticators`` maps a full method name (``/pkg.Service/Method``) to
a function ``(request, context) -> key name | None``. It runs before the
rate limit and sees the request as the handler will (raw bytes for this
package's services; None for a streaming request) and the metadata; it
returns the name of a configured peer key only if the call proves it comes
from that key's holder (e.g. a signature over the request), else None, and
must not raise. An authenticated call is charged to ``peer:<key name>`` in
the peer table (``peer_rate_per_second``, ``peer_burst``), which clients
cannot touch; anything else is a client. Authenticators must be cheap or
bounded, as they run before any budget is charged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import grpc

from pypi_witness.core.errors import OverloadedError
from pypi_witness.privacy.events import EventCounter
from pypi_witness.privacy.identity import ClientIdentifier, Identity
from pypi_witness.privacy.rate_limit import RateLimiter, retry_after_seconds
from pypi_witness.rpc.errors import status_for

# Tokens per call by method name; other methods cost DEFAULT_COST. A page of up
# to 1000 entries and a lookup of up to 1000 filenames do ~10x a proof's work.
DEFAULT_COSTS: Mapping[str, float] = {"GetEntries": 10.0, "LookupFilenames": 10.0}
DEFAULT_COST = 1.0

PeerAuthenticator = Callable[[Any, grpc.ServicerContext], "str | None"]

_HANDLER_KINDS = {
    (False, False): ("unary_unary", grpc.unary_unary_rpc_method_handler),
    (False, True): ("unary_stream", grpc.unary_stream_rpc_method_handler),
    (True, False): ("stream_unary", grpc.stream_unary_rpc_method_handler),
    (True, True): ("stream_stream", grpc.stream_stream_rpc_method_handler),
}


class PrivacyGate(grpc.ServerInterceptor):
    """Identifies, rate-limits and counts every call (see the module docstring).

    ``limiter`` None: no rate limit. ``counter`` None: no access events.
    ``costs`` override DEFAULT_COSTS by method name. ``clock``: Unix seconds.
    """

    def __init__(
        self,
        identifier: ClientIdentifier,
        *,
        limiter: RateLimiter | None = None,
        counter: EventCounter | None = None,
        costs: Mapping[str, float] = {},
        peer_authenticators: Mapping[str, PeerAuthenticator] = {},
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.identifier = identifier
        self.limiter = limiter
        self.counter = counter
        self.costs = {**DEFAULT_COSTS, **costs}
        self._authenticators = dict(peer_authenticators)
        self._clock = clock
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None], details
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(details)
        if handler is None:
            return None  # gRPC answers UNIMPLEMENTED
        method = details.method
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        kind, make = _HANDLER_KINDS[(handler.request_streaming, handler.response_streaming)]
        wrapped = make(
            self._gated(method, getattr(handler, kind), handler.request_streaming),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def identify(self, method: str, request: Any, context: grpc.ServicerContext) -> Identity:
        """The caller of ``method``: an authenticated peer, else the client's identity."""
        authenticate = self._authenticators.get(method)
        if authenticate is not None:
            name = authenticate(request, context)
            if name:
                return Identity.peer(name)
        return self.identifier.identify(context)

    def _gated(self, method: str, behaviour: Callable, request_streaming: bool) -> Callable:
        short = method.rpartition("/")[2]
        cost = self.costs.get(short, DEFAULT_COST)
        limiter, counter, clock = self.limiter, self.counter, self._clock

        def gated(request: Any, context: grpc.ServicerContext, *callback: Any) -> Any:
            # ``callback``: the send_response_callback a non-blocking streaming behaviour takes.
            identity = self.identify(method, None if request_streaming else request, context)
            wait = limiter.charge(identity, cost) if limiter is not None else 0.0
            if counter is not None:
                counter.count(identity, short, clock(), limited=wait > 0)
            if wait > 0:
                seconds = retry_after_seconds(wait)
                status = status_for(
                    OverloadedError(f"rate limit reached for {short}; retry after {seconds} s", retry_after=seconds)
                )
                context.set_trailing_metadata(status.trailing_metadata)
                context.abort(status.code, status.message)
            return behaviour(request, context, *callback)

        # A non-blocking behaviour (it answers through a callback, holding no
        # worker thread while it waits) must stay one behind the gate.
        for name in ("experimental_non_blocking", "experimental_thread_pool"):
            if hasattr(behaviour, name):
                setattr(gated, name, getattr(behaviour, name))
        return gated
