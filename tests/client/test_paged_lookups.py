"""The client asks for any number of filenames, of any answer size: batches of MAX_BATCH, each answer paged."""

from __future__ import annotations

from pypi_witness.client.nodes import MAX_BATCH, ask_node
from pypi_witness.core.tlog.note import Verifier
from pypi_witness.core.quorum.policy import Policy
from pypi_witness.core.records.format import parse_record, release_key
from tests.rpc.support import config_for, make_sample_log, sample_leaves, start_node

NO_POLICY = Policy((), (), (), None)


async def test_an_answer_many_times_the_message_limit_is_fetched_page_by_page(nursery, tmp_path):
    vkey = Verifier.from_vkey(make_sample_log(tmp_path / "node"))
    records = [parse_record(leaf) for leaf in sample_leaves()]
    # The sample's 200 files with their proofs are ~10 times the node's 32 KiB limit; with names never
    # logged, more keys than one call may carry.
    keys = [r.filename for r in records] + [f"missing-{i}-1.0.tar.gz" for i in range(MAX_BATCH)]
    address = await start_node(nursery, config_for(tmp_path / "node", max_message_bytes=32 << 10))
    outcome = await ask_node(address, keys, NO_POLICY, [vkey], timeout=60)
    assert outcome.error is None and outcome.answer is not None
    assert {f: s.index for f, s in outcome.answer.statements.items()} == {r.filename: i for i, r in enumerate(records)}
    assert outcome.answer.tree_size == len(records)


async def test_a_filename_not_logged_is_looked_for_among_its_release_files(nursery, tmp_path):
    vkey = Verifier.from_vkey(make_sample_log(tmp_path / "node"))
    first = parse_record(sample_leaves()[0])
    address = await start_node(nursery, config_for(tmp_path / "node"))
    spelled = first.filename.upper().replace(".WHL", ".whl").replace(".TAR.GZ", ".tar.gz")
    key = release_key(first.project, first.version)
    outcome = await ask_node(address, [spelled], NO_POLICY, [vkey], fallback={spelled: key}.get)
    assert outcome.answer is not None and first.filename in outcome.answer.releases[key]
    assert outcome.answer.statements[first.filename].index == 0
