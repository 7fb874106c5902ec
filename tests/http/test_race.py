"""HTTP and gRPC add-checkpoint racing on one log: the one witness gate never cosigns two histories.

A log operator keeps two forks of its log that share their first FORK_AT
leaves, and submits fork A through gRPC's AddCheckpoint and fork B through
HTTP's POST /add-checkpoint, from several tasks each at once, sizes going
up and down, learning the witness's size from its 409s / ABORTEDs. Every
cosignature the node answers is collected and checked: one root per size,
never both forks past the fork point, never a smaller size cosigned after a
larger one; and both doors did cosign something.
"""

from __future__ import annotations

import itertools
import random

import trio

from pypi_witness.config.logs import WitnessingConfig
from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint
from pypi_witness.core.tlog.log_list import ListedLog
from pypi_witness.core.errors import ConflictError, EquivocationError, OutOfRangeError, ProofError
from pypi_witness.http.client import HttpWitnessClient
from pypi_witness.rpc.witness_client import WitnessClient
from tests.http.support import ForeignLog, http_config, start_http_node
from tests.rpc.support import vkey

ORIGIN = "forked.example/log"
FORK_AT = 8
TOP = 40
TASKS_PER_DOOR = 4
ATTEMPTS = 40


async def test_http_and_grpc_racing_never_cosign_two_forks(nursery, data_dir):
    forks = {
        "grpc": ForeignLog(ORIGIN, "A", TOP, shared=FORK_AT, seed=b"key"),
        "http": ForeignLog(ORIGIN, "B", TOP, shared=FORK_AT, seed=b"key"),
    }
    log = forks["grpc"].verifier
    assert forks["http"].verifier == log
    config = http_config(data_dir, witnessing=WitnessingConfig(logs=(ListedLog(log, ORIGIN),)))
    address, base = await start_http_node(nursery, config)
    witness = vkey(data_dir / "witness.vkey")
    seen: list[tuple[int, bytes, int, str]] = []  # (size, root, timestamp, door)
    refused = {"grpc": 0, "http": 0}

    async def door(name: str, client: WitnessClient | HttpWitnessClient, seed: int) -> None:
        async with client:
            await submit(name, client, seed)

    async def submit(
        name: str, client: WitnessClient | HttpWitnessClient, seed: int, sizes: list[int] | None = None, known: int = 0
    ) -> None:
        fork, rng = forks[name], random.Random(seed)
        for size in sizes or [rng.randint(1, TOP) for _ in range(ATTEMPTS)]:
            old = known if known <= size else 0
            note = fork.note(size)
            try:
                answer = await client.add_checkpoint(old, fork.proof(old, size), note)
            except ConflictError as e:
                known = e.known_size or 0
                continue
            except (ProofError, EquivocationError, OutOfRangeError):
                refused[name] += 1
                continue
            signed = open_checkpoint(note + answer, log, [witness])  # raises if the cosignature fails
            for c in signed.cosignatures:
                seen.append((size, signed.checkpoint.root_hash, c.timestamp, name))
            known = size

    # Both doors cosign part of the shared prefix first (so each surely cosigned something), then race.
    async with WitnessClient(address) as grpc_client, HttpWitnessClient(base) as http_client:
        await submit("grpc", grpc_client, -1, sizes=[3])
        await submit("http", http_client, -2, sizes=[5], known=3)
    assert {door for *_, door in seen} == {"grpc", "http"}
    async with trio.open_nursery() as racers:
        for i in range(TASKS_PER_DOOR):  # a channel and a keep-alive connection per task
            racers.start_soon(door, "grpc", WitnessClient(address), i)
            racers.start_soon(door, "http", HttpWitnessClient(base), i + 100)

    roots: dict[int, set[bytes]] = {}
    for size, root, _, _ in seen:
        roots.setdefault(size, set()).add(root)
    assert all(len(r) == 1 for r in roots.values()), f"two roots cosigned for one size: {roots}"
    branches = {name for size, root, _, _ in seen if size > FORK_AT for name, f in forks.items() if f.root(size) == root}
    assert len(branches) <= 1, "both forks were cosigned"
    for (s1, _, t1, _), (s2, _, t2, _) in itertools.combinations(sorted(seen, key=lambda s: s[2]), 2):
        assert not (t1 < t2 and s2 < s1), f"size {s2} cosigned after size {s1}"
    assert any(size > 5 for size, *_ in seen), "nothing was cosigned in the race: it proved too little"
    assert sum(refused.values()) > 0, "no fork was ever refused: the forks never met"

