"""What this node's witness last cosigned, per log: a durable compare-and-swap in LMDB.

One LMDB environment of its own (``<data_dir>/witness/``), apart from the log's
store, so that cosigning never waits on the log's writer and the log never
waits on a cosignature. Layout (named databases):

``state``  origin (UTF-8) -> 8-byte big-endian size || 32-byte root hash
``meta``   ``layout`` -> ``LAYOUT``

Every change is ``compare_and_swap``: the check of the stored state and the
write of the new one happen in ONE write transaction, with nothing in between
that could let another writer in (LMDB serialises write transactions across
threads and processes). So two requests from the same old state cannot both
win, and a state can never move back to a smaller tree (C2SP tlog-witness's
race: a rollback of cosigned leaves). ``sync=True``: a state is on disk when
``compare_and_swap`` returns, before the cosignature is handed out.

Many threads (and processes) may read and swap at once. Write transactions
are begun and committed by one committer thread of the store's own (started
with the first swap, ended by ``close``): a caller queues its swap and waits;
the committer takes every swap queued, applies them one after another in one
transaction and commits (group commit: one fsync for many swaps, each still
checked and written with nothing between, in arrival order). So a slow disk
holds only the callers whose swaps wait for it, never the thread pools of
the callers that read.

``MemoryWitnessState`` keeps the same contract in memory (tests, simulator).
"""

from __future__ import annotations

import threading
from pathlib import Path

import lmdb

from pypi_witness.core.tlog.checkpoint import HASH_SIZE
from pypi_witness.core.tlog.witness import WitnessState
from pypi_witness.core.errors import ConflictError, StoreError
from pypi_witness.store.lmdb_errors import store_error

LAYOUT = b"pypi-witness-witness-state/1"
# 64 MiB: a state is ~100 bytes with LMDB's overhead, so this holds ~500,000 logs.
DEFAULT_MAP_SIZE = 64 << 20
_VALUE_SIZE = 8 + HASH_SIZE

_open_paths: set[Path] = set()
_open_lock = threading.Lock()


def _encode(state: WitnessState) -> bytes:
    if not 0 <= state.size < 1 << 64 or len(state.root_hash) != HASH_SIZE:
        raise StoreError(f"not a storable witness state: size {state.size}, root of {len(state.root_hash)} bytes")
    return state.size.to_bytes(8, "big") + state.root_hash


def _decode(origin: str, raw: bytes) -> WitnessState:
    if len(raw) != _VALUE_SIZE:
        raise StoreError(f"the witness state of {origin!r} is {len(raw)} bytes, not {_VALUE_SIZE}: damaged store")
    return WitnessState(int.from_bytes(raw[:8], "big"), bytes(raw[8:]))


def _check_swap(origin: str, current: WitnessState | None, expected: WitnessState | None, new: WitnessState) -> None:
    """Whether ``current`` may become ``new``: ConflictError unless it is ``expected``; StoreError for a rollback."""
    if current != expected:
        known = 0 if current is None else current.size
        raise ConflictError(f"the witness state of {origin!r} changed: size {known} is stored", known_size=known)
    if current is not None and (
        new.size < current.size or (new.size == current.size and new.root_hash != current.root_hash)
    ):
        raise StoreError(
            f"refusing to move the witness state of {origin!r} from size {current.size} "
            f"to size {new.size} with another history"
        )


class _Swap:
    """One compare-and-swap waiting for its transaction, and its outcome."""

    __slots__ = ("origin", "expected", "new", "error", "done")

    def __init__(self, origin: str, expected: WitnessState | None, new: WitnessState) -> None:
        self.origin, self.expected, self.new = origin, expected, new
        self.error: Exception | None = None
        self.done = threading.Event()


class WitnessStateStore:
    """The per-origin witness state in the LMDB environment at ``path`` (a directory, created if missing).

    Raises StoreError if it cannot be opened, holds another layout, or is
    already open in this process (LMDB forbids opening one environment twice
    in a process; other processes may open it at the same time).
    """

    def __init__(self, path: str | Path, *, map_size: int = DEFAULT_MAP_SIZE) -> None:
        self._path = Path(path).resolve()
        with _open_lock:
            if self._path in _open_paths:
                raise StoreError(f"witness state {self._path} is already open in this process")
            try:
                self._path.mkdir(parents=True, exist_ok=True)
                self._env = lmdb.open(
                    str(self._path), map_size=map_size, max_dbs=2, sync=True, metasync=True, readahead=False
                )
            except (lmdb.Error, OSError) as e:
                raise StoreError(f"cannot open the witness state at {self._path}: {e}") from None
            try:
                self._state = self._env.open_db(b"state")
                meta = self._env.open_db(b"meta")
                with self._env.begin(write=True) as txn:
                    layout = txn.get(b"layout", None, meta)
                    if layout is None:
                        txn.put(b"layout", LAYOUT, db=meta)
                    elif layout != LAYOUT:
                        raise StoreError(
                            f"witness state at {self._path} has layout {layout.decode(errors='replace')}; "
                            f"this version reads {LAYOUT.decode()}"
                        )
            except lmdb.Error as e:
                self._env.close()
                raise StoreError(f"cannot open the witness state at {self._path}: {e}") from None
            except StoreError:
                self._env.close()
                raise
            _open_paths.add(self._path)
        self._closed = False
        # Group commit: swaps waiting for the committer thread (started with the first swap).
        self._lock = threading.Condition()
        self._pending: list[_Swap] = []
        self._committer: threading.Thread | None = None

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the witness state is closed")

    def get(self, origin: str) -> WitnessState | None:
        """What was last cosigned for ``origin``; None if nothing ever was. StoreError if damaged or closed."""
        self._check_open()
        key = origin.encode()
        try:
            with self._env.begin() as txn:
                raw = txn.get(key, None, self._state)
        except lmdb.Error as e:
            raise store_error(e, self._path, "read the witness state in") from None
        return None if raw is None else _decode(origin, raw)

    def all(self) -> dict[str, WitnessState]:
        """Every origin's state. StoreError if damaged or closed."""
        self._check_open()
        try:
            with self._env.begin() as txn:
                return {k.decode(): _decode(k.decode(), v) for k, v in txn.cursor(self._state)}
        except lmdb.Error as e:
            raise store_error(e, self._path, "read the witness state in") from None

    def compare_and_swap(self, origin: str, expected: WitnessState | None, new: WitnessState) -> None:
        """Store ``new`` for ``origin`` if, and only if, the stored state is ``expected`` (None: none).

        The check and the write are made inside one write transaction, and
        the call returns once it is committed (durable). Calls from several
        threads at once share transactions (group commit): the first caller
        commits every swap waiting when it begins, one after another in one
        transaction, each checked against the state the swaps before it left,
        with one fsync for all of them. Raises ConflictError carrying the
        stored size (0 if none) if the state is not ``expected``; StoreError if
        ``new`` is a smaller tree than the stored one or the same size with
        another root (this store never rolls back, whatever its caller
        decided), or the store fails (then nothing of the transaction is kept).
        """
        swap = _Swap(origin, expected, new)
        with self._lock:
            self._check_open()
            self._pending.append(swap)
            if self._committer is None:
                self._committer = threading.Thread(target=self._commit_loop, name="witness-state-commit", daemon=True)
                self._committer.start()
            self._lock.notify()
        swap.done.wait()
        if swap.error is not None:
            raise swap.error

    def _commit_loop(self) -> None:
        """The committer thread: commit what is queued, in batches, until closed."""
        while True:
            with self._lock:
                while not self._pending and not self._closed:
                    self._lock.wait()
                batch, self._pending = self._pending, []
                closed = self._closed
            if batch:
                self._commit(batch)
            if closed:
                return

    def _commit(self, batch: list[_Swap]) -> None:
        """Apply ``batch`` in order in one write transaction, commit, and wake every caller."""
        try:
            with self._env.begin(write=True) as txn:
                for swap in batch:
                    try:
                        self._apply(txn, swap)
                    except (ConflictError, StoreError) as e:
                        swap.error = e  # this swap only: the others go on
        except lmdb.Error as e:  # a full disk says so (store_error), so the node's log and the caller can tell
            error = store_error(e, self._path, "write the witness state in")
            for swap in batch:
                swap.error = error
        except BaseException as e:  # e.g. closed underneath: nothing was committed
            for swap in batch:
                swap.error = StoreError(f"cannot write the witness state: {e!r}")
        for swap in batch:
            swap.done.set()

    def _apply(self, txn: lmdb.Transaction, swap: _Swap) -> None:
        origin, expected, new = swap.origin, swap.expected, swap.new
        key, value = origin.encode(), _encode(new)
        raw = txn.get(key, None, self._state)
        current = None if raw is None else _decode(origin, raw)
        _check_swap(origin, current, expected, new)
        if current != new:
            txn.put(key, value, db=self._state)

    def close(self) -> None:
        """Commit the swaps queued, stop the committer and close the environment (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            committer = self._committer
            self._lock.notify()
        if committer is not None:
            committer.join()
        self._env.close()
        with _open_lock:
            _open_paths.discard(self._path)

    def __enter__(self) -> WitnessStateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MemoryWitnessState:
    """``WitnessStateStore``'s contract in memory: nothing survives the object (tests, simulator)."""

    def __init__(self) -> None:
        self._states: dict[str, WitnessState] = {}
        self._lock = threading.Lock()
        self._closed = False

    def get(self, origin: str) -> WitnessState | None:
        """What was last cosigned for ``origin``; None if nothing ever was. StoreError if closed."""
        self._check_open()
        return self._states.get(origin)

    def all(self) -> dict[str, WitnessState]:
        """Every origin's state. StoreError if closed."""
        self._check_open()
        return dict(self._states)

    def compare_and_swap(self, origin: str, expected: WitnessState | None, new: WitnessState) -> None:
        """As ``WitnessStateStore.compare_and_swap`` (the same errors), atomically under a lock."""
        _encode(new)  # StoreError for a state that could not be stored
        with self._lock:
            self._check_open()
            _check_swap(origin, self._states.get(origin), expected, new)
            self._states[origin] = new

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the witness state is closed")

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> MemoryWitnessState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
