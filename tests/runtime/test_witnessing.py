"""Pushing checkpoints to peers: growth with consistency proofs, restarts, unreachable peers."""

from __future__ import annotations

import dataclasses
import functools

import pytest
import trio

from pypi_witness.config.node import Config, PeerConfig, WitnessConfig
from pypi_witness.core.tlog.signed_checkpoint import SignedCheckpoint, open_checkpoint
from pypi_witness.core.tlog.note import ALG_COSIGNATURE_V1, Signer, Verifier
from pypi_witness.core.errors import ConfigError
from pypi_witness.signing.log import VERIFIER_KEY_FILE as LOG_VKEY
from pypi_witness.rpc.client import LogClient
from pypi_witness.runtime.node import run_node
from pypi_witness.runtime.witnessing import Cosignatures
from pypi_witness.signing.witness import VERIFIER_KEY_FILE as WITNESS_VKEY
from tests.rpc.support import config_for, free_port, record, vkey

FAST = WitnessConfig(push_timeout_seconds=2.0, retry_min_seconds=0.05, retry_max_seconds=0.2)


def node_config(data, port: int, peers: tuple[PeerConfig, ...], origin: str | None = None) -> Config:
    config = config_for(data, origin=origin)
    return dataclasses.replace(
        config, node=dataclasses.replace(config.node, listen=f"127.0.0.1:{port}"), witness=FAST, peers=peers
    )


async def cosigned(address: str, log: Verifier, witness: Verifier, size: int | None = None) -> SignedCheckpoint:
    """Poll the node's checkpoint until it carries ``witness``'s cosignature (at ``size``, if given)."""
    async with LogClient(address) as client:
        while True:
            signed = open_checkpoint(await client.checkpoint(), log, [witness])
            if signed.cosignatures and (size is None or signed.checkpoint.size == size):
                return signed
            await trio.sleep(0.02)


async def test_a_growing_log_is_cosigned_with_consistency_proofs_and_after_a_restart(data_dir, tmp_path):
    a_log = vkey(data_dir / LOG_VKEY)
    writers = []

    async def keep_writer(writer) -> None:
        writers.append(writer)
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        # B cosigns A's log (and pushes nowhere); A pushes to B.
        b_config = node_config(tmp_path / "b", free_port(), (PeerConfig("a", a_log),), "b.test/log")
        b_address = await nursery.start(functools.partial(run_node, b_config))
        b_log, b_witness = vkey(tmp_path / "b" / LOG_VKEY), vkey(tmp_path / "b" / WITNESS_VKEY)
        assert b_witness.name == "b.test/log/witness"
        a_config = node_config(data_dir, free_port(), (PeerConfig("b", b_log, b_address, b_witness),))
        with trio.fail_after(15):
            async with trio.open_nursery() as a:
                address = await a.start(functools.partial(run_node, a_config, sources=[keep_writer]))
                first = await cosigned(address, a_log, b_witness)
                size = first.checkpoint.size
                assert size > 0
                await writers[-1].append([record(10_000 + i) for i in range(5)])
                grown = await cosigned(address, a_log, b_witness, size + 5)
                a.cancel_scope.cancel()
            # Restarted, A knows nothing of what B cosigned and learns it from B's ABORTED answer.
            async with trio.open_nursery() as a:
                address = await a.start(functools.partial(run_node, a_config, sources=[keep_writer]))
                again = await cosigned(address, a_log, b_witness, size + 5)
                assert again.checkpoint == grown.checkpoint
                await writers[-1].append([record(20_000 + i) for i in range(3)])
                await cosigned(address, a_log, b_witness, size + 8)
                a.cancel_scope.cancel()
        nursery.cancel_scope.cancel()


async def test_an_unreachable_peer_never_blocks_the_node(data_dir):
    dead = free_port()  # nothing listens there
    witness = Signer.from_seed("dead/witness", b"d" * 32, ALG_COSIGNATURE_V1).verifier()
    log = Signer.from_seed("dead/log", b"l" * 32).verifier()
    config = node_config(data_dir, free_port(), (PeerConfig("dead", log, f"127.0.0.1:{dead}", witness),))
    async with trio.open_nursery() as nursery:
        with trio.fail_after(10):
            address = await nursery.start(functools.partial(run_node, config))
            async with LogClient(address) as client:
                for _ in range(20):
                    note = await client.checkpoint()
                    assert open_checkpoint(note, vkey(data_dir / LOG_VKEY)).cosignatures == ()
                    await trio.sleep(0.02)
        nursery.cancel_scope.cancel()


async def test_a_peer_naming_the_nodes_own_log_is_refused(data_dir):
    own = vkey(data_dir / LOG_VKEY)
    config = node_config(data_dir, free_port(), (PeerConfig("me", own),))
    with pytest.raises(ConfigError, match=r"peers\[0\].log_vkey: names this node's own log"):
        await run_node(config)


def test_cosignatures_of_an_older_checkpoint_are_dropped():
    from pypi_witness.core.tlog.checkpoint import Checkpoint, sign_checkpoint
    from pypi_witness.core.tlog.cosignature import cosign

    log = Signer.from_seed("l/og", b"l" * 32)
    w1 = Signer.from_seed("w/1", b"1" * 32, ALG_COSIGNATURE_V1)
    w2 = Signer.from_seed("w/2", b"2" * 32, ALG_COSIGNATURE_V1)
    cps = [Checkpoint("l/og", n, bytes([n]) * 32) for n in (1, 2)]
    notes = [sign_checkpoint(cp, log) for cp in cps]
    book = Cosignatures(["one", "two"])
    assert book.witnessed(notes[0]) == notes[0]
    book.add(notes[0], "two", cosign(cps[0], w2, 5))
    book.add(notes[0], "one", cosign(cps[0], w1, 6))
    opened = open_checkpoint(book.witnessed(notes[0]), log.verifier(), [w1.verifier(), w2.verifier()])
    assert [c.name for c in opened.cosignatures] == ["w/1", "w/2"]  # in the peers' order
    book.add(notes[1], "two", cosign(cps[1], w2, 7))
    assert set(book.of(notes[1])) == {"two"}
    assert book.witnessed(notes[0]) == notes[0]
