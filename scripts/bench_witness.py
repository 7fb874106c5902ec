"""Benchmark the witness: AddCheckpoint calls per second over gRPC, from 32 concurrent callers.

1. ``pypi-witness init`` makes a node; its config lists ``--callers`` (32)
   logs as ``[[peers]]`` with only a ``log_vkey`` (the node cosigns them and
   pushes to none of them), and the node runs as ``pypi-witness serve
   --config`` in its own process.
2. This process (the client) builds, per log, a chain of signed checkpoints
   of sizes 1, 2, ..., ``--chain`` with the consistency proof from each size
   to the next (RFC 9162, over an in-memory tree), so every call is a new,
   valid checkpoint that moves the witness's state forward: each call costs
   the node a signature check, a consistency proof, a durable LMDB
   compare-and-swap (an fsync) and a cosignature, as real use does.
3. One caller per log keeps exactly one call in flight (grpc futures, the
   next call started from the previous one's done-callback), so 32 calls are
   outstanding at all times; after ``--warmup`` seconds it counts completed
   calls for ``--seconds``. Any status other than OK is counted as an error
   (there should be none), and a sample of the answers is verified as the
   log would (``core.tlog.witness.open_cosignature``).

It prints how long one durable LMDB commit takes on the node's disk (each
batch of swaps waits for one: group commit), calls/s, p50/p99 latency, the
node's and the client's CPU seconds per call, and the errors.

Usage::

    python scripts/bench_witness.py [--seconds 5] [--warmup 1] [--callers 32] [--chain 700]
                                    [--workers N] [--dir DIR]

Needs the package installed (``pip install -e .``) and Linux (/proc).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc

from pypi_witness.core.tlog import merkle
from pypi_witness.core.tlog.checkpoint import Checkpoint, sign_checkpoint
from pypi_witness.core.tlog.note import Signer, Verifier
from pypi_witness.core.tlog.witness import open_cosignature
from pypi_witness.rpc.gen.v1 import witness_pb2 as pb

SERVICE = pb.DESCRIPTOR.services_by_name["WitnessService"].full_name

ORIGIN = "bench.example/witness-node"


def build_chain(index: int, length: int) -> tuple[Signer, list[bytes]]:
    """A log's key and its serialized requests: old size n-1 -> checkpoint of size n, for n = 1..length."""
    signer = Signer.from_seed(f"bench.example/log{index}", hashlib.sha256(b"log%d" % index).digest())
    tree = merkle.MemoryHashes()
    requests: list[bytes] = []
    for n in range(1, length + 1):
        tree.append(hashlib.sha256(b"%d/%d" % (index, n)).digest())
        note = sign_checkpoint(Checkpoint(signer.name, n, tree.root()), signer)
        old = n - 1
        proof = merkle.consistency_proof(old, n, tree) if old else []
        requests.append(pb.AddCheckpointRequest(old_size=old, proof=proof, checkpoint=note).SerializeToString())
    return signer, requests


def commit_latency(directory: Path, commits: int = 50) -> float:
    """Seconds per durable LMDB commit (sync=True) in ``directory``: this disk's fsync cost now."""
    import lmdb

    path = Path(tempfile.mkdtemp(prefix="commit-", dir=directory))
    env = lmdb.open(str(path), map_size=1 << 24, sync=True, metasync=True)
    try:
        started = time.perf_counter()
        for i in range(commits):
            with env.begin(write=True) as txn:
                txn.put(b"k", b"%d" % i)
        return (time.perf_counter() - started) / commits
    finally:
        env.close()
        shutil.rmtree(path, ignore_errors=True)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Caller:
    """One log's chain, one call in flight at a time, each started from the last one's callback."""

    def __init__(self, call: grpc.UnaryUnaryMultiCallable, requests: list[bytes], bench: Bench) -> None:
        self.call, self.requests, self.bench = call, requests, bench
        self.next = 0
        self.answers: list[tuple[int, bytes]] = []

    def start(self) -> None:
        if self.next >= len(self.requests) or self.bench.stopping:
            self.bench.caller_done()
            return
        n = self.next
        self.next += 1
        started = time.perf_counter()
        future = self.call.future(self.requests[n], timeout=30)
        future.add_done_callback(lambda f: self.finished(f, n, started))

    def finished(self, future: grpc.Future, n: int, started: float) -> None:
        ended = time.perf_counter()
        try:
            response = future.result()
        except grpc.RpcError as e:
            self.bench.error(f"{e.code().name}: {e.details()}")
            self.bench.caller_done()  # a chain cannot go on past a refused step
            return
        if n % 97 == 0:
            self.answers.append((n, pb.AddCheckpointResponse.FromString(response).cosignatures))
        self.bench.record(started, ended)
        self.start()


class Bench:
    def __init__(self, window: tuple[float, float], callers: int) -> None:
        self.window = window
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.stopping = False
        self.running = callers
        self.all_done = threading.Event()
        self.ran_out = 0

    def record(self, started: float, ended: float) -> None:
        if self.window[0] <= ended < self.window[1]:
            with self.lock:
                self.latencies.append(ended - started)

    def error(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)

    def caller_done(self) -> None:
        with self.lock:
            self.running -= 1
            if not self.stopping:
                self.ran_out += 1
            if self.running == 0:
                self.all_done.set()


def start_node(base: Path, logs: list[Verifier], workers: int | None) -> tuple[subprocess.Popen, str]:
    data = base / "node"
    subprocess.run(
        [sys.executable, "-m", "pypi_witness.cli", "init", "--data", str(data), "--origin", ORIGIN],
        check=True,
        capture_output=True,
    )
    peers = "".join(f'[[peers]]\nname = "log{i}"\nlog_vkey = "{v.vkey()}"\n' for i, v in enumerate(logs))
    limits = f"[limits]\ngrpc_workers = {workers}\n" if workers else ""
    config = base / "node.toml"
    # One client process stands in for 32 peers from one address: measure the
    # witness, not the per-client rate limit every call passes first.
    privacy = "[privacy]\nrate_limit = false\n"
    config.write_text(f'[node]\ndata_dir = "node"\nlisten = "127.0.0.1:0"\n{limits}{privacy}' + peers)
    node = subprocess.Popen(
        [sys.executable, "-m", "pypi_witness.cli", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = node.stdout.readline()
    if not line.startswith("serving "):
        node.kill()
        raise SystemExit(f"the node did not start: {line!r}")
    return node, line.strip().rpartition(" on ")[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--callers", type=int, default=32)
    parser.add_argument("--chain", type=int, default=700, help="checkpoints per log (calls per caller at most)")
    parser.add_argument("--workers", type=int, help="the node's limits.grpc_workers (default: the node's default)")
    parser.add_argument("--dir", type=Path, help="where to put the node (default: a temporary directory)")
    args = parser.parse_args()

    t = time.perf_counter()
    chains = [build_chain(i, args.chain) for i in range(args.callers)]
    print(f"built {args.callers} chains of {args.chain} checkpoints in {time.perf_counter() - t:.1f} s")
    base = Path(tempfile.mkdtemp(prefix="bench_witness-", dir=args.dir))
    print(f"a durable LMDB commit in {base}: {commit_latency(base) * 1000:.2f} ms")
    node, address = start_node(base, [s.verifier() for s, _ in chains], args.workers)
    witness = Verifier.from_vkey((base / "node" / "witness.vkey").read_text().strip())
    channel = grpc.insecure_channel(address)
    try:
        grpc.channel_ready_future(channel).result(timeout=10)
        # Requests are serialized in advance and answers parsed only when sampled: bytes in, bytes out.
        call = channel.unary_unary(f"/{SERVICE}/AddCheckpoint")
        begin = time.perf_counter() + 0.05
        window = (begin + args.warmup, begin + args.warmup + args.seconds)
        bench = Bench(window, args.callers)
        callers = [Caller(call, requests, bench) for _, requests in chains]
        node_cpu, client_cpu = None, None
        time.sleep(max(0.0, begin - time.perf_counter()))
        for c in callers:
            c.start()
        time.sleep(max(0.0, window[0] - time.perf_counter()))
        node_cpu, client_cpu = cpu_seconds(node.pid), cpu_seconds(os.getpid())
        time.sleep(max(0.0, window[1] - time.perf_counter()))
        node_cpu, client_cpu = cpu_seconds(node.pid) - node_cpu, cpu_seconds(os.getpid()) - client_cpu
        bench.stopping = True
        bench.all_done.wait(30)
        checked = 0
        for (signer, requests), c in zip(chains, callers):
            for n, lines in c.answers:
                note = pb.AddCheckpointRequest.FromString(requests[n]).checkpoint
                open_cosignature(note, lines, signer.verifier(), witness)
                checked += 1
    finally:
        channel.close()
        node.send_signal(signal.SIGTERM)
        node.wait(30)
        if args.dir is None:
            shutil.rmtree(base, ignore_errors=True)
    latencies = sorted(bench.latencies)
    calls = len(latencies)
    if not calls:
        print("no call completed in the window", bench.errors[:3])
        return 1
    print(
        f"AddCheckpoint: {calls / args.seconds:,.0f} calls/s with {args.callers} callers "
        f"(p50 {latencies[calls // 2] * 1000:.1f} ms, p99 {latencies[int(calls * 0.99)] * 1000:.1f} ms); "
        f"node CPU {node_cpu / calls * 1e6:.0f} µs/call, client CPU {client_cpu / calls * 1e6:.0f} µs/call"
    )
    print(f"errors: {len(bench.errors)} {bench.errors[:3]}; callers that ran out of chain: {bench.ran_out}; "
          f"cosignatures verified: {checked}")  # fmt: skip
    return 1 if bench.errors or bench.ran_out else 0


if __name__ == "__main__":
    sys.exit(main())
