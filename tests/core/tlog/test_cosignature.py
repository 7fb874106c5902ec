"""Tests for core.tlog.cosignature: C2SP tlog-cosignature cosignature/v1."""

from __future__ import annotations

import base64

import pytest

from pypi_witness.core.tlog.checkpoint import Checkpoint, parse_checkpoint, sign_checkpoint
from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint
from pypi_witness.core.tlog.cosignature import (
    MAX_TIMESTAMP,
    Cosignature,
    add_cosignatures,
    cosign,
    cosigned_message,
    verify_cosignature,
)
from pypi_witness.core.tlog.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    MAX_SIGNATURES,
    Note,
    NoteSignature,
    Signer,
    Verifier,
    encode_base64,
    format_note,
    key_id,
    parse_note,
)
from pypi_witness.core.errors import NoteError, SignatureError

# c2sp.org/tlog-cosignature "Ed25519 signed message" example.
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_MESSAGE = (
    b"cosignature/v1\n"
    b"time 1679315147\n"
    b"example.com/behind-the-sofa\n"
    b"20852163\n"
    b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)

# A cosignature/v1 note made by github.com/transparency-dev/formats/note, as
# recorded in yaglo/signed_note test/support/vectors/typed_notes.tsv ("cosigv1").
GO_COSIGNER_VKEY = "vec.example/cosigv10+c12688da+BLMSTPoQj0PojM8eKiPf9xUT8g6b0OuMyvYb5sSu9JH5"
GO_COSIGNED_NOTE = base64.b64decode(
    "dmVjLmV4YW1wbGUvY29zaWd2MTAKNDIKQ3NVWWFwR0dQbzRka01nSUFVcW9tL1hhamo3aDJmQjJNUEEzajJqeHEyST0KCuKAlCB2ZWMu"
    "ZXhhbXBsZS9jb3NpZ3YxMCB3U2FJMmdBQUFBQnFiTDVRM0hqYlRDSmVxTWczdG1wZFlHQWcwNWlqVGk3azBweXJlSlNVTG10djNnK3lY"
    "SCtHL0tvODdKRytRa0xGNmFmOStHVlZObEVJZ2Y2VDBidzB3UXlNRHc9PQo="
)
GO_TIMESTAMP = 1785511504

ROOT = bytes(range(32))
ORIGIN = "pypi-witness.example/log"


def witness(name: str = "w1.example", n: int = 11) -> Signer:
    return Signer.from_seed(name, bytes([n]) * 32, ALG_COSIGNATURE_V1)


def checkpoint(size: int = 10, extensions: tuple[str, ...] = ()) -> Checkpoint:
    return Checkpoint(ORIGIN, size, ROOT, extensions)


# ---------------------------------------------------------------- message and payload layout


def test_spec_message_is_byte_exact() -> None:
    assert cosigned_message(SPEC_BODY, 1679315147) == SPEC_MESSAGE
    assert cosigned_message(parse_checkpoint(SPEC_BODY).body(), 1679315147) == SPEC_MESSAGE


def test_message_includes_extension_lines_and_zero_time() -> None:
    body = checkpoint(3, ("ext a", "ext b")).body()
    assert cosigned_message(body, 0) == b"cosignature/v1\ntime 0\n" + body.encode()
    assert body.endswith("ext a\next b\n")


@pytest.mark.parametrize("timestamp", [-1, MAX_TIMESTAMP + 1, True, 1.0])
def test_message_rejects_bad_timestamp(timestamp: object) -> None:
    with pytest.raises(NoteError):
        cosigned_message(SPEC_BODY, timestamp)  # type: ignore[arg-type]


def test_message_rejects_body_without_newline() -> None:
    with pytest.raises(NoteError):
        cosigned_message(SPEC_BODY[:-1], 1)


def test_payload_layout_is_byte_exact() -> None:
    sig = bytes(range(64))
    cosig = Cosignature("w1.example", b"\xde\xad\xbe\xef", 0x0102030405060708, sig)
    line = cosig.to_note_signature()
    assert line == NoteSignature("w1.example", b"\xde\xad\xbe\xef", b"\x01\x02\x03\x04\x05\x06\x07\x08" + sig)
    note = format_note(Note("t\n", (line,)))
    expected_payload = b"\xde\xad\xbe\xef" + b"\x01\x02\x03\x04\x05\x06\x07\x08" + sig
    assert note == b"t\n\n\xe2\x80\x94 w1.example " + encode_base64(expected_payload).encode() + b"\n"
    assert Cosignature.from_note_signature(line) == cosig


def test_timestamp_is_big_endian_unsigned() -> None:
    cosig = Cosignature("w", b"\x00" * 4, MAX_TIMESTAMP, bytes(64))
    assert cosig.to_note_signature().signature[:8] == b"\x7f" + b"\xff" * 7
    assert Cosignature.from_note_signature(cosig.to_note_signature()).timestamp == MAX_TIMESTAMP


@pytest.mark.parametrize("length", [1, 8, 64, 71, 73, 76])
def test_from_note_signature_rejects_wrong_length(length: int) -> None:
    with pytest.raises(NoteError, match="72"):
        Cosignature.from_note_signature(NoteSignature("w", b"\x00" * 4, b"\x00" * length))


def test_from_note_signature_rejects_timestamp_over_2_63() -> None:
    with pytest.raises(NoteError):
        Cosignature.from_note_signature(NoteSignature("w", b"\x00" * 4, b"\x80" + bytes(7) + bytes(64)))


@pytest.mark.parametrize(
    ("kid", "timestamp", "sig"),
    [
        (b"\x00" * 3, 1, bytes(64)),
        (b"\x00" * 4, -1, bytes(64)),
        (b"\x00" * 4, 1, bytes(63)),
        (b"\x00" * 4, 2**63, bytes(64)),
    ],
)
def test_invalid_cosignature_value_rejected(kid: bytes, timestamp: int, sig: bytes) -> None:
    with pytest.raises(NoteError):
        Cosignature("w", kid, timestamp, sig)


# ---------------------------------------------------------------- reference vector


def test_go_reference_cosignature_verifies() -> None:
    verifier = Verifier.from_vkey(GO_COSIGNER_VKEY)
    assert verifier.alg == ALG_COSIGNATURE_V1
    assert verifier.key_id == key_id("vec.example/cosigv10", ALG_COSIGNATURE_V1, verifier.public_key)
    note = parse_note(GO_COSIGNED_NOTE)
    assert format_note(note) == GO_COSIGNED_NOTE
    cp = parse_checkpoint(note.text)
    assert (cp.origin, cp.size) == ("vec.example/cosigv10", 42)
    cosig = Cosignature.from_note_signature(note.signatures[0])
    assert (cosig.key_id.hex(), cosig.timestamp) == ("c12688da", GO_TIMESTAMP)
    verify_cosignature(cp, cosig, verifier)


@pytest.mark.parametrize("change", ["size", "timestamp", "signature"])
def test_go_reference_cosignature_one_change_fails(change: str) -> None:
    verifier = Verifier.from_vkey(GO_COSIGNER_VKEY)
    note = parse_note(GO_COSIGNED_NOTE)
    cp = parse_checkpoint(note.text)
    cosig = Cosignature.from_note_signature(note.signatures[0])
    if change == "size":
        cp = Checkpoint(cp.origin, 43, cp.root_hash)
    elif change == "timestamp":
        cosig = Cosignature(cosig.name, cosig.key_id, cosig.timestamp + 1, cosig.signature)
    else:
        flipped = bytes([cosig.signature[0] ^ 1]) + cosig.signature[1:]
        cosig = Cosignature(cosig.name, cosig.key_id, cosig.timestamp, flipped)
    with pytest.raises(SignatureError):
        verify_cosignature(cp, cosig, verifier)


# ---------------------------------------------------------------- cosign / verify


def test_cosign_verify_round_trip() -> None:
    w = witness()
    cp = checkpoint(5, ("ext",))
    cosig = cosign(cp, w, 1700000000)
    assert (cosig.name, cosig.key_id, cosig.timestamp) == (w.name, w.key_id, 1700000000)
    assert w.verifier().verify(cosigned_message(cp.body(), 1700000000), cosig.signature)
    verify_cosignature(cp, cosig, w.verifier())


def test_cosign_is_deterministic_and_time_dependent() -> None:
    w, cp = witness(), checkpoint()
    assert cosign(cp, w, 1) == cosign(cp, w, 1)
    assert cosign(cp, w, 1).signature != cosign(cp, w, 2).signature


def test_tampered_timestamp_fails() -> None:
    w, cp = witness(), checkpoint()
    cosig = cosign(cp, w, 1000)
    with pytest.raises(SignatureError):
        verify_cosignature(cp, Cosignature(cosig.name, cosig.key_id, 1001, cosig.signature), w.verifier())


@pytest.mark.parametrize(
    "other",
    [
        Checkpoint(ORIGIN, 11, ROOT),
        Checkpoint(ORIGIN, 10, bytes(32)),
        Checkpoint("other.example/log", 10, ROOT),
        Checkpoint(ORIGIN, 10, ROOT, ("ext",)),
    ],
)
def test_tampered_body_fails(other: Checkpoint) -> None:
    w = witness()
    cosig = cosign(checkpoint(10), w, 1000)
    with pytest.raises(SignatureError):
        verify_cosignature(other, cosig, w.verifier())


@pytest.mark.parametrize("index", [0, 32, 63])
def test_tampered_signature_fails(index: int) -> None:
    w, cp = witness(), checkpoint()
    cosig = cosign(cp, w, 1000)
    bad = bytearray(cosig.signature)
    bad[index] ^= 0x01
    with pytest.raises(SignatureError):
        verify_cosignature(cp, Cosignature(cosig.name, cosig.key_id, cosig.timestamp, bytes(bad)), w.verifier())


def test_wrong_verifier_fails() -> None:
    w, other, cp = witness("w1.example", 11), witness("w2.example", 12), checkpoint()
    cosig = cosign(cp, w, 1000)
    with pytest.raises(SignatureError, match="not w2.example"):
        verify_cosignature(cp, cosig, other.verifier())
    same_name_other_key = witness("w1.example", 13)
    with pytest.raises(SignatureError):
        verify_cosignature(cp, cosig, same_name_other_key.verifier())


def test_ed25519_verifier_cannot_check_cosignatures() -> None:
    w, cp = witness(), checkpoint()
    cosig = cosign(cp, w, 1000)
    plain = Verifier.from_public_key(w.name, w.public_key, ALG_ED25519)
    with pytest.raises(SignatureError):
        verify_cosignature(cp, cosig, plain)


def test_cosign_requires_type_04_signer_and_valid_time() -> None:
    with pytest.raises(NoteError):
        cosign(checkpoint(), Signer.from_seed("w", bytes(32)), 1)
    with pytest.raises(NoteError):
        cosign(checkpoint(), witness(), -5)


# ---------------------------------------------------------------- add_cosignatures


def test_add_cosignatures_appends_lines() -> None:
    log = Signer.from_seed(ORIGIN, bytes([1]) * 32)
    w1, w2 = witness("w1.example", 11), witness("w2.example", 12)
    cp = checkpoint()
    signed = sign_checkpoint(cp, log)
    c1, c2 = cosign(cp, w1, 10), cosign(cp, w2, 20)
    data = add_cosignatures(signed, [c1, c2])
    expected_lines = "".join(
        f"\u2014 {c.name} {encode_base64(c.key_id + c.timestamp.to_bytes(8, 'big') + c.signature)}\n" for c in (c1, c2)
    )
    assert data == signed + expected_lines.encode()
    assert open_checkpoint(data, log.verifier(), [w1.verifier(), w2.verifier()]).cosignatures == (c1, c2)


def test_add_cosignatures_skips_duplicate_keys() -> None:
    log, w1 = Signer.from_seed(ORIGIN, bytes([1]) * 32), witness()
    cp = checkpoint()
    first, later = cosign(cp, w1, 10), cosign(cp, w1, 20)
    once = add_cosignatures(sign_checkpoint(cp, log), [first, later])
    assert len(parse_note(once).signatures) == 2
    assert add_cosignatures(once, [later]) == once
    assert open_checkpoint(once, log.verifier(), [w1.verifier()]).cosignatures == (first,)


def test_add_cosignatures_limits_and_malformed() -> None:
    with pytest.raises(NoteError):
        add_cosignatures(b"not a note", [])
    log = Signer.from_seed(ORIGIN, bytes([1]) * 32)
    cp = checkpoint()
    many = [cosign(cp, witness(f"w{i}.example", 100), i) for i in range(MAX_SIGNATURES)]
    with pytest.raises(NoteError):
        add_cosignatures(sign_checkpoint(cp, log), many)
    assert len(parse_note(add_cosignatures(sign_checkpoint(cp, log), many[:-1])).signatures) == MAX_SIGNATURES
