"""The verifying client believes nothing it has not checked."""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path

import pytest
import trio

from pypi_witness.core.tlog.note import Verifier
from pypi_witness.core.errors import MalformedError, NoteError, SignatureError, VerificationError
from pypi_witness.signing.log import Log, init_log, open_log
from pypi_witness.rpc import convert
from pypi_witness.client.verifying import ClientState, VerifyingClient
from tests.rpc.support import config_for, make_sample_log, record, start_node, vkey_of


class LocalNode:
    """A node answering from a local log, as the gRPC service does (the Node protocol)."""

    def __init__(self, log: Log) -> None:
        self.log = log

    async def checkpoint(self) -> bytes:
        return self.log.checkpoint().note

    async def entries(self, start: int, end: int) -> convert.EntriesPage:
        return convert.EntriesPage(start, tuple(self.log.entries(start, end)))

    async def lookup_many(self, filenames):
        found = [self.log.lookup(f) for f in filenames]
        note = found[0].checkpoint.note
        results = tuple(
            convert.FilenameEntries(f, tuple(convert.ProvenEntry(p.index, p.leaf, p.proof) for p in x.entries), x.conflicts)
            for f, x in zip(filenames, found)
        )
        return convert.LookupAnswer(note, results)

    async def inclusion_proof(self, index: int, size: int) -> convert.InclusionAnswer:
        p = self.log.inclusion_proof(index, size)
        return convert.InclusionAnswer(p.index, p.size, p.leaf, p.proof)

    async def consistency_proof(self, old_size: int, new_size: int) -> convert.ConsistencyAnswer:
        c = self.log.consistency_proof(old_size, new_size)
        return convert.ConsistencyAnswer(c.old_size, c.new_size, c.proof)


def flip(data: bytes, at: int = 0) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


@pytest.fixture
def log(tmp_path):
    log = init_log(tmp_path / "a", "client-test.invalid/log")
    log.append([record(i) for i in range(40)])
    log.publish()
    yield log
    log.close()


@pytest.fixture
def verifier(log) -> Verifier:
    return log.verifier


async def test_honest_answers_verify(log, verifier):
    client = VerifyingClient(LocalNode(log), verifier)
    accepted = await client.checkpoint()
    assert accepted.checkpoint.checkpoint.size == 40 and accepted.previous_size is None
    _, results = await client.lookup([record(3).filename, "absent.whl"])
    assert [e.index for e in results[0].entries] == [3]
    assert results[1].entries == () and results[1].conflicts == ()
    _, entry = await client.inclusion(7)
    assert entry.record == record(7)
    _, entries = await client.entries(10, 14)
    assert [e.record for e in entries] == [record(i) for i in range(10, 14)]


async def test_conflicts_are_worked_out_by_the_client(log, verifier):
    log.append([record(3, variant="swapped")])
    log.publish()

    class HidingNode(LocalNode):
        async def lookup_many(self, filenames):
            answer = await super().lookup_many(filenames)
            return dataclasses.replace(
                answer, results=tuple(dataclasses.replace(r, conflicts=()) for r in answer.results)
            )

    _, (result,) = await VerifyingClient(HidingNode(log), verifier).lookup([record(3).filename])
    assert [(c.index, c.earlier_index) for c in result.conflicts] == [(40, 3)]


class Tamper(LocalNode):
    """Alters one part of the answers."""

    def __init__(self, log: Log, what: str) -> None:
        super().__init__(log)
        self.what = what

    def _note(self, note: bytes) -> bytes:
        if self.what == "signature":
            return note[:-10] + flip(note[-10:], 2)
        if self.what == "checkpoint root":
            return note.replace(note.split(b"\n")[2], flip(note.split(b"\n")[2], 3))
        return note

    async def checkpoint(self) -> bytes:
        return self._note(await super().checkpoint())

    async def lookup_many(self, filenames):
        answer = await super().lookup_many(filenames)
        answer = dataclasses.replace(answer, checkpoint=self._note(answer.checkpoint))
        (result,) = answer.results
        (entry,) = result.entries
        if self.what == "proof":
            entry = dataclasses.replace(entry, proof=(flip(entry.proof[0]),) + entry.proof[1:])
        elif self.what == "leaf":
            entry = dataclasses.replace(entry, leaf=entry.leaf.replace(b"size 1003", b"size 1004"))
        elif self.what == "index":
            entry = dataclasses.replace(entry, index=entry.index + 1)
        elif self.what == "other entry":
            other = self.log.inclusion_proof(9)
            entry = convert.ProvenEntry(other.index, other.leaf, other.proof)
        elif self.what == "filename":
            result = dataclasses.replace(result, filename="other.whl")
        elif self.what == "twice":
            result = dataclasses.replace(result, entries=(entry, entry))
        return dataclasses.replace(answer, results=(dataclasses.replace(result, entries=result.entries if self.what == "twice" else (entry,)),))

    async def inclusion_proof(self, index: int, size: int) -> convert.InclusionAnswer:
        answer = await super().inclusion_proof(index, size)
        if self.what == "inclusion size":
            return dataclasses.replace(answer, size=size - 1)
        if self.what == "inclusion proof":
            return dataclasses.replace(answer, proof=answer.proof[:-1])
        return answer


@pytest.mark.parametrize(
    "what, error, message",
    [
        ("signature", (SignatureError, NoteError), None),
        ("checkpoint root", (SignatureError, NoteError), None),
        ("proof", VerificationError, "entry 3: inclusion proof"),
        ("leaf", VerificationError, "entry 3: inclusion proof"),
        ("index", VerificationError, "inclusion proof"),
        ("other entry", VerificationError, "entry 9 is not about"),
        ("filename", VerificationError, "other filenames"),
        ("twice", VerificationError, "twice"),
    ],
)
async def test_tampered_lookups_are_refused(log, verifier, what, error, message):
    with pytest.raises(error, match=message):
        await VerifyingClient(Tamper(log, what), verifier).lookup([record(3).filename])


@pytest.mark.parametrize("what, message", [("inclusion size", "got 5 at 39"), ("inclusion proof", "entry 5")])
async def test_tampered_inclusion_answers_are_refused(log, verifier, what, message):
    with pytest.raises(VerificationError, match=message):
        await VerifyingClient(Tamper(log, what), verifier).inclusion(5)
    with pytest.raises(VerificationError):
        await VerifyingClient(Tamper(log, what), verifier).entries(3, 8)


async def test_another_logs_key_is_refused(log, tmp_path):
    other = init_log(tmp_path / "other", "client-test.invalid/log")  # same origin, another key
    try:
        with pytest.raises(SignatureError):
            await VerifyingClient(LocalNode(log), other.verifier).checkpoint()
    finally:
        other.close()


async def test_entries_limits(log, verifier):
    client = VerifyingClient(LocalNode(log), verifier)
    with pytest.raises(MalformedError):
        await client.entries(5, 3)
    with pytest.raises(MalformedError, match="checkpoint has 40"):
        await client.entries(30, 41)


# --- history: the state directory ---------------------------------------------------


async def test_state_accepts_growth_with_a_consistency_proof(log, verifier, tmp_path):
    state = ClientState(tmp_path / "state")
    client = VerifyingClient(LocalNode(log), verifier, state)
    assert (await client.checkpoint()).previous_size is None
    log.append([record(i) for i in range(40, 57)])
    log.publish()
    accepted = await client.checkpoint()
    assert (accepted.previous_size, accepted.checkpoint.checkpoint.size) == (40, 57)
    assert accepted.consistency_proof
    assert state.load(verifier).checkpoint.size == 57
    assert (await client.checkpoint()).previous_size == 57


async def test_state_refuses_a_rollback(log, verifier, tmp_path):
    old_note = log.checkpoint().note
    state = ClientState(tmp_path / "state")
    log.append([record(40)])
    log.publish()
    await VerifyingClient(LocalNode(log), verifier, state).checkpoint()

    class Replaying(LocalNode):
        async def checkpoint(self) -> bytes:
            return old_note

    with pytest.raises(VerificationError, match="rollback: .* size 40, older than the size 41"):
        await VerifyingClient(Replaying(log), verifier, state).checkpoint()
    assert state.load(verifier).checkpoint.size == 41


def _fork(log: Log, tmp_path: Path) -> Log:
    """A second log with the same key and history so far (a log about to equivocate)."""
    source = Path(log.store._path).parent  # type: ignore[attr-defined]
    log.close()
    shutil.copytree(source, tmp_path / "fork")
    return open_log(tmp_path / "fork")


async def test_state_refuses_a_split_view_and_a_forked_history(tmp_path):
    log = init_log(tmp_path / "a", "client-test.invalid/log")
    log.append([record(i) for i in range(10)])
    log.publish()
    verifier = log.verifier
    fork = _fork(log, tmp_path)
    log = open_log(tmp_path / "a")
    try:
        log.append([record(10)])
        log.publish()
        fork.append([record(11)])
        fork.publish()
        state = ClientState(tmp_path / "state")
        await VerifyingClient(LocalNode(log), verifier, state).checkpoint()
        with pytest.raises(VerificationError, match="split view: two checkpoints of size 11"):
            await VerifyingClient(LocalNode(fork), verifier, state).checkpoint()
        fork.append([record(12)])
        fork.publish()
        with pytest.raises(VerificationError, match="not an extension of the one of size 11"):
            await VerifyingClient(LocalNode(fork), verifier, state).checkpoint()
    finally:
        log.close()
        fork.close()


async def test_state_file_that_no_longer_verifies_is_reported(log, verifier, tmp_path):
    state = ClientState(tmp_path / "state")
    await VerifyingClient(LocalNode(log), verifier, state).checkpoint()
    (path,) = (tmp_path / "state").iterdir()
    path.write_bytes(b"garbage")
    with pytest.raises(Exception, match="does not verify"):
        await VerifyingClient(LocalNode(log), verifier, state).checkpoint()


# --- the command line against a real node ---------------------------------------------


async def _query(*args: str) -> tuple[int, str, str]:
    result = await trio.run_process(
        [sys.executable, "-m", "pypi_witness.cli", "query", *args], capture_stdout=True, capture_stderr=True, check=False
    )
    assert b"Traceback" not in result.stderr
    return result.returncode, result.stdout.decode(), result.stderr.decode()


async def test_query_commands_against_a_node(tmp_path):
    data = tmp_path / "node"
    vkey = make_sample_log(data)
    other = init_log(tmp_path / "other", "test.pypi-witness.invalid/log")
    other_vkey = other.verifier.vkey()
    other.close()
    async with trio.open_nursery() as nursery:
        address = await start_node(nursery, config_for(data))
        common = ["--node", address, "--vkey", vkey, "--state", str(tmp_path / "state")]
        code, out, _ = await _query("checkpoint", *common)
        assert code == 0 and "signature verified" in out
        code, out, _ = await _query("checkpoint", *common)
        assert code == 0 and "the same as the checkpoint accepted before" in out
        entry = (await _query("proof", "5", *common, "--json"))[1]
        assert '"index": 5' in entry
        code, out, _ = await _query("lookup", "absent-1.0.tar.gz", *common)
        assert code == 1 and "not in the log" in out
        code, _, err = await _query("checkpoint", "--node", address, "--vkey", other_vkey)
        assert code == 3 and err.startswith("pypi-witness: verification failed:")
        code, _, err = await _query("checkpoint", "--node", "127.0.0.1:1", "--vkey", vkey, "--timeout", "3")
        assert code == 1 and err.count("\n") == 1
        nursery.cancel_scope.cancel()
    assert vkey == vkey_of(data)
