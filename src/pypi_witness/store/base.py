"""What every log store promises, and the append rules they share.

A store holds an append-only list of leaves (formatted log records), the
perfect-subtree hashes that prove anything about it, an index from filename to
the entries that mention it, the conflicts found on append, and the latest
signed checkpoint. ``tests/store/test_contract.py`` runs one suite against every
store.

Every failure of a store is a StoreError (never an exception of the library
under it): StoreFullError when a write finds no space, CorruptionError when
stored data fails its own checks (an entry that does not decode or is not
what its index says), so damage is never mistaken for an absence.

Append rules (the same in every store, decided by ``plan_append``):

- a file record whose filename is already logged with the same sha256,
  blake2b_256 and size is a duplicate and is not logged again;
- a file record whose filename is logged with a *different* sha256,
  blake2b_256 or size is appended (the log records what was seen) and recorded
  as a ``Conflict``: the core evidence of tampering, never dropped;
- every other record is appended.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from pypi_witness.core.tlog.merkle import NodeId
from pypi_witness.core.records.format import FileRecord, Record, format_record, parse_record, record_filename, release_key
from pypi_witness.core.errors import StoreError


@dataclass(frozen=True, slots=True)
class Conflict:
    """Entry ``index`` logs ``filename`` with other hashes than entry ``earlier_index``."""

    filename: str
    index: int
    earlier_index: int


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What one append did: the log grew from ``old_size`` to ``new_size``."""

    old_size: int
    new_size: int
    root_hash: bytes
    duplicates: int
    conflicts: tuple[Conflict, ...]

    @property
    def appended(self) -> int:
        return self.new_size - self.old_size


# A leaf to append: its bytes and the filename it indexes under (None for a
# record about no file).
Leaf = tuple[bytes, str | None]


def leaves_of(records: Iterable[Record]) -> list[Leaf]:
    """The (leaf bytes, filename) pairs of ``records``. RecordError if one cannot be formatted."""
    return [(format_record(r), record_filename(r)) for r in records]


_FILE_HEADER = b"pypi-witness/v1 file\nname "


def file_release_key(leaf: bytes) -> str | None:
    """The release key (``core.records.format.release_key``) a ``file`` record's leaf is also indexed under;
    None for a leaf of another kind. The leaf is a formatted record, so its lines are in order."""
    if not leaf.startswith(_FILE_HEADER):
        return None
    end = leaf.index(b"\n", len(_FILE_HEADER))
    version_end = leaf.index(b"\n", end + 1)
    # "name <project>\nversion <version>\n": neither holds a "/" or a newline.
    return release_key(leaf[len(_FILE_HEADER) : end].decode(), leaf[end + len(b"\nversion ") : version_end].decode())


MAX_STATE_KEY = 200
MAX_STATE_VALUE = 1 << 16


def checked_state(state: Mapping[str, bytes] | None) -> dict[str, bytes]:
    """``state`` as a dict, checked: keys are non-empty ASCII of at most
    MAX_STATE_KEY characters, values bytes of at most MAX_STATE_VALUE. StoreError otherwise."""
    if not state:
        return {}
    out = {}
    for key, value in state.items():
        if type(key) is not str or not key or len(key) > MAX_STATE_KEY or not key.isascii():
            raise StoreError(f"state key {key!r} must be 1 to {MAX_STATE_KEY} ASCII characters")
        if type(value) is not bytes or len(value) > MAX_STATE_VALUE:
            raise StoreError(f"state value for {key!r} must be bytes of at most {MAX_STATE_VALUE}")
        out[key] = value
    return out


class LogStore(Protocol):
    """The contract every store implements (see the module docstring)."""

    def size(self) -> int:
        """The number of leaves durably stored."""
        ...

    def append(self, records: Sequence[Record], state: Mapping[str, bytes] | None = None) -> AppendResult:
        """Append ``records`` atomically (all or nothing) under the append rules.

        ``state`` entries (e.g. a follower's cursor) are stored in the same
        transaction, so they advance exactly with the records they produced
        (an empty ``records`` just stores them). Raises RecordError for a record
        that cannot be formatted and StoreError if the store cannot write;
        either way nothing changed.
        """
        ...

    def state(self, key: str) -> bytes | None:
        """The value last stored under ``key`` by an append, or None."""
        ...

    @staticmethod
    def prepare_leaf(leaf: bytes, filename: str | None) -> object:
        """The stateless part of appending a leaf (hashing, encoding), as a picklable value.

        Pure and module-level, so import workers in other processes can run it;
        ``append_prepared`` takes its results. The leaf is trusted to be well
        formed (made by this package's ``format_record``).
        """
        ...

    def append_prepared(self, items: Sequence[object], state: Mapping[str, bytes] | None = None) -> AppendResult:
        """Like ``append``, for the results of ``prepare_leaf``."""
        ...

    def read_hashes(self, ids: Sequence[NodeId]) -> list[bytes]:
        """Perfect-subtree hashes by id (see core.tlog.merkle). OutOfRangeError past the log."""
        ...

    def leaves(self, start: int, end: int) -> list[bytes]:
        """Leaves ``[start, end)``; OutOfRangeError unless 0 <= start <= end <= size."""
        ...

    def lookup(self, filename: str) -> list[tuple[int, bytes]]:
        """Every (index, leaf) that mentions ``filename``, in log order; [] if none."""
        ...

    def bucket_digests(self) -> list[bytes]:
        """The digest of every filename bucket (``core.disputes.buckets``): BUCKETS values of 32 bytes.

        A bucket counts each filename at its first file record; the digests
        change in the same transaction as the append that logs a new
        filename. StoreError if they cannot be read (an LMDB store written
        before buckets existed and opened read-only: open it for writing once).
        """
        ...

    def bucket_files(self, bucket: int) -> list[tuple[str, str, str, int]]:
        """The (filename, sha256, blake2b, size) of each filename in ``bucket``, at its first
        file record, sorted by filename. OutOfRangeError unless 0 <= bucket < BUCKETS."""
        ...

    def conflicts(self, start: int = 0, limit: int = 1000) -> list[Conflict]:
        """Conflicts in log order, from entry ``start`` on, at most ``limit``."""
        ...

    def checkpoint(self) -> bytes | None:
        """The latest stored signed checkpoint note, or None."""
        ...

    def set_checkpoint(self, note: bytes, size: int) -> None:
        """Store a signed checkpoint for tree ``size``.

        Compare-and-swap: raises ConflictError(known_size) if ``size`` is below the
        stored checkpoint's size or above the durable log size.
        """
        ...

    def reclaim_readers(self) -> int:
        """Free the reader slots of processes that died mid-read; how many were freed. StoreError if it fails."""
        ...

    def close(self) -> None:
        """Release the store; further calls raise StoreError."""
        ...


Identity = tuple[str, str, int]


def _identity(leaf: bytes) -> Identity | None:
    """What makes two file observations the same file; None for other record kinds."""
    record = parse_record(leaf)
    if isinstance(record, FileRecord):
        return (record.sha256, record.blake2b_256, record.size)
    return None


def _identities(entries: Iterable[tuple[int, bytes]]) -> dict[Identity, int]:
    """Identity -> first index, over the file records among ``entries``."""
    out: dict[Identity, int] = {}
    for index, leaf in entries:
        identity = _identity(leaf)
        if identity is not None:
            out.setdefault(identity, index)
    return out


def plan_append(
    filenames: Sequence[str | None],
    leaf_at: Callable[[int], bytes],
    size: int,
    logged: Mapping[int, Sequence[tuple[int, bytes]]],
) -> tuple[list[tuple[int, int | None]], int]:
    """Apply the append rules to a batch for a log of ``size`` entries.

    ``filenames[i]`` is the filename of the batch's i-th leaf and ``leaf_at(i)``
    its bytes; ``logged[i]`` holds the (index, leaf) pairs already stored for
    the i-th leaf's filename (absent if there are none). Returns ``(accepted,
    duplicates)``: the batch positions to append, in order, each with the
    earlier entry it conflicts with (or None), and the number of duplicates
    skipped. Leaves are parsed only when their filename is already known.
    """
    if not logged:
        named = [f for f in filenames if f is not None]
        if len(set(named)) == len(named):  # the common case: every filename is new
            return [(position, None) for position in range(len(filenames))], 0
    accepted: list[tuple[int, int | None]] = []
    duplicates = 0
    new_names: dict[str, tuple[int, int]] = {}  # first seen in this batch: (index, position)
    known: dict[str, dict[Identity, int]] = {}  # parsed identities per repeated filename
    for position, filename in enumerate(filenames):
        index = size + len(accepted)
        if filename is None:
            accepted.append((position, None))
            continue
        identities = known.get(filename)
        if identities is None:
            first = new_names.pop(filename, None)
            stored = [(first[0], leaf_at(first[1]))] if first is not None else logged.get(position, ())
            if not stored:
                new_names[filename] = (index, position)
                accepted.append((position, None))
                continue
            identities = known[filename] = _identities(stored)
        identity = _identity(leaf_at(position))
        if identity is None:
            accepted.append((position, None))
            continue
        if identity in identities:
            duplicates += 1
            continue
        conflicts_with = min(identities.values()) if identities else None
        identities[identity] = index
        accepted.append((position, conflicts_with))
    return accepted, duplicates
