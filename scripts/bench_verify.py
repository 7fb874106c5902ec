"""Benchmark ``pypi-witness verify``: a hashed requirements file against 3 nodes, end to end.

Creates three logs of N generated records each (the same records), starts
three ``pypi-witness serve`` processes on loopback that cosign each other's
checkpoints, writes a policy needing 2 of their 3 witnesses, and a
requirements file of LINES lines (``name @ URL --hash=sha256:...``, files
picked from the log; with ``--pinned``, ``name==version --hash=sha256:...``
lines, which each node answers with the release's files). It then runs ``pypi-witness verify --policy ... --node
... x3 requirements.txt`` as a child process RUNS times and prints the wall
time from process start to exit (min, median, max). The bar is 2 s.

    python scripts/bench_verify.py --records 100000 --lines 200 --runs 5
"""

from __future__ import annotations

import argparse
import hashlib
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint
from pypi_witness.core.tlog.note import Verifier
from pypi_witness.core.records.format import FileRecord
from pypi_witness.core.errors import UnavailableError
from pypi_witness.signing.log import init_log
from pypi_witness.rpc.client import LogClient
from pypi_witness.signing.witness import init_witness_key

NAMES = ("alpha", "beta", "gamma")


def records(n: int) -> list[FileRecord]:
    out = []
    for i in range(n):
        seed = str(i).encode()
        out.append(FileRecord(
            project=f"project-{i % 5000}", version=f"1.{i}", filename=f"project_{i % 5000}-1.{i}-py3-none-any.whl",
            sha256=hashlib.sha256(seed).hexdigest(), blake2b_256=hashlib.blake2b(seed, digest_size=32).hexdigest(),
            size=1000 + i, upload_time="2024-01-02T03:04:05.000006Z", serial=i,
        ))  # fmt: skip
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_cosigned(addresses: dict[str, str], logs: dict[str, Verifier], witnesses: dict[str, Verifier]) -> None:
    with trio.fail_after(120):
        for name in NAMES:
            others = [witnesses[o] for o in NAMES if o != name]
            async with LogClient(addresses[name]) as client:
                while True:
                    try:
                        signed = open_checkpoint(await client.checkpoint(), logs[name], others)
                        if len(signed.cosignatures) == len(others):
                            break
                    except UnavailableError:
                        pass
                    await trio.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="records in each log")
    parser.add_argument("--lines", type=int, default=200, help="lines of the requirements file")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pinned", action="store_true", help="name==version lines (release lookups) instead of URLs")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-verify-"))
    logged = records(args.records)
    ports = {n: free_port() for n in NAMES}
    for name in NAMES:
        log = init_log(root / name, f"{name}.bench/log")
        for start in range(0, len(logged), 50_000):
            log.append(logged[start : start + 50_000])
        log.publish()
        log.close()
        init_witness_key(root / name, f"{name}.bench/log/witness")
    logs = {n: Verifier.from_vkey((root / n / "log.vkey").read_text().strip()) for n in NAMES}
    witnesses = {n: Verifier.from_vkey((root / n / "witness.vkey").read_text().strip()) for n in NAMES}
    for name in NAMES:
        peers = "".join(
            f'[[peers]]\nname = "{o}"\naddress = "127.0.0.1:{ports[o]}"\n'
            f'log_vkey = "{logs[o].vkey()}"\nwitness_vkey = "{witnesses[o].vkey()}"\n'
            for o in NAMES
            if o != name
        )
        (root / f"{name}.toml").write_text(
            f'[node]\ndata_dir = "{name}"\nlisten = "127.0.0.1:{ports[name]}"\n[privacy]\nrate_limit = false\n'
            "[witness]\nretry_min_seconds = 0.1\n" + peers
        )
    policy = root / "policy.txt"
    policy.write_text(
        "".join(f"log {logs[n].vkey()}\n" for n in NAMES)
        + "".join(f"witness {n} {witnesses[n].vkey()}\n" for n in NAMES)
        + "group g 2 alpha beta gamma\nquorum g\n"
    )
    chosen = random.Random(7).sample(logged, args.lines)
    requirements = root / "requirements.txt"
    requirements.write_text(
        "".join(f"{r.project}=={r.version} \\\n    --hash=sha256:{r.sha256}\n" for r in chosen)
        if args.pinned
        else "".join(f"{r.project} @ https://files.example/{r.filename} \\\n    --hash=sha256:{r.sha256}\n" for r in chosen)
    )
    addresses = {n: f"127.0.0.1:{p}" for n, p in ports.items()}
    cli = [sys.executable, "-m", "pypi_witness.cli"]
    nodes = [
        subprocess.Popen([*cli, "serve", "--config", str(root / f"{n}.toml")], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
        for n in NAMES
    ]  # fmt: skip
    try:
        trio.run(wait_cosigned, addresses, logs, witnesses)
        command = [*cli, "verify", "--policy", str(policy)]
        for n in NAMES:
            command += ["--node", addresses[n]]
        command.append(str(requirements))
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True)
            times.append(time.perf_counter() - start)
            if done.returncode != 0:
                sys.exit(f"verify exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        summary = done.stdout.splitlines()[-1]
        print(f"{summary}; {len(NAMES)} nodes of {args.records:,} records each")
        print(f"verify end to end: min {min(times):.2f} s, median {statistics.median(times):.2f} s, "
              f"max {max(times):.2f} s over {args.runs} runs (bar: 2 s)")  # fmt: skip
    finally:
        for p in nodes:
            p.terminate()
        for p in nodes:
            p.wait(timeout=15)


if __name__ == "__main__":
    main()
