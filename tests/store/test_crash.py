"""Crash safety: an import killed with SIGKILL leaves a log that reopens and verifies.

A ``pypi-witness import`` of 100,000 generated records (batches of 5,000, so
many commits) runs in its own process group and is killed at several moments,
polled from here through a read-only store. Then, with nothing repaired:

- the store holds a prefix of the file's records, whole batches only, every
  leaf parsing, its stored tree agreeing with a tree rebuilt from the leaves,
  and its filename index finding every record (and nothing twice);
- the last signed checkpoint still verifies and the current tree is
  consistent with it;
- importing the same file again completes, skips what was committed as
  duplicates, and ends with exactly the file's records, in order.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pypi_witness.core.tlog import merkle
from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint
from pypi_witness.core.tlog.note import Verifier
from pypi_witness.core.records.format import format_record, parse_record, record_filename
from pypi_witness.ingest.bigquery import parse_line
from pypi_witness.store.lmdb_store import LmdbStore
from tests.factories import generated_lines

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
RECORDS = 100_000
BATCH = 5_000
ORIGIN = "crash.example.org/log"

pytestmark = pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX process groups")


def cli(*args: object, timeout: float = 120) -> str:
    """Run ``pypi-witness ARGS``; assert exit 0 and no traceback; return stdout."""
    proc = subprocess.run(
        [sys.executable, "-m", "pypi_witness.cli", *map(str, args)],
        capture_output=True,
        timeout=timeout,
    )
    err = proc.stderr.decode()
    assert "Traceback" not in err, err
    assert proc.returncode == 0, f"exit {proc.returncode}: {err}"
    return proc.stdout.decode()


@pytest.fixture(scope="session")
def records_file(tmp_path_factory) -> tuple[Path, list[bytes]]:
    """The generated JSON Lines file and the leaf each of its lines becomes, in order."""
    lines = generated_lines(RECORDS, seed=11)
    path = tmp_path_factory.mktemp("crash-input") / "records.jsonl"
    path.write_bytes(b"".join(lines))
    leaves = [format_record(parse_line(line, n)) for n, line in enumerate(lines, 1)]
    assert len({record_filename(parse_record(leaf)) for leaf in leaves}) == RECORDS  # no repeats
    return path, leaves


def store_size(data: Path) -> int:
    """The durable size, from a read-only store opened and closed for this one look."""
    with LmdbStore(data / "log", readonly=True) as store:
        return store.size()


def import_and_kill(data: Path, path: Path, workers: int, kill_at: int, log: Path) -> None:
    """Start an import and SIGKILL it (and its workers) once the log holds ``kill_at`` entries."""
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pypi_witness.cli", "import", "--data", str(data), str(path),
             "--batch-size", str(BATCH), "--workers", str(workers)],
            stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while store_size(data) < kill_at:
            if proc.poll() is not None:
                pytest.fail(f"the import ended (exit {proc.returncode}) before {kill_at} entries: {log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the import did not reach {kill_at} entries in time")
            time.sleep(0.001)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"import ended by itself: {log.read_text()}"


@pytest.mark.parametrize(
    "kill_at, workers, signed_before",
    [
        pytest.param(1, 0, 0, id="after-the-first-commit"),
        pytest.param(RECORDS * 2 // 5, 2, 3_000, id="midway-parallel-after-a-signed-checkpoint"),
        pytest.param(RECORDS * 3 // 4, 0, 0, id="late"),
    ],
)
def test_import_killed_mid_way_leaves_a_consistent_verifiable_prefix(
    tmp_path, records_file, kill_at, workers, signed_before
):
    path, expected = records_file
    data = tmp_path / "node"
    vkey = json.loads(cli("init", "--data", data, "--origin", ORIGIN, "--json"))["vkey"]
    verifier = Verifier.from_vkey(vkey)
    if signed_before:
        # A first, complete import, so the last signed checkpoint is not the empty tree.
        head = tmp_path / "head.jsonl"
        with path.open("rb") as f:
            head.write_bytes(b"".join(next(f) for _ in range(signed_before)))
        assert json.loads(cli("import", "--data", data, head, "--json"))["size"] == signed_before

    import_and_kill(data, path, workers, kill_at, tmp_path / "import.log")

    with LmdbStore(data / "log", readonly=True) as store:
        size = store.size()
        # A prefix of the file, cut after a whole batch: the first commit alone holds BATCH lines.
        assert BATCH <= size < RECORDS, size
        assert size >= kill_at
        leaves = store.leaves(0, size)
        assert leaves == expected[:size]
        hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
        root = merkle.tree_root(size, store)
        assert root == merkle.root_of(hashes)
        for index in (0, size // 2, size - 1, *random.Random(size).sample(range(size), 20)):
            merkle.verify_inclusion(hashes[index], index, size, merkle.inclusion_proof(index, size, store), root)
        for index, leaf in enumerate(leaves):
            assert store.lookup(record_filename(parse_record(leaf))) == [(index, leaf)]
        assert store.conflicts() == []

        # The last signed checkpoint survived, verifies, and the tree extends it.
        signed = open_checkpoint(store.checkpoint(), verifier).checkpoint
        assert signed.size == signed_before
        assert signed.root_hash == merkle.root_of(hashes[:signed_before])
        proof = merkle.consistency_proof(signed.size, size, store)
        merkle.verify_consistency(signed.size, size, signed.root_hash, root, proof)

    # The CLI reads the crashed log too, and still serves the old checkpoint.
    assert json.loads(cli("log", "checkpoint", "--data", data, "--json"))["size"] == signed_before

    # Importing the file again finishes the job, exactly.
    result = json.loads(cli("import", "--data", data, path, "--batch-size", BATCH, "--workers", workers, "--json"))
    assert result["lines"] == RECORDS
    assert (result["appended"], result["duplicates"], result["conflicts"]) == (RECORDS - size, size, 0)
    assert result["size"] == RECORDS
    with LmdbStore(data / "log", readonly=True) as store:
        assert store.size() == RECORDS
        final = store.leaves(0, RECORDS)
        assert final == expected
        filenames = [record_filename(parse_record(leaf)) for leaf in final]
        assert len(set(filenames)) == RECORDS
        assert set(filenames) == {record_filename(parse_record(leaf)) for leaf in expected}
        latest = open_checkpoint(store.checkpoint(), verifier).checkpoint
        assert latest.size == RECORDS
        assert latest.root_hash == merkle.root_of([merkle.leaf_hash(leaf) for leaf in expected])
        proof = merkle.consistency_proof(signed.size, RECORDS, store)
        merkle.verify_consistency(signed.size, RECORDS, signed.root_hash, latest.root_hash, proof)
        assert store.conflicts() == []
