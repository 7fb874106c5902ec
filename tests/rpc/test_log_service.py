"""Every LogService call against a real node on 127.0.0.1, through real stubs, verified as a client would."""

from __future__ import annotations

import grpc
import pytest
import trio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from pypi_witness.core.tlog import merkle
from pypi_witness.core.records.format import parse_record, record_filename
from pypi_witness.core.errors import MalformedError
from pypi_witness.signing.log import init_log
from pypi_witness.rpc.bridge import call_unary
from pypi_witness.rpc.client import LogClient
from pypi_witness.rpc.gen.v1 import log_pb2 as pb
from pypi_witness.rpc.gen.v1.log_pb2_grpc import LogServiceStub
from pypi_witness.rpc.log_service import LOOKUP_CHUNK, SERVICE_NAME
from pypi_witness.store.base import Conflict
from tests.rpc.support import (
    ORIGIN,
    check_inclusion,
    config_for,
    open_note,
    record,
    sample_leaves,
    start_node,
    vkey_of,
)

LEAVES = sample_leaves()
SIZE = len(LEAVES)


@pytest.fixture
async def node(nursery, data_dir):
    return await start_node(nursery, config_for(data_dir))


@pytest.fixture
async def client(node):
    async with LogClient(node) as c:
        yield c


def filename_of(leaf: bytes) -> str:
    return record_filename(parse_record(leaf))


async def test_checkpoint_is_the_signed_note_of_the_whole_log(client, data_dir):
    note = await client.checkpoint()
    signed = open_note(note, vkey_of(data_dir))
    assert signed.checkpoint.size == SIZE
    assert signed.checkpoint.root_hash == merkle.root_of([merkle.leaf_hash(x) for x in LEAVES])


async def test_entries_pages_through_the_log(client):
    page = await client.entries(0, 3)
    assert page.start == 0 and page.leaves == tuple(LEAVES[:3])
    assert (await client.entries(SIZE - 1, SIZE)).leaves == (LEAVES[-1],)
    assert (await client.entries(SIZE, SIZE)).leaves == ()
    assert (await client.entries(7, 7)).leaves == ()


async def test_a_range_longer_than_a_page_gets_one_page(nursery, data_dir):
    async with LogClient(await start_node(nursery, config_for(data_dir, max_entries_per_page=50))) as client:
        got: list[bytes] = []
        while len(got) < SIZE:
            page = await client.entries(len(got), SIZE)
            assert page.start == len(got) and 0 < len(page.leaves) <= 50
            got.extend(page.leaves)
        assert got == LEAVES


async def test_a_page_stops_short_of_the_message_limit(nursery, data_dir):
    limit = 32 << 10  # the sample's 200 leaves are ~60 KB
    assert sum(map(len, LEAVES)) > limit
    async with LogClient(await start_node(nursery, config_for(data_dir, max_message_bytes=limit))) as client:
        page = await client.entries(0, SIZE)
        assert 0 < len(page.leaves) < SIZE
        assert sum(map(len, page.leaves)) < limit
        assert page.leaves == tuple(LEAVES[: len(page.leaves)])


async def test_inclusion_proofs_verify_at_every_size(client):
    for size in (1, 2, 3, 64, 127, 128, SIZE):
        for index in {0, size // 2, size - 1}:
            answer = await client.inclusion_proof(index, size)
            assert (answer.index, answer.size, answer.leaf) == (index, size, LEAVES[index])
            root = merkle.root_of([merkle.leaf_hash(x) for x in LEAVES[:size]])
            check_inclusion(answer.leaf, index, size, answer.proof, root)


async def test_consistency_proofs_verify(client):
    roots = {n: merkle.root_of([merkle.leaf_hash(x) for x in LEAVES[:n]]) for n in (0, 1, 5, 64, 100, SIZE)}
    for old in roots:
        for new in roots:
            if old <= new:
                answer = await client.consistency_proof(old, new)
                assert (answer.old_size, answer.new_size) == (old, new)
                merkle.verify_consistency(old, new, roots[old], roots[new], answer.proof)


async def test_lookup_proves_the_entry_against_the_answer_checkpoint(client, data_dir):
    index = 123
    answer = await client.lookup(filename_of(LEAVES[index]))
    signed = open_note(answer.checkpoint, vkey_of(data_dir))
    (result,) = answer.results
    assert result.filename == filename_of(LEAVES[index]) and result.conflicts == ()
    (entry,) = result.entries
    assert entry.index == index and entry.leaf == LEAVES[index]
    check_inclusion(entry.leaf, entry.index, signed.checkpoint.size, entry.proof, signed.checkpoint.root_hash)


async def test_lookup_many_answers_every_filename_in_order_against_one_checkpoint(client, data_dir):
    # A requirements file's worth: every filename, plus ones never logged, spanning many chunks.
    names = [filename_of(leaf) for leaf in LEAVES]
    names[::7] = [f"missing-{i}.whl" for i in range(len(names[::7]))]
    assert len(names) > 3 * LOOKUP_CHUNK
    answer = await client.lookup_many(names)
    signed = open_note(answer.checkpoint, vkey_of(data_dir))
    assert [r.filename for r in answer.results] == names
    for i, result in enumerate(answer.results):
        if names[i].startswith("missing-"):
            assert result.entries == ()
            continue
        (entry,) = result.entries
        assert entry.index == i and entry.leaf == LEAVES[i]
        check_inclusion(entry.leaf, i, signed.checkpoint.size, entry.proof, signed.checkpoint.root_hash)
    assert (await client.lookup_many([])).results == ()


async def test_lookup_many_pages_an_answer_larger_than_a_message(nursery, data_dir):
    limit = 32 << 10  # every filename of the sample with its proof is ~300 KB
    names = [filename_of(leaf) for leaf in LEAVES]
    async with LogClient(await start_node(nursery, config_for(data_dir, max_message_bytes=limit))) as client:
        with pytest.raises(MalformedError, match="more than the 32768 a message holds"):
            await client.lookup_many(names)  # unpaged: refused as a whole, as before
        got: list = []
        while len(got) < len(names):  # paged: a prefix at a time, each fitting the smaller of both limits
            answer = await client.lookup_many(names[len(got) :], max_answer_bytes=10_000)
            assert 0 < len(answer.results) < len(names) and len(answer.checkpoint) + sum(
                len(e.leaf) + 32 * len(e.proof) for r in answer.results for e in r.entries
            ) < 10_000
            got += answer.results
        assert [r.filename for r in got] == names and [r.entries[0].index for r in got] == list(range(SIZE))
        with pytest.raises(MalformedError, match="alone are more than the 600 bytes an answer may hold"):
            await client.lookup_many(names, max_answer_bytes=600)


async def test_health_and_reflection_are_served(node):
    channel = grpc.insecure_channel(node)
    try:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", SERVICE_NAME):
            reply = await call_unary(health.Check, health_pb2.HealthCheckRequest(service=service))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        with trio.fail_after(10):
            # A bidirectional stream: blocking iteration, acceptable in a test thread.
            replies = await trio.to_thread.run_sync(lambda: list(stub.ServerReflectionInfo(iter([request]))))
        names = {s.name for s in replies[0].list_services_response.service}
        assert {SERVICE_NAME, "grpc.health.v1.Health"} <= names
    finally:
        channel.close()


async def test_generated_stub_works_against_the_node(node):
    channel = grpc.insecure_channel(node)
    try:
        stub = LogServiceStub(channel)
        reply = await call_unary(stub.GetInclusionProof, pb.GetInclusionProofRequest(index=3, size=10))
        assert reply.leaf == LEAVES[3] and len(reply.proof) == 4
    finally:
        channel.close()


async def test_32_concurrent_clients_get_consistent_answers(node, data_dir):
    vkey = vkey_of(data_dir)
    failures: list[BaseException] = []

    async def one_client(k: int) -> None:
        try:
            async with LogClient(node) as client:
                for round_ in range(5):
                    index = (k * 37 + round_ * 11) % (SIZE - 1)
                    note = await client.checkpoint()
                    cp = open_note(note, vkey).checkpoint
                    proof = await client.inclusion_proof(index, cp.size)
                    check_inclusion(proof.leaf, index, cp.size, proof.proof, cp.root_hash)
                    found = await client.lookup_many([filename_of(LEAVES[index])])
                    assert found.results[0].entries[0].index == index
                    assert (await client.entries(index, index + 2)).leaves == tuple(LEAVES[index : index + 2])
        except BaseException as e:  # collected: the test reports every failure
            failures.append(e)
            raise

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            for k in range(32):
                nursery.start_soon(one_client, k)
    assert not failures


async def test_lookup_reports_every_conflict_of_a_filename(nursery, tmp_path):
    # a, b, b', c, c', a': a's conflict (5 with 0) comes after two conflicts of other files.
    log = init_log(tmp_path / "node", ORIGIN)
    try:
        for i, variant in ((1, ""), (2, ""), (2, "x"), (3, ""), (3, "x"), (1, "x")):
            log.append([record(i, variant)])
        log.publish()
    finally:
        log.close()
    async with LogClient(await start_node(nursery, config_for(tmp_path / "node"))) as client:
        for answer in (await client.lookup(record(1).filename), await client.lookup_many([record(1).filename])):
            (result,) = answer.results
            assert [e.index for e in result.entries] == [0, 5]
            assert result.conflicts == (Conflict(record(1).filename, 5, 0),)
        answer = await client.lookup_many([record(2).filename, record(3).filename])
        assert [r.conflicts for r in answer.results] == [
            (Conflict(record(2).filename, 2, 1),),
            (Conflict(record(3).filename, 4, 3),),
        ]
