"""Benchmark the log: import speed, disk per record, proof speed and peak memory.

Generates N realistic BigQuery-shaped records (scripts/gen_records.py, not
timed), then runs ``pypi-witness init`` and ``pypi-witness import`` as child
processes exactly as a user would (durable commits, one checkpoint at the end)
and reports:

- import records/s, end to end (process start to exit),
- bytes on disk per record (allocated blocks of the LMDB files / N),
- peak RSS of the import process, and its peaks of anonymous memory (the
  process's own) and of file-backed pages (LMDB's map of the database file:
  page cache the kernel can reclaim), sampled from /proc every 20 ms,
- inclusion proofs (read the leaf, build the proof from the store, verify)
  per second at size N, after a second of warm-up,
- consistency proofs (build + verify, random old size) per second,
- peak RSS of the proving process.

Usage::

    python scripts/bench_log.py [--n 1000000] [--seconds 5] [--dir DIR] [--keep]
    python scripts/bench_log.py --n 1000000 --import-runs 3 [--source FILE]

``--import-runs K`` only imports, K times into fresh logs, and prints each run
and the median and range of records/s and of the memory peaks; ``--source``
imports an existing file instead of generating one. To compare two versions
of the code, run it under each (``PYTHONPATH=OTHER/src``) in turn.

Needs the package installed (``pip install -e .``). Uses a temporary
directory under DIR (default: the system's) and removes it unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_records import generate  # noqa: E402


def _status_kb(pid: int) -> dict[str, int]:
    try:
        with open(f"/proc/{pid}/status") as f:
            return {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in f) if v.strip().endswith("kB")}
    except (OSError, ValueError):
        return {}


def run_child(argv: list[str]) -> tuple[float, dict[str, float], str]:
    """Run a child process; return (wall seconds, peak memory in MiB, stdout).

    Peaks: ``rss`` (VmHWM, the kernel's own peak), and ``anon`` and ``file``
    (RssAnon and RssFile, sampled every 20 ms).
    """
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peaks = {"rss": 0.0, "anon": 0.0, "file": 0.0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            status = _status_kb(proc.pid)
            if status:
                peaks["rss"] = max(peaks["rss"], status.get("VmHWM", 0) / 1024)
                peaks["anon"] = max(peaks["anon"], status.get("RssAnon", 0) / 1024)
                peaks["file"] = max(peaks["file"], status.get("RssFile", 0) / 1024)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    elapsed = time.perf_counter() - start
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed: {err.decode()}")
    return elapsed, peaks, out.decode()


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file())


def prove(data: Path, seconds: float) -> dict:
    """Build and verify proofs against the log in ``data`` for ``seconds`` each.

    A second of proofs first warms the store's tile cache and the page cache,
    as on a serving node. Rates are reported per wall-clock second and per
    CPU second (the latter is steadier on a shared machine).
    """
    from pypi_witness.core.tlog import merkle
    from pypi_witness.signing.log import open_log

    log = open_log(data, readonly=True)
    size = log.checkpoint().checkpoint.size
    root = merkle.tree_root(size, log.store)
    rng = random.Random(1)

    def inclusion() -> None:
        index = rng.randrange(size)
        leaf = log.store.leaves(index, index + 1)[0]
        proof = merkle.inclusion_proof(index, size, log.store)
        merkle.verify_inclusion(merkle.leaf_hash(leaf), index, size, proof, root)

    def consistency() -> None:
        old = rng.randrange(1, size)
        proof = merkle.consistency_proof(old, size, log.store)
        merkle.verify_consistency(old, size, merkle.tree_root(old, log.store), root, proof)

    def rate(step, duration: float) -> tuple[float, float]:
        count, wall, cpu = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - wall < duration:
            for _ in range(100):
                step()
            count += 100
        return count / (time.perf_counter() - wall), count / (time.process_time() - cpu)

    rate(inclusion, 1.0)
    out = {}
    out["inclusion_per_s"], out["inclusion_per_cpu_s"] = rate(inclusion, seconds)
    out["consistency_per_s"], out["consistency_per_cpu_s"] = rate(consistency, seconds)
    log.close()
    return out


def import_runs(source: Path, scratch: Path, runs: int, n: int) -> None:
    """Import ``source`` ``runs`` times into fresh logs; print each run, then median and range."""
    exe = [sys.executable, "-m", "pypi_witness.cli"]
    rows = []
    for run in range(runs):
        data = scratch / f"node{run}"
        run_child([*exe, "init", "--data", str(data), "--origin", "bench.example/log"])
        os.sync()
        seconds, mem, out = run_child([*exe, "import", "--data", str(data), "--json", str(source)])
        appended = json.loads(out)["appended"]
        if appended != n:
            sys.exit(f"imported {appended} of {n} records")
        row = {"records_per_s": round(n / seconds), "peak_rss_mib": round(mem["rss"], 1),
               "peak_anon_mib": round(mem["anon"], 1), "peak_file_mib": round(mem["file"], 1),
               "disk_bytes_per_record": round(disk_bytes(data / "log") / n, 1)}
        print(json.dumps(row), flush=True)
        rows.append(row)
        shutil.rmtree(data, ignore_errors=True)
    for key in rows[0]:
        values = [r[key] for r in rows]
        print(f"{key:24} median {round(statistics.median(values), 1)}  range {min(values)} - {max(values)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="records to import (default 1,000,000)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per proof measurement")
    parser.add_argument("--dir", type=Path, default=None, help="parent of the scratch directory")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--import-runs", type=int, default=0, help="only import, this many times (see above)")
    parser.add_argument("--source", type=Path, help="with --import-runs: import this file, not generated records")
    parser.add_argument("--prove-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prove_only:
        print(json.dumps(prove(args.prove_only, args.seconds)))
        return 0

    scratch = Path(tempfile.mkdtemp(prefix="bench-log-", dir=args.dir))
    try:
        source = scratch / "records.jsonl"
        if args.import_runs and args.source:
            import_runs(args.source, scratch, args.import_runs, args.n)
            return 0
        t0 = time.perf_counter()
        with open(source, "w") as f:
            for row in generate(args.n, seed=7):
                f.write(json.dumps(row, separators=(",", ":")) + "\n")
        gen_s = time.perf_counter() - t0
        os.sync()  # write the source out now, not while the import is measured
        if args.import_runs:
            import_runs(source, scratch, args.import_runs, args.n)
            return 0
        data = scratch / "node"
        exe = [sys.executable, "-m", "pypi_witness.cli"]
        run_child([*exe, "init", "--data", str(data), "--origin", "bench.example/log"])
        seconds, import_mem, out = run_child([*exe, "import", "--data", str(data), "--json", str(source)])
        result = json.loads(out)
        if result["appended"] != args.n:
            sys.exit(f"imported {result['appended']} of {args.n} records")
        disk = disk_bytes(data / "log")
        _, prove_mem, proof_out = run_child(
            [sys.executable, __file__, "--prove-only", str(data), "--seconds", str(args.seconds)]
        )
        proofs = json.loads(proof_out)
        report = {
            "records": args.n,
            "source_bytes": source.stat().st_size,
            "generate_s": round(gen_s, 1),
            "import_s": round(seconds, 2),
            "import_records_per_s": round(args.n / seconds),
            "disk_bytes_per_record": round(disk / args.n, 1),
            "import_peak_rss_mib": round(import_mem["rss"], 1),
            "import_peak_anon_mib": round(import_mem["anon"], 1),
            "import_peak_file_mib": round(import_mem["file"], 1),
            "inclusion_proofs_per_s": round(proofs["inclusion_per_s"]),
            "inclusion_proofs_per_cpu_s": round(proofs["inclusion_per_cpu_s"]),
            "consistency_proofs_per_s": round(proofs["consistency_per_s"]),
            "consistency_proofs_per_cpu_s": round(proofs["consistency_per_cpu_s"]),
            "prove_peak_rss_mib": round(prove_mem["rss"], 1),
            "prove_peak_anon_mib": round(prove_mem["anon"], 1),
            "prove_peak_file_mib": round(prove_mem["file"], 1),
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
        }
        for key, value in report.items():
            print(f"{key:28} {value}")
    finally:
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
