"""How failures cross HTTP: the one table from package errors to HTTP statuses.

``answer_for(error)`` picks the status of the most specific class in
``STATUS_TABLE`` that the error is an instance of. The statuses are C2SP
tlog-witness's for add-checkpoint, and the plain HTTP meaning elsewhere:

======================  ======  ==========================================================
error                   status  body (text/plain unless said)
======================  ======  ==========================================================
MethodNotAllowed        405     the error's own, and an Allow header
BodyTooSlow             408     the error's own (the body did not arrive in time)
BodyTooLarge            413     the error's own (the body's limit)
MalformedError          400     the error's own (what is wrong with the request)
OutOfRangeError         400     the error's own (tlog-witness: old size > checkpoint size)
SignatureError          403     the error's own (no valid signature from a trusted log key)
NotFoundError           404     the error's own (unknown origin, tile or file)
ConflictError           409     ``<known size>\\n`` as ``text/x.tlog.size`` (tlog-witness)
ProofError              422     the error's own (a consistency proof, a bad empty tree)
EquivocationError       422     the error's own (same size, another root; also a log this
                                witness holds equivocation evidence against)
VerificationError       422     the error's own
OverloadedError         429     with ``retry_after`` (a rate limit or a log's qpd budget),
                        503     without (the node is at capacity); ``Retry-After`` either way
UnavailableError        503     the error's own (e.g. the node is stopping)
StoreError              503     a fixed text; the detail (paths...) goes to the node's log
anything else           500     a fixed text; the traceback goes to the node's log
======================  ======  ==========================================================

The same package errors map to gRPC statuses in ``rpc.errors``; the two
tables agree on what is the client's fault and what is the node's.

Log lines never hold a client's address: the server names a client by its
identity (``privacy.identity``), a keyed hash.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pypi_witness.core.tlog.witness_wire import SIZE_CONTENT_TYPE, format_size
from pypi_witness.core.errors import (
    ConflictError,
    EquivocationError,
    MalformedError,
    NotFoundError,
    OutOfRangeError,
    OverloadedError,
    ProofError,
    SignatureError,
    StoreError,
    UnavailableError,
    VerificationError,
)

logger = logging.getLogger("pypi_witness.http")

class MethodNotAllowed(MalformedError):
    """A method the resource does not take; ``allowed`` lists those it does (405, with Allow)."""

    def __init__(self, message: str, allowed: tuple[str, ...]) -> None:
        super().__init__(message)
        self.allowed = allowed


class BodyTooLarge(MalformedError):
    """A request body past ``[http] max_body_bytes`` (413)."""


class BodyTooSlow(MalformedError):
    """A request body that did not arrive within ``[http] body_timeout_seconds`` (408)."""


STATUS_TABLE: dict[type[BaseException], int] = {
    MethodNotAllowed: 405,
    BodyTooSlow: 408,
    BodyTooLarge: 413,
    MalformedError: 400,
    OutOfRangeError: 400,
    SignatureError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    ProofError: 422,
    EquivocationError: 422,
    VerificationError: 422,
    OverloadedError: 429,
    UnavailableError: 503,
    StoreError: 503,
}
# OverloadedError without a retry_after: the node is at capacity, not the caller over a budget.
CAPACITY_STATUS = 503
# The Retry-After given when capacity ran out (no better estimate).
CAPACITY_RETRY_SECONDS = 1
STORE_MESSAGE = "the node cannot read its state right now; try again later"
INTERNAL_MESSAGE = "internal error in the node (logged there); try again later"
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Answer:
    """A complete HTTP answer: status, headers (name, value), body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def _text(status: int, message: str, *extra: tuple[str, str]) -> Answer:
    return Answer(status, (("content-type", TEXT), *extra), message.encode("utf-8", "replace") + b"\n")


def answer_for(error: BaseException) -> Answer:
    """The answer for ``error`` by STATUS_TABLE (most specific class first), else 500."""
    for cls in type(error).__mro__:
        status = STATUS_TABLE.get(cls)
        if status is None:
            continue
        if isinstance(error, StoreError):
            return _text(status, STORE_MESSAGE)
        if isinstance(error, ConflictError) and error.known_size is not None:
            # SPEC: tlog-witness — 409 with the latest cosigned size in decimal and a newline, as text/x.tlog.size.
            return Answer(409, (("content-type", SIZE_CONTENT_TYPE),), format_size(error.known_size))
        if isinstance(error, MethodNotAllowed):
            return _text(405, str(error), ("allow", ", ".join(error.allowed)))
        if isinstance(error, OverloadedError):
            if error.retry_after is None:
                return _text(CAPACITY_STATUS, str(error), ("retry-after", str(CAPACITY_RETRY_SECONDS)))
            return _text(status, str(error), ("retry-after", str(max(1, round(error.retry_after)))))
        return _text(status, str(error) or type(error).__name__)
    return _text(500, INTERNAL_MESSAGE)


def report(error: BaseException, what: str, client: str) -> Answer:
    """The answer for ``error`` raised serving ``what`` to ``client`` (a tag), logged.

    Client mistakes are logged at DEBUG, store failures at WARNING with their
    detail, anything unexpected at ERROR with its traceback.
    """
    answer = answer_for(error)
    if answer.status == 500:
        logger.error("client %s %s: unexpected error", client, what, exc_info=error)
    elif isinstance(error, StoreError):
        logger.warning("client %s %s: store error: %s", client, what, error)
    else:
        logger.debug("client %s %s -> %d: %s", client, what, answer.status, error)
    return answer
