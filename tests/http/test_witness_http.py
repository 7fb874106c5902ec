"""POST /add-checkpoint and GET /<origin hash>/checkpoint: every C2SP tlog-witness status, over real HTTP.

A node (run_node in this process, its HTTP face on loopback) witnesses a
log that is none of this project's, configured by its verifier key only
(``[[witnessing.logs]]``). The bodies are the spec's: ``old N``, base64
proof lines, an empty line, the signed checkpoint.
"""

from __future__ import annotations

import hashlib

import pytest

from pypi_witness.config.logs import WitnessingConfig
from pypi_witness.core.tlog import merkle
from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint
from pypi_witness.core.tlog.log_list import ListedLog
from pypi_witness.core.tlog.note import Signer
from pypi_witness.core.tlog.witness import open_cosignature
from pypi_witness.core.tlog.witness_wire import format_add_checkpoint
from pypi_witness.core.errors import ConflictError, NotFoundError, OverloadedError, ProofError, SignatureError
from pypi_witness.http.client import HttpWitnessClient
from tests.http.support import ForeignLog, http_config, request, start_http_node
from tests.rpc.support import vkey

FOREIGN = "sigsum.example/foreign-log"


@pytest.fixture
def foreign() -> ForeignLog:
    return ForeignLog(FOREIGN)


async def post(base: str, body: bytes):
    return await request(base, "POST", "/add-checkpoint", body, (("content-type", "text/plain"),))


async def test_every_tlog_witness_status(nursery, data_dir, foreign):
    other = ForeignLog("other.example/log")
    witnessing = WitnessingConfig(logs=(ListedLog(foreign.verifier, FOREIGN), ListedLog(other.verifier, other.origin)))
    _, base = await start_http_node(nursery, http_config(data_dir, witnessing=witnessing))
    witness = vkey(data_dir / "witness.vkey")

    # 404: an origin this witness does not cosign.
    stranger = ForeignLog("stranger.example/log")
    reply = await post(base, format_add_checkpoint(0, (), stranger.note(3)))
    assert reply.status == 404 and b"does not cosign" in reply.body
    # 403: signed by a key of the same name that is not the trusted one.
    impostor = Signer.from_seed(FOREIGN, b"i" * 32)
    assert (await post(base, format_add_checkpoint(0, (), foreign.note(3, signer=impostor)))).status == 403
    # 400: old size past the checkpoint's size; and a body that is not the spec's.
    assert (await post(base, format_add_checkpoint(9, (), foreign.note(3)))).status == 400
    assert (await post(base, b"old 0\n" + foreign.note(3))).status == 400
    assert (await post(base, format_add_checkpoint(0, (), b"not a note\n"))).status == 400
    # 422: a proof from size 0; then the first checkpoint is cosigned (200).
    assert (await post(base, format_add_checkpoint(0, foreign.proof(2, 3), foreign.note(3)))).status == 422
    reply = await post(base, format_add_checkpoint(0, (), foreign.note(3)))
    assert reply.status == 200 and reply.body.startswith("— ".encode())
    cosignature = open_cosignature(foreign.note(3), reply.body, foreign.verifier, witness)
    assert cosignature.timestamp > 0
    # 409: a stale old size, answered with the size cosigned, as text/x.tlog.size.
    reply = await post(base, format_add_checkpoint(0, (), foreign.note(7)))
    assert (reply.status, reply.headers["content-type"], reply.body) == (409, "text/x.tlog.size", b"3\n")
    # 422: a consistency proof that does not verify; the same size with another root.
    bad = [bytes(32)] * len(foreign.proof(3, 7))
    assert (await post(base, format_add_checkpoint(3, bad, foreign.note(7)))).status == 422
    reply = await post(base, format_add_checkpoint(3, (), foreign.note(3, root=merkle.leaf_hash(b"fork"))))
    assert reply.status == 422
    # 422: a size-0 checkpoint whose root is not the empty tree's.
    assert (await post(base, format_add_checkpoint(0, (), other.note(0, root=bytes(32))))).status == 422
    # 200 again with the right proof; the same checkpoint again is cosigned again.
    assert (await post(base, format_add_checkpoint(3, foreign.proof(3, 7), foreign.note(7)))).status == 200
    assert (await post(base, format_add_checkpoint(7, (), foreign.note(7)))).status == 200

    # The monitoring endpoint: the latest cosigned checkpoint, with the log's signature and the witness's.
    reply = await request(base, "GET", f"/{hashlib.sha256(FOREIGN.encode()).hexdigest()}/checkpoint")
    assert reply.status == 200
    signed = open_checkpoint(reply.body, foreign.verifier, [witness])
    assert signed.checkpoint.size == 7 and [c.name for c in signed.cosignatures] == [witness.name]
    # Never cosigned: 404 (the other log's attempts all failed); an unknown origin hash: 404.
    assert (await request(base, "GET", f"/{hashlib.sha256(other.origin.encode()).hexdigest()}/checkpoint")).status == 404
    assert (await request(base, "GET", f"/{'0' * 64}/checkpoint")).status == 404
    # 405 for the wrong method, with Allow.
    reply = await request(base, "GET", "/add-checkpoint")
    assert (reply.status, reply.headers.get("allow")) == (405, "POST")


async def test_the_http_client_learns_the_size_and_maps_refusals(nursery, data_dir, foreign):
    witnessing = WitnessingConfig(logs=(ListedLog(foreign.verifier, FOREIGN),))
    _, base = await start_http_node(nursery, http_config(data_dir, witnessing=witnessing))
    async with HttpWitnessClient(base) as client:
        await client.add_checkpoint(0, (), foreign.note(5))
        with pytest.raises(ConflictError) as conflict:
            await client.add_checkpoint(0, (), foreign.note(9))
        assert conflict.value.known_size == 5
        with pytest.raises(ProofError):
            await client.add_checkpoint(5, [bytes(32)] * 3, foreign.note(9))
        with pytest.raises(SignatureError):
            await client.add_checkpoint(5, (), foreign.note(5, signer=Signer.from_seed(FOREIGN, b"x" * 32)))
        with pytest.raises(NotFoundError):
            await client.add_checkpoint(0, (), ForeignLog("nobody.example/log").note(1))
        # The same connection serves on after refusals (keep-alive).
        answer = await client.add_checkpoint(5, foreign.proof(5, 9), foreign.note(9))
        assert open_cosignature(foreign.note(9), answer, foreign.verifier, vkey(data_dir / "witness.vkey"))


async def test_a_listed_logs_qpd_is_its_budget(nursery, data_dir, tmp_path, foreign):
    listing = tmp_path / "logs.txt"
    listing.write_text(
        "# a list as the witness network publishes them\nlogs/v0\n\n"
        f"vkey {foreign.verifier.vkey()}\norigin none\nbastion none\nqpd 24\ncontact ops@example\n"
    )
    _, base = await start_http_node(nursery, http_config(data_dir, witnessing=WitnessingConfig(log_list=listing)))
    async with HttpWitnessClient(base) as client:
        impostor = Signer.from_seed(foreign.origin, b"i" * 32)
        for _ in range(3):  # checkpoints the log did not sign are refused without touching its budget
            with pytest.raises(SignatureError):
                await client.add_checkpoint(0, (), foreign.note(2, signer=impostor))
        await client.add_checkpoint(0, (), foreign.note(2))  # qpd 24: one request an hour, and an hour's worth held
        with pytest.raises(OverloadedError) as limited:
            await client.add_checkpoint(2, foreign.proof(2, 4), foreign.note(4))
        assert limited.value.retry_after is not None and 3000 < limited.value.retry_after <= 3600
    reply = await request(base, "POST", "/add-checkpoint", format_add_checkpoint(2, foreign.proof(2, 4), foreign.note(4)))
    assert reply.status == 429 and int(reply.headers["retry-after"]) > 3000
