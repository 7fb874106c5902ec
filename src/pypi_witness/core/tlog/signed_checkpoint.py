"""A signed checkpoint opened: the log's signature and the cosignatures of known witnesses, verified.

Above :mod:`pypi_witness.core.tlog.checkpoint` (the text) and
:mod:`pypi_witness.core.tlog.cosignature` (one cosignature), so neither of
those needs the other's module to be loaded first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pypi_witness.core.errors import NoteError, SignatureError, quoted
from pypi_witness.core.tlog.checkpoint import Checkpoint, parse_checkpoint
from pypi_witness.core.tlog.cosignature import Cosignature, verify_cosignature
from pypi_witness.core.tlog.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    NoteSignature,
    Verifier,
    parse_note,
    verify_note,
)


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint, its signed note bytes verbatim, and the cosignatures that verified."""

    checkpoint: Checkpoint
    note: bytes
    cosignatures: tuple[Cosignature, ...] = ()


def _verified_cosignatures(
    checkpoint: Checkpoint, signatures: Sequence[NoteSignature], cosigners: Sequence[Verifier]
) -> tuple[Cosignature, ...]:
    """Verify the signature lines from known cosigners; first per key is returned."""
    known: dict[tuple[str, bytes], Verifier] = {}
    for cosigner in cosigners:
        if cosigner.alg != ALG_COSIGNATURE_V1:
            raise NoteError(f"cosigner {quoted(cosigner.name)} has type 0x{cosigner.alg:02x}, not 0x04")
        known[(cosigner.name, cosigner.key_id)] = cosigner
    found: dict[tuple[str, bytes], Cosignature] = {}
    for sig in signatures:
        verifier = known.get((sig.name, sig.key_id))
        # SPEC: signed-note — verifiers MUST ignore signatures from unknown keys
        if verifier is None:
            continue
        cosignature = Cosignature.from_note_signature(sig)
        # SPEC: signed-note — if the key name and ID match a known key, verifiers MUST verify the signature
        verify_cosignature(checkpoint, cosignature, verifier)
        found.setdefault((sig.name, sig.key_id), cosignature)
    return tuple(found.values())


def open_checkpoint(
    data: bytes, log_verifier: Verifier, cosigners: Sequence[Verifier] = ()
) -> SignedCheckpoint:
    """Parse and verify a signed checkpoint and the cosignatures of known cosigners.

    Returns a SignedCheckpoint holding ``data`` verbatim and the verified
    cosignatures (one per cosigner key, in note order; possibly none).

    Raises NoteError if the note or checkpoint is malformed, a known
    cosigner's line is not a well-formed cosignature/v1, or a cosigner is not
    of type 0x04. Raises SignatureError if ``log_verifier`` is not an Ed25519
    (0x01) key, the origin is not ``log_verifier.name``, the log's signature is
    missing or fails, or a known cosigner's cosignature fails. Signatures from
    unknown keys are ignored.
    """
    note = parse_note(data)
    checkpoint = parse_checkpoint(note.text)
    if log_verifier.alg != ALG_ED25519:
        raise SignatureError(f"log key {quoted(log_verifier.name)} has type 0x{log_verifier.alg:02x}, not 0x01")
    # SPEC: tlog-checkpoint — the log's key name SHOULD match the origin line (required here)
    if checkpoint.origin != log_verifier.name:
        raise SignatureError(f"checkpoint origin {quoted(checkpoint.origin)} is not the log key name {quoted(log_verifier.name)}")
    verify_note(note, [log_verifier])
    cosignatures = _verified_cosignatures(checkpoint, note.signatures, cosigners)
    return SignedCheckpoint(checkpoint, bytes(data), cosignatures)
