"""The follower's place in a process: its sink into the log, and ``pypi-witness follow``.

In a node, ``run_node`` starts a ``Follower`` in its nursery when ``[index]``
names a URL. ``follow`` runs one alone on a data directory (no gRPC server):
once (``--once``: catch up, audit, stop) or until interrupted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import trio

from pypi_witness.config.node import IndexConfig, LimitsConfig
from pypi_witness.core.errors import WitnessError
from pypi_witness.core.records.format import Record
from pypi_witness.ingest.follower import Follower, FollowerStatus
from pypi_witness.signing.log import Log, open_log
from pypi_witness.runtime.writer import LogWriter
from pypi_witness.store.base import AppendResult

logger = logging.getLogger("pypi_witness.runtime")


class LogSink:
    """Appends through the log's one writer; reads in a worker thread."""

    def __init__(self, log: Log, writer: LogWriter) -> None:
        self.log = log
        self.writer = writer

    async def append(self, records: Sequence[Record], state: Mapping[str, bytes]) -> AppendResult:
        return await self.writer.append(records, state)

    async def read(self, fn: Callable[[Any], Any]) -> Any:
        return await trio.to_thread.run_sync(fn, self.log.store)


async def follow(data_dir: Path, settings: IndexConfig, *, once: bool, progress: bool) -> FollowerStatus:
    """Follow ``settings.url`` into the log in ``data_dir``; return the follower's status.

    Raises ConfigError / StoreError if the log cannot be opened or follows
    another index; with ``once``, UnavailableError or IndexResponseError if
    the index cannot be read after every retry.
    """
    log = open_log(data_dir)
    try:
        return await _follow(log, settings, once=once, progress=progress)
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1 and isinstance(group.exceptions[0], WitnessError):
            raise group.exceptions[0] from None
        raise
    finally:
        log.close()


TAMPERING = frozenset({"swap", "resurrect", "late-file", "bad-path", "bad-bytes"})
"""The alarm kinds that are evidence of tampering (the rest are about availability)."""


async def _follow(log: Log, settings: IndexConfig, *, once: bool, progress: bool) -> FollowerStatus:
    async with trio.open_nursery() as nursery:
        writer = LogWriter(log, LimitsConfig().writer_queue)
        await nursery.start(writer.run)
        follower = Follower(settings, LogSink(log, writer), progress=progress)
        if once:
            await follower.poll()
        else:
            await nursery.start(follower.run)
            await trio.sleep_forever()
        nursery.cancel_scope.cancel()
    return follower.status
