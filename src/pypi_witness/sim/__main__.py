"""``python -m pypi_witness.sim``: run seeded simulations and print rounds-to-detection statistics.

Example::

    python -m pypi_witness.sim --nodes 1000 --fanout 1 --seed 1 --runs 5

Prints one line per run (JSON) and a summary of the distribution of rounds from
first exposure to detection over all honest nodes of all runs. Exits 0 when
every honest node of every run detected the fork, 1 otherwise, 2 for bad
arguments.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Sequence

from pypi_witness.core.errors import ConfigError
from pypi_witness.sim.world import SimConfig, Simulation


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pypi_witness.sim", description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, default=100, help="gossip nodes, adversaries included (default 100)")
    p.add_argument("--fanout", type=int, default=1, help="peers contacted per round (default 1)")
    p.add_argument(
        "--evidence-push",
        default="fanout",
        metavar="N|all|fanout",
        help="peers new evidence is pushed to at once: a number, 'all', or 'fanout' (default)",
    )
    p.add_argument("--seed", type=int, default=1, help="seed of the first run (default 1)")
    p.add_argument("--runs", type=int, default=1, help="runs, with seeds seed, seed+1, ... (default 1)")
    p.add_argument("--honest-logs", type=int, default=1, help="honest logs besides the forking one (default 1)")
    p.add_argument("--colluders", type=int, default=0, help="witnesses that cosign anything and swallow evidence")
    p.add_argument("--replayers", type=int, default=0, help="witnesses that replay old heads")
    p.add_argument("--loss", type=float, default=0.0, help="message loss probability (default 0)")
    p.add_argument(
        "--latency",
        type=float,
        nargs=2,
        default=(0.01, 0.2),
        metavar=("MIN", "MAX"),
        help="latency range in rounds (default 0.01 0.2)",
    )
    p.add_argument("--jitter", type=float, default=0.1, help="round jitter, in rounds (default 0.1)")
    p.add_argument("--publish-every", type=int, default=3, help="rounds between log checkpoints (default 3)")
    p.add_argument("--partition-groups", type=int, default=0, help="split honest nodes into this many groups")
    p.add_argument("--partition-rounds", type=float, default=0.0, help="how long the partition lasts")
    p.add_argument(
        "--split-by-partition", action="store_true", help="the forking log shows branch a to group 0 and b to the rest"
    )
    p.add_argument("--no-fork", action="store_true", help="no forking log (to count false alarms)")
    p.add_argument("--max-rounds", type=int, default=200, help="give up after this many rounds (default 200)")
    return p


def _evidence_fanout(value: str, fanout: int) -> int | None:
    if value == "all":
        return None
    if value == "fanout":
        return fanout
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"--evidence-push must be a number, 'all' or 'fanout', not {value!r}") from None


def configs(args: argparse.Namespace) -> list[SimConfig]:
    if args.runs < 1:
        raise ConfigError("--runs must be at least 1")
    return [
        SimConfig(
            nodes=args.nodes,
            fanout=args.fanout,
            evidence_fanout=_evidence_fanout(args.evidence_push, args.fanout),
            seed=args.seed + i,
            honest_logs=args.honest_logs,
            colluders=args.colluders,
            replayers=args.replayers,
            loss=args.loss,
            latency_min=args.latency[0],
            latency_max=args.latency[1],
            jitter=args.jitter,
            publish_every=args.publish_every,
            fork=not args.no_fork,
            partition_groups=args.partition_groups,
            partition_rounds=args.partition_rounds,
            split_by_partition=args.split_by_partition,
            max_rounds=args.max_rounds,
        )
        for i in range(args.runs)
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        runs = configs(args)
        sims = [Simulation(c) for c in runs]
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    all_rounds: list[float] = []
    worst: list[float] = []
    ok = True
    for sim in sims:
        started = time.perf_counter()
        result = sim.run()
        line = result.summary() | {"seconds": round(time.perf_counter() - started, 1)}
        print(json.dumps(line), flush=True)
        all_rounds += result.rounds_to_detection()
        if result.rounds_to_detection():
            worst.append(max(result.rounds_to_detection()))
        ok = ok and (result.all_detected or not sim.config.fork) and result.false_equivocation_alarms == 0
    n = args.nodes
    if all_rounds:
        q = statistics.quantiles(all_rounds, n=20) if len(all_rounds) > 1 else all_rounds * 19
        print(
            json.dumps(
                {
                    "nodes": n,
                    "fanout": args.fanout,
                    "runs": len(sims),
                    "bar_rounds": math.ceil(math.log2(n) + math.log(n)),
                    "median": round(statistics.median(all_rounds), 2),
                    "p95": round(q[18], 2),
                    "max": round(max(all_rounds), 2),
                    "worst_per_run": sorted(round(w, 2) for w in worst),
                }
            )
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
