"""A malicious log operator attacks a real node's witness key through every door, with SIGKILLs between.

The operator holds its log key and its witness key (so its gossip is
authenticated) and keeps two forks of its log, A and B, which share their
first 10 leaves. Against one ``pypi-witness serve`` process it sends, in
turn, interleaved and at once: add-checkpoint calls (gRPC) for either fork,
gossip ``Exchange`` calls carrying heads of either fork (asking for a reply
and not), proofs for the proof requests the node sends back, smaller trees
after bigger ones; and it kills the node with SIGKILL between phases.

Every cosignature the node's witness key makes is collected (add-checkpoint
answers, and the node's heads in every gossip reply). Checked at the end:
never two roots for one size, never both forks past the fork point, never a
size going down as time goes on; and both doors did cosign something.
"""

from __future__ import annotations

import itertools
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import trio

from pypi_witness.core.tlog import merkle
from pypi_witness.core.tlog.checkpoint import Checkpoint, sign_checkpoint
from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint
from pypi_witness.core.gossip.messages import Heads, ProofRequest, ProofResponse
from pypi_witness.core.tlog.note import ALG_COSIGNATURE_V1, Signer, Verifier
from pypi_witness.core.tlog.witness import open_cosignature
from pypi_witness.core.errors import ConflictError, WitnessError
from pypi_witness.signing.log import init_log
from pypi_witness.rpc.client import LogClient
from pypi_witness.rpc.gossip_service import GossipClient
from pypi_witness.rpc.witness_client import WitnessClient
from pypi_witness.signing.witness import init_witness_key
from tests.rpc.support import free_port, vkey

EVIL = "evil.test/log"
FORK_AT = 10
TOP = 48


class Fork:
    """One history of the operator's log: the shared first FORK_AT leaves, then its own."""

    def __init__(self, name: str, log: Signer) -> None:
        leaves = [b"shared %d" % i if i < FORK_AT else b"%s %d" % (name.encode(), i) for i in range(TOP)]
        self.hashes = merkle.hash_reader_for([merkle.leaf_hash(leaf) for leaf in leaves])
        self.log = log

    def root(self, size: int) -> bytes:
        return merkle.tree_root(size, self.hashes)

    def proof(self, old: int, new: int) -> tuple[bytes, ...]:
        return tuple(merkle.consistency_proof(old, new, self.hashes)) if 0 < old < new else ()

    def full_proof(self, old: int, new: int) -> tuple[bytes, ...]:
        return tuple(merkle.full_consistency_proof(old, new, self.hashes))

    def note(self, size: int) -> bytes:
        return sign_checkpoint(Checkpoint(EVIL, size, self.root(size)), self.log)


class Collected:
    """Every cosignature by the node's witness key of the operator's log: (size, root, timestamp, door)."""

    def __init__(self, log: Verifier, witness: Verifier, forks: dict[str, Fork]) -> None:
        self.log, self.witness, self.forks = log, witness, forks
        self.seen: set[tuple[int, bytes, int, str]] = set()

    def from_notes(self, notes, door: str) -> None:
        for note in notes:
            if not note.startswith(EVIL.encode() + b"\n"):
                continue
            signed = open_checkpoint(note, self.log, [self.witness])  # raises if a cosignature fails
            for c in signed.cosignatures:
                self.seen.add((signed.checkpoint.size, signed.checkpoint.root_hash, c.timestamp, door))

    def check(self) -> None:
        roots: dict[int, set[bytes]] = {}
        for size, root, _, _ in self.seen:
            roots.setdefault(size, set()).add(root)
        assert all(len(r) == 1 for r in roots.values()), f"two roots cosigned for one size: {roots}"
        branches = {
            name for size, root, _, _ in self.seen if size > FORK_AT for name, f in self.forks.items() if f.root(size) == root
        }
        assert len(branches) <= 1, "both forks were cosigned"
        for (s1, _, t1, _), (s2, _, t2, _) in itertools.combinations(sorted(self.seen, key=lambda s: s[2]), 2):
            assert not (t1 < t2 and s2 < s1), f"size {s2} cosigned after size {s1}"
        doors = {door for *_, door in self.seen}
        assert doors == {"add-checkpoint", "gossip"}, f"only {doors} cosigned anything: the test proved too little"


def start(config: Path, log_file: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pypi_witness.cli", "serve", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=open(log_file, "ab"),  # noqa: SIM115 - the child owns it
    )


async def wait_serving(address: str) -> None:
    with trio.fail_after(30):
        async with LogClient(address) as client:
            while True:
                try:
                    await client.checkpoint()
                    return
                except WitnessError:
                    await trio.sleep(0.05)


async def test_one_witness_key_never_cosigns_two_forks_or_a_smaller_tree_through_any_door(tmp_path):
    victim = tmp_path / "victim"
    init_log(victim, "victim.test/log").close()
    init_witness_key(victim, "victim.test/log/witness")
    witness_vkey = vkey(victim / "witness.vkey")
    log = Signer.from_seed(EVIL, b"E" * 32)
    evil_witness = Signer.from_seed(f"{EVIL}/witness", b"V" * 32, ALG_COSIGNATURE_V1)
    forks = {"a": Fork("a", log), "b": Fork("b", log)}
    port = free_port()
    address = f"127.0.0.1:{port}"
    config = tmp_path / "victim.toml"
    config.write_text(
        f'[node]\ndata_dir = "victim"\nlisten = "{address}"\n'
        "[limits]\nstop_grace_seconds = 1\n"
        "[gossip]\ninterval = 0.2\njitter = 0.05\nstale_peer_rounds = 0\nstale_origin_rounds = 0\ntimeout_seconds = 0.5\n"
        # The operator's address answers nothing: the node's own calls to it fail, its replies carry all.
        f'[[peers]]\nname = "evil"\naddress = "127.0.0.1:{free_port()}"\n'
        f'log_vkey = "{log.verifier().vkey()}"\nwitness_vkey = "{evil_witness.verifier().vkey()}"\n'
    )
    collected = Collected(log.verifier(), witness_vkey, forks)
    rng = random.Random(7)
    log_file = tmp_path / "victim.log"
    process = start(config, log_file)

    async def add(fork: str, old: int, new: int) -> None:
        """Add-checkpoint of ``fork`` at ``new``; told another old size, try again from it with the fork's proof."""
        note = forks[fork].note(new)
        async with WitnessClient(address) as client:
            for _ in range(2):
                try:
                    answer = await client.add_checkpoint(old, forks[fork].proof(old, new), note)
                    break
                except ConflictError as e:
                    if e.known_size is None or e.known_size > new:
                        return
                    old = e.known_size
                except WitnessError:
                    return
            else:
                return
        open_cosignature(note, answer, log.verifier(), witness_vkey)  # raises unless it verifies
        collected.from_notes([note + answer], "add-checkpoint")

    async def gossip(gossip_client: GossipClient, fork: str, size: int, reply: bool = True) -> None:
        """Send a head of ``fork``; answer the proof requests that come back from that fork; collect heads."""
        messages = [Heads((forks[fork].note(size),), reply=reply)]
        for _ in range(4):
            try:
                answers = await gossip_client.exchange(messages)
            except WitnessError:
                return
            collected.from_notes([n for m in answers if isinstance(m, Heads) for n in m.notes], "gossip")
            requests = [m for m in answers if isinstance(m, ProofRequest) and m.origin == EVIL]
            if not requests:
                return
            messages = [
                ProofResponse(EVIL, r.old_size, r.new_size, forks[fork].full_proof(r.old_size, r.new_size))
                for r in requests
                if 0 < r.old_size < r.new_size <= TOP
            ] + [Heads((), reply=True)]

    async def harvest(gossip_client: GossipClient) -> None:
        """Let the node's witness finish, then collect the heads it holds now."""
        for _ in range(3):
            await trio.sleep(0.3)
            try:
                answers = await gossip_client.exchange([Heads((), reply=True)])
            except WitnessError:
                continue
            collected.from_notes([n for m in answers if isinstance(m, Heads) for n in m.notes], "gossip")

    def kill_and_restart() -> subprocess.Popen:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=15)
        return start(config, log_file)

    try:
        gossip_client = GossipClient(address, evil_witness.name, evil_witness, time.time)
        try:
            await wait_serving(address)
            # 0. Honest growth by gossip: the gossip door cosigns (first use, then with a proof).
            await gossip(gossip_client, "a", 5)
            await harvest(gossip_client)  # the cosignature of 5 is on the head only until 8 replaces it
            await gossip(gossip_client, "a", 8)
            await harvest(gossip_client)
            # 1. Fork A by add-checkpoint, then fork B at the same size by gossip (first use there).
            await add("a", 8, 12)
            await gossip(gossip_client, "b", 12)
            await harvest(gossip_client)
            # 2. Fork B grown past it with B's own proof, by gossip and by add-checkpoint.
            await add("a", 12, 20)
            await gossip(gossip_client, "b", 20)
            await add("b", 12, 20)
            await add("b", FORK_AT, 24)
            await harvest(gossip_client)
            process = kill_and_restart()
            await wait_serving(address)
            # 3. A bigger tree by add-checkpoint, then smaller ones by gossip (asking a reply and not).
            await add("a", 20, 36)
            await gossip(gossip_client, "a", 30)
            await gossip(gossip_client, "a", 28, reply=False)
            await harvest(gossip_client)
            process = kill_and_restart()
            await wait_serving(address)
            # 4. Everything at once: both doors, both forks, random sizes.
            async with trio.open_nursery() as nursery:
                for _ in range(40):
                    fork, new = rng.choice("ab"), rng.randrange(1, TOP)
                    if rng.random() < 0.5:
                        nursery.start_soon(add, fork, rng.randrange(0, new + 1), new)
                    else:
                        nursery.start_soon(gossip, gossip_client, fork, new, rng.random() < 0.7)
            await harvest(gossip_client)
            process = kill_and_restart()
            await wait_serving(address)
            # 5. After the last restart: the honest fork grows by gossip only, and the fork tries again.
            await gossip(gossip_client, "a", TOP)
            await gossip(gossip_client, "b", TOP - 1)
            await add("b", 0, TOP - 1)
            await harvest(gossip_client)
        finally:
            gossip_client.close()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    collected.check()
    assert {size for size, *_, door in collected.seen if door == "gossip"} >= {5, 8}
    assert "Traceback" not in log_file.read_text(errors="replace")
