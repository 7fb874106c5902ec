"""Who sent a gossip exchange: the sender's witness key signs each call.

A call to ``GossipService.Exchange`` names its sender (a ``[[peers]]`` name
on the receiving node) and carries an Ed25519 signature by that peer's
witness key over ``exchange_message``: a fixed context line, the sender name,
the time and every message, length-prefixed. The context line keeps these
signatures apart from the key's cosignatures (which sign text starting with
``cosignature/v1``), so a signed exchange can never pass as a cosignature.

The time bounds replays to ``MAX_SKEW_SECONDS`` either way; within that, a
replayed call only repeats messages the machine handles idempotently (heads
seen are ignored, evidence is acknowledged again). The gate
(``privacy.gate``) charges a call that verifies to the peer's own budget.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from pypi_witness.core.tlog.note import Signer, Verifier
from pypi_witness.core.errors import NotFoundError, SignatureError, quoted
from pypi_witness.rpc.gen.v1 import gossip_pb2 as pb

CONTEXT = b"pypi-witness/gossip-exchange/v1\n"
# 5 minutes: generous for unsynchronised clocks, short for a replay.
MAX_SKEW_SECONDS = 300


def exchange_message(sender: str, time: int, messages: Sequence[bytes]) -> bytes:
    """The bytes a sender signs for one exchange (see the module docstring)."""
    parts = [CONTEXT, f"sender {sender}\ntime {time}\n".encode()]
    for message in messages:
        parts += [b"%d\n" % len(message), message]
    return b"".join(parts)


def sign_exchange(signer: Signer, sender: str, time: int, messages: Sequence[bytes]) -> bytes:
    """The signature of one exchange by ``signer`` (the sender's witness key)."""
    return signer.sign(exchange_message(sender, time, messages))


def check_exchange(
    keys: Mapping[str, Verifier],
    sender: str,
    time: int,
    messages: Sequence[bytes],
    signature: bytes,
    now: float,
) -> str:
    """``sender`` if its key in ``keys`` signed the exchange within MAX_SKEW_SECONDS of ``now``.

    Raises NotFoundError if ``sender`` has no key here, SignatureError if the
    time is too far off or the signature does not verify.
    """
    key = keys.get(sender)
    if key is None:
        raise NotFoundError(f"gossip sender {quoted(sender)} is not a peer with a witness key here")
    if abs(time - now) > MAX_SKEW_SECONDS:
        raise SignatureError(f"gossip from {quoted(sender)} signed at {time}, {time - now:+.0f} s from this node's clock")
    if not key.verify(exchange_message(sender, time, messages), signature):
        raise SignatureError(f"gossip from {quoted(sender)}: the signature does not verify with its witness key")
    return sender


def authenticator(keys: Mapping[str, Verifier], clock: Callable[[], float]) -> Callable[[object, object], str | None]:
    """A ``privacy.gate`` peer authenticator for Exchange: the peer's witness key name, or None. Never raises."""

    def authenticate(raw: object, _context: object) -> str | None:
        try:
            request = pb.ExchangeRequest.FromString(raw)  # type: ignore[arg-type]
            check_exchange(keys, request.sender, request.time, request.messages, request.signature, clock())
        except Exception:
            return None
        return keys[request.sender].name

    return authenticate
