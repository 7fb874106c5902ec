"""600 reader processes killed mid-read: more than the store's 512 reader slots, and the node keeps serving."""

from __future__ import annotations

import sys

import grpc
import trio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from pypi_witness.core.records.format import parse_record
from pypi_witness.signing.log import STORE_DIR
from pypi_witness.rpc.bridge import call_unary
from pypi_witness.rpc.client import LogClient
from pypi_witness.store.lmdb_store import DEFAULT_MAX_READERS
from tests.rpc.support import config_for, sample_leaves, start_node
from tests.store.test_readers import DYING_READERS

READERS = 600


async def test_readers_killed_mid_read_never_stop_the_node(nursery, data_dir):
    assert READERS > DEFAULT_MAX_READERS  # only reclaiming their slots lets them all read
    address = await start_node(nursery, config_for(data_dir, reader_check_seconds=0.2))
    filename = parse_record(sample_leaves()[7]).filename
    done = trio.Event()
    answered = 0

    async def ask() -> None:
        nonlocal answered
        async with LogClient(address) as client:
            while not done.is_set():
                await client.checkpoint()
                (result,) = (await client.lookup(filename)).results
                assert [e.index for e in result.entries] == [7]
                await client.inclusion_proof(7, 100)
                answered += 1
                await trio.sleep(0.01)

    nursery.start_soon(ask)
    with trio.fail_after(100):
        killer = await trio.run_process(
            [sys.executable, str(DYING_READERS), str(data_dir / STORE_DIR), str(READERS), "50",
             str(DEFAULT_MAX_READERS), "wait"],
            capture_stdout=True, capture_stderr=True, check=False,
        )  # fmt: skip
    done.set()
    assert killer.returncode == 0, killer.stderr.decode()
    _, killed, _, _full = killer.stdout.decode().split()
    assert int(killed) == READERS
    assert answered > 0
    async with LogClient(address) as client:
        assert await client.checkpoint()
    channel = grpc.insecure_channel(address)
    try:
        reply = await call_unary(health_pb2_grpc.HealthStub(channel).Check, health_pb2.HealthCheckRequest(service=""))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        channel.close()
