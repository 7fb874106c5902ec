"""What the gossip machine must not forget across restarts: accepted heads and evidence, in LMDB.

One LMDB environment of its own (``<data_dir>/gossip/``). Layout (named
databases):

``heads``     origin (UTF-8) -> the accepted, cosigned checkpoint note
``evidence``  evidence id (64 hex, ASCII) -> the evidence text
``meta``      ``layout`` -> ``LAYOUT``

Every ``put`` is its own durable write transaction (``sync=True``): a head
or an evidence is on disk when ``put`` returns. Writes happen a few times per
gossip round at most, so there is no batching. Reading is for the start of a
node (``heads``, ``evidence``) and for ``pypi-witness evidence``, which may
open the store read-only while the node runs (LMDB allows readers in other
processes).
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import lmdb

from pypi_witness.core.errors import NotFoundError, StoreError, quoted

LAYOUT = b"pypi-witness-gossip-state/1"
STATE_DIR = "gossip"
# 64 MiB: a head is ~1 KB with its cosignatures, an evidence a few KB.
DEFAULT_MAP_SIZE = 64 << 20
KINDS = ("head", "evidence")
_ID = re.compile("[0-9a-f]{64}")

_open_paths: set[Path] = set()
_open_lock = threading.Lock()


class GossipStateStore:
    """Heads and evidence in the LMDB environment at ``path`` (created if missing, unless ``readonly``).

    Raises StoreError if it cannot be opened (or, ``readonly``, does not
    exist), holds another layout, or is already open in this process.
    """

    def __init__(self, path: str | Path, *, readonly: bool = False, map_size: int = DEFAULT_MAP_SIZE) -> None:
        self._path = Path(path).resolve()
        with _open_lock:
            if self._path in _open_paths:
                raise StoreError(f"gossip state {self._path} is already open in this process")
            if readonly and not (self._path / "data.mdb").is_file():
                raise StoreError(f"no gossip state at {self._path}")
            try:
                if not readonly:
                    self._path.mkdir(parents=True, exist_ok=True)
                self._env = lmdb.open(
                    str(self._path),
                    map_size=map_size,
                    max_dbs=3,
                    sync=True,
                    metasync=True,
                    readahead=False,
                    readonly=readonly,
                )
            except (lmdb.Error, OSError) as e:
                raise StoreError(f"cannot open the gossip state at {self._path}: {e}") from None
            try:
                self._dbs = {
                    "head": self._env.open_db(b"heads", create=not readonly),
                    "evidence": self._env.open_db(b"evidence", create=not readonly),
                }
                meta = self._env.open_db(b"meta", create=not readonly)
                self._check_layout(meta, readonly)
            except (lmdb.Error, StoreError) as e:
                self._env.close()
                raise StoreError(f"cannot open the gossip state at {self._path}: {e}") from None
            _open_paths.add(self._path)

    def _check_layout(self, meta: object, readonly: bool) -> None:
        with self._env.begin(write=not readonly, db=meta) as txn:
            layout = txn.get(b"layout")
            if layout is None and not readonly:
                txn.put(b"layout", LAYOUT)
            elif layout != LAYOUT:
                raise StoreError(f"layout {quoted(layout)}, not {quoted(LAYOUT)}")

    def put(self, kind: str, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` (a head by origin, an evidence by id), durably.

        Raises StoreError for an unknown kind, a bad evidence id, or a failed write.
        """
        db = self._dbs.get(kind)
        if db is None:
            raise StoreError(f"gossip state holds heads and evidence, not {quoted(kind)}")
        if kind == "evidence" and _ID.fullmatch(key) is None:
            raise StoreError(f"evidence id {quoted(key)} is not 64 lowercase hex digits")
        try:
            with self._env.begin(write=True, db=db) as txn:
                txn.put(key.encode("utf-8"), bytes(data))
        except lmdb.Error as e:
            raise StoreError(f"cannot write the gossip state at {self._path}: {e}") from None

    def _all(self, kind: str) -> dict[str, bytes]:
        try:
            with self._env.begin(db=self._dbs[kind]) as txn:
                return {bytes(k).decode("utf-8"): bytes(v) for k, v in txn.cursor()}
        except lmdb.Error as e:
            raise StoreError(f"cannot read the gossip state at {self._path}: {e}") from None

    def heads(self) -> dict[str, bytes]:
        """Every stored head, by origin."""
        return self._all("head")

    def evidence(self) -> dict[str, bytes]:
        """Every stored evidence text, by id."""
        return self._all("evidence")

    def evidence_text(self, evidence_id: str) -> bytes:
        """The evidence stored as ``evidence_id``, or the only one starting with it (a prefix of 4+ digits).

        Raises NotFoundError if none (or several) match.
        """
        matches = {k: v for k, v in self.evidence().items() if len(evidence_id) >= 4 and k.startswith(evidence_id)}
        if len(matches) != 1:
            what = "no" if not matches else f"{len(matches)} pieces of"
            raise NotFoundError(f"{what} evidence with id {quoted(evidence_id)} in {self._path}")
        return next(iter(matches.values()))

    def close(self) -> None:
        with _open_lock:
            if self._path in _open_paths:
                _open_paths.discard(self._path)
                self._env.close()
