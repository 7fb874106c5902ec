"""Check that a node keeps no client address: many clients, then a byte scan of everything it wrote.

1. Builds a log of the bundled sample in a scratch directory and starts a
   node process on it (``serve_main``, as ``pypi-witness serve`` runs it),
   logging at DEBUG to a captured standard error, with keys in a key
   directory outside the data directory and a rate limit low enough (5/s, burst 20) that
   some calls are refused.
2. Sends ``--requests`` calls from ``--addresses`` distinct client
   addresses in 127.0.0.0/8 (127.x.y.z with x, y, z drawn from a seeded
   generator, none 0). grpcio cannot bind a client socket to a chosen
   address, so each address gets a loopback TCP relay (``Relay``): a
   listener on 127.0.0.1 whose connections are forwarded to the node from a
   socket bound to that address. Calls are a mix: checkpoints, proofs,
   entries, lookups of known and unknown names, out-of-range proofs (logged
   at DEBUG with the client's tag), and calls with proxy metadata but a
   wrong token.
3. Stops the node (SIGTERM: the last access events are written), runs
   ``pypi-witness privacy report``, and scans every file under the data
   directory and the key directory, the node's standard error and the
   report for each address as dotted text, packed 4 bytes, IPv4-mapped IPv6
   text (``::ffff:a.b.c.d`` and ``::ffff:xxxx:xxxx``) and packed 16 bytes.
4. Prints the hits (there must be none), and checks that the node did tell
   the clients apart: the access events hold one identity per address.

Usage::

    python scripts/privacy_scan.py [--addresses 200] [--requests 10000] [--seed 1] [--dir DIR]

Exit 0 when nothing is found and every address was seen as its own client;
1 otherwise. Needs the package installed and Linux (all of 127.0.0.0/8 is
loopback there).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import grpc
import trio

NODE_CODE = """
import logging, sys
logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
from pypi_witness.runtime.serve import serve_main
sys.exit(serve_main(sys.argv[1]))
"""


def client_addresses(n: int, seed: int) -> list[str]:
    """``n`` distinct addresses 127.x.y.z, x, y, z in 1..254."""
    rng = random.Random(seed)
    out: set[str] = set()
    while len(out) < n:
        out.add(f"127.{rng.randint(1, 254)}.{rng.randint(1, 254)}.{rng.randint(1, 254)}")
    return sorted(out)


def address_forms(address: str) -> list[bytes]:
    """Every form of ``address`` to scan for: text and packed, IPv4 and IPv4-mapped IPv6."""
    v4 = ipaddress.IPv4Address(address)
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    hi, lo = mapped.packed[12:14].hex(), mapped.packed[14:16].hex()
    texts = {address, f"::ffff:{address}", mapped.exploded, f"::ffff:{int(hi, 16):x}:{int(lo, 16):x}"}
    return [t.encode() for t in sorted(texts)] + [v4.packed, mapped.packed]


def scan(blobs: dict[str, bytes], addresses: list[str]) -> list[tuple[str, str, bytes]]:
    """(where, address, form) for every form of every address found in ``blobs`` (name -> bytes)."""
    hits = []
    for address in addresses:
        for form in address_forms(address):
            for where, data in blobs.items():
                if form in data:
                    hits.append((where, address, form))
    return hits


def files_under(*roots: Path) -> dict[str, bytes]:
    """Every regular file below ``roots``, by path."""
    out = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                out[str(path)] = path.read_bytes()
    return out


class Relay:
    """A loopback TCP relay whose outgoing connections come from ``source`` (an address in 127/8)."""

    def __init__(self, source: str, target: tuple[str, int]) -> None:
        self.source = source
        self.target = target
        self.port = 0

    async def _pipe(self, reader: trio.SocketStream, writer: trio.SocketStream) -> None:
        try:
            while data := await reader.receive_some(65536):
                await writer.send_all(data)
            await writer.send_eof()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def _handle(self, inbound: trio.SocketStream) -> None:
        try:
            outbound = await trio.open_tcp_stream(*self.target, local_address=self.source)
        except OSError:
            await inbound.aclose()
            return
        async with inbound, outbound, trio.open_nursery() as nursery:
            nursery.start_soon(self._pipe, inbound, outbound)
            nursery.start_soon(self._pipe, outbound, inbound)

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started(self.port)
        await trio.serve_listeners(self._handle, listeners)


def write_config(root: Path, data: Path, keys: Path, rate: float, burst: float) -> Path:
    config = root / "node.toml"
    config.write_text(
        f'[node]\ndata_dir = "{data}"\nlisten = "127.0.0.1:0"\n'
        f'[privacy]\nkey_dir = "{keys}"\nflush_seconds = 0.5\nrate_per_second = {rate}\nrate_burst = {burst}\n'
    )
    return config


async def drive(node: str, addresses: list[str], requests: int, filenames: list[str], size: int) -> dict:
    """Send ``requests`` calls spread over ``addresses`` through relays; count outcomes."""
    from pypi_witness.core.errors import NotFoundError, OutOfRangeError, OverloadedError
    from pypi_witness.rpc.bridge import call_unary
    from pypi_witness.rpc.client import LogClient
    from pypi_witness.rpc.errors import error_from_status
    from pypi_witness.rpc.gen.v1 import log_pb2 as pb

    host, _, port = node.rpartition(":")
    outcomes: dict[str, int] = {}
    per_address = [requests // len(addresses) + (i < requests % len(addresses)) for i in range(len(addresses))]

    async def client(relay_port: int, count: int, rng: random.Random) -> None:
        async with LogClient(f"127.0.0.1:{relay_port}") as c:
            for i in range(count):
                kind = ("checkpoint", "proof", "entries", "lookup", "unknown", "range", "proxy")[i % 7]
                try:
                    if kind == "checkpoint":
                        await c.checkpoint()
                    elif kind == "proof":
                        await c.inclusion_proof(rng.randrange(size), size)
                    elif kind == "entries":
                        await c.entries(0, min(size, 3))
                    elif kind == "lookup":
                        await c.lookup(rng.choice(filenames))
                    elif kind == "unknown":
                        await c.lookup(f"nothing-{rng.randrange(10**6)}.whl")
                    elif kind == "range":
                        await c.inclusion_proof(size + 1, size)
                    else:
                        metadata = (("x-witness-proxy-token", "wrong"), ("x-witness-client", "someone"),
                                    ("x-witness-country", "DE"))  # fmt: skip
                        try:
                            await call_unary(c._methods["GetCheckpoint"], pb.GetCheckpointRequest(), metadata=metadata)
                        except grpc.RpcError as e:
                            raise error_from_status(e.code(), e.details(), e.trailing_metadata()) from None
                    outcomes["ok"] = outcomes.get("ok", 0) + 1
                except (NotFoundError, OutOfRangeError):
                    outcomes["expected error"] = outcomes.get("expected error", 0) + 1
                except OverloadedError:
                    outcomes["rate limited"] = outcomes.get("rate limited", 0) + 1

    relays = [Relay(a, (host, int(port))) for a in addresses]
    async with trio.open_nursery() as nursery:
        ports = [await nursery.start(r.serve) for r in relays]
        limiter = trio.CapacityLimiter(50)  # 50 clients at once: 200 channels do not fit 2 cores well

        async def run(i: int) -> None:
            async with limiter:
                await client(ports[i], per_address[i], random.Random(i))

        async with trio.open_nursery() as clients:
            for i in range(len(addresses)):
                clients.start_soon(run, i)
        nursery.cancel_scope.cancel()
    return outcomes


def run_scan(
    root: Path, n_addresses: int, requests: int, seed: int, *, rate: float = 5.0, burst: float = 20.0
) -> dict:
    """The whole check in ``root``; returns ``{"hits", "identities", "outcomes", "report", "addresses"}``."""
    from importlib import resources

    from pypi_witness.ingest.importer import import_jsonl
    from pypi_witness.signing.log import init_log

    data, keys = root / "data", root / "keys"
    sample = resources.files("pypi_witness") / "data" / "sample_records.jsonl"
    log = init_log(data, "scan.example/log")
    try:
        with sample.open("rb") as f:
            import_jsonl(log, f)
        size = log.store.size()
        filenames = [json.loads(line)["filename"] for line in sample.read_text().splitlines()]
    finally:
        log.close()
    config = write_config(root, data, keys, rate, burst)
    stderr_path = root / "node.stderr"
    with open(stderr_path, "wb") as stderr:
        node = subprocess.Popen(
            [sys.executable, "-c", NODE_CODE, str(config)], stdout=subprocess.PIPE, stderr=stderr, text=True,
            env={**os.environ, "GRPC_VERBOSITY": "ERROR"},
        )  # fmt: skip
        try:
            line = node.stdout.readline()
            if not line.startswith("serving "):
                raise RuntimeError(f"the node did not start: {line!r}; see {stderr_path}")
            address = line.rpartition(" on ")[2].strip()
            addresses = client_addresses(n_addresses, seed)
            outcomes = trio.run(drive, address, addresses, requests, filenames, size)
        finally:
            node.send_signal(signal.SIGTERM)
            node.wait(60)
    report = subprocess.run(
        [sys.executable, "-m", "pypi_witness.cli", "privacy", "report", "--data", str(data), "--json"],
        capture_output=True, check=True,
    )  # fmt: skip
    blobs = files_under(data, keys)
    blobs["node stderr"] = stderr_path.read_bytes()
    blobs["privacy report"] = report.stdout + report.stderr
    from pypi_witness.privacy.report import privacy_summary

    return {
        "hits": scan(blobs, addresses),
        "identities": privacy_summary(data)["identities"],
        "outcomes": outcomes,
        "report": json.loads(report.stdout),
        "addresses": addresses,
        "files": len(blobs),
        "bytes": sum(len(b) for b in blobs.values()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--addresses", type=int, default=200)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, help="scratch directory (default: a temporary one, removed)")
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="privacy-scan-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        result = run_scan(root, args.addresses, args.requests, args.seed)
    finally:
        if args.dir is None:
            shutil.rmtree(root)
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(result["outcomes"].items()))
    print(f"calls: {sum(result['outcomes'].values())} ({outcomes})")
    print(f"distinct addresses: {len(result['addresses'])}; identities in the access events: {result['identities']}")
    print(f"scanned {result['files']} files and streams, {result['bytes']:,} bytes, "
          f"{len(result['addresses']) * len(address_forms(result['addresses'][0]))} address forms")  # fmt: skip
    for where, address, form in result["hits"]:
        print(f"FOUND {address} as {form!r} in {where}")
    print(f"hits: {len(result['hits'])}")
    return 0 if not result["hits"] and result["identities"] == len(result["addresses"]) else 1


if __name__ == "__main__":
    sys.exit(main())
