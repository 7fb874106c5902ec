"""C2SP tlog-checkpoint: a log's signed tree head as a signed note.

The note text is ``<origin>\\n<size>\\n<base64 root hash>\\n`` followed by
optional non-empty extension lines. The log signs it with an Ed25519 note key
whose name is the origin; witnesses add cosignature/v1 lines
(:mod:`pypi_witness.core.tlog.cosignature`); :mod:`pypi_witness.core.tlog.signed_checkpoint`
opens a note with both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pypi_witness.core.errors import NoteError, quoted
from pypi_witness.core.tlog.note import (
    Signer,
    check_text,
    decode_base64,
    encode_base64,
    sign_note,
)

HASH_SIZE = 32
MAX_SIZE = 2**63 - 1
_DECIMAL = re.compile("0|[1-9][0-9]*")
_MAX_SIZE_DIGITS = len(str(MAX_SIZE))


@dataclass(frozen=True)
class Checkpoint:
    """An unsigned checkpoint: origin, tree size, 32-byte root hash, extension lines.

    Construction raises NoteError for an empty origin, a size outside
    0..2**63-1, a root hash that is not 32 bytes, an empty extension line, or
    any line holding a newline or other control character.
    """

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "root_hash", bytes(self.root_hash))
        object.__setattr__(self, "extensions", tuple(self.extensions))
        # SPEC: tlog-checkpoint — the origin MUST be non-empty
        if not self.origin:
            raise NoteError("checkpoint origin is empty")
        if not isinstance(self.size, int) or isinstance(self.size, bool):
            raise NoteError(f"checkpoint size must be an int, not {type(self.size).__name__}")
        # SPEC: tlog-checkpoint — tree size is the number of leaves (kept within int64, as Go's tlog does)
        if not 0 <= self.size <= MAX_SIZE:
            raise NoteError(f"checkpoint size {self.size} is outside 0..2**63-1")
        # SPEC: tlog-checkpoint — root hash is an RFC 6962 (SHA-256) Merkle tree hash
        if len(self.root_hash) != HASH_SIZE:
            raise NoteError(f"checkpoint root hash is {len(self.root_hash)} bytes, not 32")
        # SPEC: tlog-checkpoint — extension lines, if any, MUST be non-empty
        if any(not line for line in self.extensions):
            raise NoteError("checkpoint has an empty extension line")
        for line in (self.origin, *self.extensions):
            if "\n" in line:
                raise NoteError(f"checkpoint line contains a newline: {quoted(line)}")
            check_text(line)

    def body(self) -> str:
        """The note text: ``origin\\nsize\\nbase64(root)\\n`` then each extension line and newline."""
        lines = [self.origin, str(self.size), encode_base64(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines)


def _parse_size(line: str) -> int:
    """Parse the tree size line: ASCII decimal, no leading zeros, at most 2**63-1."""
    # SPEC: tlog-checkpoint — ASCII decimal tree size with no leading zeroes (unless it is 0)
    if len(line) > _MAX_SIZE_DIGITS or _DECIMAL.fullmatch(line) is None:
        raise NoteError(f"checkpoint size is not a decimal without leading zeros: {quoted(line)}")
    size = int(line)
    if size > MAX_SIZE:
        raise NoteError(f"checkpoint size {size} exceeds 2**63-1")
    return size


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse checkpoint note text (no signatures) into a Checkpoint.

    Returns the Checkpoint, with ``parse_checkpoint(text).body() == text``.
    Raises NoteError for: no final newline, fewer than three lines, an empty
    origin, a size that is not canonical decimal in 0..2**63-1, a root hash
    that is not canonical base64 of 32 bytes, an empty extension line, or a
    control character.
    """
    # SPEC: tlog-checkpoint — lines are separated by newlines and the text ends in one (signed-note)
    if not text.endswith("\n"):
        raise NoteError("checkpoint text does not end in a newline")
    lines = text[:-1].split("\n")
    # SPEC: tlog-checkpoint — the note text is a sequence of at least three non-empty lines
    if len(lines) < 3:
        raise NoteError(f"checkpoint has {len(lines)} lines, need at least 3")
    origin, size_line, root_line, *extensions = lines
    size = _parse_size(size_line)
    # SPEC: tlog-checkpoint — the third line is the base64 root hash
    root_hash = decode_base64(root_line, "checkpoint root hash")
    return Checkpoint(origin, size, root_hash, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> bytes:
    """The signed note bytes of ``checkpoint`` signed by the log key ``signer``.

    Raises NoteError if the signer is not of type 0x01 or its name is not the
    checkpoint's origin (open_checkpoint would refuse the result).
    """
    # SPEC: tlog-checkpoint — the log's key name SHOULD match the origin line (required here)
    if signer.name != checkpoint.origin:
        raise NoteError(f"log key {quoted(signer.name)} is not named after origin {quoted(checkpoint.origin)}")
    return sign_note(checkpoint.body(), [signer])
