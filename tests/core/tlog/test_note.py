"""Tests for core.tlog.note: C2SP signed-note parsing, formatting, keys, signing, opening."""

from __future__ import annotations

import pytest

from pypi_witness.core.tlog.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    MAX_SIGNATURES,
    Note,
    NoteSignature,
    Signer,
    Verifier,
    decode_base64,
    encode_base64,
    format_note,
    key_id,
    open_note,
    parse_note,
    sign_note,
)
from pypi_witness.core.errors import NoteError, SignatureError

# c2sp.org/signed-note, "Verifier keys" example: the key and its signed note.
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_PUBLIC_KEY = bytes.fromhex("e932791ae6e7a840a46164c904786426d5e7821dd8b29a00d61cae72afdd4da4")
SPEC_TEXT = "This is an example message.\n"
SPEC_SIG_B64 = "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM="
SPEC_NOTE = (SPEC_TEXT + "\n\u2014 example.com/foo " + SPEC_SIG_B64 + "\n").encode()

# c2sp.org/signed-note, opening example (key not published): a text with an empty line.
QUASIMODO_TEXT = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned \u00e8 subito sera.\n"
QUASIMODO_NOTE = (
    QUASIMODO_TEXT
    + "\n\u2014 quasimodo.example/salvatore "
    + "NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n"
).encode()

# golang.org/x/mod/sumdb/note package documentation: Go's key strings and note.
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = (
    GO_TEXT
    + "\n\u2014 PeterNeumann "
    + "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
).encode()

# RFC 8032 §7.1, TEST 1: seed and public key.
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")


def seed(n: int) -> bytes:
    return bytes([n]) * 32


def signer(name: str = "log.example/a", n: int = 1, alg: int = ALG_ED25519) -> Signer:
    return Signer.from_seed(name, seed(n), alg)


def sig_line(name: str, payload: bytes) -> str:
    return f"\u2014 {name} {encode_base64(payload)}\n"


# ---------------------------------------------------------------- spec vector


def test_spec_key_id() -> None:
    assert key_id("example.com/foo", ALG_ED25519, SPEC_PUBLIC_KEY) == bytes.fromhex("530d903a")


def test_spec_vkey_parses_and_formats() -> None:
    v = Verifier.from_vkey(SPEC_VKEY)
    assert v == Verifier("example.com/foo", bytes.fromhex("530d903a"), SPEC_PUBLIC_KEY, ALG_ED25519)
    assert v.vkey() == SPEC_VKEY


def test_spec_note_opens() -> None:
    note, verified = open_note(SPEC_NOTE, [Verifier.from_vkey(SPEC_VKEY)])
    assert note.text == SPEC_TEXT
    assert verified == note.signatures
    assert verified[0].name == "example.com/foo"
    assert verified[0].key_id == bytes.fromhex("530d903a")
    assert len(verified[0].signature) == 64


@pytest.mark.parametrize("offset", [0, 5, len(SPEC_TEXT) - 2])
def test_spec_note_one_byte_text_change_fails(offset: int) -> None:
    data = bytearray(SPEC_NOTE)
    data[offset] ^= 0x01
    with pytest.raises(SignatureError):
        open_note(bytes(data), [Verifier.from_vkey(SPEC_VKEY)])


@pytest.mark.parametrize("index", [0, 31, 32, 63])
def test_spec_note_one_byte_signature_change_fails(index: int) -> None:
    note = parse_note(SPEC_NOTE)
    sig = note.signatures[0]
    bad = bytearray(sig.signature)
    bad[index] ^= 0x80
    data = format_note(Note(note.text, (NoteSignature(sig.name, sig.key_id, bytes(bad)),)))
    with pytest.raises(SignatureError):
        open_note(data, [Verifier.from_vkey(SPEC_VKEY)])


# ---------------------------------------------------------------- Go and RFC 8032 vectors


def test_go_skey_derives_go_vkey_and_round_trips() -> None:
    s = Signer.from_skey(GO_SKEY)
    assert (s.name, s.key_id.hex(), s.alg) == ("PeterNeumann", "c74f20a3", ALG_ED25519)
    assert s.verifier().vkey() == GO_VKEY
    assert s.skey() == GO_SKEY


def test_go_sign_note_is_byte_exact() -> None:
    assert sign_note(GO_TEXT, [Signer.from_skey(GO_SKEY)]) == GO_NOTE
    note, verified = open_note(GO_NOTE, [Verifier.from_vkey(GO_VKEY)])
    assert note.text == GO_TEXT and len(verified) == 1


def test_rfc8032_seed_gives_public_key() -> None:
    assert Signer.from_seed("rfc8032", RFC8032_SEED).public_key == RFC8032_PUBLIC


# ---------------------------------------------------------------- keys


@pytest.mark.parametrize("alg", [ALG_ED25519, ALG_COSIGNATURE_V1])
def test_key_strings_round_trip(alg: int) -> None:
    s = signer("witness.example/w1", 7, alg)
    v = s.verifier()
    assert Verifier.from_vkey(v.vkey()) == v
    assert Verifier.from_vkey(v.vkey()).vkey() == v.vkey()
    again = Signer.from_skey(s.skey())
    assert again.skey() == s.skey()
    assert (again.name, again.key_id, again.public_key, again.alg) == (s.name, s.key_id, s.public_key, alg)
    assert v.alg == alg and v.key_id == key_id("witness.example/w1", alg, s.public_key)


def test_key_id_depends_on_alg() -> None:
    assert signer(alg=ALG_ED25519).key_id != signer(alg=ALG_COSIGNATURE_V1).key_id


def test_vkey_uppercase_hex_accepted_and_normalised() -> None:
    v = Verifier.from_vkey("example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k")
    assert v.vkey() == SPEC_VKEY


def _vkey(name: str, material: bytes, id_hex: str | None = None) -> str:
    if id_hex is None:
        id_hex = key_id(name, material[0], material[1:]).hex()
    return f"{name}+{id_hex}+{encode_base64(material)}"


BAD_VKEYS = {
    "no plus": "example.com/foo",
    "two parts": "example.com/foo+530d903a",
    "empty name": "+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    "name with space": "example.com/ foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    "name with nbsp": "example.com/\u00a0foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    "hex too short": "example.com/foo+530d903+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    "hex too long": "example.com/foo+530d903a0+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    "hex not hex": "example.com/foo+530d903g+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    "hex with space": "example.com/foo+530d 03a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    "wrong key id": "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    "bad base64": "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2!",
    "unpadded base64": "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2",
    "empty material": "example.com/foo+530d903a+",
    "key too long": _vkey("example.com/foo", b"\x01" + SPEC_PUBLIC_KEY + b"\x00"),
    "key too short": _vkey("example.com/foo", b"\x01" + SPEC_PUBLIC_KEY[:31]),
    "unknown alg": _vkey("example.com/foo", b"\x02" + SPEC_PUBLIC_KEY),
    "id for other name": _vkey("example.com/foo", b"\x01" + SPEC_PUBLIC_KEY, key_id("x", 1, SPEC_PUBLIC_KEY).hex()),
}


@pytest.mark.parametrize("vkey", BAD_VKEYS.values(), ids=BAD_VKEYS.keys())
def test_bad_vkey_rejected(vkey: str) -> None:
    with pytest.raises(NoteError):
        Verifier.from_vkey(vkey)


GO_SKEY_BODY = GO_SKEY.removeprefix("PRIVATE+KEY+")
BAD_SKEYS = {
    "no prefix": GO_SKEY_BODY,
    "lowercase prefix": "private+key+" + GO_SKEY_BODY,
    "wrong key id": GO_SKEY.replace("c74f20a3", "c74f20a4"),
    "renamed": GO_SKEY.replace("PeterNeumann", "PeterNeuman"),
    "bad base64": GO_SKEY[:-1] + "!",
    "short seed": "PRIVATE+KEY+PeterNeumann+c74f20a3+" + encode_base64(b"\x01" + b"\x00" * 31),
    "unknown alg": "PRIVATE+KEY+PeterNeumann+c74f20a3+" + encode_base64(b"\x07" + b"\x00" * 32),
    "missing id": "PRIVATE+KEY+PeterNeumann",
}


@pytest.mark.parametrize("skey", BAD_SKEYS.values(), ids=BAD_SKEYS.keys())
def test_bad_skey_rejected(skey: str) -> None:
    with pytest.raises(NoteError):
        Signer.from_skey(skey)


def test_bad_skey_error_does_not_echo_seed() -> None:
    material = GO_SKEY.rsplit("+", 1)[1]
    for bad in (GO_SKEY[:-1] + "!", GO_SKEY.replace("c74f20a3", "c74f20a4"), GO_SKEY.replace("+c74f20a3", "")):
        with pytest.raises(NoteError) as info:
            Signer.from_skey(bad)
        assert not any(piece in str(info.value) for piece in material.split("+"))


@pytest.mark.parametrize(
    ("name", "seed_bytes", "alg"),
    [("", seed(1), 1), ("a+b", seed(1), 1), ("a b", seed(1), 1), ("ok", b"\x00" * 31, 1), ("ok", seed(1), 2)],
)
def test_bad_signer_rejected(name: str, seed_bytes: bytes, alg: int) -> None:
    with pytest.raises(NoteError):
        Signer.from_seed(name, seed_bytes, alg)


def test_verifier_construction_checks_key_id() -> None:
    s = signer()
    with pytest.raises(NoteError):
        Verifier(s.name, b"\x00\x00\x00\x00", s.public_key, ALG_ED25519)
    assert Verifier.from_public_key(s.name, s.public_key) == s.verifier()


def test_signer_repr_hides_seed() -> None:
    s = Signer.from_seed("k", RFC8032_SEED)
    assert RFC8032_SEED.hex() not in repr(s) and encode_base64(RFC8032_SEED) not in repr(s)
    assert "k" in repr(s)


@pytest.mark.parametrize("signature", [b"", b"\x00" * 63, b"\x00" * 65, b"\x00" * 64, b"\xff" * 64])
def test_verify_returns_false_never_raises(signature: bytes) -> None:
    assert signer().verifier().verify(b"message", signature) is False


def test_verify_true_only_for_exact_message() -> None:
    s = signer()
    sig = s.sign(b"message")
    assert s.verifier().verify(b"message", sig) is True
    assert s.verifier().verify(b"messagf", sig) is False
    assert signer(n=2).verifier().verify(b"message", sig) is False


# ---------------------------------------------------------------- parse / format


VALID_NOTES = {
    "spec": SPEC_NOTE,
    "quasimodo": QUASIMODO_NOTE,
    "go": GO_NOTE,
    "only newline text": ("\n\n" + sig_line("a", b"\x00" * 5)).encode(),
    "text ending in blank lines": ("a\n\n\n" + sig_line("a", b"\x01" * 68)).encode(),
    "text with sig-like lines": ("x\n\n" + sig_line("b", b"\x02" * 9) + "\n" + sig_line("c", b"\x03" * 9)).encode(),
    "several signatures": ("t\n\n" + sig_line("a", b"\x01" * 68) + sig_line("b/\u00e9", b"\x02" * 76)).encode(),
    "DEL allowed": ("t\x7f\n\n" + sig_line("a", b"\x01" * 5)).encode(),
}


@pytest.mark.parametrize("data", VALID_NOTES.values(), ids=VALID_NOTES.keys())
def test_format_parse_round_trip(data: bytes) -> None:
    assert format_note(parse_note(data)) == data


def test_parse_splits_at_last_blank_line() -> None:
    note = parse_note(VALID_NOTES["text with sig-like lines"])
    assert note.text == "x\n\n" + sig_line("b", b"\x02" * 9)
    assert [s.name for s in note.signatures] == ["c"]
    assert parse_note(QUASIMODO_NOTE).text == QUASIMODO_TEXT
    quasimodo = parse_note(QUASIMODO_NOTE).signatures[0]
    assert (quasimodo.name, quasimodo.key_id.hex(), len(quasimodo.signature)) == (
        "quasimodo.example/salvatore",
        "367ba04b",
        64,
    )


def test_parse_format_round_trip_from_value() -> None:
    note = Note("hello\n\nworld\n", (NoteSignature("a.example/k", b"\x01\x02\x03\x04", b"\x09" * 64),))
    data = format_note(note)
    assert data == ("hello\n\nworld\n\n" + sig_line("a.example/k", b"\x01\x02\x03\x04" + b"\x09" * 64)).encode()
    assert parse_note(data) == note


SIG = sig_line("a", b"\x01" * 68)
MALFORMED_NOTES = {
    "not utf-8": b"\xff" + ("t\n\n" + SIG).encode(),
    "truncated utf-8": ("t\n\n" + SIG).encode()[:-3] + b"\xe2\x80\n",
    "control char in text": ("t\x01\n\n" + SIG).encode(),
    "tab in text": ("t\tx\n\n" + SIG).encode(),
    "carriage return": ("t\r\n\r\n" + SIG).encode(),
    "nul in signature line": ("t\n\n" + SIG[:-1] + "\x00\n").encode(),
    "missing blank line": ("t\n" + SIG).encode(),
    "text only": b"just text\n",
    "no signature lines": b"t\n\n",
    "blank line after signatures": ("t\n\n" + SIG + "\n").encode(),
    "no trailing newline": ("t\n\n" + SIG[:-1]).encode(),
    "bytes after last signature": ("t\n\n" + SIG + "junk").encode(),
    "line after last signature": ("t\n\n" + SIG + "Unexpected line.\n").encode(),
    "hyphen not em dash": ("t\n\n- a " + encode_base64(b"\x01" * 68) + "\n").encode(),
    "no space after em dash": ("t\n\n\u2014a " + encode_base64(b"\x01" * 68) + "\n").encode(),
    "two spaces after em dash": ("t\n\n\u2014  a " + encode_base64(b"\x01" * 68) + "\n").encode(),
    "no space before base64": ("t\n\n\u2014 a" + encode_base64(b"\x01" * 68) + "\n").encode(),
    "space inside name": ("t\n\n\u2014 a b " + encode_base64(b"\x01" * 68) + "\n").encode(),
    "trailing space": ("t\n\n" + SIG[:-1] + " \n").encode(),
    "plus in name": ("t\n\n" + sig_line("a+b", b"\x01" * 68)).encode(),
    "nbsp in name": ("t\n\n" + sig_line("a\u00a0b", b"\x01" * 68)).encode(),
    "bad base64": ("t\n\n\u2014 a !!!!\n").encode(),
    "unpadded base64": ("t\n\n\u2014 a " + encode_base64(b"\x01" * 68).rstrip("=") + "\n").encode(),
    "non-canonical base64": ("t\n\n\u2014 a AQIDBAV=\n").encode(),
    "four bytes only": ("t\n\n" + sig_line("a", b"\x01" * 4)).encode(),
    "empty base64": ("t\n\n\u2014 a \n").encode(),
    "too many signatures": ("t\n\n" + SIG * (MAX_SIGNATURES + 1)).encode(),
}


@pytest.mark.parametrize("data", MALFORMED_NOTES.values(), ids=MALFORMED_NOTES.keys())
def test_malformed_note_rejected(data: bytes) -> None:
    with pytest.raises(NoteError):
        parse_note(data)
    with pytest.raises(NoteError):
        open_note(data, [Verifier.from_vkey(SPEC_VKEY)])


@pytest.mark.parametrize("size", [0, 1, 4])
def test_signature_shorter_than_five_bytes_named_in_error(size: int) -> None:
    with pytest.raises(NoteError, match="at least 5"):
        parse_note(("t\n\n" + sig_line("a", b"\x01" * size)).encode())


def test_non_canonical_base64_decodes_but_is_refused() -> None:
    # "AQIDBAV=" carries non-zero padding bits; "AQIDBAU=" is the canonical form.
    assert decode_base64("AQIDBAU=", "x") == b"\x01\x02\x03\x04\x05"
    with pytest.raises(NoteError, match="canonical"):
        decode_base64("AQIDBAV=", "x")


@pytest.mark.parametrize("count", [1, 16, MAX_SIGNATURES])
def test_many_signatures_accepted(count: int) -> None:
    s = signer()
    data = sign_note("t\n", [s] * count)
    assert len(parse_note(data).signatures) == count
    _, verified = open_note(data, [s.verifier()])
    assert verified == (parse_note(data).signatures[0],)


@pytest.mark.parametrize(
    ("text", "signatures"),
    [
        ("no newline", (NoteSignature("a", b"\x00" * 4, b"\x01"),)),
        ("", (NoteSignature("a", b"\x00" * 4, b"\x01"),)),
        ("ctl\x1b\n", (NoteSignature("a", b"\x00" * 4, b"\x01"),)),
        ("surrogate\ud800\n", (NoteSignature("a", b"\x00" * 4, b"\x01"),)),
        ("t\n", ()),
        ("t\n", (NoteSignature("a", b"\x00" * 4, b"\x01"),) * (MAX_SIGNATURES + 1)),
    ],
)
def test_invalid_note_value_rejected(text: str, signatures: tuple[NoteSignature, ...]) -> None:
    with pytest.raises(NoteError):
        Note(text, signatures)


@pytest.mark.parametrize(
    ("name", "kid", "sig"), [("", b"\x00" * 4, b"\x01"), ("a", b"\x00" * 3, b"\x01"), ("a", b"\x00" * 4, b"")]
)
def test_invalid_note_signature_value_rejected(name: str, kid: bytes, sig: bytes) -> None:
    with pytest.raises(NoteError):
        NoteSignature(name, kid, sig)


# ---------------------------------------------------------------- sign / open


def test_sign_open_round_trip_multiple_signers() -> None:
    a, b = signer("a.example/log", 1), signer("b.example/log", 2)
    data = sign_note("line one\nline two\n", [a, b])
    note, verified = open_note(data, [a.verifier(), b.verifier()])
    assert note.text == "line one\nline two\n"
    assert [(s.name, s.key_id) for s in verified] == [(a.name, a.key_id), (b.name, b.key_id)]
    _, only_b = open_note(data, [b.verifier()])
    assert [s.name for s in only_b] == ["b.example/log"]


def test_unknown_signer_ignored() -> None:
    known, unknown = signer("known", 1), signer("unknown", 2)
    data = sign_note("t\n", [unknown, known])
    # Garbage from an unknown key must not matter either.
    data += sig_line("stranger", b"\xee" * 68).encode()
    _, verified = open_note(data, [known.verifier()])
    assert [s.name for s in verified] == ["known"]


def test_same_name_other_key_id_ignored() -> None:
    known, impostor = signer("log", 1), signer("log", 2)
    assert known.key_id != impostor.key_id
    data = sign_note("t\n", [known]) + sig_line("log", impostor.key_id + b"\x00" * 64).encode()
    _, verified = open_note(data, [known.verifier()])
    assert len(verified) == 1


def test_same_key_id_other_name_ignored() -> None:
    known = signer("log", 1)
    data = sign_note("t\n", [known]) + sig_line("other", known.key_id + b"\x00" * 64).encode()
    _, verified = open_note(data, [known.verifier()])
    assert [s.name for s in verified] == ["log"]


def test_known_signer_failing_rejects_even_with_another_valid() -> None:
    good, bad = signer("good", 1), signer("bad", 2)
    data = sign_note("t\n", [good]) + sig_line("bad", bad.key_id + b"\x00" * 64).encode()
    with pytest.raises(SignatureError, match="bad"):
        open_note(data, [good.verifier(), bad.verifier()])


def test_known_signer_duplicate_failing_line_rejects() -> None:
    s = signer()
    data = sign_note("t\n", [s]) + sig_line(s.name, s.key_id + b"\x00" * 64).encode()
    with pytest.raises(SignatureError):
        open_note(data, [s.verifier()])


def test_no_known_signer_rejects() -> None:
    data = sign_note("t\n", [signer("a", 1)])
    with pytest.raises(SignatureError, match="no signature from a known key"):
        open_note(data, [signer("b", 2).verifier()])
    with pytest.raises(SignatureError):
        open_note(data, [])


def test_cosigner_verifiers_are_ignored_by_open_note() -> None:
    s = signer("w", 3, ALG_COSIGNATURE_V1)
    # A line signed by the raw Ed25519 key under the 0x04 key id is not a note signature.
    data = ("t\n\n" + sig_line("w", s.key_id + s.sign(b"t\n"))).encode()
    with pytest.raises(SignatureError, match="no signature from a known key"):
        open_note(data, [s.verifier()])


def test_sign_note_rejects_bad_input() -> None:
    with pytest.raises(NoteError):
        sign_note("no newline", [signer()])
    with pytest.raises(NoteError):
        sign_note("t\n", [])
    with pytest.raises(NoteError):
        sign_note("t\n", [signer(alg=ALG_COSIGNATURE_V1)])
    with pytest.raises(NoteError):
        sign_note("t\x00\n", [signer()])


def test_sign_note_is_deterministic_ed25519_over_text() -> None:
    s = signer()
    data = sign_note("t\n", [s])
    assert data == ("t\n\n" + sig_line(s.name, s.key_id + s.sign(b"t\n"))).encode()
