"""Adversarial node processes for the federation tests: ``python adversary_node.py SPEC.json``.

Not production code: the real node never does any of this.

* **A forking log.** The log has two branches of the same size, signed with
  the one log key, built from different records. Peers listed with branch
  "a" see branch a (its heads in gossip, its proofs), those with branch "b"
  see branch b: a split view. Each branch is a real ``runtime.gossip``
  ``GossipNode`` with its own machine; incoming exchanges are routed by
  sender, so a peer only ever sees its own branch.
* **A witness that cosigns anything.** WitnessService answers every
  AddCheckpoint with a valid cosignature, checking nothing.

SPEC (JSON): ``listen`` (host:port), ``dir`` (state), ``log_skey``,
``witness_skey``, ``size`` (leaves per branch), ``interval``, and ``peers``:
``[{name, address, witness_vkey, branch}]``. Prints ``ready`` when serving.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import grpc  # noqa: E402
import trio  # noqa: E402

from pypi_witness.core.checkpoint import parse_checkpoint  # noqa: E402
from pypi_witness.core.cosignature import Cosignature, cosign  # noqa: E402
from pypi_witness.core.gossip import prove  # noqa: E402
from pypi_witness.core.gossip_config import GossipConfig  # noqa: E402
from pypi_witness.core.note import Signer, Verifier, parse_note  # noqa: E402
from pypi_witness.core.witness import WitnessRequest  # noqa: E402
from pypi_witness.log import Log  # noqa: E402
from pypi_witness.rpc.bridge import ServerBridge  # noqa: E402
from pypi_witness.rpc.gossip_service import GossipClient, GossipServicer  # noqa: E402
from pypi_witness.rpc.witness_service import WitnessServicer  # noqa: E402
from pypi_witness.runtime.gossip import GossipNode  # noqa: E402
from pypi_witness.store.memory import MemoryStore  # noqa: E402
from tests.factories import record  # noqa: E402


class CosignAnything:
    """Duck-types ``witness.Witness`` for WitnessServicer: cosigns every note, checking nothing."""

    def __init__(self, signer: Signer) -> None:
        self.signer = signer

    def add_checkpoint(self, request: WitnessRequest) -> Cosignature:
        return cosign(parse_checkpoint(parse_note(request.note).text), self.signer, int(time.time()))


def branch_log(signer: Signer, size: int, variant: str) -> Log:
    log = Log(MemoryStore(), signer.verifier(), signer)
    log.append([record(i, variant) for i in range(size)])
    log.publish()
    return log


async def main(spec: dict) -> None:
    log_signer = Signer.from_skey(spec["log_skey"])
    witness_signer = Signer.from_skey(spec["witness_skey"])
    origin = log_signer.name
    config = GossipConfig(interval=spec["interval"], jitter=spec["interval"] / 4, fanout=2, stale_peer_rounds=0, stale_origin_rounds=0)
    peers = spec["peers"]
    keys = {Verifier.from_vkey(p["witness_vkey"]).name: Verifier.from_vkey(p["witness_vkey"]) for p in peers}
    name_of = {Verifier.from_vkey(p["witness_vkey"]).name: p["name"] for p in peers}
    branch_of = {p["name"]: p["branch"] for p in peers}
    nodes: dict[str, GossipNode] = {}
    logs: dict[str, Log] = {}
    for branch in ("a", "b"):
        log = logs[branch] = branch_log(log_signer, spec["size"], branch)
        clients = {
            p["name"]: GossipClient(p["address"], witness_signer.name, witness_signer, time.time)
            for p in peers
            if p["branch"] == branch
        }

        def prover(request, log=log):
            return prove(request, log.store, log.checkpoint().checkpoint.size)

        nodes[branch] = GossipNode.open(
            f"{origin}#{branch}",
            Path(spec["dir"]),
            config,
            {origin: log_signer.verifier()},
            clients,
            own_origin=origin,
            cosigner=witness_signer,
            prover=prover,
            state_dir=Path(spec["dir"]) / f"gossip-{branch}",
        )

    async def exchange(sender: str, messages: list) -> list:
        name = name_of[sender]
        return await nodes[branch_of[name]].exchange(name, messages)

    bridge = ServerBridge(trio.lowlevel.current_trio_token())
    executor = ThreadPoolExecutor(max_workers=4)
    server = grpc.server(
        executor,
        handlers=[
            GossipServicer(exchange, keys, bridge, time.time).handler(),
            WitnessServicer(CosignAnything(witness_signer)).handler(),  # type: ignore[arg-type]
        ],
    )
    server.add_insecure_port(spec["listen"])
    server.start()
    try:
        async with trio.open_nursery() as nursery:
            for branch, node in nodes.items():
                await nursery.start(node.run)
                nursery.start_soon(node.watch_log, logs[branch].store.checkpoint)
            print("ready", flush=True)
    finally:
        server.stop(0)
        for node in nodes.values():
            node.close()


if __name__ == "__main__":
    try:
        trio.run(main, json.loads(Path(sys.argv[1]).read_text()))
    except KeyboardInterrupt:
        pass
