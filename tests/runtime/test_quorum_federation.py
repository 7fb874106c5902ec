"""Five real node processes under a 3-of-5 policy: two of them lying about files' hashes, then an index swapping a file.

Every node's log holds the same 40 files, except that node5 logs another
sha256 for one file (one liar) and node4 and node5 both log another for a
second file (two liars). Gossip finds both disputes; every node settles them
by quorum: the true hashes win, the liars are named, the verdict records
re-check offline against the policy, and ``pypi-witness verify`` flags exactly
the requirement holding a liar's hash. Then five nodes follow a fake PyPI that
swaps a file: every node raises the swap alarm, and the client flags the
swapped hash while the published one stays OK.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
import trio

from pypi_witness.core.quorum.policy import parse_policy
from pypi_witness.core.records.format import parse_record, verdict_key
from pypi_witness.core.disputes.settle import Outcome, verify_verdict
from pypi_witness.core.records.verdict import VerdictRecord
from pypi_witness.core.errors import NotFoundError, UnavailableError
from pypi_witness.fakeindex import FakeIndexServer, Index
from pypi_witness.config.federation import create_federation
from pypi_witness.rpc.client import LogClient
from tests.runtime.test_federation import free_ports

NODES = ("node1", "node2", "node3", "node4", "node5")
FILES = 40
ONE_LIAR, TWO_LIARS = 7, 23  # which files are lied about
LIARS = {ONE_LIAR: ("node5",), TWO_LIARS: ("node4", "node5")}
GOSSIP = (
    "[limits]\nstop_grace_seconds = 1\n"
    "[witness]\nretry_min_seconds = 0.1\nretry_max_seconds = 0.5\n"
    "[gossip]\ninterval = 0.3\njitter = 0.1\nfanout = 2\nstale_origin_rounds = 0\ntimeout_seconds = 2.0\n"
)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def row(i: int, lie: bool = False) -> dict:
    filename = f"proj{i % 5}-1.{i}-py3-none-any.whl"
    return {
        "name": f"proj{i % 5}",
        "version": f"1.{i}",
        "filename": filename,
        "size": 1000 + i,
        "upload_time": f"2024-01-01T00:00:{i:02d}.000000Z",
        "sha256_digest": digest(("lie:" if lie else "") + filename),
        "blake2_256_digest": digest(("lie:" if lie else "b2:") + filename),
        "serial": 100 + i,
    }


def cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pypi_witness.cli", *map(str, args)], capture_output=True, text=True)


@pytest.fixture
def federation(tmp_path):
    base = free_ports(len(NODES))
    addresses = {name: f"127.0.0.1:{base + i}" for i, name in enumerate(NODES)}
    members = create_federation(tmp_path / "fed", addresses, quorum=3, extra_config=GOSSIP)
    for name, member in members.items():
        rows = [row(i, lie=name in LIARS.get(i, ())) for i in range(FILES)]
        jsonl = tmp_path / f"{name}.jsonl"
        jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
        done = cli("import", "--data", member.data_dir, jsonl)
        assert done.returncode == 0, done.stderr
    processes = {
        name: subprocess.Popen(
            [sys.executable, "-m", "pypi_witness.cli", "serve", "--config", member.config],
            stdout=subprocess.DEVNULL,
            stderr=open(tmp_path / f"{name}.log", "ab"),  # noqa: SIM115 - the child owns it
        )
        for name, member in members.items()
    }
    try:
        yield tmp_path, members, addresses
    finally:
        for p in processes.values():
            p.terminate()
        codes = {name: p.wait(timeout=15) for name, p in processes.items()}
        logs = {name: (tmp_path / f"{name}.log").read_text(errors="replace") for name in NODES}
        assert all(code == 0 for code in codes.values()), {n: logs[n][-3000:] for n in NODES}
        assert not any("Traceback" in text for text in logs.values()), logs


async def settled_verdict(address: str, filename: str) -> VerdictRecord | None:
    """The last verdict the node at ``address`` logged for ``filename``, if settled."""
    try:
        async with LogClient(address) as client:
            (result,) = (await client.lookup(verdict_key(filename))).results
    except (NotFoundError, UnavailableError):
        return None
    record = parse_record(result.entries[-1].leaf) if result.entries else None
    if isinstance(record, VerdictRecord) and record.outcome is Outcome.SETTLED:
        return record
    return None


async def test_the_quorum_overrules_one_then_two_lying_witnesses(federation):
    tmp_path, members, addresses = federation
    policy = parse_policy((tmp_path / "fed" / "policy.txt").read_bytes())
    origins = {name: m.log.name for name, m in members.items()}
    with trio.fail_after(60):
        for i, liars in LIARS.items():
            truth = row(i)
            for name in NODES:
                while (record := await settled_verdict(addresses[name], truth["filename"])) is None:
                    await trio.sleep(0.2)
                tally = verify_verdict(policy, record)  # re-checked from the statements inside
                assert tally.outcome is Outcome.SETTLED
                assert tally.value == (truth["sha256_digest"], truth["blake2_256_digest"], truth["size"])
                assert sorted(s.origin for s in tally.minority) == sorted(origins[n] for n in liars)
                assert len(tally.majority) == len(NODES) - len(liars)
    with trio.fail_after(30):  # each liar hears the verdicts that overrule its own log
        for i, liars in LIARS.items():
            for name in liars:
                while f"ALARM overruled {row(i)['filename']}" not in (tmp_path / f"{name}.log").read_text(errors="replace"):
                    await trio.sleep(0.2)
    # A requirements file: one line with a true hash, one with a liar's.
    lines = [
        f"{row(i)['name']} @ https://files.example.invalid/packages/{row(i)['filename']} "
        f"--hash=sha256:{row(i, lie=bad)['sha256_digest']}\n"
        for i, bad in ((ONE_LIAR, False), (TWO_LIARS, True), (3, False))
    ]
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("".join(lines))
    nodes = [arg for name in NODES for arg in ("--node", addresses[name])]
    done = cli("verify", "--policy", tmp_path / "fed" / "policy.txt", *nodes, requirements, "--json")
    assert done.returncode == 3, done.stderr
    files = [json.loads(line) for line in done.stdout.splitlines()]
    assert [f["status"] for f in files] == ["OK", "MISMATCH", "OK"]
    assert origins["node5"] in json.dumps(files[0])  # the overruled liar is named
    assert origins["node4"] in json.dumps(files[1]) and origins["node5"] in json.dumps(files[1])


async def test_an_index_swapping_a_file_is_flagged_by_every_node_and_the_client(tmp_path):
    index = Index(content_seed=5)
    index.populate(seed=5, projects=4)
    with FakeIndexServer(index) as fake:
        base = free_ports(len(NODES))
        addresses = {name: f"127.0.0.1:{base + i}" for i, name in enumerate(NODES)}
        follow = f'[index]\nurl = "{fake.url}"\npoll_seconds = 0.3\nrequests_per_second = 0\naudit_releases = 100\n'
        members = create_federation(tmp_path / "fed", addresses, quorum=3, extra_config=follow + GOSSIP)
        processes = {
            name: subprocess.Popen(
                [sys.executable, "-m", "pypi_witness.cli", "serve", "--config", member.config],
                stdout=subprocess.DEVNULL,
                stderr=open(tmp_path / f"{name}.log", "ab"),  # noqa: SIM115 - the child owns it
            )
            for name, member in members.items()
        }
        logs = lambda: {n: (tmp_path / f"{n}.log").read_text(errors="replace") for n in NODES}  # noqa: E731
        try:
            filename = index.live_filenames()[0]
            rec = index.live_file(filename)
            original = index.digests(rec).sha256
            with trio.fail_after(60):
                for name in NODES:  # every node has logged the file as first served
                    while not await logged(addresses[name], filename):
                        await trio.sleep(0.2)
                fake.set_attacks(swap=[filename])
                swapped = index.digests(rec, "swap").sha256
                while not all(f"ALARM swap {filename}" in text for text in logs().values()):
                    await trio.sleep(0.2)
            requirements = tmp_path / "requirements.txt"
            requirements.write_text(
                f"{rec.project} @ {fake.url}/packages/{filename} --hash=sha256:{swapped}\n"  # what the index serves now
                f"{rec.project} @ {fake.url}/packages/{filename} --hash=sha256:{original}\n"  # what was published
            )
            nodes = [arg for name in NODES for arg in ("--node", addresses[name])]
            done = cli("verify", "--policy", tmp_path / "fed" / "policy.txt", *nodes, requirements, "--json")
            files = [json.loads(line) for line in done.stdout.splitlines()]
            assert done.returncode == 3, done.stderr
            assert [f["status"] for f in files] == ["MISMATCH", "OK"]
            assert "the index later served other hashes" in files[1]["reason"]
        finally:
            for p in processes.values():
                p.terminate()
            codes = [p.wait(timeout=15) for p in processes.values()]
        assert codes == [0] * len(NODES), {n: text[-2000:] for n, text in logs().items()}


async def logged(address: str, filename: str) -> bool:
    try:
        async with LogClient(address) as client:
            (result,) = (await client.lookup(filename)).results
    except (NotFoundError, UnavailableError):
        return False
    return bool(result.entries)
