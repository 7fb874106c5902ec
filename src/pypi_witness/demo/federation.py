"""The federation part of ``pypi-witness demo``: three nodes witness each other, then one lies, then one forks.

Three nodes (``config.federation.create_federation``) follow one fake PyPI on
loopback, each into its own log, and cosign each other's checkpoints; each
checkpoint is shown with the cosignatures of both other nodes, checked
against the federation's policy. A client verifies a requirements file
against them, and gamma's lie about a file's hash is overruled by the
quorum (``demo_quorum``). Then gamma's operator turns rogue: gamma is
replaced, on its address and with its keys, by ``sim.forking_node``, which
extends gamma's real log in two ways (one file logged with two different
hashes) and shows alpha one branch, beta the other. Alpha and beta gossip,
catch the split view, refuse to cosign gamma again, and each holds evidence
that verifies offline with gamma's public key alone.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from pypi_witness.config.node import load_config
from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint
from pypi_witness.core.tlog.evidence import verify_evidence
from pypi_witness.core.gossip.config import GossipConfig
from pypi_witness.core.quorum.evaluation import check_checkpoint
from pypi_witness.core.records.format import FileRecord, parse_record
from pypi_witness.demo.quorum import run_quorum_part
from pypi_witness.core.errors import EquivocationError, UnavailableError, WitnessError
from pypi_witness.fakeindex import FakeIndexServer, Index
from pypi_witness.config.federation import POLICY_FILE, Member, create_federation
from pypi_witness.signing.keys import read_signer
from pypi_witness.signing.log import PRIVATE_KEY_FILE as LOG_KEY_FILE
from pypi_witness.signing.log import Log, open_log
from pypi_witness.config.policy_file import read_policy
from pypi_witness.rpc.client import LogClient
from pypi_witness.rpc.witness_client import WitnessClient
from pypi_witness.runtime.node import run_node
from pypi_witness.sim.forking_node import ForkPeer, branch_log, run_forking_node
from pypi_witness.store.gossip_state import STATE_DIR, GossipStateStore
from pypi_witness.signing.witness import PRIVATE_KEY_FILE as WITNESS_KEY_FILE
from pypi_witness.signing.witness import read_witness_key

NAMES = ("alpha", "beta", "gamma")
ROGUE = "gamma"
FEDERATION_PROJECTS = 20
# Short rounds and retries, so the whole part takes a few seconds on loopback.
INTERVAL = 0.25
NODE_CONFIG = f"""\
[limits]
stop_grace_seconds = 0.5
[witness]
retry_min_seconds = 0.1
retry_max_seconds = 0.5
[gossip]
interval = {INTERVAL}
jitter = 0.05
fanout = 2
stale_peer_rounds = 0
stale_origin_rounds = 0
timeout_seconds = 1.0
"""
WAIT_SECONDS = 30  # a bound for each wait, far above what each takes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _step(text: str) -> None:
    print(f"\n== {text}")


def run_federation(root: Path, step: Callable[[str], None] = _step) -> None:
    """Run the federation part in the new directory ``root``, printing what happens.

    Raises what ``create_federation`` raises if ``root`` cannot be set up,
    trio.TooSlowError if a step does not happen within WAIT_SECONDS, and
    WitnessError (the node's errors) if a node fails.
    """
    trio.run(_federation, root, step)


async def _federation(root: Path, step: Callable[[str], None]) -> None:
    index = Index(content_seed=11)
    index.populate(seed=11, projects=FEDERATION_PROJECTS)
    with FakeIndexServer(index) as fake:
        addresses = {name: f"127.0.0.1:{_free_port()}" for name in NAMES}
        extra = f"[index]\nurl = \"{fake.url}\"\npoll_seconds = 0.5\nrequests_per_second = 0\n" + NODE_CONFIG
        members = create_federation(root, addresses, extra_config=extra)
        step(
            f"A federation: {', '.join(NAMES)} each follow a fake PyPI on {fake.url} ({index.file_count()} files) "
            "into their own log and cosign the other two's checkpoints"
        )
        async with trio.open_nursery() as nursery:
            stops: dict[str, Callable[[], Awaitable[None]]] = {}

            async def start(name: str) -> None:
                stops[name] = await _start(nursery, run_node, load_config(members[name].config))

            async with trio.open_nursery() as starting:  # together, so peers are soon reachable
                for name in NAMES:
                    starting.start_soon(start, name)
            await _show_cosigned(members, root / POLICY_FILE, index.file_count())

            async def restart(name: str, work: Callable[[], object]) -> None:
                await stops.pop(name)()
                work()
                await start(name)

            policy = read_policy(root / POLICY_FILE)
            await run_quorum_part(root, index, members, policy, restart, step, WAIT_SECONDS)

            rogue = members[ROGUE]
            step(f"{ROGUE}'s operator turns rogue: same keys, same address, and its log grows two ways")
            await stops.pop(ROGUE)()
            branches, fork_note, peers = _fork(rogue, members)
            await _start(
                nursery,
                run_forking_node,
                rogue.address,
                root / "forking-node",
                read_signer(rogue.data_dir / LOG_KEY_FILE),
                read_witness_key(rogue.data_dir / WITNESS_KEY_FILE),
                branches,
                peers,
                GossipConfig(interval=INTERVAL, jitter=0.05, fanout=2, stale_peer_rounds=0, stale_origin_rounds=0),
            )
            honest = [m for m in members.values() if m.name != ROGUE]
            print("the honest nodes gossip the heads they hold, compare notes, and find two roots for one size:")
            with trio.fail_after(WAIT_SECONDS):
                for member in honest:
                    refusal = await _refusal(member.address, fork_note)
                    print(f"{member.name} refuses to cosign {rogue.log.name} again: {refusal}")
            nursery.cancel_scope.cancel()

    step("The evidence each honest node holds, checked offline with gamma's public key alone")
    for member in honest:
        store = GossipStateStore(member.data_dir / STATE_DIR, readonly=True)
        try:
            held = store.evidence()
        finally:
            store.close()
        for evidence_id, text in held.items():
            evidence = verify_evidence(text, rogue.log)
            a, b = evidence.checkpoints()
            print(
                f"{member.name}: evidence {evidence_id[:16]} ({evidence.kind}: sizes {a.size} and {b.size}, "
                f"roots {a.root_hash.hex()[:12]}... and {b.root_hash.hex()[:12]}..., both signed by {rogue.log.name}): "
                "evidence verified"
            )
    print(
        f"(Each node keeps its evidence in {STATE_DIR}/ in its data directory and sends it to every peer; "
        f"try: pypi-witness evidence list --data {honest[0].data_dir})"
    )


async def _start(nursery: trio.Nursery, task: Callable[..., Awaitable[None]], *args: object) -> Callable[[], Awaitable[None]]:
    """Start ``task`` in its own cancel scope; return an async function that stops it and waits until it has."""
    scope = trio.CancelScope()
    done = trio.Event()

    async def run(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            with scope:
                await task(*args, task_status=task_status)
        finally:
            done.set()

    await nursery.start(run)

    async def stop() -> None:
        scope.cancel()
        await done.wait()

    return stop


async def _show_cosigned(members: dict[str, Member], policy_path: Path, files: int) -> None:
    """Wait until every node serves a checkpoint of its caught-up log cosigned by both others; print each."""
    policy = read_policy(policy_path)
    shown_note = False
    with trio.fail_after(WAIT_SECONDS):
        for member in members.values():
            others = [m.witness for m in members.values() if m is not member]
            async with LogClient(member.address) as client:
                while True:
                    try:
                        note = await client.checkpoint()
                        signed = open_checkpoint(note, member.log, others)
                    except UnavailableError:
                        signed = None
                    if signed is not None and len(signed.cosignatures) == len(others) and signed.checkpoint.size >= files:
                        break
                    await trio.sleep(0.1)
            if not shown_note:
                print(f"{member.name}'s checkpoint, signed by its log key and cosigned by the two others:")
                print(note.decode(), end="")
                shown_note = True
            quorum = check_checkpoint(policy, note).quorum
            group = quorum.groups[quorum.quorum]
            print(
                f"{member.name}: size {signed.checkpoint.size}, log signature and cosignatures from "
                f"{' and '.join(quorum.verified)} verified; policy quorum {quorum.quorum!r} "
                f"({group.threshold} of {len(group.members)}) {'satisfied' if quorum.satisfied else 'NOT satisfied'}"
            )


def _fork(rogue: Member, members: dict[str, Member]) -> tuple[dict[str, Log], bytes, list[ForkPeer]]:
    """Gamma's log extended two ways (one new file, two hashes), and which honest node sees which branch."""
    signer = read_signer(rogue.data_dir / LOG_KEY_FILE)
    log = open_log(rogue.data_dir, readonly=True)
    try:
        size = log.checkpoint().checkpoint.size
        records = [parse_record(entry) for entry in log.entries(0, size)]
    finally:
        log.close()
    honest = [m for m in members.values() if m is not rogue]
    branches: dict[str, Log] = {}
    for member in honest:
        extra = _new_file("fork-" + member.name)
        branches[member.name] = branch_log(signer, [*records, extra])
        print(f"{member.name} is shown size {size + 1}: {extra.filename} with sha256 {extra.sha256[:16]}...")
    fork_note = branches[honest[0].name].checkpoint().note
    peers = [ForkPeer(m.name, m.address, m.witness, m.name) for m in honest]
    return branches, fork_note, peers


def _new_file(seed: str) -> FileRecord:
    """One file upload; each ``seed`` gives the same file other bytes."""
    data = seed.encode()
    return FileRecord(
        project="left-pad",
        version="2.0.0",
        filename="left_pad-2.0.0-py3-none-any.whl",
        sha256=hashlib.sha256(data).hexdigest(),
        blake2b_256=hashlib.blake2b(data, digest_size=32).hexdigest(),
        size=4096,
        upload_time="2026-01-02T03:04:05.000000Z",
        serial=None,
    )


async def _refusal(address: str, note: bytes) -> str:
    """Offer ``note`` to the witness at ``address`` until it refuses it for equivocation; the refusal's message."""
    async with WitnessClient(address) as client:
        while True:
            try:
                await client.add_checkpoint(0, (), note)
            except EquivocationError as e:
                return str(e)
            except WitnessError:
                pass  # not yet: a size conflict, or the node is busy
            await trio.sleep(0.1)
