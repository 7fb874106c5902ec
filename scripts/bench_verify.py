"""Benchmark ``pypi-witness verify``: a hashed lock file against 1 to 3 nodes, end to end.

Creates NODES logs of N generated records each (the same records; with
``--files-per-release K`` every release has K files, as a wheel matrix does),
starts ``pypi-witness serve`` processes on loopback that cosign each other's
checkpoints (with one node: trusted by ``--vkey`` alone), writes a policy
needing 2 of 3 witnesses (3 nodes), and a lock file of LINES entries drawn at
random from the log:

* ``--format url``: ``name @ URL --hash=sha256:...`` requirement lines;
* ``--format pinned``: ``name==version`` lines listing the sha256 of every
  file of the release (as ``pip-compile --generate-hashes`` writes), which
  each node answers with the release's files;
* ``--format pylock``: a ``pylock.toml`` with every file of each release.

It then runs ``pypi-witness verify`` as a child process RUNS times and prints
the wall time from process start to exit (min, median, max), the CPU seconds
of the verify process and of the nodes during each run, and the rates: pins
per wall second and per CPU second (client and nodes together). ``--data DIR``
keeps the logs (and reuses them when they hold N records), so a large log is
built once:

    python scripts/bench_verify.py --records 100000 --lines 200 --runs 5
    python scripts/bench_verify.py --records 20000000 --files-per-release 4 --nodes 1 \\
        --lines 10000 --format pinned --runs 3 --data /tmp/bench-20m
"""

from __future__ import annotations

import argparse
import hashlib
import random
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import trio

from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint
from pypi_witness.core.tlog.note import Verifier
from pypi_witness.core.records.format import FileRecord
from pypi_witness.core.errors import UnavailableError
from pypi_witness.signing.log import init_log, open_log
from pypi_witness.rpc.client import LogClient
from pypi_witness.signing.witness import init_witness_key

ALL_NAMES = ("alpha", "beta", "gamma")
PROJECTS = 50_000
CHUNK = 100_000


def record_at(i: int, per_release: int) -> FileRecord:
    """The i-th generated record: release i // per_release, its (i % per_release)-th file."""
    release, j = divmod(i, per_release)
    project = release % PROJECTS
    seed = str(i).encode()
    tag = "py3-none-any" if per_release == 1 else f"cp3{j}-cp3{j}-manylinux_2_17_x86_64"
    return FileRecord(
        project=f"project-{project}", version=f"1.{release}", filename=f"project_{project}-1.{release}-{tag}.whl",
        sha256=hashlib.sha256(seed).hexdigest(), blake2b_256=hashlib.blake2b(seed, digest_size=32).hexdigest(),
        size=1000 + i, upload_time="2024-01-02T03:04:05.000006Z", serial=i,
    )  # fmt: skip


def chunks(n: int, per_release: int) -> Iterator[list[FileRecord]]:
    for start in range(0, n, CHUNK):
        yield [record_at(i, per_release) for i in range(start, min(n, start + CHUNK))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_log(directory: Path, origin: str, n: int, per_release: int) -> None:
    """A log of the first ``n`` generated records at ``directory``, reused if it already holds them."""
    if (directory / "log.vkey").exists():
        log = open_log(directory)
        try:
            if log.store.size() == n:
                return
        finally:
            log.close()
        sys.exit(f"{directory} holds another log: remove it or choose another --data")
    log = init_log(directory, origin)
    started = time.perf_counter()
    try:
        for chunk in chunks(n, per_release):
            log.append(chunk)
            done = chunk[-1].serial + 1
            print(f"\r{directory.name}: {done:,} of {n:,} records ({time.perf_counter() - started:.0f} s)",
                  end="", file=sys.stderr, flush=True)  # fmt: skip
        log.publish()
    finally:
        log.close()
    print(file=sys.stderr)


async def wait_cosigned(names, addresses, logs, witnesses) -> None:
    with trio.fail_after(600):
        for name in names:
            others = [witnesses[o] for o in names if o != name]
            async with LogClient(addresses[name]) as client:
                while True:
                    try:
                        signed = open_checkpoint(await client.checkpoint(), logs[name], others)
                        if len(signed.cosignatures) == len(others):
                            break
                    except UnavailableError:
                        pass
                    await trio.sleep(0.1)


def lock_file(root: Path, fmt: str, chosen: list[int], per_release: int) -> tuple[Path, int]:
    """The target to verify, and its pins: one per chosen record (``url``) or per chosen release."""
    if fmt == "url":
        lines = []
        for i in chosen:
            r = record_at(i, per_release)
            lines.append(f"{r.project} @ https://files.example/{r.filename} \\\n    --hash=sha256:{r.sha256}\n")
        (root / "requirements.txt").write_text("".join(lines))
        return root / "requirements.txt", len(lines)
    releases = sorted({i // per_release for i in chosen})
    if fmt == "pinned":
        lines = []
        for release in releases:
            files = [record_at(release * per_release + j, per_release) for j in range(per_release)]
            hashes = "".join(f" \\\n    --hash=sha256:{f.sha256}" for f in files)
            lines.append(f"{files[0].project}=={files[0].version}{hashes}\n")
        (root / "requirements.txt").write_text("".join(lines))
        return root / "requirements.txt", len(lines)
    packages = []
    for release in releases:
        files = [record_at(release * per_release + j, per_release) for j in range(per_release)]
        wheels = ",\n".join(
            f'  {{ url = "https://files.example/{f.filename}", size = {f.size}, hashes = {{ sha256 = "{f.sha256}" }} }}'
            for f in files
        )
        packages.append(f'[[packages]]\nname = "{files[0].project}"\nversion = "{files[0].version}"\n'
                        f"wheels = [\n{wheels},\n]\n")  # fmt: skip
    (root / "pylock.toml").write_text('lock-version = "1.0"\ncreated-by = "bench"\n\n' + "\n".join(packages))
    return root / "pylock.toml", len(packages)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0  # utime, stime in clock ticks (USER_HZ = 100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="records in each log")
    parser.add_argument("--lines", type=int, default=200, help="records drawn at random for the lock file (a pin "
                        "each; with --format pinned or pylock, a pin per distinct release of them)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--nodes", type=int, choices=(1, 2, 3), default=3)
    parser.add_argument("--files-per-release", type=int, default=1, help="files of each generated release")
    parser.add_argument("--format", choices=("url", "pinned", "pylock"), default="url")
    parser.add_argument("--pinned", action="store_true", help="the same as --format pinned")
    parser.add_argument("--timeout", type=float, default=600.0, help="verify --timeout (seconds per call)")
    parser.add_argument("--data", type=Path, help="keep (and reuse) the logs here")
    args = parser.parse_args()
    fmt = "pinned" if args.pinned else args.format
    per_release = args.files_per_release
    names = ALL_NAMES[: args.nodes]
    root = args.data or Path(tempfile.mkdtemp(prefix="bench-verify-"))
    root.mkdir(parents=True, exist_ok=True)
    ports = {n: free_port() for n in names}
    for name in names:
        build_log(root / name, f"{name}.bench/log", args.records, per_release)
        if not (root / name / "witness.key").exists():
            init_witness_key(root / name, f"{name}.bench/log/witness")
    logs = {n: Verifier.from_vkey((root / n / "log.vkey").read_text().strip()) for n in names}
    witnesses = {n: Verifier.from_vkey((root / n / "witness.vkey").read_text().strip()) for n in names}
    for name in names:
        peers = "".join(
            f'[[peers]]\nname = "{o}"\naddress = "127.0.0.1:{ports[o]}"\n'
            f'log_vkey = "{logs[o].vkey()}"\nwitness_vkey = "{witnesses[o].vkey()}"\n'
            for o in names
            if o != name
        )
        (root / f"{name}.toml").write_text(
            f'[node]\ndata_dir = "{name}"\nlisten = "127.0.0.1:{ports[name]}"\n[privacy]\nrate_limit = false\n'
            "[witness]\nretry_min_seconds = 0.1\n" + peers
        )
    chosen = random.Random(7).sample(range(args.records), args.lines)
    target, pins = lock_file(root, fmt, chosen, per_release)
    addresses = {n: f"127.0.0.1:{p}" for n, p in ports.items()}
    cli = [sys.executable, "-m", "pypi_witness.cli"]
    nodes = [
        subprocess.Popen([*cli, "serve", "--config", str(root / f"{n}.toml")], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
        for n in names
    ]  # fmt: skip
    try:
        trio.run(wait_cosigned, names, addresses, logs, witnesses)
        if len(names) > 1:
            policy = root / "policy.txt"
            policy.write_text(
                "".join(f"log {logs[n].vkey()}\n" for n in names)
                + "".join(f"witness {n} {witnesses[n].vkey()}\n" for n in names)
                + f"group g 2 {' '.join(names)}\nquorum g\n"
            )
            command = [*cli, "verify", "--policy", str(policy)]
        else:
            command = [*cli, "verify", "--vkey", logs[names[0]].vkey()]
        for n in names:
            command += ["--node", addresses[n]]
        command += ["--timeout", str(args.timeout), str(target)]
        times, client_cpu, node_cpu = [], [], []
        for _ in range(args.runs):
            before_nodes = sum(cpu_seconds(p.pid) for p in nodes)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True)
            times.append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            client_cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            node_cpu.append(sum(cpu_seconds(p.pid) for p in nodes) - before_nodes)
            if done.returncode != 0:
                sys.exit(f"verify exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        entries = done.stdout.splitlines()[-1]
        median = statistics.median(times)
        cpu = statistics.median(c + n for c, n in zip(client_cpu, node_cpu))
        print(f"{target.name} ({fmt}, {pins:,} pins, {target.stat().st_size:,} bytes): {entries}; "
              f"{len(names)} node(s) of {args.records:,} records each, {per_release} file(s) per release")  # fmt: skip
        print(f"verify end to end: min {min(times):.2f} s, median {median:.2f} s, max {max(times):.2f} s "
              f"over {args.runs} runs")  # fmt: skip
        print(f"CPU per run (median): verify {statistics.median(client_cpu):.2f} s, nodes "
              f"{statistics.median(node_cpu):.2f} s")  # fmt: skip
        print(f"rates: {pins / median:,.0f} pins/s wall, {pins / cpu:,.0f} pins per CPU second")
    finally:
        for p in nodes:
            p.terminate()
        for p in nodes:
            p.wait(timeout=60)


if __name__ == "__main__":
    main()
