"""Real node processes for the client tests, shared by the module that asks for them.

Three nodes, alpha, beta and gamma, each the others' peer, so each one's
checkpoint is cosigned by the two others; a fourth, delta, has no peers, so its
checkpoint carries no cosignature. Every log holds the same FILES, except
that gamma logs LIED_FILE with other hashes, then the real PyPI files of
fixtures/records.jsonl (REAL): alpha, beta and gamma all of them and later
SWAP (six's sdist with other bytes), delta all but the LAGGING wheel. The
policy trusts the four logs and needs 2 of the 3 witnesses alpha, beta, gamma.
"""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint
from pypi_witness.core.tlog.note import Verifier
from pypi_witness.core.records.format import FileRecord
from pypi_witness.core.errors import UnavailableError
from pypi_witness.ingest.bigquery import parse_line
from pypi_witness.signing.log import init_log
from pypi_witness.rpc.client import LogClient
from pypi_witness.signing.witness import init_witness_key
from tests.factories import record
from tests.rpc.support import free_port, vkey

COSIGNING = ("alpha", "beta", "gamma")
NODES = (*COSIGNING, "delta")
LOCAL_CONTENT = b"the bytes of a local sdist\n" * 100
LIED_INDEX = 7


def local_record() -> FileRecord:
    return FileRecord(
        project="localpkg", version="1.0", filename="localpkg-1.0.tar.gz",
        sha256=hashlib.sha256(LOCAL_CONTENT).hexdigest(),
        blake2b_256=hashlib.blake2b(LOCAL_CONTENT, digest_size=32).hexdigest(),
        size=len(LOCAL_CONTENT), upload_time="2024-01-02T03:04:05.000006Z", serial=99,
    )  # fmt: skip


FILES = [record(i) for i in range(12)] + [local_record()]
LIED_FILE = FILES[LIED_INDEX]
FIXTURES = Path(__file__).parent / "fixtures"
# The real PyPI files of fixtures/records.jsonl, logged after FILES by every node.
REAL = [parse_line(line, n) for n, line in enumerate((FIXTURES / "records.jsonl").read_bytes().splitlines(), 1)]
# alpha, beta and gamma later log six's sdist with other bytes (the index swapped it, and they saw it).
SWAPPED = next(r for r in REAL if r.filename == "six-1.16.0.tar.gz")
SWAP = dataclasses.replace(
    SWAPPED, sha256=hashlib.sha256(b"swapped").hexdigest(), size=SWAPPED.size + 1,
    blake2b_256=hashlib.blake2b(b"swapped", digest_size=32).hexdigest(),
)  # fmt: skip
# delta lags: it has not logged this wheel of a release whose other files it has.
LAGGING = "PySocks-1.7.1-py3-none-any.whl"


def logged_by(name: str) -> list[FileRecord]:
    """What node ``name`` logs, in order."""
    files = [record(LIED_INDEX, "lie") if (name == "gamma" and f == LIED_FILE) else f for f in FILES]
    if name == "delta":
        return files + [r for r in REAL if r.filename != LAGGING]
    return files + REAL + [SWAP]


@dataclasses.dataclass
class Federation:
    root: Path
    addresses: dict[str, str]
    logs: dict[str, Verifier]
    witnesses: dict[str, Verifier]
    policy: Path

    def policy_text(self, *, quorum: str = "group g 2 alpha beta gamma\nquorum g\n") -> str:
        lines = [f"log {self.logs[n].vkey()}\n" for n in NODES]
        lines += [f"witness {n} {self.witnesses[n].vkey()}\n" for n in COSIGNING]
        return "".join(lines) + quorum


async def _wait_cosigned(fed: Federation) -> None:
    for name in NODES:
        wanted = 0 if name == "delta" else 2
        others = [fed.witnesses[o] for o in COSIGNING if o != name]
        async with LogClient(fed.addresses[name]) as client:
            while True:
                try:
                    signed = open_checkpoint(await client.checkpoint(), fed.logs[name], others)
                except UnavailableError:
                    signed = None
                if signed is not None and len(signed.cosignatures) >= wanted:
                    break
                await trio.sleep(0.05)


@pytest.fixture(scope="package")
def federation(tmp_path_factory):
    root = tmp_path_factory.mktemp("federation")
    ports = {name: free_port() for name in NODES}
    for name in NODES:
        log = init_log(root / name, f"{name}.test/log")
        try:
            log.append(logged_by(name))
            log.publish()
        finally:
            log.close()
        init_witness_key(root / name, f"{name}.test/log/witness")
    logs = {name: vkey(root / name / "log.vkey") for name in NODES}
    witnesses = {name: vkey(root / name / "witness.vkey") for name in NODES}
    for name in NODES:
        peers = "".join(
            f'[[peers]]\nname = "{other}"\naddress = "127.0.0.1:{ports[other]}"\n'
            f'log_vkey = "{logs[other].vkey()}"\nwitness_vkey = "{witnesses[other].vkey()}"\n'
            for other in COSIGNING
            if other != name and name != "delta"
        )
        (root / f"{name}.toml").write_text(
            f'[node]\ndata_dir = "{name}"\nlisten = "127.0.0.1:{ports[name]}"\n'
            "[limits]\nstop_grace_seconds = 1\n[privacy]\nrate_limit = false\n"
            "[witness]\nretry_min_seconds = 0.1\nretry_max_seconds = 0.5\n" + peers
        )
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "pypi_witness.cli", "serve", "--config", str(root / f"{name}.toml")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name in NODES
    ]
    fed = Federation(root, {n: f"127.0.0.1:{p}" for n, p in ports.items()}, logs, witnesses, root / "policy.txt")
    fed.policy.write_text(fed.policy_text())
    try:
        trio.run(_with_timeout, fed)
        yield fed
    finally:
        for p in processes:
            p.terminate()
        for p in processes:
            p.wait(timeout=15)


async def _with_timeout(fed: Federation) -> None:
    with trio.fail_after(30):
        await _wait_cosigned(fed)
