"""Reader slots of processes killed mid-read are reclaimed: a store (and a node) whose reader table
dead readers have filled keeps reading."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pypi_witness.store.lmdb_store import LmdbStore
from tests.factories import record

DYING_READERS = Path(__file__).with_name("dying_readers.py")


def kill_readers(path: Path, count: int, *, batch: int, max_readers: int, on_full: str) -> tuple[int, int]:
    """Run dying_readers.py on the store at ``path``; (readers killed mid-read, readers that found it full)."""
    result = subprocess.run(
        [sys.executable, str(DYING_READERS), str(path), str(count), str(batch), str(max_readers), on_full],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    _, killed, _, full = result.stdout.split()
    return int(killed), int(full)


def test_dead_readers_slots_are_reclaimed_on_demand(tmp_path):
    with LmdbStore(tmp_path / "log", create=True, max_readers=16) as store:
        store.append([record(i) for i in range(10)])
        killed, full = kill_readers(tmp_path / "log", 40, batch=8, max_readers=16, on_full="stop")
        assert full > 0 and 14 <= killed <= 16  # the table is full of dead readers
        assert store.size() == 10  # a read that finds the table full reclaims it and goes on
        assert store.lookup(record(3).filename)[0][0] == 3
        killed, _ = kill_readers(tmp_path / "log", 5, batch=5, max_readers=16, on_full="stop")
        assert killed == 5
        assert store.reclaim_readers() == 5
        assert store.reclaim_readers() == 0


def test_opening_a_store_reclaims_dead_readers(tmp_path):
    with LmdbStore(tmp_path / "log", create=True, max_readers=16) as store:
        store.append([record(0)])
    # Another process keeps the store open, as a running node would: the next open is not the first,
    # so LMDB does not reset the reader table by itself.
    keeper = subprocess.Popen(
        [sys.executable, "-c", _KEEPER, str(tmp_path / "log")], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert keeper.stdout.readline() == b"open\n"
        killed, _ = kill_readers(tmp_path / "log", 6, batch=6, max_readers=16, on_full="stop")
        assert killed == 6
        with LmdbStore(tmp_path / "log", max_readers=16) as store:
            assert store.reclaim_readers() == 0  # already done by the open
    finally:
        keeper.communicate(b"", timeout=30)


_KEEPER = """
import sys, lmdb
env = lmdb.open(sys.argv[1], readonly=True, max_readers=16, max_dbs=8)
print("open", flush=True)
sys.stdin.read()
"""
