"""Damaged LMDB stores: refused at open with one line, or reported as corruption when read; never a crash.

A truncated data file would kill the process with SIGBUS the moment LMDB
touched a missing page, so the truncation cases open the store in a child
process: a crash there fails the test instead of ending the test run.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import lmdb
import pytest

from pypi_witness.core.records.format import format_record
from pypi_witness.core.errors import CorruptionError
from pypi_witness.signing.log import STORE_DIR, init_log, open_log
from pypi_witness.store.lmdb_file import check_data_file
from pypi_witness.store.lmdb_store import LmdbStore
from tests.factories import record

ORIGIN = "damage.example/log"
RECORDS = 3000


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A data directory with a log of RECORDS entries and a signed checkpoint, then 500 entries more.

    The last append, unsigned, writes the file's last pages (a signing's small
    commit may leave free pages at its end, where a cut damages nothing).
    """
    data = tmp_path_factory.mktemp("damage") / "node"
    log = init_log(data, ORIGIN)
    for start in range(0, RECORDS, 500):
        log.append([record(i) for i in range(start, start + 500)])
        log.publish()
    log.append([record(i) for i in range(RECORDS, RECORDS + 500)])
    log.close()
    return data


@pytest.fixture
def data(template, tmp_path) -> Path:
    return Path(shutil.copytree(template, tmp_path / "node"))


def data_file(data: Path) -> Path:
    return data / STORE_DIR / "data.mdb"


def refusal(data: Path) -> str:
    """The message that opening the log for writing, and read-only, refuses ``data`` with (the same)."""
    messages = []
    for readonly in (False, True):
        with pytest.raises(CorruptionError) as refused:
            open_log(data, readonly=readonly)
        messages.append(str(refused.value))
    assert messages[0] == messages[1]
    assert "\n" not in messages[0]
    assert f"refusing to open the log in {data}" in messages[0]
    assert "Nothing was signed" in messages[0]
    assert f"restore {data / STORE_DIR} from a backup" in messages[0]
    return messages[0]


def test_an_emptied_data_file_is_refused(data):
    os.truncate(data_file(data), 0)
    assert "data.mdb is empty" in refusal(data)
    assert data_file(data).stat().st_size == 0  # nothing was written into it either


def test_a_deleted_data_file_is_refused_and_not_made_again(data):
    data_file(data).unlink()
    assert "data.mdb is missing" in refusal(data)
    assert not data_file(data).exists()


def test_a_deleted_store_directory_is_refused(data):
    shutil.rmtree(data / STORE_DIR)
    assert f"its store {data / STORE_DIR} is missing" in refusal(data)
    assert not (data / STORE_DIR).exists()


def test_a_foreign_lmdb_environment_is_refused(data):
    shutil.rmtree(data / STORE_DIR)
    env = lmdb.open(str(data / STORE_DIR), max_dbs=2)
    other = env.open_db(b"accounts")
    with env.begin(write=True) as txn:
        txn.put(b"alice", b"100", db=other)
    env.close()
    assert "holds no 'leaves' database: it is not a pypi-witness log store" in refusal(data)


def test_a_file_that_is_not_lmdb_is_refused(data):
    size = data_file(data).stat().st_size
    data_file(data).write_bytes(random.Random(5).randbytes(size))
    assert "is not an LMDB data file" in refusal(data)


def test_a_store_without_its_layout_mark_is_refused(data):
    env = lmdb.open(str(data / STORE_DIR), max_dbs=8)
    meta = env.open_db(b"meta")
    with env.begin(write=True) as txn:
        txn.delete(b"layout", db=meta)
    env.close()
    assert "has no layout mark" in refusal(data)


_OPEN_IN_CHILD = """
import sys
from pathlib import Path
from pypi_witness.core.errors import WitnessError
from pypi_witness.signing.log import open_log
try:
    log = open_log(Path(sys.argv[1]), readonly=sys.argv[2] == "ro")
except WitnessError as e:
    print(type(e).__name__, e)
    sys.exit(3)
log.lookup(sys.argv[3])  # reads pages all over the file
print("opened")
"""


@pytest.mark.parametrize("kept", [0.5, 0.9, 0.999])
def test_a_truncated_data_file_is_refused_before_lmdb_touches_it(data, kept):
    size = data_file(data).stat().st_size
    os.truncate(data_file(data), int(size * kept))
    for mode in ("rw", "ro"):
        child = subprocess.run(
            [sys.executable, "-c", _OPEN_IN_CHILD, str(data), mode, record(RECORDS + 499).filename],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert child.returncode == 3, (child.returncode, child.stdout, child.stderr)  # -7 would be SIGBUS
        assert child.stdout.startswith("CorruptionError refusing to open the log in"), child.stdout
        assert "data.mdb is truncated" in child.stdout and "Nothing was signed" in child.stdout


def test_a_page_aligned_truncation_is_refused(data):
    """Truncation at a page boundary leaves no partial page: the free list tells used pages from free ones."""
    size = data_file(data).stat().st_size
    os.truncate(data_file(data), (size // 2) // 4096 * 4096)
    with pytest.raises(CorruptionError, match="is truncated"):
        check_data_file(data / STORE_DIR)


def test_the_open_check_agrees_with_lmdb_across_many_commits(tmp_path):
    """A sound file passes after every commit, though LMDB often ends it short of its last page (a free tail)."""
    rng = random.Random(11)
    env = lmdb.open(str(tmp_path / "env"), map_size=1 << 30, max_dbs=2)
    db = env.open_db(b"x")
    short = 0
    for _ in range(150):
        with env.begin(write=True) as txn:
            for _ in range(rng.randint(1, 60)):
                txn.put(rng.randbytes(8), rng.randbytes(rng.choice([10, 300, 5000, 20000])), db=db)
            cursor = txn.cursor(db)
            if cursor.first():
                for _ in range(rng.randint(0, 40)):
                    if not cursor.delete():
                        break
        info = env.info()
        checked = check_data_file(tmp_path / "env")
        assert (checked.last_pgno, checked.txnid) == (info["last_pgno"], info["last_txnid"])
        short += checked.file_pages <= info["last_pgno"]
    env.close()
    assert short > 0  # the free-tail case happened, and passed


def test_a_store_is_created_only_when_asked(tmp_path):
    with pytest.raises(CorruptionError, match="data.mdb is missing"):
        LmdbStore(tmp_path / "log")
    assert not (tmp_path / "log").exists()
    with LmdbStore(tmp_path / "log", create=True) as store:
        store.append([record(0)])
    (tmp_path / "log" / "data.mdb").write_bytes(b"")
    with pytest.raises(CorruptionError, match="empty"):
        LmdbStore(tmp_path / "log", create=True)  # an empty file is never taken for a new store


# --- bit flips: found when read, reported as corruption --------------------------------------------


def flip(path: Path, needle: bytes, offset: int = 0) -> None:
    """Flip one bit of the single occurrence of ``needle`` in the file at ``path``."""
    content = bytearray(path.read_bytes())
    at = content.find(needle)
    assert at >= 0 and content.find(needle, at + 1) < 0, "needle must occur once"
    content[at + offset] ^= 0x04
    path.write_bytes(bytes(content))


def test_a_flipped_filename_is_corruption_not_absence(data):
    target = record(1234)
    flip(data_file(data), target.filename.encode(), offset=7)  # "demo-1.1234-..." becomes another name
    log = open_log(data, readonly=True)
    try:
        with pytest.raises(CorruptionError, match="entry 1234 is indexed under the filename hash"):
            log.lookup(target.filename)
        assert log.lookup(record(1300).filename).entries  # the rest of the log still reads
    finally:
        log.close()


def test_a_flipped_hash_is_corruption_when_proven(data):
    target = record(2001)
    flip(data_file(data), target.sha256.encode(), offset=10)
    log = open_log(data, readonly=True)
    try:
        with pytest.raises(CorruptionError, match="entries 2000 and 2001 do not match"):
            log.lookup(target.filename)
        with pytest.raises(CorruptionError, match="entries 2000 and 2001 do not match"):
            log.leaf_and_proof(2001, RECORDS)
        with pytest.raises(CorruptionError, match="entries 2000 and 2001 do not match"):
            log.leaf_and_proof(2000, RECORDS)  # its pair's proof starts with the damaged leaf
        assert log.leaf_and_proof(2002, RECORDS)[0] == format_record(record(2002))
    finally:
        log.close()


def test_a_flipped_leaf_encoding_is_corruption(data):
    """A leaf whose stored form no longer decodes."""
    target = record(17)
    stored = b"\x01demo\n1.17\n" + target.filename.encode()
    flip(data_file(data), stored, offset=0)  # the template code byte
    with LmdbStore(data / STORE_DIR, readonly=True) as store:
        with pytest.raises(CorruptionError, match="stored leaf"):
            store.leaves(17, 18)
        with pytest.raises(CorruptionError, match="stored leaf"):
            store.leaves(10, 20)


def test_every_lmdb_failure_is_a_store_error(data, monkeypatch):
    """A fault inside LMDB (here: its own 'page not found') surfaces as CorruptionError, never an lmdb.Error."""
    with LmdbStore(data / STORE_DIR, readonly=True) as store:
        real = store._env

        class Faulty:
            def begin(self, **kwargs):
                raise lmdb.PageNotFoundError("mdb_get: MDB_PAGE_NOTFOUND: Requested page not found")

            def __getattr__(self, name):
                return getattr(real, name)

        store._env = Faulty()
        with pytest.raises(CorruptionError, match="the store is damaged"):
            store.size()
        store._env = real


def test_a_damaged_tree_hash_is_corruption_when_a_lookup_is_proven(data):
    """Damage above the leaves' pairs (a stored subtree hash) fails the proof against the signed checkpoint."""
    log = open_log(data, readonly=True)
    try:
        real = log.store.read_hashes

        def damaged(ids):
            return [bytes(32) if level == 3 else h for (level, _), h in zip(ids, real(ids))]

        log.store.read_hashes = damaged
        with pytest.raises(CorruptionError, match="entry 2001 .* does not match the log's signed checkpoint of size"):
            log.lookup(record(2001).filename)
    finally:
        log.close()
