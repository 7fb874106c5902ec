"""Bad HTTP requests get a 4xx, never a 5xx, and the node keeps serving.

Bodies over the limit (by Content-Length and streamed chunked), bodies that
drip in slower than ``body_timeout_seconds``, malformed notes and bodies,
garbage on the wire, oversized headers, bad methods and paths. Afterwards
the node still answers every endpoint.
"""

from __future__ import annotations

import pytest
import trio

from pypi_witness.config.logs import WitnessingConfig
from pypi_witness.core.tlog.log_list import ListedLog
from pypi_witness.core.tlog.witness_wire import format_add_checkpoint
from tests.http.support import ForeignLog, http_config, raw_exchange, request, start_http_node

LIMIT = 4096


def status_of(raw: bytes) -> int:
    assert raw.startswith(b"HTTP/1.1 "), raw[:80]
    return int(raw[9:12])


@pytest.fixture
async def node(nursery, data_dir):
    foreign = ForeignLog("bad.example/log")
    witnessing = WitnessingConfig(logs=(ListedLog(foreign.verifier, foreign.origin),))
    config = http_config(data_dir, witnessing=witnessing, max_body_bytes=LIMIT, body_timeout_seconds=0.5)
    _, base = await start_http_node(nursery, config)
    return base, foreign


async def test_bodies_over_the_limit_get_413(node):
    base, foreign = node
    big = format_add_checkpoint(0, (), foreign.note(3)) + b"x" * LIMIT
    assert (await request(base, "POST", "/add-checkpoint", big)).status == 413
    host = base.removeprefix("http://")
    # No Content-Length: a chunked body, stopped as it passes the limit.
    chunk = b"x" * 1000
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(10)) + b"0\r\n\r\n"
    raw = await raw_exchange(
        base, f"POST /add-checkpoint HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n".encode() + chunked
    )
    assert status_of(raw) == 413
    # A Content-Length that is not a number.
    raw = await raw_exchange(base, f"POST /add-checkpoint HTTP/1.1\r\nHost: {host}\r\nContent-Length: lots\r\n\r\n".encode())
    assert 400 <= status_of(raw) < 500


async def test_a_slow_body_gets_408(node):
    base, _ = node
    host = base.removeprefix("http://")
    with trio.fail_after(10):
        raw = await raw_exchange(
            base, f"POST /add-checkpoint HTTP/1.1\r\nHost: {host}\r\nContent-Length: 100\r\n\r\nold 0\n".encode()
        )
    assert status_of(raw) == 408


@pytest.mark.parametrize(
    "body",
    [
        b"", b"old 0\n\n", b"old 0\n\nnot a note", b"old 0\n\nbad.example/log\n3\nAAAA\n\n\xe2\x80\x94 x y\n",
        b"old 0\n\nbad.example/log\n3\n" + b"A" * 43 + b"=\n\n\xe2\x80\x94 bad.example/log AAAA\n",
        b"\xff\xfe\x00garbage", b"old 0\n\n" + b"\x00" * 100,
    ],
)  # fmt: skip
async def test_malformed_notes_and_bodies_get_400(node, body):
    base, _ = node
    assert (await request(base, "POST", "/add-checkpoint", body)).status == 400


async def test_garbage_on_the_wire_and_odd_requests_get_4xx_and_the_node_lives(node):
    base, foreign = node
    host = base.removeprefix("http://")
    answers = [
        await raw_exchange(base, b"\x16\x03\x01\x02\x00garbage that is no HTTP\r\n\r\n", then_wait=2),
        await raw_exchange(base, b"GET / HTTP/1.1\r\nHost: " + host.encode() + b"\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n", then_wait=2),
        await raw_exchange(base, f"GET /tile/0/000 HTTP/1.1\r\nHost: {host}\r\nbad header line\r\n\r\n".encode(), then_wait=2),
        await raw_exchange(base, f"BREW /checkpoint HTTP/1.1\r\nHost: {host}\r\n\r\n".encode(), then_wait=2),
        await raw_exchange(base, f"GET /proof/%ff%fe HTTP/1.1\r\nHost: {host}\r\n\r\n".encode(), then_wait=2),
    ]
    for raw in answers:
        assert 400 <= status_of(raw) < 500, raw[:80]
    # Still serving everything, and still cosigning.
    assert (await request(base, "GET", "/checkpoint")).status == 200
    assert (await request(base, "GET", "/tile/entries/000.p/1")).status == 200
    assert (await request(base, "POST", "/add-checkpoint", format_add_checkpoint(0, (), foreign.note(3)))).status == 200
