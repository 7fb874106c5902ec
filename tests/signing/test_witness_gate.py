"""The witness key's one signing gate, attacked through each of its doors in one process.

Every door (add-checkpoint, a head the gossip accepted, the node's own log)
goes through ``Witness._cosign``; these tests try the attacks of a log that
wants two forks cosigned, or a smaller tree after a bigger one, through each
door in turn and in every order, and check that every signature the key made
lies on one history.
"""

from __future__ import annotations

import hashlib
import itertools
import random

import pytest

from pypi_witness.core.tlog import merkle
from pypi_witness.core.tlog.checkpoint import Checkpoint, parse_checkpoint, sign_checkpoint
from pypi_witness.core.tlog.cosignature import Cosignature, cosigned_message, verify_cosignature
from pypi_witness.core.gossip.machine import Cosign, GossipConfig, GossipMachine, OriginInfo, Persist, Send
from pypi_witness.core.gossip.messages import Heads, ProofRequest, ProofResponse
from pypi_witness.core.tlog.note import ALG_COSIGNATURE_V1, Signer, parse_note
from pypi_witness.core.tlog.witness import WitnessRequest, logs_by_origin
from pypi_witness.core.errors import ConfigError, ConflictError, WitnessError
from pypi_witness.store.witness_state import MemoryWitnessState
from pypi_witness.signing.witness import Witness

ORIGIN = "fork.example/log"
LOG = Signer.from_seed(ORIGIN, b"F" * 32)
KEY = Signer.from_seed("me.example/witness", b"W" * 32, ALG_COSIGNATURE_V1)
FORK_AT = 10


class Branch:
    """One history of the log: the shared first FORK_AT leaves, then leaves of its own."""

    def __init__(self, name: str, size: int = 40) -> None:
        leaves = [b"shared %d" % i if i < FORK_AT else b"%s %d" % (name.encode(), i) for i in range(size)]
        self.hashes = merkle.hash_reader_for([merkle.leaf_hash(leaf) for leaf in leaves])

    def root(self, size: int) -> bytes:
        return merkle.tree_root(size, self.hashes)

    def proof(self, old: int, new: int) -> tuple[bytes, ...]:
        return tuple(merkle.consistency_proof(old, new, self.hashes)) if 0 < old < new else ()

    def note(self, size: int) -> bytes:
        return sign_checkpoint(Checkpoint(ORIGIN, size, self.root(size)), LOG)


A, B = Branch("a"), Branch("b")


class Signed:
    """Every cosignature the witness key made, checked for one history at the end."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, bytes, int]] = []  # size, root, timestamp

    def add(self, note: bytes, cosignature: Cosignature) -> None:
        checkpoint = parse_checkpoint(parse_note(note).text)
        verify_cosignature(checkpoint, cosignature, KEY.verifier())
        self.seen.append((checkpoint.size, checkpoint.root_hash, cosignature.timestamp))

    def assert_one_history(self) -> None:
        roots: dict[int, set[bytes]] = {}
        for size, root, _ in self.seen:
            roots.setdefault(size, set()).add(root)
        assert all(len(r) == 1 for r in roots.values()), "two roots cosigned for one size"
        # Every root cosigned past the fork lies on one branch.
        branches = {b for size, root, _ in self.seen if size > FORK_AT for b in "ab" if {"a": A, "b": B}[b].root(size) == root}
        assert len(branches) <= 1, "both forks cosigned"
        ordered = sorted(self.seen, key=lambda s: s[2])
        for (s1, _, t1), (s2, _, t2) in itertools.combinations(ordered, 2):
            assert not (t1 < t2 and s2 < s1), f"size {s2} cosigned after size {s1}"


@pytest.fixture
def clock():
    return itertools.count(1_700_000_000)


@pytest.fixture
def witness(clock):
    return Witness(MemoryWitnessState(), KEY, logs_by_origin([LOG.verifier()]), clock=lambda: next(clock))


def attempt(signed: Signed, note: bytes, call) -> bool:
    """Make one signing call; keep its signature if it made one. True if it did."""
    try:
        cosignature = call()
    except WitnessError:
        return False
    signed.add(note, cosignature)
    return True


def test_gossip_cannot_cosign_another_root_at_a_size_add_checkpoint_cosigned(witness):
    signed = Signed()
    assert attempt(signed, A.note(12), lambda: witness.add_checkpoint(WitnessRequest(0, (), A.note(12))))
    # The first attack of the issue: the same size, another root, as a gossip head (first use there).
    assert not attempt(signed, B.note(12), lambda: witness.cosign_proven(B.note(12), 0, ()))
    # ... and with a valid proof of fork B from the shared prefix.
    assert not attempt(signed, B.note(12), lambda: witness.cosign_proven(B.note(12), FORK_AT, B.proof(FORK_AT, 12)))
    # The honest root again, by either door, is cosigned again.
    assert attempt(signed, A.note(12), lambda: witness.cosign_proven(A.note(12), 0, ()))
    assert attempt(signed, A.note(12), lambda: witness.add_checkpoint(WitnessRequest(12, (), A.note(12))))
    signed.assert_one_history()


def test_a_fork_grown_past_the_cosigned_size_with_its_own_proof_is_refused(witness):
    signed = Signed()
    assert attempt(signed, A.note(20), lambda: witness.add_checkpoint(WitnessRequest(0, (), A.note(20))))
    # Fork B at 20, branching after 10, sent with a 10 -> 20 proof: valid for B, not for what was cosigned.
    assert not attempt(signed, B.note(20), lambda: witness.cosign_proven(B.note(20), FORK_AT, B.proof(FORK_AT, 20)))
    assert not attempt(signed, B.note(30), lambda: witness.cosign_proven(B.note(30), 20, B.proof(20, 30)))
    assert not attempt(signed, B.note(30), lambda: witness.add_checkpoint(WitnessRequest(20, B.proof(20, 30), B.note(30))))
    signed.assert_one_history()


def test_a_smaller_tree_is_never_cosigned_after_a_bigger_one_by_any_door(witness):
    signed = Signed()
    assert attempt(signed, A.note(36), lambda: witness.add_checkpoint(WitnessRequest(0, (), A.note(36))))
    # The second attack of the issue: 36 by add-checkpoint, then 30 by gossip a moment later.
    assert not attempt(signed, A.note(30), lambda: witness.cosign_proven(A.note(30), 0, ()))
    assert not attempt(signed, A.note(30), lambda: witness.cosign_proven(A.note(30), 20, A.proof(20, 30)))
    assert not attempt(signed, A.note(30), lambda: witness.add_checkpoint(WitnessRequest(0, (), A.note(30))))
    assert not attempt(signed, A.note(30), lambda: witness.cosign_own(A.note(30), A.proof))
    signed.assert_one_history()


def test_a_gossip_head_past_the_state_needs_a_proof_from_the_size_last_cosigned(witness):
    assert witness.add_checkpoint(WitnessRequest(0, (), A.note(16)))
    # The gossip proved 20 from its own head at 12; the witness is at 16.
    with pytest.raises(ConflictError) as caught:
        witness.cosign_proven(A.note(20), 12, A.proof(12, 20))
    assert caught.value.known_size == 16
    assert witness.cosign_proven(A.note(20), 16, A.proof(16, 20))
    assert witness.state.get(ORIGIN).size == 20


def test_the_own_log_is_proven_from_the_size_last_cosigned(witness):
    asked = []

    def prove(old: int, new: int) -> tuple[bytes, ...]:
        asked.append((old, new))
        return A.proof(old, new)

    witness.cosign_own(A.note(5), prove)
    witness.cosign_own(A.note(18), prove)
    witness.cosign_own(A.note(18), prove)
    assert asked == [(5, 18)]
    # A rollback of the own log (a lost data file signed again from 0) is refused.
    with pytest.raises(WitnessError):
        witness.cosign_own(B.note(18), B.proof)
    with pytest.raises(WitnessError):
        witness.cosign_own(A.note(3), prove)


def test_random_interleavings_of_every_door_keep_one_history(clock):
    """Many runs: each call picks a door, a branch and sizes at random; the key's signatures stay on one history."""
    for seed in range(60):
        rng = random.Random(seed)
        witness = Witness(MemoryWitnessState(), KEY, logs_by_origin([LOG.verifier()]), clock=lambda: next(clock))
        signed = Signed()
        for _ in range(40):
            branch = rng.choice((A, B))
            new = rng.randrange(0, 40)
            old = rng.randrange(0, new + 1)
            note = branch.note(new)
            door = rng.randrange(3)
            if door == 0:
                call = lambda: witness.add_checkpoint(WitnessRequest(old, branch.proof(old, new), note))  # noqa: E731
            elif door == 1:
                call = lambda: witness.cosign_proven(note, old, branch.proof(old, new))  # noqa: E731
            else:
                call = lambda: witness.cosign_own(note, branch.proof)  # noqa: E731
            attempt(signed, note, call)
        signed.assert_one_history()
        assert signed.seen, "nothing was ever cosigned: the test would prove nothing"


def test_the_envelope_key_signs_only_messages_with_a_context_line_of_its_own(witness):
    envelope = witness.envelope_signer()
    message = b"pypi-witness/gossip-exchange/v1\nsender x\ntime 1\n"
    assert KEY.verifier().verify(message, envelope.sign(message))
    checkpoint = parse_checkpoint(parse_note(A.note(12)).text)
    for forged in (cosigned_message(checkpoint.body(), 1), A.note(12), b""):
        with pytest.raises(ConfigError):
            envelope.sign(forged)


# ---------------------------------------------------------------- through the gossip machine


def machine(witness_on: bool = True) -> GossipMachine:
    config = GossipConfig(interval=1.0, jitter=0.0, stale_peer_rounds=0, stale_origin_rounds=0)
    return GossipMachine(
        "me", ["evil"], {ORIGIN: OriginInfo(LOG.verifier())}, config, random.Random(1), 0.0, witness=witness_on
    )


def run(m: GossipMachine, witness: Witness, effects: list, signed: Signed) -> list:
    """Carry out Cosign effects as the node's host does; return the other effects."""
    rest = []
    queue = list(effects)
    while queue:
        effect = queue.pop(0)
        if not isinstance(effect, Cosign):
            rest.append(effect)
            continue
        try:
            cosignature = witness.cosign_proven(effect.note, effect.old_size, effect.proof)
        except ConflictError as e:
            queue += m.cosign_refused(effect.origin, effect.note, e.known_size)
            continue
        except WitnessError:
            continue
        signed.add(effect.note, cosignature)
        queue += m.cosigned(effect.origin, effect.note, cosignature)
    return rest


def test_the_machine_holds_no_key_and_every_head_it_accepts_is_offered_to_the_gate(witness):
    m, signed = machine(), Signed()
    effects = m.receive("evil", Heads((A.note(12),), reply=False), 1.0)
    assert [type(e) for e in effects] == [Persist, Cosign]
    rest = run(m, witness, effects, signed)
    assert [type(e) for e in rest] == [Persist, Persist]  # the head, then the head with its cosignature
    assert [s[0] for s in signed.seen] == [12]
    # The head now carries the witness's cosignature.
    assert parse_note(m.head(ORIGIN)).signatures[-1].name == KEY.name


def test_a_fork_shown_to_the_gossip_after_add_checkpoint_is_spread_uncosigned(witness):
    signed = Signed()
    attempt(signed, A.note(12), lambda: witness.add_checkpoint(WitnessRequest(0, (), A.note(12))))
    m = machine()
    effects = run(m, witness, m.receive("evil", Heads((B.note(12),), reply=True), 1.0), signed)
    # Accepted by the gossip (first use there), but the gate refused it: no cosignature on it.
    assert KEY.name not in {s.name for s in parse_note(m.head(ORIGIN)).signatures}
    assert any(isinstance(e, Send) for e in effects)
    signed.assert_one_history()


def test_a_gossip_head_behind_the_witness_gets_its_proof_from_the_server_and_then_its_cosignature(witness):
    """The liveness half: add-checkpoint moved the state to 16 while the gossip held 12; 20 arrives."""
    signed = Signed()
    m = machine()
    run(m, witness, m.receive("evil", Heads((A.note(12),), reply=False), 1.0), signed)
    attempt(signed, A.note(16), lambda: witness.add_checkpoint(WitnessRequest(12, A.proof(12, 16), A.note(16))))
    effects = run(m, witness, m.receive("evil", Heads((A.note(20),), reply=False), 2.0), signed)
    assert [e.message for e in effects if isinstance(e, Send)] == [ProofRequest(ORIGIN, 12, 20)]
    full = tuple(merkle.full_consistency_proof(12, 20, A.hashes))
    effects = run(m, witness, m.receive("evil", ProofResponse(ORIGIN, 12, 20, full), 2.0), signed)
    # Accepted from 12; the gate is at 16, so the machine asks for 16 -> 20 for the witness.
    assert [e.message for e in effects if isinstance(e, Send)] == [ProofRequest(ORIGIN, 16, 20)]
    full = tuple(merkle.full_consistency_proof(16, 20, A.hashes))
    run(m, witness, m.receive("evil", ProofResponse(ORIGIN, 16, 20, full), 2.0), signed)
    assert [s[0] for s in signed.seen] == [12, 16, 20]
    assert KEY.name in {s.name for s in parse_note(m.head(ORIGIN)).signatures}
    signed.assert_one_history()


def test_a_proof_for_the_witness_that_does_not_hold_is_refused_by_the_gate(witness):
    signed = Signed()
    m = machine()
    run(m, witness, m.receive("evil", Heads((A.note(12),), reply=False), 1.0), signed)
    attempt(signed, A.note(16), lambda: witness.add_checkpoint(WitnessRequest(12, A.proof(12, 16), A.note(16))))
    run(m, witness, m.receive("evil", Heads((A.note(20),), reply=False), 2.0), signed)
    run(m, witness, m.receive("evil", ProofResponse(ORIGIN, 12, 20, tuple(merkle.full_consistency_proof(12, 20, A.hashes))), 2.0), signed)
    bogus = tuple(hashlib.sha256(b"%d" % i).digest() for i in range(4))
    run(m, witness, m.receive("evil", ProofResponse(ORIGIN, 16, 20, bogus), 2.0), signed)
    assert [s[0] for s in signed.seen] == [12, 16]
    assert witness.state.get(ORIGIN).size == 16
