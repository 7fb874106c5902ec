"""The gossip machine: a sans-I/O state machine that spreads checkpoints and catches equivocation.

One machine per witness node. The host feeds it messages and clock ticks and
carries out the effects it returns, in order; the machine does no I/O, reads no
clock and draws randomness only from the object it is given. The same machine
runs in the real node (over gRPC) and in the simulator.

Rounds. Every ``interval + uniform(0, jitter)`` seconds (``tick``), the machine
picks ``fanout`` peers at random and sends each, first, every evidence that
peer has not acknowledged (priority), then a ``Heads`` message: its latest
accepted checkpoint note per origin, log-signed and cosigned. The receiver
answers with its own evidence and heads (push-pull).

Checkpoints. A note for an origin not in the configuration is ignored; one
whose log signature fails is dropped (never an alarm). Every log-signed note
the machine sees is remembered by size (up to ``notes_per_origin`` of them).

* Same size as a remembered note, different root: same-size evidence.
* No head yet: accepted (trust on first use).
* Larger than the head: a ``ProofRequest`` goes to the origin's server (or to
  the sender if none is configured), and the note is accepted only when a full
  consistency proof from the head arrives and verifies. Requests are retried
  every ``proof_retry_rounds`` up to ``proof_attempts`` times.
* Smaller than the head and never seen: checked the same way (head as the new
  end), so a replayed old head is recognised as consistent and changes nothing.
* A proof that leads to the newer signed root but not to the older one is
  prefix evidence (see :mod:`pypi_witness.core.tlog.evidence`). A proof that does
  not even lead to the newer root proves nothing about the log and raises an
  ``Alarm("bad-proof")``, never evidence.

Cosigning. The machine holds no signing key. A node that runs a witness
(``witness=True``) is asked to cosign every head the machine accepts with a
``Cosign`` effect: the log-signed note and a proof (RFC 9162) that it extends
the head accepted before it. The host hands it to the witness's one signing
gate (``signing.witness.Witness``), which checks it against what the key last
cosigned, durably, and feeds the answer back: ``cosigned`` attaches the
cosignature to the head if it is still the head; ``cosign_refused`` with the
size the witness last cosigned asks the origin's server for a proof from that
size, and the answer becomes a new ``Cosign`` effect. The gate, not the
machine, decides; so a head the gate refuses (a smaller tree than one already
cosigned, another root at a cosigned size) is spread uncosigned.

Evidence is persisted, raises ``Alarm("equivocation")``, marks the origin
(``refuses_to_cosign``), and is pushed at once to ``evidence_fanout`` peers
(all peers when None), then piggybacked first on every exchange and re-sent
each round to those not yet acknowledging (``EvidenceAck``). Evidence received
is verified once; it is always acknowledged, even when already held, when its
origin is already proven (it is then not stored again: one proof per origin
suffices) or when its origin is not followed here (it cannot be checked, so
it is neither stored nor spread). Malformed evidence, and evidence that fails
verification, is dropped without an ack and never alarms.

Staleness. A peer not heard from for ``stale_peer_rounds`` rounds, or an
origin whose accepted size has not grown for ``stale_origin_rounds`` rounds,
is reported once as a ``Stale`` effect (again after it recovers and lapses);
0 turns the check off. Staleness is never equivocation.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pypi_witness.core.tlog.checkpoint import Checkpoint
from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint
from pypi_witness.core.tlog.cosignature import Cosignature, add_cosignatures
from pypi_witness.core.tlog.evidence import (
    Evidence,
    evidence_id,
    format_evidence,
    log_signature_only,
    parse_evidence,
    prefix_evidence,
    same_size_evidence,
    verify_evidence,
)
from pypi_witness.core.gossip.effects import (
    Alarm,
    Cosign,
    Effect,
    Persist,
    Send,
    ServeProof,
    Stale,
    prove,
)
from pypi_witness.core.gossip.config import GossipConfig, OriginInfo, Randomness
from pypi_witness.core.gossip.messages import (
    EvidenceAck,
    EvidencePush,
    Heads,
    Message,
    ProofRequest,
    ProofResponse,
)
from pypi_witness.core.tlog.merkle import (
    EMPTY_ROOT,
    HashReader,
    full_consistency_proof,
    full_proof_roots,
)
from pypi_witness.core.tlog.note import Verifier
from pypi_witness.core.errors import (
    ConfigError,
    MalformedError,
    VerificationError,
    WitnessError,
)

__all__ = [
    "Alarm",
    "Cosign",
    "Effect",
    "GossipConfig",
    "GossipMachine",
    "OriginInfo",
    "Persist",
    "Randomness",
    "Send",
    "ServeProof",
    "Stale",
    "prove",
]

# ---------------------------------------------------------------- state


_Signed = tuple[bytes, Checkpoint]  # a note reduced to the log's signature, and its checkpoint


@dataclass
class _Pending:
    old: _Signed
    new: _Signed
    server: str
    sent_round: int
    attempts: int = 1


@dataclass
class _CosignPending:
    note: bytes  # the head to cosign, log signature only
    server: str
    sent_round: int
    attempts: int = 1


@dataclass
class _Origin:
    info: OriginInfo
    head: bytes | None = None  # stored note: log signature + cosignatures
    head_cp: Checkpoint | None = None
    notes: OrderedDict[int, _Signed] = field(default_factory=OrderedDict)  # by size, oldest first
    bodies: OrderedDict[bytes, None] = field(default_factory=OrderedDict)  # note texts handled, bounded
    pending: dict[tuple[int, int], _Pending] = field(default_factory=dict)
    # Proofs asked for the witness, from the size it last cosigned to a head: (old, new) -> _CosignPending.
    cosign_pending: dict[tuple[int, int], _CosignPending] = field(default_factory=dict)
    advanced_round: int = 0
    stale_reported: bool = False
    evidence_id: str | None = None
    head_from: str | None = None  # the peer the head came from (None: restored or published)


def rfc_proof(old_size: int, proof: Sequence[bytes]) -> tuple[bytes, ...]:
    """The RFC 9162 consistency proof inside a full one (``merkle.full_consistency_proof``)."""
    if old_size > 0 and old_size & (old_size - 1) == 0:
        return tuple(proof[1:])  # a power of two: the full proof leads with MTH(D[0:old_size])
    return tuple(proof)


def _body(note: bytes) -> bytes:
    """The note text (up to and including the newline before the blank line); b"" if none."""
    cut = note.rfind(b"\n\n")
    return note[: cut + 1] if cut >= 0 else b""


class GossipMachine:
    """One node's gossip state. See the module docstring for the protocol.

    ``name`` is this node, ``peers`` the others (``name`` is left out),
    ``origins`` the logs followed. ``own_origin`` names this node's own log
    (its heads come from :meth:`publish`, and proof requests for it become
    ``ServeProof`` effects). With ``witness``, every accepted head is offered
    to the node's witness for cosigning (``Cosign`` effects; see the module
    docstring); ``cosigners`` are the witness keys whose cosignatures on
    incoming notes are verified and kept. ``rng`` supplies every random choice.
    """

    def __init__(
        self,
        name: str,
        peers: Iterable[str],
        origins: Mapping[str, OriginInfo],
        config: GossipConfig,
        rng: Randomness,
        now: float,
        *,
        own_origin: str | None = None,
        witness: bool = False,
        cosigners: Sequence[Verifier] = (),
    ) -> None:
        self.name = name
        self.config = config
        self._rng = rng
        self._peers = [p for p in dict.fromkeys(peers) if p != name]
        self._origins = {o: _Origin(info) for o, info in origins.items()}
        for origin, info in origins.items():
            if info.verifier.name != origin:
                raise ConfigError(f"origin {origin!r} has a verifier key named {info.verifier.name!r}")
        if own_origin is not None and own_origin not in self._origins:
            raise ConfigError(f"own origin {own_origin!r} is not among the origins")
        self._own = own_origin
        self._witness = witness
        self._cosigners = tuple(cosigners)
        self.round = 0
        self._next_round_at = now + rng.random() * config.interval
        # Round each peer was last heard from, least recent first (only kept when staleness is checked).
        tracked = self._peers if config.stale_peer_rounds else ()
        self._heard: OrderedDict[str, int] = OrderedDict((p, 0) for p in tracked)
        self._silent: set[str] = set()
        self._evidence: dict[str, tuple[str, bytes]] = {}  # id -> (origin, text)
        self._acked: dict[str, set[str]] = {}  # id -> peers that acknowledged
        self._unacked_sent: dict[str, dict[str, int]] = {}  # id -> peer -> round last sent

    # ------------------------------------------------------------ queries

    @property
    def peers(self) -> tuple[str, ...]:
        return tuple(self._peers)

    @property
    def own_origin(self) -> str | None:
        return self._own

    def next_round_at(self) -> float:
        """When ``tick`` next has work to do."""
        return self._next_round_at

    def head(self, origin: str) -> bytes | None:
        """The accepted (cosigned) note for ``origin``, or None."""
        st = self._origins.get(origin)
        return None if st is None else st.head

    def refuses_to_cosign(self, origin: str) -> bool:
        """True once evidence shows ``origin`` equivocated (the witness must never cosign it again)."""
        st = self._origins.get(origin)
        return st is not None and st.evidence_id is not None

    def evidence(self) -> dict[str, bytes]:
        """Evidence held, by id."""
        return {eid: text for eid, (_, text) in self._evidence.items()}

    def evidence_for(self, origin: str) -> bytes | None:
        """The evidence text this machine holds against ``origin``, or None."""
        st = self._origins.get(origin)
        return None if st is None or st.evidence_id is None else self._evidence[st.evidence_id][1]

    # ------------------------------------------------------------ inputs

    def restore(self, heads: Iterable[bytes] = (), evidence: Iterable[bytes] = ()) -> None:
        """Reload persisted heads and evidence after a restart (no effects).

        Raises MalformedError / VerificationError for a note or evidence that
        no longer verifies, or names an origin not configured.
        """
        for note in heads:
            origin = self._origin_of_note(note)
            if origin is None:
                raise ConfigError("a persisted head is for an origin that is not configured")
            st = self._origins[origin]
            signed = open_checkpoint(note, st.info.verifier)
            st.head, st.head_cp = note, signed.checkpoint
            self._remember(st, log_signature_only(note, st.info.verifier), signed.checkpoint)
        for text in evidence:
            parsed = parse_evidence(text)
            if parsed.origin not in self._origins:
                raise ConfigError(f"persisted evidence is for unknown origin {parsed.origin!r}")
            verify_evidence(text, self._origins[parsed.origin].info.verifier)
            self._hold_evidence(parsed.origin, text)

    def publish(self, note: bytes, now: float) -> list[Effect]:
        """This node's own log signed ``note``: make it the head of the own origin.

        Returns the effects (Persist of the cosigned head). Raises ConfigError
        if there is no own origin, and NoteError / SignatureError if ``note``
        is not a valid checkpoint of it.
        """
        if self._own is None:
            raise ConfigError("this gossip machine has no own origin to publish")
        st = self._origins[self._own]
        signed = open_checkpoint(note, st.info.verifier)
        canonical = log_signature_only(note, st.info.verifier)
        out: list[Effect] = []
        previous = 0 if st.head_cp is None else st.head_cp.size
        self._remember(st, canonical, signed.checkpoint)
        # The own log's proof is the host's to make, from the size its witness last cosigned.
        self._accept(st, canonical, signed.checkpoint, now, out, old_size=previous)
        return out

    def tick(self, now: float) -> list[Effect]:
        """Run a round if one is due at ``now``; returns its effects ([] if none is due)."""
        if now < self._next_round_at:
            return []
        cfg = self.config
        self.round += 1
        self._next_round_at = now + cfg.interval + self._rng.random() * cfg.jitter
        out: list[Effect] = []
        self._retry_evidence(out)
        self._retry_proofs(out)
        if self._peers:
            for peer in self._rng.sample(self._peers, min(cfg.fanout, len(self._peers))):
                self._push_evidence_to(peer, out)
                out.append(Send(peer, Heads(self._heads(), reply=True)))
        self._check_stale(out)
        return out

    def receive(self, peer: str, message: Message, now: float) -> list[Effect]:
        """Handle ``message`` from ``peer``; returns the effects.

        Never raises for bad content from a peer (bad notes, evidence and
        proofs are dropped or alarmed as described above); raises
        MalformedError only if ``message`` is not a gossip message object.
        """
        self._hear(peer)
        out: list[Effect] = []
        if isinstance(message, Heads):
            for note in message.notes:
                self._on_note(peer, note, now, out)
            if message.reply:
                self._push_evidence_to(peer, out)
                out.append(Send(peer, Heads(self._heads(), reply=False)))
        elif isinstance(message, EvidencePush):
            self._on_evidence(peer, message.text, out)
        elif isinstance(message, EvidenceAck):
            self._acked.setdefault(message.evidence_id, set()).add(peer)
            self._unacked_sent.get(message.evidence_id, {}).pop(peer, None)
        elif isinstance(message, ProofRequest):
            if message.origin == self._own:
                out.append(ServeProof(peer, message))
        elif isinstance(message, ProofResponse):
            self._on_cosign_proof(peer, message, out)
            self._on_proof(peer, message, now, out)
        else:
            raise MalformedError(f"not a gossip message: {type(message).__name__}")
        return out

    def cosigned(self, origin: str, note: bytes, cosignature: Cosignature) -> list[Effect]:
        """The node's witness cosigned ``note`` (a ``Cosign`` effect's): attach it to the head.

        Returns [Persist] of the head with the cosignature, or [] if ``note``
        is no longer the head of ``origin`` (a newer head was accepted since).
        Never raises.
        """
        st = self._origins.get(origin)
        if st is None or st.head is None or _body(st.head) != _body(note):
            return []
        st.head = add_cosignatures(st.head, [cosignature])
        return [Persist("head", origin, st.head)]

    def cosign_refused(self, origin: str, note: bytes, known_size: int) -> list[Effect]:
        """The witness did not cosign ``note``: it last cosigned a tree of ``known_size``.

        If that tree is smaller than the note's and ``note`` is still the head,
        a proof from ``known_size`` is asked of the origin's server (the sender
        of the head when none is configured) and its answer becomes a new
        ``Cosign`` effect. Otherwise (the witness is at or past the note's
        size, or the head moved on) nothing is done. Never raises.
        """
        st = self._origins.get(origin)
        if st is None or st.head is None or st.head_cp is None or _body(st.head) != _body(note):
            return []
        size = st.head_cp.size
        if not 0 < known_size < size or origin == self._own or st.evidence_id is not None:
            return []
        key = (known_size, size)
        if key in st.cosign_pending:
            return []
        server = st.info.server or st.head_from
        if server is None:
            return []
        st.cosign_pending[key] = _CosignPending(note, server, self.round)
        return [Send(server, ProofRequest(origin, *key))]

    def _on_cosign_proof(self, peer: str, msg: ProofResponse, out: list[Effect]) -> None:
        st = self._origins.get(msg.origin)
        if st is None:
            return
        c = st.cosign_pending.get((msg.old_size, msg.new_size))
        if c is None or peer != c.server:
            return
        del st.cosign_pending[(msg.old_size, msg.new_size)]
        # Not checked here: the witness's gate checks the proof against the root it last cosigned.
        out.append(Cosign(msg.origin, c.note, msg.old_size, rfc_proof(msg.old_size, msg.proof)))

    # ------------------------------------------------------------ checkpoints

    def _heads(self) -> tuple[bytes, ...]:
        return tuple(st.head for st in self._origins.values() if st.head is not None)

    def _origin_of_note(self, note: bytes) -> str | None:
        cut = note.find(b"\n")
        try:
            origin = note[:cut].decode("utf-8") if cut > 0 else None
        except UnicodeDecodeError:
            return None
        return origin if origin in self._origins else None

    def _on_note(self, peer: str, note: bytes, now: float, out: list[Effect]) -> None:
        origin = self._origin_of_note(note)
        if origin is None or origin == self._own:
            return  # SPEC: tlog-witness — unknown origins are not followed; our own log's heads come from publish
        st = self._origins[origin]
        body = _body(note)
        if st.evidence_id is not None or body in st.bodies:
            return
        try:
            signed = open_checkpoint(note, st.info.verifier, self._cosigners)
        except WitnessError:
            return  # bad signature or malformed: dropped, never an alarm
        self._seen(st, body)
        cp = signed.checkpoint
        if cp.size == 0 and cp.root_hash != EMPTY_ROOT:
            return  # RFC 9162 §2.1.1: not a tree; nothing to compare
        canonical = log_signature_only(note, st.info.verifier)
        known = st.notes.get(cp.size)
        if known is None and st.head_cp is not None and st.head_cp.size == cp.size:
            known = (log_signature_only(st.head, st.info.verifier), st.head_cp)
        if known is not None and known[1].root_hash != cp.root_hash:
            # RFC 9162 §2.1.1: one size, one root. The log signed two trees.
            self._convict(origin, same_size_evidence(known[0], canonical, st.info.verifier), out)
            return
        self._remember(st, canonical, cp)
        head = st.head_cp
        if head is None or (head.size == 0 and cp.size > 0):
            # RFC 9162 §2.1.2: the empty tree is a prefix of every tree; no proof to ask for.
            self._accept(st, canonical, cp, now, out, signed.cosignatures, sender=peer)
        elif cp.size > head.size:
            self._request(st, (log_signature_only(st.head, st.info.verifier), head), (canonical, cp), peer, out)
        elif 0 < cp.size < head.size:
            self._request(st, (canonical, cp), (log_signature_only(st.head, st.info.verifier), head), peer, out)

    def _remember(self, st: _Origin, canonical: bytes, cp: Checkpoint) -> None:
        st.notes[cp.size] = (canonical, cp)
        self._seen(st, _body(canonical))
        while len(st.notes) > self.config.notes_per_origin:
            st.notes.popitem(last=False)

    def _seen(self, st: _Origin, body: bytes) -> None:
        st.bodies[body] = None
        while len(st.bodies) > 4 * self.config.notes_per_origin:
            st.bodies.popitem(last=False)

    def _accept(
        self,
        st: _Origin,
        canonical: bytes,
        cp: Checkpoint,
        now: float,
        out: list[Effect],
        cosigs: Sequence[Cosignature] = (),
        *,
        old_size: int = 0,
        proof: tuple[bytes, ...] = (),
        sender: str | None = None,
    ) -> None:
        note = add_cosignatures(canonical, cosigs) if cosigs else canonical
        if st.head_cp is None or cp.size > st.head_cp.size:
            st.advanced_round, st.stale_reported = self.round, False
        st.head, st.head_cp, st.head_from = note, cp, sender
        st.cosign_pending.clear()  # proofs asked for an older head are of no use now
        out.append(Persist("head", cp.origin, note))
        if self._witness:
            out.append(Cosign(cp.origin, canonical, old_size, proof))

    def _request(self, st: _Origin, old: _Signed, new: _Signed, peer: str, out: list[Effect]) -> None:
        key = (old[1].size, new[1].size)
        if key in st.pending:
            return
        if len(st.pending) >= self.config.pending_per_origin:
            del st.pending[next(iter(st.pending))]
        server = st.info.server or peer
        st.pending[key] = _Pending(old, new, server, self.round)
        out.append(Send(server, ProofRequest(old[1].origin, *key)))

    def _retry_proofs(self, out: list[Effect]) -> None:
        for origin, st in self._origins.items():
            for p in self._retry(origin, st.pending, out):
                # Forget the note was seen, so that it is checked again when it next comes
                # (from its log's server, or a peer that can prove it): a relay that cannot
                # prove it must not leave the head stuck until a newer checkpoint.
                st.bodies.pop(_body(p.new[0]), None)
            self._retry(origin, st.cosign_pending, out)

    def _retry(self, origin: str, table: dict, out: list[Effect]) -> list:
        """Ask again for each request in ``table`` due a retry; remove and return those out of attempts."""
        cfg = self.config
        dropped = []
        for key, p in list(table.items()):
            if self.round - p.sent_round < cfg.proof_retry_rounds:
                continue
            if p.attempts >= cfg.proof_attempts:
                dropped.append(table.pop(key))
                continue
            p.attempts += 1
            p.sent_round = self.round
            out.append(Send(p.server, ProofRequest(origin, *key)))
        return dropped

    def _on_proof(self, peer: str, msg: ProofResponse, now: float, out: list[Effect]) -> None:
        st = self._origins.get(msg.origin)
        if st is None or st.evidence_id is not None:
            return
        p = st.pending.get((msg.old_size, msg.new_size))
        if p is None or peer != p.server:
            return  # not asked for, or not from whom we asked
        (old_note, old), (new_note, new) = p.old, p.new
        try:
            old_root, new_root = full_proof_roots(old.size, new.size, msg.proof)
        except VerificationError:
            old_root = new_root = b""
        if new_root != new.root_hash:
            del st.pending[(msg.old_size, msg.new_size)]
            detail = f"proof {old.size}->{new.size} does not lead to the signed root"
            out.append(Alarm("bad-proof", msg.origin, detail, peer=peer))
            return
        del st.pending[(msg.old_size, msg.new_size)]
        if old_root != old.root_hash:
            # The log's own size-new tree says its first old.size leaves hash to another root.
            self._convict(msg.origin, prefix_evidence(old_note, new_note, msg.proof, st.info.verifier), out)
            return
        head = st.head_cp
        if head is not None and new.size > head.size:
            if head.size == old.size and head.root_hash == old.root_hash:
                proof = rfc_proof(old.size, msg.proof)
                self._accept(st, new_note, new, now, out, old_size=old.size, proof=proof, sender=peer)
            else:  # the head moved while we waited: prove from where we are now
                self._request(st, (log_signature_only(st.head, st.info.verifier), head), p.new, peer, out)

    # ------------------------------------------------------------ evidence

    def _convict(self, origin: str, evidence: Evidence, out: list[Effect]) -> None:
        text = format_evidence(evidence)
        self._spread_new(origin, text, f"{origin} signed two incompatible histories", out)

    def _spread_new(self, origin: str, text: bytes, detail: str, out: list[Effect]) -> str:
        """Hold, persist, alarm, and push new evidence at once to peers that have not acknowledged it."""
        eid = self._hold_evidence(origin, text)
        out.append(Persist("evidence", eid, text))
        out.append(Alarm("equivocation", origin, detail, eid))
        n = self.config.evidence_fanout
        candidates = [p for p in self._peers if p not in self._acked[eid]]
        targets = candidates if n is None else self._rng.sample(candidates, min(n, len(candidates)))
        for peer in targets:
            self._send_evidence(peer, eid, text, out)
        return eid

    def _hold_evidence(self, origin: str, text: bytes) -> str:
        eid = evidence_id(text)
        st = self._origins[origin]
        st.evidence_id = eid
        st.pending.clear()
        self._evidence[eid] = (origin, text)
        self._acked.setdefault(eid, set())
        self._unacked_sent.setdefault(eid, {})
        return eid

    def _send_evidence(self, peer: str, eid: str, text: bytes, out: list[Effect]) -> None:
        self._unacked_sent[eid][peer] = self.round
        out.append(Send(peer, EvidencePush(text)))

    def _push_evidence_to(self, peer: str, out: list[Effect]) -> None:
        for eid, (_, text) in self._evidence.items():
            if peer not in self._acked[eid] and self._unacked_sent[eid].get(peer) != self.round:
                self._send_evidence(peer, eid, text, out)

    def _retry_evidence(self, out: list[Effect]) -> None:
        for eid, sent in self._unacked_sent.items():
            text = self._evidence[eid][1]
            for peer, last in list(sent.items()):
                if last < self.round:
                    self._send_evidence(peer, eid, text, out)

    def _on_evidence(self, peer: str, text: bytes, out: list[Effect]) -> None:
        eid = evidence_id(text)
        if eid in self._evidence:
            out.append(Send(peer, EvidenceAck(eid)))
            return
        try:
            parsed = parse_evidence(text)
        except MalformedError:
            return
        st = self._origins.get(parsed.origin)
        if st is None or st.evidence_id is not None:
            # Not followed here (cannot be checked, not spread), or the origin is already proven
            # (one proof suffices): acknowledged all the same, so the sender stops re-sending.
            out.append(Send(peer, EvidenceAck(eid)))
            return
        try:
            verify_evidence(text, st.info.verifier)
        except WitnessError:
            return  # invalid evidence is dropped, never alarmed
        self._acked[eid] = {peer}  # the sender holds it
        self._spread_new(parsed.origin, text, f"evidence received that {parsed.origin} equivocated", out)
        out.append(Send(peer, EvidenceAck(eid)))

    # ------------------------------------------------------------ staleness

    def _hear(self, peer: str) -> None:
        if peer in self._heard:
            self._heard.move_to_end(peer)
            self._heard[peer] = self.round
        elif peer in self._silent:
            self._silent.discard(peer)
            self._heard[peer] = self.round

    def _check_stale(self, out: list[Effect]) -> None:
        n = self.config.stale_peer_rounds
        if n:
            while self._heard:
                peer, last = next(iter(self._heard.items()))
                if self.round - last < n:
                    break
                del self._heard[peer]
                self._silent.add(peer)
                out.append(Stale("peer", peer, self.round - last))
        m = self.config.stale_origin_rounds
        if m:
            for origin, st in self._origins.items():
                if origin != self._own and not st.stale_reported and self.round - st.advanced_round >= m:
                    st.stale_reported = True
                    out.append(Stale("origin", origin, self.round - st.advanced_round))
