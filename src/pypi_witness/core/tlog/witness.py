"""The witness's add-checkpoint decision (C2SP tlog-witness), as pure functions.

A witness keeps, per log origin, the size and root hash of the latest
checkpoint it cosigned (``WitnessState``). A log submits a new signed
checkpoint with the size it believes the witness last cosigned (``old_size``)
and a consistency proof from that size. The checks run in the spec's order,
one rule each, and each failure is its own typed error:

====  ===========================================  ===================================
rule  check                                        error
====  ===========================================  ===================================
 0    the request is well formed (note, proof      MalformedError (NoteError for the
      hashes of 32 bytes, at most 63 of them)      note)
 1    the checkpoint's origin is a known log       NotFoundError
 2    a trusted key of that log signs it           SignatureError
 3    old size <= checkpoint size                  OutOfRangeError
 4    old size == the size last cosigned (0 if     ConflictError(known_size)
      never)
 5    old size 0 comes with an empty proof         ProofError
 6    a size-0 checkpoint has the empty tree's     ProofError
      root
 7    same size: the proof is empty               ProofError
 8    same size: the root is the one cosigned      EquivocationError
 9    otherwise the consistency proof verifies     ProofError
====  ===========================================  ===================================

``check_request`` runs rules 0-3 (they need no state, and hold the costly
signature check), ``decide`` runs rules 4-9 against the known state and
returns the state to store, and ``add_checkpoint`` does both and cosigns. The
caller must store the new state atomically with the check of the old one
(compare-and-swap: ``store.witness_state``) and persist it before it hands out
the cosignature. Nothing here reads a clock or a key file: the signer and the
timestamp are passed in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pypi_witness.core.tlog import merkle
from pypi_witness.core.tlog.checkpoint import Checkpoint, parse_checkpoint
from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint
from pypi_witness.core.tlog.cosignature import Cosignature, cosign
from pypi_witness.core.tlog.note import (
    ALG_COSIGNATURE_V1,
    SIGNATURE_LINE_PREFIX,
    NoteSignature,
    Signer,
    Verifier,
    encode_base64,
    parse_note,
    verify_note,
)
from pypi_witness.core.errors import (
    ConflictError,
    EquivocationError,
    MalformedError,
    NoteError,
    NotFoundError,
    OutOfRangeError,
    ProofError,
    SignatureError,
    quoted,
)

# SPEC: tlog-witness — the client MUST NOT send more than 63 consistency proof lines.
MAX_PROOF_HASHES = 63



def default_witness_name(origin: str) -> str:
    """The witness key name of the node that runs log ``origin``: ``<origin>/witness``.

    A node's witness is named after its own log unless configured otherwise;
    ``core.disputes.settle`` relies on this to tell which witness a log's node runs. Never raises.
    """
    return f"{origin}/witness"

@dataclass(frozen=True, slots=True)
class WitnessState:
    """What a witness remembers of one log: the size and root of the checkpoint it last cosigned."""

    size: int
    root_hash: bytes


@dataclass(frozen=True, slots=True)
class WitnessRequest:
    """One add-checkpoint request: old size, consistency proof, signed checkpoint note bytes."""

    old_size: int
    proof: tuple[bytes, ...]
    note: bytes


@dataclass(frozen=True, slots=True)
class CheckedRequest:
    """A request whose note is well formed and signed by a trusted key of ``checkpoint.origin``."""

    checkpoint: Checkpoint
    old_size: int
    proof: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Decision:
    """A checkpoint to cosign: ``previous`` (None: never cosigned) becomes ``state``."""

    checkpoint: Checkpoint
    previous: WitnessState | None
    state: WitnessState
    cosignature: Cosignature


def logs_by_origin(verifiers: Sequence[Verifier]) -> dict[str, tuple[Verifier, ...]]:
    """The trusted log keys grouped by origin (a log may have several keys).

    Raises MalformedError for a key that is not an Ed25519 (0x01) note key.
    """
    logs: dict[str, tuple[Verifier, ...]] = {}
    for verifier in verifiers:
        if verifier.alg == ALG_COSIGNATURE_V1:
            raise MalformedError(f"log key {quoted(verifier.name)} is a cosigner key (type 0x04), not a log key")
        logs[verifier.name] = (*logs.get(verifier.name, ()), verifier)
    return logs


def check_request(logs: Mapping[str, Sequence[Verifier]], request: WitnessRequest) -> CheckedRequest:
    """Rules 0-3: the request is well formed, from a known log, signed by it, old size not past it.

    ``logs`` maps each origin this witness cosigns to its trusted keys.
    Returns the CheckedRequest. Raises, in this order: MalformedError (NoteError
    for the note) for a request that is not well formed; NotFoundError for an
    unknown origin; SignatureError if no trusted key of the origin signs the
    note or one of them fails; OutOfRangeError if old size > checkpoint size.
    """
    old_size, proof = request.old_size, tuple(request.proof)
    if isinstance(old_size, bool) or not isinstance(old_size, int) or old_size < 0:
        raise MalformedError(f"old size must be a whole number, got {quoted(old_size)}")
    if len(proof) > MAX_PROOF_HASHES:
        raise MalformedError(f"the consistency proof has {len(proof)} hashes; at most {MAX_PROOF_HASHES} are allowed")
    for i, h in enumerate(proof):
        if not isinstance(h, bytes) or len(h) != merkle.HASH_SIZE:
            raise MalformedError(f"consistency proof hash {i} is not {merkle.HASH_SIZE} bytes")
    note = parse_note(request.note)
    checkpoint = parse_checkpoint(note.text)
    keys = logs.get(checkpoint.origin)
    # SPEC: tlog-witness — if the checkpoint origin is unknown, respond 404 Not Found.
    if not keys:
        raise NotFoundError(f"this witness does not cosign the log {quoted(checkpoint.origin)}")
    # SPEC: tlog-witness — verify the checkpoint signature against the keys trusted for the
    # origin, ignoring unknown keys; if none verifies, respond 403 Forbidden.
    try:
        verify_note(note, keys)
    except SignatureError as e:
        raise SignatureError(f"the checkpoint of {quoted(checkpoint.origin)} is not validly signed by its log: {e}") from None
    # SPEC: tlog-witness — the old size MUST be <= the checkpoint size, else 400 Bad Request.
    if old_size > checkpoint.size:
        raise OutOfRangeError(f"old size {old_size} is greater than the checkpoint's size {checkpoint.size}")
    return CheckedRequest(checkpoint, old_size, proof)


def decide(request: CheckedRequest, known: WitnessState | None) -> WitnessState:
    """Rules 4-9: the state to store if ``request`` may be cosigned, given the ``known`` state.

    ``known`` is what this witness last cosigned for the request's origin
    (None: never). Returns the new state (equal to ``known`` for a repeated
    checkpoint). Raises ConflictError carrying the known size (0 if never
    cosigned) if the old size is not it; ProofError for a non-empty proof from
    size 0 or between equal sizes, a size-0 checkpoint with another root than
    the empty tree's, or a consistency proof that does not verify;
    EquivocationError for the size last cosigned with another root.
    """
    cp, old_size, proof = request.checkpoint, request.old_size, request.proof
    known_size = 0 if known is None else known.size
    # SPEC: tlog-witness — the old size MUST match the size of the latest checkpoint cosigned for
    # the origin (zero if none), else 409 Conflict with that size in the body.
    if old_size != known_size:
        raise ConflictError(
            f"old size {old_size} is not the size this witness last cosigned for {quoted(cp.origin)}, {known_size}",
            known_size=known_size,
        )
    # SPEC: tlog-witness — the proof MUST be empty if the old size is zero (else 422).
    if old_size == 0 and proof:
        raise ProofError(f"a consistency proof from size 0 must be empty; got {len(proof)} hashes")
    # RFC 9162 §2.1.1: the tree of size 0 has the root SHA-256(""); no other is consistent with it.
    if cp.size == 0 and cp.root_hash != merkle.EMPTY_ROOT:
        raise ProofError("a checkpoint of size 0 must have the empty tree's root hash")
    old_root = merkle.EMPTY_ROOT if known is None else known.root_hash
    if old_size == cp.size:
        # SPEC: tlog-witness — a consistency proof between equal sizes is empty (else 422).
        if proof:
            raise ProofError(f"a consistency proof between equal sizes must be empty; got {len(proof)} hashes")
        # SPEC: tlog-witness — if the old size matches the checkpoint size, the root hashes MUST be
        # identical, else 409 Conflict.
        if cp.root_hash != old_root:
            raise EquivocationError(
                f"{quoted(cp.origin)} signed two checkpoints of size {cp.size} with different root hashes; "
                "this witness cosigned the other one"
            )
        return WitnessState(cp.size, old_root)
    # SPEC: tlog-witness — the proof MUST be a Merkle consistency proof from the old size to the
    # checkpoint size; if it doesn't verify, 422 Unprocessable Entity.
    try:
        merkle.verify_consistency(old_size, cp.size, old_root, cp.root_hash, proof)
    except ProofError as e:
        raise ProofError(f"the checkpoint of size {cp.size} is not consistent with size {old_size}: {e}") from None
    return WitnessState(cp.size, cp.root_hash)


def add_checkpoint(
    logs: Mapping[str, Sequence[Verifier]],
    known: Mapping[str, WitnessState],
    request: WitnessRequest,
    signer: Signer,
    timestamp: int,
) -> Decision:
    """The whole ladder (rules 0-9), then the cosignature at ``timestamp`` by ``signer`` (type 0x04).

    ``known`` maps origins to what this witness last cosigned. Returns the
    Decision; raises what ``check_request`` and ``decide`` raise, and NoteError
    if the signer is not a cosigner key or the timestamp is out of range.
    """
    checked = check_request(logs, request)
    previous = known.get(checked.checkpoint.origin)
    state = decide(checked, previous)
    return Decision(checked.checkpoint, previous, state, cosign(checked.checkpoint, signer, timestamp))


def format_cosignature_line(cosignature: Cosignature) -> bytes:
    """The note signature line of ``cosignature``: what add-checkpoint answers on success.

    SPEC: tlog-witness — the response is one or more note signature lines, each starting with
    U+2014 and ending in a newline. Raises NoteError for an invalid cosigner name.
    """
    sig: NoteSignature = cosignature.to_note_signature()
    return f"{SIGNATURE_LINE_PREFIX}{sig.name} {encode_base64(sig.key_id + sig.signature)}\n".encode()


def open_cosignature(note: bytes, response: bytes, log: Verifier, witness: Verifier) -> Cosignature:
    """``witness``'s cosignature of the checkpoint ``note`` from an add-checkpoint ``response``.

    SPEC: tlog-witness — the client appends the response's lines to the checkpoint and verifies
    the note with the witness keys it trusts, ignoring unknown keys. Returns the verified
    Cosignature. Raises NoteError if the response is not signature lines, SignatureError if
    it holds no valid cosignature from ``witness`` (or a failing one).
    """
    if not response.endswith(b"\n") or not response.startswith(SIGNATURE_LINE_PREFIX.encode()):
        raise NoteError("the witness's answer is not note signature lines")
    combined = note + response
    parse_note(combined)  # a malformed answer is a NoteError before any check
    signed = open_checkpoint(combined, log, [witness])
    for cosignature in signed.cosignatures:
        if (cosignature.name, cosignature.key_id) == (witness.name, witness.key_id):
            return cosignature
    raise SignatureError(f"the answer holds no cosignature from {witness.name} ({witness.key_id.hex()})")
