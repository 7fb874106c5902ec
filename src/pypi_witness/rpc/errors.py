"""How failures cross the wire: the one table from package errors to gRPC status codes.

Server side, ``status_for(error)`` picks the status of the most specific class
in ``STATUS_TABLE`` that the error is an instance of:

==================  ===================  =====================================================
error               status               message to the client
==================  ===================  =====================================================
MalformedError      INVALID_ARGUMENT     the error's own (what was wrong with the request)
SignatureError      PERMISSION_DENIED    the error's own (no valid signature from a trusted key)
ProofError          FAILED_PRECONDITION  the error's own (which proof does not verify)
ProvenEquivocator-  ALREADY_EXISTS       the error's own (the witness holds evidence that the log
Error                                    equivocated, with its id; it cosigns that log no more)
EquivocationError   ALREADY_EXISTS       the error's own (another tree of that size was signed)
VerificationError   INVALID_ARGUMENT     the error's own (what failed to verify)
OutOfRangeError     OUT_OF_RANGE         the error's own (the index or size and the log's size)
NotFoundError       NOT_FOUND            the error's own (what was not found, up to which size)
OverloadedError     RESOURCE_EXHAUSTED   the error's own (what is full); retry later; trailing
                                         metadata ``retry-after`` (seconds) when known
ConflictError       ABORTED              the error's own; trailing metadata ``known-size``
UnavailableError    UNAVAILABLE          the error's own (e.g. the node is stopping)
CorruptionError     DATA_LOSS            a fixed text (the node's log is damaged; ask another
                                         node); the detail goes to the node's log as an
                                         ``ALARM store-damaged`` line (CRITICAL)
StoreFullError      RESOURCE_EXHAUSTED   a fixed text (the node's disk is full: it cannot write
                                         now; reads work); the detail goes to the node's log
StoreError          UNAVAILABLE          a fixed text; the detail (paths...) goes to the node's log
anything else       INTERNAL             a fixed text; the traceback goes to the node's log
==================  ===================  =====================================================

Damage is never NOT_FOUND and never "try again later": a store entry that
fails its own checks is DATA_LOSS (gRPC: "unrecoverable data loss or
corruption"), and the operator is alarmed. A full disk is RESOURCE_EXHAUSTED
(gRPC: "perhaps the entire file system is out of space").

The witness's add-checkpoint (C2SP tlog-witness) answers each refusal with its
own code, after the spec's HTTP statuses: unknown log NOT_FOUND (404), no
valid signature PERMISSION_DENIED (403), old size past the checkpoint
OUT_OF_RANGE (400), old size not the one last cosigned ABORTED with
``known-size`` (409 with the size in the body), failing consistency proof
FAILED_PRECONDITION (422: the proof does not connect the witness's state to
the checkpoint), same size with another root ALREADY_EXISTS (409: a checkpoint
of that size exists already, with another root), malformed INVALID_ARGUMENT.
A log this witness holds equivocation evidence against (gossip) is refused
with ALREADY_EXISTS too, before any state is read: the log has already
signed a conflicting tree, and the client side's EquivocationError says so.

ConflictError is ABORTED, not FAILED_PRECONDITION: it means a compare-and-swap
lost a race (tlog-witness's 409 Conflict), and gRPC's guidance for that is
ABORTED: "retry at a higher level", here from ``known-size``.

Client side, ``error_from_status`` inverts the table (INVALID_ARGUMENT becomes
MalformedError, PERMISSION_DENIED SignatureError, FAILED_PRECONDITION
ProofError, ALREADY_EXISTS EquivocationError); every other status (INTERNAL, UNKNOWN, UNIMPLEMENTED, a
DEADLINE_EXCEEDED the node sent...) becomes UnavailableError naming it, DATA_LOSS
too (the node's log is damaged; another node may answer). Details
from a node are shortened and stripped of control characters before they go
into an error message, as a node may be hostile.

Every message is cut to MAX_STATUS_BYTES (UTF-8) before it is sent, so no
status outgrows gRPC's metadata limit (which would reach the client as
RESOURCE_EXHAUSTED, "retry later"); messages quote what a client sent through
``core.errors.quoted``, which keeps them far shorter. An unexpected error is
logged with its traceback at most once per LOG_INTERVAL_SECONDS per method and
type of error (with the count of those not logged), so no client can flood the node's log.

Log lines never hold a client's address: servicers name a client by its
identity (``privacy.identity``), a keyed hash.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from pypi_witness.core.errors import (
    ConflictError,
    CorruptionError,
    EquivocationError,
    MalformedError,
    NotFoundError,
    OutOfRangeError,
    OverloadedError,
    ProofError,
    ProvenEquivocatorError,
    SignatureError,
    StoreError,
    StoreFullError,
    UnavailableError,
    VerificationError,
    WitnessError,
)

logger = logging.getLogger("pypi_witness.rpc")

Code = grpc.StatusCode

STATUS_TABLE: dict[type[BaseException], Code] = {
    MalformedError: Code.INVALID_ARGUMENT,
    SignatureError: Code.PERMISSION_DENIED,
    ProofError: Code.FAILED_PRECONDITION,
    EquivocationError: Code.ALREADY_EXISTS,
    ProvenEquivocatorError: Code.ALREADY_EXISTS,
    VerificationError: Code.INVALID_ARGUMENT,
    OutOfRangeError: Code.OUT_OF_RANGE,
    NotFoundError: Code.NOT_FOUND,
    OverloadedError: Code.RESOURCE_EXHAUSTED,
    ConflictError: Code.ABORTED,
    UnavailableError: Code.UNAVAILABLE,
    StoreError: Code.UNAVAILABLE,
    CorruptionError: Code.DATA_LOSS,
    StoreFullError: Code.RESOURCE_EXHAUSTED,
}

# Errors whose own message may describe the server (paths, internals), not the request.
STORE_MESSAGE = "the node cannot read its log right now; try again later or ask another node"
CORRUPTION_MESSAGE = "the node's log is damaged (its operator is alarmed); ask another node"
FULL_MESSAGE = "the node's disk is full: it cannot write now (reads still work); try again later"
_STORE_MESSAGES: dict[type[BaseException], str] = {
    CorruptionError: CORRUPTION_MESSAGE,
    StoreFullError: FULL_MESSAGE,
    StoreError: STORE_MESSAGE,
}
INTERNAL_MESSAGE = "internal error in the node (logged there); try again later or ask another node"
KNOWN_SIZE_KEY = "known-size"
RETRY_AFTER_KEY = "retry-after"
# A node's status details, as shown in a client's error message, are cut to this many characters.
MAX_DETAILS = 300
# A status message the node sends is cut to this many bytes of UTF-8 (gRPC's metadata limit is 8 KiB).
MAX_STATUS_BYTES = 1024
# An unexpected error is logged with its traceback at most once per this many seconds per method.
LOG_INTERVAL_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Status:
    """What the server answers for a failure."""

    code: Code
    message: str
    trailing_metadata: tuple[tuple[str, str], ...] = ()


def status_for(error: BaseException) -> Status:
    """The status for ``error`` by STATUS_TABLE (most specific class first), else INTERNAL."""
    for cls in type(error).__mro__:
        code = STATUS_TABLE.get(cls)
        if code is None:
            continue
        if isinstance(error, StoreError):
            return Status(code, _STORE_MESSAGES.get(cls, STORE_MESSAGE))
        metadata: tuple[tuple[str, str], ...] = ()
        if isinstance(error, ConflictError) and error.known_size is not None:
            metadata = ((KNOWN_SIZE_KEY, str(error.known_size)),)
        if isinstance(error, OverloadedError) and error.retry_after is not None:
            metadata = ((RETRY_AFTER_KEY, str(error.retry_after)),)
        return Status(code, _bounded(str(error) or type(error).__name__), metadata)
    return Status(Code.INTERNAL, INTERNAL_MESSAGE)


def _bounded(message: str) -> str:
    """``message``, cut to at most MAX_STATUS_BYTES of UTF-8 (ending in "...") if longer."""
    data = message.encode("utf-8", "replace")
    if len(data) <= MAX_STATUS_BYTES:
        return message
    return data[: MAX_STATUS_BYTES - 3].decode("utf-8", "ignore") + "..."


class _Throttle:
    """Says whether to log now: at most once per ``interval`` seconds per key, counting the rest."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._last: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> int | None:
        """The count of calls not logged since the last one logged, if this one may be; else None."""
        now = time.monotonic()
        with self._lock:
            last, skipped = self._last.get(key, (float("-inf"), 0))
            if now - last < self._interval:
                self._last[key] = (last, skipped + 1)
                return None
            self._last[key] = (now, 0)
            return skipped


_unexpected = _Throttle(LOG_INTERVAL_SECONDS)


def report(error: BaseException, method: str, client: str) -> Status:
    """The status for ``error`` raised serving ``method`` to ``client`` (a tag), logged.

    Client mistakes are logged at DEBUG, damage as ``ALARM store-damaged`` at
    CRITICAL, other store failures at WARNING with their detail, anything
    unexpected at ERROR with its traceback (at most once per
    LOG_INTERVAL_SECONDS per method and type of error; the count of the
    others is in the next).
    """
    status = status_for(error)
    if status.code is Code.INTERNAL:
        skipped = _unexpected.allow(f"{method} {type(error).__qualname__}")
        if skipped is not None:
            more = f" ({skipped} more since the last one logged)" if skipped else ""
            logger.error("client %s %s: unexpected error%s", client, method, more, exc_info=error)
    elif isinstance(error, CorruptionError):
        logger.critical("ALARM store-damaged: %s (client %s %s answered DATA_LOSS)", error, client, method)
    elif isinstance(error, StoreError):
        logger.warning("client %s %s: store error: %s", client, method, error)
    else:
        logger.debug("client %s %s -> %s: %s", client, method, status.code.name, status.message)
    return status


# --- client side -------------------------------------------------------------------

_ERROR_FOR_CODE: dict[Code, type[WitnessError]] = {
    Code.INVALID_ARGUMENT: MalformedError,
    Code.OUT_OF_RANGE: OutOfRangeError,
    Code.NOT_FOUND: NotFoundError,
    Code.RESOURCE_EXHAUSTED: OverloadedError,
    Code.ABORTED: ConflictError,
    Code.UNAVAILABLE: UnavailableError,
    Code.PERMISSION_DENIED: SignatureError,
    Code.FAILED_PRECONDITION: ProofError,
    Code.ALREADY_EXISTS: EquivocationError,
    Code.DATA_LOSS: UnavailableError,
}
assert set(_ERROR_FOR_CODE.values()) <= set(STATUS_TABLE) and set(_ERROR_FOR_CODE) == set(STATUS_TABLE.values())


def clean_details(details: str | None) -> str:
    """A node's status details made safe to print: no control characters, at most MAX_DETAILS."""
    text = "".join(c if c.isprintable() else "?" for c in (details or ""))
    return text if len(text) <= MAX_DETAILS else text[: MAX_DETAILS - 3] + "..."


def error_from_status(
    code: Code | None, details: str | None, trailing_metadata: Sequence[tuple[str, str | bytes]] | None = ()
) -> WitnessError:
    """The package error for a status a node answered (see the module docstring)."""
    message = clean_details(details)
    cls = _ERROR_FOR_CODE.get(code) if code is not None else None
    if cls is ConflictError:
        known = None
        for key, value in trailing_metadata or ():
            if key == KNOWN_SIZE_KEY and isinstance(value, str) and value.isdigit() and len(value) <= 20:
                known = int(value)
        return ConflictError(message or "conflict", known_size=known)
    if cls is OverloadedError:
        retry = None
        for key, value in trailing_metadata or ():
            if key == RETRY_AFTER_KEY and isinstance(value, str) and value.isdigit() and len(value) <= 9:
                retry = int(value)
        return OverloadedError(message or "overloaded", retry_after=retry)
    if code is Code.DATA_LOSS:
        return UnavailableError(f"the node reports its log damaged (DATA_LOSS): {message}")
    if cls is not None:
        return cls(message or (code.name if code else "error"))
    name = code.name if code is not None else "no status"
    return UnavailableError(f"the node answered {name}" + (f": {message}" if message else ""))
