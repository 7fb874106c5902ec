"""The trio <-> thread bridge, both ways (DESIGN §5: grpcio has no trio support).

Server side, ``ServerBridge.run`` lets a gRPC worker thread run a trio handler
and wait for it: the handler runs under a cancel scope whose deadline is the
call's (``context.time_remaining()``) and which is cancelled when the call ends
early (``context.add_callback``: the client cancelled, or the deadline passed,
or the server is stopping). So a client's deadline cancels the server's work.

Client side, ``call_unary`` awaits a unary call from trio: it starts the call
with ``multicallable.future(...)``, whose timeout is the time left to the
caller's trio deadline, wakes the waiting task from the future's done-callback
with ``TrioToken.run_sync_soon``, and cancels the call when trio cancels the
task. A blocking stub call in ``trio.to_thread.run_sync`` would keep running
after a cancel: never do that.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc
import trio

from pypi_witness.core.errors import UnavailableError

T = TypeVar("T")


class CallEnded(Exception):
    """A trio handler was cancelled because its call ended first.

    ``deadline_exceeded`` tells whether the call's deadline had passed (else the
    client cancelled, or the server stopped the call).
    """

    def __init__(self, deadline_exceeded: bool) -> None:
        super().__init__("deadline exceeded" if deadline_exceeded else "call cancelled")
        self.deadline_exceeded = deadline_exceeded


class ServerBridge:
    """Runs trio handlers for gRPC worker threads, in the trio run of ``token``."""

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self._token = token

    def run(self, handler: Callable[[], Awaitable[T]], context: grpc.ServicerContext) -> T:
        """``await handler()`` in trio, from a gRPC worker thread; block until it is done.

        Returns what the handler returns and raises what it raises. Raises
        CallEnded if the call ended (deadline, client cancel) and so cancelled
        the handler, and UnavailableError if the trio run is stopping or over.
        Must not be called from the trio thread.
        """
        try:
            finished, result = trio.from_thread.run(self._in_trio, handler, context, trio_token=self._token)
        except (trio.RunFinishedError, trio.Cancelled):
            # trio.Cancelled here is the run's own shutdown cancelling the system task.
            raise UnavailableError("the node is stopping") from None
        if not finished:
            remaining = context.time_remaining()
            raise CallEnded(deadline_exceeded=remaining is not None and remaining <= 0)
        return result

    async def _in_trio(self, handler: Callable[[], Awaitable[T]], context: grpc.ServicerContext) -> tuple[bool, Any]:
        """(True, result) if the handler finished; (False, None) if the call's end cancelled it."""
        token = self._token
        with trio.CancelScope() as scope:
            remaining = context.time_remaining()
            if remaining is not None:
                scope.deadline = trio.current_time() + remaining

            def call_ended() -> None:  # runs on a gRPC thread when the call terminates
                try:
                    token.run_sync_soon(scope.cancel)
                except trio.RunFinishedError:
                    pass

            if not context.add_callback(call_ended):
                scope.cancel()  # the call is already over
            return True, await handler()
        return False, None


async def call_unary(
    multicallable: grpc.UnaryUnaryMultiCallable,
    request: object,
    *,
    metadata: Sequence[tuple[str, str]] | None = None,
) -> Any:
    """Make one unary call and await its response from trio.

    The call's timeout is the time left to ``trio.current_effective_deadline()``
    (no timeout without a deadline). Returns the response. If trio cancels the
    caller, the call is cancelled and trio.Cancelled propagates, so a deadline
    surfaces as the caller's own cancel scope (``trio.fail_after`` raises
    TooSlowError); the same holds when gRPC reports DEADLINE_EXCEEDED for that
    deadline a moment before trio does. Raises grpc.RpcError for every other
    failed call.
    """
    await trio.lowlevel.checkpoint_if_cancelled()
    deadline = trio.current_effective_deadline()
    timeout = None if math.isinf(deadline) else max(deadline - trio.current_time(), 0.0)
    token = trio.lowlevel.current_trio_token()
    done = trio.Event()

    def on_done(_future: grpc.Future) -> None:  # runs on a gRPC thread, or here if already done
        try:
            token.run_sync_soon(done.set)
        except trio.RunFinishedError:
            pass

    future = multicallable.future(request, timeout=timeout, metadata=metadata)
    future.add_done_callback(on_done)
    try:
        await done.wait()
    except BaseException:
        future.cancel()
        raise
    try:
        return future.result()
    except grpc.RpcError as e:
        if e.code() is grpc.StatusCode.DEADLINE_EXCEEDED and not math.isinf(deadline):
            # gRPC's clock ran out first; trio's cancels this sleep at the same deadline.
            await trio.sleep_until(deadline)
        raise
