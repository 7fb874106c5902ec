"""The node's one writer: order, errors, cancellation and stopping."""

from __future__ import annotations

import threading

import pytest
import trio

from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint
from pypi_witness.core.records.format import format_record
from pypi_witness.core.errors import RecordError, RollbackError, StoreFullError, UnavailableError
from pypi_witness.signing.keys import read_signer
from pypi_witness.signing.log import PRIVATE_KEY_FILE, Log, init_log
from pypi_witness.runtime.writer import LogWriter
from tests.rpc.support import ORIGIN, record


class GatedStore:
    """Delegates to a real store; an append blocks while ``gate`` is clear (if gated)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.append_threads: list[int] = []

    def append(self, records, state=None):
        self.append_threads.append(threading.get_ident())
        self.entered.set()
        assert self.gate.wait(10)
        return self.inner.append(records, state)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture
def log(tmp_path):
    plain = init_log(tmp_path / "node", ORIGIN)
    gated = Log(GatedStore(plain.store), plain.verifier, read_signer(tmp_path / "node" / PRIVATE_KEY_FILE))
    yield gated
    gated.close()


def signed_size(log: Log) -> int:
    return open_checkpoint(log.store.checkpoint(), log.verifier).checkpoint.size


async def wait_for(event: threading.Event) -> None:
    with trio.fail_after(10):
        while not event.is_set():
            await trio.sleep(0.005)


async def test_appends_run_in_order_and_the_durable_size_gets_signed(log):
    async with trio.open_nursery() as nursery:
        writer = LogWriter(log, queue_size=2)
        await nursery.start(writer.run)
        results = [await writer.append([record(i), record(i + 1)]) for i in range(0, 10, 2)]
        assert [(r.old_size, r.new_size) for r in results] == [(i, i + 2) for i in range(0, 10, 2)]
        with trio.fail_after(10):
            while signed_size(log) != 10:  # signed once the queue is empty
                await trio.sleep(0.005)
        assert (await writer.publish()).checkpoint.size == 10
        nursery.cancel_scope.cancel()
    assert log.entries(0, 10) == [format_record(record(i)) for i in range(10)]


async def test_a_failed_append_is_its_callers_error_and_the_writer_goes_on(log):
    async with trio.open_nursery() as nursery:
        writer = LogWriter(log, queue_size=2)
        await nursery.start(writer.run)
        with pytest.raises(RecordError):
            await writer.append([object()])  # type: ignore[list-item]
        assert (await writer.append([record(1)])).new_size == 1
        nursery.cancel_scope.cancel()


async def test_a_cancelled_append_still_queued_is_not_written(log):
    async with trio.open_nursery() as nursery:
        writer = LogWriter(log, queue_size=4)
        await nursery.start(writer.run)
        log.store.gate.clear()
        nursery.start_soon(writer.append, [record(0)])
        await wait_for(log.store.entered)  # the first batch is being written, and blocks
        with trio.move_on_after(0.05) as scope:
            await writer.append([record(1)])  # queued behind it, then cancelled
        assert scope.cancelled_caught
        log.store.gate.set()
        assert (await writer.append([record(2)])).new_size == 2
        nursery.cancel_scope.cancel()
    assert log.entries(0, 2) == [format_record(record(0)), format_record(record(2))]


async def test_stopping_commits_the_running_write_refuses_queued_ones_and_signs(log):
    outcomes: dict[str, object] = {}

    async def append(name: str, records) -> None:
        try:
            outcomes[name] = (await writer.append(records)).new_size
        except UnavailableError as e:
            outcomes[name] = e

    writer = LogWriter(log, queue_size=4)
    writer_scope = trio.CancelScope()

    async def run_writer(task_status=trio.TASK_STATUS_IGNORED) -> None:
        with writer_scope:
            await writer.run(task_status=task_status)

    async with trio.open_nursery() as nursery:
        await nursery.start(run_writer)
        log.store.gate.clear()
        nursery.start_soon(append, "running", [record(0)])
        await wait_for(log.store.entered)
        nursery.start_soon(append, "queued", [record(1)])
        await trio.sleep(0.05)
        writer_scope.cancel()  # stop the writer (as the node's nursery does) mid-write
        await trio.sleep(0.05)
        log.store.gate.set()
    assert outcomes["running"] == 1  # it committed, and its caller was told
    assert isinstance(outcomes["queued"], UnavailableError)  # it never began
    assert log.store.size() == 1
    assert signed_size(log) == 1  # the final checkpoint covers every commit
    with pytest.raises(UnavailableError, match="writer has stopped"):
        await writer.append([record(2)])


async def test_every_write_of_one_job_happens_in_one_thread(log):
    async with trio.open_nursery() as nursery:
        writer = LogWriter(log, queue_size=1)
        await nursery.start(writer.run)
        for i in range(5):
            await writer.append([record(i)])
        nursery.cancel_scope.cancel()
    # Each job ran whole in a worker thread (never in the trio thread).
    assert threading.get_ident() not in log.store.append_threads


async def test_write_failures_are_reported_until_writes_work_again_and_the_writer_goes_on(log):
    """A full disk, or a signing the gate refuses: the submitter's error, ``write_failure`` and
    ``on_health`` say why, and the next write that works clears it."""
    health: list[str | None] = []
    full, refusing = [True], [False]
    store, gate = log.store.inner, log._gate
    append, sign = store.append, gate.sign

    def append_unless_full(records, state=None):
        if full[0]:
            raise StoreFullError("cannot append to the store at /x: no space left on device")
        return append(records, state)

    def sign_unless_refusing(s):
        if refusing[0]:
            raise RollbackError("refusing to sign: the log holds 0 entries", signed_size=9, store_size=0)
        return sign(s)

    store.append, gate.sign = append_unless_full, sign_unless_refusing
    async with trio.open_nursery() as nursery:
        writer = LogWriter(log, queue_size=2, on_health=health.append)
        await nursery.start(writer.run)
        assert writer.write_failure is None
        with pytest.raises(StoreFullError):
            await writer.append([record(0)])
        assert writer.write_failure == "cannot append to the log: cannot append to the store at /x: no space left on device"
        assert health == [writer.write_failure]
        full[0] = False
        with pytest.raises(RecordError):
            await writer.append([object()])  # the caller's mistake says nothing about the disk
        assert health == [writer.write_failure] and writer.write_failure is not None
        refusing[0] = True
        assert (await writer.append([record(0)])).new_size == 1  # written, but it cannot be signed
        with pytest.raises(RollbackError):
            await writer.publish()
        assert writer.write_failure == "cannot sign the log: refusing to sign: the log holds 0 entries"
        refusing[0] = False
        assert (await writer.publish()).checkpoint.size == 1
        assert writer.write_failure is None and health[-1] is None
        nursery.cancel_scope.cancel()
