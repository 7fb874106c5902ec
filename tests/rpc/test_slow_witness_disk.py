"""A slow disk under the witness state never holds up reads: writes wait in bounded number.

The witness state's writes are held (an Event stands in for a 300 ms fsync
that never ends) while 8 AddCheckpoint calls arrive, more than the 3 write
threads (``limits.witness_writes``) and the 4 read threads together;
GetCheckpoint must still be answered while they wait, and the writes beyond
their share are told RESOURCE_EXHAUSTED at once.
"""

from __future__ import annotations

import functools
import threading

import trio
from grpc_health.v1 import health

from pypi_witness.core.tlog.witness import WitnessState, logs_by_origin
from pypi_witness.core.errors import ConflictError, OverloadedError
from pypi_witness.signing.log import open_log
from pypi_witness.rpc.client import LogClient
from pypi_witness.rpc.witness_client import WitnessClient
from pypi_witness.runtime.node import serve_grpc
from pypi_witness.store.witness_state import MemoryWitnessState
from pypi_witness.signing.witness import Witness, new_witness_signer
from tests.core.tlog.test_witness import LOG, TREE
from tests.rpc.support import config_for


class HeldDisk(MemoryWitnessState):
    """Every write waits for ``release`` (a disk whose fsync does not return); counts the writers waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.waiting = 0
        self._count = threading.Lock()

    def compare_and_swap(self, origin: str, expected: WitnessState | None, new: WitnessState) -> None:
        with self._count:
            self.waiting += 1
        self.release.wait()
        super().compare_and_swap(origin, expected, new)


async def test_reads_are_answered_while_every_witness_write_waits_on_the_disk(data_dir):
    config = config_for(data_dir, witness_writes=3)
    limit = config.limits.witness_writes
    disk = HeldDisk()
    witness = Witness(disk, new_witness_signer("me.example/witness"), logs_by_origin([LOG.verifier()]))
    log = open_log(data_dir)
    outcomes: list[str] = []

    async def add(size: int) -> None:
        async with WitnessClient(address) as client:
            try:
                await client.add_checkpoint(0, (), TREE.note(size))
                outcomes.append("cosigned")
            except OverloadedError:
                outcomes.append("busy")
            except ConflictError:
                outcomes.append("conflict")

    try:
        async with trio.open_nursery() as nursery:
            serve = functools.partial(serve_grpc, config, log, health.HealthServicer(), witness=witness)
            address = await nursery.start(serve)
            async with trio.open_nursery() as writers:
                for size in range(1, 9):
                    writers.start_soon(add, size)
                with trio.fail_after(20):  # a hang guard, not a timing bound
                    while disk.waiting < limit or len(outcomes) < 8 - limit:
                        await trio.sleep(0.01)
                    # Every write the node admitted is waiting on the disk: a read is answered all the same.
                    async with LogClient(address) as reader:
                        for _ in range(20):
                            await reader.checkpoint()
                assert disk.waiting == limit and outcomes == ["busy"] * (8 - limit)
                disk.release.set()
            nursery.cancel_scope.cancel()
    finally:
        disk.release.set()
        log.close()
    # Of the writes that waited, the first won; the others were decided again and lost the race.
    assert sorted(outcomes) == sorted(["busy"] * (8 - limit) + ["cosigned"] + ["conflict"] * (limit - 1))
