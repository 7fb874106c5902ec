"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys.

A signed note is UTF-8 text ending in a newline, a blank line, and one or more
signature lines ``— <key name> base64(key id || signature)``. This module
parses and formats notes byte-exactly, signs them with Ed25519 (signature type
0x01), opens them against a set of trusted verifier keys, and reads and writes
the key strings of Go's ``golang.org/x/mod/sumdb/note``:

* verifier key: ``<name>+<8 hex key id>+base64(alg || public key)``
* signer key: ``PRIVATE+KEY+<name>+<8 hex key id>+base64(alg || seed)``

Keys of type 0x04 (timestamped cosignatures, c2sp.org/tlog-cosignature) share
the key string format and the raw Ed25519 ``sign``/``verify`` primitives here;
what they sign is defined in :mod:`pypi_witness.core.tlog.cosignature`.

Malformed input raises :class:`~pypi_witness.core.errors.NoteError`; a note that
parses but fails verification raises
:class:`~pypi_witness.core.errors.SignatureError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import nacl.exceptions
import nacl.signing

from pypi_witness.core.errors import NoteError, SignatureError, quoted

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
SUPPORTED_ALGS = frozenset({ALG_ED25519, ALG_COSIGNATURE_V1})

KEY_ID_SIZE = 4
ED25519_PUBLIC_KEY_SIZE = 32
ED25519_SEED_SIZE = 32
ED25519_SIGNATURE_SIZE = 64

# The spec asks for a limit of at least 16; 100 matches Go's sumdb/note.
MAX_SIGNATURES = 100

EM_DASH = "\u2014"
SIGNATURE_LINE_PREFIX = EM_DASH + " "
PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"

_CONTROL_CHARS = re.compile("[\x00-\x09\x0b-\x1f]")
_KEY_ID_HEX = re.compile("[0-9a-fA-F]{8}")


# ---------------------------------------------------------------- encodings


def encode_base64(data: bytes) -> str:
    """Standard padded base64 (RFC 4648 §4) of ``data``."""
    return base64.b64encode(data).decode("ascii")


def decode_base64(text: str, what: str) -> bytes:
    """Decode standard padded base64, accepting only its canonical encoding.

    Returns the bytes. Raises NoteError (naming ``what``) for characters
    outside the alphabet, wrong padding, or a non-canonical encoding (non-zero
    trailing bits), so that re-encoding always gives back ``text``.
    """
    try:
        # SPEC: signed-note — base64 is the standard encoding of RFC 4648 §4
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise NoteError(f"{what} is not valid base64: {quoted(text)}") from None
    if encode_base64(data) != text:
        raise NoteError(f"{what} is not canonical base64: {quoted(text)}")
    return data


def check_text(text: str) -> None:
    """Check that ``text`` may appear in a signed note.

    Returns None. Raises NoteError if ``text`` cannot be encoded as UTF-8 (lone
    surrogates) or holds an ASCII control character other than newline.
    """
    try:
        # SPEC: signed-note — signed notes MUST be valid UTF-8
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteError("note text is not valid UTF-8") from None
    match = _CONTROL_CHARS.search(text)
    # SPEC: signed-note — MUST NOT contain ASCII control characters other than newline
    if match is not None:
        raise NoteError(f"note contains control character {quoted(match.group())} at offset {match.start()}")


def _check_key_name(name: str) -> None:
    """Raise NoteError unless ``name`` is a valid key name."""
    # SPEC: signed-note — key names MUST be non-empty
    if not name:
        raise NoteError("key name is empty")
    # SPEC: signed-note — key names MUST NOT contain Unicode spaces or plus (U+002B)
    if "+" in name or any(ch.isspace() for ch in name):
        raise NoteError(f"key name {quoted(name)} contains a space or '+'")
    check_text(name)


def key_id(name: str, alg: int, public_key: bytes) -> bytes:
    """The 4-byte key id ``SHA-256(name || 0x0A || alg || public_key)[:4]``.

    Pure function of its inputs; performs no validation and never raises for
    byte inputs (``alg`` must be in 0..255).
    """
    # SPEC: signed-note — key ID = SHA-256(key name || 0x0A || signature type || public key)[:4]
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([alg]) + public_key).digest()
    return digest[:KEY_ID_SIZE]


def _parse_key_string(text: str, what: str) -> tuple[str, bytes, int, bytes]:
    """Split ``name+hex id+base64(alg || key)`` into (name, key id, alg, key).

    Error messages never echo the key material (it may be a private seed).
    """
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise NoteError(f"{what} is not of the form name+keyid+base64")
    name, id_hex, material_b64 = parts
    _check_key_name(name)
    if _KEY_ID_HEX.fullmatch(id_hex) is None:
        raise NoteError(f"{what} key id is not 8 hex digits (got {len(id_hex)} characters)")
    try:
        material = decode_base64(material_b64, what)
    except NoteError:
        raise NoteError(f"{what} key material is not canonical base64") from None
    if not material or material[0] not in SUPPORTED_ALGS:
        raise NoteError(f"{what} has no supported signature type byte (0x01 or 0x04)")
    return name, bytes.fromhex(id_hex), material[0], material[1:]


# ---------------------------------------------------------------- keys


@dataclass(frozen=True)
class Verifier:
    """A trusted public key: name, 4-byte key id, 32-byte Ed25519 key, type.

    Construction raises NoteError if the name is invalid, ``alg`` is not 0x01
    or 0x04, the key is not 32 bytes, or ``key_id`` is not the id computed
    from (name, alg, public_key).
    """

    name: str
    key_id: bytes
    public_key: bytes
    alg: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "key_id", bytes(self.key_id))
        object.__setattr__(self, "public_key", bytes(self.public_key))
        _check_key_name(self.name)
        if self.alg not in SUPPORTED_ALGS:
            raise NoteError(f"unsupported signature type 0x{self.alg:02x} for key {quoted(self.name)}")
        if len(self.public_key) != ED25519_PUBLIC_KEY_SIZE:
            raise NoteError(f"Ed25519 public key is {len(self.public_key)} bytes, not 32")
        expected = key_id(self.name, self.alg, self.public_key)
        # SPEC: signed-note — key ID = SHA-256(key name || 0x0A || signature type || public key)[:4]
        if self.key_id != expected:
            raise NoteError(f"key id {self.key_id.hex()} of {quoted(self.name)} does not match computed {expected.hex()}")

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes, alg: int = ALG_ED25519) -> Verifier:
        """The verifier for ``public_key`` under ``name``, computing its key id.

        Raises NoteError as the constructor does.
        """
        return cls(name, key_id(name, alg, bytes(public_key)), bytes(public_key), alg)

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        """Parse ``name+<8 hex key id>+base64(alg || public key)``.

        The hex id may be in either case (as Go accepts); :meth:`vkey` writes it
        in lowercase. Raises NoteError for a bad name, an id that is not 8 hex
        digits or does not match the computed id, non-canonical base64, an
        unsupported type (only 0x01 and 0x04), or a key that is not 32 bytes.
        """
        name, given_id, alg, key = _parse_key_string(vkey, "verifier key")
        return cls(name, given_id, key, alg)

    def vkey(self) -> str:
        """The verifier key string; ``Verifier.from_vkey(v.vkey()) == v``."""
        material = encode_base64(bytes([self.alg]) + self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True iff ``signature`` is a valid Ed25519 signature of ``message``.

        This is the raw primitive for either type (for 0x04 keys the caller
        passes the cosigned message). Returns False, never raises, for a bad,
        truncated or malformed signature.
        """
        if len(signature) != ED25519_SIGNATURE_SIZE:
            return False
        try:
            nacl.signing.VerifyKey(self.public_key).verify(message, signature)
        except (nacl.exceptions.CryptoError, ValueError, TypeError):
            return False
        return True


class Signer:
    """An Ed25519 private key with its note name, key id and type.

    Attributes (treat as read-only): ``name``, ``key_id`` (4 bytes),
    ``public_key`` (32 bytes), ``alg`` (0x01 for note signatures, 0x04 for
    cosignatures). The seed is never shown by ``repr``.
    """

    __slots__ = ("name", "alg", "public_key", "key_id", "_seed", "_signing_key")

    def __init__(self, name: str, seed: bytes, alg: int = ALG_ED25519) -> None:
        """Raise NoteError for an invalid name, unsupported alg or a seed that is not 32 bytes."""
        _check_key_name(name)
        if alg not in SUPPORTED_ALGS:
            raise NoteError(f"unsupported signature type 0x{alg:02x}")
        if len(seed) != ED25519_SEED_SIZE:
            raise NoteError(f"Ed25519 seed is {len(seed)} bytes, not 32")
        self.name = name
        self.alg = alg
        self._seed = bytes(seed)
        self._signing_key = nacl.signing.SigningKey(self._seed)
        self.public_key = bytes(self._signing_key.verify_key)
        self.key_id = key_id(name, alg, self.public_key)

    @classmethod
    def from_seed(cls, name: str, seed: bytes, alg: int = ALG_ED25519) -> Signer:
        """The signer whose Ed25519 key is derived from the 32-byte ``seed`` (RFC 8032).

        Raises NoteError as the constructor does.
        """
        return cls(name, seed, alg)

    @classmethod
    def from_skey(cls, skey: str) -> Signer:
        """Parse ``PRIVATE+KEY+<name>+<8 hex key id>+base64(alg || seed)``.

        Raises NoteError for a missing prefix, a bad name, an id that is not 8
        hex digits or does not match the id computed from the derived public
        key, non-canonical base64, an unsupported type, or a seed that is not
        32 bytes.
        """
        if not skey.startswith(PRIVATE_KEY_PREFIX):
            raise NoteError("signer key does not start with 'PRIVATE+KEY+'")
        name, given_id, alg, seed = _parse_key_string(skey[len(PRIVATE_KEY_PREFIX) :], "signer key")
        signer = cls(name, seed, alg)
        if signer.key_id != given_id:
            raise NoteError(f"signer key id {given_id.hex()} does not match computed {signer.key_id.hex()}")
        return signer

    def skey(self) -> str:
        """The private key string; ``Signer.from_skey(s.skey())`` is the same key."""
        material = encode_base64(bytes([self.alg]) + self._seed)
        return f"{PRIVATE_KEY_PREFIX}{self.name}+{self.key_id.hex()}+{material}"

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message`` (deterministic, RFC 8032)."""
        return self._signing_key.sign(message).signature

    def verifier(self) -> Verifier:
        """The matching public Verifier."""
        return Verifier(self.name, self.key_id, self.public_key, self.alg)

    def __repr__(self) -> str:
        return f"Signer(name={self.name!r}, key_id={self.key_id.hex()}, alg=0x{self.alg:02x})"


# ---------------------------------------------------------------- notes


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 4-byte key id, and the bytes after the id.

    Construction raises NoteError for an invalid name, a key id that is not 4
    bytes, or an empty signature.
    """

    name: str
    key_id: bytes
    signature: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "key_id", bytes(self.key_id))
        object.__setattr__(self, "signature", bytes(self.signature))
        _check_key_name(self.name)
        if len(self.key_id) != KEY_ID_SIZE:
            raise NoteError(f"key id is {len(self.key_id)} bytes, not 4")
        # SPEC: signed-note — signatures are the base64 encoding of 4+n bytes (n >= 1 here)
        if not self.signature:
            raise NoteError(f"signature from {quoted(self.name)} is empty")


@dataclass(frozen=True)
class Note:
    """A note's text (ending in newline) and its signatures, in order.

    Construction raises NoteError if the text is not valid note text or does
    not end in a newline, or if there are no signatures or more than
    MAX_SIGNATURES. Any Note therefore formats to bytes that parse back to it.
    """

    text: str
    signatures: tuple[NoteSignature, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "signatures", tuple(self.signatures))
        check_text(self.text)
        # SPEC: signed-note — a signed note consists of a text ending in newline (U+000A)
        if not self.text.endswith("\n"):
            raise NoteError("note text does not end in a newline")
        # SPEC: signed-note — followed by one or more signature lines
        if not self.signatures:
            raise NoteError("note has no signatures")
        # SPEC: signed-note — verifiers SHOULD apply a maximum limit to the number of signatures
        if len(self.signatures) > MAX_SIGNATURES:
            raise NoteError(f"note has {len(self.signatures)} signatures, more than {MAX_SIGNATURES}")


def _parse_signature_line(line: str) -> NoteSignature:
    """Parse one signature line (without its newline)."""
    # SPEC: signed-note — signature line: em dash (U+2014), space, key name, space, base64, newline
    if not line.startswith(SIGNATURE_LINE_PREFIX):
        raise NoteError(f"signature line does not start with an em dash and a space: {quoted(line)}")
    fields = line[len(SIGNATURE_LINE_PREFIX) :].split(" ")
    if len(fields) != 2:
        raise NoteError(f"signature line is not '— <name> <base64>': {quoted(line)}")
    name, payload_b64 = fields
    _check_key_name(name)
    payload = decode_base64(payload_b64, f"signature of {quoted(name)}")
    # SPEC: signed-note — signatures are the base64 encoding of 4+n bytes (key ID first)
    if len(payload) <= KEY_ID_SIZE:
        raise NoteError(f"signature of {quoted(name)} is {len(payload)} bytes, need at least 5")
    return NoteSignature(name, payload[:KEY_ID_SIZE], payload[KEY_ID_SIZE:])


def parse_note(data: bytes) -> Note:
    """Parse a signed note's structure; no signature is checked.

    Returns the Note, with ``format_note(parse_note(data)) == data``. Raises
    NoteError (saying what is wrong) for: invalid UTF-8, a control character
    other than newline, no blank line before the signatures, no signature
    lines, a malformed signature line (no em dash and space, no single space
    before the base64, a bad key name, non-canonical base64, fewer than 5
    bytes), more than MAX_SIGNATURES signatures, or anything after the last
    signature line's newline.
    """
    try:
        # SPEC: signed-note — signed notes MUST be valid UTF-8
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NoteError(f"note is not valid UTF-8 (byte {exc.start})") from None
    check_text(text)
    # SPEC: signed-note — the text is separated from the signatures by the last empty line
    split = text.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    body, block = text[: split + 1], text[split + 2 :]
    if not block:
        raise NoteError("note has no signature lines after its last blank line")
    # SPEC: signed-note — each signature line ends in a newline; nothing may follow the last
    if not block.endswith("\n"):
        raise NoteError("note has bytes after the last signature line's newline")
    lines = block[:-1].split("\n")
    # SPEC: signed-note — verifiers SHOULD apply a maximum limit to the number of signatures
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has {len(lines)} signatures, more than {MAX_SIGNATURES}")
    return Note(body, tuple(_parse_signature_line(line) for line in lines))


def format_note(note: Note) -> bytes:
    """The note's bytes: text, blank line, one signature line per signature.

    Exact inverse of parse_note. Never raises (a Note is valid by construction).
    """
    lines = [f"{SIGNATURE_LINE_PREFIX}{s.name} {encode_base64(s.key_id + s.signature)}\n" for s in note.signatures]
    return (note.text + "\n" + "".join(lines)).encode("utf-8")


def sign_note(text: str, signers: Sequence[Signer]) -> bytes:
    """Sign ``text`` with each signer (Ed25519 over the UTF-8 text) and format the note.

    Returns the signed note bytes, signatures in the order of ``signers``.
    Raises NoteError if the text is invalid, no signers are given, there are
    more than MAX_SIGNATURES, or a signer is not of type 0x01 (cosigners sign
    with :func:`pypi_witness.core.tlog.cosignature.cosign`).
    """
    for signer in signers:
        if signer.alg != ALG_ED25519:
            raise NoteError(f"signer {quoted(signer.name)} has type 0x{signer.alg:02x}; only 0x01 signs notes")
    check_text(text)
    message = text.encode("utf-8")
    # SPEC: signed-note — Ed25519 signatures are generated according to RFC 8032 over the note text
    signatures = tuple(NoteSignature(s.name, s.key_id, s.sign(message)) for s in signers)
    return format_note(Note(text, signatures))


def verify_note(note: Note, verifiers: Sequence[Verifier]) -> tuple[NoteSignature, ...]:
    """Verify a parsed note against trusted Ed25519 (type 0x01) verifiers.

    Returns the signatures that verified, one per (name, key id), in note
    order. Signatures whose (name, key id) matches no 0x01 verifier are
    ignored; 0x04 (cosignature) verifiers are ignored here, as their message
    is not the note text. Raises SignatureError if a signature from a known key
    fails, or if no signature from a known key is present.
    """
    known: dict[tuple[str, bytes], list[Verifier]] = {}
    for verifier in verifiers:
        if verifier.alg == ALG_ED25519:
            known.setdefault((verifier.name, verifier.key_id), []).append(verifier)
    message = note.text.encode("utf-8")
    verified: dict[tuple[str, bytes], NoteSignature] = {}
    for sig in note.signatures:
        candidates = known.get((sig.name, sig.key_id))
        # SPEC: signed-note — verifiers MUST ignore signatures from unknown keys
        if candidates is None:
            continue
        # SPEC: signed-note — if a signature from a known key fails to verify, reject the whole note
        if not any(v.verify(message, sig.signature) for v in candidates):
            raise SignatureError(f"signature from known key {sig.name} ({sig.key_id.hex()}) does not verify")
        verified.setdefault((sig.name, sig.key_id), sig)
    # SPEC: signed-note — if no signature from a known key verifies, clients MUST reject the note
    if not verified:
        raise SignatureError("note has no signature from a known key")
    return tuple(verified.values())


def open_note(data: bytes, verifiers: Sequence[Verifier]) -> tuple[Note, tuple[NoteSignature, ...]]:
    """Parse ``data`` and verify it against ``verifiers``.

    Returns (note, the signatures that verified). Raises NoteError if the note
    is malformed (see parse_note) and SignatureError as verify_note does.
    Verifiers of type 0x04 are ignored (see verify_note).
    """
    note = parse_note(data)
    return note, verify_note(note, verifiers)
