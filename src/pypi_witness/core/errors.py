"""The package's one error hierarchy.

Every error the package raises on purpose is a ``WitnessError``. Each subclass
carries the facts its handler needs, and the gRPC adapter and the CLI map them
to a status code or exit code in one table each (by class, most specific first).

A message that quotes a value it was given (a filename, an origin, a line of
a note, a field of an index's answer) quotes it through ``quoted``, so that
no input makes a message long (a gRPC status must fit in its metadata) or
slow to build (the repr of a deep structure recurses).
"""

from __future__ import annotations

# Characters of a value that an error message quotes at most (``quoted``).
QUOTE_CHARS = 100
# Integers of at most this many bits are quoted in full (about 90 digits).
_QUOTE_INT_BITS = 300


def quoted(value: object, limit: int = QUOTE_CHARS) -> str:
    """``value`` as an error message shows it: never more than ``limit`` characters of it.

    Text: the repr of its first ``limit`` characters (control and invisible
    characters escaped), followed by ``... (N characters)`` when it was cut;
    bytes likewise. Integers: in decimal up to about 90 digits, else their
    size in bits. None, booleans and floats: their repr. Anything else (a
    list, a dict, an object): ``<type name of length N>`` (or ``<type name>``),
    never its contents, whose repr could be huge or recurse without end.
    The result is at most ``4 * limit + 40`` characters. Never raises.
    """
    if isinstance(value, str | bytes | bytearray | memoryview):
        data = bytes(value) if isinstance(value, bytearray | memoryview) else value
        text = repr(data[:limit])
        if len(text) > 4 * limit:  # escapes make the repr longer than what it shows
            text = text[: 4 * limit] + "..."
        if len(data) <= limit:
            return text
        unit = "characters" if isinstance(data, str) else "bytes"
        return f"{text}... ({len(data)} {unit})"
    if value is None or isinstance(value, bool | float):
        return repr(value)
    if isinstance(value, int):
        bits = value.bit_length()
        return str(int(value)) if bits <= _QUOTE_INT_BITS else f"an integer of {bits} bits"
    name = type(value).__name__
    try:
        return f"<{name} of length {len(value)}>"  # type: ignore[arg-type]
    except Exception:  # no len(), or a hostile __len__
        return f"<{name}>"


class WitnessError(Exception):
    """Base class of every deliberate error in pypi-witness."""


class MalformedError(WitnessError, ValueError):
    """Input that does not parse or breaks a format rule (a note, record, proof, config...)."""


class NoteError(MalformedError):
    """A signed note, checkpoint, cosignature or verifier key that is not well formed."""


class RecordError(MalformedError):
    """A log record that is not well formed, or a field that cannot go into one."""


class BundleError(MalformedError):
    """A C2SP tlog-proof bundle that is not well formed; the message names the line."""


class ConfigError(MalformedError):
    """A configuration file or value that is refused; the message names the key."""


class PolicyError(MalformedError):
    """A C2SP tlog-policy file or Policy that breaks a rule of the format.

    ``line`` is the 1-based line number the problem is on, or None when the
    problem is not on one line (no quorum line, a Policy built in code).
    """

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line is not None else message)
        self.line = line
        self.problem = message


class VerificationError(WitnessError):
    """Well-formed input whose cryptographic check failed (a bad signature, a bad proof)."""


class ProofError(VerificationError):
    """An inclusion or consistency proof that does not verify, or is malformed."""


class SignatureError(VerificationError):
    """A note with no valid signature from a required key, or a failing known signer."""


class QuorumError(VerificationError):
    """A checkpoint whose valid cosignatures do not satisfy the policy's quorum.

    ``result`` is the :class:`pypi_witness.core.quorum.evaluation.QuorumResult` that says
    which witnesses verified, which failed and which are missing.
    """

    def __init__(self, message: str, result: object) -> None:
        super().__init__(message)
        self.result = result


class EvidenceError(VerificationError):
    """Well-formed, correctly signed evidence that does not prove the log equivocated."""


class EquivocationError(VerificationError):
    """A log signed two different trees of the same size (a split view): proof of misbehaviour."""


class ProvenEquivocatorError(EquivocationError):
    """The witness holds verified evidence that this log equivocated, and cosigns it no more.

    ``evidence_id`` names the evidence (``pypi-witness evidence show ID``).
    """

    def __init__(self, message: str, evidence_id: str | None = None) -> None:
        super().__init__(message)
        self.evidence_id = evidence_id


class OutOfRangeError(WitnessError):
    """An index or size past the end of the log (or old size greater than new size)."""


class NotFoundError(WitnessError):
    """Something asked for by name that the log does not hold (a filename, a log)."""


class ConflictError(WitnessError):
    """A compare-and-swap lost: the state is not what the caller assumed.

    ``known_size`` is the size the state actually holds, for the caller to retry from.
    """

    def __init__(self, message: str, known_size: int | None = None) -> None:
        super().__init__(message)
        self.known_size = known_size


class StoreError(WitnessError):
    """The store cannot do what was asked (closed, full, corrupt, opened twice)."""


class CorruptionError(StoreError):
    """Stored data that fails its own checks: permanent damage, not a passing failure.

    A store file that is missing, empty, truncated or of a foreign layout; an
    entry that does not match its index or its hashes; a tree that is no
    longer the one the log key signed. Nothing is signed over it; restoring
    the store from a backup is the fix.
    """


class RollbackError(CorruptionError):
    """The log key's signing gate refused: the store does not extend the last signed checkpoint.

    ``signed_size`` is the size the key last signed, ``store_size`` the size
    the store holds now.
    """

    def __init__(self, message: str, signed_size: int, store_size: int) -> None:
        super().__init__(message)
        self.signed_size = signed_size
        self.store_size = store_size


class StoreFullError(StoreError):
    """A write failed for want of space: the disk is full, or the store's map is.

    Nothing of the write was made; reads still work, and the write succeeds
    again once space is freed.
    """


class OverloadedError(WitnessError):
    """A node or one of its queues is at capacity, or the caller's rate limit is reached.

    The same request may succeed later: ``retry_after`` is the whole seconds to
    wait when known (a rate limit), else None.
    """

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimitedError(OverloadedError):
    """The other side asked us to slow down; ``retry_after`` seconds, if it said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class IndexResponseError(MalformedError):
    """A package index answered with something PyPI's APIs never send (bad JSON,
    wrong content type, a body too large, a digest of the wrong length...)."""


class UnavailableError(WitnessError):
    """A node cannot answer now: unreachable, stopping, or failed inside; another node may answer."""
