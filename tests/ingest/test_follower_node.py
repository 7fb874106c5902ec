"""A node with ``[index]`` follows the fake index, and a hostile index never stops it serving."""

from __future__ import annotations

import dataclasses
import logging

import grpc
import pytest
import trio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from pypi_witness.config.node import IndexConfig
from pypi_witness.core.errors import ConfigError
from pypi_witness.signing.log import init_log
from pypi_witness.rpc.bridge import call_unary
from pypi_witness.rpc.client import LogClient
from pypi_witness.runtime.node import WRITES_SERVICE
from tests.ingest.conftest import ORIGIN
from tests.rpc.support import config_for, open_note, start_node, vkey_of
from tests.small_disk import fill, small_filesystem

def node_config(tmp_path, url: str):
    data = tmp_path / "node"
    init_log(data, ORIGIN).close()
    settings = IndexConfig(url=url, poll_seconds=0.2, requests_per_second=0, backoff_max_seconds=0.05, max_attempts=2)
    return data, dataclasses.replace(config_for(data), index=settings)


async def served_size(address: str, vkey: str) -> int:
    async with LogClient(address) as client:
        return open_note(await client.checkpoint(), vkey).checkpoint.size


async def test_a_node_follows_its_index_and_serves_what_it_logged(tmp_path, fake):
    data, config = node_config(tmp_path, fake.url)
    async with trio.open_nursery() as nursery:
        address = await start_node(nursery, config)
        with trio.fail_after(30):
            while await served_size(address, vkey_of(data)) < fake.index.file_count():
                await trio.sleep(0.1)
        async with LogClient(address) as client:
            (result,) = (await client.lookup(fake.index.live_filenames()[0])).results
            assert result.entries
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("on", ["xmlrpc", "json"])
async def test_a_hostile_index_never_stops_the_node(tmp_path, fake, caplog, on):
    fake.set_attacks(hostile="bad_json", hostile_on=[on])
    data, config = node_config(tmp_path, fake.url)
    caplog.set_level(logging.INFO)
    async with trio.open_nursery() as nursery:
        address = await start_node(nursery, config)
        wanted = "ALARM bad-response poll" if on == "xmlrpc" else "ALARM bad-response"
        with trio.fail_after(30):
            while caplog.text.count(wanted) < 2:  # two polls at least
                await trio.sleep(0.05)
        size = await served_size(address, vkey_of(data))  # the node still answers
        nursery.cancel_scope.cancel()
    if on == "xmlrpc":
        assert size == 0  # nothing could be read, nothing was logged
    assert "Traceback" not in caplog.text


async def test_a_node_refuses_to_follow_another_index_than_its_log(tmp_path, fake):
    data, config = node_config(tmp_path, fake.url)
    async with trio.open_nursery() as nursery:
        address = await start_node(nursery, config)
        with trio.fail_after(30):
            while await served_size(address, vkey_of(data)) == 0:
                await trio.sleep(0.1)
        nursery.cancel_scope.cancel()
    other = dataclasses.replace(config, index=dataclasses.replace(config.index, url="http://127.0.0.1:9/elsewhere"))
    with pytest.RaisesGroup(pytest.RaisesExc(ConfigError, match="this log follows")):
        async with trio.open_nursery() as nursery:
            await start_node(nursery, other)


async def writes_health(address: str) -> int:
    channel = grpc.insecure_channel(address)
    try:
        request = health_pb2.HealthCheckRequest(service=WRITES_SERVICE)
        return (await call_unary(health_pb2_grpc.HealthStub(channel).Check, request)).status
    finally:
        channel.close()


async def test_a_following_node_on_a_full_disk_keeps_serving_reads_and_says_writes_fail(tmp_path, fake, caplog):
    caplog.set_level(logging.INFO)
    with small_filesystem(tmp_path / "fs", 4096) as fs:
        data, config = node_config(fs, fake.url)
        async with trio.open_nursery() as nursery:  # once without the index: every store of the node made
            await start_node(nursery, dataclasses.replace(config, index=IndexConfig()))
            nursery.cancel_scope.cancel()
        filler = fill(fs, leave=32 << 10)
        async with trio.open_nursery() as nursery:
            address = await start_node(nursery, config)
            with trio.fail_after(30):
                while await writes_health(address) != health_pb2.HealthCheckResponse.NOT_SERVING:
                    await trio.sleep(0.05)
            assert "no space left on device" in caplog.text
            assert await served_size(address, vkey_of(data)) == 0  # reads are served
            filler.unlink()
            with trio.fail_after(30):
                while await served_size(address, vkey_of(data)) < fake.index.file_count():
                    await trio.sleep(0.1)
                while await writes_health(address) != health_pb2.HealthCheckResponse.SERVING:
                    await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
    assert "Traceback" not in caplog.text
