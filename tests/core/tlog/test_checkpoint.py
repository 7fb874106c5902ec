"""Tests for core.tlog.checkpoint: C2SP tlog-checkpoint parsing, signing and opening."""

from __future__ import annotations

import pytest

from pypi_witness.core.tlog.checkpoint import MAX_SIZE, Checkpoint, parse_checkpoint, sign_checkpoint
from pypi_witness.core.tlog.signed_checkpoint import SignedCheckpoint, open_checkpoint
from pypi_witness.core.tlog.cosignature import Cosignature, add_cosignatures, cosign
from pypi_witness.core.tlog.note import (
    ALG_COSIGNATURE_V1,
    NoteSignature,
    Signer,
    encode_base64,
    format_note,
    parse_note,
)
from pypi_witness.core.errors import NoteError, SignatureError

# c2sp.org/tlog-checkpoint example note text.
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_ROOT = bytes.fromhex("0ac5186a91863e8e1d90c808014aa89bf5da8e3ee1d9f07630f0378f68f1ab62")
SPEC_LOG_LINE = (
    "\u2014 example.com/behind-the-sofa "
    "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
)
ROOT = bytes(range(32))
ROOT_B64 = encode_base64(ROOT)
ORIGIN = "pypi-witness.example/log"


def log_signer(name: str = ORIGIN, n: int = 1) -> Signer:
    return Signer.from_seed(name, bytes([n]) * 32)


def witness(name: str, n: int) -> Signer:
    return Signer.from_seed(name, bytes([n]) * 32, ALG_COSIGNATURE_V1)


def checkpoint(size: int = 10, extensions: tuple[str, ...] = ()) -> Checkpoint:
    return Checkpoint(ORIGIN, size, ROOT, extensions)


# ---------------------------------------------------------------- parse / body


def test_spec_example_parses() -> None:
    cp = parse_checkpoint(SPEC_BODY)
    assert cp == Checkpoint("example.com/behind-the-sofa", 20852163, SPEC_ROOT, ())
    assert cp.body() == SPEC_BODY
    assert parse_note((SPEC_BODY + "\n" + SPEC_LOG_LINE).encode()).text == SPEC_BODY


@pytest.mark.parametrize(
    "text",
    [
        SPEC_BODY,
        f"o\n0\n{ROOT_B64}\n",
        f"o\n{MAX_SIZE}\n{ROOT_B64}\n",
        f"o\n1\n{ROOT_B64}\next one\nextension \u00e9 two\n",
        f"origin with spaces+plus\n5\n{ROOT_B64}\n",
    ],
)
def test_text_round_trip(text: str) -> None:
    assert parse_checkpoint(text).body() == text


@pytest.mark.parametrize(
    "cp",
    [
        Checkpoint("o", 0, ROOT),
        Checkpoint("o", MAX_SIZE, b"\xff" * 32),
        Checkpoint("a.example/log", 12345, ROOT, ("x", "y z")),
    ],
)
def test_value_round_trip(cp: Checkpoint) -> None:
    assert parse_checkpoint(cp.body()) == cp


def test_body_layout() -> None:
    assert checkpoint(7, ("ext",)).body() == f"{ORIGIN}\n7\n{ROOT_B64}\next\n"


MALFORMED = {
    "empty": "",
    "no final newline": f"o\n1\n{ROOT_B64}",
    "two lines": "o\n1\n",
    "one line": "o\n",
    "empty origin": f"\n1\n{ROOT_B64}\n",
    "leading zero": f"o\n01\n{ROOT_B64}\n",
    "double zero": f"o\n00\n{ROOT_B64}\n",
    "negative": f"o\n-1\n{ROOT_B64}\n",
    "plus sign": f"o\n+1\n{ROOT_B64}\n",
    "space before size": f"o\n 1\n{ROOT_B64}\n",
    "space after size": f"o\n1 \n{ROOT_B64}\n",
    "underscore size": f"o\n1_0\n{ROOT_B64}\n",
    "non-ascii digit": f"o\n\u0661\n{ROOT_B64}\n",
    "hex size": f"o\n0x10\n{ROOT_B64}\n",
    "empty size": f"o\n\n{ROOT_B64}\n",
    "size 2**63": f"o\n{2**63}\n{ROOT_B64}\n",
    "size far too big": f"o\n{'9' * 5000}\n{ROOT_B64}\n",
    "root not base64": "o\n1\nnot base64!\n",
    "root unpadded": f"o\n1\n{ROOT_B64.rstrip('=')}\n",
    "root 31 bytes": f"o\n1\n{encode_base64(bytes(31))}\n",
    "root 33 bytes": f"o\n1\n{encode_base64(bytes(33))}\n",
    "root empty": "o\n1\n\n",
    "root non-canonical": "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n",
    "empty extension line": f"o\n1\n{ROOT_B64}\n\n",
    "empty extension in middle": f"o\n1\n{ROOT_B64}\na\n\nb\n",
    "control char in origin": f"o\x01\n1\n{ROOT_B64}\n",
    "carriage return": f"o\r\n1\n{ROOT_B64}\n",
}


@pytest.mark.parametrize("text", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_checkpoint_rejected(text: str) -> None:
    with pytest.raises(NoteError):
        parse_checkpoint(text)


@pytest.mark.parametrize(
    ("origin", "size", "root", "extensions"),
    [
        ("", 1, ROOT, ()),
        ("o", -1, ROOT, ()),
        ("o", MAX_SIZE + 1, ROOT, ()),
        ("o", True, ROOT, ()),
        ("o", 1, ROOT[:31], ()),
        ("o", 1, ROOT, ("",)),
        ("o\nx", 1, ROOT, ()),
        ("o", 1, ROOT, ("a\nb",)),
        ("o", 1, ROOT, ("\x00",)),
    ],
)
def test_invalid_checkpoint_value_rejected(origin: str, size: int, root: bytes, extensions: tuple[str, ...]) -> None:
    with pytest.raises(NoteError):
        Checkpoint(origin, size, root, extensions)


# ---------------------------------------------------------------- sign / open


def test_sign_open_round_trip() -> None:
    log = log_signer()
    cp = checkpoint(42, ("ext",))
    data = sign_checkpoint(cp, log)
    assert parse_note(data).text == cp.body()
    signed = open_checkpoint(data, log.verifier())
    assert signed == SignedCheckpoint(cp, data, ())


def test_sign_checkpoint_requires_origin_named_key() -> None:
    with pytest.raises(NoteError):
        sign_checkpoint(checkpoint(), log_signer("other.example/log"))
    with pytest.raises(NoteError):
        sign_checkpoint(checkpoint(), Signer.from_seed(ORIGIN, bytes(32), ALG_COSIGNATURE_V1))


def test_origin_must_match_log_key_name() -> None:
    # A checkpoint whose origin is not the key's name is refused even though that key signed it.
    other = log_signer("other.example/log", 2)
    body = checkpoint().body()
    signature = encode_base64(other.key_id + other.sign(body.encode()))
    data = (body + "\n" + f"\u2014 {other.name} {signature}\n").encode()
    with pytest.raises(SignatureError, match="origin"):
        open_checkpoint(data, other.verifier())


def test_log_verifier_must_be_ed25519() -> None:
    data = sign_checkpoint(checkpoint(), log_signer())
    with pytest.raises(SignatureError):
        open_checkpoint(data, Signer.from_seed(ORIGIN, bytes([1]) * 32, ALG_COSIGNATURE_V1).verifier())


def test_wrong_log_key_rejected() -> None:
    data = sign_checkpoint(checkpoint(), log_signer(n=1))
    with pytest.raises(SignatureError, match="no signature from a known key"):
        open_checkpoint(data, log_signer(n=2).verifier())


@pytest.mark.parametrize(("old", "new"), [(b"\n10\n", b"\n11\n"), (ORIGIN.encode(), ORIGIN.encode()[:-1] + b"x")])
def test_tampered_body_rejected(old: bytes, new: bytes) -> None:
    log = log_signer()
    data = sign_checkpoint(checkpoint(10), log).replace(old, new, 1)
    with pytest.raises(SignatureError):
        open_checkpoint(data, log.verifier())


def test_malformed_note_or_body_is_note_error() -> None:
    log = log_signer()
    with pytest.raises(NoteError):
        open_checkpoint(b"not a note", log.verifier())
    bad_body = ("o\n01\n" + ROOT_B64 + "\n\n\u2014 o " + encode_base64(bytes(68)) + "\n").encode()
    with pytest.raises(NoteError):
        open_checkpoint(bad_body, log.verifier())


def test_unknown_signatures_ignored() -> None:
    log, stranger = log_signer(), log_signer("stranger.example", 9)
    cp = checkpoint()
    data = sign_checkpoint(cp, log)
    data += f"\u2014 {stranger.name} {encode_base64(stranger.key_id + bytes(72))}\n".encode()
    assert open_checkpoint(data, log.verifier()).checkpoint == cp


def test_cosignatures_verified_and_returned() -> None:
    log, w1, w2, w3 = log_signer(), witness("w1.example", 11), witness("w2.example", 12), witness("w3.example", 13)
    cp = checkpoint(99)
    c1, c2, c3 = cosign(cp, w1, 1000), cosign(cp, w2, 2000), cosign(cp, w3, 3000)
    data = add_cosignatures(sign_checkpoint(cp, log), [c1, c2, c3])
    signed = open_checkpoint(data, log.verifier(), [w1.verifier(), w2.verifier()])
    assert signed.cosignatures == (c1, c2)
    assert signed.note == data
    assert open_checkpoint(data, log.verifier()).cosignatures == ()


def test_known_cosigner_failing_rejects() -> None:
    log, w1, w2 = log_signer(), witness("w1.example", 11), witness("w2.example", 12)
    cp = checkpoint(99)
    good = cosign(cp, w1, 1000)
    bad = Cosignature(w2.name, w2.key_id, 2000, cosign(cp, w2, 2001).signature)
    data = add_cosignatures(sign_checkpoint(cp, log), [good, bad])
    with pytest.raises(SignatureError, match="w2.example"):
        open_checkpoint(data, log.verifier(), [w1.verifier(), w2.verifier()])
    assert open_checkpoint(data, log.verifier(), [w1.verifier()]).cosignatures == (good,)


def test_known_cosigner_malformed_payload_is_note_error() -> None:
    log, w1 = log_signer(), witness("w1.example", 11)
    data = sign_checkpoint(checkpoint(), log)
    data += f"\u2014 {w1.name} {encode_base64(w1.key_id + bytes(64))}\n".encode()
    with pytest.raises(NoteError):
        open_checkpoint(data, log.verifier(), [w1.verifier()])


def test_cosigner_must_be_type_04() -> None:
    data = sign_checkpoint(checkpoint(), log_signer())
    with pytest.raises(NoteError):
        open_checkpoint(data, log_signer().verifier(), [log_signer("w", 3).verifier()])


def test_cosignature_of_other_checkpoint_rejected() -> None:
    log, w1 = log_signer(), witness("w1.example", 11)
    stale = cosign(checkpoint(5), w1, 1000)
    data = add_cosignatures(sign_checkpoint(checkpoint(6), log), [stale])
    with pytest.raises(SignatureError):
        open_checkpoint(data, log.verifier(), [w1.verifier()])


def test_spec_cosigned_note_structure() -> None:
    # c2sp.org/tlog-cosignature example: a checkpoint with a log signature and a cosignature.
    cosig_line = (
        "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZ"
        "qhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
    )
    data = (SPEC_BODY + "\n" + SPEC_LOG_LINE + cosig_line).encode()
    note = parse_note(data)
    assert format_note(note) == data
    assert [s.name for s in note.signatures] == ["example.com/behind-the-sofa", "witness.example.com/w1"]
    assert note.signatures[0].key_id.hex() == "033de0ae"
    cosig = Cosignature.from_note_signature(note.signatures[1])
    assert (cosig.key_id.hex(), cosig.timestamp, len(cosig.signature)) == ("8d66cf3f", 1679315147, 64)
    assert isinstance(note.signatures[1], NoteSignature)
    with pytest.raises(SignatureError):
        open_checkpoint(data, log_signer("example.com/behind-the-sofa").verifier())
