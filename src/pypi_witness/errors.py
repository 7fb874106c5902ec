"""The package's one error hierarchy.

Every error the package raises on purpose is a ``WitnessError``. Each subclass
carries the facts its handler needs, and the gRPC adapter and the CLI map them
to a status code or exit code in one table each (by class, most specific first).
"""

from __future__ import annotations


class WitnessError(Exception):
    """Base class of every deliberate error in pypi-witness."""


class MalformedError(WitnessError, ValueError):
    """Input that does not parse or breaks a format rule (a note, record, proof, config...)."""


class NoteError(MalformedError):
    """A signed note, checkpoint, cosignature or verifier key that is not well formed."""


class RecordError(MalformedError):
    """A log record that is not well formed, or a field that cannot go into one."""


class ConfigError(MalformedError):
    """A configuration file or value that is refused; the message names the key."""


class VerificationError(WitnessError):
    """Well-formed input whose cryptographic check failed (a bad signature, a bad proof)."""


class ProofError(VerificationError):
    """An inclusion or consistency proof that does not verify, or is malformed."""


class SignatureError(VerificationError):
    """A note with no valid signature from a required key, or a failing known signer."""


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


class OverloadedError(WitnessError):
    """A node or one of its queues is at capacity, or the caller's rate limit is reached.

    The same request may succeed later: ``retry_after`` is the whole seconds to
    wait when known (a rate limit), else None.
    """

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UnavailableError(WitnessError):
    """A node cannot answer now: unreachable, stopping, or failed inside; another node may answer."""
