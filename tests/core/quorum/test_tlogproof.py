"""Tests for core.quorum.tlogproof: C2SP tlog-proof bundles, byte-exact, verified against a policy."""

from __future__ import annotations

import base64
import hashlib

import pytest

from pypi_witness.core.tlog.checkpoint import Checkpoint
from pypi_witness.core.tlog.merkle import hash_reader_for, inclusion_proof, leaf_hash, root_of
from pypi_witness.core.quorum.policy import parse_policy
from pypi_witness.core.quorum.tlogproof import (
    TlogProof,
    format_tlog_proof,
    parse_tlog_proof,
    verify_bundle,
)
from pypi_witness.core.errors import (
    BundleError,
    MalformedError,
    NoteError,
    ProofError,
    QuorumError,
    SignatureError,
    WitnessError,
)
from tests.core.quorum.policy_fixtures import ORIGIN, cosigned_note, flat_policy_text

HEADER = "c2sp.org/tlog-proof@v1"

# The example in c2sp.org/tlog-proof, verbatim (its signatures are elided with "[...]").
SPEC_EXAMPLE = """c2sp.org/tlog-proof@v1
extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ
index 73894
gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=
EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=
RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=
AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=

example.com/fancylog
109482
sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=

\u2014 example.com/fancylog hI2DJw[...]1roloI=
\u2014 witness1.example mJirIklj[...]qY9v2B/5bg==
\u2014 witness2.example TnKKVHLX[...]xwYwrSjgow==
\u2014 witness3.example S4X82uH5[...]3oEcROGLFQ==
""".encode()


def sum256(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ---------------------------------------------------------------- format and parse


# Expected bytes of github.com/transparency-dev/formats/proof's TestMarshal cases.
@pytest.mark.parametrize(
    ("bundle", "expected"),
    [
        (
            TlogProof(5, (sum256("hash1"), sum256("hash2")), b"test checkpoint\n"),
            f"{HEADER}\nindex 5\n{b64(sum256('hash1'))}\n{b64(sum256('hash2'))}\n\ntest checkpoint\n",
        ),
        (
            TlogProof(10, (sum256("hash1"),), b"checkpoint data\n", b"extra information"),
            f"{HEADER}\nextra {b64(b'extra information')}\nindex 10\n{b64(sum256('hash1'))}\n\ncheckpoint data\n",
        ),
        (TlogProof(0, (), b"checkpoint\n"), f"{HEADER}\nindex 0\n\ncheckpoint\n"),
    ],
)
def test_format_matches_other_implementation(bundle: TlogProof, expected: str) -> None:
    assert format_tlog_proof(bundle) == expected.encode()
    assert parse_tlog_proof(expected.encode()) == bundle


def test_spec_example_parses_and_formats_back_byte_exact() -> None:
    bundle = parse_tlog_proof(SPEC_EXAMPLE)
    assert bundle.index == 73894
    assert bundle.extra == base64.b64decode("YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ")
    assert len(bundle.proof) == 5
    assert bundle.proof[0] == base64.b64decode("gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=")
    assert bundle.checkpoint.startswith(b"example.com/fancylog\n109482\n")
    assert format_tlog_proof(bundle) == SPEC_EXAMPLE


def test_spec_example_checkpoint_is_refused_when_verified() -> None:
    policy = parse_policy(b"quorum none\n")
    with pytest.raises(NoteError):
        verify_bundle(SPEC_EXAMPLE, policy, leaf=b"entry")


@pytest.mark.parametrize(
    "bundle",
    [
        TlogProof(0, (), b"\n"),
        TlogProof(2**64 - 1, (sum256("a"),) * 64, b"cp\n\nwith a blank line\n", b""),
        TlogProof(7, (sum256("b"),), b"\nstarts with a newline\n", bytes(range(256))),
    ],
)
def test_round_trip(bundle: TlogProof) -> None:
    data = format_tlog_proof(bundle)
    assert parse_tlog_proof(data) == bundle
    assert format_tlog_proof(parse_tlog_proof(data)) == data


def test_empty_extra_line_is_present_and_empty() -> None:
    assert parse_tlog_proof(f"{HEADER}\nextra \nindex 0\n\ncp\n".encode()).extra == b""
    assert parse_tlog_proof(f"{HEADER}\nindex 0\n\ncp\n".encode()).extra is None


H = b64(sum256("a"))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "line 1: tlog-proof ends"),
        ("wrong-header\nindex 0\n\ncp\n", "line 1: tlog-proof does not start"),
        (f"{HEADER} \nindex 0\n\ncp\n", "line 1:"),
        (f"{HEADER}\r\nindex 0\n\ncp\n", "line 1:"),
        (f"{HEADER}\n", "line 2: tlog-proof ends"),
        (f"{HEADER}\nextra !!notbase64!!\nindex 0\n\ncp\n", "line 2: extra data is not canonical base64"),
        (f"{HEADER}\nextra YR==\nindex 0\n\ncp\n", "line 2: extra data is not canonical"),
        (f"{HEADER}\nextra\nindex 0\n\ncp\n", "line 2: expected 'index <n>'"),
        (f"{HEADER}\n\n\ncp\n", "line 2: expected 'index <n>'"),
        (f"{HEADER}\nindex notanumber\n\ncp\n", "line 2: index"),
        (f"{HEADER}\nindex -5\n\ncp\n", "line 2: index"),
        (f"{HEADER}\nindex +1\n\ncp\n", "line 2: index"),
        (f"{HEADER}\nindex 007\n\ncp\n", "leading zeros"),
        (f"{HEADER}\nindex  1\n\ncp\n", "line 2: index"),
        (f"{HEADER}\nindex 1\r\n\ncp\n", "line 2: index"),
        (f"{HEADER}\nindex 18446744073709551616\n\ncp\n", "0..2**64-1"),
        (f"{HEADER}\nindex {'9' * 30}\n\ncp\n", "0..2**64-1"),
        (f"{HEADER}\nindex 0\n!!notbase64!!\n\ncp\n", "line 3: proof hash is not canonical base64"),
        (f"{HEADER}\nindex 0\n{b64(bytes(64))}\n\ncp\n", "line 3: proof hash is 64 bytes, not 32"),
        (f"{HEADER}\nindex 0\n{H[:-2]}t=\n\ncp\n", "line 3: proof hash is not canonical"),
        (f"{HEADER}\nindex 0\n{H}\r\n\ncp\n", "line 3: proof hash is not canonical"),
        (f"{HEADER}\nindex 0\n" + f"{H}\n" * 65 + "\ncp\n", "line 67: more than 64 proof hashes"),
        (f"{HEADER}\nindex 1\n", "line 3: tlog-proof ends before the empty line"),
        (f"{HEADER}\nindex 1\n{H}\n", "line 4: tlog-proof ends"),
        (f"{HEADER}\nindex 1\n\n", "line 4: the checkpoint is empty"),
        (f"{HEADER}\nindex 1\n\ncp a\ncp b", "line 4: the checkpoint is empty or does not end in a newline"),
    ],
)
def test_malformed_bundles_are_refused(text: str, words: str) -> None:
    with pytest.raises(BundleError) as info:
        parse_tlog_proof(text.encode())
    assert words in str(info.value)
    assert isinstance(info.value, MalformedError)


def test_parse_refuses_non_bytes() -> None:
    with pytest.raises(BundleError):
        parse_tlog_proof(f"{HEADER}\nindex 0\n\ncp\n")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"index": -1}, "index"),
        ({"index": 2**64}, "index"),
        ({"index": True}, "index"),
        ({"proof": (bytes(31),)}, "proof hash 0"),
        ({"proof": (sum256("a"),) * 65}, "more than 64"),
        ({"checkpoint": b""}, "checkpoint"),
        ({"checkpoint": b"no newline"}, "checkpoint"),
        ({"extra": "text"}, "extra"),
    ],
)
def test_constructor_checks(kwargs: dict, words: str) -> None:
    fields = {"index": 0, "proof": (), "checkpoint": b"cp\n", **kwargs}
    with pytest.raises(BundleError, match=words):
        TlogProof(**fields)


# ---------------------------------------------------------------- verification against a real log


LEAVES = [f"record {i}\n".encode() for i in range(7)]
HASHES = [leaf_hash(leaf) for leaf in LEAVES]
CHECKPOINT = Checkpoint(ORIGIN, len(LEAVES), root_of(HASHES))
POLICY = parse_policy(flat_policy_text(3, 2).encode())  # witnesses W0..W2, quorum 2 of 3


def bundle_for(index: int, witnesses=(0, 1), extra: bytes | None = None) -> bytes:
    proof = inclusion_proof(index, len(LEAVES), hash_reader_for(HASHES))
    return format_tlog_proof(TlogProof(index, tuple(proof), cosigned_note(CHECKPOINT, witnesses), extra))


@pytest.mark.parametrize("index", range(len(LEAVES)))
def test_verify_every_leaf(index: int) -> None:
    data = bundle_for(index, extra=b"context")
    result = verify_bundle(data, POLICY, leaf=LEAVES[index])
    assert result.index == index
    assert result.leaf_hash == HASHES[index]
    assert result.extra == b"context"
    assert result.checked.signed.checkpoint == CHECKPOINT
    assert result.checked.quorum.verified == ("W0", "W1")
    again = verify_bundle(parse_tlog_proof(data), POLICY, leaf_hash=HASHES[index])
    assert again == result


def test_leaf_must_be_given_exactly_once() -> None:
    data = bundle_for(0)
    with pytest.raises(MalformedError, match="exactly one"):
        verify_bundle(data, POLICY)
    with pytest.raises(MalformedError, match="exactly one"):
        verify_bundle(data, POLICY, leaf=LEAVES[0], leaf_hash=HASHES[0])


def test_other_leaf_is_refused() -> None:
    with pytest.raises(ProofError):
        verify_bundle(bundle_for(3), POLICY, leaf=LEAVES[4])
    with pytest.raises(ProofError):
        verify_bundle(bundle_for(3), POLICY, leaf_hash=LEAVES[3])  # the bytes, not their leaf hash


def test_quorum_not_met_is_refused_with_the_result() -> None:
    with pytest.raises(QuorumError) as info:
        verify_bundle(bundle_for(2, witnesses=(2,)), POLICY, leaf=LEAVES[2])
    assert info.value.result.verified == ("W2",)
    assert info.value.result.missing == ("W0", "W1")


def test_untrusted_log_is_refused() -> None:
    policy = parse_policy(flat_policy_text(3, 2).split("\n", 1)[1].encode())  # no log line
    with pytest.raises(SignatureError):
        verify_bundle(bundle_for(0), policy, leaf=LEAVES[0])


def corrupt(bundle: TlogProof, **changes) -> TlogProof:
    fields = {"index": bundle.index, "proof": bundle.proof, "checkpoint": bundle.checkpoint, "extra": bundle.extra}
    return TlogProof(**{**fields, **changes})


def test_corrupting_each_proof_hash_is_refused() -> None:
    bundle = parse_tlog_proof(bundle_for(5))
    assert len(bundle.proof) == 3
    for i in range(len(bundle.proof)):
        proof = list(bundle.proof)
        proof[i] = bytes([proof[i][0] ^ 1]) + proof[i][1:]
        with pytest.raises(ProofError):
            verify_bundle(corrupt(bundle, proof=tuple(proof)), POLICY, leaf=LEAVES[5])


def test_truncated_extended_or_reordered_proof_is_refused() -> None:
    bundle = parse_tlog_proof(bundle_for(5))
    for proof in (bundle.proof[:-1], bundle.proof + (bytes(32),), bundle.proof[::-1], ()):
        with pytest.raises(ProofError):
            verify_bundle(corrupt(bundle, proof=proof), POLICY, leaf=LEAVES[5])


def test_wrong_index_is_refused() -> None:
    bundle = parse_tlog_proof(bundle_for(5))
    for index in (4, 6, 7, 2**63):
        with pytest.raises(ProofError):
            verify_bundle(corrupt(bundle, index=index), POLICY, leaf=LEAVES[5])


def test_checkpoint_root_or_size_changed_is_refused() -> None:
    bundle = parse_tlog_proof(bundle_for(1))
    text = bundle.checkpoint
    for old, new in ((b"\n7\n", b"\n8\n"), (base64.b64encode(CHECKPOINT.root_hash), base64.b64encode(bytes(32)))):
        with pytest.raises(SignatureError):
            verify_bundle(corrupt(bundle, checkpoint=text.replace(old, new, 1)), POLICY, leaf=LEAVES[1])


def test_extra_data_is_not_authenticated() -> None:
    bundle = parse_tlog_proof(bundle_for(1, extra=b"one"))
    assert verify_bundle(corrupt(bundle, extra=b"two"), POLICY, leaf=LEAVES[1]).extra == b"two"


def test_every_flipped_byte_outside_extra_is_refused() -> None:
    data = bundle_for(6, extra=b"x")
    extra_line = data.index(b"extra ")
    extra_end = data.index(b"\n", extra_line)
    for pos in range(len(data)):
        if extra_line + len(b"extra ") <= pos < extra_end:
            continue
        flipped = data[:pos] + bytes([data[pos] ^ 1]) + data[pos + 1 :]
        with pytest.raises(WitnessError):
            verify_bundle(flipped, POLICY, leaf=LEAVES[6])
