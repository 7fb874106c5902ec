"""Backfill: append a JSON Lines file of BigQuery-shaped file records to a log.

The input is cut into blocks of whole lines. Worker processes (spawned, never
forked: DESIGN §5) parse each block into leaves and do the stateless part of
appending them (the store's ``prepare_leaf``: hashing, encoding), while this
process appends them to the store in batches of one write transaction each. A
regular file is read by the workers themselves, each its own byte range (a
range holds the lines that begin in it); a pipe is read here and its blocks
handed over. At most ``BLOCKS_IN_FLIGHT`` blocks are in flight, so memory stays
bounded whatever the input's size. With ``workers=0`` everything runs in this
process.

A malformed line stops the import with its line number; nothing of its batch
is committed (earlier batches are). One checkpoint is signed at the end, after
the last commit.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

from pypi_witness.core.tlog.signed_checkpoint import SignedCheckpoint
from pypi_witness.core.records.format import format_record
from pypi_witness.ingest.bigquery import parse_line
from pypi_witness.core.errors import RecordError
from pypi_witness.signing.log import Log

# Records per write transaction: large enough that the commit's fsync is noise,
# small enough to bound memory: a batch and LMDB's dirty pages of its
# transaction (at most about one 4 KiB name-index page a record, whatever the
# log's size) live in this process until the commit.
DEFAULT_BATCH_SIZE = 20_000
# Bytes per block handed to a worker: big enough to amortize the hand-over,
# small enough to keep every worker busy and memory flat.
BLOCK_BYTES = 2 << 20
# Blocks handed out and not yet appended: enough queued work to keep the
# workers busy while this process commits a batch, and a bound on memory.
BLOCKS_IN_FLIGHT = 8
# Below this many bytes, starting worker processes costs more than it saves.
PARALLEL_THRESHOLD = 8 << 20


@dataclass(frozen=True, slots=True)
class ImportResult:
    lines: int
    appended: int
    duplicates: int
    conflicts: int
    checkpoint: SignedCheckpoint


@dataclass(frozen=True, slots=True)
class ParsedBlock:
    """A block's prepared leaves and line count; ``bad_line`` > 0 locates its first bad line.

    Workers do not know where their block starts, so a bad line is reported by
    its position in the block and its bytes; the importer parses it again with
    its real line number to raise the error.
    """

    prepared: list[object]
    lines: int
    bad_line: int = 0
    bad_text: bytes = b""


def parse_block(block: bytes, prepare: Callable[[bytes, str | None], object]) -> ParsedBlock:
    """Parse a block of whole JSON Lines lines; blank lines are skipped.

    ``prepare`` is the store's ``prepare_leaf``. Stops at the first malformed line.
    """
    prepared: list[object] = []
    lines = block.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    for position, line in enumerate(lines, 1):
        if line and not line.isspace():
            try:
                record = parse_line(line, position)
            except RecordError:
                return ParsedBlock(prepared, len(lines), position, line)
            prepared.append(prepare(format_record(record), record.filename))
    return ParsedBlock(prepared, len(lines))


def parse_range(path: str, start: int, end: int, prepare: Callable[[bytes, str | None], object]) -> ParsedBlock:
    """Parse the lines of file ``path`` that begin at a byte offset in [start, end)."""
    with open(path, "rb") as f:
        if start > 0:
            f.seek(start - 1)
            f.readline()  # the line that began before ``start`` is the previous range's
            start = f.tell()
        if start >= end:
            return ParsedBlock([], 0)
        block = f.read(end - start)
        if not block.endswith(b"\n"):
            block += f.readline()  # finish the last line that begins in the range
    return parse_block(block, prepare)


def _blocks(stream: IO[bytes]) -> Iterator[bytes]:
    """Blocks of whole lines (the last may lack its newline) of about BLOCK_BYTES."""
    carry = b""
    while chunk := stream.read(BLOCK_BYTES):
        data = carry + chunk
        cut = data.rfind(b"\n") + 1
        block, carry = data[:cut], data[cut:]
        if block:
            yield block
    if carry:
        yield carry


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


def _regular_file(stream: IO[bytes]) -> str | None:
    """The path of ``stream`` if it is a regular file read from its start, else None."""
    name = getattr(stream, "name", None)
    try:
        if isinstance(name, str) and stream.tell() == 0 and os.path.isfile(name):
            return name
    except (OSError, ValueError):
        pass
    return None


def _worker_init() -> None:
    """In each worker: Ctrl-C is the main process's to handle (it stops the pool), and no cyclic GC."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.disable()


@contextlib.contextmanager
def _children_ignore_sigint() -> Iterator[None]:
    """Start processes with Ctrl-C ignored from their first instruction.

    A spawned worker runs ``_worker_init`` only after importing this package; a
    Ctrl-C in between would print its traceback. An ignored signal stays ignored
    across exec and Python keeps it so, which closes that window.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def default_workers(size_hint: int | None) -> int:
    """Worker processes for an input of ``size_hint`` bytes (None: unknown, e.g. a pipe)."""
    if size_hint is not None and size_hint < PARALLEL_THRESHOLD:
        return 0
    return os.cpu_count() or 1


def _jobs(
    stream: IO[bytes], path: str | None, prepare: Callable[[bytes, str | None], object]
) -> Iterator[tuple[Callable[..., ParsedBlock], tuple, int]]:
    """(function, arguments, bytes read when done) for every block, in order."""
    if path is not None:
        size = os.path.getsize(path)
        for start in range(0, size, BLOCK_BYTES):
            end = min(start + BLOCK_BYTES, size)
            yield parse_range, (path, start, end, prepare), end
        return
    read = 0
    for block in _blocks(stream):
        read += len(block)
        yield parse_block, (block, prepare), read


def _parsed(
    stream: IO[bytes], path: str | None, workers: int, prepare: Callable[[bytes, str | None], object]
) -> Iterator[tuple[ParsedBlock, int]]:
    """(parsed block, bytes read so far) per block, in order: here or in worker processes."""
    jobs = _jobs(stream, path, prepare)
    if workers <= 0:
        for function, args, read in jobs:
            yield function(*args), read
        return
    with _children_ignore_sigint():
        pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_worker_init)
    with pool:
        pending: deque = deque()
        for function, args, read in jobs:
            pending.append((pool.apply_async(function, args), read))
            if len(pending) >= max(BLOCKS_IN_FLIGHT, 2 * workers):
                job, done = pending.popleft()
                yield job.get(), done
        while pending:
            job, done = pending.popleft()
            yield job.get(), done


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

    def commit(count: int) -> None:
        result = log.store.append_prepared(batch[:count])
        counts["appended"] += result.appended
        counts["duplicates"] += result.duplicates
        counts["conflicts"] += len(result.conflicts)
        del batch[:count]

    lines = read = 0
    path = _regular_file(stream)
    with _cyclic_gc_paused():
        for parsed, read in _parsed(stream, path, workers, log.store.prepare_leaf):
            batch.extend(parsed.prepared)  # the records before a bad line, if there is one
            while len(batch) >= batch_size:
                commit(batch_size)
                if progress is not None:
                    progress(lines + parsed.lines, read)
            if parsed.bad_line:
                parse_line(parsed.bad_text, lines + parsed.bad_line)  # raises, with the real line number
                raise AssertionError("a line refused in a worker parsed here")
            lines += parsed.lines
        commit(len(batch))
    if progress is not None:
        progress(lines, read)
    return ImportResult(lines, **counts, checkpoint=log.publish())
