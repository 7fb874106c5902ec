"""The ``pypi-witness`` command line, end to end, as a user runs it.

Every command runs in a subprocess through ``cli()``, which checks what every
command promises: no traceback on stderr, the expected exit code, and for a
failure exactly one ``... error: ...`` line (progress lines aside). Proofs the
CLI prints are checked independently with ``core.merkle`` against roots computed
here from the input file, not read back from the log.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import json
import os
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest

from pypi_witness.cli import main
from pypi_witness.core import merkle
from pypi_witness.core.checkpoint import open_checkpoint
from pypi_witness.core.note import Verifier
from pypi_witness.core.records import format_record
from pypi_witness.errors import ProofError
from pypi_witness.ingest import importer
from pypi_witness.ingest.bigquery import parse_line
from pypi_witness.store.lmdb_store import LmdbStore
from tests.factories import generated_lines

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
SAMPLE = resources.files("pypi_witness") / "data" / "sample_records.jsonl"
ORIGIN = "witness.example.org/pypi"
# The importer parses blocks of about BLOCK_BYTES; tests that need several blocks
# size their input from it (generated lines average about 560 bytes).
BLOCK_BYTES = getattr(importer, "BLOCK_BYTES", 1 << 20)
LINES_PER_BLOCK = BLOCK_BYTES // 500

# The first leaf of the bundled sample, written out by hand from its JSON line:
# pins the record format the CLI shows, independently of the code that makes it.
FIRST_SAMPLE_LEAF = (
    b"pypi-witness/v1 file\n"
    b"name sql-bot\n"
    b"version 2.12.1.post1\n"
    b"file sql_bot-2.12.1.post1.tar.gz\n"
    b"sha256 8d88348a7eed8d14f06d3fef701966a0c381e88f38c0c8fd8712b8bc076f3787\n"
    b"blake2b 1a2b8f1ff1fd42a29755d4c13a902931cd447e35b8b6d8fe442e3d437204e52d\n"
    b"size 420283\n"
    b"time 2016-01-13T10:19:17.000000Z\n"
    b"serial -\n"
)


# --- helpers ----------------------------------------------------------------------


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


def _check_streams(code: int, expected: int, out: str, err: str) -> None:
    assert "Traceback" not in err, err
    assert code == expected, f"exit {code}, expected {expected}\nstdout: {out}\nstderr: {err}"
    if expected != 0:
        # Progress lines of an import may come first; the error is one line, the last.
        lines = [line for line in err.splitlines() if not line.startswith("importing")]
        assert len(lines) == 1, f"expected one error line, got: {err!r}"
        assert lines[0].startswith("pypi-witness") and " error: " in lines[0], lines[0]
        assert err.endswith(lines[0] + "\n"), err


def cli(*args: object, stdin: bytes | None = None, code: int = 0, timeout: float = 120) -> Run:
    """Run ``pypi-witness ARGS`` in a subprocess; assert the exit code and stream rules."""
    proc = subprocess.run(
        [sys.executable, "-m", "pypi_witness.cli", *map(str, args)],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        timeout=timeout,
    )
    run = Run(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
    _check_streams(run.code, code, run.out, run.err)
    return run


def query(*args: object, code: int = 0) -> Run:
    """Run ``pypi-witness ARGS`` in this process (fast, for read-only queries); same checks as ``cli``."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main([str(a) for a in args])
        except SystemExit as e:  # argparse's usage errors
            status = e.code
        except BaseException as e:  # noqa: BLE001 - would have been a traceback
            pytest.fail(f"pypi-witness {' '.join(map(str, args))} raised {type(e).__name__}: {e}")
    run = Run(status, out.getvalue(), err.getvalue())
    _check_streams(run.code, code, run.out, run.err)
    return run


def b64(text: str) -> bytes:
    """Standard base64 (RFC 4648 §4, padded); refuses the URL-safe alphabet."""
    return base64.b64decode(text, validate=True)


def leaves_of(lines: list[bytes]) -> list[bytes]:
    """The log leaves the JSON Lines ``lines`` describe, in order (blank lines skipped)."""
    return [format_record(parse_line(line, n)) for n, line in enumerate(lines, 1) if line.strip()]


def root_of(leaves: list[bytes]) -> bytes:
    return merkle.root_of([merkle.leaf_hash(leaf) for leaf in leaves])


def filename_of(line: bytes) -> str:
    return json.loads(line)["filename"]


def store_size(data: Path) -> int:
    with LmdbStore(data / "log", readonly=True) as store:
        return store.size()


def stored_leaves(data: Path) -> list[bytes]:
    with LmdbStore(data / "log", readonly=True) as store:
        return store.leaves(0, store.size())


def init(data: Path, origin: str = ORIGIN) -> str:
    """A new log in ``data``; returns its verifier key."""
    return cli("init", "--data", data, "--origin", origin, "--json").json()["vkey"]


def import_json(data: Path, path: Path | str, *extra: object, stdin: bytes | None = None) -> dict:
    return cli("import", "--data", data, path, "--json", *extra, stdin=stdin).json()


def with_line(lines: list[bytes], number: int, replacement: bytes) -> list[bytes]:
    """``lines`` with line ``number`` (1-based) replaced."""
    return lines[: number - 1] + [replacement] + lines[number:]


def bad_digest(line: bytes) -> bytes:
    row = json.loads(line)
    row["sha256_digest"] = "zz" + row["sha256_digest"][2:]
    return json.dumps(row).encode() + b"\n"


def missing_field(line: bytes) -> bytes:
    row = json.loads(line)
    del row["blake2_256_digest"]
    return json.dumps(row).encode() + b"\n"


MALFORMED = {
    "bad JSON": lambda line: line[: len(line) // 2] + b"\n",
    "bad sha256 digest": bad_digest,
    "missing field": missing_field,
    "not UTF-8": lambda line: b'{"name": "\xff\xfe"}\n',
}


def wait_until(predicate, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.002)


# --- fixtures ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_lines() -> list[bytes]:
    return SAMPLE.read_bytes().splitlines(keepends=True)


@pytest.fixture(scope="module")
def sample_leaves(sample_lines) -> list[bytes]:
    return leaves_of(sample_lines)


@pytest.fixture(scope="module")
def sample_log(tmp_path_factory, sample_lines):
    """A log holding the 200 sample records, shared by tests that only read it."""
    data = tmp_path_factory.mktemp("sample") / "node"
    vkey = init(data)
    cli("import", "--data", data, str(SAMPLE))
    return data, vkey


@pytest.fixture(scope="module")
def big_file(tmp_path_factory) -> tuple[Path, list[bytes]]:
    """60,000 generated lines (about 34 MB): an import that takes a while."""
    lines = generated_lines(60_000, seed=5)
    path = tmp_path_factory.mktemp("big") / "records.jsonl"
    path.write_bytes(b"".join(lines))
    return path, lines


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


# --- log: checkpoint, vkey, entries -------------------------------------------------


def test_log_checkpoint_human_is_the_note_verbatim(sample_log, sample_leaves):
    data, vkey = sample_log
    note = cli("log", "checkpoint", "--data", data).out
    signed = open_checkpoint(note.encode(), Verifier.from_vkey(vkey))
    assert (signed.checkpoint.size, signed.checkpoint.root_hash) == (200, root_of(sample_leaves))
    assert note.startswith(f"{ORIGIN}\n200\n{base64.b64encode(root_of(sample_leaves)).decode()}\n\n\u2014 {ORIGIN} ")


def test_log_checkpoint_json_fields(sample_log, sample_leaves):
    data, vkey = sample_log
    out = query("log", "checkpoint", "--data", data, "--json").json()
    assert set(out) == {"origin", "size", "root", "note"}
    assert (out["origin"], out["size"], b64(out["root"])) == (ORIGIN, 200, root_of(sample_leaves))
    assert out["note"] == query("log", "checkpoint", "--data", data).out
    open_checkpoint(out["note"].encode(), Verifier.from_vkey(vkey))


def test_log_vkey_human_and_json(sample_log):
    data, vkey = sample_log
    assert query("log", "vkey", "--data", data).out == vkey + "\n"
    assert query("log", "vkey", "--data", data, "--json").json() == {"vkey": vkey}
    assert (data / "log.vkey").read_text().strip() == vkey


@pytest.mark.parametrize("start, end", [(0, 1), (10, 15), (195, 200), (0, 200)])
def test_log_entries_json_lines(sample_log, sample_leaves, start, end):
    data, _ = sample_log
    out = query("log", "entries", start, end, "--data", data, "--json").out
    objects = [json.loads(line) for line in out.splitlines()]
    assert len(objects) == end - start
    for index, obj in enumerate(objects, start):
        assert set(obj) == {"index", "leaf"}
        assert obj["index"] == index
        assert b64(obj["leaf"]) == sample_leaves[index]
    if start == 0:
        assert b64(objects[0]["leaf"]) == FIRST_SAMPLE_LEAF


def test_log_entries_human_shows_each_leaf_verbatim(sample_log, sample_leaves):
    data, _ = sample_log
    out = query("log", "entries", "10", "13", "--data", data).out
    assert out == "".join(f"# entry {i}\n{sample_leaves[i].decode()}" for i in range(10, 13))


def test_log_entries_of_an_empty_range_print_nothing(sample_log):
    data, _ = sample_log
    assert query("log", "entries", "7", "7", "--data", data, "--json").out == ""


# --- log: lookup --------------------------------------------------------------------


def test_log_lookup_finds_a_file_with_a_verified_proof(sample_log, sample_lines, sample_leaves):
    data, vkey = sample_log
    name = filename_of(sample_lines[42])
    human = query("log", "lookup", name, "--data", data).out
    assert "entry 42 of 200" in human
    assert sample_leaves[42].decode() in human
    assert "CONFLICT" not in human

    out = query("log", "lookup", name, "--data", data, "--json").json()
    assert out["filename"] == name and out["conflicts"] == []
    root = open_checkpoint(out["checkpoint"].encode(), Verifier.from_vkey(vkey)).checkpoint.root_hash
    assert root == root_of(sample_leaves)
    [entry] = out["entries"]
    assert (entry["index"], entry["size"], b64(entry["leaf"])) == (42, 200, sample_leaves[42])
    assert b64(entry["leaf_hash"]) == merkle.leaf_hash(sample_leaves[42])
    merkle.verify_inclusion(b64(entry["leaf_hash"]), 42, 200, [b64(p) for p in entry["proof"]], root)


def test_log_lookup_of_an_unknown_file_fails(sample_log):
    data, _ = sample_log
    run = query("log", "lookup", "nothing-1.0.tar.gz", "--data", data, code=1)
    assert "nothing-1.0.tar.gz" in run.err


def _conflicting(line: bytes) -> bytes:
    row = json.loads(line)
    row["sha256_digest"] = "f" * 64
    return json.dumps(row).encode() + b"\n"


def test_log_lookup_reports_a_conflict(tmp_path, sample_lines):
    data = tmp_path / "node"
    init(data)
    cli("import", "--data", data, str(SAMPLE))
    (tmp_path / "swap.jsonl").write_bytes(_conflicting(sample_lines[0]))
    out = import_json(data, tmp_path / "swap.jsonl")
    assert (out["appended"], out["conflicts"], out["size"]) == (1, 1, 201)
    again = import_json(data, tmp_path / "swap.jsonl")  # the swapped file is now known too
    assert (again["appended"], again["duplicates"], again["conflicts"]) == (0, 1, 0)

    name = filename_of(sample_lines[0])
    found = query("log", "lookup", name, "--data", data, "--json").json()
    assert [e["index"] for e in found["entries"]] == [0, 200]
    assert found["conflicts"] == [{"index": 200, "earlier_index": 0}]
    human = query("log", "lookup", name, "--data", data).out
    assert f"CONFLICT: entry 200 logs {name} with other hashes than entry 0" in human


def test_log_lookup_reports_a_conflict_logged_after_other_files_conflicts(tmp_path, sample_lines):
    data = tmp_path / "node"
    init(data)
    cli("import", "--data", data, str(SAMPLE))
    # Swapped versions of files 1 and 3 are logged (as conflicts 200, 201) before file 0's (202).
    swaps = [_conflicting(sample_lines[i]) for i in (1, 3, 0)]
    (tmp_path / "swap.jsonl").write_bytes(b"".join(swaps))
    assert import_json(data, tmp_path / "swap.jsonl")["conflicts"] == 3

    name = filename_of(sample_lines[0])
    found = query("log", "lookup", name, "--data", data, "--json").json()
    assert [e["index"] for e in found["entries"]] == [0, 202]
    assert found["conflicts"] == [{"index": 202, "earlier_index": 0}]


# --- log: proofs --------------------------------------------------------------------


@pytest.mark.parametrize("index, size", [(0, None), (57, None), (199, None), (0, 1), (57, 100), (99, 100), (127, 128)])
def test_log_proof_inclusion_json_verifies_independently(sample_log, sample_leaves, index, size):
    data, _ = sample_log
    args = ["log", "proof", "inclusion", index, "--data", data, "--json"]
    if size is not None:
        args += ["--size", size]
    out = query(*args).json()
    assert set(out) == {"index", "size", "leaf_hash", "proof", "root"}
    expected_size = 200 if size is None else size
    assert (out["index"], out["size"]) == (index, expected_size)
    leaf_hash, root = b64(out["leaf_hash"]), b64(out["root"])
    proof = [b64(p) for p in out["proof"]]
    assert leaf_hash == merkle.leaf_hash(sample_leaves[index])
    assert root == root_of(sample_leaves[:expected_size])
    merkle.verify_inclusion(leaf_hash, index, expected_size, proof, root)
    if proof:  # the proof is not vacuous: a corrupted element fails
        with pytest.raises(ProofError):
            merkle.verify_inclusion(leaf_hash, index, expected_size, [bytes(32)] + proof[1:], root)


def test_log_proof_inclusion_human(sample_log, sample_leaves):
    data, _ = sample_log
    out = query("log", "proof", "inclusion", "57", "--data", data).out.splitlines()
    assert out[:4] == [
        "index 57",
        "size 200",
        f"leaf_hash {base64.b64encode(merkle.leaf_hash(sample_leaves[57])).decode()}",
        f"root {base64.b64encode(root_of(sample_leaves)).decode()}",
    ]
    proof = [b64(line.removeprefix("proof ")) for line in out[4:]]
    assert all(line.startswith("proof ") for line in out[4:]) and proof
    merkle.verify_inclusion(merkle.leaf_hash(sample_leaves[57]), 57, 200, proof, root_of(sample_leaves))


@pytest.mark.parametrize(
    "old, new", [(0, 200), (1, 200), (57, 200), (64, 128), (100, 150), (199, 200), (200, 200), (0, 0)]
)
def test_log_proof_consistency_json_verifies_independently(sample_log, sample_leaves, old, new):
    data, _ = sample_log
    out = query("log", "proof", "consistency", old, new, "--data", data, "--json").json()
    assert set(out) == {"old", "new", "old_root", "new_root", "proof"}
    assert (out["old"], out["new"]) == (old, new)
    old_root, new_root = b64(out["old_root"]), b64(out["new_root"])
    proof = [b64(p) for p in out["proof"]]
    assert old_root == root_of(sample_leaves[:old])
    assert new_root == root_of(sample_leaves[:new])
    merkle.verify_consistency(old, new, old_root, new_root, proof)
    if proof:
        with pytest.raises(ProofError):
            merkle.verify_consistency(old, new, old_root, new_root, proof[:-1] + [bytes(32)])


def test_log_proof_consistency_human(sample_log, sample_leaves):
    data, _ = sample_log
    out = query("log", "proof", "consistency", "57", "200", "--data", data).out.splitlines()
    old_root, new_root = root_of(sample_leaves[:57]), root_of(sample_leaves)
    assert out[:4] == [
        "old 57",
        "new 200",
        f"old_root {base64.b64encode(old_root).decode()}",
        f"new_root {base64.b64encode(new_root).decode()}",
    ]
    proof = [b64(line.removeprefix("proof ")) for line in out[4:]]
    merkle.verify_consistency(57, 200, old_root, new_root, proof)


@pytest.mark.parametrize(
    "args",
    [
        ["proof", "inclusion", "200"],
        ["proof", "inclusion", "5", "--size", "5"],
        ["proof", "inclusion", "0", "--size", "0"],
        ["proof", "inclusion", "0", "--size", "201"],
        ["proof", "consistency", "150", "100"],
        ["proof", "consistency", "0", "201"],
        ["proof", "consistency", "201", "201"],
        ["entries", "0", "201"],
        ["entries", "5", "4"],
        ["entries", "300", "301"],
    ],
    ids=lambda a: " ".join(a),
)
def test_log_out_of_range_fails_in_one_line(sample_log, args):
    data, _ = sample_log
    query("log", *args, "--data", data, code=1)
    query("log", *args, "--data", data, "--json", code=1)


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["log"],
        ["log", "proof"],
        ["log", "proof", "inclusion", "abc"],
        ["log", "proof", "inclusion", "-1"],
        ["log", "proof", "inclusion", "1", "--size", "-3"],
        ["log", "proof", "inclusion", "1", "--size", "ten"],
        ["log", "proof", "consistency", "x", "5"],
        ["log", "proof", "consistency", "1", "-2"],
        ["log", "proof", "consistency", "1"],
        ["log", "entries", "-1", "5"],
        ["log", "entries", "0", "1.5"],
        ["import", "FILE", "--batch-size", "0"],
        ["import", "FILE", "--batch-size", "many"],
        ["import", "FILE", "--workers", "-1"],
    ],
    ids=lambda a: " ".join(a) or "nothing",
)
def test_malformed_command_lines_exit_2(sample_log, args):
    data, _ = sample_log
    with_data = args + ["--data", str(data)] if len(args) > 1 else args
    run = query(*with_data, code=2)
    assert run.out == ""


# --- data directories without a log, or with an exposed key -------------------------

LOG_COMMANDS = [
    ["checkpoint"],
    ["vkey"],
    ["entries", "0", "0"],
    ["lookup", "x.whl"],
    ["proof", "inclusion", "0"],
    ["proof", "consistency", "0", "0"],
]


@pytest.mark.parametrize("args", LOG_COMMANDS, ids=lambda a: " ".join(a))
def test_log_commands_on_a_directory_without_a_log(tmp_path, args):
    (tmp_path / "empty").mkdir()
    for run_it, data in ((query, tmp_path / "empty"), (cli, tmp_path / "missing")):
        run = run_it("log", *args, "--data", data, code=1)
        assert "init" in run.err and str(data) in run.err
    assert not (tmp_path / "missing").exists()


def test_import_into_a_directory_without_a_log(tmp_path):
    run = cli("import", "--data", tmp_path / "missing", str(SAMPLE), code=1)
    assert "init" in run.err
    assert not (tmp_path / "missing").exists()


def test_exposed_private_key_blocks_import_but_not_reads(tmp_path, sample_lines):
    data = tmp_path / "node"
    init(data)
    cli("import", "--data", data, str(SAMPLE))
    (data / "log.key").chmod(0o644)

    run = cli("import", "--data", data, str(SAMPLE), code=1)
    assert "chmod" in run.err and "log.key" in run.err
    (tmp_path / "more.jsonl").write_bytes(b"".join(generated_lines(10, seed=9)))
    cli("import", "--data", data, tmp_path / "more.jsonl", code=1)
    assert store_size(data) == 200

    for args in (*LOG_COMMANDS[:3], ["entries", "0", "3"], ["lookup", filename_of(sample_lines[3])],
                 ["proof", "inclusion", "3"], ["proof", "consistency", "3", "200"]):  # fmt: skip
        cli("log", *args, "--data", data)

    (data / "log.key").chmod(0o600)
    assert import_json(data, tmp_path / "more.jsonl")["size"] == 210


# --- output plumbing -------------------------------------------------------------


def test_output_into_a_closed_pipe_exits_quietly(sample_log):
    data, _ = sample_log
    # 200 JSON entries are about 120 KB, more than a pipe holds: the CLI must block, then hit EPIPE.
    proc = subprocess.Popen(
        [sys.executable, "-m", "pypi_witness.cli", "log", "entries", "0", "200", "--json", "--data", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert json.loads(proc.stdout.readline())["index"] == 0
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=30)
    assert "Traceback" not in err
    assert (proc.returncode, err) == (0, "")


def test_b64_helper_refuses_urlsafe_alphabet():
    """The tests' base64 check is strict, so 'standard base64' assertions can fail."""
    with pytest.raises(binascii.Error):
        b64("-_-_")


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
