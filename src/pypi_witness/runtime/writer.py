"""The node's one writer: every write to the log, one at a time, in order, from one task.

DESIGN §5: LMDB has one writer, and a write transaction begins and commits in
the same thread. Each job (an append, or signing a checkpoint) runs whole in
one worker thread, so its transaction begins and commits there, and the writer
task runs one job at a time. After a job, when no other job is waiting, the
writer signs a checkpoint for the durable size (``Log.publish`` signs only what
is committed), so the published checkpoint follows the log closely without
signing once per batch under load.

Stopping (the writer's task cancelled): a job already running finishes in its
thread, so its transaction commits or rolls back whole, never half; jobs still
queued are refused with UnavailableError (nothing of them was written); a
final checkpoint is signed for everything durable. Nothing acknowledged is
lost: ``append`` returns only after its commit.

A write that fails for the store's sake (StoreError: a full disk, an I/O
error, damage, the signing gate refusing) is its submitter's error, and the
writer goes on: the node keeps serving reads. ``write_failure`` says why the
latest append or signing failed, until each has succeeded again, and
``on_health`` hears every change of it (the node reports it as the health of
``WRITES_SERVICE``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import trio

from pypi_witness.core.tlog.signed_checkpoint import SignedCheckpoint
from pypi_witness.core.records.format import Record
from pypi_witness.core.errors import StoreError, UnavailableError, WitnessError
from pypi_witness.signing.log import Log
from pypi_witness.store.base import AppendResult

logger = logging.getLogger("pypi_witness.runtime")


class _Job:
    """One write: ``fn`` run in a worker thread; its result or error, once done."""

    def __init__(self, fn: Callable[[], Any], kind: str) -> None:
        self.fn = fn
        self.kind = kind  # "append" or "sign"
        self.started = False
        self.abandoned = False
        self.done = trio.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:  # in the worker thread
        try:
            self.result = self.fn()
        except Exception as e:  # handed to the submitter
            self.error = e


class LogWriter:
    """The only writer of ``log`` while the node runs; at most ``queue_size`` jobs wait.

    Start ``run`` in the node's nursery (``await nursery.start(writer.run)``)
    before submitting work. ``on_health(failure)`` is called, in the writer's
    task, whenever ``write_failure`` changes.
    """

    def __init__(self, log: Log, queue_size: int, *, on_health: Callable[[str | None], None] | None = None) -> None:
        self._log = log
        self._send, self._receive = trio.open_memory_channel[_Job](queue_size)
        self._on_health = on_health
        self._failures: dict[str, str] = {}  # job kind -> why its latest run failed

    @property
    def write_failure(self) -> str | None:
        """Why the latest append or signing failed for the store's sake; None once both work again."""
        return "; ".join(self._failures.values()) or None

    def _record(self, kind: str, error: BaseException | None) -> None:
        """Note how a job of ``kind`` ended; tell ``on_health`` if that changes ``write_failure``."""
        before = self.write_failure
        if isinstance(error, StoreError):
            self._failures[kind] = f"cannot {'append to' if kind == 'append' else 'sign'} the log: {error}"
        elif error is None:
            self._failures.pop(kind, None)
        after = self.write_failure
        if after != before:
            if after is None:
                logger.warning("writes work again")
            else:
                logger.error("writes fail; the node serves reads only: %s", after)
            if self._on_health is not None:
                self._on_health(after)

    async def append(self, records: Sequence[Record], state: Mapping[str, bytes] | None = None) -> AppendResult:
        """Append ``records`` durably (store.base's append rules) and return what was done.

        Waits while the queue is full. Returns after the commit. Raises
        RecordError or StoreError from the append (nothing of it written), and
        UnavailableError if the writer has stopped (nothing written). If the
        caller is cancelled, a batch still queued is dropped; one already
        being written completes in the writer (durable, but not reported).
        """
        batch, saved = tuple(records), dict(state or {})
        return await self._submit(lambda: self._log.append(batch, saved), "append")

    async def publish(self) -> SignedCheckpoint:
        """Sign a checkpoint for the durable size now (or return the stored one if current).

        Raises StoreError if the store fails, UnavailableError if the writer has stopped.
        """
        return await self._submit(self._log.publish, "sign")

    async def _submit(self, fn: Callable[[], Any], kind: str) -> Any:
        job = _Job(fn, kind)
        try:
            await self._send.send(job)
        except trio.BrokenResourceError:
            raise UnavailableError("the log's writer has stopped") from None
        try:
            await job.done.wait()
        except trio.Cancelled:
            job.abandoned = True  # the writer skips it unless it has started already
            raise
        if job.error is not None:
            raise job.error
        return job.result

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run jobs until cancelled; then stop as the module docstring says."""
        task_status.started()
        try:
            async for job in self._receive:
                if job.abandoned:
                    continue
                job.started = True
                # Not abandoned on cancel: a stopping node waits for the commit.
                await trio.to_thread.run_sync(job.run)
                self._record(job.kind, job.error)
                job.done.set()
                if self._receive.statistics().current_buffer_used == 0:
                    await self._publish()  # a no-op after a publish job
        finally:
            with trio.CancelScope(shield=True):
                self._refuse_queued()
                await self._publish()

    def _refuse_queued(self) -> None:
        """Fail every job still queued and close the queue (no await: atomic in trio)."""
        while True:
            try:
                job = self._receive.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
            job.error = UnavailableError("the node is stopping; nothing of this write was made")
            job.done.set()
        self._receive.close()

    async def _publish(self) -> None:
        """Sign the durable size; a failure is logged (the next publish retries)."""
        try:
            await trio.to_thread.run_sync(self._log.publish)
        except WitnessError as e:
            logger.error("cannot sign a checkpoint: %s", e)
            self._record("sign", e)
        else:
            self._record("sign", None)
