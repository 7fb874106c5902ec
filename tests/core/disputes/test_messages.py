"""Dispute-finding messages: round trips through the gossip codec, limits, refusals."""

from __future__ import annotations

import hashlib

import pytest

from pypi_witness.core.disputes.buckets import BUCKETS, bucket_of
from pypi_witness.core.disputes.messages import (
    MAX_BUCKET_FILES,
    MAX_REQUEST_BUCKETS,
    BucketDigests,
    BucketFiles,
    BucketRequest,
    BucketRoot,
)
from pypi_witness.core.gossip.messages import EvidenceAck, Heads, ProofRequest, ProofResponse, decode, encode
from pypi_witness.core.errors import MalformedError

MAGIC = b"pypi-witness/gossip/v1 "


def names_in(bucket: int, n: int) -> list[str]:
    """``n`` sorted filenames of ``bucket``."""
    out = []
    i = 0
    while len(out) < n:
        name = f"pkg-{i}.tar.gz"
        if bucket_of(name) == bucket:
            out.append(name)
        i += 1
    return sorted(out)


def entry(name: str, i: int = 0) -> tuple[str, str, str, int]:
    return (name, hashlib.sha256(f"{name}{i}".encode()).hexdigest(), hashlib.sha256(name.encode()).hexdigest(), 10 + i)


BUCKET = bucket_of("pkg-0.tar.gz")
MESSAGES = [
    BucketRoot(bytes(range(32)), 0),
    BucketRoot(b"\xff" * 32, 2**63 - 1),
    BucketDigests(tuple(i.to_bytes(2, "big") * 8 for i in range(BUCKETS))),
    BucketDigests(tuple(bytes([i % 256]) * 32 for i in range(BUCKETS))),
    BucketDigests(tuple(bytes(8) for _ in range(BUCKETS))),
    BucketRequest((0,)),
    BucketRequest(tuple(range(0, BUCKETS, BUCKETS // MAX_REQUEST_BUCKETS))),
    BucketFiles(BUCKET, ()),
    BucketFiles(BUCKET, tuple(entry(n, i) for i, n in enumerate(names_in(BUCKET, 3)))),
    BucketFiles(bucket_of("naïve-1.0.whl"), (entry("naïve-1.0.whl"),)),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip_both_ways(message) -> None:
    data = encode(message)
    assert data.startswith(MAGIC + b"bucket-")
    assert decode(data) == message
    assert encode(decode(data)) == data


def test_every_truncation_and_trailing_byte_is_refused() -> None:
    for message in MESSAGES:
        if isinstance(message, BucketDigests):
            continue  # one block: the cuts below cover it
        data = encode(message)
        for cut in range(len(data)):
            with pytest.raises(MalformedError):
                decode(data[:cut])
        with pytest.raises(MalformedError, match="unexpected bytes"):
            decode(data + b"\n")
    data = encode(MESSAGES[2])
    for cut in (0, 20, 40, len(data) - 1):
        with pytest.raises(MalformedError):
            decode(data[:cut])


def test_the_existing_messages_keep_their_bytes() -> None:
    assert encode(Heads((b"n\n",), reply=True)) == MAGIC + b"heads\nreply 1\ncount 1\nnote 2\nn\n"
    assert encode(EvidenceAck("ab" * 32)) == MAGIC + b"evidence-ack\nid " + b"ab" * 32 + b"\n"
    assert encode(ProofRequest("o", 1, 2)) == MAGIC + b"proof-request\norigin o\nold 1\nnew 2\n"
    assert encode(ProofResponse("o", 1, 2, (bytes(32),))) == (
        MAGIC + b"proof-response\norigin o\nold 1\nnew 2\nproof 1\nhash " + b"A" * 43 + b"=\n"
    )


def test_bucket_messages_spell_their_fields() -> None:
    assert encode(BucketRequest((3, 70))) == MAGIC + b"bucket-request\ncount 2\nbucket 3\nbucket 70\n"
    name, sha, b2, size = entry("pkg-0.tar.gz")
    assert encode(BucketFiles(BUCKET, (entry("pkg-0.tar.gz"),))) == (
        MAGIC + f"bucket-files\nbucket {BUCKET}\ncount 1\nfile {name} {sha} {b2} {size}\n".encode()
    )
    digests = encode(BucketDigests(tuple(bytes(16) for _ in range(BUCKETS))))
    assert digests == MAGIC + b"bucket-digests\nwidth 16\ndigests 65536\n" + bytes(65536)


GOOD_ENTRY = entry(names_in(BUCKET, 1)[0])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: BucketRoot(bytes(31), 1), "32 bytes"),
        (lambda: BucketRoot(bytes(32), -1), "log size"),
        (lambda: BucketRoot(bytes(32), True), "log size"),
        (lambda: BucketDigests(tuple(bytes(16) for _ in range(BUCKETS - 1))), "tuple of 4096"),
        (lambda: BucketDigests(tuple(bytes(7) for _ in range(BUCKETS))), "8 to 32 bytes"),
        (lambda: BucketDigests(tuple(bytes(33) for _ in range(BUCKETS))), "8 to 32 bytes"),
        (lambda: BucketDigests((bytes(16),) * (BUCKETS - 1) + (bytes(17),)), "same width"),
        (lambda: BucketRequest(()), "1 to 64"),
        (lambda: BucketRequest(tuple(range(MAX_REQUEST_BUCKETS + 1))), "1 to 64"),
        (lambda: BucketRequest((BUCKETS,)), "not in 0..4095"),
        (lambda: BucketRequest((5, 5)), "strictly increasing"),
        (lambda: BucketRequest((6, 5)), "strictly increasing"),
        (lambda: BucketFiles(BUCKETS, ()), "not in 0..4095"),
        (lambda: BucketFiles(BUCKET, (GOOD_ENTRY, GOOD_ENTRY)), "strictly increasing"),
        (lambda: BucketFiles(BUCKET, (GOOD_ENTRY[:3],)), "filename, sha256"),
        (lambda: BucketFiles((BUCKET + 1) % BUCKETS, (GOOD_ENTRY,)), "is not in bucket"),
        (lambda: BucketFiles(BUCKET, ((GOOD_ENTRY[0], "A" * 64, GOOD_ENTRY[2], 1),)), "sha256"),
        (lambda: BucketFiles(BUCKET, ((GOOD_ENTRY[0], GOOD_ENTRY[1], "ab", 1),)), "blake2b"),
        (lambda: BucketFiles(BUCKET, (GOOD_ENTRY[:3] + (-1,),)), "size"),
        (lambda: BucketFiles(BUCKET, (("a/b.whl",) + GOOD_ENTRY[1:],)), "not a file name"),
        (lambda: BucketFiles(BUCKET, (("x" * 1025,) + GOOD_ENTRY[1:],)), "not a file name"),
        (lambda: BucketFiles(BUCKET, ((GOOD_ENTRY,) * (MAX_BUCKET_FILES + 1))), "at most 16384"),
    ],
)
def test_constructors_refuse_what_breaks_a_rule(make, message) -> None:
    with pytest.raises(MalformedError, match=message):
        make()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"bucket-root\nroot " + b"A" * 43 + b"=\nsize -1\n", "decimal"),
        (b"bucket-root\nroot AAAA\nsize 1\n", "not 32"),
        (b"bucket-digests\nwidth 7\ndigests 28672\n" + bytes(28672), "below 8"),
        (b"bucket-digests\nwidth 33\ndigests 0\n", "decimal in 0..32"),
        (b"bucket-digests\nwidth 8\ndigests 8\n" + bytes(8), "not 4096 of 8"),
        (b"bucket-digests\nwidth 8\ndigests 99999\n", "decimal in 0..32768"),
        (b"bucket-request\ncount 65\n", "decimal in 0..64"),
        (b"bucket-request\ncount 0\n", "1 to 64"),
        (b"bucket-request\ncount 1\nbucket 4096\n", "decimal in 0..4095"),
        (b"bucket-request\ncount 2\nbucket 9\nbucket 2\n", "strictly increasing"),
        (b"bucket-files\nbucket 1\ncount 16385\n", "decimal in 0..16384"),
        (b"bucket-files\nbucket 1\ncount 1\nfile a b c\n", "<filename> <sha256>"),
        (b"bucket-files\nbucket 1\ncount 1\nfile a b c d e\n", "<filename> <sha256>"),
        (b"bucket-files\nbucket 1\ncount 1\nfile a " + b"0" * 64 + b" " + b"0" * 64 + b" 01\n", "<size>"),
        (b"bucket-files\nbucket 1\ncount 1\nfile a\xff " + b"0" * 64 + b" " + b"0" * 64 + b" 1\n", "UTF-8"),
        (b"bucket-files\nbucket 1\ncount 1\nfile a\x01 " + b"0" * 64 + b" " + b"0" * 64 + b" 1\n", "control"),
        (b"bucket-nothing\n", "unknown message type"),
    ],
)
def test_decode_refuses_malformed_bytes(data, message) -> None:
    with pytest.raises(MalformedError, match=message):
        decode(MAGIC + data)


def test_encode_refuses_what_is_not_a_message() -> None:
    with pytest.raises(MalformedError, match="not a gossip message"):
        encode(("bucket-root", b""))  # type: ignore[arg-type]
