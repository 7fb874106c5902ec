"""Disputes found over real gossip: node processes on 127.0.0.1 with real LMDB logs seeded by
``pypi-witness import``, one of them holding another sha256 for one filename.

Also in process: a node's gossip routes dispute messages to its finder, reports
disputes through ``on_dispute``, and refuses a malformed dispute message like
any malformed gossip.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import subprocess
import sys

import pytest
import trio

from pypi_witness.config.node import load_config
from pypi_witness.core.disputes.buckets import bucket_of
from pypi_witness.core.disputes.finder import Dispute, DisputeFinder
from pypi_witness.core.disputes.messages import BucketDigests, BucketFiles, BucketRequest, BucketRoot
from pypi_witness.core.gossip.machine import GossipMachine
from pypi_witness.core.gossip.config import GossipConfig
from pypi_witness.core.gossip.messages import Heads
from pypi_witness.core.tlog.note import ALG_COSIGNATURE_V1
from pypi_witness.core.errors import ConfigError, MalformedError, StoreError
from pypi_witness.rpc.gossip_service import decode_all
from pypi_witness.runtime.gossip import GossipNode
from pypi_witness.store.gossip_state import GossipStateStore
from pypi_witness.store.memory import MemoryStore
from tests.factories import generated_lines, record
from tests.runtime.test_federation import cli, free_ports

NODES = 3
NOW = 1000.0


def rows(n: int, seed: int) -> list[dict]:
    return [json.loads(line) for line in generated_lines(n, seed)]


def write_jsonl(path, table: list[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in table))


def disputes(text: str) -> list[tuple[str, str, str, str]]:
    return re.findall(r"gossip: DISPUTE (\S+) with (\S+): ours sha256 ([0-9a-f]+), theirs ([0-9a-f]+)", text)


async def test_nodes_report_exactly_the_filename_one_log_holds_with_another_sha256(tmp_path):
    made = cli("federation", "init", tmp_path / "fed", "--nodes", NODES, "--base-port", free_ports(NODES), "--json")
    assert made.returncode == 0, made.stderr
    nodes = json.loads(made.stdout)["nodes"]
    names = [n["name"] for n in nodes]
    common = rows(300, seed=11)
    disputed = common[123]
    other_sha = hashlib.sha256(b"another file").hexdigest()
    assert other_sha != disputed["sha256_digest"]
    lag = rows(340, seed=12)[300:]  # only the last node has these: lag, never a dispute
    tables = {
        names[0]: common,
        names[1]: common[:123] + [{**disputed, "sha256_digest": other_sha}] + common[124:],
        names[2]: list(reversed(common)) + lag,
    }
    for node in nodes:
        config_path = tmp_path / "fed" / f"{node['name']}.toml"
        with config_path.open("a") as f:
            f.write("\n[gossip]\ninterval = 0.2\njitter = 0.1\nfanout = 2\ntimeout_seconds = 2.0\n")
        source = tmp_path / f"{node['name']}.jsonl"
        write_jsonl(source, tables[node["name"]])
        data_dir = load_config(config_path).node.data_dir
        imported = cli("import", "--data", data_dir, "--json", source)
        assert imported.returncode == 0, imported.stderr
    logs = {n["name"]: tmp_path / f"{n['name']}.log" for n in nodes}
    processes = {
        n["name"]: subprocess.Popen(
            [sys.executable, "-m", "pypi_witness.cli", "serve", "--config", n["config"]],
            stdout=subprocess.DEVNULL,
            stderr=open(logs[n["name"]], "wb"),  # noqa: SIM115 - the child owns it
        )
        for n in nodes
    }
    a, b, c = names
    expected = {
        a: {(disputed["filename"], b, disputed["sha256_digest"], other_sha)},
        b: {
            (disputed["filename"], a, other_sha, disputed["sha256_digest"]),
            (disputed["filename"], c, other_sha, disputed["sha256_digest"]),
        },
        c: {(disputed["filename"], b, disputed["sha256_digest"], other_sha)},
    }
    try:
        with trio.fail_after(25):
            while not all(set(disputes(logs[n].read_text(errors="replace"))) >= expected[n] for n in names):
                await trio.sleep(0.2)
        await trio.sleep(1.0)  # more rounds: nothing else, and nothing twice
    finally:
        for p in processes.values():
            p.terminate()
        codes = {n: p.wait(timeout=15) for n, p in processes.items()}
    texts = {n: logs[n].read_text(errors="replace") for n in names}
    assert codes == dict.fromkeys(names, 0), {n: texts[n][-2000:] for n in names}
    for n in names:
        found = disputes(texts[n])
        assert sorted(found) == sorted(expected[n]), texts[n][-3000:]
        assert "Traceback" not in texts[n]


# --- in process: the node's routing ------------------------------------------------------


def gossip_node(tmp_path, store: MemoryStore, peers: list[str]) -> GossipNode:
    machine = GossipMachine("me", peers, {}, GossipConfig(), random.Random(1), 0.0)
    state = GossipStateStore(tmp_path / "gossip")
    return GossipNode(machine, state, {}, None, timeout_seconds=1.0, clock=lambda: NOW, finder=DisputeFinder(store))


async def test_the_node_routes_dispute_messages_and_reports_through_on_dispute(tmp_path, caplog):
    common = [record(i) for i in range(50)]
    theirs = record(20, variant="other")
    mine, peer_store = MemoryStore(), MemoryStore()
    mine.append(common)
    peer_store.append(common[:20] + [theirs] + common[21:])
    node = gossip_node(tmp_path, mine, ["peer"])
    peer = DisputeFinder(peer_store)
    try:
        # The round pushes heads to "peer" and, in the same call, the bucket root.
        [call] = [e for e in node._round(NOW) if getattr(e, "messages", None)]
        [root] = call.messages
        # Answered in the reply: a node receiving a root that differs sends its digests.
        reply = await node.exchange("peer", [Heads((), reply=True), peer.tick(0.0, ["me"])[0].messages[0]])
        assert [type(m) for m in reply] == [Heads, BucketDigests]
        # The peer's answers to our root come back; a request and the files follow; the dispute is reported.
        [digests] = peer.receive("me", root, 0.0)[0].messages
        with caplog.at_level(logging.WARNING, logger="pypi_witness.gossip"):
            sent = []
            node._send = lambda to, messages: sent.append((to, messages))  # capture the next call
            node._execute(node._receive("peer", digests))
            [(to, [request])] = sent
            assert to == "peer" and isinstance(request, BucketRequest)
            [files] = peer.receive("me", request, 0.0)[0].messages
            node._execute(node._receive("peer", files))
        assert node.counters["dispute"] == 1
        assert (
            f"DISPUTE {theirs.filename} with peer: ours sha256 {common[20].sha256}, theirs {theirs.sha256}"
            in caplog.text
        )
        # A hook set by the node replaces the default; a failing hook is logged, never fatal.
        seen: list[Dispute] = []
        node.on_dispute = seen.append
        node.finder._reported.clear()
        node.finder._peers["peer"].asked[bucket_of(theirs.filename)] = (NOW, b"", b"")
        node._execute(node._receive("peer", files))
        assert [d.filename for d in seen] == [theirs.filename]
        node.on_dispute = lambda d: 1 / 0
        node.finder._reported.clear()
        node.finder._peers["peer"].asked[bucket_of(theirs.filename)] = (NOW, b"", b"")
        node._execute(node._receive("peer", files))
        assert "on_dispute failed" in caplog.text
        # Unasked answers change nothing.
        assert await node.exchange("other", [files]) == []
    finally:
        node.close()


async def test_a_store_failure_in_the_finder_is_logged_not_raised(tmp_path, caplog):
    store = MemoryStore()
    node = gossip_node(tmp_path, store, ["peer"])
    store.close()  # every read now raises StoreError
    try:
        with caplog.at_level(logging.WARNING, logger="pypi_witness.gossip"):
            assert await node.exchange("peer", [BucketRoot(bytes(32), 1)]) == []
            assert node._round(NOW) != []  # the heads still go out
        assert "refused" in caplog.text and "cannot read the log's buckets" in caplog.text
        with pytest.raises(StoreError):
            store.bucket_digests()
    finally:
        node.close()


def test_a_malformed_dispute_message_refuses_the_exchange_like_any_malformed_gossip():
    good = b"pypi-witness/gossip/v1 bucket-request\ncount 1\nbucket 5\n"
    assert decode_all([good]) == [BucketRequest((5,))]
    bad = b"pypi-witness/gossip/v1 bucket-request\ncount 2\nbucket 5\nbucket 5\n"
    with pytest.raises(MalformedError, match="gossip message 1: .*strictly increasing"):
        decode_all([good, bad])
    assert BucketFiles(0, ()) == decode_all([b"pypi-witness/gossip/v1 bucket-files\nbucket 0\ncount 0\n"])[0]


# --- configuration -----------------------------------------------------------------------


def test_dispute_buckets_per_round_is_read_checked_and_zero_turns_the_finder_off(tmp_path):
    from pypi_witness.signing.keys import generate_signer
    from pypi_witness.signing.log import init_log
    from pypi_witness.runtime.gossip import open_node_gossip
    from pypi_witness.store.witness_state import MemoryWitnessState
    from pypi_witness.signing.witness import Witness

    path = tmp_path / "node.toml"
    log = init_log(tmp_path / "data", "me.test/log")
    signer = Witness(MemoryWitnessState(), generate_signer("me.test/log/witness", ALG_COSIGNATURE_V1), {})
    try:
        for value, finder_bound in (
            ("", 4),
            ("dispute_buckets_per_round = 9\n", 9),
            ("dispute_buckets_per_round = 0\n", None),
        ):
            path.write_text(f'[node]\ndata_dir = "{tmp_path / "data"}"\n[gossip]\n{value}')
            gossip = open_node_gossip(load_config(path), log, signer)
            try:
                assert (None if gossip.finder is None else gossip.finder.buckets_per_round) == finder_bound
            finally:
                gossip.close()
    finally:
        log.close()
    for value in ("65", "-1", "true", "2.5", '"4"'):
        path.write_text(f"[gossip]\ndispute_buckets_per_round = {value}\n")
        with pytest.raises(ConfigError, match="gossip.dispute_buckets_per_round: must be an integer from 0"):
            load_config(path)
