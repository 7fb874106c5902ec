"""The filename-bucket digests every store keeps (the contract), and the LMDB store's build of them."""

from __future__ import annotations

import lmdb
import pytest

from pypi_witness.core.disputes.buckets import (
    BUCKETS,
    EMPTY_DIGEST,
    bucket_digest,
    bucket_of,
    digests_from_entries,
    item_hash,
    xor_digest,
)
from pypi_witness.core.records.format import AlarmKind, AlarmRecord, FileRecord, RemovalRecord, YankRecord
from pypi_witness.core.errors import OutOfRangeError, StoreError
from pypi_witness.store.lmdb_store import LmdbStore
from pypi_witness.store.memory import MemoryStore
from tests.factories import record

TIME = "2024-02-03T04:05:06.000007Z"


@pytest.fixture(params=["memory", "lmdb"])
def store(request, tmp_path):
    s = MemoryStore() if request.param == "memory" else LmdbStore(tmp_path / "log", create=True)
    yield s
    s.close()


def entry(r: FileRecord) -> tuple[str, str, str, int]:
    return (r.filename, r.sha256, r.blake2b_256, r.size)


def removal(r: FileRecord) -> RemovalRecord:
    return RemovalRecord(r.project, r.version, r.filename, TIME, None)


def alarm(r: FileRecord) -> AlarmRecord:
    return AlarmRecord(AlarmKind.BAD_BYTES, r, seen_sha256="0" * 64)


def shared_bucket(n: int) -> tuple[int, list[FileRecord]]:
    """A bucket and ``n`` test records whose filenames fall in it."""
    by_bucket: dict[int, list[FileRecord]] = {}
    for i in range(100_000):
        r = record(i)
        group = by_bucket.setdefault(bucket_of(r.filename), [])
        group.append(r)
        if len(group) == n:
            return bucket_of(r.filename), group
    raise AssertionError("no bucket filled")


def test_an_empty_store_has_zero_digests_and_empty_buckets(store):
    assert store.bucket_digests() == [EMPTY_DIGEST] * BUCKETS
    assert store.bucket_files(0) == [] and store.bucket_files(BUCKETS - 1) == []


def test_digests_count_each_filename_at_its_first_file_record(store):
    first = [record(i) for i in range(40)]
    store.append(first[:25])
    store.append(first[25:] + [first[3]])  # a duplicate changes nothing
    expected = digests_from_entries([entry(r) for r in first])
    assert store.bucket_digests() == expected
    # A swap (same filename, other hashes) is logged as a conflict and changes no digest,
    # nor do removals, yanks and alarms, whether or not their filename has a file record.
    result = store.append(
        [
            record(5, variant="swapped"),
            removal(first[6]),
            YankRecord("demo", first[7].version, True, TIME, 9),
            alarm(first[8]),
            alarm(record(500)),
            removal(record(501)),
        ]
    )
    assert len(result.conflicts) == 1
    assert store.bucket_digests() == expected


def test_a_file_record_after_a_removal_of_its_filename_is_its_first(store):
    late, early = record(600), record(601)
    store.append([removal(early), alarm(early)])
    store.append([removal(late), late, record(600, variant="other")])  # within one batch, then a swap
    store.append([early])
    assert store.bucket_digests() == digests_from_entries([entry(late), entry(early)])
    assert store.bucket_files(bucket_of(late.filename)) == [entry(late)]


def test_the_swap_in_the_same_batch_is_not_counted(store):
    a, b = record(9), record(9, variant="b")
    store.append([a, b])
    assert store.bucket_digests() == digests_from_entries([entry(a)])
    assert store.bucket_files(bucket_of(a.filename)) == [entry(a)]


def test_bucket_files_are_sorted_first_records_of_one_bucket(store):
    bucket, group = shared_bucket(3)
    store.append([group[2], record(70), group[0]])
    store.append([record(group[0].size - 1000, variant="swap"), removal(group[1]), group[1]])
    assert store.bucket_files(bucket) == sorted(entry(r) for r in group)
    assert store.bucket_digests()[bucket] == bucket_digest([entry(r) for r in group])
    assert store.bucket_files((bucket + 1) % BUCKETS) == [
        entry(r) for r in [record(70)] if bucket_of(r.filename) == (bucket + 1) % BUCKETS
    ]


@pytest.mark.parametrize("bucket", [-1, BUCKETS, True, "1", None])
def test_bucket_files_refuses_a_bucket_out_of_range(store, bucket):
    with pytest.raises(OutOfRangeError):
        store.bucket_files(bucket)


def test_closed_store_refuses_bucket_reads(store):
    store.close()
    with pytest.raises(StoreError):
        store.bucket_digests()
    with pytest.raises(StoreError):
        store.bucket_files(0)


# --- LMDB only: kept across opens, built once for a log written before buckets ---------


def _forget_buckets(path, *, drop_db: bool) -> None:
    """Make the store at ``path`` look written by a version without buckets (or appended to by one)."""
    env = lmdb.open(str(path), max_dbs=8)
    meta = env.open_db(b"meta")
    buckets = env.open_db(b"buckets")
    with env.begin(write=True) as txn:
        txn.delete(b"buckets_size", db=meta)
        txn.drop(buckets, delete=drop_db)
    env.close()


def test_lmdb_digests_survive_reopen(tmp_path):
    records = [record(i) for i in range(200)]
    with LmdbStore(tmp_path / "log", create=True) as s:
        s.append(records[:150])
    with LmdbStore(tmp_path / "log") as s:
        s.append(records[150:])
        assert s.bucket_digests() == digests_from_entries([entry(r) for r in records])
    with LmdbStore(tmp_path / "log", readonly=True) as r:
        assert r.bucket_digests() == digests_from_entries([entry(r) for r in records])


@pytest.mark.parametrize("drop_db", [True, False])
def test_lmdb_builds_missing_or_stale_buckets_once_at_open(tmp_path, drop_db):
    first = [record(i) for i in range(300)]
    path = tmp_path / "log"
    with LmdbStore(path, create=True) as s:
        s.append(first)
        s.append([record(4, variant="swap"), removal(first[5]), alarm(record(900)), removal(record(901)), record(901)])
        expected = s.bucket_digests()
        files = {b: s.bucket_files(b) for b in range(0, BUCKETS, 7)}
    assert expected == digests_from_entries([entry(r) for r in first + [record(901)]])
    _forget_buckets(path, drop_db=drop_db)
    with LmdbStore(path, readonly=True) as r:  # read-only cannot build: says so
        assert r.size() == 305
        with pytest.raises(StoreError, match="not up to date"):
            r.bucket_digests()
        assert {b: r.bucket_files(b) for b in files} == files  # read from the name index
    with LmdbStore(path) as s:
        assert s.bucket_digests() == expected
        s.append([record(1000)])
        assert s.bucket_digests() == digests_from_entries([entry(r) for r in first + [record(901), record(1000)]])


def test_lmdb_buckets_tell_colliding_name_prefixes_apart(tmp_path, monkeypatch):
    """Every filename indexed under one 8-byte prefix: buckets still count each filename once."""
    from pypi_witness.store import lmdb_items, lmdb_store

    for module in (lmdb_store, lmdb_items):  # appends index (lmdb_items), lookups read (lmdb_store)
        monkeypatch.setattr(module, "name_prefix", lambda filename: b"\x00" * 8)
    a, b = record(1), record(2)
    with LmdbStore(tmp_path / "log", create=True) as s:
        s.append([a, b, record(1, variant="swap")])
        s.append([b])
        assert s.bucket_files(0) == sorted([entry(a), entry(b)])
        digest = xor_digest(item_hash(*entry(a)), item_hash(*entry(b)))
        assert s.bucket_digests()[0] == digest
    _forget_buckets(tmp_path / "log", drop_db=True)
    with LmdbStore(tmp_path / "log") as s:
        assert s.bucket_digests() == [digest] + [EMPTY_DIGEST] * (BUCKETS - 1)
