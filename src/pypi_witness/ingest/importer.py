"""Backfill: append a JSON Lines file of BigQuery-shaped file records to a log.

The stream is cut into blocks of whole lines. Worker processes (spawned, never
forked: DESIGN §5) parse each block into leaves and do the stateless part of
appending them (the store's ``prepare_leaf``: hashing, encoding), while this
process appends them to the store in batches of one write transaction each; at most
``BLOCKS_IN_FLIGHT`` blocks are in flight, so memory stays bounded whatever the
input's size. With ``workers=0`` everything runs in this process.

A malformed line stops the import with its line number; nothing of its batch
is committed (earlier batches are). One checkpoint is signed at the end, after
the last commit.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

from pypi_witness.core.checkpoint import SignedCheckpoint
from pypi_witness.core.records import format_record
from pypi_witness.ingest.bigquery import parse_line
from pypi_witness.log import Log

# Records per write transaction: large enough that the commit's fsync is noise,
# small enough that a batch stays a few tens of MB.
DEFAULT_BATCH_SIZE = 50_000
# Bytes per block handed to a worker: big enough to amortize the hand-over,
# small enough to keep every worker busy and memory flat.
BLOCK_BYTES = 1 << 20
# Blocks handed out and not yet appended: enough queued work to keep the
# workers busy while this process commits a batch, and a bound on memory.
BLOCKS_IN_FLIGHT = 24
# Below this many bytes, starting worker processes costs more than it saves.
PARALLEL_THRESHOLD = 8 << 20


@dataclass(frozen=True, slots=True)
class ImportResult:
    lines: int
    appended: int
    duplicates: int
    conflicts: int
    checkpoint: SignedCheckpoint


def parse_block(first_line: int, block: bytes, prepare: Callable[[bytes, str | None], object]) -> list[object]:
    """The prepared leaves of a block of whole JSON Lines lines; blank lines are skipped.

    ``prepare`` is the store's ``prepare_leaf``. Raises RecordError ``line N:
    ...`` for the first malformed line.
    """
    prepared: list[object] = []
    for lineno, line in enumerate(block.splitlines(), first_line):
        if line and not line.isspace():
            record = parse_line(line, lineno)
            prepared.append(prepare(format_record(record), record.filename))
    return prepared


def _blocks(stream: IO[bytes]) -> Iterator[tuple[int, bytes, int]]:
    """(first line number, block of whole lines, bytes read so far) for the stream."""
    lineno, carry, read = 1, b"", 0
    while True:
        chunk = stream.read(BLOCK_BYTES)
        read += len(chunk)
        if not chunk:
            if carry:
                yield lineno, carry, read
            return
        data = carry + chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            carry = data
            continue
        block, carry = data[:cut], data[cut:]
        yield lineno, block, read
        lineno += block.count(b"\n")


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: an import makes millions of acyclic
    objects, and the collector would scan the batch held in memory again and
    again (about 15 % of the time). Reference counting still frees everything."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def default_workers(size_hint: int | None) -> int:
    """Worker processes for an input of ``size_hint`` bytes (None: unknown, e.g. a pipe)."""
    if size_hint is not None and size_hint < PARALLEL_THRESHOLD:
        return 0
    return os.cpu_count() or 1


def _parsed(
    stream: IO[bytes], workers: int, prepare: Callable[[bytes, str | None], object]
) -> Iterator[tuple[list[object], int, int]]:
    """(prepared leaves, lines, bytes read so far) per block, in order: here or in workers."""
    if workers <= 0:
        for first, block, read in _blocks(stream):
            yield parse_block(first, block, prepare), block.count(b"\n"), read
        return
    with multiprocessing.get_context("spawn").Pool(workers, initializer=gc.disable) as pool:
        pending: deque = deque()
        for first, block, read in _blocks(stream):
            pending.append((pool.apply_async(parse_block, (first, block, prepare)), block.count(b"\n"), read))
            if len(pending) >= max(BLOCKS_IN_FLIGHT, 2 * workers):
                job, lines, done = pending.popleft()
                yield job.get(), lines, done
        while pending:
            job, lines, done = pending.popleft()
            yield job.get(), lines, done


def import_jsonl(
    log: Log,
    stream: IO[bytes],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Append every record of ``stream`` to ``log`` and sign one checkpoint at the end.

    ``progress(lines_read, bytes_read)`` is called after each committed batch.
    Raises RecordError (``line N: ...``) at the first malformed line, after
    committing the batches before its own; StoreError if the store fails.
    """
    counts = {"appended": 0, "duplicates": 0, "conflicts": 0}
    batch: list[object] = []

    def commit() -> None:
        result = log.store.append_prepared(batch)
        counts["appended"] += result.appended
        counts["duplicates"] += result.duplicates
        counts["conflicts"] += len(result.conflicts)
        batch.clear()

    lines = read = 0
    with _cyclic_gc_paused():
        for prepared, block_lines, read in _parsed(stream, workers, log.store.prepare_leaf):
            batch.extend(prepared)
            lines += block_lines
            if len(batch) >= batch_size:
                commit()
                if progress is not None:
                    progress(lines, read)
        commit()
    if progress is not None:
        progress(lines, read)
    return ImportResult(lines, **counts, checkpoint=log.publish())
