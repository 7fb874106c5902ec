"""A node pushes its checkpoints to an HTTP witness (C2SP tlog-witness) and serves the cosignatures it gets.

Node B's HTTP face is the witness; it knows node A's log by its verifier key
only (``[[witnessing.logs]]``). Node A lists B as an HTTP witness
(``[[witnessing.witnesses]]``). A's checkpoint, over HTTP and gRPC, then
carries B's cosignature; when A's log grows, B cosigns the new checkpoint
(A proves it consistent with the size B last cosigned).
"""

from __future__ import annotations

import dataclasses
import functools

import trio

from pypi_witness.config.logs import HttpWitness, WitnessingConfig
from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint
from pypi_witness.core.tlog.log_list import ListedLog
from pypi_witness.rpc.client import LogClient
from pypi_witness.runtime.node import run_node
from pypi_witness.runtime.writer import LogWriter
from tests.factories import record
from tests.http.support import http_config, request, start_http_node
from tests.rpc.support import ORIGIN, vkey


async def test_a_node_collects_an_http_witness_cosignature(nursery, data_dir, tmp_path):
    log_key = vkey(data_dir / "log.vkey")
    b_config = http_config(
        tmp_path / "b", origin="b.test/log", witnessing=WitnessingConfig(logs=(ListedLog(log_key, ORIGIN),))
    )
    _, b_base = await start_http_node(nursery, b_config)
    b_witness = vkey(tmp_path / "b" / "witness.vkey")

    grow = trio.Event()

    async def source(writer: LogWriter) -> None:
        await grow.wait()
        await writer.append([record(10_000 + i) for i in range(5)])

    a_config = http_config(data_dir, witnessing=WitnessingConfig(witnesses=(HttpWitness("b", b_base, b_witness),)))
    a_config = dataclasses.replace(a_config, witness=dataclasses.replace(a_config.witness, retry_min_seconds=0.05))
    a_address = await nursery.start(functools.partial(run_node, a_config, sources=[source]))
    a_base = f"http://{a_config.http.listen}"

    async def cosigned_size(size: int) -> None:
        with trio.fail_after(15):
            while True:
                note = (await request(a_base, "GET", "/checkpoint")).body
                signed = open_checkpoint(note, log_key, [b_witness])  # raises if a cosignature fails
                if signed.cosignatures and signed.checkpoint.size == size:
                    return
                await trio.sleep(0.05)

    await cosigned_size(200)
    async with LogClient(a_address) as client:  # gRPC serves the same cosignatures
        signed = open_checkpoint(await client.checkpoint(), log_key, [b_witness])
        assert [c.name for c in signed.cosignatures] == [b_witness.name]
    grow.set()
    await cosigned_size(205)
