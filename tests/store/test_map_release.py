import mmap
import sys
from pathlib import Path

import pytest

from pypi_witness.store import lmdb_store
from pypi_witness.store.lmdb_store import LmdbStore
from pypi_witness.store.map_release import file_mappings, mapped_file_bytes, release_file_pages, release_file_pages_over
from tests.factories import record

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")


def _resident_kb(path: Path) -> int:
    """Resident kB of this process's mappings of ``path``, from /proc/self/smaps."""
    total, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5 and ":" in fields[3]:  # a mapping's header line
                inside = len(fields) == 6 and fields[5] == str(path)
            elif inside and fields[0] == "Rss:":
                total += int(fields[1])
    return total


@linux_only
def test_released_pages_leave_the_resident_set_and_read_back_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "data"
    content = (b"\x01" + bytes(4095)) * 1024  # 4 MiB, each page starting with 1
    path.write_bytes(content)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        assert sum(m[i] for i in range(0, len(m), 4096)) == 1024  # touch every page
        assert _resident_kb(path) >= 4000
        assert file_mappings(path) != []
        assert release_file_pages(path) == 1
        assert _resident_kb(path) < 100
        assert m[:] == content


def test_a_file_not_mapped_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "other"
    path.write_bytes(b"x")
    assert file_mappings(path) == []
    assert release_file_pages(path) == 0


@linux_only
def test_a_big_append_releases_the_map_and_the_store_still_reads(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(lmdb_store, "RELEASE_MAP_AFTER", 50)
    monkeypatch.setattr(lmdb_store, "MAPPED_BUDGET", 0)
    with LmdbStore(tmp_path / "s", create=True) as store:
        store.append([record(i) for i in range(200)])
        data = (tmp_path / "s" / "data.mdb").resolve()
        assert store.lookup("demo-1.7-py3-none-any.whl")[0][0] == 7  # maps pages again
        assert _resident_kb(data) > 0
        store.append([record(i) for i in range(200, 300)])
        assert _resident_kb(data) == 0
        assert store.size() == 300
        assert [i for i, _ in store.lookup("demo-1.250-py3-none-any.whl")] == [250]
        assert len(store.leaves(0, 300)) == 300


@linux_only
def test_pages_are_released_only_over_the_budget(tmp_path: Path) -> None:
    path = tmp_path / "data"
    path.write_bytes(b"\x01" * (1 << 20))
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        assert sum(m[i] for i in range(0, len(m), 4096)) == 256
        resident = mapped_file_bytes()
        assert resident is not None and resident >= 1 << 20
        assert release_file_pages_over(path, resident + (1 << 30)) == 0
        assert _resident_kb(path) >= 1000
        assert release_file_pages_over(path, 0) == 1
        assert _resident_kb(path) < 100
