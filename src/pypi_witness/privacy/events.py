"""Access events: calls per identity, method and time window, kept until they expire.

``EventCounter`` counts calls in memory (thread-safe, called on every call);
``AccessEvents`` is an LMDB environment of its own (``<data_dir>/privacy/``,
apart from the log's store) that the node's privacy task writes the counts
to in one write transaction every ``flush_seconds``, and purges.

One record per (window, identity):

    key   = expires (8 bytes, big-endian Unix seconds) || window start (8) || identity name (UTF-8)
    value = JSON {"country": "DE" or "", "period": key period, "calls": {method: n}, "limited": {method: n}}

``expires`` is the window's end plus ``retention_seconds``; records sort by
it, so a purge deletes a prefix of the database. ``limited`` counts the calls
refused by the rate limit. Identity names are keyed hashes (``identity``)
or ``peer:<key name>``: no address is ever stored.

The ``meta`` database holds ``{"period", "period_start", "period_end",
"retention_seconds", "window_seconds", "key_storage"}`` under ``b"state"``,
written on every flush, so that ``summary`` can report the key period
without the configuration. It never holds a key.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lmdb

from pypi_witness.core.errors import StoreError
from pypi_witness.store.lmdb_errors import store_error
from pypi_witness.privacy.identity import Identity

PRIVACY_DIR = "privacy"
# 1 GiB of address space: ~3 million records of ~300 bytes; the file grows as used.
MAP_SIZE = 1 << 30
_STATE = b"state"


@dataclass(slots=True)
class _Tally:
    country: str
    period: int
    calls: Counter = field(default_factory=Counter)
    limited: Counter = field(default_factory=Counter)


class EventCounter:
    """Counts calls per (window start, identity) in memory until ``drain``.

    At most ``max_pending`` (window, identity) pairs are held; calls of further
    pairs are not counted, only tallied in ``dropped`` (so a flood of
    identities cannot grow memory without bound). Thread-safe.
    """

    def __init__(self, window_seconds: int, max_pending: int) -> None:
        self.window_seconds = window_seconds
        self.max_pending = max_pending
        self.dropped = 0
        self._lock = threading.Lock()
        self._pending: dict[tuple[int, str], _Tally] = {}

    def count(self, identity: Identity, method: str, now: float, *, limited: bool = False) -> None:
        """Count one call of ``method`` by ``identity`` at Unix time ``now`` (``limited``: refused)."""
        window = int(now // self.window_seconds) * self.window_seconds
        key = (window, identity.name)
        with self._lock:
            tally = self._pending.get(key)
            if tally is None:
                if len(self._pending) >= self.max_pending:
                    self.dropped += 1
                    return
                tally = self._pending[key] = _Tally(identity.country, identity.period)
            (tally.limited if limited else tally.calls)[method] += 1

    def drain(self) -> dict[tuple[int, str], _Tally]:
        """Everything counted since the last drain; the counter starts empty again."""
        with self._lock:
            pending, self._pending = self._pending, {}
        return pending


def _key(expires: int, window: int, name: str) -> bytes:
    return expires.to_bytes(8, "big") + window.to_bytes(8, "big") + name.encode()


class AccessEvents:
    """The access-event database in ``directory`` (created if missing).

    ``readonly``: for reports; nothing is created. Raises StoreError if the
    environment cannot be opened (or, read-only, does not exist).
    """

    def __init__(self, directory: Path, *, readonly: bool = False) -> None:
        directory = self._directory = Path(directory)
        try:
            if readonly and not (directory / "data.mdb").exists():
                raise StoreError(f"no access events are stored in {directory}")
            if not readonly:
                directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._env = lmdb.open(str(directory), map_size=MAP_SIZE, max_dbs=2, subdir=True, readonly=readonly)
            self._events = self._env.open_db(b"events", create=not readonly)
            self._meta = self._env.open_db(b"meta", create=not readonly)
        except lmdb.Error as e:
            raise StoreError(f"cannot open the access events in {directory}: {e}") from None

    def close(self) -> None:
        self._env.close()

    def write(
        self,
        tallies: Mapping[tuple[int, str], _Tally],
        *,
        window_seconds: int,
        retention_seconds: int,
        state: Mapping[str, Any],
    ) -> None:
        """Add ``tallies`` (``EventCounter.drain``) and ``state`` in one write transaction.

        StoreError (StoreFullError for a full disk) if it cannot be written; nothing of it is.
        """
        try:
            self._write(tallies, window_seconds, retention_seconds, state)
        except lmdb.Error as e:
            raise store_error(e, self._directory, "write access events to") from None

    def _write(
        self, tallies: Mapping[tuple[int, str], _Tally], window_seconds: int, retention_seconds: int,
        state: Mapping[str, Any],
    ) -> None:  # fmt: skip
        with self._env.begin(write=True) as txn:
            for (window, name), tally in tallies.items():
                key = _key(window + window_seconds + retention_seconds, window, name)
                raw = txn.get(key, db=self._events)
                if raw is None:
                    record = {"country": tally.country, "period": tally.period, "calls": {}, "limited": {}}
                else:
                    record = json.loads(raw)
                for part in ("calls", "limited"):
                    for method, n in getattr(tally, part).items():
                        record[part][method] = record[part].get(method, 0) + n
                txn.put(key, json.dumps(record, separators=(",", ":"), sort_keys=True).encode(), db=self._events)
            txn.put(_STATE, json.dumps(dict(state), sort_keys=True).encode(), db=self._meta)

    def purge(self, now: float) -> int:
        """Delete every record whose expiry is at or before ``now``; returns how many. StoreError if it cannot."""
        try:
            return self._purge(now)
        except lmdb.Error as e:
            raise store_error(e, self._directory, "purge access events from") from None

    def _purge(self, now: float) -> int:
        limit = int(now).to_bytes(8, "big")
        removed = 0
        with self._env.begin(write=True) as txn:
            cursor = txn.cursor(db=self._events)
            cursor.first()
            while True:
                key = cursor.key()  # b"" once past the last record
                if not key or key[:8] > limit:
                    break
                cursor.delete()  # and moves to the next record
                removed += 1
        return removed

    def records(self) -> list[dict[str, Any]]:
        """Every stored record: ``{"expires", "window", "identity", "country", "period", "calls", "limited"}``."""
        out = []
        with self._env.begin() as txn:
            for key, raw in txn.cursor(db=self._events):
                record = json.loads(raw)
                record.update(
                    expires=int.from_bytes(key[:8], "big"),
                    window=int.from_bytes(key[8:16], "big"),
                    identity=bytes(key[16:]).decode(),
                )
                out.append(record)
        return out

    def state(self) -> dict[str, Any] | None:
        with self._env.begin() as txn:
            raw = txn.get(_STATE, db=self._meta)
        return None if raw is None else json.loads(raw)

    def summary(self, now: float) -> dict[str, Any]:
        """What is stored, as counts (no identities): the ``privacy report`` command's content.

        ``{"records", "identities", "peers", "countries", "calls": {method: n},
        "limited": {method: n}, "oldest_window_age_seconds", "newest_window_age_seconds",
        "next_expiry_seconds", "state"}`` (ages None when nothing is stored).
        """
        records = self.records()
        calls: Counter = Counter()
        limited: Counter = Counter()
        for r in records:
            calls.update(r["calls"])
            limited.update(r["limited"])
        names = {r["identity"] for r in records}
        return {
            "records": len(records),
            "identities": len(names),
            "peers": sum(1 for n in names if n.startswith("peer:")),
            "countries": sorted({r["country"] for r in records if r["country"]}),
            "calls": dict(sorted(calls.items())),
            "limited": dict(sorted(limited.items())),
            "oldest_window_age_seconds": round(now - min(r["window"] for r in records)) if records else None,
            "newest_window_age_seconds": round(now - max(r["window"] for r in records)) if records else None,
            "next_expiry_seconds": round(records[0]["expires"] - now) if records else None,
            "state": self.state(),
        }
