"""Writes that find no space fail with an error that says so; nothing of them is written, reads go on."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pypi_witness.core.errors import StoreFullError
from pypi_witness.signing.log import init_log
from pypi_witness.store.lmdb_store import LmdbStore
from tests.factories import generated_lines, record
from tests.small_disk import fill, small_filesystem


def test_a_full_map_is_named(tmp_path):
    with LmdbStore(tmp_path / "log", create=True, map_size=256 << 10) as store:
        store.append([record(i) for i in range(100)])
        with pytest.raises(StoreFullError, match="its map is full \\(MDB_MAP_FULL\\); nothing of this write was made"):
            store.append([record(i) for i in range(100, 3000)])
        assert store.size() == 100
        assert store.lookup(record(42).filename)[0][0] == 42
        store.append([record(100)])  # a small write still fits
        assert store.size() == 101


def test_a_full_disk_is_named_and_writes_work_again_once_space_is_freed(tmp_path):
    with small_filesystem(tmp_path / "fs", 2048) as fs:
        with LmdbStore(fs / "log", create=True) as store:
            store.append([record(i) for i in range(100)])
            filler = fill(fs, leave=16 << 10)
            with pytest.raises(StoreFullError, match="no space left on device"):
                store.append([record(i) for i in range(100, 2100)])
            assert store.size() == 100
            assert store.lookup(record(99).filename)[0][0] == 99
            filler.unlink()
            store.append([record(i) for i in range(100, 2100)])
            assert store.size() == 2100


def test_import_on_a_full_disk_says_so(tmp_path):
    lines = tmp_path / "records.jsonl"
    lines.write_bytes(b"".join(generated_lines(3000, seed=5)))
    with small_filesystem(tmp_path / "fs", 2048) as fs:
        init_log(fs / "node", "full.example/log").close()
        fill(fs, leave=64 << 10)
        result = subprocess.run(
            [sys.executable, "-m", "pypi_witness.cli", "import", "--data", str(fs / "node"), str(lines)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("pypi-witness: error: cannot append to the store at") and "no space left on device" in error
