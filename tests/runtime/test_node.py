"""run_node in this process: creating and opening logs, sources, refusals, stopping under load."""

from __future__ import annotations

import dataclasses
import functools

import pytest
import trio

from pypi_witness.core.tlog import merkle
from pypi_witness.core.records.format import format_record
from pypi_witness.core.errors import ConfigError, UnavailableError
from pypi_witness.signing.log import open_log
from pypi_witness.rpc.client import LogClient
from pypi_witness.runtime.node import run_node
from pypi_witness.runtime.writer import LogWriter
from tests.rpc.support import ORIGIN, config_for, open_note, record, start_node, vkey_of


async def test_a_new_node_creates_its_log_and_closes_it_on_stop(tmp_path):
    data = tmp_path / "fresh"
    async with trio.open_nursery() as nursery:
        address = await start_node(nursery, config_for(data, origin=ORIGIN))
        async with LogClient(address) as client:
            signed = open_note(await client.checkpoint(), vkey_of(data))
        assert (signed.checkpoint.size, signed.checkpoint.root_hash) == (0, merkle.EMPTY_ROOT)
        nursery.cancel_scope.cancel()
    open_log(data).close()  # closed: this process can open it again


async def test_refusals_before_serving(tmp_path, data_dir):
    with pytest.raises(ConfigError, match="node.origin: needed to create a new log"):
        await run_node(config_for(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="has origin 'test.pypi-witness.invalid/log', not 'other/log'"):
        await run_node(config_for(data_dir, origin="other/log"))
    (data_dir / "log.key").chmod(0o644)
    with pytest.raises(ConfigError, match="accessible by others"):
        await run_node(config_for(data_dir))


async def test_a_taken_port_is_refused_naming_the_key(nursery, data_dir, tmp_path):
    address = await start_node(nursery, config_for(data_dir))
    other = config_for(tmp_path / "other", origin=ORIGIN)
    other = dataclasses.replace(other, node=dataclasses.replace(other.node, listen=address))
    with pytest.raises(ConfigError, match=f"node.listen: cannot listen on {address}"):
        await run_node(other)
    open_log(tmp_path / "other").close()  # the refused node closed its store


async def test_sources_append_and_clients_see_the_signed_growth(tmp_path):
    data = tmp_path / "node"
    appended = trio.Event()

    async def source(writer: LogWriter) -> None:
        await writer.append([record(i) for i in range(10)])
        appended.set()

    config = config_for(data, origin=ORIGIN)
    async with trio.open_nursery() as nursery:
        address = await nursery.start(functools.partial(run_node, config, sources=[source]))
        await appended.wait()
        async with LogClient(address) as client:
            with trio.fail_after(10):
                while open_note(await client.checkpoint(), vkey_of(data)).checkpoint.size != 10:
                    await trio.sleep(0.01)
            assert (await client.entries(0, 10)).leaves == tuple(format_record(record(i)) for i in range(10))
        nursery.cancel_scope.cancel()


async def test_stopping_under_load_loses_nothing(tmp_path):
    """Cancel a node while a source appends and 8 clients query; every acknowledged append survives."""
    data = tmp_path / "node"
    acked = 0
    batch = 25

    async def source(writer: LogWriter) -> None:
        nonlocal acked
        while True:
            result = await writer.append([record(i) for i in range(acked, acked + batch)])
            acked = result.new_size

    async def query(address: str) -> None:
        async with LogClient(address) as client:
            try:
                while True:
                    signed = open_note(await client.checkpoint(), vkey_of(data)).checkpoint
                    if signed.size:
                        proof = await client.inclusion_proof(signed.size - 1, signed.size)
                        merkle.verify_inclusion(
                            merkle.leaf_hash(proof.leaf), proof.index, signed.size, proof.proof, signed.root_hash
                        )
            except UnavailableError:
                pass  # the node stopped serving: expected

    config = config_for(data, origin=ORIGIN)
    async with trio.open_nursery() as nursery:
        address = await nursery.start(functools.partial(run_node, config, sources=[source]))
        for _ in range(8):
            nursery.start_soon(query, address)
        with trio.fail_after(20):
            while acked < 500:
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    log = open_log(data, readonly=True)
    try:
        size = log.store.size()
        assert size >= acked
        assert log.checkpoint().checkpoint.size == size  # signed through the last commit
        assert log.entries(0, size) == [format_record(record(i)) for i in range(size)]
    finally:
        log.close()


def test_the_gossip_reads_the_checkpoint_through_store_failures(data_dir, caplog):
    """A store that fails a read (as with every reader slot taken) gives the gossip nothing this round,
    instead of an error that would end the node."""
    from pypi_witness.core.errors import StoreError
    from pypi_witness.runtime.node import _stored_checkpoint

    log = open_log(data_dir, readonly=True)
    try:
        assert _stored_checkpoint(log) == log.store.checkpoint()
        real = log.store.checkpoint
        log.store.checkpoint = lambda: (_ for _ in ()).throw(StoreError("every reader slot is taken"))
        assert _stored_checkpoint(log) is None
        assert "cannot read the log's checkpoint now: every reader slot is taken" in caplog.text
        log.store.checkpoint = real
    finally:
        log.close()
