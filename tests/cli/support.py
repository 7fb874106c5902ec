"""What the command-line tests share: running ``pypi-witness`` as a user does, and sample logs.

Every command runs in a subprocess through ``cli()``, which checks what every
command promises: no traceback on stderr, the expected exit code, and for a
failure exactly one ``... error: ...`` line (progress lines aside). Proofs the
CLI prints are checked independently with ``core.tlog.merkle`` against roots computed
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

from pypi_witness.cli.main import main
from pypi_witness.core.tlog import merkle
from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint
from pypi_witness.core.tlog.note import Verifier
from pypi_witness.core.records.format import format_record
from pypi_witness.core.errors import ProofError
from pypi_witness.ingest import importer
from pypi_witness.ingest.bigquery import parse_line
from pypi_witness.store.lmdb_store import LmdbStore
from tests.factories import generated_lines

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
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
