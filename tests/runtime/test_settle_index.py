"""The settler's loudest alarm: the followed index serving a file with other hashes than the quorum's."""

from __future__ import annotations

import logging

import pytest

from pypi_witness.core.quorum.policy import parse_policy
from pypi_witness.core.records.format import FileRecord
from pypi_witness.core.disputes.settle import CheckedStatement, Outcome, Tally
from pypi_witness.fakeindex import FakeIndexServer, Index
from pypi_witness.ingest.http import HttpClient
from pypi_witness.ingest.pypi_api import PyPIClient
from pypi_witness.runtime.settle import Settler


@pytest.fixture
def fake():
    index = Index(content_seed=3)
    index.populate(seed=3, projects=2)
    with FakeIndexServer(index) as server:
        yield index, server


def settled_on(record: FileRecord) -> Tally:
    statement = CheckedStatement("a.example/log", "a", 0, 1, record)
    return Tally(record.filename, Outcome.SETTLED, statement.value, (statement,), (), (), "settled")


def record_of(index: Index, filename: str, variant: str | None = None) -> FileRecord:
    rec = index.live_file(filename)
    assert rec is not None
    d = index.digests(rec, variant)
    return FileRecord(rec.project, rec.version, filename, d.sha256, d.blake2b_256, d.size,
                      "2024-01-01T00:00:00.000000Z", None)  # fmt: skip


@pytest.mark.parametrize("swapped", [False, True])
async def test_the_index_serving_other_hashes_than_the_quorum_is_the_loudest_alarm(fake, caplog, swapped):
    index, server = fake
    filename = index.live_filenames()[0]
    if swapped:
        server.set_attacks(swap=[filename])
    client = PyPIClient(HttpClient(server.url, timeout=5, max_body_bytes=1 << 20, user_agent="test"))
    settler = Settler(None, None, parse_policy(b"quorum none\n"), (), witnessed=bytes, index=client)  # type: ignore[arg-type]
    caplog.set_level(logging.WARNING)
    await settler._check_index(settled_on(record_of(index, filename)))
    alarms = [r for r in caplog.records if "ALARM index-tampered" in r.getMessage()]
    if swapped:
        (alarm,) = alarms
        assert alarm.levelno == logging.CRITICAL
        assert record_of(index, filename, "swap").sha256 in alarm.getMessage()
    else:
        assert alarms == []
