"""Evidence that a log equivocated: a text anyone can check offline with the log's verifier key.

What counts as proof
--------------------
A log equivocates when it signs two tree heads that cannot both describe one
append-only history. Evidence must show that with nothing but the log's own
signatures and hashes, because whoever hands it over may be lying.

* ``same-size``: two checkpoints signed by the log, same origin, same size,
  different root hashes. An RFC 6962 tree of a given size has exactly one root,
  so the log signed two trees. Self-certifying.

* ``prefix``: signed checkpoints (m, r_m) and (n, r_n) with 0 < m < n, plus a
  *full* consistency proof (RFC 9162 §2.1.4 with the implicit first hash made
  explicit, see :func:`pypi_witness.core.tlog.merkle.full_consistency_proof`) that
  leads to the signed r_n but implies an old root different from the signed
  r_m. The proof's hashes are bound to r_n by SHA-256's collision resistance,
  so they reveal what the log's size-n tree says its first m leaves hash to:
  a second, derived root for size m. Evidence of this kind is therefore the
  same-size conflict again, one side derived from the larger signed head.

What does *not* count: a consistency proof that simply fails to verify. A
failing proof can be made up by anyone (flip one byte), and proves nothing
about the log; nor does the absence of an answer. So ``verify_evidence``
accepts a ``prefix`` proof only if it leads to the newer signed root, and
refuses evidence whose checkpoints are in fact consistent. A gossip node that
gets a failing proof from a log raises a (weaker) alarm, not evidence.

Format (version 1)
------------------
::

    pypi-witness/evidence/v1 <kind>\\n
    origin <origin>\\n
    note <n>\\n<n bytes: signed checkpoint note>
    note <n>\\n<n bytes: signed checkpoint note>
    [proof <count>\\n then count lines "hash <base64>\\n"]   (prefix only)

Canonical form, so that equal evidence has equal bytes and one stable ID:
each note carries exactly one signature line, the log's (cosignatures and
other lines are stripped when evidence is built); ``same-size`` notes are in
ascending order of root hash; ``prefix`` notes are smaller size first.
``format_evidence(parse_evidence(b)) == b`` for every accepted ``b``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from pypi_witness.core.tlog.checkpoint import Checkpoint, parse_checkpoint
from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint
from pypi_witness.core.tlog.framing import FrameReader, FrameWriter
from pypi_witness.core.tlog.merkle import full_proof_roots
from pypi_witness.core.tlog.note import Note, Verifier, format_note, parse_note
from pypi_witness.core.errors import EvidenceError, MalformedError, NoteError, ProofError, quoted

MAGIC = "pypi-witness/evidence/v1"
SAME_SIZE = "same-size"
PREFIX = "prefix"
KINDS = (SAME_SIZE, PREFIX)
MAX_NOTE_BYTES = 16 * 1024
MAX_PROOF_HASHES = 129


@dataclass(frozen=True)
class Evidence:
    """Parsed evidence: kind, origin, the two canonical signed notes, and the full proof (prefix only).

    Construction checks nothing cryptographic; use :func:`verify_evidence`
    (or the builders) for evidence you rely on.
    """

    kind: str
    origin: str
    notes: tuple[bytes, bytes]
    proof: tuple[bytes, ...] = ()

    def checkpoints(self) -> tuple[Checkpoint, Checkpoint]:
        """The two checkpoints, parsed from the notes (raises NoteError if malformed)."""
        a, b = (parse_checkpoint(parse_note(n).text) for n in self.notes)
        return a, b

    def id(self) -> str:
        """The stable evidence ID: hex SHA-256 of the canonical bytes."""
        return evidence_id(format_evidence(self))


def evidence_id(data: bytes) -> str:
    """Hex SHA-256 of evidence bytes (canonical bytes give the stable ID)."""
    return hashlib.sha256(bytes(data)).hexdigest()


def format_evidence(evidence: Evidence) -> bytes:
    """The evidence's bytes (see the module docstring); the inverse of parse_evidence."""
    w = FrameWriter().line(MAGIC, evidence.kind).line("origin", evidence.origin)
    for note in evidence.notes:
        w.block("note", note)
    if evidence.kind == PREFIX:
        w.number("proof", len(evidence.proof))
        for h in evidence.proof:
            w.hash("hash", h)
    return bytes(w)


def _note_checkpoint(data: bytes, origin: str, which: str) -> Checkpoint:
    """Structure of one embedded note: one signature line, by the origin; returns its checkpoint."""
    try:
        note = parse_note(data)
        checkpoint = parse_checkpoint(note.text)
    except NoteError as exc:
        raise MalformedError(f"evidence: the {which} note is malformed: {exc}") from None
    if len(note.signatures) != 1 or note.signatures[0].name != origin:
        raise MalformedError(f"evidence: the {which} note must carry exactly one signature, by {quoted(origin)}")
    if checkpoint.origin != origin:
        raise MalformedError(f"evidence: the {which} note is for {quoted(checkpoint.origin)}, not {quoted(origin)}")
    return checkpoint


def parse_evidence(data: bytes) -> Evidence:
    """Parse evidence bytes, checking structure and canonical form but no signature.

    Returns the Evidence, with ``format_evidence(parse_evidence(data)) == data``.
    Raises MalformedError for: a wrong first line or unknown kind, a missing or
    bad origin line, notes that are not well-formed signed checkpoints of that
    origin with exactly one signature line by it, notes out of canonical order
    (same-size: ascending root hash; prefix: smaller size first), a proof
    count or hash that is malformed, and any trailing bytes.
    """
    r = FrameReader(data, "evidence")
    kind = r.line(MAGIC)
    if kind not in KINDS:
        raise r.fail(f"unknown evidence kind {quoted(kind)} (known: {', '.join(KINDS)})")
    origin = r.line("origin")
    notes = (r.block("note", MAX_NOTE_BYTES), r.block("note", MAX_NOTE_BYTES))
    proof: list[bytes] = []
    if kind == PREFIX:
        count = r.number("proof", MAX_PROOF_HASHES)
        proof = [r.hash("hash") for _ in range(count)]
    r.end()
    first, second = (_note_checkpoint(n, origin, w) for n, w in zip(notes, ("first", "second"), strict=True))
    if kind == SAME_SIZE and not first.root_hash < second.root_hash:
        raise MalformedError("evidence: same-size notes must be in strictly ascending order of root hash")
    if kind == PREFIX and not first.size < second.size:
        raise MalformedError("evidence: prefix notes must be smaller size first")
    return Evidence(kind, origin, notes, tuple(proof))


def verify_evidence(data: bytes, verifier: Verifier) -> Evidence:
    """Check that ``data`` proves the log of ``verifier`` signed two incompatible histories.

    Returns the parsed Evidence. Raises MalformedError (see parse_evidence);
    SignatureError if the origin is not ``verifier.name`` or either note's log
    signature fails; EvidenceError if the evidence proves nothing: same-size
    notes of different sizes or equal roots, prefix notes whose old size is 0,
    or whose proof does not lead to the newer signed root, or whose proof shows
    the two checkpoints consistent. ProofError for a proof of the wrong length.
    """
    evidence = parse_evidence(data)
    first, second = (open_checkpoint(n, verifier).checkpoint for n in evidence.notes)
    if evidence.kind == SAME_SIZE:
        _check_same_size(first, second)
    else:
        _check_prefix(first, second, evidence.proof)
    return evidence


def _check_same_size(a: Checkpoint, b: Checkpoint) -> None:
    # RFC 9162 §2.1.1: a tree of a given size has exactly one root hash.
    if a.size != b.size:
        raise EvidenceError(f"same-size evidence has sizes {a.size} and {b.size}")
    if a.root_hash == b.root_hash:
        raise EvidenceError("same-size evidence has equal root hashes: the checkpoints agree")


def _check_prefix(old: Checkpoint, new: Checkpoint, proof: Sequence[bytes]) -> None:
    if old.size == 0:
        raise EvidenceError("prefix evidence from size 0 proves nothing (every tree extends the empty one)")
    old_root, new_root = full_proof_roots(old.size, new.size, proof)
    # The proof is only bound to the log's tree if it leads to the root the log signed.
    if new_root != new.root_hash:
        raise EvidenceError("the proof does not lead to the newer signed root, so it proves nothing about the log")
    # RFC 9162 §2.1.4.2: consistent trees give back the old root.
    if old_root == old.root_hash:
        raise EvidenceError(f"the checkpoints of sizes {old.size} and {new.size} are consistent")


def log_signature_only(data: bytes, verifier: Verifier) -> bytes:
    """The signed note ``data`` reduced to its first signature line from ``verifier``'s key.

    Checks no signature (callers verify first, e.g. with open_checkpoint).
    Raises NoteError if the note is malformed or has no line from that key.
    """
    note = parse_note(data)
    mine = [s for s in note.signatures if (s.name, s.key_id) == (verifier.name, verifier.key_id)]
    if not mine:
        raise NoteError(f"note has no signature line from {verifier.name} ({verifier.key_id.hex()})")
    return format_note(Note(note.text, (mine[0],)))


def _canonical_note(data: bytes, verifier: Verifier) -> tuple[bytes, Checkpoint]:
    """The verified note reduced to its log signature line, and its checkpoint."""
    signed = open_checkpoint(data, verifier)
    return log_signature_only(data, verifier), signed.checkpoint


def same_size_evidence(a: bytes, b: bytes, verifier: Verifier) -> Evidence:
    """Build canonical same-size evidence from two signed notes (cosignatures are stripped).

    Raises NoteError / SignatureError if a note is malformed or not validly
    signed by ``verifier``; EvidenceError if the sizes differ or the roots agree.
    """
    (na, ca), (nb, cb) = _canonical_note(a, verifier), _canonical_note(b, verifier)
    _check_same_size(ca, cb)
    notes = (na, nb) if ca.root_hash < cb.root_hash else (nb, na)
    return Evidence(SAME_SIZE, verifier.name, notes)


def prefix_evidence(old: bytes, new: bytes, proof: Sequence[bytes], verifier: Verifier) -> Evidence:
    """Build canonical prefix evidence from the smaller and larger signed notes and a full proof.

    Raises NoteError / SignatureError for a bad note; ProofError for a
    malformed proof or sizes that are not 0 < old < new; EvidenceError if the
    proof does not lead to the newer root or shows the checkpoints consistent.
    """
    (n_old, c_old), (n_new, c_new) = _canonical_note(old, verifier), _canonical_note(new, verifier)
    if not c_old.size < c_new.size:
        raise ProofError(f"prefix evidence needs old size {c_old.size} < new size {c_new.size}")
    _check_prefix(c_old, c_new, proof)
    return Evidence(PREFIX, verifier.name, (n_old, n_new), tuple(bytes(h) for h in proof))
