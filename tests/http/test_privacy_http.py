"""The HTTP face keeps no client address: requests are counted by keyed hash, rate-limited, logged by hash.

Clients on eight loopback addresses (127.x.y.z) send good, refused and
rate-limited requests to a node logging at DEBUG; after it stops, every file
under its data directory and every log line are scanned for each address in
every form (``scripts/privacy_scan.py``'s scanner). The access events hold
one identity per address, and nothing holds an address.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import logging
from pathlib import Path

import trio

from pypi_witness.config.node import PrivacyConfig
from pypi_witness.privacy.events import PRIVACY_DIR, AccessEvents
from pypi_witness.runtime.node import run_node
from tests.http.support import http_config

ROOT = Path(__file__).resolve().parents[2]


def _scanner():
    spec = importlib.util.spec_from_file_location("privacy_scan", ROOT / "scripts" / "privacy_scan.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def _get(source: str, port: int, target: str) -> int:
    sock = trio.socket.socket()
    await sock.bind((source, 0))
    await sock.connect(("127.0.0.1", port))
    stream = trio.SocketStream(sock)
    async with stream:
        await stream.send_all(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := await stream.receive_some(1 << 16):
            answer += chunk
    return int(answer[9:12])


async def test_no_client_address_is_stored_or_logged(data_dir, caplog):
    scan = _scanner()
    addresses = scan.client_addresses(8, seed=5)
    config = http_config(data_dir)
    config = dataclasses.replace(config, privacy=PrivacyConfig(rate_per_second=1.0, rate_burst=3.0, flush_seconds=0.1))
    port = int(config.http.listen.rpartition(":")[2])
    caplog.set_level(logging.DEBUG)
    statuses: list[int] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(functools.partial(run_node, config))
        for address in addresses:
            for target in ("/checkpoint", "/tile/0/000", "/tile/nope", "/proof/none.whl", "/checkpoint"):
                statuses.append(await _get(address, port, target))
        nursery.cancel_scope.cancel()
    assert {200, 400, 404, 429} <= set(statuses)  # answered, refused, not found and rate-limited all happened
    events = AccessEvents(data_dir / PRIVACY_DIR, readonly=True)
    try:
        records = events.records()
    finally:
        events.close()
    assert len({r["identity"] for r in records}) == len(addresses)
    blobs = scan.files_under(data_dir)
    blobs["log lines"] = caplog.text.encode()
    assert scan.scan(blobs, addresses) == []
