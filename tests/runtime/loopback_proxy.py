"""A loopback TCP proxy that can cut and restore traffic: a network partition for tests.

``LoopbackProxy`` runs in the test's trio nursery. Each ``route(target_port)``
gets its own listening port on 127.0.0.1 that forwards byte for byte to
``127.0.0.1:target_port``. ``cut()`` closes every open connection and, until
``heal()``, closes each new one as soon as it is accepted: to a gRPC client
the far side is unreachable (UNAVAILABLE), as in a real partition. Not a test
itself; used by test_gossip_partition.py.
"""

from __future__ import annotations

import trio

CHUNK = 64 * 1024


class LoopbackProxy:
    """Forwarding ports on 127.0.0.1 that all go down with ``cut`` and up with ``heal``."""

    def __init__(self) -> None:
        self.cut_now = False
        self.connections = 0  # connections forwarded in all, for the test's own checks
        self._open: set[trio.CancelScope] = set()
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve the routes until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    async def route(self, target_port: int) -> int:
        """A new listening port that forwards to ``127.0.0.1:target_port``; its number."""
        assert self._nursery is not None, "start run() first"
        [listener] = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listener.socket.getsockname()[1]
        self._nursery.start_soon(trio.serve_listeners, lambda s: self._forward(s, target_port), [listener])
        return port

    def cut(self) -> None:
        """Drop every open connection and refuse new ones until ``heal``."""
        self.cut_now = True
        for scope in list(self._open):
            scope.cancel()

    def heal(self) -> None:
        """Forward new connections again."""
        self.cut_now = False

    async def _forward(self, client: trio.SocketStream, target_port: int) -> None:
        async with client:
            if self.cut_now:
                return
            try:
                server = await trio.open_tcp_stream("127.0.0.1", target_port)
            except OSError:
                return  # the target is down: the client sees the connection close
            self.connections += 1
            with trio.CancelScope() as scope:
                self._open.add(scope)
                try:
                    async with server, trio.open_nursery() as nursery:
                        nursery.start_soon(_pump, client, server, nursery.cancel_scope)
                        nursery.start_soon(_pump, server, client, nursery.cancel_scope)
                finally:
                    self._open.discard(scope)


async def _pump(source: trio.SocketStream, sink: trio.SocketStream, both: trio.CancelScope) -> None:
    """Copy ``source`` to ``sink`` until either closes; then end both directions."""
    try:
        while data := await source.receive_some(CHUNK):
            await sink.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    both.cancel()
