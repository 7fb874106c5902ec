"""C2SP tlog-witness's HTTP bodies: the add-checkpoint request and the 409 answer's size.

An add-checkpoint request body is::

    old <size>\\n
    <base64 hash>\\n          (zero to 63 consistency proof lines)
    \\n
    <signed checkpoint note>

and a 409 Conflict answer is the size the witness last cosigned, in decimal,
then a newline (``Content-Type: text/x.tlog.size``). Parsing is strict (the
spec's grammar exactly); what the witness then checks is ``core.tlog.witness``'s.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence

from pypi_witness.core.tlog.witness import MAX_PROOF_HASHES, WitnessRequest
from pypi_witness.core.errors import MalformedError

SIZE_CONTENT_TYPE = "text/x.tlog.size"
# Tree sizes are uint64 (tlog-checkpoint); more digits than 2**64 - 1 has cannot be one.
MAX_SIZE = 2**64 - 1
_DECIMAL = re.compile(rb"0|[1-9][0-9]{0,19}")
_BASE64_HASH = re.compile(rb"[A-Za-z0-9+/]{43}=")


def _size(text: bytes, what: str) -> int:
    # SPEC: tlog-witness — a decimal with no leading zeroes (0 is "0").
    if not _DECIMAL.fullmatch(text) or int(text) > MAX_SIZE:
        raise MalformedError(f"{what} {text[:40]!r} is not a decimal tree size with no leading zeroes")
    return int(text)


def parse_add_checkpoint(body: bytes) -> WitnessRequest:
    """The WitnessRequest an add-checkpoint body holds.

    Raises MalformedError for a first line that is not ``old <size>``, a
    proof line that is not one base64 SHA-256 hash, more than 63 of them, no
    empty line before the checkpoint, or no checkpoint. The checkpoint note
    itself is checked later (``core.tlog.witness.check_request``: NoteError).
    """
    # SPEC: tlog-witness — the body is an old size line, proof lines, an empty line, then the checkpoint.
    head, sep, note = body.partition(b"\n\n")
    if not sep:
        raise MalformedError("the body has no empty line before the checkpoint")
    lines = head.split(b"\n")
    first = lines[0]
    if not first.startswith(b"old "):
        raise MalformedError("the body does not start with an 'old <size>' line")
    old_size = _size(first[len(b"old ") :], "old size")
    proof_lines = lines[1:]
    # SPEC: tlog-witness — the client MUST NOT send more than 63 consistency proof lines.
    if len(proof_lines) > MAX_PROOF_HASHES:
        raise MalformedError(f"{len(proof_lines)} consistency proof lines; at most {MAX_PROOF_HASHES} are allowed")
    proof = []
    for i, line in enumerate(proof_lines):
        # SPEC: tlog-witness — each consistency proof line encodes a single hash in base64.
        if not _BASE64_HASH.fullmatch(line):
            raise MalformedError(f"consistency proof line {i + 1} is not one base64 SHA-256 hash")
        try:
            proof.append(base64.b64decode(line, validate=True))
        except binascii.Error:
            raise MalformedError(f"consistency proof line {i + 1} is not base64") from None
    if not note:
        raise MalformedError("the body has no checkpoint after the empty line")
    return WitnessRequest(old_size, tuple(proof), note)


def format_add_checkpoint(old_size: int, proof: Sequence[bytes], note: bytes) -> bytes:
    """The add-checkpoint body for ``note`` (a signed checkpoint) proven from ``old_size`` by ``proof``."""
    lines = [b"old %d\n" % old_size] + [base64.b64encode(h) + b"\n" for h in proof]
    return b"".join(lines) + b"\n" + note


def format_size(size: int) -> bytes:
    """The body of a 409 answer: ``size`` in decimal and a newline."""
    return b"%d\n" % size


def parse_size(body: bytes) -> int:
    """The size in a 409 answer's body. MalformedError unless it is a decimal size and a newline."""
    # SPEC: tlog-witness — the 409 body is the tree size in decimal followed by a newline.
    if not body.endswith(b"\n"):
        raise MalformedError("the witness's 409 answer does not end in a newline")
    return _size(body[:-1], "the size in the witness's 409 answer")
