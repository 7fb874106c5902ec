"""sim.forking_node in-process: what the demo and the federation tests rely on (their runs cover the gossip)."""

from __future__ import annotations

import pytest

from pypi_witness.core.tlog.checkpoint import parse_checkpoint
from pypi_witness.core.tlog.cosignature import verify_cosignature
from pypi_witness.core.gossip.config import GossipConfig
from pypi_witness.core.tlog.note import ALG_COSIGNATURE_V1, parse_note
from pypi_witness.core.tlog.witness import WitnessRequest
from pypi_witness.core.errors import ConfigError
from pypi_witness.signing.keys import generate_signer
from pypi_witness.sim.forking_node import CosignAnything, ForkPeer, branch_log, run_forking_node
from tests.factories import record


def test_branches_of_one_key_share_nothing_but_size_and_key():
    signer = generate_signer("fork.test/log")
    a = branch_log(signer, [record(i, "a") for i in range(4)])
    b = branch_log(signer, [record(i, "b") for i in range(4)])
    ca, cb = a.checkpoint().checkpoint, b.checkpoint().checkpoint
    assert (ca.origin, ca.size) == (cb.origin, cb.size) == ("fork.test/log", 4)
    assert ca.root_hash != cb.root_hash


def test_the_witness_cosigns_even_a_checkpoint_it_cannot_check():
    log_signer = generate_signer("fork.test/log")
    witness = generate_signer("fork.test/witness", ALG_COSIGNATURE_V1)
    note = branch_log(log_signer, [record(0)]).checkpoint().note
    # A claimed old size larger than the tree and a junk proof: an honest witness refuses both.
    cosignature = CosignAnything(witness).add_checkpoint(WitnessRequest(7, (b"junk",), note))
    verify_cosignature(parse_checkpoint(parse_note(note).text), cosignature, witness.verifier())


async def test_a_peer_shown_an_unknown_branch_is_refused_before_anything_starts(tmp_path):
    log_signer = generate_signer("fork.test/log")
    witness = generate_signer("fork.test/witness", ALG_COSIGNATURE_V1)
    peer = ForkPeer("alpha", "127.0.0.1:1", generate_signer("alpha/witness", ALG_COSIGNATURE_V1).verifier(), "c")
    branches = {"a": branch_log(log_signer, [record(0, "a")])}
    with pytest.raises(ConfigError, match="unknown branch 'c'"):
        await run_forking_node("127.0.0.1:0", tmp_path, log_signer, witness, branches, [peer], GossipConfig())
    assert list(tmp_path.iterdir()) == []
