"""A verdict of 16 statements in a real LMDB log, served over real gRPC, proven and re-tallied by a client."""

from __future__ import annotations

import pytest

from pypi_witness.core.quorum.statement import LogStatement, format_statement
from pypi_witness.core.records.format import format_record, verdict_key
from pypi_witness.core.disputes.settle import Outcome, tally, verdict_record, verify_verdict
from pypi_witness.core.records.verdict import VerdictRecord
from pypi_witness.core.errors import MalformedError
from pypi_witness.signing.log import init_log
from pypi_witness.rpc.client import LogClient
from pypi_witness.client.verifying import VerifyingClient
from tests.core.disputes.settle_fixtures import LIE, TRUTH, federation_policy, log_statement
from tests.rpc.support import config_for, record, start_node

NODES = 16
POLICY = federation_policy(NODES, 9)
COSIGNERS = tuple(range(1, NODES + 1))
T = "2024-02-01T10:00:00.000000Z"


def statements() -> list[LogStatement]:
    # Logs of 3,000 entries: 12 proof hashes, a checkpoint cosigned by all 16 witnesses.
    return [
        log_statement(i, LIE if i in (4, 11) else TRUTH, position=i * 97, size=3000, cosigners=COSIGNERS)
        for i in range(1, NODES + 1)
    ]


@pytest.fixture(scope="module")
def verdict() -> VerdictRecord:
    given = statements()
    return verdict_record(tally(POLICY, TRUTH.filename, given), given, T)


def test_a_verdict_of_16_statements_is_tens_of_kilobytes(verdict: VerdictRecord) -> None:
    data = format_record(verdict)
    assert verdict.outcome is Outcome.SETTLED and len(verdict.statements) == NODES
    assert all(2_000 < len(format_statement(s)) < 4_000 for s in verdict.statements)
    assert 30_000 < len(data) < 100_000


async def test_a_verdict_is_stored_served_and_proven_like_any_record(nursery, tmp_path, verdict) -> None:
    data_dir = tmp_path / "node"
    log = init_log(data_dir, "verdicts.test/log")
    try:
        log.append([record(i) for i in range(5)])
        log.append([verdict])
        log.append([record(i) for i in range(5, 9)])
        log.publish()
        verifier = log.verifier
    finally:
        log.close()
    address = await start_node(nursery, config_for(data_dir))
    key = verdict_key(TRUTH.filename)
    async with LogClient(address) as node:
        client = VerifyingClient(node, verifier)
        _accepted, (found,) = await client.lookup([key])
        (entry,) = found.entries
        assert entry.index == 5 and entry.record == verdict
        assert verify_verdict(POLICY, entry.record).value == (TRUTH.sha256, TRUTH.blake2b_256, TRUTH.size)
        one = await node.lookup(key)
        assert [e.leaf for e in one.results[0].entries] == [format_record(verdict)]
        _accepted, entries = await client.entries(0, 10)
        assert [e.record for e in entries][5] == verdict
        # The file itself is indexed under its own name, the verdict only under /verdict/.
        _accepted, (plain,) = await client.lookup([TRUTH.filename])
        assert [e.record for e in plain.entries] == [record(7)]


async def test_a_lookup_whose_answer_would_not_fit_in_a_message_is_refused_with_a_reason(
    nursery, tmp_path, verdict
) -> None:
    data_dir = tmp_path / "node"
    log = init_log(data_dir, "verdicts.test/log")
    try:
        log.append([verdict])
        log.publish()
    finally:
        log.close()
    address = await start_node(nursery, config_for(data_dir, max_message_bytes=1 << 20))
    key = verdict_key(TRUTH.filename)
    async with LogClient(address, max_message_bytes=1 << 20) as node:
        assert len((await node.lookup_many([key] * 10)).results) == 10
        with pytest.raises(MalformedError, match="ask for fewer filenames"):
            await node.lookup_many([key] * 40)
