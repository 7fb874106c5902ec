"""C2SP tlog-proof (``c2sp.org/tlog-proof@v1``): a self-contained, offline-verifiable proof of logging.

A bundle is::

    c2sp.org/tlog-proof@v1
    extra <base64 opaque data>          (optional line)
    index <decimal>
    <base64 hash>                       (zero or more: the RFC 6962 inclusion proof,
    ...                                  leaf's sibling first, root's child last)
    <empty line>
    <the signed, cosigned checkpoint note, verbatim>

The entry itself is not in the bundle: the verifier holds it (here, the log
record bytes, or their RFC 6962 leaf hash) and checks it against the bundle.
The extra data is not authenticated and is handed back to the caller as is.

:func:`parse_tlog_proof` and :func:`format_tlog_proof` are exact inverses and
treat the checkpoint as opaque bytes (as other implementations do);
:func:`verify_bundle` checks the checkpoint note, the inclusion proof and the
policy's quorum.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pypi_witness.core.tlog.merkle import HASH_SIZE, verify_inclusion
from pypi_witness.core.tlog.merkle import leaf_hash as _leaf_hash
from pypi_witness.core.tlog.note import Verifier, decode_base64, encode_base64
from pypi_witness.core.quorum.policy import Policy
from pypi_witness.core.quorum.evaluation import CheckedCheckpoint, check_checkpoint, require_quorum
from pypi_witness.core.errors import BundleError, MalformedError, NoteError, quoted

HEADER = b"c2sp.org/tlog-proof@v1"
EXTRA_PREFIX = b"extra "
INDEX_PREFIX = b"index "
# Go's implementation reads the index as a uint64.
MAX_INDEX = 2**64 - 1
# RFC 9162 §2.1.3: a proof has at most one hash per tree level (at most 64 for 64-bit sizes).
MAX_PROOF_HASHES = 64
_DECIMAL = re.compile(b"0|[1-9][0-9]*")


@dataclass(frozen=True)
class TlogProof:
    """A tlog-proof bundle: index, inclusion proof hashes, checkpoint note bytes, optional extra data.

    ``checkpoint`` is the signed note exactly as the log (and witnesses) made
    it; it is not parsed here. ``extra`` is None when the bundle has no extra
    line (``b""`` is an extra line with nothing after the space).

    Construction raises BundleError for an index outside 0..2**64-1, more than
    64 proof hashes or one that is not 32 bytes, a checkpoint that is empty or
    does not end in a newline, or non-bytes fields.
    """

    index: int
    proof: tuple[bytes, ...]
    checkpoint: bytes
    extra: bytes | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "proof", tuple(self.proof))
        if not isinstance(self.index, int) or isinstance(self.index, bool) or not 0 <= self.index <= MAX_INDEX:
            raise BundleError(f"tlog-proof index {quoted(self.index)} is not an integer in 0..2**64-1")
        if len(self.proof) > MAX_PROOF_HASHES:
            raise BundleError(f"tlog-proof has {len(self.proof)} proof hashes, more than {MAX_PROOF_HASHES}")
        for i, h in enumerate(self.proof):
            # SPEC: tlog-proof — one SHA-256 hash per line
            if not isinstance(h, bytes) or len(h) != HASH_SIZE:
                raise BundleError(f"tlog-proof proof hash {i} is not {HASH_SIZE} bytes")
        if not isinstance(self.checkpoint, bytes) or not self.checkpoint.endswith(b"\n"):
            raise BundleError("tlog-proof checkpoint is empty or does not end in a newline")
        if self.extra is not None and not isinstance(self.extra, bytes):
            raise BundleError("tlog-proof extra data must be bytes")


def format_tlog_proof(bundle: TlogProof) -> bytes:
    """The bundle's bytes; ``parse_tlog_proof(format_tlog_proof(b)) == b``. Never raises."""
    # SPEC: tlog-proof — the first line MUST be `c2sp.org/tlog-proof@v1`
    lines = [HEADER]
    if bundle.extra is not None:
        # SPEC: tlog-proof — optional `extra` + space + base64 opaque data, as the second line
        lines.append(EXTRA_PREFIX + encode_base64(bundle.extra).encode("ascii"))
    # SPEC: tlog-proof — `index` + space + decimal with no leading zeroes
    lines.append(INDEX_PREFIX + str(bundle.index).encode("ascii"))
    lines += [encode_base64(h).encode("ascii") for h in bundle.proof]
    # SPEC: tlog-proof — after the proof lines and an empty line, the checkpoint verbatim
    return b"\n".join(lines) + b"\n\n" + bundle.checkpoint


def parse_tlog_proof(data: bytes) -> TlogProof:
    """Parse a tlog-proof bundle; the checkpoint is kept as opaque bytes.

    Returns the TlogProof, with ``format_tlog_proof(parse_tlog_proof(data)) ==
    data``. Raises BundleError, naming the line, for: a first line that is not
    exactly ``c2sp.org/tlog-proof@v1``; an ``extra`` line whose data is not
    canonical base64; no ``index`` line, or an index that is not canonical
    decimal in 0..2**64-1; a proof line that is not canonical base64 of 32
    bytes; more than 64 proof lines; no empty line before the checkpoint; an
    empty checkpoint or one not ending in a newline. Carriage returns are not
    accepted anywhere before the checkpoint.
    """
    if not isinstance(data, bytes):
        raise BundleError(f"tlog-proof must be bytes, not {type(data).__name__}")
    pos = 0
    number = 0

    def next_line() -> bytes:
        nonlocal pos, number
        end = data.find(b"\n", pos)
        number += 1
        if end < 0:
            raise BundleError(f"line {number}: tlog-proof ends before the empty line and the checkpoint")
        line = data[pos:end]
        pos = end + 1
        return line

    # SPEC: tlog-proof — the first line MUST be the string `c2sp.org/tlog-proof@v1`
    if next_line() != HEADER:
        raise BundleError("line 1: tlog-proof does not start with 'c2sp.org/tlog-proof@v1'")
    line = next_line()
    extra = None
    # SPEC: tlog-proof — the second line MAY be `extra` + space + base64 opaque extra data
    if line.startswith(EXTRA_PREFIX):
        extra = _base64(line[len(EXTRA_PREFIX) :], "extra data", number)
        line = next_line()
    # SPEC: tlog-proof — the next line MUST be `index` + space + decimal, no leading zeroes
    if not line.startswith(INDEX_PREFIX):
        raise BundleError(f"line {number}: expected 'index <n>', got {quoted(line)}")
    digits = line[len(INDEX_PREFIX) :]
    if _DECIMAL.fullmatch(digits) is None or len(digits) > len(str(MAX_INDEX)) or int(digits) > MAX_INDEX:
        raise BundleError(f"line {number}: index {quoted(digits)} is not a decimal in 0..2**64-1 without leading zeros")
    index = int(digits)
    proof: list[bytes] = []
    # SPEC: tlog-proof — zero or more non-empty lines, one base64 SHA-256 hash each, then an empty line
    while (line := next_line()) != b"":
        if len(proof) == MAX_PROOF_HASHES:
            raise BundleError(f"line {number}: more than {MAX_PROOF_HASHES} proof hashes")
        h = _base64(line, "proof hash", number)
        if len(h) != HASH_SIZE:
            raise BundleError(f"line {number}: proof hash is {len(h)} bytes, not {HASH_SIZE}")
        proof.append(h)
    checkpoint = data[pos:]
    if not checkpoint.endswith(b"\n"):
        raise BundleError(f"line {number + 1}: the checkpoint is empty or does not end in a newline")
    return TlogProof(index, tuple(proof), checkpoint, extra)


def _base64(text: bytes, what: str, number: int) -> bytes:
    try:
        # SPEC: tlog-proof — standard base64 (RFC 4648 §4), canonical as signed-note requires
        return decode_base64(text.decode("ascii"), what)
    except (UnicodeDecodeError, NoteError):
        raise BundleError(f"line {number}: {what} is not canonical base64") from None


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle that verified: the entry's leaf hash and index, the checked checkpoint, the extra data.

    ``checked.quorum`` says which witnesses cosigned; ``extra`` is NOT
    authenticated by anything.
    """

    index: int
    leaf_hash: bytes
    checked: CheckedCheckpoint
    extra: bytes | None


def verify_bundle(
    bundle: TlogProof | bytes,
    policy: Policy,
    *,
    leaf: bytes | None = None,
    leaf_hash: bytes | None = None,
    extra_logs: Sequence[Verifier] = (),
) -> VerifiedBundle:
    """Verify that an entry is in a log the policy trusts, witnessed by the policy's quorum.

    Give the entry as ``leaf`` (its bytes; the leaf hash is SHA-256(0x00 ||
    leaf)) or as ``leaf_hash`` (exactly one). Checks, in order: the bundle
    parses (if bytes); the checkpoint note is signed by a policy log (or one of
    ``extra_logs``) named after its origin; the inclusion proof leads from the
    leaf hash at ``index`` to the checkpoint's root; the verified witness
    cosignatures satisfy the quorum.

    Returns the VerifiedBundle. Raises MalformedError if not exactly one of
    ``leaf`` and ``leaf_hash`` is given; BundleError if the bundle is
    malformed; NoteError if the checkpoint note is; SignatureError if no
    trusted log signed it; ProofError if the index is not below the
    checkpoint's size or the proof does not verify; QuorumError (with the
    QuorumResult) if the quorum is not met.
    """
    if (leaf is None) == (leaf_hash is None):
        raise MalformedError("give exactly one of leaf and leaf_hash")
    if isinstance(bundle, bytes):
        bundle = parse_tlog_proof(bundle)
    entry_hash = _leaf_hash(leaf) if leaf is not None else leaf_hash
    checked = check_checkpoint(policy, bundle.checkpoint, extra_logs)
    checkpoint = checked.signed.checkpoint
    # SPEC: tlog-proof — RFC 6962 inclusion proof for the entry at `index` in the checkpointed tree
    verify_inclusion(entry_hash, bundle.index, checkpoint.size, bundle.proof, checkpoint.root_hash)
    # SPEC: tlog-policy — the checkpoint must be cosigned according to the quorum
    require_quorum(checked.quorum)
    return VerifiedBundle(bundle.index, entry_hash, checked, bundle.extra)
