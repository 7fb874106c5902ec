"""Benchmark the node's HTTP face beside its gRPC API, in one run against one node process.

1. A log of ``--n`` generated records (``scripts/gen_records.py``, seed 7,
   then ``pypi-witness init`` and ``pypi-witness import``, as
   ``scripts/bench_rpc.py`` builds it; reused from ``--dir`` when present).
2. ``pypi-witness serve`` on it, gRPC and ``[http]`` on 127.0.0.1, with
   2 x ``--callers`` logs as ``[[peers]]`` (log key only: the node cosigns
   them) and the per-client rate limit off (one client process stands in
   for many clients).
3. Phases of ``--seconds`` each, in rounds, from this process (the client):

   * ``http-add-checkpoint``: ``--callers`` keep-alive connections, one per
     log, each posting its log's next checkpoint (a pre-built chain of sizes
     1, 2, 3 ... with the consistency proof from the size before) as soon as
     the last one is answered. Every request moves the witness's durable
     state forward: a signature check, a proof, an LMDB compare-and-swap
     (fsync, group-committed) and a cosignature, as in real use.
   * ``grpc-add-checkpoint``: the same over gRPC's AddCheckpoint, for the
     other ``--callers`` logs (``scripts/bench_witness.py``'s callers).
   * ``http-tiles``: ``--callers`` keep-alive connections GETting random
     full tiles (level 0 and 1: 8,192 bytes each) of the log; the first pass
     over the tiles warms the node's tile cache, as a busy log's would be.
   * ``grpc-proofs``: ``--callers`` gRPC calls in flight of
     GetInclusionProof of a random index at the log's size (the gRPC read
     API's unit of work).

   The HTTP client is a selector loop over non-blocking sockets (a few µs
   of client CPU per request). For each phase it prints requests per second
   (wall) and per CPU second of the node process (/proc), p50/p99 latency,
   and any error (there should be none; a sample of cosignatures is
   verified as the log would).
4. ``pypi-witness tiles export`` of the whole log into an empty directory
   (a child process): wall and CPU seconds, files written.

Usage::

    python scripts/bench_http.py [--n 1000000] [--seconds 5] [--rounds 2] [--callers 32] [--dir DIR]

Needs the package installed (``pip install -e .``) and Linux (/proc).
"""

from __future__ import annotations

import argparse
import random
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rpc import build_log  # noqa: E402
from bench_witness import Bench, Caller, build_chain, commit_latency, cpu_seconds  # noqa: E402

from pypi_witness.core.tlog.tiles import TILE_WIDTH, Tile  # noqa: E402
from pypi_witness.core.tlog.witness import open_cosignature  # noqa: E402
from pypi_witness.core.tlog.witness_wire import format_add_checkpoint  # noqa: E402
from pypi_witness.rpc.gen.v1 import log_pb2, witness_pb2  # noqa: E402

WITNESS_SERVICE = witness_pb2.DESCRIPTOR.services_by_name["WitnessService"].full_name
LOG_SERVICE = log_pb2.DESCRIPTOR.services_by_name["LogService"].full_name


# --- the HTTP client ----------------------------------------------------------------------


class Connection:
    """One keep-alive connection sending the requests ``next_request()`` gives, one at a time."""

    def __init__(self, address: tuple[str, int], next_request, on_answer) -> None:
        self.address = address
        self.sock = self._connect()
        self.next_request, self.on_answer = next_request, on_answer
        self.pending = b""
        self.buffer = b""
        self.started = 0.0
        self.tag = None
        self.until = float("inf")

    def send(self) -> bool:
        if time.perf_counter() >= self.until:
            return False  # the phase is over: no new request, the connection is done
        request = self.next_request(self)
        if request is None:
            return False
        self.started = time.perf_counter()
        self.pending = request
        self.sock.sendall(request)  # small requests: the kernel takes them whole
        return True

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self.address)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        return sock

    def readable(self, selector: selectors.BaseSelector) -> bool:
        """Read what arrived; answer a complete response. False when the connection is done."""
        data = self.sock.recv(1 << 18)
        if not data:
            # Hypercorn closes a keep-alive connection after 1,000 requests: connect again, ask again.
            selector.unregister(self.sock)
            self.sock.close()
            self.sock, self.buffer = self._connect(), b""
            selector.register(self.sock, selectors.EVENT_READ, self)
            self.sock.setblocking(True)
            self.sock.sendall(self.pending)
            self.sock.setblocking(False)
            return True
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return True
            head = self.buffer[:head_end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            if len(self.buffer) < head_end + 4 + length:
                return True
            status = int(head[9:12])
            body = self.buffer[head_end + 4 : head_end + 4 + length]
            self.buffer = self.buffer[head_end + 4 + length :]
            self.on_answer(self, status, body, time.perf_counter() - self.started)
            if not self.send():
                return False


def run_http(connections: list[Connection], until: float) -> None:
    """Drive ``connections`` until ``until`` (perf_counter), then until every request sent is answered."""
    selector = selectors.DefaultSelector()
    for c in connections:
        c.until = until
        if c.send():
            selector.register(c.sock, selectors.EVENT_READ, c)
    while selector.get_map() and time.perf_counter() < until + 60:
        for key, _ in selector.select(timeout=0.1):
            if not key.data.readable(selector):
                selector.unregister(key.data.sock)
    selector.close()


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors: list[str] = []

    def summary(self, name: str, seconds: float, node_cpu: float) -> dict:
        n = len(self.latencies)
        lat = sorted(self.latencies)
        return {
            "phase": name,
            "requests": n,
            "per_s": n / seconds,
            "per_node_cpu_s": n / node_cpu if node_cpu else 0.0,
            "p50_ms": lat[n // 2] * 1000 if n else 0.0,
            "p99_ms": lat[int(n * 0.99)] * 1000 if n else 0.0,
            "errors": len(self.errors),
            "first_errors": self.errors[:3],
        }


# --- phases ---------------------------------------------------------------------------------


def http_add_checkpoint(host: tuple[str, int], chains, state: list[int], seconds: float, witness) -> Tally:
    """Each connection posts its log's next checkpoint; ``state[i]`` is log i's next size."""
    tally = Tally()
    checked = [0]

    def next_request(c: Connection) -> bytes | None:
        i = c.tag
        n = state[i]
        if n > len(chains[i][1]):
            return None
        state[i] = n + 1
        c.size = n
        old, proof, note = chains[i][1][n - 1]
        body = format_add_checkpoint(old, proof, note)
        return (
            b"POST /add-checkpoint HTTP/1.1\r\nHost: bench\r\nContent-Type: text/plain\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )

    def on_answer(c: Connection, status: int, body: bytes, latency: float) -> None:
        if status != 200:
            tally.errors.append(f"{status}: {body[:100]!r}")
            state[c.tag] = len(chains[c.tag][1]) + 1  # a chain cannot go on past a refused step
            return
        tally.latencies.append(latency)
        if c.size % 97 == 0:
            signer, steps = chains[c.tag]
            open_cosignature(steps[c.size - 1][2], body, signer.verifier(), witness)
            checked[0] += 1

    connections = []
    for i in range(len(chains)):
        c = Connection(host, next_request, on_answer)
        c.tag = i
        connections.append(c)
    run_http(connections, time.perf_counter() + seconds)
    for c in connections:
        c.sock.close()
    tally.checked = checked[0]  # type: ignore[attr-defined]
    return tally


def http_tiles(host: tuple[str, int], size: int, callers: int, seconds: float) -> Tally:
    tally = Tally()
    full = [Tile(0, i, TILE_WIDTH) for i in range(size // TILE_WIDTH)]
    full += [Tile(1, i, TILE_WIDTH) for i in range(size // TILE_WIDTH**2)]
    rng = random.Random(7)
    requests = {t: b"GET /%s HTTP/1.1\r\nHost: bench\r\n\r\n" % t.path().encode() for t in full}

    def next_request(c: Connection) -> bytes:
        return requests[full[rng.randrange(len(full))]]

    def on_answer(c: Connection, status: int, body: bytes, latency: float) -> None:
        if status != 200 or len(body) != TILE_WIDTH * 32:
            tally.errors.append(f"{status}: {body[:100]!r}")
        else:
            tally.latencies.append(latency)

    connections = [Connection(host, next_request, on_answer) for _ in range(callers)]
    run_http(connections, time.perf_counter() + seconds)
    for c in connections:
        c.sock.close()
    return tally


def warm_tiles(host: tuple[str, int], size: int) -> float:
    """GET every full tile once (filling the node's tile cache); returns the seconds it took."""
    full = [Tile(0, i, TILE_WIDTH) for i in range(size // TILE_WIDTH)]
    full += [Tile(1, i, TILE_WIDTH) for i in range(size // TILE_WIDTH**2)]
    pending = iter(full)
    t0 = time.perf_counter()

    def next_request(c: Connection) -> bytes | None:
        tile = next(pending, None)
        return None if tile is None else b"GET /%s HTTP/1.1\r\nHost: bench\r\n\r\n" % tile.path().encode()

    connections = [Connection(host, next_request, lambda *a: None) for _ in range(8)]
    run_http(connections, time.perf_counter() + 600)
    for c in connections:
        c.sock.close()
    return time.perf_counter() - t0


def grpc_add_checkpoint(channel: grpc.Channel, chains, callers_state: list, seconds: float) -> Tally:
    call = channel.unary_unary(f"/{WITNESS_SERVICE}/AddCheckpoint")
    now = time.perf_counter()
    bench = Bench((now, now + seconds), len(chains))
    callers = callers_state or [Caller(call, requests, bench) for _, requests in chains]
    for c in callers:
        c.bench, c.call = bench, call
    callers_state[:] = callers
    for c in callers:
        c.start()
    time.sleep(seconds)
    bench.stopping = True
    bench.all_done.wait(30)
    tally = Tally()
    tally.latencies, tally.errors = bench.latencies, bench.errors
    return tally


def grpc_proofs(channel: grpc.Channel, size: int, callers: int, seconds: float) -> Tally:
    call = channel.unary_unary(
        f"/{LOG_SERVICE}/GetInclusionProof", request_serializer=lambda m: m.SerializeToString()
    )
    tally = Tally()
    rng = random.Random(11)
    end = time.perf_counter() + seconds
    done = __import__("threading").Event()
    running = [callers]
    lock = __import__("threading").Lock()

    def start() -> None:
        if time.perf_counter() >= end:
            with lock:
                running[0] -= 1
                if running[0] == 0:
                    done.set()
            return
        t0 = time.perf_counter()
        future = call.future(log_pb2.GetInclusionProofRequest(index=rng.randrange(size), size=size), timeout=30)

        def finished(f) -> None:
            try:
                f.result()
                tally.latencies.append(time.perf_counter() - t0)
            except grpc.RpcError as e:
                tally.errors.append(f"{e.code().name}: {e.details()}")
            start()

        future.add_done_callback(finished)

    for _ in range(callers):
        start()
    done.wait(seconds + 30)
    return tally


# --- the node ----------------------------------------------------------------------------


def start_node(base: Path, data: Path, logs) -> tuple[subprocess.Popen, str, tuple[str, int]]:
    # The chains start at size 1: the witness must not remember an earlier run's sizes.
    shutil.rmtree(data / "witness", ignore_errors=True)
    peers = "".join(f'[[peers]]\nname = "log{i}"\nlog_vkey = "{v.vkey()}"\n' for i, v in enumerate(logs))
    http_port = _free_port()
    config = base / "node.toml"
    config.write_text(
        f'[node]\ndata_dir = "{data}"\nlisten = "127.0.0.1:0"\n'
        f'[http]\nlisten = "127.0.0.1:{http_port}"\n'
        "[privacy]\nrate_limit = false\n" + peers
    )
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
    return node, line.strip().rpartition(" on ")[2], ("127.0.0.1", http_port)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def export(data: Path, out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pypi_witness.cli", "tiles", "export", "--data", str(data), "--out", str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    files = sum(1 for p in out.rglob("*") if p.is_file())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "files": files}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="records in the log (default 1,000,000)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per phase")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the four phases")
    parser.add_argument("--callers", type=int, default=32, help="connections or calls in flight per phase")
    parser.add_argument("--chain", type=int, default=4000, help="checkpoints per log for the add-checkpoint phases")
    parser.add_argument("--dir", type=Path, help="where to keep the log between runs (default: a temporary directory)")
    parser.add_argument("--skip-export", action="store_true")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="bench_http-", dir=args.dir))
    data = (args.dir or base) / f"log-{args.n}"
    build_log(data, args.n)
    t = time.perf_counter()
    chains_http = [build_chain(i, args.chain) for i in range(args.callers)]
    chains_grpc = [build_chain(1000 + i, args.chain) for i in range(args.callers)]
    http_chains = []
    for signer, requests in chains_http:
        steps = []
        for raw in requests:
            r = witness_pb2.AddCheckpointRequest.FromString(raw)
            steps.append((r.old_size, list(r.proof), r.checkpoint))
        http_chains.append((signer, steps))
    print(f"built {2 * args.callers} chains of {args.chain} checkpoints in {time.perf_counter() - t:.0f} s")
    print(f"a durable LMDB commit in {base}: {commit_latency(base) * 1000:.2f} ms")
    logs = [s.verifier() for s, _ in chains_http] + [s.verifier() for s, _ in chains_grpc]
    node, address, host = start_node(base, data, logs)
    witness_vkey = (data / "witness.vkey").read_text().strip()
    from pypi_witness.core.tlog.note import Verifier

    witness = Verifier.from_vkey(witness_vkey)
    channel = grpc.insecure_channel(address)
    results: list[dict] = []
    try:
        grpc.channel_ready_future(channel).result(timeout=10)
        print(f"warmed the tile cache: every full tile once in {warm_tiles(host, args.n):.1f} s")
        http_state = [1] * args.callers
        grpc_state: list = []
        phases = [
            ("http-add-checkpoint", lambda: http_add_checkpoint(host, http_chains, http_state, args.seconds, witness)),
            ("grpc-add-checkpoint", lambda: grpc_add_checkpoint(channel, chains_grpc, grpc_state, args.seconds)),
            ("http-tiles", lambda: http_tiles(host, args.n, args.callers, args.seconds)),
            ("grpc-proofs", lambda: grpc_proofs(channel, args.n, args.callers, args.seconds)),
        ]
        for round_ in range(args.rounds):
            for name, run in phases:
                node0, t0 = cpu_seconds(node.pid), time.perf_counter()
                tally = run()
                wall, node_cpu = time.perf_counter() - t0, cpu_seconds(node.pid) - node0
                summary = tally.summary(name, wall, node_cpu)
                summary["round"] = round_ + 1
                results.append(summary)
                print(
                    f"round {round_ + 1} {name:20s} {summary['per_s']:8,.0f} /s wall  "
                    f"{summary['per_node_cpu_s']:8,.0f} /node CPU s  p50 {summary['p50_ms']:.1f} ms  "
                    f"p99 {summary['p99_ms']:.1f} ms  errors {summary['errors']} {summary['first_errors']}"
                )
    finally:
        channel.close()
        node.send_signal(signal.SIGTERM)
        node.wait(30)
    if not args.skip_export:
        result = export(data, base / "static")
        print(
            f"tiles export of {args.n:,} entries: {result['wall_s']:.1f} s wall, {result['cpu_s']:.1f} s CPU, "
            f"{result['files']:,} files"
        )
    if args.dir is None:
        shutil.rmtree(base, ignore_errors=True)
    else:
        shutil.rmtree(base / "static", ignore_errors=True)
    return 1 if any(r["errors"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
