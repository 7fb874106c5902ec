"""Benchmark the node's gRPC API: inclusion proofs against the empty-call ceiling, and node memory.

For each log size (default 1,000 and 1,000,000 leaves) this script

1. builds a log as a user would: ``python scripts/gen_records.py N --seed 7``
   into a file, then ``pypi-witness init`` and ``pypi-witness import`` (about
   40 s for 1 M; logs already in ``--dir`` are reused);
2. starts a node process on it (``serve_main``, as ``pypi-witness serve``
   runs it) on 127.0.0.1, port 0;
3. runs the clients in a separate process: ``--concurrency`` (32) trio tasks,
   each calling in a loop, for ``--seconds`` per phase, after a warm-up, in
   the phases empty, proof, empty, proof. *empty* is the standard health
   ``Check`` (served by grpcio's health servicer, no work): the ceiling of
   this machine's gRPC. *proof* is ``GetInclusionProof`` of a random index at
   the log's size (the node reads the leaf and builds the proof from LMDB);
4. samples the node's memory from /proc every 50 ms (VmRSS, RssAnon,
   RssFile; VmHWM is the kernel's peak RSS, which counts LMDB's file mapping),
   and the CPU time per call of the node and of the client process.

Before starting the node it reads the store's file once, so that the page
cache holds it as it would on a serving node (``--cold`` skips this).

It prints, per size, calls/s, p50 and p99 latency per phase (the two runs of
a phase pooled), the ratio proof/empty, and the node's peak memory.

``--placement`` chooses where the node runs GetInclusionProof's work, to
measure the alternatives the servicer's placement table (rpc/log_service.py)
was chosen from: ``worker`` (the node as shipped: in the gRPC worker thread),
``trio`` (a hop into a trio handler that does the work in the trio thread)
or ``trio-thread`` (a trio handler that runs it in a trio worker thread).
The alternatives are patched into the node process by this script only.

``--compare-rate-limit ROUNDS`` measures instead what the privacy gate's
rate limit costs: it starts three nodes on the same log, *nogate* (no
privacy gate at all, patched into the node process by this script),
*gate* (the gate without a rate limit: ``rate_limit = false``) and *limit*
(the node as shipped, with limits too high to refuse anything), and runs
``GetInclusionProof`` phases against them interleaved (ROUNDS rounds of
one phase each, the order rotating every round, in one client process); it
prints the median calls/s and node CPU per call of each, and the rate
limit's cost, ``1 - limit / gate``.

Usage::

    python scripts/bench_rpc.py [--sizes 1000,1000000] [--seconds 5] [--concurrency 32]
                                [--workers N] [--placement worker] [--cold] [--dir DIR] [--keep]
                                [--compare-rate-limit ROUNDS]

Needs the package installed (``pip install -e .``) and Linux (/proc).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORIGIN = "bench.example/log"


# --- building logs ---------------------------------------------------------------------


def build_log(data: Path, n: int) -> None:
    """A log of ``n`` generated records in ``data`` (kept if it already holds one)."""
    if (data / "log").is_dir():
        print(f"reusing the log in {data}", file=sys.stderr)
        return
    records = data.parent / f"records-{n}.jsonl"
    t0 = time.perf_counter()
    with open(records, "wb") as f:
        generator = [sys.executable, str(ROOT / "scripts" / "gen_records.py"), str(n), "--seed", "7"]
        subprocess.run(generator, stdout=f, check=True)
    cli = [sys.executable, "-m", "pypi_witness.cli"]
    subprocess.run([*cli, "init", "--data", str(data), "--origin", ORIGIN], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([*cli, "import", "--data", str(data), str(records)], check=True, stdout=subprocess.DEVNULL)
    records.unlink()
    print(f"built a log of {n:,} leaves in {time.perf_counter() - t0:.0f} s", file=sys.stderr)


# --- the node process ---------------------------------------------------------------------


def node_main(config: Path, placement: str) -> int:
    """Run ``serve_main`` with GetInclusionProof's work placed as ``placement`` (or ``nogate``)."""
    import trio

    from pypi_witness.rpc import log_service
    from pypi_witness.rpc.gen.v1 import log_pb2 as pb
    from pypi_witness.runtime.serve import serve_main

    if placement == "nogate":
        from pypi_witness.runtime import node

        serve_grpc = node.serve_grpc

        async def without_gate(config, log, health_servicer, privacy=None, **kwargs):
            return await serve_grpc(config, log, health_servicer, None, **kwargs)

        node.serve_grpc = without_gate
    elif placement != "worker":
        shipped = log_service.LogServicer._direct

        def patched(self, method, request_type, work):
            if method != "GetInclusionProof":
                return shipped(self, method, request_type, work)

            async def in_trio(request):
                if placement == "trio":
                    return work(request)
                return await trio.to_thread.run_sync(work, request)

            in_trio.__name__ = work.__name__
            return self._in_trio(method, pb.GetInclusionProofRequest, in_trio)

        log_service.LogServicer._direct = patched
    return serve_main(config)


def memory(pid: int) -> dict[str, int]:
    """VmRSS, RssAnon, RssFile and VmHWM of ``pid``, in bytes."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


class MemorySampler(threading.Thread):
    """Keeps the peak of each memory figure of a process, sampled every 50 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak: dict[str, int] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                for key, value in memory(self.pid).items():
                    self.peak[key] = max(self.peak.get(key, 0), value)
            except OSError:
                return
            self.stop.wait(0.05)


# --- the client process ---------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def client_main(address: str, node_pid: int, size: int, seconds: float, concurrency: int, warmup: float) -> int:
    """Run the phases against ``address``; print one JSON object of results."""
    import grpc
    import trio
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from pypi_witness.rpc.bridge import call_unary
    from pypi_witness.rpc.client import LogClient

    async def phase(client: LogClient, health, kind: str, duration: float) -> list[float]:
        latencies: list[float] = []
        end = trio.current_time() + duration
        rng = random.Random(kind)
        check = health_pb2.HealthCheckRequest(service="")

        async def worker() -> None:
            while trio.current_time() < end:
                t0 = time.perf_counter()
                if kind == "proof":
                    answer = await client.inclusion_proof(rng.randrange(size), size)
                    assert answer.size == size
                else:
                    await call_unary(health.Check, check)
                latencies.append(time.perf_counter() - t0)

        async with trio.open_nursery() as nursery:
            for _ in range(concurrency):
                nursery.start_soon(worker)
        return latencies

    async def main() -> dict:
        results: dict[str, dict] = {}
        async with LogClient(address) as client:
            channel = grpc.insecure_channel(address)
            health = health_pb2_grpc.HealthStub(channel)
            await phase(client, health, "empty", warmup)
            await phase(client, health, "proof", warmup)
            pooled: dict[str, list[float]] = {"empty": [], "proof": []}
            cpu = {"empty": [0.0, 0.0], "proof": [0.0, 0.0]}  # node, client
            for kind in ("empty", "proof", "empty", "proof"):
                node0, client0 = cpu_seconds(node_pid), time.process_time()
                pooled[kind].extend(await phase(client, health, kind, seconds))
                cpu[kind][0] += cpu_seconds(node_pid) - node0
                cpu[kind][1] += time.process_time() - client0
            channel.close()
        for kind, latencies in pooled.items():
            latencies.sort()
            results[kind] = {
                "calls_per_s": len(latencies) / (2 * seconds),
                "p50_ms": latencies[len(latencies) // 2] * 1000,
                "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
                "node_cpu_us": cpu[kind][0] / len(latencies) * 1e6,
                "client_cpu_us": cpu[kind][1] / len(latencies) * 1e6,
            }
        return results

    print(json.dumps(trio.run(main)))
    return 0


def compare_client(nodes: dict[str, list], size: int, seconds: float, concurrency: int, rounds: int) -> int:
    """Proof phases against each node in ``nodes`` (name -> [address, pid]), interleaved.

    Prints JSON: per node, calls/s and the node's CPU µs per call of every round.
    """
    import trio

    from pypi_witness.rpc.client import LogClient

    async def phase(client: LogClient, duration: float, seed: int) -> int:
        calls = 0
        end = trio.current_time() + duration
        rng = random.Random(seed)

        async def worker() -> None:
            nonlocal calls
            while trio.current_time() < end:
                await client.inclusion_proof(rng.randrange(size), size)
                calls += 1

        async with trio.open_nursery() as nursery:
            for _ in range(concurrency):
                nursery.start_soon(worker)
        return calls

    async def main() -> dict[str, dict[str, list[float]]]:
        out: dict[str, dict[str, list[float]]] = {name: {"rate": [], "cpu_us": []} for name in nodes}
        clients = {name: LogClient(address) for name, (address, _) in nodes.items()}
        for client in clients.values():
            await phase(client, 1.0, 0)  # warm-up
        names = list(clients)
        for r in range(rounds):
            # Each node goes first, second and third in turn: no node always follows the same one.
            for name in names[r % len(names) :] + names[: r % len(names)]:
                client = clients[name]
                cpu0 = cpu_seconds(nodes[name][1])
                calls = await phase(client, seconds, r)
                out[name]["rate"].append(calls / seconds)
                out[name]["cpu_us"].append((cpu_seconds(nodes[name][1]) - cpu0) / calls * 1e6)
        for client in clients.values():
            await client.aclose()
        return out

    print(json.dumps(trio.run(main)))
    return 0


def start_node(config: Path, placement: str) -> tuple[subprocess.Popen, str]:
    node = subprocess.Popen(
        [sys.executable, __file__, "node", str(config), "--placement", placement],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    line = node.stdout.readline()
    if not line.startswith("serving "):
        node.kill()
        sys.exit(f"the node did not start: {line!r}")
    return node, line.rpartition(" on ")[2].strip()


def compare_rate_limit(data: Path, n: int, args: argparse.Namespace) -> dict:
    """Median proofs/s of the nogate, gate and limit nodes (see the module docstring)."""
    if not args.cold:
        warm_page_cache(data)
    base = (
        f'[node]\ndata_dir = "{data}"\nlisten = "127.0.0.1:0"\n'
        f"[limits]\ngrpc_workers = {args.workers}\nmax_concurrent_rpcs = {max(128, 4 * args.concurrency)}\n"
    )
    variants = {
        "nogate": ("rate_limit = false", "nogate"),
        "gate": ("rate_limit = false", "worker"),
        "limit": ("rate_per_second = 1e9\nrate_burst = 1e9", "worker"),
    }
    nodes, addresses = [], {}
    try:
        for name, (privacy, placement) in variants.items():
            config = data.parent / f"node-{n}-{name}.toml"
            config.write_text(base + f"[privacy]\n{privacy}\n")
            node, address = start_node(config, placement)
            nodes.append(node)
            addresses[name] = [address, node.pid]
        client = subprocess.run(
            [sys.executable, __file__, "compare", json.dumps(addresses), "--size", str(n),
             "--seconds", str(args.seconds), "--concurrency", str(args.concurrency),
             "--rounds", str(args.compare_rate_limit)],
            capture_output=True, text=True,
        )  # fmt: skip
        if client.returncode != 0:
            sys.exit(f"the client failed: {client.stderr}")
        return json.loads(client.stdout)
    finally:
        for node in nodes:
            node.send_signal(signal.SIGTERM)
            node.wait(30)


def report_comparison(n: int, results: dict[str, dict[str, list[float]]]) -> None:
    rate = {name: statistics.median(r["rate"]) for name, r in results.items()}
    cpu = {name: statistics.median(r["cpu_us"]) for name, r in results.items()}
    rounds = len(results["gate"]["rate"])
    print(f"\n== {n:,} leaves: GetInclusionProof, {rounds} interleaved rounds, order rotating")
    for name, r in results.items():
        print(
            f"{name:8s} median {rate[name]:7.0f} calls/s, node CPU {cpu[name]:5.0f} µs/call"
            f"   runs {' '.join(f'{v:.0f}' for v in r['rate'])}"
        )
    paired = statistics.median(a / b for a, b in zip(results["limit"]["rate"], results["gate"]["rate"], strict=True))
    print(f"rate limit cost, medians (1 - limit/gate):             {1 - rate['limit'] / rate['gate']:+.1%}")
    print(f"rate limit cost, median of per-round ratios:           {1 - paired:+.1%}")
    print(f"rate limit cost in node CPU per call (limit/gate - 1): {cpu['limit'] / cpu['gate'] - 1:+.1%}")
    print(f"whole gate cost, medians (1 - limit/nogate):           {1 - rate['limit'] / rate['nogate']:+.1%}")
    print(f"whole gate cost in node CPU per call:                  {cpu['limit'] / cpu['nogate'] - 1:+.1%}")


# --- the driver ---------------------------------------------------------------------------


def warm_page_cache(data: Path) -> None:
    """Read the store's file once, so proofs measure the node, not the disk.

    A serving node's store is in the page cache; a freshly built or idle one
    may not be (this VM's kernel reclaims idle page cache eagerly), and then
    every proof of a random leaf waits for a disk read.
    """
    with open(data / "log" / "data.mdb", "rb") as f:
        while f.read(1 << 20):
            pass


def bench_size(data: Path, n: int, args: argparse.Namespace) -> dict:
    if not args.cold:
        warm_page_cache(data)
    config = data.parent / f"node-{n}.toml"
    config.write_text(
        f'[node]\ndata_dir = "{data}"\nlisten = "127.0.0.1:0"\n'
        f"[limits]\ngrpc_workers = {args.workers}\nmax_concurrent_rpcs = {max(128, 4 * args.concurrency)}\n"
    )
    node = subprocess.Popen(
        [sys.executable, __file__, "node", str(config), "--placement", args.placement],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = node.stdout.readline()
        if not line.startswith("serving "):
            sys.exit(f"the node did not start: {line!r}")
        address = line.rpartition(" on ")[2].strip()
        idle = memory(node.pid)
        sampler = MemorySampler(node.pid)
        sampler.start()
        client = subprocess.run(
            [sys.executable, __file__, "client", address, "--node-pid", str(node.pid), "--size", str(n),
             "--seconds", str(args.seconds),
             "--concurrency", str(args.concurrency), "--warmup", str(args.warmup)],
            capture_output=True, text=True,
        )  # fmt: skip
        if client.returncode != 0:
            sys.exit(f"the client failed: {client.stderr}")
        sampler.stop.set()
        sampler.join()
        results = json.loads(client.stdout)
        results["memory"] = {"idle": idle, "peak": sampler.peak, "end": memory(node.pid)}
        return results
    finally:
        node.send_signal(signal.SIGTERM)
        node.wait(30)


def mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def report(n: int, r: dict) -> None:
    empty, proof = r["empty"], r["proof"]
    peak = r["memory"]["peak"]
    print(f"\n== {n:,} leaves")
    for kind, v in (("empty (health Check)", empty), ("GetInclusionProof", proof)):
        print(
            f"{kind:22s} {v['calls_per_s']:8.0f} calls/s   p50 {v['p50_ms']:6.2f} ms   p99 {v['p99_ms']:6.2f} ms"
            f"   CPU per call: node {v['node_cpu_us']:4.0f} µs, client {v['client_cpu_us']:4.0f} µs"
        )
    print(f"proof / empty          {proof['calls_per_s'] / empty['calls_per_s']:8.0%}")
    print(
        f"node memory, peak:     VmHWM {mb(peak.get('VmHWM', 0))}, VmRSS {mb(peak.get('VmRSS', 0))}, "
        f"RssAnon {mb(peak.get('RssAnon', 0))}, RssFile {mb(peak.get('RssFile', 0))}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="role")
    p = sub.add_parser("node", help=argparse.SUPPRESS)
    p.add_argument("config", type=Path)
    p.add_argument("--placement", default="worker")  # or trio, trio-thread, nogate
    p = sub.add_parser("compare", help=argparse.SUPPRESS)
    p.add_argument("addresses")
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--concurrency", type=int, required=True)
    p.add_argument("--rounds", type=int, required=True)
    p = sub.add_parser("client", help=argparse.SUPPRESS)
    p.add_argument("address")
    p.add_argument("--node-pid", type=int, required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--concurrency", type=int, required=True)
    p.add_argument("--warmup", type=float, required=True)
    parser.add_argument("--sizes", default="1000,1000000", help="log sizes, comma-separated")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per measured phase")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per kind of call")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent client tasks")
    parser.add_argument("--workers", type=int, help="the node's limits.grpc_workers (default: the config default)")
    parser.add_argument("--placement", choices=("worker", "trio", "trio-thread"), default="worker")
    parser.add_argument("--cold", action="store_true", help="do not read the store into the page cache first")
    parser.add_argument("--dir", type=Path, help="where logs are built and kept (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--compare-rate-limit", type=int, metavar="ROUNDS", help="measure the rate limit's cost")
    args = parser.parse_args()
    if args.role == "node":
        return node_main(args.config, args.placement)
    if args.role == "compare":
        addresses = json.loads(args.addresses)
        return compare_client(addresses, args.size, args.seconds, args.concurrency, args.rounds)
    if args.role == "client":
        return client_main(args.address, args.node_pid, args.size, args.seconds, args.concurrency, args.warmup)

    if args.workers is None:
        from pypi_witness.config.node import LimitsConfig

        args.workers = LimitsConfig().grpc_workers
    sizes = [int(s) for s in args.sizes.split(",")]
    scratch = args.dir or Path(tempfile.mkdtemp(prefix="bench-rpc-"))
    scratch.mkdir(parents=True, exist_ok=True)
    print(
        f"cpus {os.cpu_count()}, concurrency {args.concurrency}, grpc_workers {args.workers}, "
        f"placement {args.placement}, {args.seconds:g} s per phase",
    )
    try:
        results = {}
        for n in sizes:
            data = scratch / f"log-{n}"
            build_log(data, n)
            if args.compare_rate_limit:
                report_comparison(n, compare_rate_limit(data, n, args))
                continue
            results[n] = bench_size(data, n, args)
            report(n, results[n])
        if len(sizes) > 1 and not args.compare_rate_limit:
            small, large = results[sizes[0]]["memory"]["peak"], results[sizes[-1]]["memory"]["peak"]
            print(
                f"\nnode peak memory growth {sizes[0]:,} -> {sizes[-1]:,} leaves: "
                f"VmHWM {mb(large['VmHWM'] - small['VmHWM'])}, RssAnon {mb(large['RssAnon'] - small['RssAnon'])}"
            )
    finally:
        if args.dir is None and not args.keep:
            shutil.rmtree(scratch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
