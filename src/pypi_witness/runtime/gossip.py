"""The gossip loop: one task driving the node's ``core.gossip.machine.GossipMachine`` over gRPC.

``GossipNode.run`` (in ``run_node``'s nursery) owns the machine. It runs
``tick`` at ``next_round_at()`` (wall-clock seconds: the machine also stamps
its cosignatures with them) and carries out every effect, in order:

* ``Send``: messages for one peer are sent together in one ``Exchange`` call
  (``rpc.gossip_service``), each call in its own task under a cancel scope of
  ``[gossip] timeout_seconds``; the answers are fed back to the machine. A
  failed call is logged at DEBUG and dropped: the machine tolerates loss, and
  a peer that stays silent is reported stale by the machine itself.
* ``ServeProof``: answered from the node's own log (``prover``), sent back.
* ``Cosign``: handed to the node's witness (its one signing gate,
  ``signing.witness.Witness``) in a worker thread, one at a time per origin; the
  cosignature goes back to the machine (``cosigned``), a refusal that names a
  smaller size last cosigned goes back too (``cosign_refused``: the machine
  asks for a proof from it), any other refusal is logged. The own log's heads
  are proven from the log itself (``cosign_own``).
* ``Persist``: written durably to ``store.gossip_state`` (``<data_dir>/gossip``)
  in the trio thread, before any later effect (a few small writes per round);
  ``GossipNode.open`` restores heads and evidence from it with ``restore``.
* ``Alarm`` / ``Stale``: a log line (ERROR / WARNING) and a counter
  (``counters``).

The node's ``core.disputes.finder.DisputeFinder`` (``finder``; None: off) runs
on the same rounds: its bucket root goes to the peers each round's heads go
to, in the same ``Exchange`` call, and dispute messages received are routed
to it. Its ``Send`` effects travel like the machine's; each ``Dispute`` goes
to ``on_dispute`` (default: a WARNING line and the ``dispute`` counter). A
dispute message the finder refuses is logged like any refused gossip.

Incoming exchanges (``exchange``) are fed to the machine; answers for the
sender go back in the reply, messages for other peers are sent as above.

The node's own checkpoints go in with ``publish`` (``watch_log`` polls the
log's signed checkpoint, as the witness pushes do). The witness consults
``evidence_against`` before cosigning: a log proven to equivocate, now or
before a restart, is never cosigned again.

Log lines the tests (and operators) read, one per event::

    gossip: accepted <origin> size <n> (round <r>)
    gossip: EQUIVOCATION <origin>: <detail> (evidence <id>, round <r>)
    gossip: bad proof for <origin> from <peer>: <detail> (round <r>)
    gossip: stale <peer|origin> <name>: <k> rounds (round <r>)
    gossip: DISPUTE <filename> with <peer>: ours sha256 <hex>, theirs <hex> (round <r>)
"""

from __future__ import annotations

import collections
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import grpc
import trio

from pypi_witness.config.node import Config, PeerConfig
from pypi_witness.core.disputes.finder import Dispute, DisputeFinder
from pypi_witness.core.disputes.finder import Send as FinderSend
from pypi_witness.core.disputes.messages import DisputeMessage
from pypi_witness.core.tlog.evidence import evidence_id
from pypi_witness.core.gossip.machine import Alarm, Cosign, Effect, GossipMachine, Persist, Send, ServeProof, Stale, prove
from pypi_witness.core.gossip.config import GossipConfig, OriginInfo
from pypi_witness.core.gossip.messages import Heads, Message, ProofRequest, ProofResponse, VerdictPush
from pypi_witness.core.tlog.cosignature import Cosignature
from pypi_witness.core.tlog.note import Verifier
from pypi_witness.core.errors import ConflictError, WitnessError
from pypi_witness.signing.log import Log
from pypi_witness.rpc.gossip_service import GossipClient
from pypi_witness.store.gossip_state import STATE_DIR, GossipStateStore
from pypi_witness.signing.witness import Witness

logger = logging.getLogger("pypi_witness.gossip")

# How often ``watch_log`` looks for a new signed checkpoint of the node's own log.
CHECKPOINT_POLL_SECONDS = 0.25

Prover = Callable[[ProofRequest], ProofResponse]
# RFC 9162 consistency proof (old_size, new_size) of the node's own log.
OwnProver = Callable[[int, int], Sequence[bytes]]


class CosignGate(Protocol):
    """What the gossip needs of the node's witness (``signing.witness.Witness``): its signing gate."""

    def cosign_proven(self, note: bytes, old_size: int, proof: Sequence[bytes]) -> Cosignature: ...

    def cosign_own(self, note: bytes, prove: OwnProver) -> Cosignature: ...
# Bytes of bucket entries one answer carries at most: half of the largest gRPC
# message (limits.max_message_bytes), and no more than 2 MiB.
REPLY_BYTES_CAP = 2 << 20


def _size_of(note: bytes) -> int:
    lines = note.split(b"\n", 2)
    return int(lines[1]) if len(lines) > 2 and lines[1].isdigit() else -1


class GossipNode:
    """The machine, its store and its peers' clients (see the module docstring).

    ``clients`` maps peer names to their clients (peers without an address
    have none: they gossip to this node but are not called). ``prover``
    answers proof requests for the node's own log; ``finder`` finds disputes
    (None: off) and ``on_dispute`` (settable) receives each. Build with ``open``.
    """

    def __init__(
        self,
        machine: GossipMachine,
        store: GossipStateStore,
        clients: Mapping[str, GossipClient],
        prover: Prover | None,
        *,
        timeout_seconds: float,
        clock: Callable[[], float] = time.time,
        finder: DisputeFinder | None = None,
        witness: CosignGate | None = None,
        own_prover: OwnProver | None = None,
    ) -> None:
        self.machine = machine
        self.witness = witness
        self.own_prover = own_prover
        self._cosign_locks: dict[str, trio.Lock] = {}
        self.finder = finder
        self.on_dispute: Callable[[Dispute], None] = self.log_dispute
        # A peer's verdict record (runtime.settle re-checks it); by default only logged.
        self.on_verdict: Callable[[str, bytes], None] = lambda peer, record: logger.info(
            "gossip: a verdict from %s (%d bytes) not checked: this node has no [policy]", peer, len(record)
        )
        self.store = store
        self.clients = dict(clients)
        self.prover = prover
        self.timeout_seconds = timeout_seconds
        self.counters: collections.Counter[str] = collections.Counter()
        self._clock = clock
        self._nursery: trio.Nursery | None = None
        self._wake = trio.Event()

    @classmethod
    def open(
        cls,
        name: str,
        data_dir: Path,
        config: GossipConfig,
        origins: Mapping[str, Verifier],
        peers: Mapping[str, GossipClient],
        *,
        own_origin: str | None,
        witness: CosignGate | None = None,
        cosigners: tuple[Verifier, ...] = (),
        prover: Prover | None = None,
        own_prover: OwnProver | None = None,
        servers: Mapping[str, str] | None = None,
        timeout_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        state_dir: Path | None = None,
        finder: DisputeFinder | None = None,
    ) -> GossipNode:
        """A node with its machine restored from ``<data_dir>/gossip`` (or ``state_dir``).

        Raises StoreError if the store cannot be opened, ConfigError /
        MalformedError / VerificationError if what it holds no longer fits
        the configuration (an origin no longer followed, a changed key).
        """
        servers = servers or {}
        infos = {origin: OriginInfo(verifier, servers.get(origin)) for origin, verifier in origins.items()}
        machine = GossipMachine(
            name,
            peers,
            infos,
            config,
            rng or random.SystemRandom(),
            clock(),
            own_origin=own_origin,
            witness=witness is not None,
            cosigners=cosigners,
        )
        store = GossipStateStore(state_dir or data_dir / STATE_DIR)
        try:
            heads = [note for origin, note in store.heads().items() if origin in infos]
            machine.restore(heads, store.evidence().values())
        except BaseException:
            store.close()
            raise
        held = len(machine.evidence())
        if held:
            logger.warning("gossip: restored %d evidence; those logs are not cosigned", held)
        return cls(
            machine, store, peers, prover, timeout_seconds=timeout_seconds, clock=clock, finder=finder,
            witness=witness, own_prover=own_prover,
        )  # fmt: skip

    def evidence_against(self, origin: str) -> str | None:
        """The id of the evidence held against ``origin``, or None (for ``Witness.refuse_equivocators``)."""
        if not self.machine.refuses_to_cosign(origin):
            return None
        text = self.machine.evidence_for(origin)
        return None if text is None else evidence_id(text)

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
        self.store.close()

    # ------------------------------------------------------------ tasks

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run rounds until cancelled; exchanges in flight are cancelled with it."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            while True:
                await trio.sleep(max(0.0, self.machine.next_round_at() - self._clock()))
                self._execute(self._round(self._clock()))

    async def watch_log(self, checkpoint: Callable[[], bytes | None]) -> None:
        """Publish every new note ``checkpoint()`` returns (the own log's signed checkpoint); until cancelled."""
        last = None
        while True:
            note = checkpoint()
            if note is not None and note != last:
                try:
                    self._execute(self.machine.publish(note, self._clock()))
                except WitnessError as e:
                    logger.error("gossip: cannot publish the log's checkpoint: %s", e)
                last = note
            await trio.sleep(CHECKPOINT_POLL_SECONDS)

    async def exchange(self, sender: str, messages: list[Message]) -> list[Message]:
        """Feed ``sender``'s messages to the machine; return those for ``sender`` (the reply)."""
        reply: list[Message] = []
        for message in messages:
            self._execute(self._receive(sender, message), reply_to=sender, reply=reply)
        return reply

    def spread_verdict(self, record: bytes) -> None:
        """Send a verdict record this node logged to every peer now (once; each re-checks it)."""
        for peer in self.clients:
            self._send(peer, [VerdictPush(record)])

    def log_dispute(self, dispute: Dispute) -> None:
        """The default ``on_dispute``: a WARNING line (see the module docstring) and the ``dispute`` counter."""
        self.counters["dispute"] += 1
        logger.warning(
            "gossip: DISPUTE %s with %s: ours sha256 %s, theirs %s (round %d)",
            dispute.filename, dispute.peer, dispute.ours[0], dispute.theirs[0], self.machine.round,
        )  # fmt: skip

    def _round(self, now: float) -> list[Effect | FinderSend | Dispute]:
        """The machine's round, and the finder's bucket root to the peers the round pushes heads to."""
        effects: list[Effect | FinderSend | Dispute] = list(self.machine.tick(now))
        if self.finder is not None:
            pushes = [e for e in effects if isinstance(e, Send) and isinstance(e.message, Heads)]
            peers = [e.peer for e in pushes if e.message.reply]  # type: ignore[union-attr]
            if peers:
                try:
                    effects += self.finder.tick(now, peers)
                except WitnessError as e:
                    logger.error("gossip: cannot read the log's buckets: %s", e)
        return effects

    def _receive(self, peer: str, message: Message) -> list[Effect | FinderSend | Dispute]:
        """The machine's (or finder's) effects for ``message``; a refusal of bad content is logged, never fatal."""
        try:
            if isinstance(message, VerdictPush):
                self.on_verdict(peer, message.record)
                return []
            if isinstance(message, DisputeMessage):  # type: ignore[misc, arg-type]
                return [] if self.finder is None else list(self.finder.receive(peer, message, self._clock()))  # type: ignore[arg-type]
            return list(self.machine.receive(peer, message, self._clock()))
        except WitnessError as e:
            logger.warning("gossip: message from %s refused: %s", peer, e)
            return []

    # ------------------------------------------------------------ effects

    def _execute(
        self,
        effects: list[Effect | FinderSend | Dispute],
        *,
        reply_to: str | None = None,
        reply: list[Message] | None = None,
    ) -> None:
        outgoing: dict[str, list[Message]] = {}
        for effect in effects:
            if isinstance(effect, FinderSend):
                if effect.peer == reply_to and reply is not None:
                    reply.extend(effect.messages)
                else:
                    outgoing.setdefault(effect.peer, []).extend(effect.messages)
            elif isinstance(effect, Dispute):
                try:
                    self.on_dispute(effect)
                except Exception:  # a broken hook must not stop the gossip
                    logger.exception("gossip: on_dispute failed for %s with %s", effect.filename, effect.peer)
            elif isinstance(effect, Send):
                if effect.peer == reply_to and reply is not None:
                    reply.append(effect.message)
                else:
                    outgoing.setdefault(effect.peer, []).append(effect.message)
            elif isinstance(effect, ServeProof):
                answer = self._prove(effect.request)
                if answer is not None:
                    if effect.peer == reply_to and reply is not None:
                        reply.append(answer)
                    else:
                        outgoing.setdefault(effect.peer, []).append(answer)
            elif isinstance(effect, Cosign):
                if self._nursery is not None:
                    self._nursery.start_soon(self._cosign, effect)
            elif isinstance(effect, Persist):
                self.store.put(effect.kind, effect.key, effect.data)
                if effect.kind == "head":
                    size = _size_of(effect.data)
                    logger.info("gossip: accepted %s size %d (round %d)", effect.key, size, self.machine.round)
            elif isinstance(effect, Alarm):
                self.counters[f"alarm.{effect.kind}"] += 1
                if effect.kind == "equivocation":
                    logger.error(
                        "gossip: EQUIVOCATION %s: %s (evidence %s, round %d)",
                        effect.origin, effect.detail, effect.evidence_id, self.machine.round,
                    )  # fmt: skip
                else:
                    logger.error(
                        "gossip: bad proof for %s from %s: %s (round %d)",
                        effect.origin, effect.peer, effect.detail, self.machine.round,
                    )  # fmt: skip
            elif isinstance(effect, Stale):
                self.counters[f"stale.{effect.kind}"] += 1
                logger.warning(
                    "gossip: stale %s %s: %d rounds (round %d)",
                    effect.kind, effect.subject, effect.rounds, self.machine.round,
                )  # fmt: skip
        for peer, messages in outgoing.items():
            self._send(peer, messages)

    async def _cosign(self, effect: Cosign) -> None:
        """Carry out a ``Cosign`` effect through the witness's gate (module docstring)."""
        witness = self.witness
        if witness is None:
            return
        lock = self._cosign_locks.setdefault(effect.origin, trio.Lock())
        async with lock:
            try:
                if effect.origin == self.machine.own_origin and self.own_prover is not None:
                    prove = self.own_prover
                    cosignature = await trio.to_thread.run_sync(witness.cosign_own, effect.note, prove)
                else:
                    cosignature = await trio.to_thread.run_sync(
                        witness.cosign_proven, effect.note, effect.old_size, effect.proof
                    )
            except ConflictError as e:
                self.counters["cosign.refused"] += 1
                logger.info("gossip: the witness does not cosign %s size %d yet: %s", effect.origin, _size_of(effect.note), e)
                if e.known_size is not None:
                    self._execute(self.machine.cosign_refused(effect.origin, effect.note, e.known_size))
                return
            except WitnessError as e:
                self.counters["cosign.refused"] += 1
                logger.warning("gossip: the witness refused to cosign %s size %d: %s", effect.origin, _size_of(effect.note), e)
                return
        self.counters["cosign"] += 1
        self._execute(self.machine.cosigned(effect.origin, effect.note, cosignature))

    def _prove(self, request: ProofRequest) -> ProofResponse | None:
        if self.prover is None:
            return None
        try:
            return self.prover(request)
        except WitnessError as e:
            logger.info("gossip: cannot prove %s %d->%d: %s", request.origin, request.old_size, request.new_size, e)
            return None

    def _send(self, peer: str, messages: list[Message]) -> None:
        client = self.clients.get(peer)
        if client is None or self._nursery is None:
            logger.debug("gossip: no way to reach %s; %d messages dropped", peer, len(messages))
            return
        self._nursery.start_soon(self._call, peer, client, messages)

    async def _call(self, peer: str, client: GossipClient, messages: list[Message]) -> None:
        try:
            with trio.fail_after(self.timeout_seconds):
                answers = await client.exchange(messages)
        except trio.TooSlowError:
            logger.debug("gossip: %s did not answer within %g s", peer, self.timeout_seconds)
            return
        except WitnessError as e:
            logger.debug("gossip: exchange with %s failed: %s", peer, e)
            return
        for message in answers:
            self._execute(self._receive(peer, message))


# ---------------------------------------------------------------- the node's wiring


def peer_keys(peers: Sequence[PeerConfig]) -> dict[str, Verifier]:
    """The witness keys of the peers that may gossip with this node, by key name (the sender's name)."""
    return {p.witness_vkey.name: p.witness_vkey for p in peers if p.witness_vkey is not None}


def open_node_gossip(
    config: Config,
    log: Log,
    witness: Witness,
    *,
    credentials: Mapping[str, grpc.ChannelCredentials | None] | None = None,
) -> GossipNode:
    """The node's gossip: its own log and every peer's, clients for peers with an address.

    ``credentials``: TLS per peer name (``rpc.tls.peer_credentials``); a peer
    missing from it, or with None, is called in plaintext.

    Peers are known to the machine by their [[peers]] name; a sender on the
    wire is named by its witness key (``exchange_as_peer`` translates).
    Raises what ``GossipNode.open`` raises.
    """
    origins = {log.origin: log.verifier, **{p.origin: p.log_vkey for p in config.peers}}
    clock = time.time
    signer = witness.envelope_signer()
    clients = {
        p.name: GossipClient(p.address, signer.name, signer, clock, credentials=(credentials or {}).get(p.name))
        for p in config.peers
        if p.address is not None
    }
    # A peer's log is proven by the peer that runs it, when this node can call it.
    servers = {p.origin: p.name for p in config.peers if p.address is not None}

    def prover(request: ProofRequest) -> ProofResponse:
        return prove(request, log.store, log.checkpoint().checkpoint.size)

    def own_prover(old_size: int, new_size: int) -> tuple[bytes, ...]:
        return log.consistency_proof(old_size, new_size).proof

    finder = None
    if config.gossip.dispute_buckets_per_round:
        finder = DisputeFinder(
            log.store,
            buckets_per_round=config.gossip.dispute_buckets_per_round,
            reply_bytes=min(REPLY_BYTES_CAP, config.limits.max_message_bytes // 2),
            # an answer later than a few rounds is not waited for
            pending_seconds=max(3 * config.gossip.machine.interval, config.gossip.timeout_seconds),
        )
    try:
        return GossipNode.open(
            log.origin,
            config.node.data_dir,
            config.gossip.machine,
            origins,
            clients,
            own_origin=log.origin,
            witness=witness,
            cosigners=tuple(p.witness_vkey for p in config.peers if p.witness_vkey is not None),
            prover=prover,
            own_prover=own_prover,
            servers=servers,
            timeout_seconds=config.gossip.timeout_seconds,
            clock=clock,
            finder=finder,
        )
    except BaseException:
        for client in clients.values():
            client.close()
        raise


def exchange_as_peer(node: GossipNode, peers: Sequence[PeerConfig]) -> Callable[[str, list[Message]], Awaitable[list[Message]]]:
    """``node.exchange`` for a sender named by its witness key (GossipServicer's callback)."""
    names = {p.witness_vkey.name: p.name for p in peers if p.witness_vkey is not None}

    async def exchange(sender: str, messages: list[Message]) -> list[Message]:
        return await node.exchange(names[sender], messages)

    return exchange
