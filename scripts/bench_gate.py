"""Measure the privacy gate's own cost per call, in process, without gRPC or the network.

Calls the gate's wrapped handler (``PrivacyGate.intercept_service`` then the
wrapped behaviour, whose inner handler does nothing) from ``--threads``
threads, as gRPC's worker threads would, for one client address: *gate* is
the gate without a rate limit (identify + count access events), *limit*
adds the rate limit (limits too high to refuse). The two alternate for
``--rounds`` rounds; it prints the median µs per call of each and their
difference, the rate limit's cost per call. Far less noisy than
``bench_rpc.py --compare-rate-limit`` on a busy machine, which measures the
same thing end to end.

Usage::

    python scripts/bench_gate.py [--threads 4] [--calls 20000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import grpc

from pypi_witness.privacy.events import EventCounter
from pypi_witness.rpc.privacy_gate import PrivacyGate
from pypi_witness.privacy.identity import ClientIdentifier
from pypi_witness.privacy.period_keys import PeriodKeys
from pypi_witness.privacy.rate_limit import RateLimiter, TokenBuckets

METHOD = "/pypi_witness.v1.LogService/GetInclusionProof"


class Context:
    def peer(self) -> str:
        return "ipv4:127.0.0.1:5555"

    def invocation_metadata(self) -> tuple:
        return ()


class Details(grpc.HandlerCallDetails):
    method = METHOD
    invocation_metadata = ()


def gate(limit: bool) -> PrivacyGate:
    limiter = RateLimiter(TokenBuckets(1e9, 1e9, 65536), TokenBuckets(1e9, 1e9, 16)) if limit else None
    return PrivacyGate(ClientIdentifier(PeriodKeys(604800)), limiter=limiter, counter=EventCounter(3600, 100_000))


def per_call_us(g: PrivacyGate, threads: int, calls: int) -> float:
    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: b"")
    context, details = Context(), Details()

    def work() -> None:
        for _ in range(calls):
            g.intercept_service(lambda d: handler, details).unary_unary(b"", context)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return (time.perf_counter() - t0) / (threads * calls) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--calls", type=int, default=20_000, help="calls per thread per round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    results: dict[str, list[float]] = {"gate": [], "limit": []}
    for _ in range(args.rounds):
        for name in results:
            results[name].append(per_call_us(gate(name == "limit"), args.threads, args.calls))
    medians = {name: statistics.median(values) for name, values in results.items()}
    for name, values in results.items():
        print(f"{name:6s} median {medians[name]:6.2f} µs/call   runs {' '.join(f'{v:.2f}' for v in values)}")
    print(f"the rate limit adds {medians['limit'] - medians['gate']:.2f} µs per call")


if __name__ == "__main__":
    main()
