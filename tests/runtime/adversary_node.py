"""The forking node as a process for the federation tests: ``python adversary_node.py SPEC.json``.

Not production code: the node itself is ``pypi_witness.sim.forking_node`` (a
log that shows one branch to some peers and another to the rest, and a
witness that cosigns anything). Here both branches hold ``size`` test records
(``tests.factories.record``), branch "a" one variant and branch "b" another:
same size, different roots.

SPEC (JSON): ``listen`` (host:port), ``dir`` (state), ``log_skey``,
``witness_skey``, ``size`` (leaves per branch), ``interval``, and ``peers``:
``[{name, address, witness_vkey, branch}]``. Prints ``ready`` when serving.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import trio  # noqa: E402

from pypi_witness.core.gossip.config import GossipConfig  # noqa: E402
from pypi_witness.core.tlog.note import Signer, Verifier  # noqa: E402
from pypi_witness.sim.forking_node import ForkPeer, branch_log, run_forking_node  # noqa: E402
from tests.factories import record  # noqa: E402


async def main(spec: dict) -> None:
    log_signer = Signer.from_skey(spec["log_skey"])
    interval = spec["interval"]
    config = GossipConfig(interval=interval, jitter=interval / 4, fanout=2, stale_peer_rounds=0, stale_origin_rounds=0)
    branches = {b: branch_log(log_signer, [record(i, b) for i in range(spec["size"])]) for b in ("a", "b")}
    peers = [ForkPeer(p["name"], p["address"], Verifier.from_vkey(p["witness_vkey"]), p["branch"]) for p in spec["peers"]]
    async with trio.open_nursery() as nursery:
        await nursery.start(
            run_forking_node,
            spec["listen"],
            Path(spec["dir"]),
            log_signer,
            Signer.from_skey(spec["witness_skey"]),
            branches,
            peers,
            config,
        )
        print("ready", flush=True)


if __name__ == "__main__":
    try:
        trio.run(main, json.loads(Path(sys.argv[1]).read_text()))
    except KeyboardInterrupt:
        pass
