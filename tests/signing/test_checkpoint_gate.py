"""The log key's one signing gate: never a smaller tree, another root for a size, or a tree that does not
extend the last one signed; the last signed note is recorded outside the store before it is handed out."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time

import pytest

from pypi_witness.signing.checkpoint_gate import LAST_SIGNED_FILE, LastSignedFile, LastSignedMemory
from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint
from pypi_witness.core.tlog.note import Signer
from pypi_witness.core.errors import ConfigError, CorruptionError, RollbackError, StoreError
from pypi_witness.signing.log import STORE_DIR, Log, init_log, open_log
from pypi_witness.store.memory import MemoryStore
from tests.factories import generated_lines, record

ORIGIN = "gate.example/log"
SIGNER = Signer.from_seed(ORIGIN, bytes(range(32)))


def memory_log(records, last_signed) -> Log:
    log = Log(MemoryStore(), SIGNER.verifier(), SIGNER, last_signed=last_signed)
    log.append(records)
    return log


def recorded_size(last_signed) -> int:
    return open_checkpoint(last_signed.load(), SIGNER.verifier()).checkpoint.size


def test_growth_is_signed_and_the_same_size_is_not_signed_again():
    record_ = LastSignedMemory()
    log = memory_log([], record_)
    assert log.publish().checkpoint.size == 0
    log.append([record(i) for i in range(5)])
    signed = log.publish()
    assert signed.checkpoint.size == 5 and record_.load() == signed.note == log.store.checkpoint()
    assert log.publish() == signed


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([record(i) for i in range(3)], "the log holds 3 entries, but its key already signed a checkpoint of size 5"),
        ([record(i, variant="other") for i in range(5)], "tree of size 5 is not the one its key signed"),
        ([*map(record, range(2)), record(2, "fork"), *map(record, range(3, 9))], "tree of size 5 is not the one"),
    ],
    ids=["smaller", "same-size-other-root", "bigger-fork"],
)
def test_a_store_that_does_not_extend_the_signed_tree_is_refused(records, message):
    shared = LastSignedMemory()
    memory_log([record(i) for i in range(5)], shared).publish()
    before = shared.load()
    other = memory_log(records, shared)
    with pytest.raises(RollbackError, match=message) as refused:
        other.publish()
    assert (refused.value.signed_size, refused.value.store_size) == (5, len(records))
    assert str(refused.value).startswith("refusing to sign: ") and str(refused.value).endswith("; nothing was signed")
    assert shared.load() == before and other.store.checkpoint() is None


class ShiftingStore(MemoryStore):
    """A store whose hashes change between reads, as damage under a running node would: the subtree
    hashes read for a consistency proof are not those read for the roots."""

    def __init__(self) -> None:
        super().__init__()
        self.damage = False

    def read_hashes(self, ids):
        hashes = super().read_hashes(ids)
        if self.damage and list(ids) == [(2, 1)]:  # the proof 4 -> 8; the root of 8 is read as (3, 0)
            hashes[0] = bytes(32)
        return hashes


def test_a_tree_the_consistency_proof_does_not_connect_is_refused():
    shared = LastSignedMemory()
    log = Log(ShiftingStore(), SIGNER.verifier(), SIGNER, last_signed=shared)
    log.append([record(i) for i in range(4)])
    log.publish()
    log.append([record(i) for i in range(4, 8)])
    log.store.damage = True
    with pytest.raises(RollbackError, match="does not extend the checkpoint of size 4"):
        log.publish()
    assert recorded_size(shared) == 4


class FailingRecord(LastSignedMemory):
    def save(self, note: bytes) -> None:
        raise StoreError("cannot record the signed checkpoint: disk full")


def test_a_signature_that_cannot_be_recorded_is_not_handed_out():
    log = memory_log([record(0)], FailingRecord())
    with pytest.raises(StoreError, match="cannot record"):
        log.publish()
    assert log.store.checkpoint() is None


def test_a_damaged_record_stops_signing(tmp_path):
    other = Signer.from_seed(ORIGIN, bytes(32))
    cases = [b"not a note", Log(MemoryStore(), other.verifier(), other).publish().note]
    for content in cases:
        (tmp_path / LAST_SIGNED_FILE).write_bytes(content)
        log = memory_log([record(0)], LastSignedFile(tmp_path))
        with pytest.raises(CorruptionError, match=f"{LAST_SIGNED_FILE} is damaged"):
            log.publish()
        assert (tmp_path / LAST_SIGNED_FILE).read_bytes() == content and log.store.checkpoint() is None


def test_a_log_key_must_be_a_note_key():
    witness_key = Signer.from_seed(ORIGIN, bytes(32), 0x04)
    with pytest.raises(ConfigError, match="not a log key"):
        Log(MemoryStore(), witness_key.verifier(), witness_key)


def test_gates_in_other_processes_see_each_others_signatures(tmp_path):
    """Two logs over one record (as two processes on one data directory): the one behind cannot sign."""
    ahead = memory_log([record(i) for i in range(9)], LastSignedFile(tmp_path))
    behind = memory_log([record(i) for i in range(6)], LastSignedFile(tmp_path))
    assert behind.publish().checkpoint.size == 6
    assert ahead.publish().checkpoint.size == 9
    with pytest.raises(RollbackError, match="already signed a checkpoint of size 9"):
        behind.publish()


class SlowRecord(LastSignedFile):
    """Reads slowly, so that gates racing each other interleave; logs every save in order."""

    saves: list[int] = []

    def load(self) -> bytes | None:
        note = super().load()
        time.sleep(0.02)
        return note

    def save(self, note: bytes) -> None:
        super().save(note)
        SlowRecord.saves.append(open_checkpoint(note, SIGNER.verifier()).checkpoint.size)


def test_racing_gates_never_record_a_smaller_tree(tmp_path):
    """The check and the record's update are one step under the lock file, across gates."""
    SlowRecord.saves = []
    memory_log([], LastSignedFile(tmp_path)).publish()
    logs = [memory_log([record(i) for i in range(n)], SlowRecord(tmp_path)) for n in (3, 9, 5, 7)]
    outcomes: list[str] = []

    def publish(log: Log) -> None:
        try:
            outcomes.append(str(log.publish().checkpoint.size))
        except RollbackError:
            outcomes.append("refused")

    threads = [threading.Thread(target=publish, args=(log,)) for log in logs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert SlowRecord.saves == sorted(SlowRecord.saves) and SlowRecord.saves
    assert recorded_size(LastSignedFile(tmp_path)) == max(SlowRecord.saves)
    assert len(outcomes) == 4


# --- data directories --------------------------------------------------------------------------


def test_a_store_restored_from_an_older_backup_is_refused_at_open(tmp_path):
    data = tmp_path / "node"
    log = init_log(data, ORIGIN)
    log.append([record(i) for i in range(10)])
    log.publish()
    log.close()
    shutil.copytree(data / STORE_DIR, tmp_path / "backup")
    log = open_log(data)
    log.append([record(i) for i in range(10, 20)])
    log.publish()
    log.close()
    signed = (data / LAST_SIGNED_FILE).read_bytes()
    shutil.rmtree(data / STORE_DIR)
    shutil.copytree(tmp_path / "backup", data / STORE_DIR)
    with pytest.raises(RollbackError, match="holds 10 entries, but its key already signed a checkpoint of size 20"):
        open_log(data)
    assert (data / LAST_SIGNED_FILE).read_bytes() == signed
    reader = open_log(data, readonly=True)  # reading what is there signs nothing, and is allowed
    assert reader.checkpoint().checkpoint.size == 10
    reader.close()


@pytest.mark.parametrize("command", ["import", "follow"])
def test_import_and_follow_refuse_a_store_behind_what_the_key_signed(tmp_path, command):
    """The CLI paths that append and sign refuse before writing anything (serve: tests/runtime/test_damaged_serve.py)."""
    data = tmp_path / "node"
    log = init_log(data, ORIGIN)
    shutil.copytree(data / STORE_DIR, tmp_path / "backup")  # at size 0
    log.append([record(i) for i in range(4)])
    log.publish()
    log.close()
    shutil.rmtree(data / STORE_DIR)
    shutil.copytree(tmp_path / "backup", data / STORE_DIR)
    before = {p.name: p.read_bytes() for p in [data / LAST_SIGNED_FILE, data / STORE_DIR / "data.mdb"]}
    records = tmp_path / "records.jsonl"
    records.write_bytes(b"".join(generated_lines(10, seed=2)))
    argv = {"import": ["import", "--data", str(data), str(records)],
            "follow": ["follow", "--data", str(data), "--index", "http://127.0.0.1:9", "--once"]}[command]  # fmt: skip
    result = subprocess.run([sys.executable, "-m", "pypi_witness.cli", *argv], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"pypi-witness: error: refusing to open the log in {data}: the log holds 0 entries, but its key already "
        "signed a checkpoint of size 4 (the store lost entries: a backup to restore must hold at least 4). "
        "Nothing was signed."
    )
    assert {p.name: p.read_bytes() for p in [data / LAST_SIGNED_FILE, data / STORE_DIR / "data.mdb"]} == before


def test_a_directory_without_the_record_takes_it_from_the_store(tmp_path):
    data = tmp_path / "node"
    log = init_log(data, ORIGIN)
    log.append([record(i) for i in range(7)])
    signed = log.publish()
    log.close()
    (data / LAST_SIGNED_FILE).unlink()  # as a data directory made before the record existed
    open_log(data, readonly=True).close()
    assert not (data / LAST_SIGNED_FILE).exists()  # a reader records nothing
    open_log(data).close()
    assert (data / LAST_SIGNED_FILE).read_bytes() == signed.note


def test_init_refuses_a_directory_holding_a_record(tmp_path):
    (tmp_path / LAST_SIGNED_FILE).write_bytes(b"x")
    with pytest.raises(ConfigError, match=f"{LAST_SIGNED_FILE} already exists"):
        init_log(tmp_path, ORIGIN)
