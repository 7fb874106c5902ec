"""Gossip messages: byte round trips both ways, and refusal of malformed input with a message."""

from __future__ import annotations

import pytest

from pypi_witness.core.gossip.messages import (
    EvidenceAck,
    EvidencePush,
    Heads,
    ProofRequest,
    ProofResponse,
    VerdictPush,
    decode,
    encode,
)
from pypi_witness.core.errors import MalformedError

NOTE = "log.example\n5\n" + "A" * 43 + "=\n\n\u2014 log.example AAAA\n"
MESSAGES = [
    Heads((NOTE.encode(), b"x\n\n\xe2\x80\x94 y\n"), reply=True),
    Heads((), reply=False),
    EvidencePush(b"pypi-witness/evidence/v1 same-size\nnote 3\nabc"),
    EvidenceAck("ab" * 32),
    ProofRequest("log.example", 3, 9),
    ProofResponse("log.example", 3, 9, (bytes(32), bytes(range(32)))),
    ProofResponse("log.example", 1, 2, ()),
    VerdictPush(b"pypi-witness/v1 verdict\nfile f.whl\n"),  # form only: the settler re-checks the record
]


@pytest.mark.parametrize("message", MESSAGES)
def test_round_trip_both_ways(message) -> None:
    data = encode(message)
    assert data.startswith(b"pypi-witness/gossip/v1 ")
    assert decode(data) == message
    assert encode(decode(data)) == data


def test_every_truncation_and_trailing_byte_is_refused() -> None:
    for message in MESSAGES:
        data = encode(message)
        for cut in range(len(data)):
            with pytest.raises(MalformedError):
                decode(data[:cut])
        with pytest.raises(MalformedError, match="unexpected bytes"):
            decode(data + b"\n")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"pypi-witness/gossip/v2 heads\n", "expected"),
        (b"pypi-witness/gossip/v1 gossip\n", "unknown message type"),
        (b"pypi-witness/gossip/v1 heads\nreply 2\ncount 0\n", "decimal in 0..1"),
        (b"pypi-witness/gossip/v1 heads\nreply 1\ncount 01\n", "decimal"),
        (b"pypi-witness/gossip/v1 heads\nreply 1\ncount 5000\n", "decimal in 0..1024"),
        (b"pypi-witness/gossip/v1 evidence-ack\nid ABC\n", "64 lowercase hex"),
        (b"pypi-witness/gossip/v1 proof-request\norigin o\nold 5\nnew 5\n", "0 < old size < new size"),
        (b"pypi-witness/gossip/v1 proof-request\norigin o\nold 0\nnew 5\n", "0 < old size < new size"),
        (b"pypi-witness/gossip/v1 proof-request\norigin o\nold -1\nnew 5\n", "decimal"),
        (b"pypi-witness/gossip/v1 proof-request\norigin o\nold 1\nnew 99999999999999999999\n", "decimal"),
        (b"pypi-witness/gossip/v1 proof-response\norigin o\nold 1\nnew 2\nproof 1\nhash AAAA\n", "not 32"),
        (b"pypi-witness/gossip/v1 proof-response\norigin o\nold 1\nnew 2\nproof 1\nhash !!\n", "base64"),
        (b"pypi-witness/gossip/v1 proof-request\norigin \xff\nold 1\nnew 2\n", "UTF-8"),
        (b"", "missing a final newline"),
        (b"pypi-witness/gossip/v1 verdict\nrecord 99999999\n", "record"),
    ],
)
def test_malformed_messages_are_refused_with_a_message(data: bytes, message: str) -> None:
    with pytest.raises(MalformedError, match=message):
        decode(data)


def test_bad_objects_are_refused() -> None:
    with pytest.raises(MalformedError, match="not a gossip message"):
        encode("heads")  # type: ignore[arg-type]
    with pytest.raises(MalformedError):
        decode("text")  # type: ignore[arg-type]
    with pytest.raises(MalformedError):
        ProofResponse("o", 1, 2, (b"short",))
    with pytest.raises(MalformedError):
        ProofRequest("o", True, 2)
