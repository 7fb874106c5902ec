"""One contract suite, run against every store."""

from __future__ import annotations

import pytest

from pypi_witness.core.tlog import merkle
from pypi_witness.core.records.format import FileRecord, format_record
from pypi_witness.core.errors import ConflictError, OutOfRangeError, RecordError, StoreError
from pypi_witness.store.lmdb_store import TILE_WIDTH, LmdbStore
from pypi_witness.store.memory import MemoryStore
from tests.factories import record


@pytest.fixture(params=["memory", "lmdb"])
def store(request, tmp_path):
    s = MemoryStore() if request.param == "memory" else LmdbStore(tmp_path / "log", create=True)
    yield s
    s.close()


def leaf_hashes(s, size):
    return [merkle.leaf_hash(x) for x in s.leaves(0, size)]


def test_empty_store(store):
    assert store.size() == 0
    assert store.checkpoint() is None
    assert store.lookup("nothing.whl") == []
    assert store.leaves(0, 0) == []
    assert store.conflicts() == []
    assert merkle.tree_root(0, store) == merkle.EMPTY_ROOT
    with pytest.raises(OutOfRangeError):
        store.read_hashes([(0, 0)])
    with pytest.raises(OutOfRangeError):
        store.leaves(0, 1)


def test_append_grows_the_tree_and_proves_everything(store):
    # Batches of odd sizes cross tile boundaries at several levels.
    batch_sizes = (1, 2, 5, TILE_WIDTH, 1, 2 * TILE_WIDTH - 3, 7)
    records = [record(i) for i in range(sum(batch_sizes))]
    sizes = []
    pos = 0
    for n in batch_sizes:
        batch = records[pos : pos + n]
        result = store.append(batch)
        assert (result.old_size, result.new_size, result.appended) == (pos, pos + n, n)
        pos += n
        assert result.root_hash == merkle.root_of(leaf_hashes(store, pos))
        sizes.append(pos)
    assert store.size() == len(records)
    assert store.leaves(0, len(records)) == [format_record(r) for r in records]
    reference = merkle.hash_reader_for(leaf_hashes(store, len(records)))
    for size in sizes:
        root = merkle.tree_root(size, store)
        assert root == merkle.tree_root(size, reference)
        for index in {0, 1 % size, size // 2, size - 1}:
            proof = merkle.inclusion_proof(index, size, store)
            assert proof == merkle.inclusion_proof(index, size, reference)
            merkle.verify_inclusion(merkle.leaf_hash(store.leaves(index, index + 1)[0]), index, size, proof, root)
        for old in sizes[: sizes.index(size) + 1]:
            proof = merkle.consistency_proof(old, size, store)
            merkle.verify_consistency(old, size, merkle.tree_root(old, store), root, proof)


def test_every_stored_subtree_matches_the_reference(store):
    n = 2 * TILE_WIDTH + 40
    store.append([record(i) for i in range(n)])
    reference = merkle.hash_reader_for(leaf_hashes(store, n))
    ids = [(level, index) for level in range(n.bit_length()) for index in range(n >> level)]
    assert store.read_hashes(ids) == reference.read_hashes(ids)
    with pytest.raises(OutOfRangeError):
        store.read_hashes([(1, n // 2)])
    with pytest.raises(OutOfRangeError):
        store.read_hashes([(0, n)])


def test_leaves_of_any_shape_round_trip(store):
    """Leaves that are not file records (or not records at all) are stored verbatim."""
    file_leaf = format_record(record(1))
    odd = [
        b"",
        b"\x00\x01binary",
        b"pypi-witness/v1 file\n",
        b"pypi-witness/v1 file",
        file_leaf[:-1],  # no final newline
        file_leaf + b"extra\n",
        file_leaf.replace(b"\nsize ", b"\nsize  "),
        file_leaf.replace(b"\nsize ", b"\nsizes "),
        file_leaf.replace(b"sha256 ", b"sha256 \n"),
    ]
    store.append_prepared([store.prepare_leaf(leaf, None) for leaf in odd])
    assert store.leaves(0, len(odd)) == odd
    assert merkle.tree_root(len(odd), store) == merkle.root_of([merkle.leaf_hash(x) for x in odd])


def test_leaves_ranges(store):
    store.append([record(i) for i in range(10)])
    assert store.leaves(3, 5) == [format_record(record(3)), format_record(record(4))]
    assert store.leaves(10, 10) == []
    for start, end in [(-1, 2), (5, 4), (0, 11), (11, 11)]:
        with pytest.raises(OutOfRangeError):
            store.leaves(start, end)


def test_duplicates_are_not_logged_again(store):
    store.append([record(1), record(2)])
    result = store.append([record(2), record(3), record(3)])
    assert result.duplicates == 2
    assert result.appended == 1
    assert store.size() == 3
    assert store.lookup(record(2).filename) == [(1, format_record(record(2)))]
    assert store.conflicts() == []


def test_a_different_hash_for_a_known_filename_is_appended_as_a_conflict(store):
    store.append([record(1), record(2)])
    swapped = record(2, variant="swapped")
    result = store.append([swapped])
    assert result.appended == 1
    assert [(c.filename, c.index, c.earlier_index) for c in result.conflicts] == [(swapped.filename, 2, 1)]
    assert store.lookup(swapped.filename) == [(1, format_record(record(2))), (2, format_record(swapped))]
    assert store.conflicts() == list(result.conflicts)
    # Seeing either version again is a duplicate, not another conflict.
    again = store.append([record(2), swapped])
    assert (again.appended, again.duplicates, again.conflicts) == (0, 2, ())


def test_conflicts_within_one_batch(store):
    a, b = record(5), record(5, variant="b")
    result = store.append([a, b, b])
    assert result.appended == 2 and result.duplicates == 1
    assert [(c.index, c.earlier_index) for c in result.conflicts] == [(1, 0)]
    assert store.conflicts(start=1) == list(result.conflicts)
    assert store.conflicts(start=2) == []


def test_size_difference_alone_is_a_conflict(store):
    a = record(7)
    b = FileRecord(**{**{f: getattr(a, f) for f in a.__slots__}, "size": a.size + 1})
    result = store.append([a, b])
    assert len(result.conflicts) == 1


def test_append_is_all_or_nothing(store):
    store.append([record(0)])
    with pytest.raises(RecordError):
        store.append([record(1), "not a record"])  # type: ignore[list-item]
    assert store.size() == 1
    assert store.lookup(record(1).filename) == []
    assert store.append([record(1)]).new_size == 2


def test_checkpoint_is_compare_and_swap(store):
    store.append([record(i) for i in range(4)])
    store.set_checkpoint(b"note at 2", 2)
    assert store.checkpoint() == b"note at 2"
    with pytest.raises(ConflictError) as e:
        store.set_checkpoint(b"note at 5", 5)
    assert e.value.known_size == 2
    with pytest.raises(ConflictError) as e:
        store.set_checkpoint(b"note at 1", 1)
    assert e.value.known_size == 2
    store.set_checkpoint(b"note at 4", 4)
    assert store.checkpoint() == b"note at 4"


def test_state_advances_with_the_records_in_one_transaction(store):
    assert store.state("follow.serial") is None
    store.append([record(0)], {"follow.serial": b"10"})
    assert store.state("follow.serial") == b"10"
    store.append([], {"follow.serial": b"11", "audit": b"x"})  # no records: state alone
    assert (store.size(), store.state("follow.serial"), store.state("audit")) == (1, b"11", b"x")
    with pytest.raises(RecordError):
        store.append([record(1), "not a record"], {"follow.serial": b"12"})  # type: ignore[list-item]
    assert (store.size(), store.state("follow.serial")) == (1, b"11")


@pytest.mark.parametrize(
    "state", [{"": b"x"}, {"k" * 201: b"x"}, {"ké": b"x"}, {"k": "text"}, {"k": b"x" * 65537}, {1: b"x"}]
)
def test_bad_state_is_refused_and_nothing_is_written(store, state):
    with pytest.raises(StoreError, match="state"):
        store.append([record(0)], state)
    assert store.size() == 0


def test_closed_store_refuses_everything(store):
    store.close()
    for call in (store.size, store.checkpoint, lambda: store.append([record(0)]), lambda: store.lookup("x")):
        with pytest.raises(StoreError):
            call()


# --- LMDB-only behaviour ------------------------------------------------------


def test_lmdb_stores_file_records_as_values_only():
    """The file record format and the store's template agree; if not, disk use grows."""
    from pypi_witness.store.leaf_codec import pack_leaf, unpack_leaf

    leaf = format_record(record(1))
    stored = pack_leaf(leaf)
    assert stored[0] == 1
    assert len(stored) < len(leaf) - 60
    assert unpack_leaf(stored) == leaf


def test_lmdb_survives_reopen_and_keeps_appending(tmp_path):
    path = tmp_path / "log"
    with LmdbStore(path, create=True) as s:
        s.append([record(i) for i in range(300)])
        s.append([record(3, variant="x")])
        s.set_checkpoint(b"cp", 301)
        s.append([], {"cursor": b"301"})
    with LmdbStore(path) as s:
        assert s.size() == 301
        assert s.state("cursor") == b"301"
        assert s.checkpoint() == b"cp"
        assert len(s.lookup(record(3).filename)) == 2
        assert len(s.conflicts()) == 1
        s.append([record(i) for i in range(300, 333)])
        assert merkle.tree_root(334, s) == merkle.root_of(leaf_hashes(s, 334))


def test_lmdb_sees_appends_made_by_another_handle(tmp_path):
    path = tmp_path / "log"
    a = LmdbStore(path, create=True)
    a.append([record(i) for i in range(5)])
    a.close()
    # A second writer (as another process would) appends; the first handle,
    # reopened with a stale frontier cache, must notice.
    b = LmdbStore(path)
    b._frontier_size = 3  # simulate a cache from an older size
    b.append([record(i) for i in range(5, 9)])
    assert merkle.tree_root(9, b) == merkle.root_of(leaf_hashes(b, 9))
    b.close()


def test_lmdb_refuses_a_store_of_another_layout(tmp_path):
    import lmdb

    with LmdbStore(tmp_path / "log", create=True):
        pass
    env = lmdb.open(str(tmp_path / "log"), max_dbs=8)
    meta = env.open_db(b"meta")  # before the write transaction: LMDB has one writer
    with env.begin(write=True) as txn:
        txn.put(b"layout", b"pypi-witness-lmdb/0", db=meta)
    env.close()
    with pytest.raises(StoreError, match="has layout pypi-witness-lmdb/0"):
        LmdbStore(tmp_path / "log")
    # The refused store was released: it can be opened again (and refused again).
    with pytest.raises(StoreError, match="has layout"):
        LmdbStore(tmp_path / "log", readonly=True)


def test_lmdb_refuses_second_open_in_one_process(tmp_path):
    with LmdbStore(tmp_path / "log", create=True):
        with pytest.raises(StoreError, match="already open"):
            LmdbStore(tmp_path / "log")


def test_lmdb_readonly(tmp_path):
    with LmdbStore(tmp_path / "log", create=True) as s:
        s.append([record(1)])
    with LmdbStore(tmp_path / "log", readonly=True) as r:
        assert r.size() == 1
        with pytest.raises(StoreError, match="read-only"):
            r.append([record(2)])


def test_lmdb_missing_directory_readonly_is_a_store_error(tmp_path):
    with pytest.raises(StoreError, match="data.mdb is missing"):
        LmdbStore(tmp_path / "absent", readonly=True)


def test_lmdb_name_index_prefix_collisions(tmp_path, monkeypatch):
    """Filenames whose 8-byte index keys collide are still told apart."""
    from pypi_witness.store import lmdb_items, lmdb_store

    for module in (lmdb_store, lmdb_items):  # appends index (lmdb_items), lookups read (lmdb_store)
        monkeypatch.setattr(module, "name_prefix", lambda filename: b"\x00" * 8)
    with LmdbStore(tmp_path / "log", create=True) as s:
        s.append([record(1), record(2)])
        assert s.lookup(record(1).filename) == [(0, format_record(record(1)))]
        assert s.lookup(record(2).filename) == [(1, format_record(record(2)))]
        result = s.append([record(2)])
        assert (result.duplicates, result.conflicts) == (1, ())


def test_a_release_key_finds_the_release_files_and_its_yanks_without_conflicts(store, tmp_path):
    from dataclasses import replace

    from pypi_witness.core.records.format import YankRecord, release_key

    a = replace(record(1), version="1.0", filename="demo-1.0-py3-none-any.whl")
    b = replace(record(2), version="1.0", filename="demo-1.0.tar.gz")  # other hashes, same release
    other = replace(record(3), version="2.0", filename="demo-2.0.tar.gz")
    yank = YankRecord("demo", "1.0", True, "2024-01-01T00:00:00.000000Z", 7)
    result = store.append([a, other, b, yank])
    assert result.conflicts == ()  # two files of one release never conflict
    found = store.lookup(release_key("demo", "1.0"))
    assert [i for i, _ in found] == [0, 2, 3]
    assert [leaf for _, leaf in found] == [format_record(a), format_record(b), format_record(yank)]
    assert [i for i, _ in store.lookup(release_key("demo", "2.0"))] == [1]
    assert store.lookup(release_key("demo", "3.0")) == []
    assert [i for i, _ in store.lookup(a.filename)] == [0]  # the filename's own lookup is unchanged


def test_lmdb_builds_the_release_index_for_a_log_written_without_it(tmp_path):
    import lmdb

    from pypi_witness.core.records.format import release_key

    records = [record(i) for i in range(250)]
    path = tmp_path / "log"
    with LmdbStore(path, create=True) as s:
        s.append(records)
    env = lmdb.open(str(path), max_dbs=8)  # as a version without the release index left it
    meta, releases = env.open_db(b"meta"), env.open_db(b"releases", dupsort=True, dupfixed=True)
    with env.begin(write=True) as txn:
        txn.delete(b"releases_size", db=meta)
        txn.drop(releases, delete=True)
    env.close()
    with LmdbStore(path, readonly=True) as r:
        assert r.lookup(release_key("demo", "1.7")) == []  # read-only: nothing built, nothing found
    with LmdbStore(path) as s:
        assert s.lookup(release_key("demo", "1.7")) == [(7, format_record(records[7]))]
        assert s.lookup(release_key("demo", "1.249")) == [(249, format_record(records[249]))]


def _unnormalized_release():
    """certifi 2015.04.28 as PyPI keeps it (uploaded version), its two files and a yank of it."""
    from dataclasses import replace

    from pypi_witness.core.records.format import YankRecord

    wheel = replace(record(1, project="certifi"), version="2015.04.28", filename="certifi-2015.04.28-py2.py3-none-any.whl")
    sdist = replace(record(2, project="certifi"), version="2015.04.28", filename="certifi-2015.04.28.tar.gz")
    django = replace(record(3, project="django"), version="1.8c1", filename="Django-1.8c1-py2.py3-none-any.whl")
    yank = YankRecord("certifi", "2015.04.28", True, "2024-01-01T00:00:00.000000Z", 7)
    return [wheel, sdist, django, yank]


def test_a_release_key_meets_its_records_whatever_form_the_version_was_uploaded_in(store):
    from pypi_witness.core.records.format import release_key

    wheel, sdist, django, yank = _unnormalized_release()
    store.append([wheel, sdist, django, yank])
    # Lock tools write the PEP 440 normalized version; every spelling of it finds the release.
    for version in ("2015.4.28", "2015.04.28", "2015.4.28.0"):
        assert [i for i, _ in store.lookup(release_key("certifi", version))] == [0, 1, 3], version
    assert [i for i, _ in store.lookup(release_key("django", "1.8rc1"))] == [2]


def test_lmdb_rebuilds_a_release_index_keyed_by_uploaded_versions_once(tmp_path):
    """A log written when release keys held the version as uploaded gets its index rebuilt when opened."""
    import hashlib

    import lmdb

    from pypi_witness.core.records.format import release_key

    records = _unnormalized_release()
    path = tmp_path / "log"
    with LmdbStore(path, create=True) as s:
        s.append(records)
    # Rewrite the indexes as the earlier version left them: release items (files only) and the yank's
    # name-index item under the key with the verbatim version, and no record of how the keys were made.
    old_key = "/release/certifi/2015.04.28"
    new_key = release_key("certifi", "2015.04.28")

    def item(key: str, index: int) -> tuple[bytes, bytes]:
        prefix = hashlib.sha256(key.encode()).digest()[:8]
        return prefix[:1], prefix[1:] + index.to_bytes(6, "big")

    env = lmdb.open(str(path), max_dbs=8)
    meta = env.open_db(b"meta")
    names = env.open_db(b"names", dupsort=True, dupfixed=True)
    releases = env.open_db(b"releases", dupsort=True, dupfixed=True)
    with env.begin(write=True) as txn:
        for key in list(txn.cursor(meta).iternext(keys=True, values=False)):
            if bytes(key).startswith(b"releases_") and bytes(key) != b"releases_size":
                txn.delete(key, db=meta)
        txn.drop(releases, delete=False)
        for index, key in ((0, old_key), (1, old_key), (2, "/release/django/1.8c1")):
            txn.put(*item(key, index), db=releases, dupdata=True)
        assert txn.delete(*item(new_key, 3), db=names)
        txn.put(*item(old_key, 3), db=names, dupdata=True)
    env.close()
    with LmdbStore(path, readonly=True) as r:  # read-only: the old index is not used for canonical keys
        assert [i for i, _ in r.lookup(new_key)] == []
    with LmdbStore(path) as s:
        assert [i for i, _ in s.lookup(new_key)] == [0, 1, 3]
        assert [i for i, _ in s.lookup(release_key("django", "1.8rc1"))] == [2]
        assert s.size() == 4
    with LmdbStore(path, readonly=True) as r:  # built once, for good
        assert [i for i, _ in r.lookup(new_key)] == [0, 1, 3]
