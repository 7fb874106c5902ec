"""C2SP tlog-cosignature ``cosignature/v1``: timestamped Ed25519 witness cosignatures.

A cosigner (signature type 0x04) signs

    cosignature/v1\\n
    time <timestamp>\\n
    <checkpoint body>

and publishes it as a note signature line whose payload is
``key id (4) || timestamp (8, big-endian) || Ed25519 signature (64)``.

Time is never read here: callers pass the timestamp in. Rejecting timestamps in
the future (which the spec allows) is left to callers that own a clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pypi_witness.core.errors import NoteError, SignatureError, quoted
from pypi_witness.core.tlog.note import (
    ALG_COSIGNATURE_V1,
    ED25519_SIGNATURE_SIZE,
    KEY_ID_SIZE,
    Note,
    NoteSignature,
    Signer,
    Verifier,
    format_note,
    parse_note,
)

COSIGNATURE_V1_HEADER = "cosignature/v1"
MAX_TIMESTAMP = 2**63 - 1
TIMESTAMP_SIZE = 8
# The note signature bytes after the key id: timestamp || Ed25519 signature.
COSIGNATURE_SIZE = TIMESTAMP_SIZE + ED25519_SIGNATURE_SIZE


def _check_timestamp(timestamp: int) -> None:
    """Raise NoteError unless ``timestamp`` is an int in 0..2**63-1."""
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        raise NoteError(f"cosignature timestamp must be an int, not {type(timestamp).__name__}")
    # SPEC: tlog-cosignature — timestamp MUST NOT exceed 2^63 - 1 (and is a POSIX time, not negative)
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError(f"cosignature timestamp {timestamp} is outside 0..2**63-1")


def cosigned_message(checkpoint_body: str, timestamp: int) -> bytes:
    """The bytes a cosigner signs: ``cosignature/v1\\ntime <ts>\\n`` + body.

    ``checkpoint_body`` is the whole note text of the checkpoint, extension
    lines included, ending in a newline. Raises NoteError if the body does not
    end in a newline or the timestamp is out of range.
    """
    _check_timestamp(timestamp)
    # SPEC: tlog-cosignature — the body is included with its final newline
    if not checkpoint_body.endswith("\n"):
        raise NoteError("checkpoint body does not end in a newline")
    # SPEC: tlog-cosignature — header line `cosignature/v1`, then `time <ts>` as ASCII decimal without leading zeros
    header = f"{COSIGNATURE_V1_HEADER}\ntime {timestamp}\n"
    return (header + checkpoint_body).encode("utf-8")


@dataclass(frozen=True)
class Cosignature:
    """A cosignature/v1: cosigner name, 4-byte key id, timestamp, 64-byte signature.

    Construction raises NoteError for a key id that is not 4 bytes, a
    timestamp outside 0..2**63-1, or a signature that is not 64 bytes.
    """

    name: str
    key_id: bytes
    timestamp: int
    signature: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "key_id", bytes(self.key_id))
        object.__setattr__(self, "signature", bytes(self.signature))
        if len(self.key_id) != KEY_ID_SIZE:
            raise NoteError(f"cosignature key id is {len(self.key_id)} bytes, not 4")
        _check_timestamp(self.timestamp)
        # SPEC: tlog-cosignature — ed25519_signature is 64 bytes
        if len(self.signature) != ED25519_SIGNATURE_SIZE:
            raise NoteError(f"cosignature signature is {len(self.signature)} bytes, not 64")

    def to_note_signature(self) -> NoteSignature:
        """The note signature line: payload ``key id || BE64 timestamp || signature``.

        Raises NoteError if the name is not a valid key name.
        """
        # SPEC: tlog-cosignature — timestamped_signature is u64 timestamp (big-endian) then the signature
        body = self.timestamp.to_bytes(TIMESTAMP_SIZE, "big") + self.signature
        return NoteSignature(self.name, self.key_id, body)

    @classmethod
    def from_note_signature(cls, signature: NoteSignature) -> Cosignature:
        """Read a cosignature from a note signature (does not verify it).

        Raises NoteError if the bytes after the key id are not exactly 72
        (8-byte timestamp + 64-byte signature) or the timestamp exceeds 2**63-1.
        """
        body = signature.signature
        # SPEC: tlog-cosignature — the signature MUST be a timestamped_signature (8 + 64 bytes for Ed25519)
        if len(body) != COSIGNATURE_SIZE:
            raise NoteError(f"cosignature from {quoted(signature.name)} is {len(body)} bytes after the key id, not 72")
        timestamp = int.from_bytes(body[:TIMESTAMP_SIZE], "big")
        return cls(signature.name, signature.key_id, timestamp, body[TIMESTAMP_SIZE:])


def cosign(checkpoint: Checkpoint, signer: Signer, timestamp: int) -> Cosignature:
    """Cosign ``checkpoint`` at ``timestamp`` (POSIX seconds) with a type 0x04 signer.

    Returns the Cosignature. Raises NoteError if the signer is not of type
    0x04 or the timestamp is out of range. Whether the checkpoint is
    consistent with earlier ones is the caller's decision.
    """
    # SPEC: tlog-cosignature — Ed25519 cosigner key ID uses signature type 0x04
    if signer.alg != ALG_COSIGNATURE_V1:
        raise NoteError(f"signer {quoted(signer.name)} has type 0x{signer.alg:02x}; cosignatures need 0x04")
    message = cosigned_message(checkpoint.body(), timestamp)
    return Cosignature(signer.name, signer.key_id, timestamp, signer.sign(message))


def verify_cosignature(checkpoint: Checkpoint, cosignature: Cosignature, verifier: Verifier) -> None:
    """Check that ``cosignature`` is ``verifier``'s valid cosignature of ``checkpoint``.

    Returns None. Raises SignatureError if the verifier is not of type 0x04,
    the cosignature's (name, key id) is not the verifier's, or the Ed25519
    signature over the cosigned message does not verify.
    """
    if verifier.alg != ALG_COSIGNATURE_V1:
        raise SignatureError(f"verifier {quoted(verifier.name)} has type 0x{verifier.alg:02x}, not a cosigner (0x04)")
    # SPEC: tlog-cosignature — clients ignore signature lines that don't match the name and key ID
    if (cosignature.name, cosignature.key_id) != (verifier.name, verifier.key_id):
        raise SignatureError(
            f"cosignature is from {cosignature.name} ({cosignature.key_id.hex()}), "
            f"not {verifier.name} ({verifier.key_id.hex()})"
        )
    message = cosigned_message(checkpoint.body(), cosignature.timestamp)
    # SPEC: tlog-cosignature — signature is an Ed25519 signature over the cosignature/v1 message
    if not verifier.verify(message, cosignature.signature):
        raise SignatureError(
            f"cosignature from {cosignature.name} at time {cosignature.timestamp} "
            f"does not verify for {checkpoint.origin}"
        )


def add_cosignatures(note: bytes, cosignatures: Sequence[Cosignature]) -> bytes:
    """Append cosignature lines to a signed note.

    Returns the new note bytes. A cosignature whose (name, key id) already
    signs the note, or repeats an earlier one in ``cosignatures``, is skipped
    (the first one stays). Nothing is verified here. Raises NoteError if
    ``note`` is malformed or the result would exceed MAX_SIGNATURES.
    """
    parsed = parse_note(note)
    present = {(s.name, s.key_id) for s in parsed.signatures}
    added: list[NoteSignature] = []
    for cosignature in cosignatures:
        key = (cosignature.name, cosignature.key_id)
        if key in present:
            continue
        present.add(key)
        added.append(cosignature.to_note_signature())
    if not added:
        return note
    return format_note(Note(parsed.text, parsed.signatures + tuple(added)))
