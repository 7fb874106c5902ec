"""core.tlog.witness_wire: tlog-witness's add-checkpoint body and 409 size body, parsed strictly."""

from __future__ import annotations

import base64

import pytest

from pypi_witness.core.tlog.witness_wire import format_add_checkpoint, format_size, parse_add_checkpoint, parse_size
from pypi_witness.core.errors import MalformedError

NOTE = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n".encode()
PROOF = [bytes([i]) * 32 for i in range(4)]


def test_the_spec_example_shape_parses():
    body = b"old 20852014\n" + b"".join(base64.b64encode(h) + b"\n" for h in PROOF) + b"\n" + NOTE
    request = parse_add_checkpoint(body)
    assert (request.old_size, request.proof, request.note) == (20852014, tuple(PROOF), NOTE)
    assert format_add_checkpoint(20852014, PROOF, NOTE) == body
    assert parse_add_checkpoint(b"old 0\n\n" + NOTE).proof == ()


@pytest.mark.parametrize(
    "body",
    [
        b"", b"old 0\n", b"old 0\n" + NOTE, b"old 01\n\n" + NOTE, b"old -1\n\n" + NOTE, b"old  1\n\n" + NOTE,
        b"Old 1\n\n" + NOTE, b"old 1 \n\n" + NOTE, b"old 18446744073709551616\n\n" + NOTE, b"old 1\n\n",
        b"old 1\nAAAA\n\n" + NOTE, b"old 1\n" + base64.b64encode(b"x" * 31) + b"\n\n" + NOTE,
        b"old 1\n" + base64.b64encode(b"x" * 33) + b"\n\n" + NOTE,
        b"old 1\n" + b"".join(base64.b64encode(b"x" * 32) + b"\n" for _ in range(64)) + b"\n" + NOTE,
        b"old 1\r\n\r\n" + NOTE,
    ],
)  # fmt: skip
def test_malformed_bodies_are_refused(body):
    with pytest.raises(MalformedError):
        parse_add_checkpoint(body)


def test_63_proof_lines_are_allowed():
    body = format_add_checkpoint(5, [b"p" * 32] * 63, NOTE)
    assert len(parse_add_checkpoint(body).proof) == 63


def test_size_bodies():
    assert format_size(42) == b"42\n" and parse_size(b"42\n") == 42 and parse_size(b"0\n") == 0
    for bad in (b"42", b"042\n", b"x\n", b"\n", b"1 \n"):
        with pytest.raises(MalformedError):
            parse_size(bad)
