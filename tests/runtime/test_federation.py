"""``pypi-witness federation init`` and three real node processes, each the others' peer:
every checkpoint ends up cosigned by both others, and the policy file it wrote is satisfied."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import trio

from pypi_witness.config.node import load_config
from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint
from pypi_witness.core.tlog.note import Verifier
from pypi_witness.core.quorum.policy import parse_policy
from pypi_witness.core.quorum.evaluation import check_checkpoint
from pypi_witness.core.errors import UnavailableError
from pypi_witness.rpc.client import LogClient
from tests.http.support import request


def free_ports(n: int) -> int:
    """The first of ``n`` consecutive free loopback ports."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        sockets = []
        try:
            for port in range(base, base + n):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()


def cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pypi_witness.cli", *map(str, args)], capture_output=True, text=True)


async def test_each_node_serves_its_checkpoint_cosigned_by_every_peer(tmp_path):
    made = cli(
        "federation", "init", tmp_path / "fed", "--nodes", 3, "--base-port", free_ports(3),
        "--http-base-port", free_ports(3), "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    nodes = json.loads(made.stdout)["nodes"]
    policy = parse_policy((tmp_path / "fed" / "policy.txt").read_bytes())
    for node in nodes:
        config = load_config(tmp_path / "fed" / f"{node['name']}.toml")
        assert {p.name for p in config.peers} == {n["name"] for n in nodes} - {node["name"]}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "pypi_witness.cli", "serve", "--config", node["config"]],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for node in nodes
    ]
    try:
        with trio.fail_after(20):
            for node in nodes:
                log = Verifier.from_vkey(node["log_vkey"])
                others = [Verifier.from_vkey(n["witness_vkey"]) for n in nodes if n is not node]
                async with LogClient(node["address"]) as client:
                    while True:
                        try:
                            note = await client.checkpoint()
                            signed = open_checkpoint(note, log, others)
                        except UnavailableError:
                            signed = None  # not serving yet
                        if signed is not None and len(signed.cosignatures) == len(others):
                            break
                        await trio.sleep(0.05)
                assert {c.name for c in signed.cosignatures} == {w.name for w in others}
                assert check_checkpoint(policy, note).quorum.satisfied
                # The C2SP HTTP face serves the same cosigned checkpoint (federation init turns it on).
                served = await request(f"http://{node['http']}", "GET", "/checkpoint")
                assert len(open_checkpoint(served.body, log, others).cosignatures) == len(others)
    finally:
        for p in processes:
            p.terminate()
        errors = [p.communicate(timeout=15)[1] for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], "\n".join(errors)


def test_federation_init_refuses_what_it_cannot_make(tmp_path):
    assert "at least two nodes" in cli("federation", "init", tmp_path / "a", "--nodes", 1).stderr
    assert "quorum must be from 1 to 3" in cli("federation", "init", tmp_path / "b", "--quorum", 4).stderr
    assert cli("federation", "init", tmp_path / "c").returncode == 0
    again = cli("federation", "init", tmp_path / "c")  # the logs exist already
    assert again.returncode == 1 and again.stderr.startswith("pypi-witness: error: ") and "Traceback" not in again.stderr
