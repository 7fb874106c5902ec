"""Catch-up speed of the index follower: file records per second, and peak memory.

Starts the fake warehouse index (``pypi_witness.fakeindex``) in its own process,
populated with about ``--files`` files, then runs ``pypi-witness follow --once``
in another process against it over loopback HTTP into a fresh log, and reports
the records appended per second of wall time and the follower's peak RSS
(``wait4``). No request-rate limit and no audit: this measures the follower,
not the politeness settings.

    python scripts/bench_follow.py --files 50000 --dir /tmp/bench-follow
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

FILES_PER_PROJECT = 13  # what fakeindex.populate generates on average


def start_index(files: int, seed: int) -> tuple[subprocess.Popen, str, str]:
    code = (
        "import sys; from pypi_witness.fakeindex.run import serve_fake_index; "
        f"sys.exit(serve_fake_index(host='127.0.0.1', port=0, state_dir=None, populate={max(files // FILES_PER_PROJECT, 1)}, seed={seed}))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if "serving" not in line:
        proc.kill()
        raise SystemExit(f"the fake index did not start: {line!r}")
    return proc, line.split()[3], line.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bench-follow"))
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch-rows", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    shutil.rmtree(args.dir, ignore_errors=True)
    args.dir.mkdir(parents=True)
    data = args.dir / "node"
    cli = [sys.executable, "-m", "pypi_witness.cli"]
    subprocess.run([*cli, "init", "--data", str(data), "--origin", "bench.example/follow"], check=True, capture_output=True)
    config = args.dir / "follow.toml"
    config.write_text(
        f"[index]\nrequests_per_second = 0\naudit_releases = 0\nconcurrency = {args.concurrency}\n"
        f"batch_rows = {args.batch_rows}\n"
    )
    index, url, banner = start_index(args.files, args.seed)
    try:
        print(banner)
        start = time.perf_counter()
        proc = subprocess.Popen(
            [*cli, "follow", "--once", "--json", "--data", str(data), "--index", url, "--config", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"follow failed: {err.decode()[-2000:]}")
        report = json.loads(out)
    finally:
        index.terminate()
        index.wait()
    records = report["records"]
    print(f"records appended:  {records:,} (serial {report['serial']:,}, {report['requests']:,} requests)")
    print(f"wall time:         {elapsed:.2f} s (process start included)")
    print(f"records/s:         {records / elapsed:,.0f}")
    print(f"follower peak RSS: {usage.ru_maxrss / 1024:.0f} MB")
    print(f"alarms:            {report['alarms'] or 'none'}")


if __name__ == "__main__":
    main()
