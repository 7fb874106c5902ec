"""Follow a PyPI-compatible index: every file it adds, removes or yanks goes into the log.

Each poll:

1. **Catch up.** Read the changelog from the serial stored in the log
   (``follow.serial``), 50,000 rows a call at most, paging until the head. Rows
   are handled in batches of ``batch_rows``: the releases they add files to are
   fetched from the JSON API (``concurrency`` at once, ``requests_per_second``
   at most), each row becomes its records (a ``file`` per added file, a
   ``removal`` or ``yank`` for the others), and the records and the new cursor
   are appended in one transaction, so a crash never skips or repeats a row.
2. **Audit.** Re-read ``audit_releases`` releases the log already holds (a
   cursor, ``follow.audit``, sweeps the whole log round and round), because an
   index that swaps a file's bytes writes no changelog row for it.

Every release fetched is compared, file by file, with what the log holds
(``core.records.tamper``): a swapped file is logged again with what is served now (the
store records the conflict), a resurrected file gets an ``alarm`` record, and
new files are checked for late upload, a wrong download path and, for a
``sample_rate`` share of them, bytes that do not match their digests.

A JSON answer older than the changelog row that asked for it (a stale cache)
is retried with backoff; if still stale, the batch stops before that row and
the next poll takes it up again (a 404 for a release announced more than
``stale_grace_seconds`` ago is reported as ``vanished`` instead). A 429 pauses every request for its
Retry-After. A malformed answer is retried, then reported (alarm
``bad-response``) and its rows are skipped; a changelog that breaks the API
raises the same alarm and is read again at the next poll. A hostile index can
make the witness miss files, never crash it or make it log what was not
served: no exception escapes ``run`` (an unforeseen one raises alarm
``failed``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import trio

from pypi_witness import __version__
from pypi_witness.config.node import IndexConfig
from pypi_witness.core.records import tamper
from pypi_witness.core.records.values import normalize_project, time_of
from pypi_witness.core.records.format import (
    AlarmKind,
    AlarmRecord,
    FileRecord,
    Record,
    RemovalRecord,
    YankRecord,
    format_record,
    parse_record,
    project_key,
    release_key,
)
from pypi_witness.core.errors import (
    QUOTE_CHARS,
    ConfigError,
    IndexResponseError,
    RateLimitedError,
    RecordError,
    StoreError,
    UnavailableError,
    quoted,
)
from pypi_witness.ingest.http import HttpClient
from pypi_witness.ingest.pypi_api import Action, ChangelogRow, FileFacts, PyPIClient, ReleaseView
from pypi_witness.ingest.progress import Progress
from pypi_witness.store.base import AppendResult

logger = logging.getLogger(__name__)

CURSOR = "follow.serial"
AUDIT = "follow.audit"
FOLLOWED = "follow.index"


@dataclass(frozen=True, slots=True)
class Alarm:
    """Something an operator must know: ``kind`` is one of ``swap``,
    ``resurrect``, ``late-file``, ``bad-path``, ``bad-bytes`` (tampering, each
    also in the log), ``vanished`` (a file the changelog announced that the
    index does not serve), ``bad-response`` (an answer that breaks the API),
    ``stale`` (the index's answers lag its changelog) or ``failed`` (a poll
    failed unexpectedly; the traceback is in the node's log)."""

    kind: str
    subject: str
    detail: str


@dataclass
class FollowerStatus:
    """Counters and the latest alarms, for logs, the CLI and tests."""

    serial: int = 0
    head_serial: int = 0
    records: int = 0
    requests: int = 0
    unannounced: int = 0
    alarms: Counter[str] = field(default_factory=Counter)
    recent: deque[Alarm] = field(default_factory=lambda: deque(maxlen=100))


class Sink(Protocol):
    """Where the follower's records go: the log, through its one writer."""

    async def append(self, records: Sequence[Record], state: Mapping[str, bytes]) -> AppendResult: ...

    async def read(self, fn: Callable[[Any], Any]) -> Any:
        """``fn(store)`` in a thread, for lookups, leaves and state."""
        ...


class _Pacer:
    """At most ``rate`` request starts a second (0: no limit), and pauses for 429s."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0

    async def wait(self) -> None:
        now = trio.current_time()
        slot = max(now, self._next)
        self._next = slot + self._interval
        if slot > now:
            await trio.sleep_until(slot)

    def pause(self, seconds: float) -> None:
        self._next = max(self._next, trio.current_time() + seconds)


@dataclass(frozen=True, slots=True)
class _Fetched:
    view: ReleaseView | None  # None: 404
    fresh: bool  # last_serial reached the serial asked for


@dataclass(frozen=True, slots=True)
class _Failed:
    error: str


class Follower:
    """Follows one index into one log; see the module docstring.

    ``client`` defaults to a ``PyPIClient`` for ``settings.url``. ``rng`` picks
    retry jitter; the download sample is chosen with a key made here and never
    stored, so the index cannot tell which files will be checked.
    """

    def __init__(
        self,
        settings: IndexConfig,
        sink: Sink,
        *,
        client: PyPIClient | None = None,
        progress: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.client = client or PyPIClient(
            HttpClient(
                settings.url,
                timeout=settings.timeout_seconds,
                max_body_bytes=settings.max_body_bytes,
                user_agent=f"pypi-witness/{__version__} (transparency witness)",
            )
        )
        self.status = FollowerStatus()
        self._progress = progress
        self._rng = rng or random.Random()
        self._sample_key = os.urandom(32)
        self._pacer = _Pacer(settings.requests_per_second)
        # Files announced but not served, with the serial the index answered at:
        # vanished unless a changelog row up to that serial removes them.
        self._unserved: dict[tuple[str, str | None, str | None], tuple[ChangelogRow, int]] = {}
        self._limiter = trio.CapacityLimiter(settings.concurrency)

    # -- alarms -------------------------------------------------------------------

    def _alarm(self, kind: str, subject: str, detail: str) -> None:
        # Subjects and details hold names the index chose: a long one is quoted, shortened.
        if len(subject) > 2 * QUOTE_CHARS:
            subject = quoted(subject)
        if len(detail) > 6 * QUOTE_CHARS:
            detail = quoted(detail, 6 * QUOTE_CHARS)
        alarm = Alarm(kind, subject, detail)
        self.status.alarms[kind] += 1
        self.status.recent.append(alarm)
        level = logging.INFO if kind == "stale" else logging.WARNING
        logger.log(level, "ALARM %s %s: %s", kind, subject, detail)

    # -- running ------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Poll every ``poll_seconds`` until cancelled; ConfigError (wrong index for this log) before starting.

        A failed poll is retried at the next one: an index that cannot be
        reached or rate limits us is logged; a log that cannot be written
        (StoreError: e.g. a full disk; the batch that failed was not written
        and its rows are read again) is logged; an answer that breaks the API
        raises alarm ``bad-response``; any other exception (a bug, or an
        answer no check foresaw) raises alarm ``failed`` and is logged with
        its traceback. Nothing an index sends ends this task.
        """
        await self._check_followed()
        task_status.started()
        while True:
            try:
                await self._poll()
            except (UnavailableError, RateLimitedError) as e:
                logger.warning("poll of %s failed, retrying in %g s: %s", self.settings.url, self.settings.poll_seconds, e)
            except StoreError as e:
                logger.error("poll of %s stopped, the log cannot be written; retrying in %g s: %s",
                             self.settings.url, self.settings.poll_seconds, e)  # fmt: skip
            except IndexResponseError as e:
                self._alarm("bad-response", "poll", f"{e}; retrying in {self.settings.poll_seconds:g} s")
            except Exception as e:
                logger.exception("poll of %s failed unexpectedly", self.settings.url)
                self._alarm("failed", "poll", f"{type(e).__name__}; retrying in {self.settings.poll_seconds:g} s")
            await trio.sleep(self.settings.poll_seconds)

    async def _check_followed(self) -> None:
        followed = await self.sink.read(lambda store: store.state(FOLLOWED))
        if followed is not None and followed.decode() != self.settings.url:
            raise ConfigError(f"index.url: this log follows {followed.decode()}, not {self.settings.url}")

    async def poll(self) -> int:
        """Catch up with the changelog, then audit; return the records appended.

        ConfigError if the log follows another index.
        """
        await self._check_followed()
        return await self._poll()

    async def _poll(self) -> int:
        before = self.status.records
        await self.catch_up()
        if self.settings.audit_releases:
            await self.audit(self.settings.audit_releases)
        return self.status.records - before

    async def catch_up(self) -> bool:
        """Follow the changelog to its head; False if stopped early by stale answers."""
        stored = await self.sink.read(lambda store: store.state(CURSOR))
        cursor = int(stored) if stored is not None else self.settings.start_serial
        head = await self._call(self.client.last_serial)
        self.status.serial, self.status.head_serial = cursor, head
        progress = Progress("following", max(head - cursor, 0)) if self._progress and head > cursor else None
        start, appended = cursor, self.status.records
        try:
            while cursor < head:
                rows = await self._call(self.client.changelog_since, cursor)
                if not rows:
                    break
                removals = _Removals(rows)
                self._settle_unserved(removals, rows[-1].serial)
                for first in range(0, len(rows), self.settings.batch_rows):
                    batch = rows[first : first + self.settings.batch_rows]
                    done = await self._batch(batch, removals)
                    if done < len(batch):
                        if done:
                            cursor = batch[done - 1].serial
                        return False
                    cursor = batch[-1].serial
                    self.status.serial = cursor
                    if progress is not None:
                        progress.update(cursor - start, self.status.records - appended)
            self._settle_unserved(_Removals(()), cursor)
            return True
        finally:
            if progress is not None:
                progress.finish(cursor - start, self.status.records - appended)

    def _settle_unserved(self, removals: _Removals, reached: int) -> None:
        """Forget unserved files a later row removes; report those the changelog,
        read up to serial ``reached``, never removes as vanished."""
        for key, (row, seen) in list(self._unserved.items()):
            if removals.later(row):
                del self._unserved[key]
            elif seen <= reached:
                del self._unserved[key]
                self._alarm("vanished", row.filename or "", f"announced at serial {row.serial} but not served")

    # -- requests ----------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.settings.backoff_max_seconds, 0.25 * 2**attempt)
        return self._rng.uniform(ceiling / 2, ceiling)

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in a worker thread, paced, retried on failure with backoff."""
        attempt = 0
        while True:
            await self._pacer.wait()
            self.status.requests += 1
            try:
                return await trio.to_thread.run_sync(fn, *args, abandon_on_cancel=True, limiter=self._limiter)
            except RateLimitedError as e:
                attempt += 1
                delay = e.retry_after if e.retry_after is not None else self._backoff(attempt)
                logger.info("the index asks us to wait %g s", delay)
                self._pacer.pause(delay)
                if attempt >= self.settings.max_attempts:
                    raise
            except (UnavailableError, IndexResponseError):
                attempt += 1
                if attempt >= self.settings.max_attempts:
                    raise
                await trio.sleep(self._backoff(attempt))

    async def _release(self, project: str, version: str, serial: int, retry_404: bool) -> _Fetched | _Failed:
        """The release as of changelog ``serial`` or later, retrying stale answers
        (and 404s if ``retry_404``: the release may be too new for a cache).

        ``fresh`` is False if every try was stale (older than ``serial``), or a
        404 that ``retry_404`` asked to wait out; a 404 otherwise is a fresh "no
        such release".
        """
        view = None
        for attempt in range(self.settings.max_attempts):
            try:
                view = await self._call(self.client.release, project, version)
            except (UnavailableError, IndexResponseError) as e:
                return _Failed(str(e))
            if view is not None and view.last_serial >= serial or view is None and not retry_404:
                return _Fetched(view, True)
            if attempt + 1 < self.settings.max_attempts:
                await trio.sleep(self._backoff(attempt))
        return _Fetched(view, False)

    async def _fetch_all(
        self, wanted: Mapping[tuple[str, str], tuple[int, bool]]
    ) -> dict[tuple[str, str], _Fetched | _Failed]:
        """Fetch releases at once: (project, version) -> (serial, retry_404)."""
        results: dict[tuple[str, str], _Fetched | _Failed] = {}

        async def one(key: tuple[str, str], serial: int, retry_404: bool) -> None:
            results[key] = await self._release(key[0], key[1], serial, retry_404)

        async with trio.open_nursery() as nursery:
            for key, (serial, retry_404) in wanted.items():
                nursery.start_soon(one, key, serial, retry_404)
        return results

    # -- one batch ----------------------------------------------------------------

    async def _batch(self, batch: list[ChangelogRow], removals: _Removals) -> int:
        """Log ``batch``; return how many of its rows were done (all unless stale)."""
        wanted: dict[tuple[str, str], tuple[int, bool]] = {}
        recent = time.time() - self.settings.stale_grace_seconds
        for row in batch:
            if row.action is Action.ADD_FILE:
                key = (row.project, row.version or "")
                serial, retry_404 = wanted.get(key, (0, False))
                # A 404 is worth waiting out only for a recent row whose file is not removed later.
                retry_404 = retry_404 or (row.timestamp > recent and not removals.later(row))
                wanted[key] = (max(serial, row.serial), retry_404)
        fetched = await self._fetch_all(wanted)
        work = _Work(self, await self.sink.read(lambda store: store.size()))
        await work.preload(r.view for r in fetched.values() if isinstance(r, _Fetched))
        done = 0
        for row in batch:
            if row.action is Action.ADD_FILE:
                result = fetched[(row.project, row.version or "")]
                if self._lagging(row, result, removals):
                    self._alarm("stale", f"{row.project} {row.version}", f"the JSON API lags changelog serial {row.serial}")
                    break
            try:
                await work.row(row, fetched.get((row.project, row.version or "")), removals)
            except RecordError as e:
                self._alarm("bad-response", f"{row.project} {row.version}", f"serial {row.serial} cannot be logged: {e}")
            done += 1
        for key, result in fetched.items():
            if isinstance(result, _Fetched) and result.view is not None and key in work.needed:
                await work.release(result.view, announced=False)
        if done:
            state = {CURSOR: str(batch[done - 1].serial).encode(), FOLLOWED: self.settings.url.encode()}
            await work.commit(state)
        return done

    def _lagging(self, row: ChangelogRow, result: _Fetched | _Failed, removals: _Removals) -> bool:
        """Whether the file ``row`` announces must wait for a fresher answer.

        A stale answer still tells a listed file's digests (a filename's content
        never changes); only a file it lacks must wait, unless a later row
        removes it. A 404 carries no serial: ``_batch`` has it waited out
        (``retry_404``) only for a row younger than ``stale_grace_seconds``;
        an older one is reported as vanished instead, so that one hidden
        release cannot stop the witness.
        """
        if not isinstance(result, _Fetched) or result.fresh:
            return False
        if result.view is not None and row.filename in result.view.files:
            return False
        return not removals.later(row)

    async def audit(self, releases: int) -> None:
        """Re-read up to ``releases`` releases the log holds, from the audit cursor on."""
        stored = await self.sink.read(lambda store: (store.state(AUDIT), store.size()))
        position, size = (int(stored[0]) if stored[0] else 0), stored[1]
        if size == 0:
            return
        if position >= size:
            position = 0
        # Sweep on from the cursor, wrapping round at most once.
        seen: dict[tuple[str, str], None] = {}
        end, scanned = position, 0
        while scanned < size and len(seen) < releases:
            stop = min(end + 256, size, end + size - scanned)
            leaves = await self.sink.read(lambda store, a=end, b=stop: store.leaves(a, b))
            for leaf in leaves:
                end, scanned = end + 1, scanned + 1
                record = parse_record(leaf)
                if type(record) is FileRecord:
                    seen.setdefault((record.project, record.version), None)
                    if len(seen) >= releases:
                        break
            if end >= size:
                end = 0
        fetched = await self._fetch_all({key: (0, False) for key in seen})
        work = _Work(self, size)
        await work.preload(r.view for r in fetched.values() if isinstance(r, _Fetched))
        for result in fetched.values():
            if isinstance(result, _Fetched) and result.view is not None:
                await work.release(result.view, announced=False)
            elif isinstance(result, _Failed):
                self._alarm("bad-response", "audit", result.error)
        await work.commit({AUDIT: str(end).encode()})


class _Removals:
    """The last serial at which a page of changelog rows removes each file,
    release and project, to tell whether a row's file is removed later."""

    def __init__(self, rows: Sequence[ChangelogRow]) -> None:
        self._last: dict[tuple[str, str | None, str | None], int] = {}
        for row in rows:
            if row.action is Action.REMOVE_PROJECT:
                self._last[(row.project, None, None)] = row.serial
            elif row.action is Action.REMOVE_RELEASE:
                self._last[(row.project, row.version, None)] = row.serial
            elif row.action is Action.REMOVE_FILE:
                self._last[(row.project, row.version, row.filename)] = row.serial

    def later(self, row: ChangelogRow) -> bool:
        """Whether a row after ``row`` removes its file, its release or its project."""
        get = self._last.get
        return any(
            get(key, -1) > row.serial
            for key in ((row.project, None, None), (row.project, row.version, None), (row.project, row.version, row.filename))
        )


class _Work:
    """The records one batch or audit produces, with the log's history of every
    filename it touches (the store's, plus this batch's own records)."""

    def __init__(self, follower: Follower, size: int) -> None:
        self.f = follower
        self.records: list[Record] = []
        self.needed: set[tuple[str, str]] = set()  # releases whose rows were handled
        self.done_files: set[str] = set()
        self._size = size
        self._history: dict[str, list[tuple[int, bytes]]] = {}
        self._samples: list[tuple[FileRecord, str]] = []

    async def _load(self, keys: Sequence[str]) -> None:
        missing = [k for k in dict.fromkeys(keys) if k not in self._history]
        if missing:
            found = await self.f.sink.read(lambda store: {k: store.lookup(k) for k in missing})
            self._history.update({k: list(v) for k, v in found.items()})

    async def preload(self, views: Iterable[ReleaseView | None]) -> None:
        """Read the log's history of every file of ``views`` in one go."""
        keys: list[str] = []
        for view in views:
            if view is None:
                continue
            try:
                project = normalize_project(view.project)
            except RecordError:
                continue
            keys += [release_key(project, view.version), project_key(project), *view.files]
        await self._load(keys)

    def _add(self, record: Record, key: str | None) -> None:
        if key is not None:
            self._history.setdefault(key, []).append((self._size + len(self.records), format_record(record)))
        self.records.append(record)

    async def row(self, row: ChangelogRow, result: _Fetched | _Failed | None, removals: _Removals) -> None:
        project = normalize_project(row.project)
        time_text = time_of(row.timestamp)
        if row.action is Action.ADD_FILE:
            self.needed.add((row.project, row.version or ""))
            if isinstance(result, _Failed):
                self.f._alarm("bad-response", f"{row.project} {row.version}", result.error)
                return
            assert result is not None and row.filename is not None
            facts = result.view.files.get(row.filename) if result.view is not None else None
            if facts is None:
                if not removals.later(row):
                    seen = result.view.last_serial if result.view is not None else self.f.status.head_serial
                    self.f._unserved[(row.project, row.version, row.filename)] = (row, seen)
                return
            await self.file(project, row.version or "", facts, row.serial, result.view.files.values(), announced=True)  # type: ignore[union-attr]
        elif row.action is Action.REMOVE_FILE:
            record = RemovalRecord(project, row.version, row.filename, time_text, row.serial)
            self._add(record, row.filename)
        elif row.action is Action.REMOVE_RELEASE:
            self._add(RemovalRecord(project, row.version, None, time_text, row.serial), release_key(project, row.version or ""))
        elif row.action is Action.REMOVE_PROJECT:
            self._add(RemovalRecord(project, None, None, time_text, row.serial), project_key(project))
        elif row.action in (Action.YANK, Action.UNYANK):
            record = YankRecord(project, row.version or "", row.action is Action.YANK, time_text, row.serial)
            self._add(record, release_key(project, row.version or ""))

    async def release(self, view: ReleaseView, *, announced: bool) -> None:
        """Compare every file of ``view`` with the log (files not yet handled)."""
        try:
            project = normalize_project(view.project)
            for facts in view.files.values():
                if facts.filename not in self.done_files:
                    await self.file(project, view.version, facts, view.last_serial, view.files.values(), announced=announced)
        except RecordError as e:
            self.f._alarm("bad-response", f"{view.project} {view.version}", f"cannot be logged: {e}")

    async def file(
        self, project: str, version: str, facts: FileFacts, serial: int, siblings: Any, *, announced: bool
    ) -> None:
        self.done_files.add(facts.filename)
        record = FileRecord(
            project, version, facts.filename, facts.sha256, facts.blake2b_256, facts.size, facts.upload_time, serial
        )
        keys = [facts.filename, release_key(project, version), project_key(project)]
        await self._load(keys)
        history = tamper.History(*(tuple(self._history.get(k, ())) for k in keys))
        verdict = tamper.judge(record, history)
        if not verdict.same:
            self._add(record, facts.filename)
        if verdict.resurrected:
            self.f._alarm("resurrect", facts.filename, "served again after its removal")
            self._add(AlarmRecord(AlarmKind.RESURRECT, record), facts.filename)
        if verdict.known:
            return
        if not announced:
            self.f.status.unannounced += 1
        bad_path = tamper.bad_path(record, facts.url)
        if bad_path is not None:
            self.f._alarm("bad-path", facts.filename, f"path {facts.url[-120:]} does not carry blake2b {record.blake2b_256}")
            self._add(bad_path, facts.filename)
        if tamper.is_late(record, [s.upload_time for s in siblings], self.f.settings.late_file_days):
            self.f._alarm("late-file", facts.filename, f"added more than {self.f.settings.late_file_days} days after its release")
            self._add(AlarmRecord(AlarmKind.LATE_FILE, record), facts.filename)
        if self._sampled(facts.filename):
            self._samples.append((record, facts.url))

    def _sampled(self, filename: str) -> bool:
        rate = self.f.settings.sample_rate
        if rate <= 0:
            return False
        draw = int.from_bytes(hmac.digest(self.f._sample_key, filename.encode(), "sha256")[:8], "big")
        return draw < rate * 2**64

    async def _check_samples(self) -> None:
        async def one(record: FileRecord, url: str) -> None:
            try:
                seen = await self.f._call(_download_digests, self.f.client, url)
            except (UnavailableError, IndexResponseError) as e:
                self.f._alarm("bad-response", record.filename, f"download failed: {e}")
                return
            if seen != (record.sha256, record.blake2b_256, record.size):
                self.f._alarm("bad-bytes", record.filename, "the bytes served do not match the stated digests")
                self._add(AlarmRecord(AlarmKind.BAD_BYTES, record, *seen), record.filename)

        async with trio.open_nursery() as nursery:
            for record, url in self._samples:
                nursery.start_soon(one, record, url)

    async def commit(self, state: dict[str, bytes]) -> None:
        if self._samples:
            await self._check_samples()
        result = await self.f.sink.append(self.records, state)
        self.f.status.records += result.appended
        for conflict in result.conflicts:
            self.f._alarm(
                "swap", conflict.filename,
                f"entry {conflict.index} logs other digests than entry {conflict.earlier_index}",
            )  # fmt: skip


def _download_digests(client: PyPIClient, url: str) -> tuple[str, str, int]:
    """Stream ``url`` and hash it with bounded memory: (sha256, blake2b_256, size)."""
    sha256, blake2b = hashlib.sha256(), hashlib.blake2b(digest_size=32)
    size = 0

    def sink(chunk: bytes) -> None:
        nonlocal size
        sha256.update(chunk)
        blake2b.update(chunk)
        size += len(chunk)

    response = client.http.request("GET", url, sink=sink)
    if response.status != 200:
        raise IndexResponseError(f"download of {url[-120:]}: HTTP {response.status}")
    return sha256.hexdigest(), blake2b.hexdigest(), size
