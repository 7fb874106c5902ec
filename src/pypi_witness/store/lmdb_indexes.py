"""Building the LMDB store's derived indexes for a log written without them: ``releases`` and ``buckets``.

The store keeps both up to date in every append's transaction; these build
them whole, in one write transaction, when a store opened for writing finds
them behind its size (written by a version without them, or appended to by
one). See ``store.lmdb_store`` for their layout.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import lmdb

from pypi_witness.core.disputes.buckets import BUCKETS, DIGEST_BYTES, item_hash_of_values, item_values
from pypi_witness.core.errors import CorruptionError

# Leaves read per chunk while building ``releases``: a large log never holds all its items in memory.
RELEASE_CHUNK = 100_000


def _u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def buckets_size(txn: lmdb.Transaction, meta: lmdb._Database) -> int:
    """The log size ``buckets`` is up to date with (-1: never built)."""
    raw = txn.get(b"buckets_size", None, meta)
    return -1 if raw is None else int.from_bytes(raw, "big")


def build_releases(
    txn: lmdb.Transaction,
    leaves: lmdb._Database,
    releases: lmdb._Database,
    meta: lmdb._Database,
    item_of: Callable[[bytes, int], tuple[bytes, bytes] | None],
    keys: bytes,
) -> None:
    """Rebuild ``releases`` in ``txn`` from every leaf, unless it is up to date with the log's size
    and its keys were made the way ``keys`` names (meta ``releases_keys``).

    ``item_of(stored, index)`` is the index item of a stored leaf (None: not indexed by release).
    """
    raw = txn.get(b"releases_size", None, meta)
    size = txn.stat(leaves)["entries"]
    if raw is not None and int.from_bytes(raw, "big") == size and txn.get(b"releases_keys", None, meta) == keys:
        return
    txn.drop(releases, delete=False)
    entries, cursor = iter(txn.cursor(leaves)), txn.cursor(releases)
    while chunk := list(itertools.islice(entries, RELEASE_CHUNK)):
        items = (item_of(bytes(v), int.from_bytes(k, "big")) for k, v in chunk)
        cursor.putmulti(sorted(item for item in items if item is not None))
    txn.put(b"releases_size", _u64(size), db=meta)
    txn.put(b"releases_keys", keys, db=meta)


def build_buckets(
    txn: lmdb.Transaction,
    names: lmdb._Database,
    leaves: lmdb._Database,
    buckets: lmdb._Database,
    meta: lmdb._Database,
    release_map: Callable[[], object],
    every: int,
) -> None:
    """Compute every bucket digest from ``names`` and the leaves, in ``txn``; ``release_map()`` after
    every ``every`` index items (reading them maps pages all over the file: store.map_release).

    CorruptionError if the name index points at an entry that is missing.
    """
    txn.drop(buckets, delete=False)
    digests = [0] * BUCKETS
    seen: set[bytes] = set()  # filenames of the current bucket with a file record counted
    current = -1
    for count, (key, item) in enumerate(txn.cursor(names).iternext(keys=True, values=True)):
        bucket = (key[0] << 4) | (item[0] >> 4)
        if bucket != current:
            current, seen = bucket, set()
        stored = txn.get(item[7:13].rjust(8, b"\0"), None, leaves)
        if stored is None:
            raise CorruptionError(f"name index points at missing entry {int.from_bytes(item[7:13], 'big')}")
        if stored[0] != 1:  # not a file record
            continue
        values = bytes(stored[1:]).split(b"\n", 6)  # name, version, file, sha256, blake2b, size, ...
        if values[2] not in seen:  # items of one filename come in log order: this is its first
            seen.add(values[2])
            digests[bucket] ^= int.from_bytes(item_hash_of_values(item_values(*values[2:6])), "big")
        if count % every == every - 1:
            release_map()
    txn.cursor(buckets).putmulti(
        [(b.to_bytes(2, "big"), d.to_bytes(DIGEST_BYTES, "big")) for b, d in enumerate(digests) if d], append=True
    )
    txn.put(b"buckets_size", _u64(txn.stat(leaves)["entries"]), db=meta)
