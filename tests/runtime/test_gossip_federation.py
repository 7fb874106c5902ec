"""Four real node processes gossiping on 127.0.0.1, with a forking log that also cosigns anything.

The honest nodes' logs grow every 0.4 s (gossip_node.py). The adversary
(adversary_node.py, running ``pypi_witness.sim.forking_node``) shows one
branch of its log to alpha and beta and another to gamma and delta. Checked: every honest checkpoint ends up
cosigned by every peer; every honest node holds evidence against the fork
within 3 of its gossip rounds of first seeing it, and the evidence verifies
with ``pypi-witness evidence verify``; the nodes then refuse to cosign the
forking log; a restarted node keeps its witness state (no smaller tree is
cosigned) and its evidence.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint
from pypi_witness.core.tlog.note import ALG_COSIGNATURE_V1, Signer, Verifier
from pypi_witness.core.errors import ConflictError, EquivocationError, OutOfRangeError, UnavailableError
from pypi_witness.signing.keys import generate_signer
from pypi_witness.signing.log import init_log
from pypi_witness.rpc.client import LogClient
from pypi_witness.rpc.witness_client import WitnessClient
from pypi_witness.signing.witness import init_witness_key
from tests.rpc.support import free_port, vkey

HERE = Path(__file__).resolve().parent
HONEST = ("alpha", "beta", "gamma", "delta")
BRANCH = {"alpha": "a", "beta": "a", "gamma": "b", "delta": "b"}
INTERVAL = 0.3
EVIL = "evil.test/log"


def gossip_section() -> str:
    return (
        f"[gossip]\ninterval = {INTERVAL}\njitter = 0.1\nfanout = 2\nstale_peer_rounds = 8\n"
        "stale_origin_rounds = 0\ntimeout_seconds = 1.0\n"
    )


def start_honest(tmp_path: Path, name: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(HERE / "gossip_node.py"), str(tmp_path / f"{name}.toml")],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / f"{name}.log", "ab"),  # noqa: SIM115 - the child owns it
    )


def stop(process: subprocess.Popen) -> int:
    process.terminate()
    return process.wait(timeout=15)


def log_lines(tmp_path: Path, name: str) -> str:
    return (tmp_path / f"{name}.log").read_text(errors="replace")


def detection_rounds(text: str) -> int | None:
    """Rounds from first seeing the fork (or its evidence) to holding evidence; None if not detected."""
    alarm = re.search(rf"gossip: EQUIVOCATION {re.escape(EVIL)}: .*round (\d+)\)", text)
    if alarm is None:
        return None
    seen = re.search(rf"gossip: accepted {re.escape(EVIL)} size \d+ \(round (\d+)\)", text)
    detected = int(alarm.group(1))
    return detected - min(int(seen.group(1)), detected) if seen else 0


@pytest.fixture
def federation(tmp_path):
    ports = {name: free_port() for name in (*HONEST, "evil")}
    for name in HONEST:
        init_log(tmp_path / name, f"{name}.test/log").close()
        init_witness_key(tmp_path / name, f"{name}.test/log/witness")
    logs = {name: vkey(tmp_path / name / "log.vkey") for name in HONEST}
    witnesses = {name: vkey(tmp_path / name / "witness.vkey") for name in HONEST}
    evil_log = generate_signer(EVIL)
    evil_witness = generate_signer(f"{EVIL}/witness", ALG_COSIGNATURE_V1)
    logs["evil"], witnesses["evil"] = evil_log.verifier(), evil_witness.verifier()
    for name in HONEST:
        peers = "".join(
            f'[[peers]]\nname = "{other}"\naddress = "127.0.0.1:{ports[other]}"\n'
            f'log_vkey = "{logs[other].vkey()}"\nwitness_vkey = "{witnesses[other].vkey()}"\n'
            for other in (*HONEST, "evil")
            if other != name
        )
        (tmp_path / f"{name}.toml").write_text(
            f'[node]\ndata_dir = "{name}"\nlisten = "127.0.0.1:{ports[name]}"\n'
            "[limits]\nstop_grace_seconds = 1\n"
            "[witness]\nretry_min_seconds = 0.1\nretry_max_seconds = 0.5\n" + gossip_section() + peers
        )
    spec = {
        "listen": f"127.0.0.1:{ports['evil']}",
        "dir": str(tmp_path / "evil"),
        "log_skey": evil_log.skey(),
        "witness_skey": evil_witness.skey(),
        "size": 5,
        "interval": INTERVAL,
        "peers": [
            {"name": n, "address": f"127.0.0.1:{ports[n]}", "witness_vkey": witnesses[n].vkey(), "branch": BRANCH[n]}
            for n in HONEST
        ],
    }
    (tmp_path / "evil.json").write_text(json.dumps(spec))
    processes = {name: start_honest(tmp_path, name) for name in HONEST}
    processes["evil"] = subprocess.Popen(
        [sys.executable, str(HERE / "adversary_node.py"), str(tmp_path / "evil.json")],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "evil.log", "ab"),  # noqa: SIM115
    )
    try:
        yield tmp_path, ports, logs, witnesses, processes
    finally:
        codes = {name: stop(p) for name, p in processes.items() if p.poll() is None}
        bad = {n: c for n, c in codes.items() if n != "evil" and c != 0}
        assert not bad, {n: log_lines(tmp_path, n)[-3000:] for n in bad}


async def cosigned_by_all(address: str, log: Verifier, others: list[Verifier]):
    async with LogClient(address) as client:
        while True:
            try:
                signed = open_checkpoint(await client.checkpoint(), log, others)
            except UnavailableError:
                signed = None
            if signed is not None and len(signed.cosignatures) == len(others):
                return signed
            await trio.sleep(0.05)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pypi_witness.cli", *args], capture_output=True, timeout=30)


async def test_gossip_federation_catches_a_fork_and_keeps_state_across_a_restart(federation):
    tmp_path, ports, logs, witnesses, processes = federation
    with trio.fail_after(20):
        for name in HONEST:  # every checkpoint cosigned by every peer (the adversary cosigns anything)
            others = [witnesses[o] for o in (*HONEST, "evil") if o != name]
            await cosigned_by_all(f"127.0.0.1:{ports[name]}", logs[name], others)
        while not all(detection_rounds(log_lines(tmp_path, n)) is not None for n in HONEST):
            await trio.sleep(0.1)
    rounds = {n: detection_rounds(log_lines(tmp_path, n)) for n in HONEST}
    assert all(r <= 3 for r in rounds.values()), rounds

    # The evidence each node holds verifies offline; a damaged copy does not.
    listed = cli("evidence", "list", "--json", "--data", str(tmp_path / "alpha"))
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["origin"] == EVIL
    shown = cli("evidence", "show", row["id"][:8], "--data", str(tmp_path / "delta"))
    assert shown.returncode == 0, shown.stderr
    (tmp_path / "evidence.txt").write_bytes(shown.stdout)
    (tmp_path / "evil.vkey").write_text(logs["evil"].vkey() + "\n")
    verified = cli("evidence", "verify", str(tmp_path / "evidence.txt"), "--vkey", str(tmp_path / "evil.vkey"))
    assert verified.returncode == 0, verified.stderr
    assert row["id"] in verified.stdout.decode()
    other_key = generate_signer(EVIL).verifier().vkey()
    refused = cli("evidence", "verify", str(tmp_path / "evidence.txt"), "--vkey", other_key)
    assert refused.returncode == 3, refused.stderr
    (tmp_path / "junk.txt").write_bytes(b"not evidence\n")
    junk = cli("evidence", "verify", str(tmp_path / "junk.txt"), "--vkey", str(tmp_path / "evil.vkey"))
    assert junk.returncode == 1 and b"error" in junk.stderr

    # Every honest node now refuses to cosign the forking log.
    note = shown.stdout.split(b"note ", 2)[1]  # the first note block of the evidence
    first = note[note.index(b"\n") + 1 :][: int(note[: note.index(b"\n")])]
    for name in HONEST:
        async with WitnessClient(f"127.0.0.1:{ports[name]}") as client:
            with pytest.raises(EquivocationError, match="holds evidence"):
                await client.add_checkpoint(0, (), first)

    # Restart beta: its witness state and its evidence survive.
    async with LogClient(f"127.0.0.1:{ports['alpha']}") as client:
        early = await client.checkpoint()  # alpha's current checkpoint, soon older than what beta cosigned
    early_size = open_checkpoint(early, logs["alpha"]).checkpoint.size
    with trio.fail_after(10):
        others = [witnesses[o] for o in (*HONEST, "evil") if o != "alpha"]
        while (await cosigned_by_all(f"127.0.0.1:{ports['alpha']}", logs["alpha"], others)).checkpoint.size <= early_size:
            await trio.sleep(0.1)
    assert stop(processes["beta"]) == 0
    processes["beta"] = start_honest(tmp_path, "beta")
    with trio.fail_after(10):
        async with WitnessClient(f"127.0.0.1:{ports['beta']}") as client:
            while True:
                try:
                    await client.add_checkpoint(0, (), early)
                except UnavailableError:
                    await trio.sleep(0.1)
                    continue
                except (ConflictError, OutOfRangeError) as e:
                    refusal = e
                    break
                raise AssertionError("beta cosigned a smaller tree after a restart")
            assert not isinstance(refusal, ConflictError) or refusal.known_size > early_size
            with pytest.raises(EquivocationError, match="holds evidence"):
                await client.add_checkpoint(0, (), first)
    assert "restored 1 evidence" in log_lines(tmp_path, "beta")
