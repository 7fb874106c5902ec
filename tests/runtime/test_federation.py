"""Three real node processes, each the others' peer: every checkpoint ends up cosigned by both others."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import trio

from pypi_witness.core.checkpoint import open_checkpoint
from pypi_witness.core.note import Verifier
from pypi_witness.errors import UnavailableError
from pypi_witness.log import init_log
from pypi_witness.rpc.client import LogClient
from pypi_witness.witness import init_witness_key

NODES = ("alpha", "beta", "gamma")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vkey(path: Path) -> Verifier:
    return Verifier.from_vkey(path.read_text().strip())


async def test_each_node_serves_its_checkpoint_cosigned_by_every_peer(tmp_path):
    ports = {name: free_port() for name in NODES}
    for name in NODES:  # as `pypi-witness init` does, without three more process starts
        init_log(tmp_path / name, f"{name}.test/log").close()
        init_witness_key(tmp_path / name, f"{name}.test/log/witness")
    logs = {name: vkey(tmp_path / name / "log.vkey") for name in NODES}
    witnesses = {name: vkey(tmp_path / name / "witness.vkey") for name in NODES}
    for name in NODES:
        peers = "".join(
            f'[[peers]]\nname = "{other}"\naddress = "127.0.0.1:{ports[other]}"\n'
            f'log_vkey = "{logs[other].vkey()}"\nwitness_vkey = "{witnesses[other].vkey()}"\n'
            for other in NODES
            if other != name
        )
        (tmp_path / f"{name}.toml").write_text(
            f'[node]\ndata_dir = "{name}"\nlisten = "127.0.0.1:{ports[name]}"\n'
            "[limits]\nstop_grace_seconds = 1\n"
            "[witness]\nretry_min_seconds = 0.1\nretry_max_seconds = 0.5\n" + peers
        )
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "pypi_witness.cli", "serve", "--config", str(tmp_path / f"{name}.toml")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for name in NODES
    ]
    try:
        with trio.fail_after(15):
            for name in NODES:
                others = [witnesses[o] for o in NODES if o != name]
                async with LogClient(f"127.0.0.1:{ports[name]}") as client:
                    while True:
                        try:
                            signed = open_checkpoint(await client.checkpoint(), logs[name], others)
                        except UnavailableError:
                            signed = None  # not serving yet
                        if signed is not None and len(signed.cosignatures) == len(others):
                            break
                        await trio.sleep(0.05)
                assert {c.name for c in signed.cosignatures} == {w.name for w in others}
    finally:
        for p in processes:
            p.terminate()
        errors = [p.communicate(timeout=15)[1].decode() for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], "\n".join(errors)
