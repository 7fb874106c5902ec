"""``pypi-witness follow`` as a real process against the fake index over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from pypi_witness.core.records.format import FileRecord, RemovalRecord, YankRecord, parse_record
from pypi_witness.fakeindex import FakeIndexServer, Index
from pypi_witness.ingest.follower import CURSOR
from pypi_witness.store.lmdb_store import LmdbStore
from tests.ingest.test_follower import live_files, logged_live_files

QUICK = """
[index]
requests_per_second = 0
backoff_max_seconds = 0.05
max_attempts = 2
timeout_seconds = 5
batch_rows = {batch_rows}
"""




def config(tmp_path: Path, batch_rows: int = 2000) -> Path:
    path = tmp_path / "follow.toml"
    path.write_text(QUICK.format(batch_rows=batch_rows))
    return path


def follow(data: Path, url: str, *extra: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pypi_witness.cli", "follow", "--data", str(data), "--index", url, *map(str, extra)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def records(data: Path) -> list:
    with LmdbStore(data / "log", readonly=True) as store:
        return [parse_record(leaf) for leaf in store.leaves(0, store.size())]


def cursor(data: Path) -> int:
    with LmdbStore(data / "log", readonly=True) as store:
        value = store.state(CURSOR)
    return int(value) if value else 0


def test_follow_once_reports_what_it_did(fake, data, tmp_path):
    run = follow(data, fake.url, "--once", "--config", config(tmp_path))
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert f"followed {fake.url} to serial {fake.index.last_serial}" in run.stdout
    assert "alarms: none" in run.stdout
    run = follow(data, fake.url, "--once", "--json", "--config", config(tmp_path))
    report = json.loads(run.stdout)
    assert report["records"] == 0 and report["serial"] == report["head_serial"] == fake.index.last_serial


def test_tampering_exits_3_and_names_the_file(fake, data, tmp_path):
    assert follow(data, fake.url, "--once", "--config", config(tmp_path)).returncode == 0
    victim = fake.index.live_filenames()[0]
    fake.set_attacks(swap=[victim])
    (tmp_path / "audit.toml").write_text(QUICK.format(batch_rows=2000) + "audit_releases = 10000\n")
    run = follow(data, fake.url, "--once", "--config", tmp_path / "audit.toml")
    assert run.returncode == 3, run.stderr
    assert "alarms: swap 1" in run.stdout
    assert f"ALARM swap {victim}" in run.stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://127.0.0.1/", "--index: must be an http:// or https:// URL"),
        ("http://127.0.0.1:9", "cannot reach the index"),
    ],
)
def test_bad_index_is_one_error_line(data, tmp_path, url, message):
    run = follow(data, url, "--once", "--config", config(tmp_path))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith("pypi-witness: error: ")
    assert message in run.stderr


def test_a_missing_log_is_one_error_line(tmp_path, fake):
    run = follow(tmp_path / "nothing", fake.url, "--once")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.startswith("pypi-witness: error: ")


def test_killed_mid_catch_up_then_restarted_misses_and_repeats_nothing(data, tmp_path):
    index = Index(content_seed=6)
    index.populate(seed=31, projects=120)
    with FakeIndexServer(index) as fake:
        cfg = config(tmp_path, batch_rows=15)
        proc = subprocess.Popen(
            [sys.executable, "-m", "pypi_witness.cli", "follow", "--data", str(data), "--index", fake.url,
             "--once", "--config", str(cfg)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while cursor(data) == 0:
                assert proc.poll() is None, "the follower ended before its first commit"
                assert time.monotonic() < deadline, "no commit within 60 s"
                time.sleep(0.005)
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        killed_at = cursor(data)
        assert 0 < killed_at < index.last_serial, "the kill came too late to test anything"
        run = follow(data, fake.url, "--once", "--config", cfg)
        assert run.returncode == 0, run.stderr
        logged = records(data)
        assert logged_live_files(logged) == live_files(index)
        files = Counter(r.filename for r in logged if type(r) is FileRecord)
        assert max(files.values()) == 1
        events = [r.serial for r in logged if type(r) in (RemovalRecord, YankRecord)]
        assert events == sorted(set(events))
        journal = index.changelog_since(0, 10**6)
        assert events == [row[4] for row in journal if row[3].startswith(("remove", "yank", "unyank"))]


def test_a_deeply_nested_changelog_is_one_error_line_with_once(fake, data, tmp_path):
    fake.set_attacks(hostile="deep", hostile_on=["xmlrpc"])  # a changelog row 1,000 arrays deep
    run = follow(data, fake.url, "--once", "--config", config(tmp_path))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    line = run.stderr.strip().splitlines()[-1]
    # The row is quoted field by field; the deep one by its type and length.
    assert line.startswith("pypi-witness: error: changelog row 0 has a field of the wrong type: [<list of length 1>, ")
    assert len(line) < 1000


def test_follow_keeps_running_against_a_deeply_nested_changelog(fake, data, tmp_path):
    fake.set_attacks(hostile="deep", hostile_on=["xmlrpc"])
    (tmp_path / "poll.toml").write_text(QUICK.format(batch_rows=2000) + "poll_seconds = 0.1\n")
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pypi_witness.cli", "follow", "--data", str(data), "--index", fake.url,
             "--config", str(tmp_path / "poll.toml")],
            stdout=subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60  # a guard against a hang, not a timing assertion
        while errors.read_text().count("ALARM bad-response poll: changelog row 0") < 3:
            assert proc.poll() is None, errors.read_text()
            assert time.monotonic() < deadline, errors.read_text()
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    assert "Traceback" not in errors.read_text()
