"""``stop_server``: the gRPC server's stop is bounded even when a call's thread never returns."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
import trio

from pypi_witness.rpc.bridge import call_unary
from pypi_witness.runtime import node
from pypi_witness.runtime.node import stop_server


def serve(behaviour) -> tuple[grpc.Server, ThreadPoolExecutor, str]:
    executor = ThreadPoolExecutor(max_workers=2)
    server = grpc.server(executor)
    handler = grpc.unary_unary_rpc_method_handler(behaviour)
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("t.T", {"Call": handler})])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, executor, f"127.0.0.1:{port}"


async def test_a_call_stuck_in_its_thread_is_left_behind_after_the_bound(monkeypatch, caplog):
    monkeypatch.setattr(node, "STOP_SLACK_SECONDS", 0.3)
    release, entered = threading.Event(), threading.Event()

    def stuck(request, context):  # ignores the call's end, as a handler with a bug would
        entered.set()
        release.wait(60)
        return b""

    server, executor, address = serve(stuck)
    channel = grpc.insecure_channel(address)
    try:
        future = channel.unary_unary("/t.T/Call").future(b"", timeout=30)
        with trio.fail_after(10):
            await trio.to_thread.run_sync(entered.wait)
            assert await stop_server(server, executor, 0.1) is False  # bounded: did not wait for the thread
        assert "did not stop within 0.4 s" in caplog.text
        assert future.exception() is not None  # the client was told the call ended
    finally:
        release.set()
        channel.close()
        executor.shutdown(wait=True)


async def test_a_server_whose_calls_finish_stops_cleanly():
    server, executor, address = serve(lambda request, context: b"ok")
    channel = grpc.insecure_channel(address)
    try:
        assert await call_unary(channel.unary_unary("/t.T/Call"), b"") == b"ok"
        with trio.fail_after(10):
            assert await stop_server(server, executor, 0.1) is True
    finally:
        channel.close()
