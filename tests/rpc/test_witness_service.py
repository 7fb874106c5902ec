"""WitnessService over real gRPC on 127.0.0.1: every add-checkpoint rule, its status and message."""

from __future__ import annotations

import dataclasses

import grpc
import pytest
import trio

from pypi_witness.config.node import PeerConfig
from pypi_witness.core.tlog.checkpoint import Checkpoint, sign_checkpoint
from pypi_witness.core.tlog.note import Signer, Verifier
from pypi_witness.core.tlog.witness import open_cosignature
from pypi_witness.core.errors import ConflictError, NotFoundError
from pypi_witness.rpc.bridge import call_unary
from pypi_witness.rpc.errors import KNOWN_SIZE_KEY
from pypi_witness.rpc.gen.v1 import witness_pb2 as pb
from pypi_witness.rpc.gen.v1.witness_pb2_grpc import WitnessServiceStub
from pypi_witness.rpc.witness_client import WitnessClient
from pypi_witness.signing.witness import VERIFIER_KEY_FILE
from tests.core.tlog.test_witness import IMPOSTOR, LOG, TREE, Tree
from tests.rpc.support import config_for, start_node

Code = grpc.StatusCode


@pytest.fixture
async def node(data_dir, nursery):
    config = dataclasses.replace(config_for(data_dir), peers=(PeerConfig("t", LOG.verifier()),))
    address = await start_node(nursery, config)
    witness = Verifier.from_vkey((data_dir / VERIFIER_KEY_FILE).read_text().strip())
    channel = grpc.insecure_channel(address)
    yield address, WitnessServiceStub(channel), witness
    channel.close()


async def add(stub, old: int, proof, note: bytes):
    """(code, details, trailing metadata, response) of one raw AddCheckpoint call."""
    request = pb.AddCheckpointRequest(old_size=old, proof=list(proof), checkpoint=note)
    try:
        with trio.fail_after(10):
            response = await call_unary(stub.AddCheckpoint, request)
        return Code.OK, "", (), response
    except grpc.RpcError as e:
        return e.code(), e.details(), tuple(e.trailing_metadata() or ()), None


async def test_a_first_checkpoint_is_cosigned_and_the_line_verifies(node):
    _, stub, witness = node
    code, _, _, response = await add(stub, 0, (), TREE.note(5))
    assert code is Code.OK
    cosignature = open_cosignature(TREE.note(5), response.cosignatures, LOG.verifier(), witness)
    assert cosignature.name == witness.name


async def test_a_chain_of_growing_checkpoints_and_a_repeat_are_cosigned(node):
    _, stub, _ = node
    for old, new in ((0, 3), (3, 8), (8, 8), (8, 20)):
        code, details, _, _ = await add(stub, old, TREE.proof(old, new) if old else (), TREE.note(new))
        assert code is Code.OK, details


async def test_the_client_learns_the_known_size_and_retries(node):
    address, stub, witness = node
    assert (await add(stub, 0, (), TREE.note(6)))[0] is Code.OK
    async with WitnessClient(address) as client:
        with pytest.raises(ConflictError) as caught:
            await client.add_checkpoint(0, (), TREE.note(11))
        known = caught.value.known_size
        assert known == 6
        answer = await client.add_checkpoint(known, TREE.proof(known, 11), TREE.note(11))
    open_cosignature(TREE.note(11), answer, LOG.verifier(), witness)


def forked_note(size: int) -> bytes:
    return Tree(size, salt=b"fork").note(size)


@pytest.mark.parametrize(
    ("state", "old", "proof", "note", "code", "message"),
    [
        (None, 0, (), b"garbage", Code.INVALID_ARGUMENT, "note has no blank line"),
        (None, 0, (b"x" * 31,), None, Code.INVALID_ARGUMENT, "consistency proof hash 0 is not 32 bytes"),
        (None, 2, (b"x" * 32,) * 64, None, Code.INVALID_ARGUMENT, "at most 63"),
        (None, 0, (), "stranger", Code.NOT_FOUND, "does not cosign the log 'stranger.example/log'"),
        (None, 0, (), "impostor", Code.PERMISSION_DENIED, "no signature from a known key"),
        (None, 9, (), None, Code.OUT_OF_RANGE, "old size 9 is greater than the checkpoint's size 7"),
        (None, 3, (), None, Code.ABORTED, "not the size this witness last cosigned"),
        (None, 0, ("root1",), None, Code.FAILED_PRECONDITION, "from size 0 must be empty"),
        (None, 0, (), "size0", Code.FAILED_PRECONDITION, "empty tree's root"),
        (7, 7, ("root1",), None, Code.FAILED_PRECONDITION, "between equal sizes must be empty"),
        (7, 7, (), "fork", Code.ALREADY_EXISTS, "two checkpoints of size 7"),
        (4, 4, ("bad",), None, Code.FAILED_PRECONDITION, "not consistent with size 4"),
    ],
)
async def test_each_refusal_has_its_status_and_message(node, state, old, proof, note, code, message):
    _, stub, _ = node
    if state is not None:
        assert (await add(stub, 0, (), TREE.note(state)))[0] is Code.OK
    if note is None:
        note = TREE.note(7)
    elif note == "stranger":
        note = TREE.note(7, Signer.from_seed("stranger.example/log", b"X" * 32))
    elif note == "impostor":
        note = TREE.note(7, IMPOSTOR)
    elif note == "size0":
        note = sign_checkpoint(Checkpoint(LOG.name, 0, b"\x01" * 32), LOG)
    elif note == "fork":
        note = forked_note(7)
    proof = [TREE.root(1) if p == "root1" else bytes(32) if p == "bad" else p for p in proof]
    got, details, metadata, _ = await add(stub, old, proof, note)
    assert (got, message in details) == (code, True), details
    if code is Code.ABORTED:
        assert (KNOWN_SIZE_KEY, "0") in metadata


async def test_a_request_that_is_not_protobuf_is_invalid_argument(node):
    address, _, _ = node
    channel = grpc.insecure_channel(address)
    try:
        raw = channel.unary_unary("/pypi_witness.v1.WitnessService/AddCheckpoint")
        with pytest.raises(grpc.RpcError) as caught:
            await trio.to_thread.run_sync(lambda: raw(b"\xff\xff\xff", timeout=10))
        assert caught.value.code() is Code.INVALID_ARGUMENT
        assert "does not parse" in caught.value.details()
    finally:
        channel.close()


async def test_the_client_maps_refusals_to_errors(node):
    address, _, _ = node
    async with WitnessClient(address) as client:
        with pytest.raises(NotFoundError, match="does not cosign"):
            await client.add_checkpoint(0, (), TREE.note(3, Signer.from_seed("stranger.example/log", b"X" * 32)))
