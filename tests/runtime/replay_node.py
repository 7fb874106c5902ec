"""A peer that replays old heads, for the federation tests: ``python replay_node.py SPEC.json``.

Not production code: the real node never does any of this.

The process is a peer with an honest, growing log of its own (a real
``runtime.gossip.GossipNode`` gossips it and answers proof requests for it)
and a witness that cosigns anything
(``pypi_witness.sim.forking_node.CosignAnything``). On top of that, every
``interval`` it sends each peer a ``Heads`` message of *old* signed
checkpoints: earlier heads of its own log and earlier heads of
the peers' logs that it captured from their gossip. Every replayed note is
genuine and consistent with the newer ones, so an honest node must raise no
alarm and keep accepting real growth.

SPEC (JSON): ``listen``, ``dir``, ``log_skey``, ``witness_skey``,
``interval``, ``peers``: ``[{name, address, witness_vkey}]``. Writes
``replay: sent <n> old heads (<m> of other logs)`` to stderr after each
round of replays.
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

from pypi_witness.core.tlog.checkpoint import parse_checkpoint  # noqa: E402
from pypi_witness.core.gossip.machine import prove  # noqa: E402
from pypi_witness.core.gossip.config import GossipConfig  # noqa: E402
from pypi_witness.core.gossip.messages import Heads  # noqa: E402
from pypi_witness.core.tlog.note import Signer, Verifier, parse_note  # noqa: E402
from pypi_witness.core.errors import WitnessError  # noqa: E402
from pypi_witness.signing.log import Log  # noqa: E402
from pypi_witness.rpc.bridge import ServerBridge  # noqa: E402
from pypi_witness.rpc.gossip_service import GossipClient, GossipServicer  # noqa: E402
from pypi_witness.rpc.witness_service import WitnessServicer  # noqa: E402
from pypi_witness.runtime.gossip import GossipNode  # noqa: E402
from pypi_witness.store.memory import MemoryStore  # noqa: E402
from tests.factories import record  # noqa: E402
from pypi_witness.sim.forking_node import CosignAnything  # noqa: E402

GROW = 2  # records appended to the own log each interval
PER_ROUND = 8  # old heads replayed to each peer each interval


class Captured:
    """Every distinct signed checkpoint seen, per origin, in the order seen."""

    def __init__(self) -> None:
        self.notes: dict[str, list[tuple[int, bytes]]] = {}
        self._seen: set[bytes] = set()
        self._next = 0

    def add(self, note: bytes) -> None:
        if note in self._seen:
            return
        try:
            checkpoint = parse_checkpoint(parse_note(note).text)
        except WitnessError:
            return
        self._seen.add(note)
        self.notes.setdefault(checkpoint.origin, []).append((checkpoint.size, note))

    def old(self, count: int) -> list[bytes]:
        """Up to ``count`` notes smaller than the largest seen of their origin, cycling through all of them."""
        pool = [
            note
            for notes in self.notes.values()
            for size, note in notes
            if size < max(s for s, _ in notes)
        ]
        if not pool:
            return []
        picked = [pool[(self._next + i) % len(pool)] for i in range(min(count, len(pool)))]
        self._next += len(picked)
        return picked


async def main(spec: dict) -> None:
    log_signer = Signer.from_skey(spec["log_skey"])
    witness_signer = Signer.from_skey(spec["witness_skey"])
    origin = log_signer.name
    interval = spec["interval"]
    config = GossipConfig(interval=interval, jitter=interval / 4, fanout=2, stale_peer_rounds=0, stale_origin_rounds=0)
    peers = spec["peers"]
    keys = {Verifier.from_vkey(p["witness_vkey"]).name: Verifier.from_vkey(p["witness_vkey"]) for p in peers}
    name_of = {Verifier.from_vkey(p["witness_vkey"]).name: p["name"] for p in peers}
    log = Log(MemoryStore(), log_signer.verifier(), log_signer)
    log.append([record(i, "replay") for i in range(3)])
    log.publish()

    def prover(request):
        return prove(request, log.store, log.checkpoint().checkpoint.size)

    def client(address: str) -> GossipClient:
        return GossipClient(address, witness_signer.name, witness_signer, time.time)

    node = GossipNode.open(
        origin,
        Path(spec["dir"]),
        config,
        {origin: log_signer.verifier()},
        {p["name"]: client(p["address"]) for p in peers},
        own_origin=origin,
        witness=CosignAnything(witness_signer),
        prover=prover,
        state_dir=Path(spec["dir"]) / "gossip",
    )
    captured = Captured()
    captured.add(log.store.checkpoint())
    replayers = {p["name"]: client(p["address"]) for p in peers}

    async def exchange(sender: str, messages: list) -> list:
        for message in messages:
            if isinstance(message, Heads):
                for note in message.notes:
                    captured.add(note)
        return await node.exchange(name_of[sender], messages)

    async def grow() -> None:
        while True:
            await trio.sleep(interval)
            size = log.checkpoint().checkpoint.size
            log.append([record(i, "replay") for i in range(size, size + GROW)])
            captured.add(log.publish().note)

    async def replay_to(peer: str, notes: list[bytes]) -> int:
        try:
            with trio.fail_after(2):
                await replayers[peer].exchange([Heads(tuple(notes), reply=False)])
        except (trio.TooSlowError, WitnessError):
            return 0
        return len(notes)

    async def replay() -> None:
        sent = others = 0
        while True:
            await trio.sleep(interval)
            for peer in replayers:
                notes = captured.old(PER_ROUND)
                if notes and await replay_to(peer, notes):
                    sent += len(notes)
                    others += sum(1 for n in notes if parse_checkpoint(parse_note(n).text).origin != origin)
            print(f"replay: sent {sent} old heads ({others} of other logs)", file=sys.stderr, flush=True)

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
            await nursery.start(node.run)
            nursery.start_soon(node.watch_log, log.store.checkpoint)
            nursery.start_soon(grow)
            nursery.start_soon(replay)
    finally:
        server.stop(0)
        node.close()
        for c in replayers.values():
            c.close()


if __name__ == "__main__":
    try:
        trio.run(main, json.loads(Path(sys.argv[1]).read_text()))
    except KeyboardInterrupt:
        pass
