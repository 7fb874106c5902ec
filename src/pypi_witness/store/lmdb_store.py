"""The durable log store, in one LMDB environment.

Layout (named databases):

``leaves``     8-byte big-endian index -> stored leaf (``leaf_codec``: a file
               record is stored as its values only); appended in order
``tiles``      1-byte level || 8-byte big-endian tile number -> up to TILE_WIDTH
               perfect-subtree hashes of that level, concatenated. Level 0 (the
               leaf hashes) is not stored: it is one SHA-256 of a stored leaf.
``names``      DUPFIXED: SHA-256(filename)[:1] -> SHA-256(filename)[1:8] || 6-byte
               index, packed 13 bytes an item with no per-item header; a lookup
               scans the items with its hash and keeps the leaves whose filename
               really matches (8 hash bytes tell 20 M filenames apart but for a
               handful, and those are checked)
``conflicts``  8-byte index -> 8-byte earlier index || filename (UTF-8)
``releases``   like ``names``, for the release key (``core.records.format.release_key``)
               every ``file`` record, release removal and yank is found under;
               ``meta`` ``releases_size`` is the log size it is up to date with
               and ``releases_keys`` how its keys were made (``RELEASE_KEYS``);
               a log written before either existed gets it built when opened
               for writing
``buckets``    2-byte big-endian bucket (``core.disputes.buckets``) -> its 32-byte digest;
               a bucket without a key digests to zeros. A bucket is one
               contiguous range of ``names`` (key ``bucket >> 4``, items whose
               first byte's high nibble is ``bucket & 15``).
``meta``       ``layout`` -> ``LAYOUT`` (this docstring's version); ``checkpoint``
               -> signed note; ``checkpoint_size`` -> 8 bytes; ``state:<key>`` ->
               the value an append stored under ``key`` (e.g. a follower's cursor);
               ``buckets_size`` -> 8 bytes: the log size ``buckets`` is up to date with

The log's size is the number of leaves; everything an append writes goes in
one write transaction, so a crash leaves a consistent prefix. ``buckets`` is
kept in that transaction too; a store whose ``buckets_size`` is not its size
(written before buckets existed, or appended to by such a version) gets its
buckets built from ``names`` once, in one transaction, when opened for
writing (it reads every indexed leaf: about 10 s a million here). LMDB
facts this relies on (DESIGN §5): one writer, the transaction begun and committed in one
thread, ``sync=True``, a large map size set once, ``putmulti(append=True)`` for
the monotonic leaf keys, short read transactions.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import operator
import struct
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import lmdb

from pypi_witness.core.disputes.buckets import BUCKETS, DIGEST_BYTES, EMPTY_DIGEST, Entry
from pypi_witness.core.tlog.merkle import NodeId, frontier_ids, leaf_hash, root_from_frontier
from pypi_witness.core.records.format import RELEASE_PREFIX, Record, parse_record, record_keys
from pypi_witness.core.errors import ConflictError, CorruptionError, OutOfRangeError, RecordError, StoreError
from pypi_witness.store.base import AppendResult, Conflict, checked_state, leaves_of, plan_append
from pypi_witness.store.leaf_codec import unpack_leaf
from pypi_witness.store.lmdb_items import RELEASE_KEYS, Prepared, name_prefix, release_item, prepare_leaf
from pypi_witness.store.lmdb_errors import store_error
from pypi_witness.store.lmdb_file import check_data_file
from pypi_witness.store.lmdb_indexes import build_buckets, build_releases, buckets_size
from pypi_witness.store.map_release import release_file_pages_over
from pypi_witness.store.tree_rows import Row, extend_rows

# 127 hashes = 4,064 bytes: with LMDB's 16-byte page header a full tile fills
# exactly one 4 KiB overflow page.
TILE_WIDTH = 127
_TILE_BYTES = TILE_WIDTH * 32
# The version of the layout above; a store of another layout is refused.
LAYOUT = b"pypi-witness-lmdb/1"
# Tiles kept in memory (at most 4 KiB each: 16 MiB).
TILE_CACHE_SIZE = 4096
# The name index holds entry indexes in 6 bytes.
MAX_ENTRIES = 1 << 48
# Address space reserved for the map; the file grows only as pages are used.
DEFAULT_MAP_SIZE = 1 << 40
# Readers at once (threads of a node plus CLI processes). A reader that dies
# keeps its slot until reclaim_readers (on open, and periodically in a node).
DEFAULT_MAX_READERS = 512
# The databases every store of this layout has (``releases`` and ``buckets``
# are built when a store written before them is opened for writing).
_CORE_DBS = (b"leaves", b"tiles", b"names", b"conflicts", b"meta")
# During and after an append of at least this many leaves, this process's
# mappings of the database file are released (store/map_release.py) whenever
# more than MAPPED_BUDGET bytes of file pages are resident, checked after every
# LOOKUPS_PER_CHECK filename lookups and inserts: a big write transaction reads
# index pages all over the file (and the kernel maps the neighbours of each),
# which would otherwise stay in the resident set and grow with the log.
RELEASE_MAP_AFTER = 10_000
MAPPED_BUDGET = 64 << 20
LOOKUPS_PER_CHECK = 2_000

_sha256 = hashlib.sha256
_open_paths: set[Path] = set()
_open_lock = threading.Lock()


def _u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


_NO_INDEX = bytes(6)  # the lowest index: with a lead, the first possible item
_tile_key_struct = struct.Struct(">BQ")
_tile_key = _tile_key_struct.pack  # (level, tile number) -> key
_u64_key = struct.Struct(">Q").pack  # entry index -> leaves key
_first, _second = operator.itemgetter(0), operator.itemgetter(1)
_bucket_key = struct.Struct(">H").pack  # bucket -> buckets key


class LmdbStore:
    """A ``LogStore`` in an LMDB environment at ``path`` (a directory).

    ``create=True`` makes a new store there if there is none (the directory
    too); otherwise the store must exist. An existing store's data file is
    checked before LMDB maps it (``store.lmdb_file``): CorruptionError, naming
    what is wrong, if it is missing, empty, truncated or not an LMDB file, or
    holds none of this layout's databases; StoreError if it has another
    layout version, cannot be opened, or is already open in this process
    (LMDB forbids opening an environment twice in one process). Dead readers'
    slots are reclaimed on open. ``readonly=True`` opens for reading only,
    alongside a writer in another process.

    Every LMDB failure of any method becomes a StoreError that names its
    cause (``store.lmdb_errors``): StoreFullError for a full disk or map,
    CorruptionError for damage. An entry that fails its own checks (a leaf
    that does not decode, a name-index item whose entry is not about that
    filename hash) is a CorruptionError too.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        readonly: bool = False,
        create: bool = False,
        map_size: int = DEFAULT_MAP_SIZE,
        max_readers: int = DEFAULT_MAX_READERS,
    ) -> None:
        self._path = Path(path).resolve()
        create = create and not readonly
        with _open_lock:
            if self._path in _open_paths:
                raise StoreError(f"store {self._path} is already open in this process")
            try:
                new = create and not (self._path / "data.mdb").exists()
                if not new:
                    check_data_file(self._path)  # before LMDB maps it: a truncated file would SIGBUS
                else:
                    self._path.mkdir(parents=True, exist_ok=True)
                self._env = lmdb.open(
                    str(self._path),
                    map_size=map_size,
                    max_dbs=8,
                    max_readers=max_readers,
                    readonly=readonly,
                    sync=True,
                    metasync=True,
                    readahead=False,
                    create=new,
                )
            except OSError as e:
                raise StoreError(f"cannot open store at {self._path}: {e}") from None
            except lmdb.Error as e:
                raise store_error(e, self._path, "open") from None
            try:
                self._env.reader_check()
                self._leaves, self._tiles, self._names, self._conflicts, self._meta = self._open_core(new)
                self._check_layout(new)
                self._releases = self._open_releases(readonly)
                self._buckets = self._open_buckets(readonly)
            except BaseException as e:
                self._env.close()
                if isinstance(e, lmdb.Error):
                    raise store_error(e, self._path, "open") from None
                raise
            _open_paths.add(self._path)
        self._readonly = readonly
        self._closed = False
        # A tile's hashes never change, it only gains more (the tree only
        # grows), so a cached tile is right for every hash it holds; one that
        # is too short is read again. The upper levels, which every proof
        # reads, are kept (see _cached_from_level).
        self._tile_cache: dict[tuple[int, int], bytes] = {}
        self._cache_sized_for = 0
        self._cache_level = 1
        # The right frontier of the tree at _frontier_size, kept between appends.
        self._frontier: list[bytes] = []
        self._frontier_size = 0
        # The bucket digests (ints) at _digests_size, kept between appends the same way.
        self._digests: list[int] = []
        self._digests_size = -1

    def _open_core(self, new: bool) -> list[lmdb._Database]:
        """The databases of ``_CORE_DBS``; made if ``new``, else CorruptionError if one is missing."""
        dbs = []
        for name in _CORE_DBS:
            try:
                dupsort = name == b"names"
                dbs.append(self._env.open_db(name, create=new, dupsort=dupsort, dupfixed=dupsort))
            except lmdb.NotFoundError:
                raise CorruptionError(
                    f"{self._path} holds no {name.decode()!r} database: it is not a pypi-witness log store "
                    "(emptied, replaced, or another program's)"
                ) from None
        return dbs

    def _check_layout(self, new: bool) -> None:
        with self._env.begin(write=new) as txn:
            layout = txn.get(b"layout", None, self._meta)
            if layout is None and new:
                txn.put(b"layout", LAYOUT, db=self._meta)
            elif layout is None:
                raise CorruptionError(f"{self._path} has no layout mark: it is not a whole pypi-witness log store")
            elif layout != LAYOUT:
                shown = layout.decode(errors="replace")
                raise StoreError(f"store at {self._path} has layout {shown}; this version reads {LAYOUT.decode()}")

    def _open_buckets(self, readonly: bool) -> lmdb._Database | None:
        """The ``buckets`` database, built first if it is not up to date (None: read-only and absent)."""
        if readonly:
            try:
                return self._env.open_db(b"buckets", create=False)
            except lmdb.NotFoundError:
                return None  # written before buckets existed; bucket_digests says so
        db = self._env.open_db(b"buckets", create=True)
        with self._env.begin(write=True) as txn:
            if buckets_size(txn, self._meta) != self._size(txn):
                release = functools.partial(release_file_pages_over, self._path / "data.mdb", MAPPED_BUDGET)
                build_buckets(txn, self._names, self._leaves, db, self._meta, release, LOOKUPS_PER_CHECK)
        return db

    def _open_releases(self, readonly: bool) -> lmdb._Database | None:
        """The ``releases`` index, built first if the log has entries it lacks or its keys were made
        another way (``RELEASE_KEYS``); None: read-only and absent or made another way."""
        if readonly:
            try:
                db = self._env.open_db(b"releases", create=False, dupsort=True, dupfixed=True)
            except lmdb.NotFoundError:
                return None  # written before release keys existed: release lookups find removals only
            with self._env.begin() as txn:
                current = txn.get(b"releases_keys", None, self._meta) == RELEASE_KEYS
            return db if current else None
        db = self._env.open_db(b"releases", create=True, dupsort=True, dupfixed=True)
        with self._env.begin(write=True) as txn:
            build_releases(txn, self._leaves, db, self._meta, release_item, RELEASE_KEYS)
        return db

    # --- reading -----------------------------------------------------------

    @contextlib.contextmanager
    def _txn(self, write: bool, doing: str) -> Iterator[lmdb.Transaction]:
        """A transaction, committed at the end (aborted on an error); every LMDB error as a StoreError.

        Beginning one when every reader slot is taken reclaims dead readers'
        slots and tries once more.
        """
        if self._closed:
            raise StoreError("the store is closed")
        if write and self._readonly:
            raise StoreError("the store is open read-only")
        try:
            try:
                txn = self._env.begin(write=write)
            except lmdb.ReadersFullError:
                self._env.reader_check()
                txn = self._env.begin(write=write)
            with txn:
                yield txn
        except lmdb.Error as e:
            raise store_error(e, self._path, doing) from None

    def _read(self) -> contextlib.AbstractContextManager[lmdb.Transaction]:
        return self._txn(False, "read")

    def reclaim_readers(self) -> int:
        """Free the reader slots of processes that died mid-read; how many. StoreError if LMDB fails."""
        if self._closed:
            raise StoreError("the store is closed")
        try:
            return self._env.reader_check()
        except lmdb.Error as e:
            raise store_error(e, self._path, "check the readers of") from None

    def _size(self, txn: lmdb.Transaction) -> int:
        return txn.stat(self._leaves)["entries"]

    def size(self) -> int:
        with self._read() as txn:
            return self._size(txn)

    def _hashes(self, txn: lmdb.Transaction, ids: Sequence[NodeId]) -> list[bytes]:
        """Hashes by id, from the tile cache or the store."""
        out: list[bytes] = []
        cache = self._tile_cache
        for level, index in ids:
            if level == 0:
                leaf = txn.get(index.to_bytes(8, "big"), None, self._leaves)
                if leaf is None:
                    raise OutOfRangeError(f"leaf {index} is beyond the log")
                out.append(leaf_hash(unpack_leaf(bytes(leaf))))
                continue
            tile_no, pos = divmod(index, TILE_WIDTH)
            end = pos * 32 + 32
            tile = cache.get((level, tile_no))
            if tile is None or len(tile) < end:
                tile = bytes(txn.get(_tile_key(level, tile_no), b"", self._tiles))
                if len(tile) < end:
                    raise OutOfRangeError(f"subtree ({level}, {index}) is beyond the log")
                if level >= self._cached_from_level((index + 1) << level) and len(cache) < TILE_CACHE_SIZE:
                    cache[(level, tile_no)] = tile
            out.append(tile[end - 32 : end])
        return out

    def _cached_from_level(self, leaves: int) -> int:
        """The lowest level whose tiles are cached, for a tree of at least ``leaves`` leaves.

        Every level from the top down to it fits in the cache (the tiles of all
        levels >= L number about 2 * leaves / (TILE_WIDTH * 2**L)), so the tiles
        every proof reads stay cached and the lowest levels are read from LMDB.
        """
        if leaves > self._cache_sized_for:
            self._cache_sized_for = max(leaves, 2 * self._cache_sized_for)
            need = 2 * self._cache_sized_for / (TILE_WIDTH * TILE_CACHE_SIZE)
            self._cache_level = max(1, math.ceil(math.log2(need))) if need > 1 else 1
            for key in [k for k in self._tile_cache if k[0] < self._cache_level]:
                del self._tile_cache[key]
        return self._cache_level

    def read_hashes(self, ids: Sequence[NodeId]) -> list[bytes]:
        with self._read() as txn:
            return self._hashes(txn, ids)

    def leaves(self, start: int, end: int) -> list[bytes]:
        with self._read() as txn:
            size = self._size(txn)
            if not 0 <= start <= end <= size:
                raise OutOfRangeError(f"entries [{start}, {end}) are not in a log of size {size}")
            if start == end:
                return []
            if end == start + 1:
                stored = txn.get(_u64(start), None, self._leaves)
                if stored is None:
                    raise CorruptionError(f"entry {start} of a log of size {size} is missing")
                return [unpack_leaf(stored)]
            cursor = txn.cursor(self._leaves)
            out: list[bytes] = []
            if cursor.set_key(_u64(start)):
                for key, value in cursor:
                    if key != _u64(start + len(out)):
                        break
                    out.append(unpack_leaf(value))
                    if len(out) == end - start:
                        break
            if len(out) != end - start:
                raise CorruptionError(f"entry {start + len(out)} of a log of size {size} is missing")
            return out

    def _lookup(
        self, txn: lmdb.Transaction, filename: str, bucket: bytes, lead: bytes, cursor: lmdb.Cursor
    ) -> list[tuple[int, bytes]]:
        found: list[tuple[int, bytes]] = []
        if not cursor.set_range_dup(bucket, lead + _NO_INDEX) or cursor.value()[:7] != lead:
            return found  # the common case: a filename never seen
        for item in cursor.iternext_dup(keys=False, values=True):
            if item[:7] != lead:
                break
            index = int.from_bytes(item[7:], "big")
            stored = txn.get(_u64(index), None, self._leaves)
            if stored is None:
                raise CorruptionError(f"the name index points at entry {index}, which is missing")
            leaf = unpack_leaf(stored)
            try:
                keys = record_keys(parse_record(leaf))
            except RecordError as e:
                raise CorruptionError(f"entry {index} does not parse: {e}") from None
            if filename in keys:  # not just a hash collision
                found.append((index, leaf))
            elif not any(name_prefix(key) == bucket + lead for key in keys):
                # The index item says this entry is about a name with these 8 hash bytes; none of its names is.
                raise CorruptionError(
                    f"entry {index} is indexed under the filename hash {(bucket + lead).hex()} but is about "
                    f"{', '.join(map(repr, keys)) or 'no filename'}: the entry or the name index is damaged"
                )
        return found

    def lookup(self, filename: str) -> list[tuple[int, bytes]]:
        with self._read() as txn:
            prefix = name_prefix(filename)
            found = self._lookup(txn, filename, prefix[:1], prefix[1:], txn.cursor(self._names))
            if filename.startswith(RELEASE_PREFIX) and self._releases is not None:
                found += self._lookup(txn, filename, prefix[:1], prefix[1:], txn.cursor(self._releases))
                found = sorted(dict(found).items())  # a removal or yank is in both indexes
            return found

    def bucket_digests(self) -> list[bytes]:
        with self._read() as txn:
            if self._buckets is None or buckets_size(txn, self._meta) != self._size(txn):
                raise StoreError(
                    f"the bucket digests of {self._path} are not up to date with the log: "
                    "open the store for writing once to build them"
                )
            out = [EMPTY_DIGEST] * BUCKETS
            for key, value in txn.cursor(self._buckets):
                out[int.from_bytes(key, "big")] = bytes(value)
            return out

    def bucket_files(self, bucket: int) -> list[Entry]:
        if isinstance(bucket, bool) or not isinstance(bucket, int) or not 0 <= bucket < BUCKETS:
            raise OutOfRangeError(f"bucket {bucket!r} is not in 0..{BUCKETS - 1}")
        nibble = bucket & 15
        found: dict[bytes, Entry] = {}
        with self._read() as txn:
            cursor = txn.cursor(self._names)
            if not cursor.set_range_dup(bytes((bucket >> 4,)), bytes((nibble << 4,))):
                return []
            for item in cursor.iternext_dup(keys=False, values=True):
                if item[0] >> 4 != nibble:
                    break
                stored = txn.get(item[7:13].rjust(8, b"\0"), None, self._leaves)
                if stored is None:
                    raise CorruptionError(f"name index points at missing entry {int.from_bytes(item[7:13], 'big')}")
                if stored[0] != 1:  # not a file record
                    continue
                values = bytes(stored[1:]).split(b"\n", 6)
                if values[2] not in found:  # items of one filename come in log order: this is its first
                    found[values[2]] = (values[2].decode(), values[3].decode(), values[4].decode(), int(values[5]))
        return sorted(found.values())

    def conflicts(self, start: int = 0, limit: int = 1000) -> list[Conflict]:
        out: list[Conflict] = []
        with self._read() as txn:
            cursor = txn.cursor(self._conflicts)
            if not cursor.set_range(_u64(start)):
                return out
            for key, value in cursor:
                if len(out) >= limit:
                    break
                out.append(Conflict(value[8:].decode(), int.from_bytes(key, "big"), int.from_bytes(value[:8], "big")))
        return out

    def checkpoint(self) -> bytes | None:
        with self._read() as txn:
            return txn.get(b"checkpoint", None, self._meta)

    # --- writing -----------------------------------------------------------

    def _write(self, doing: str = "write to") -> contextlib.AbstractContextManager[lmdb.Transaction]:
        return self._txn(True, doing)

    def _frontier_for(self, txn: lmdb.Transaction, size: int) -> list[bytes]:
        if size != self._frontier_size or len(self._frontier) != bin(size).count("1"):
            # First append since opening, or another process appended meanwhile.
            self._frontier = self._hashes(txn, frontier_ids(size))
            self._frontier_size = size
        return list(self._frontier)

    def append(self, records: Sequence[Record], state: Mapping[str, bytes] | None = None) -> AppendResult:
        return self.append_prepared([prepare_leaf(leaf, filename) for leaf, filename in leaves_of(records)], state)

    def state(self, key: str) -> bytes | None:
        with self._read() as txn:
            return txn.get(b"state:" + key.encode("ascii", "replace"), None, self._meta)

    prepare_leaf = staticmethod(prepare_leaf)

    def append_prepared(self, items: Sequence[Prepared], state: Mapping[str, bytes] | None = None) -> AppendResult:
        state = checked_state(state)
        # The batch's named leaves in name-index order (stable: equal names keep
        # batch order): looking them up, and later inserting them, in that order
        # walks the index forward instead of jumping to a random page each time.
        prefixes = [item[3] for item in items]
        named = [p for p in sorted(range(len(items)), key=prefixes.__getitem__) if prefixes[p]]
        try:
            with self._write("append to") as txn:
                names = txn.cursor(self._names)
                seek, value = names.set_range_dup, names.value
                logged: dict[int, list[tuple[int, bytes]]] = {}
                release = len(items) >= RELEASE_MAP_AFTER
                for start in range(0, len(named), LOOKUPS_PER_CHECK):
                    for position in named[start : start + LOOKUPS_PER_CHECK]:
                        prefix = prefixes[position]
                        # Inlined first step of _lookup: most filenames are new.
                        if seek(prefix[:1], prefix[1:] + _NO_INDEX) and value()[:7] == prefix[1:]:
                            found = self._lookup(txn, items[position][2], prefix[:1], prefix[1:], names)  # type: ignore[arg-type]
                            if found:
                                logged[position] = found
                    if release:  # the lookups read name-index pages all over the file
                        release_file_pages_over(self._path / "data.mdb", MAPPED_BUDGET)
                old_size = self._size(txn)
                frontier = self._frontier_for(txn, old_size)
                accepted, duplicates = plan_append(
                    [item[2] for item in items], lambda i: unpack_leaf(items[i][0]), old_size, logged
                )
                if old_size + len(accepted) > MAX_ENTRIES:
                    raise StoreError(f"the log cannot hold more than {MAX_ENTRIES} entries")
                if len(accepted) == len(items):  # the common case: all of them, in order
                    index_at = list(range(old_size, old_size + len(items)))
                    kept: Sequence[Prepared] = items
                else:
                    index_at = [-1] * len(items)
                    for index, (position, _) in enumerate(accepted, old_size):
                        index_at[position] = index
                    kept = [items[p] for p, _ in accepted]
                new_indexes = range(old_size, old_size + len(kept))
                txn.cursor(self._leaves).putmulti(zip(map(_u64_key, new_indexes), map(_first, kept)), append=True)
                name_items = [
                    (prefix[:1], prefix[1:] + index.to_bytes(6, "big"))
                    for prefix, index in zip(map(prefixes.__getitem__, named), map(index_at.__getitem__, named))
                    if index >= 0
                ]
                for start in range(0, len(name_items), LOOKUPS_PER_CHECK):
                    names.putmulti(name_items[start : start + LOOKUPS_PER_CHECK])
                    if release:  # inserting copies name-index pages from all over the file
                        release_file_pages_over(self._path / "data.mdb", MAPPED_BUDGET)
                if self._releases is not None:
                    releases = [release_item(item[0], index) for item, index in zip(kept, new_indexes)]
                    txn.cursor(self._releases).putmulti(sorted(r for r in releases if r is not None))
                    txn.put(b"releases_size", _u64(old_size + len(kept)), db=self._meta)
                conflicts = [Conflict(items[p][2], index_at[p], c) for p, c in accepted if c is not None]  # type: ignore[arg-type]
                digests = self._add_to_buckets(txn, items, accepted, old_size, old_size + len(kept))
                for c in conflicts:
                    txn.put(_u64(c.index), _u64(c.earlier_index) + c.filename.encode(), db=self._conflicts)
                frontier, new_size, rows = extend_rows(frontier, old_size, list(map(_second, kept)))
                self._put_tiles(txn, rows)
                for key, value in state.items():
                    txn.put(b"state:" + key.encode(), value, db=self._meta)
        except lmdb.Error as e:  # from a cursor's iteration, outside the transaction's own calls
            raise store_error(e, self._path, "append to") from None
        self._frontier, self._frontier_size = frontier, new_size
        self._digests, self._digests_size = digests, new_size
        if len(items) >= RELEASE_MAP_AFTER:
            release_file_pages_over(self._path / "data.mdb", MAPPED_BUDGET)
        return AppendResult(old_size, new_size, root_from_frontier(frontier), duplicates, tuple(conflicts))

    def _digests_for(self, txn: lmdb.Transaction, size: int) -> list[int]:
        """The bucket digests (as ints) of a log of ``size``: kept between appends, like the frontier."""
        if size != self._digests_size:  # first append since opening, or another process appended
            self._digests = [0] * BUCKETS
            for key, value in txn.cursor(self._buckets):
                self._digests[int.from_bytes(key, "big")] = int.from_bytes(value, "big")
            self._digests_size = size
        return list(self._digests)

    def _add_to_buckets(
        self,
        txn: lmdb.Transaction,
        items: Sequence[Prepared],
        accepted: list[tuple[int, int | None]],
        old_size: int,
        new_size: int,
    ) -> list[int]:
        """XOR the item hashes of the batch's first file records into their buckets' digests; the new digests.

        An accepted file record that conflicts with nothing is the first file
        record of its filename (``plan_append``): a later one either duplicates
        or conflicts with it. Every changed digest is written in ``txn``.
        """
        digests = self._digests_for(txn, old_size)
        before = list(digests)
        if len(accepted) == len(items) and all(c is None for _, c in accepted):  # the common case: all new
            firsts: Iterable[Prepared] = items
        else:
            firsts = [items[p] for p, c in accepted if c is None]
        for item in firsts:  # a leaf that is no file record adds 0
            digests[item[5]] ^= item[4]
        changed = [(_bucket_key(b), d.to_bytes(DIGEST_BYTES, "big")) for b, d in enumerate(digests) if d != before[b]]
        txn.cursor(self._buckets).putmulti(changed)
        txn.put(b"buckets_size", _u64(new_size), db=self._meta)
        return digests

    def _put_tiles(self, txn: lmdb.Transaction, rows: list[Row]) -> None:
        """Add new interior perfect-subtree hashes (level >= 1, a row of consecutive nodes a level) to their tiles."""
        for level, first, hashes in rows:
            tile_no, pos = divmod(first, TILE_WIDTH)
            existing = txn.get(_tile_key(level, tile_no), b"", self._tiles)
            if len(existing) != pos * 32:
                raise CorruptionError(f"tile ({level}, {tile_no}) holds {len(existing) // 32} hashes, expected {pos}")
            data = existing + b"".join(hashes)
            for offset in range(0, len(data), _TILE_BYTES):
                txn.put(_tile_key(level, tile_no), data[offset : offset + _TILE_BYTES], db=self._tiles)
                tile_no += 1

    def set_checkpoint(self, note: bytes, size: int) -> None:
        with self._write("store a checkpoint in") as txn:
            raw = txn.get(b"checkpoint_size", None, self._meta)
            known = 0 if raw is None else int.from_bytes(raw, "big")
            durable = self._size(txn)
            if size < known or size > durable:
                raise ConflictError(
                    f"checkpoint for size {size} refused: stored checkpoint has size {known}, "
                    f"log has size {durable}",
                    known_size=known,
                )
            txn.put(b"checkpoint", note, db=self._meta)
            txn.put(b"checkpoint_size", _u64(size), db=self._meta)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._env.close()
        with _open_lock:
            _open_paths.discard(self._path)

    def __enter__(self) -> LmdbStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
