"""An equivocating node, for the demo, the tests and the simulator; the real node never does this.

Not production code. It plays a log operator who has turned against the
federation, over real gRPC, so honest nodes can be shown catching it:

* **A forking log.** ``branches`` holds several logs of the same origin, all
  signed with the one log key (``branch_log`` builds one in memory). Each peer
  is shown one branch only: its heads in gossip and its proofs. Each branch
  is a real ``runtime.gossip.GossipNode`` with its own machine and state
  directory; incoming exchanges are routed by sender, so a peer never sees
  another branch from this node. Branches of the same size with different
  roots are a split view: honest peers that compare notes hold evidence.
* **A witness that cosigns anything.** WitnessService answers every
  AddCheckpoint with a valid cosignature, checking nothing.

``run_forking_node`` runs both until cancelled.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
import trio

from pypi_witness.core.tlog.checkpoint import parse_checkpoint
from pypi_witness.core.tlog.cosignature import Cosignature, cosign
from pypi_witness.core.gossip.machine import prove
from pypi_witness.core.gossip.config import GossipConfig
from pypi_witness.core.gossip.messages import Message, ProofRequest, ProofResponse
from pypi_witness.core.tlog.note import Signer, Verifier, parse_note
from pypi_witness.core.records.format import Record
from pypi_witness.core.tlog.witness import WitnessRequest
from pypi_witness.core.errors import ConfigError
from pypi_witness.signing.log import Log
from pypi_witness.rpc.bridge import ServerBridge
from pypi_witness.rpc.gossip_service import GossipClient, GossipServicer
from pypi_witness.rpc.witness_service import WitnessServicer
from pypi_witness.runtime.gossip import GossipNode
from pypi_witness.store.memory import MemoryStore


@dataclass(frozen=True, slots=True)
class ForkPeer:
    """A peer of the forking node: where to call it, its witness key (its gossip identity), the branch it sees."""

    name: str
    address: str
    witness: Verifier
    branch: str


class CosignAnything:
    """Duck-types ``signing.witness.Witness`` (WitnessServicer, the gossip's gate): cosigns every note, checking nothing."""

    def __init__(self, signer: Signer) -> None:
        self.signer = signer

    def add_checkpoint(self, request: WitnessRequest) -> Cosignature:
        """A cosignature of the request's checkpoint, now; NoteError if the note is malformed."""
        return cosign(parse_checkpoint(parse_note(request.note).text), self.signer, int(time.time()))

    def cosign_proven(self, note: bytes, old_size: int, proof: Sequence[bytes]) -> Cosignature:
        """A cosignature of ``note``'s checkpoint, now, whatever the proof (the gossip path)."""
        return self.add_checkpoint(WitnessRequest(old_size, tuple(proof), note))

    def cosign_own(self, note: bytes, prove: Callable[[int, int], Sequence[bytes]]) -> Cosignature:
        """A cosignature of ``note``'s checkpoint, now, proving nothing (the own log in gossip)."""
        return self.add_checkpoint(WitnessRequest(0, (), note))


def branch_log(signer: Signer, records: Sequence[Record]) -> Log:
    """An in-memory log of ``signer``'s origin holding ``records``, with a checkpoint signed for them."""
    log = Log(MemoryStore(), signer.verifier(), signer)
    log.append(list(records))
    log.publish()
    return log


async def run_forking_node(
    listen: str,
    state_dir: Path,
    log_signer: Signer,
    witness_signer: Signer,
    branches: Mapping[str, Log],
    peers: Sequence[ForkPeer],
    config: GossipConfig,
    *,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve GossipService and WitnessService on ``listen``, gossiping each branch to its peers, until cancelled.

    ``branches`` maps branch names to logs of ``log_signer``'s origin (each
    keeps being watched for new checkpoints); each peer sees
    ``branches[peer.branch]``. Gossip state goes to ``state_dir/gossip-<branch>``.
    Reports the bound ``host:port`` when serving. Raises ConfigError if a peer
    names an unknown branch or the address cannot be bound, StoreError if a
    state directory cannot be opened. The branch logs are not closed.
    """
    for peer in peers:
        if peer.branch not in branches:
            raise ConfigError(f"forking node: peer {peer.name!r} is shown unknown branch {peer.branch!r}")
    origin = log_signer.name
    keys = {p.witness.name: p.witness for p in peers}
    name_of = {p.witness.name: p.name for p in peers}
    branch_of = {p.name: p.branch for p in peers}
    nodes: dict[str, GossipNode] = {}
    executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="forking-node")
    server: grpc.Server | None = None
    try:
        for branch, log in branches.items():
            clients = {
                p.name: GossipClient(p.address, witness_signer.name, witness_signer, time.time)
                for p in peers
                if p.branch == branch
            }

            def prover(request: ProofRequest, log: Log = log) -> ProofResponse:
                return prove(request, log.store, log.checkpoint().checkpoint.size)

            try:
                nodes[branch] = GossipNode.open(
                    f"{origin}#{branch}",
                    state_dir,
                    config,
                    {origin: log_signer.verifier()},
                    clients,
                    own_origin=origin,
                    witness=CosignAnything(witness_signer),
                    prover=prover,
                    state_dir=state_dir / f"gossip-{branch}",
                )
            except BaseException:
                for client in clients.values():
                    client.close()
                raise

        async def exchange(sender: str, messages: list[Message]) -> list[Message]:
            name = name_of[sender]
            return await nodes[branch_of[name]].exchange(name, messages)

        bridge = ServerBridge(trio.lowlevel.current_trio_token())
        server = grpc.server(
            executor,
            handlers=[
                GossipServicer(exchange, keys, bridge, time.time).handler(),
                WitnessServicer(CosignAnything(witness_signer)).handler(),  # type: ignore[arg-type]
            ],
        )
        try:
            port = server.add_insecure_port(listen)
        except RuntimeError as e:
            raise ConfigError(f"forking node: cannot listen on {listen}: {e}") from None
        server.start()
        async with trio.open_nursery() as nursery:
            for branch, node in nodes.items():
                await nursery.start(node.run)
                nursery.start_soon(node.watch_log, branches[branch].store.checkpoint)
            task_status.started(f"{listen.rpartition(':')[0]}:{port}")
    finally:
        if server is not None:
            server.stop(0)
        executor.shutdown(wait=False)
        for node in nodes.values():
            node.close()
