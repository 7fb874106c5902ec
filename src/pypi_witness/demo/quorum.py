"""The quorum part of ``pypi-witness demo``: a client verifies a requirements file, then a witness lies.

Runs inside the federation part (``demo_federation``), with its three nodes
following the fake PyPI under a 2-of-3 policy:

1. ``pypi-witness verify`` checks a requirements file (hashes pinned with
   ``--hash=sha256:``) against the three nodes: every line OK;
2. gamma's operator logs a file the index has not published yet, with hashes
   of their own; the index then publishes the real file, which alpha and
   beta log. Gossip finds that gamma's log disagrees about the filename;
   every node gathers the three signed statements and settles the dispute by
   the policy's quorum: alpha's and beta's value wins, gamma is named. The
   verdict record alpha logged is fetched and re-checked offline against the
   policy, and the client verifies the new file: OK, gamma overruled.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import sys

import trio

from pypi_witness.core.quorum.policy import Policy
from pypi_witness.core.quorum.evaluation import check_checkpoint
from pypi_witness.core.records.format import FileRecord, parse_record, verdict_key
from pypi_witness.core.disputes.settle import Outcome, verify_verdict
from pypi_witness.core.records.verdict import VerdictRecord
from pypi_witness.core.errors import WitnessError
from pypi_witness.fakeindex import Index
from pypi_witness.config.federation import POLICY_FILE, Member
from pypi_witness.signing.log import open_log
from pypi_witness.rpc.client import LogClient

LIAR = "gamma"
PROJECT, VERSION = "left-pad", "3.0.0"
FILENAME = "left_pad-3.0.0-py3-none-any.whl"


def requirement(index: Index, filename: str, sha256: str | None = None) -> str:
    """A requirements line naming ``filename`` by URL, pinned to ``sha256`` (default: the index's)."""
    rec = index.live_file(filename)
    assert rec is not None
    digest = sha256 or index.digests(rec).sha256
    return f"{rec.project} @ https://files.example.invalid/packages/{filename} --hash=sha256:{digest}\n"


async def verify(root: Path, members: Sequence[Member], lines: Sequence[str], name: str) -> int:
    """Write ``lines`` to ``root/name`` and run ``pypi-witness verify`` on it against every node; its exit code."""
    path = root / name
    path.write_text("".join(lines))
    nodes = [arg for m in members for arg in ("--node", m.address)]
    # --faults 0: a 2-of-3 quorum withstands no faulty witness, and the demo says so only once.
    args = ["verify", "--policy", str(root / POLICY_FILE), "--faults", "0", *nodes, str(path)]
    print("$ pypi-witness " + " ".join(a if a != str(path) else name for a in args).replace(str(root) + "/", ""), flush=True)
    code = (await trio.run_process([sys.executable, "-m", "pypi_witness.cli", *args], check=False)).returncode
    print(f"(exit code {code})")
    return code


def lie(member: Member) -> FileRecord:
    """Append to ``member``'s log (its node stopped) a record of FILENAME with hashes of the operator's making."""
    data = b"not what the project uploaded"
    record = FileRecord(
        project=PROJECT,
        version=VERSION,
        filename=FILENAME,
        sha256=hashlib.sha256(data).hexdigest(),
        blake2b_256=hashlib.blake2b(data, digest_size=32).hexdigest(),
        size=len(data),
        upload_time="2026-01-02T03:04:05.000000Z",
        serial=None,
    )
    log = open_log(member.data_dir)
    try:
        log.append([record])
        log.publish()
    finally:
        log.close()
    return record


async def settled(address: str, filename: str) -> bytes:
    """Wait until the node at ``address`` has logged a settled verdict on ``filename``; its record bytes."""
    async with LogClient(address) as client:
        while True:
            try:
                (result,) = (await client.lookup(verdict_key(filename))).results
            except WitnessError:
                result = None  # nothing logged yet, or the node is busy
            if result is not None and result.entries:
                leaf = result.entries[-1].leaf
                record = parse_record(leaf)
                if isinstance(record, VerdictRecord) and record.outcome is Outcome.SETTLED:
                    return leaf
            await trio.sleep(0.1)


async def cosigned(address: str, policy: Policy) -> None:
    """Wait until the node at ``address`` serves a checkpoint carrying the policy's quorum of cosignatures."""
    async with LogClient(address) as client:
        while True:
            try:
                if check_checkpoint(policy, await client.checkpoint()).quorum.satisfied:
                    return
            except WitnessError:
                pass  # the node is busy
            await trio.sleep(0.1)


async def run_quorum_part(
    root: Path,
    index: Index,
    members: dict[str, Member],
    policy: Policy,
    restart: Callable[[str, Callable[[], object]], Awaitable[None]],
    step: Callable[[str], None],
    wait_seconds: float,
) -> None:
    """Run the part (module docstring). ``restart(name, work)`` stops node ``name``, runs ``work``, starts it again."""
    step("A client verifies a requirements file against the three nodes (2 of 3 witnesses must cosign)")
    lines = [requirement(index, f) for f in index.live_filenames()[:3]]
    await verify(root, list(members.values()), lines, "requirements.txt")

    step(f"{LIAR}'s operator lies: it logs {FILENAME} before PyPI publishes it, with hashes of its own")
    liar = members[LIAR]
    told: list[FileRecord] = []
    await restart(LIAR, lambda: told.append(lie(liar)))
    print(f"{LIAR} logs {FILENAME} with sha256 {told[0].sha256[:16]}...")
    index.add_file(PROJECT, VERSION, FILENAME, content=b"the real left-pad 3.0.0")
    rec = index.live_file(FILENAME)
    assert rec is not None
    truth = index.digests(rec).sha256
    print(f"PyPI publishes {FILENAME} with sha256 {truth[:16]}...; alpha and beta log that")

    step("Gossip finds the disagreement; each node gathers every witness's signed statement and settles it")
    honest = [m for m in members.values() if m.name != LIAR]
    with trio.fail_after(wait_seconds):
        leaf = await settled(honest[0].address, FILENAME)
    verdict = verify_verdict(policy, parse_record(leaf))
    print(f"{honest[0].name} logged a verdict ({len(leaf):,} bytes, every statement inside); checked offline:")
    print(f"  {verdict.reason}")
    for s in verdict.majority:
        print(f"  for    {s.origin}: entry {s.index} of its log (size {s.tree_size}), sha256 {s.record.sha256[:16]}...")
    for s in verdict.minority:
        print(f"  AGAINST {s.origin}: entry {s.index} of its log, sha256 {s.record.sha256[:16]}... (overruled)")

    with trio.fail_after(wait_seconds):
        for member in members.values():  # every node logs its own verdict; then its checkpoint gets cosigned
            await settled(member.address, FILENAME)
        for member in members.values():
            await cosigned(member.address, policy)

    step("The client verifies the new file: the quorum's hash is OK, and the lying witness is named")
    await verify(root, list(members.values()), [requirement(index, FILENAME)], "requirements-new.txt")
