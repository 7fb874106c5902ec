"""An in-memory log store: the reference for the store contract, and the simulator's store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pypi_witness.core.disputes.buckets import BUCKETS, DIGEST_BYTES, Entry, bucket_of, item_hash
from pypi_witness.core.tlog.merkle import MemoryHashes, NodeId, leaf_hash
from pypi_witness.core.records.format import FileRecord, Record, parse_record
from pypi_witness.core.errors import ConflictError, OutOfRangeError, ProofError, StoreError
from pypi_witness.store.base import AppendResult, Conflict, Leaf, checked_state, file_release_key, leaves_of, plan_append


class MemoryStore:
    """A ``LogStore`` held in Python lists and dicts; nothing survives the process."""

    def __init__(self) -> None:
        self._leaves: list[bytes] = []
        self._tree = MemoryHashes()
        self._by_filename: dict[str, list[int]] = {}
        self._conflicts: list[Conflict] = []
        self._checkpoint: tuple[bytes, int] | None = None
        self._state: dict[str, bytes] = {}
        self._digests = [0] * BUCKETS
        self._bucket_files: list[dict[str, Entry]] = [{} for _ in range(BUCKETS)]
        self._closed = False

    def _open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed")

    def size(self) -> int:
        self._open()
        return len(self._leaves)

    def append(self, records: Sequence[Record], state: Mapping[str, bytes] | None = None) -> AppendResult:
        return self.append_prepared(leaves_of(records), state)

    def state(self, key: str) -> bytes | None:
        self._open()
        return self._state.get(key)

    @staticmethod
    def prepare_leaf(leaf: bytes, filename: str | None) -> Leaf:
        return (leaf, filename)

    def append_prepared(self, items: Sequence[Leaf], state: Mapping[str, bytes] | None = None) -> AppendResult:
        self._open()
        state = checked_state(state)
        old_size = len(self._leaves)
        logged = {i: found for i, (_, f) in enumerate(items) if f is not None and (found := self.lookup(f))}
        accepted, duplicates = plan_append([f for _, f in items], lambda i: items[i][0], old_size, logged)
        conflicts = []
        for position, conflicts_with in accepted:
            leaf, filename = items[position]
            index = len(self._leaves)
            self._leaves.append(leaf)
            self._tree.append(leaf_hash(leaf))
            if filename is not None:
                self._by_filename.setdefault(filename, []).append(index)
                release = file_release_key(leaf)
                if release is not None:
                    self._by_filename.setdefault(release, []).append(index)
                if conflicts_with is not None:
                    conflicts.append(Conflict(filename, index, conflicts_with))
                else:
                    self._add_to_bucket(filename, leaf)
        self._conflicts.extend(conflicts)
        self._state.update(state)
        return AppendResult(old_size, len(self._leaves), self._tree.root(), duplicates, tuple(conflicts))

    def _add_to_bucket(self, filename: str, leaf: bytes) -> None:
        """Count ``leaf`` in its bucket if it is the first file record of ``filename``.

        Called for accepted leaves that conflict with nothing: a file record
        among them is its filename's first (a later one duplicates or conflicts).
        """
        record = parse_record(leaf)
        if isinstance(record, FileRecord):
            entry = (filename, record.sha256, record.blake2b_256, record.size)
            bucket = bucket_of(filename)
            self._bucket_files[bucket][filename] = entry
            self._digests[bucket] ^= int.from_bytes(item_hash(*entry), "big")

    def bucket_digests(self) -> list[bytes]:
        self._open()
        return [d.to_bytes(DIGEST_BYTES, "big") for d in self._digests]

    def bucket_files(self, bucket: int) -> list[Entry]:
        self._open()
        if isinstance(bucket, bool) or not isinstance(bucket, int) or not 0 <= bucket < BUCKETS:
            raise OutOfRangeError(f"bucket {bucket!r} is not in 0..{BUCKETS - 1}")
        return sorted(self._bucket_files[bucket].values())

    def read_hashes(self, ids: Sequence[NodeId]) -> list[bytes]:
        self._open()
        try:
            return self._tree.read_hashes(ids)
        except ProofError:
            raise OutOfRangeError("hash asked for is beyond the log") from None

    def leaves(self, start: int, end: int) -> list[bytes]:
        self._open()
        if not 0 <= start <= end <= len(self._leaves):
            raise OutOfRangeError(f"entries [{start}, {end}) are not in a log of size {len(self._leaves)}")
        return self._leaves[start:end]

    def lookup(self, filename: str) -> list[tuple[int, bytes]]:
        self._open()
        return [(i, self._leaves[i]) for i in self._by_filename.get(filename, ())]

    def conflicts(self, start: int = 0, limit: int = 1000) -> list[Conflict]:
        self._open()
        return [c for c in self._conflicts if c.index >= start][:limit]

    def checkpoint(self) -> bytes | None:
        self._open()
        return None if self._checkpoint is None else self._checkpoint[0]

    def set_checkpoint(self, note: bytes, size: int) -> None:
        self._open()
        known = 0 if self._checkpoint is None else self._checkpoint[1]
        if size < known or size > len(self._leaves):
            raise ConflictError(
                f"checkpoint for size {size} refused: stored checkpoint has size {known}, "
                f"log has size {len(self._leaves)}",
                known_size=known,
            )
        self._checkpoint = (note, size)

    def reclaim_readers(self) -> int:
        """Nothing to free: a memory store has no reader slots."""
        self._open()
        return 0

    def close(self) -> None:
        self._closed = True
