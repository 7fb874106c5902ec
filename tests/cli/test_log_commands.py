"""``pypi-witness init``, ``import`` and ``log``: real processes on real LMDB files, exit codes and output."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
import pytest
from pypi_witness.core.tlog import merkle
from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint
from pypi_witness.core.tlog.note import Verifier
from tests.factories import generated_lines
from tests.cli.support import BLOCK_BYTES, LINES_PER_BLOCK, MALFORMED, ORIGIN, SAMPLE, b64, bad_digest, cli, import_json, init, leaves_of, root_of, store_size, stored_leaves, wait_until, with_line


# --- init -------------------------------------------------------------------------


def test_init_creates_private_key_0600_vkey_and_empty_signed_checkpoint(tmp_path):
    data = tmp_path / "node"
    run = cli("init", "--data", data, "--origin", ORIGIN)
    vkey = (data / "log.vkey").read_text().strip()
    assert vkey in run.out
    assert vkey.startswith(ORIGIN + "+")
    assert stat.S_IMODE((data / "log.key").stat().st_mode) == 0o600
    assert (data / "log.key").read_text().startswith("PRIVATE+KEY+")

    shown = cli("log", "checkpoint", "--data", data, "--json").json()
    assert shown["origin"] == ORIGIN and shown["size"] == 0
    assert b64(shown["root"]) == merkle.EMPTY_ROOT
    signed = open_checkpoint(shown["note"].encode(), Verifier.from_vkey(vkey))
    assert signed.checkpoint.size == 0
    assert signed.checkpoint.root_hash == merkle.EMPTY_ROOT
    assert store_size(data) == 0


def test_init_json_reports_origin_vkey_and_data(tmp_path):
    out = cli("init", "--data", tmp_path / "n", "--origin", ORIGIN, "--json").json()
    vkey = (tmp_path / "n" / "log.vkey").read_text().strip()
    witness_vkey = (tmp_path / "n" / "witness.vkey").read_text().strip()
    assert out == {"origin": ORIGIN, "vkey": vkey, "witness_vkey": witness_vkey, "data": str(tmp_path / "n")}


def test_init_twice_fails_and_keeps_the_first_key(tmp_path):
    data = tmp_path / "node"
    init(data)
    key = (data / "log.key").read_bytes()
    run = cli("init", "--data", data, "--origin", "other.example/log", code=1)
    assert "already" in run.err
    assert (data / "log.key").read_bytes() == key


@pytest.mark.parametrize("origin", ["has space", "a+b", "", "line\nbreak"])
def test_init_refuses_an_origin_that_cannot_name_a_key(tmp_path, origin):
    data = tmp_path / "node"
    run = cli("init", "--data", data, "--origin", origin, code=1)
    assert "origin" in run.err
    assert not (data / "log.key").exists() and not (data / "log").exists()


def test_init_where_data_is_a_file_fails_cleanly(tmp_path):
    (tmp_path / "file").write_text("x")
    cli("init", "--data", tmp_path / "file", "--origin", ORIGIN, code=1)


# --- import -----------------------------------------------------------------------


def test_import_sample_reports_counts_and_a_verifiable_checkpoint(tmp_path, sample_leaves):
    data = tmp_path / "node"
    vkey = init(data)
    out = import_json(data, str(SAMPLE))
    assert set(out) == {"lines", "appended", "duplicates", "conflicts", "size", "root", "checkpoint"}
    assert (out["lines"], out["appended"], out["duplicates"], out["conflicts"], out["size"]) == (200, 200, 0, 0, 200)
    assert b64(out["root"]) == root_of(sample_leaves)
    signed = open_checkpoint(out["checkpoint"].encode(), Verifier.from_vkey(vkey))
    assert (signed.checkpoint.size, signed.checkpoint.root_hash) == (200, root_of(sample_leaves))
    assert stored_leaves(data) == sample_leaves


def test_import_human_output_counts_and_prints_the_checkpoint(tmp_path):
    data = tmp_path / "node"
    init(data)
    run = cli("import", "--data", data, str(SAMPLE))
    assert "imported 200 records (0 duplicates skipped, 0 conflicts) from 200 lines; log size 200" in run.out
    assert cli("log", "checkpoint", "--data", data).out in run.out


def test_reimport_skips_every_record_as_duplicate(tmp_path, sample_leaves):
    data = tmp_path / "node"
    init(data)
    first = import_json(data, str(SAMPLE))
    again = import_json(data, str(SAMPLE))
    assert (again["lines"], again["appended"], again["duplicates"], again["conflicts"]) == (200, 0, 200, 0)
    assert (again["size"], again["root"]) == (200, first["root"])
    assert stored_leaves(data) == sample_leaves


def test_import_from_stdin(tmp_path, sample_lines, sample_leaves):
    data = tmp_path / "node"
    init(data)
    out = import_json(data, "-", stdin=b"".join(sample_lines))
    assert (out["lines"], out["appended"], out["size"]) == (200, 200, 200)
    assert b64(out["root"]) == root_of(sample_leaves)


def test_import_of_empty_stdin_signs_the_same_size(tmp_path):
    data = tmp_path / "node"
    init(data)
    out = import_json(data, "-", stdin=b"")
    assert (out["lines"], out["appended"], out["size"]) == (0, 0, 0)
    assert b64(out["root"]) == merkle.EMPTY_ROOT


def test_import_counts_blank_lines_and_a_last_line_without_newline(tmp_path, sample_lines):
    lines = sample_lines[:5]
    text = lines[0] + b"\n" + b"".join(lines[1:4]) + b"   \n" + lines[4].rstrip(b"\n")
    (tmp_path / "in.jsonl").write_bytes(text)
    data = tmp_path / "node"
    init(data)
    out = import_json(data, tmp_path / "in.jsonl")
    assert (out["lines"], out["appended"], out["size"]) == (7, 5, 5)
    assert stored_leaves(data) == leaves_of(lines)


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_line_in_the_first_batch_commits_nothing(tmp_path, sample_lines, kind):
    bad = with_line(sample_lines, 57, MALFORMED[kind](sample_lines[56]))
    (tmp_path / "bad.jsonl").write_bytes(b"".join(bad))
    data = tmp_path / "node"
    init(data)
    run = cli("import", "--data", data, tmp_path / "bad.jsonl", code=1)
    assert "line 57" in run.err
    assert store_size(data) == 0
    assert cli("log", "checkpoint", "--data", data, "--json").json()["size"] == 0


def test_malformed_line_counts_blank_lines_in_its_number(tmp_path, sample_lines):
    text = sample_lines[0] + b"\n\n" + sample_lines[1] + b"{not json\n" + sample_lines[2]
    (tmp_path / "bad.jsonl").write_bytes(text)
    data = tmp_path / "node"
    init(data)
    run = cli("import", "--data", data, tmp_path / "bad.jsonl", code=1)
    assert "line 5:" in run.err
    assert store_size(data) == 0


def test_malformed_line_on_stdin_is_reported_with_its_number(tmp_path):
    lines = generated_lines(LINES_PER_BLOCK * 3, seed=2)
    bad_at = len(lines) - 100
    bad = with_line(lines, bad_at, b'{"name": 1}\n')
    data = tmp_path / "node"
    init(data)
    # stdin has no size, so the import parses in worker processes by default.
    run = cli("import", "--data", data, "-", "--batch-size", "1000", stdin=b"".join(bad), code=1)
    assert f"line {bad_at}:" in run.err
    size = store_size(data)
    assert 1_000 <= size < bad_at - 1
    assert stored_leaves(data) == leaves_of(lines[:size])


@pytest.mark.parametrize("workers", [0, 2])
def test_malformed_line_after_committed_batches_keeps_them(tmp_path, workers):
    lines = generated_lines(LINES_PER_BLOCK * 4, seed=3)  # several blocks
    bad_at = len(lines) - 500
    (tmp_path / "bad.jsonl").write_bytes(b"".join(with_line(lines, bad_at, bad_digest(lines[bad_at - 1]))))
    data = tmp_path / "node"
    init(data)
    run = cli("import", "--data", data, tmp_path / "bad.jsonl", "--batch-size", "1000", "--workers", workers, code=1)
    assert f"line {bad_at}:" in run.err
    size = store_size(data)
    assert 1_000 <= size < bad_at - 1, "earlier batches committed, the bad line's batch not"
    assert stored_leaves(data) == leaves_of(lines[:size])
    # No checkpoint was signed for the partial import; the fixed file completes it.
    assert cli("log", "checkpoint", "--data", data, "--json").json()["size"] == 0
    (tmp_path / "good.jsonl").write_bytes(b"".join(lines))
    out = import_json(data, tmp_path / "good.jsonl", "--workers", workers)
    assert (out["appended"], out["duplicates"], out["size"]) == (len(lines) - size, size, len(lines))
    assert b64(out["root"]) == root_of(leaves_of(lines))


def test_small_batch_size_commits_the_batches_before_a_bad_line(tmp_path, sample_lines):
    (tmp_path / "bad.jsonl").write_bytes(b"".join(with_line(sample_lines, 150, b"{oops\n")))
    data = tmp_path / "node"
    init(data)
    run = cli("import", "--data", data, tmp_path / "bad.jsonl", "--batch-size", "10", "--workers", "0", code=1)
    assert "line 150:" in run.err
    assert store_size(data) == 140


def test_import_of_a_missing_file_fails_in_one_line(tmp_path):
    data = tmp_path / "node"
    init(data)
    run = cli("import", "--data", data, tmp_path / "nope.jsonl", code=1)
    assert "nope.jsonl" in run.err
    run = cli("import", "--data", data, tmp_path, code=1)  # a directory
    assert store_size(data) == 0


def test_parallel_import_gives_the_same_log_as_serial(tmp_path):
    lines = generated_lines(LINES_PER_BLOCK * 2 + 100, seed=4)  # three byte ranges for the workers
    (tmp_path / "in.jsonl").write_bytes(b"".join(lines))
    logs = {}
    for workers in (0, 2):
        data = tmp_path / f"node{workers}"
        init(data)
        out = import_json(data, tmp_path / "in.jsonl", "--workers", workers, "--batch-size", "700")
        assert (out["lines"], out["appended"], out["size"]) == (len(lines), len(lines), len(lines))
        entries = cli("log", "entries", "0", len(lines), "--data", data, "--json").out
        logs[workers] = (out["root"], entries)
    assert logs[0] == logs[2]
    assert b64(logs[0][0]) == root_of(leaves_of(lines))


@pytest.mark.parametrize(
    "shift", [-1, 0, 1], ids=["block-starts-1-byte-into-a-line", "block-starts-at-a-line", "block-starts-at-a-newline"]
)
def test_parallel_import_of_lines_around_a_block_boundary(tmp_path, shift):
    """A line starting at BLOCK_BYTES + shift: each line is parsed exactly once."""
    lines = generated_lines(LINES_PER_BLOCK * 3 // 2, seed=6)
    offset = 0
    for i, line in enumerate(lines):
        if offset + len(line) + len(lines[i + 1]) > BLOCK_BYTES - 1:  # line i is the last to end before it
            # JSON allows trailing whitespace: pad line i so line i+1 starts at BLOCK_BYTES + shift.
            lines[i] = line[:-1] + b" " * (BLOCK_BYTES + shift - offset - len(line)) + b"\n"
            break
        offset += len(line)
    text = b"".join(lines)
    assert text[BLOCK_BYTES + shift - 1 : BLOCK_BYTES + shift + 1] == b"\n{"
    (tmp_path / "in.jsonl").write_bytes(text)
    data = tmp_path / "node"
    init(data)
    out = import_json(data, tmp_path / "in.jsonl", "--workers", "2")
    n = len(lines)
    assert (out["lines"], out["appended"], out["duplicates"], out["size"]) == (n, n, 0, n)
    assert stored_leaves(data) == leaves_of(lines)


def test_interrupted_import_exits_130_and_leaves_a_consistent_prefix(tmp_path, big_file):
    path, lines = big_file
    data = tmp_path / "node"
    init(data)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pypi_witness.cli", "import", "--data", str(data), str(path),
         "--batch-size", "2000", "--workers", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        wait_until(lambda: proc.poll() is not None or store_size(data) > 0, "the first commit")
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C on a terminal does
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "Traceback" not in err.decode(), err.decode()
    assert proc.returncode == 130, err.decode()
    assert err.decode().endswith("pypi-witness: interrupted\n")
    size = store_size(data)
    assert 0 < size < len(lines)
    assert stored_leaves(data) == leaves_of(lines[:size])


def _spawned_workers(pid: int) -> list[int]:
    """The multiprocessing worker processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                command = (entry / "cmdline").read_bytes()
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid and b"spawn_main" in command:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the worker processes")
def test_interrupted_parallel_import_exits_130_without_traceback(tmp_path, big_file):
    path, _ = big_file
    data = tmp_path / "node"
    init(data)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pypi_witness.cli", "import", "--data", str(data), str(path),
         "--batch-size", "2000", "--workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        wait_until(lambda: proc.poll() is not None or store_size(data) > 0, "the first commit")
        # Ctrl-C reaches every process of the foreground group; the workers see it first here.
        for worker in _spawned_workers(proc.pid):
            os.kill(worker, signal.SIGINT)
        time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            pytest.fail("the import hung after Ctrl-C")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "Traceback" not in err.decode(), err.decode()
    assert proc.returncode == 130


# --- the witness key -----------------------------------------------------------------


def test_init_creates_the_witness_key_0600_and_reports_it(tmp_path):
    import stat

    data = tmp_path / "n"
    out = cli("init", "--data", data, "--origin", ORIGIN, "--json").json()
    assert out["witness_vkey"] == (data / "witness.vkey").read_text().strip()
    assert out["witness_vkey"].startswith(f"{ORIGIN}/witness+")
    assert stat.S_IMODE((data / "witness.key").stat().st_mode) == 0o600
    named = cli("init", "--data", tmp_path / "m", "--origin", ORIGIN, "--witness-name", "w.example/1", "--json")
    assert named.json()["witness_vkey"].startswith("w.example/1+")


def test_init_with_a_bad_witness_name_creates_nothing(tmp_path):
    data = tmp_path / "n"
    run = cli("init", "--data", data, "--origin", ORIGIN, "--witness-name", "a b", code=1)
    assert "witness name 'a b' cannot name a key" in run.err
    assert not (data / "log").exists()
