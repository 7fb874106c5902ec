"""Benchmark what the store-safety checks cost: opening a log, signing through the gate, proving and looking up.

On a log of N records (generated with scripts/gen_records.py and imported with
``pypi-witness import``, not timed; or an existing data directory, ``--data``)
it reports, each as a median over runs with the page cache warm:

- ``check_data_file``: the data-file check every open runs before LMDB maps
  the file (store/lmdb_file.py: both meta pages and the free list);
- ``open_log`` read-only (the check, LMDB's open, a reader check) and for
  writing (also the signing gate's check of the store against ``log.signed``);
- ``publish`` at an unchanged size: the gate's checks with nothing to sign
  (what the node's writer does after each write job);
- per call, with wall and CPU time: ``leaf_and_proof`` (now with the check of
  the entry's pair against the stored hash) against the same work without it
  (check the size, read the leaf, build the proof), and ``lookup`` (now
  verifying each proof against the signed checkpoint) against the same without
  the verification.

Usage::

    python scripts/bench_open.py [--n 1000000] [--runs 20] [--calls 20000] [--dir DIR] [--keep]
    python scripts/bench_open.py --data EXISTING_DATA_DIR

Needs the package installed (``pip install -e .``).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_records import generate  # noqa: E402


def build(root: Path, n: int) -> Path:
    """A data directory with a log of ``n`` generated records (imported as a user would)."""
    source = root / "records.jsonl"
    with open(source, "w") as f:
        for row in generate(n, seed=7):
            f.write(json.dumps(row, separators=(",", ":")) + "\n")
    data = root / "node"
    cli = [sys.executable, "-m", "pypi_witness.cli"]
    subprocess.run([*cli, "init", "--data", str(data), "--origin", "bench.example/open"], check=True, capture_output=True)
    subprocess.run([*cli, "import", "--data", str(data), str(source)], check=True, capture_output=True)
    return data


def median_ms(step: Callable[[], object], runs: int) -> tuple[float, float]:
    """(median, max) milliseconds of ``runs`` calls of ``step``."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


def per_call_us(step: Callable[[int], object], calls: int) -> tuple[float, float]:
    """(wall, CPU) microseconds per call of ``step(i)`` over ``calls`` calls."""
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(calls):
        step(i)
    return (time.perf_counter() - wall) / calls * 1e6, (time.process_time() - cpu) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--data", type=Path, help="an existing data directory (nothing is generated)")
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    from pypi_witness.core.tlog import merkle
    from pypi_witness.core.records.format import parse_record
    from pypi_witness.signing.log import STORE_DIR, open_log
    from pypi_witness.store.lmdb_file import check_data_file

    root = Path(tempfile.mkdtemp(dir=args.dir, prefix="bench-open-"))
    try:
        data = args.data or build(root, args.n)
        file_bytes = (data / STORE_DIR / "data.mdb").stat().st_size
        out: dict[str, object] = {"data_mdb_bytes": file_bytes}
        out["check_data_file_ms"] = median_ms(lambda: check_data_file(data / STORE_DIR), args.runs)
        out["open_readonly_ms"] = median_ms(lambda: open_log(data, readonly=True).close(), args.runs)
        out["open_for_writing_ms"] = median_ms(lambda: open_log(data).close(), args.runs)
        log = open_log(data)
        try:
            out["publish_unchanged_ms"] = median_ms(log.publish, args.runs)
            signed = log.checkpoint()
            size = signed.checkpoint.size
            rng = random.Random(3)
            indexes = [rng.randrange(size) for _ in range(args.calls)]
            store = log.store

            def unchecked_proof(i: int) -> object:
                """What leaf_and_proof did before the pair check: the size check, the leaf, the proof."""
                index = indexes[i]
                if not 0 <= size <= store.size():
                    raise AssertionError("size past the log")
                return store.leaves(index, index + 1)[0], merkle.inclusion_proof(index, size, store)

            per_call_us(unchecked_proof, 2000)  # warm the tile cache and page cache
            out["proof_without_pair_check_us"] = per_call_us(unchecked_proof, args.calls)
            out["leaf_and_proof_us"] = per_call_us(lambda i: log.leaf_and_proof(indexes[i], size), args.calls)
            names = [parse_record(leaf).filename for leaf in (store.leaves(j, j + 1)[0] for j in indexes[:2000])]
            root_hash = signed.checkpoint.root_hash

            def unverified_lookup(i: int) -> object:
                found = [j for j, _ in store.lookup(names[i]) if j < size]
                return [log.inclusion_proof(j, size, root_hash) for j in found]

            out["lookup_without_verification_us"] = per_call_us(unverified_lookup, len(names))
            out["lookup_us"] = per_call_us(lambda i: log.lookup(names[i], signed), len(names))
        finally:
            log.close()
        print(json.dumps(out, indent=1))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
