"""``pypi-witness fake-index`` as a real process: start, answer, steer from outside, persist, stop."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time

import pytest

from pypi_witness.fakeindex import FakeIndexServer, Index
from tests.fakeindex.support import admin, changelog, get_json, request, xmlrpc_call

STARTED = re.compile(r"^fake index serving (http://127\.0\.0\.1:\d+) \(")


def start(*args: object) -> tuple[subprocess.Popen, str]:
    """Start the command; returns the process and the URL from its first stdout line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pypi_witness.cli", "fake-index", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    line = b""
    while not line.endswith(b"\n") and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 1)
            if not chunk:
                break
            line += chunk
    m = STARTED.match(line.decode())
    if not m:
        proc.kill()
        raise AssertionError(f"no start line: {line!r} {proc.communicate()[1]!r}")
    return proc, m.group(1)


def stop(proc: subprocess.Popen, sig: int) -> tuple[int, str]:
    os.killpg(proc.pid, sig)
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err.decode()


def test_the_command_serves_persists_and_stops_cleanly(tmp_path):
    state = tmp_path / "state"
    proc, url = start("--port", 0, "--state", state, "--populate", 6, "--seed", 3, "--changelog-cap", 10)
    try:
        rows = changelog(url)
        assert [r[4] for r in rows] == list(range(1, len(rows) + 1)) and len(rows) > 10
        assert admin(url, "index", {"op": "add_file", "project": "Added", "version": "1.0",
                                    "filename": "added-1.0.tar.gz", "content_b64": "aGVsbG8="}).status == 200  # fmt: skip
        assert admin(url, "attack", {"swap": ["added-1.0.tar.gz"]}).status == 200
        swapped = get_json(url, "/pypi/Added/json").json()["urls"][0]
        listed = xmlrpc_call(url, "list_packages_with_serial")
        last = xmlrpc_call(url, "changelog_last_serial")
    finally:
        code, err = stop(proc, signal.SIGINT)
    assert code == 130 and "Traceback" not in err, err

    proc, url = start("--state", state, "--populate", 6)
    try:
        assert xmlrpc_call(url, "changelog_last_serial") == last
        assert changelog(url)[: len(rows)] == rows
        assert xmlrpc_call(url, "list_packages_with_serial") == listed
        entry = get_json(url, "/pypi/Added/json").json()["urls"][0]
        assert entry["size"] == 5 and entry["digests"]["sha256"] != swapped["digests"]["sha256"]  # switches do not persist
        assert request(url, entry["url"][len(url) :]).body == b"hello"
    finally:
        code, err = stop(proc, signal.SIGTERM)
    assert code == 0 and "--populate ignored" in err and "Traceback" not in err, err


def test_a_busy_port_is_a_one_line_error(tmp_path):
    with FakeIndexServer() as busy:
        proc = subprocess.run(
            [sys.executable, "-m", "pypi_witness.cli", "fake-index", "--port", str(busy.port)],
            check=False,
            capture_output=True,
            timeout=60,
        )
    assert proc.returncode == 1
    assert proc.stderr.decode().startswith("pypi-witness: error:") and "Traceback" not in proc.stderr.decode()


def test_an_unreadable_state_is_a_one_line_error(tmp_path):
    (tmp_path / "index.json").write_text("garbage")
    proc = subprocess.run(
        [sys.executable, "-m", "pypi_witness.cli", "fake-index", "--state", str(tmp_path)],
        check=False,
            capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 1 and "unreadable fake index state" in proc.stderr.decode()
    assert len(proc.stderr.decode().splitlines()) == 1


def test_an_in_process_server_saves_its_state_for_the_next(tmp_path, clock):
    index = Index(clock=clock)
    index.populate(seed=1, projects=3)
    with FakeIndexServer(index, state_dir=tmp_path) as server:
        assert admin(server.url, "index", {"op": "yank_release", "project": index.journal[0][0],
                                           "version": index.journal[2][1], "reason": "bad"}).status == 200  # fmt: skip
        assert Index.load(tmp_path).journal == index.journal  # saved at once
        index.add_file("later", "1.0", "later-1.0.tar.gz")  # saved on close
    with FakeIndexServer(Index.load(tmp_path, clock=clock)) as again:
        assert changelog(again.url) == [list(row) for row in index.journal]
        assert get_json(again.url, "/pypi/later/json").json()["urls"][0]["filename"] == "later-1.0.tar.gz"


@pytest.mark.parametrize("args", [["--port", "-1"], ["--populate", "many"], ["--changelog-cap", "0"]])
def test_bad_arguments_exit_2(args):
    proc = subprocess.run([sys.executable, "-m", "pypi_witness.cli", "fake-index", *args], check=False,
            capture_output=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr.decode()
