"""The gossip machine alone: machines and logs shuttled in memory, h11 style."""

from __future__ import annotations

import random
from collections import deque

import pytest

from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint
from pypi_witness.core.tlog.evidence import (
    PREFIX,
    SAME_SIZE,
    parse_evidence,
    verify_evidence,
)
from pypi_witness.core.gossip.machine import (
    Alarm,
    Cosign,
    GossipConfig,
    GossipMachine,
    OriginInfo,
    Persist,
    Send,
    ServeProof,
    Stale,
)
from pypi_witness.core.gossip.messages import (
    EvidenceAck,
    EvidencePush,
    Heads,
    ProofRequest,
    ProofResponse,
)
from pypi_witness.core.tlog.note import ALG_COSIGNATURE_V1, Signer
from pypi_witness.core.errors import ConfigError, ConflictError, MalformedError, WitnessError
from pypi_witness.store.witness_state import MemoryWitnessState
from pypi_witness.signing.witness import Witness
from pypi_witness.sim.logs import ForkingLog, SimLog

ORIGIN = "log.example"


class Shuttle:
    """Machines and logs in one process; ``deliver`` carries Sends until the network is quiet."""

    def __init__(self, log, names=("m1", "m2"), config: GossipConfig | None = None, drop=None) -> None:
        self.log = log
        self.config = config or GossipConfig(interval=1.0, jitter=0.0, stale_peer_rounds=0, stale_origin_rounds=0)
        self.witness_keys = {
            n: Signer.from_seed(n, bytes([i + 9]) * 32, ALG_COSIGNATURE_V1) for i, n in enumerate(names)
        }
        cosigners = [k.verifier() for k in self.witness_keys.values()]
        # Each machine's witness: the production signing gate over an in-memory state.
        self.witnesses = {
            n: Witness(MemoryWitnessState(), self.witness_keys[n], {ORIGIN: (log.verifier,)}, clock=lambda: int(self.now))
            for n in names
        }
        self.machines = {
            n: GossipMachine(
                n,
                names,
                {ORIGIN: OriginInfo(log.verifier, ORIGIN)},
                self.config,
                random.Random(i),
                0.0,
                witness=True,
                cosigners=cosigners,
            )
            for i, n in enumerate(names)
        }
        self.now = 0.0
        self.effects: dict[str, list] = {n: [] for n in names}
        self.sent: list[tuple[str, str, object]] = []
        self.drop = drop or (lambda sender, peer, message: False)

    def deliver(self, sender: str, effects: list) -> None:
        queue = deque((sender, e) for e in effects)
        while queue:
            src, effect = queue.popleft()
            self.effects[src].append(effect)
            if isinstance(effect, Cosign):
                queue.extend((src, e) for e in self.cosign(src, effect))
                continue
            if not isinstance(effect, Send):
                continue
            self.sent.append((src, effect.peer, effect.message))
            if self.drop(src, effect.peer, effect.message):
                continue
            if effect.peer == ORIGIN:
                reply = self.log.answer(src, effect.message)
                queue.extend((src, e) for e in self.machines[src].receive(ORIGIN, reply, self.now))
            else:
                queue.extend(
                    (effect.peer, e) for e in self.machines[effect.peer].receive(src, effect.message, self.now)
                )

    def cosign(self, name: str, effect: Cosign) -> list:
        """Carry out ``effect`` as the node's host does: through the witness's gate, the answer fed back."""
        machine = self.machines[name]
        try:
            cosignature = self.witnesses[name].cosign_proven(effect.note, effect.old_size, effect.proof)
        except ConflictError as e:
            return machine.cosign_refused(effect.origin, effect.note, e.known_size)
        except WitnessError:
            return []
        return machine.cosigned(effect.origin, effect.note, cosignature)

    def push_head(self, name: str) -> None:
        """The log shows ``name`` its current head."""
        self.deliver(name, self.machines[name].receive(ORIGIN, Heads((self.log.head(name),), reply=False), self.now))

    def round(self) -> None:
        self.now += 1.0
        for name, m in self.machines.items():
            self.deliver(name, m.tick(self.now))

    def of(self, name: str, kind: type) -> list:
        return [e for e in self.effects[name] if isinstance(e, kind)]


def size_of(note: bytes | None) -> int:
    assert note is not None
    return int(note.split(b"\n")[1])


# ---------------------------------------------------------------- honest logs


def test_heads_spread_and_growth_is_accepted_only_with_a_proof() -> None:
    log = SimLog(ORIGIN, b"\x01" * 32)
    log.grow(5)
    s = Shuttle(log)
    s.push_head("m1")
    assert size_of(s.machines["m1"].head(ORIGIN)) == 5  # first head: trust on first use
    s.round()
    assert size_of(s.machines["m2"].head(ORIGIN)) == 5
    # The head m2 holds carries m1's and m2's cosignatures, both verifiable.
    signed = open_checkpoint(
        s.machines["m2"].head(ORIGIN), log.verifier, [k.verifier() for k in s.witness_keys.values()]
    )
    assert {c.name for c in signed.cosignatures} == {"m1", "m2"}
    log.grow(7)
    s.push_head("m1")
    requests = [msg for _, peer, msg in s.sent if isinstance(msg, ProofRequest)]
    assert requests == [ProofRequest(ORIGIN, 5, 12)]
    assert size_of(s.machines["m1"].head(ORIGIN)) == 12
    s.round()
    assert size_of(s.machines["m2"].head(ORIGIN)) == 12
    assert [e.data for e in s.of("m2", Persist)][-1] == s.machines["m2"].head(ORIGIN)
    assert not s.of("m1", Alarm) and not s.of("m2", Alarm)


def test_a_larger_head_is_not_accepted_while_its_proof_is_missing() -> None:
    log = SimLog(ORIGIN, b"\x01" * 32)
    log.grow(4)
    s = Shuttle(log, drop=lambda src, peer, msg: isinstance(msg, ProofRequest))
    s.push_head("m1")
    log.grow(4)
    s.push_head("m1")
    assert size_of(s.machines["m1"].head(ORIGIN)) == 4
    for _ in range(5):
        s.round()
    asked = [msg for _, _, msg in s.sent if isinstance(msg, ProofRequest)]
    assert len(asked) == 3  # the first request and two retries (proof_attempts = 3), then it gives up
    assert size_of(s.machines["m1"].head(ORIGIN)) == 4


def test_replayed_old_heads_are_not_equivocation() -> None:
    log = SimLog(ORIGIN, b"\x01" * 32)
    old = log.grow(3)
    log.grow(3)
    s = Shuttle(log)
    s.push_head("m1")  # m1 joins at size 6 and has never seen size 3
    s.deliver("m1", s.machines["m1"].receive("m2", Heads((old,)), s.now))
    assert [m for _, _, m in s.sent if isinstance(m, ProofRequest)] == [ProofRequest(ORIGIN, 3, 6)]
    assert size_of(s.machines["m1"].head(ORIGIN)) == 6
    # Seen before: recognised without asking again.
    s.deliver("m1", s.machines["m1"].receive("m2", Heads((old,)), s.now))
    assert len([m for _, _, m in s.sent if isinstance(m, ProofRequest)]) == 1
    assert not s.of("m1", Alarm) and not s.machines["m1"].evidence()


def test_bad_signatures_and_unknown_origins_are_dropped_silently() -> None:
    log = SimLog(ORIGIN, b"\x01" * 32)
    note = log.grow(2)
    s = Shuttle(log)
    forged = SimLog(ORIGIN, b"\x02" * 32).grow(2)
    stranger = SimLog("other.example", b"\x03" * 32).grow(2)
    garbage = b"log.example\nnot a note"
    effects = s.machines["m1"].receive("m2", Heads((forged, stranger, garbage), reply=False), 0.0)
    assert effects == [] and s.machines["m1"].head(ORIGIN) is None
    s.deliver("m1", s.machines["m1"].receive("m2", Heads((note,), reply=False), 0.0))
    assert size_of(s.machines["m1"].head(ORIGIN)) == 2


def test_a_proof_that_leads_nowhere_is_a_bad_proof_alarm_not_evidence() -> None:
    log = SimLog(ORIGIN, b"\x01" * 32)
    log.grow(5)
    s = Shuttle(log)
    s.push_head("m1")
    log.grow(5)
    m1 = s.machines["m1"]
    effects = m1.receive(ORIGIN, Heads((log.head(),), reply=False), 0.0)
    assert effects == [Send(ORIGIN, ProofRequest(ORIGIN, 5, 10))]
    good = log.answer("m1", ProofRequest(ORIGIN, 5, 10))
    bad = ProofResponse(ORIGIN, 5, 10, (bytes(32),) + good.proof[1:])
    assert m1.receive("m2", bad, 0.0) == []  # not from the server asked
    effects = m1.receive(ORIGIN, bad, 0.0)
    assert [type(e) for e in effects] == [Alarm] and effects[0].kind == "bad-proof"
    assert size_of(m1.head(ORIGIN)) == 5 and not m1.evidence() and not m1.refuses_to_cosign(ORIGIN)


# ---------------------------------------------------------------- equivocation


def forking(assignment: dict[str, str], fork_at: int = 3) -> ForkingLog:
    return ForkingLog(ORIGIN, b"\x05" * 32, fork_at, assignment)


def test_same_size_split_view_is_caught_by_both_machines() -> None:
    log = forking({"m1": "a", "m2": "b"})
    log.grow(6)
    s = Shuttle(log)
    s.push_head("m1")
    s.push_head("m2")
    s.round()
    for name in ("m1", "m2"):
        m = s.machines[name]
        assert m.refuses_to_cosign(ORIGIN)
        evidence = verify_evidence(m.evidence_for(ORIGIN), log.verifier)
        assert evidence.kind == SAME_SIZE
        alarms = s.of(name, Alarm)
        assert [a.kind for a in alarms] == ["equivocation"] and alarms[0].evidence_id in m.evidence()
        # The head (first use), the head with its own witness's cosignature, the evidence.
        assert [p.kind for p in s.of(name, Persist)] == ["head", "head", "evidence"]
    # One evidence, acknowledged both ways: nothing is re-sent afterwards.
    before = len(s.sent)
    s.round()
    assert not [m for _, _, m in s.sent[before:] if isinstance(m, EvidencePush)]


def test_prefix_evidence_from_the_logs_own_proof() -> None:
    log = forking({"m1": "a", "m2": "b"})
    log.grow(5)
    b5 = log.head("m2")
    log.grow(4)
    s = Shuttle(log)
    s.deliver("m1", s.machines["m1"].receive("m2", Heads((b5,), reply=False), 0.0))  # m1 first sees b
    s.push_head("m1")  # then the log shows m1 its branch a at size 9, and proves 5 -> 9 from a
    m1 = s.machines["m1"]
    assert m1.refuses_to_cosign(ORIGIN)
    evidence = verify_evidence(m1.evidence_for(ORIGIN), log.verifier)
    assert evidence.kind == PREFIX and [c.size for c in evidence.checkpoints()] == [5, 9]


def test_evidence_is_resent_until_acknowledged_and_always_acknowledged() -> None:
    log = forking({"m1": "a", "m2": "b"})
    log.grow(6)
    dropped: list[object] = []

    def drop(src, peer, msg):
        if isinstance(msg, EvidencePush) and src == "m1" and len(dropped) < 2:
            dropped.append(msg)
            return True
        return False

    s = Shuttle(log, names=("m1", "m2", "m3"), drop=drop)
    s.push_head("m1")
    a6 = log.head("m1")
    s.deliver("m1", s.machines["m1"].receive("m2", Heads((log.head("m2"),), reply=False), 0.0))
    assert s.machines["m1"].refuses_to_cosign(ORIGIN) and len(dropped) == 2  # pushed to m2 and m3, both lost
    assert not s.machines["m2"].evidence()
    s.round()
    for name in ("m2", "m3"):
        assert s.machines[name].refuses_to_cosign(ORIGIN)
    eid = next(iter(s.machines["m1"].evidence()))
    # Already held: still acknowledged, never silently dropped.
    assert s.machines["m2"].receive("m3", EvidencePush(s.machines["m1"].evidence()[eid]), 0.0) == [
        Send("m3", EvidenceAck(eid))
    ]
    # Once every peer acknowledged, no more pushes; heads for the proven origin are ignored.
    before = len(s.sent)
    s.round()
    assert not [m for _, _, m in s.sent[before:] if isinstance(m, EvidencePush)]
    assert s.machines["m3"].receive("m1", Heads((a6,), reply=False), 0.0) == []


def test_invalid_evidence_is_dropped_without_an_ack() -> None:
    log = forking({"m1": "a", "m2": "b"})
    log.grow(6)
    s = Shuttle(log)
    s.push_head("m1")
    s.deliver("m1", s.machines["m1"].receive("m2", Heads((log.head("m2"),), reply=False), 0.0))
    text = s.machines["m1"].evidence_for(ORIGIN)
    m3 = GossipMachine("m3", ["m1"], {ORIGIN: OriginInfo(log.verifier)}, s.config, random.Random(3), 0.0)
    tampered = text.replace(b"same-size", b"prefix")
    assert m3.receive("m1", EvidencePush(tampered), 0.0) == []
    other = SimLog(ORIGIN, b"\x07" * 32).verifier  # right name, other key: signatures fail
    m4 = GossipMachine("m4", ["m1"], {ORIGIN: OriginInfo(other)}, s.config, random.Random(4), 0.0)
    assert m4.receive("m1", EvidencePush(text), 0.0) == [] and not m4.refuses_to_cosign(ORIGIN)
    # An origin not followed here: acknowledged (so the sender stops), but neither held nor spread.
    m5 = GossipMachine("m5", ["m1", "m6"], {}, s.config, random.Random(5), 0.0)
    assert m5.receive("m1", EvidencePush(text), 0.0) == [Send("m1", EvidenceAck(parse_evidence(text).id()))]
    assert not m5.evidence()


# ---------------------------------------------------------------- staleness, own log, restart


def test_staleness_is_reported_once_and_never_as_equivocation() -> None:
    log = SimLog(ORIGIN, b"\x01" * 32)
    log.grow(2)
    cfg = GossipConfig(interval=1.0, jitter=0.0, fanout=2, stale_peer_rounds=3, stale_origin_rounds=4)
    s = Shuttle(log, names=("m1", "m2", "m3"), config=cfg, drop=lambda src, peer, msg: "m3" in (src, peer))
    s.push_head("m1")
    for _ in range(6):
        s.round()
    stale = s.of("m1", Stale)
    assert Stale("peer", "m3", 3) in stale and Stale("origin", ORIGIN, 4) in stale
    assert len(stale) == 2 and not s.of("m1", Alarm)
    # Heard again, then silent again: reported again.
    s.machines["m1"].receive("m3", Heads((), reply=False), s.now)
    for _ in range(4):
        s.round()
    assert len([e for e in s.of("m1", Stale) if e.subject == "m3"]) == 2


def test_own_log_publish_and_serving_proofs() -> None:
    log = SimLog(ORIGIN, b"\x01" * 32)
    cfg = GossipConfig(interval=1.0, jitter=0.0)
    me = GossipMachine("me", ["m2"], {ORIGIN: OriginInfo(log.verifier)}, cfg, random.Random(1), 0.0, own_origin=ORIGIN)
    effects = me.publish(log.grow(4), 0.0)
    assert effects == [Persist("head", ORIGIN, log.head())] and me.head(ORIGIN) == log.head()
    req = ProofRequest(ORIGIN, 2, 4)
    assert me.receive("m2", req, 0.0) == [ServeProof("m2", req)]
    # Notes about our own log from peers are not taken: our log's heads come from publish.
    assert me.receive("m2", Heads((SimLog(ORIGIN, b"\x01" * 32).grow(9),), reply=False), 0.0) == []
    assert me.head(ORIGIN) == log.head()
    with pytest.raises(MalformedError, match="beyond the signed size"):
        log.answer("m2", ProofRequest(ORIGIN, 2, 40))
    with pytest.raises(ConfigError):
        GossipMachine("x", [], {ORIGIN: OriginInfo(log.verifier)}, cfg, random.Random(1), 0.0).publish(log.head(), 0.0)


def test_restore_brings_back_heads_and_evidence() -> None:
    log = forking({"m1": "a", "m2": "b"})
    log.grow(6)
    s = Shuttle(log)
    s.push_head("m1")
    s.push_head("m2")
    s.round()
    m1 = s.machines["m1"]
    fresh = GossipMachine("m1", ["m2"], {ORIGIN: OriginInfo(log.verifier, ORIGIN)}, s.config, random.Random(9), 0.0)
    fresh.restore(heads=[log.head("m1")], evidence=m1.evidence().values())
    assert fresh.refuses_to_cosign(ORIGIN) and fresh.evidence() == m1.evidence()
    assert fresh.head(ORIGIN) == log.head("m1")
    with pytest.raises(ConfigError):
        fresh.restore(heads=[SimLog("other.example", b"\x03" * 32).grow(1)])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"interval": 0},
        {"jitter": -1},
        {"fanout": 0},
        {"evidence_fanout": 0},
        {"proof_attempts": 0},
        {"stale_peer_rounds": -1},
        {"notes_per_origin": 1.5},
        {"fanout": True},
    ],
)
def test_bad_config_is_refused(kwargs) -> None:
    with pytest.raises(ConfigError):
        GossipConfig(**kwargs)


def test_verifier_named_after_another_origin_is_refused() -> None:
    log = SimLog(ORIGIN, b"\x01" * 32)
    with pytest.raises(ConfigError, match="verifier key named"):
        GossipMachine("m", [], {"x.example": OriginInfo(log.verifier)}, GossipConfig(), random.Random(1), 0.0)
    with pytest.raises(MalformedError):
        GossipMachine("m", [], {}, GossipConfig(), random.Random(1), 0.0).receive("p", "hello", 0.0)  # type: ignore[arg-type]


def test_growth_from_an_empty_head_needs_no_proof() -> None:
    from pypi_witness.core.tlog.checkpoint import Checkpoint, sign_checkpoint
    from pypi_witness.core.tlog.merkle import EMPTY_ROOT

    log = SimLog(ORIGIN, b"\x01" * 32)
    s = Shuttle(log)
    empty = sign_checkpoint(Checkpoint(ORIGIN, 0, EMPTY_ROOT), log.signer)
    s.deliver("m1", s.machines["m1"].receive(ORIGIN, Heads((empty,), reply=False), s.now))
    assert size_of(s.machines["m1"].head(ORIGIN)) == 0
    log.grow(3)
    s.push_head("m1")  # the empty tree is a prefix of every tree: nothing to prove (no request can be made)
    assert size_of(s.machines["m1"].head(ORIGIN)) == 3
    assert not [msg for _, _, msg in s.sent if isinstance(msg, ProofRequest)]
    assert not s.of("m1", Alarm)


# ---------------------------------------------------------------- liveness: a head relayed by a node that cannot prove it


def _relay_setup(server: str | None):
    """Machine ``a`` holds the log's head at 5; relay ``b`` (which cannot prove the log) brings it 12."""
    log = SimLog(ORIGIN, b"\x07" * 32)
    note5 = log.grow(5)
    config = GossipConfig(interval=1.0, jitter=0.0, stale_peer_rounds=0, stale_origin_rounds=0)
    a = GossipMachine("a", ["b", ORIGIN], {ORIGIN: OriginInfo(log.verifier, server)}, config, random.Random(3), 0.0)
    a.receive(ORIGIN, Heads((note5,), reply=False), 0.0)
    note12 = log.grow(7)
    return log, a, note12, config


def test_a_relayed_head_asks_the_logs_server_not_the_relay():
    log, a, note12, _ = _relay_setup(server=ORIGIN)
    effects = a.receive("b", Heads((note12,), reply=False), 1.0)
    assert [(e.peer, e.message) for e in effects if isinstance(e, Send)] == [(ORIGIN, ProofRequest(ORIGIN, 5, 12))]
    a.receive(ORIGIN, log.answer("a", ProofRequest(ORIGIN, 5, 12)), 1.0)
    assert size_of(a.head(ORIGIN)) == 12


def test_a_head_the_relay_could_not_prove_is_checked_again_when_its_log_brings_it():
    """Issue 11.7: the relay ignores proof requests for logs it does not run; the head must not stay stuck."""
    log, a, note12, config = _relay_setup(server=None)
    a.receive("b", Heads((note12,), reply=False), 1.0)  # asks b, which never answers
    now = 1.0
    for _ in range(config.proof_retry_rounds * (config.proof_attempts + 1)):
        now += 1.0
        a.tick(now)
    assert size_of(a.head(ORIGIN)) == 5
    # The same note, now from the log itself: checked again (not "already seen"), proven, accepted.
    effects = a.receive(ORIGIN, Heads((note12,), reply=False), now)
    assert [(e.peer, e.message) for e in effects if isinstance(e, Send)] == [(ORIGIN, ProofRequest(ORIGIN, 5, 12))]
    a.receive(ORIGIN, log.answer("a", ProofRequest(ORIGIN, 5, 12)), now)
    assert size_of(a.head(ORIGIN)) == 12
