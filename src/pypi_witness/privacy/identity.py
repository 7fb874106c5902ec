"""Who a call is from, without the client's address: keyed hashes, a trusted proxy's word, peers.

``ClientIdentifier.identify(context)`` turns a gRPC call into an ``Identity``
before anything else sees the call. The peer address in ``context.peer()``
(``ipv4:1.2.3.4:5678``, ``ipv6:[2001:db8::1]:5678``, ``unix:/path``) is
reduced to what names a subscriber (an IPv4 address; the first
``ipv6_prefix`` bits of an IPv6 one; an IPv4-mapped IPv6 address counts as
its IPv4 address; every Unix-socket client is one client; the port is
dropped) and hashed:

    client id = HMAC-SHA256(period key, kind || address bytes)[:16], in hex

16 bytes (128 bits) because collisions must stay negligible over billions
of identities (64 bits would collide at ~4 billion), and shorter does not
protect anyone: the IPv4 space is small enough to hash in full with the key,
so the key's secrecy and its destruction at the end of each period
(``period_keys``) are what protect addresses, not truncation. Neither the
peer string nor the parsed address is stored, logged or put into an error.

A trusted front proxy may say who the client is: metadata
``x-witness-client`` (its own hash of the client, 1-128 printable ASCII
characters) and ``x-witness-country`` (ISO 3166-1 alpha-2), which count only
when ``x-witness-proxy-token`` equals the configured token (compared in
constant time). The proxy's client id is hashed again with the period key, so
it, too, changes every period. Without the right token the three keys are
ignored: nothing reads them again (handlers never read metadata), and the
call is identified by its peer address, the proxy's.

Peers: an authenticated peer witness is ``Identity("peer:<key name>")``,
charged to its own budget (``rate_limit``). The gate asks a per-method
authenticator (the witness and gossip services provide one; see
``gate.PrivacyGate``); this module only builds the identity.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import grpc

from pypi_witness.privacy.period_keys import PeriodKeys

CLIENT_ID_BYTES = 16
CLIENT_PREFIX = "c:"
PEER_PREFIX = "peer:"
PROXY_TOKEN_KEY = "x-witness-proxy-token"
PROXY_CLIENT_KEY = "x-witness-client"
PROXY_COUNTRY_KEY = "x-witness-country"
PROXY_KEYS = (PROXY_TOKEN_KEY, PROXY_CLIENT_KEY, PROXY_COUNTRY_KEY)
MAX_PROXY_CLIENT = 128
_IPV4_MAPPED = bytes(10) + b"\xff\xff"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a call is from: ``name`` is ``c:<32 hex>`` (a hashed client) or ``peer:<key name>``.

    ``country`` is an ISO 3166-1 alpha-2 code from a trusted proxy, else "".
    ``period`` is the key period the hash was made in (0 for peers).
    """

    name: str
    country: str = ""
    period: int = 0

    @property
    def is_peer(self) -> bool:
        return self.name.startswith(PEER_PREFIX)

    @classmethod
    def peer(cls, key_name: str) -> Identity:
        """The identity of the peer witness whose key is named ``key_name``."""
        return cls(PEER_PREFIX + key_name)


def address_bytes(peer: str, ipv6_prefix: int = 64) -> bytes:
    """What identifies the client of gRPC peer string ``peer``, as bytes to hash.

    ``b"4" + 4 bytes`` for IPv4 (or IPv4-mapped IPv6), ``b"6" + 16 bytes`` (all
    but the first ``ipv6_prefix`` bits zero) for IPv6, ``b"unix"`` for any
    Unix socket, ``b"?"`` for anything unparseable (all such calls are one
    client). Never raises and never logs.
    """
    kind, _, rest = peer.partition(":")
    if kind.startswith("unix"):
        return b"unix"
    if "%" in rest:
        rest = urllib.parse.unquote(rest)
    host = rest.rpartition(":")[0]
    try:
        if kind == "ipv4":
            return b"4" + socket.inet_pton(socket.AF_INET, host)  # C, ~10x ipaddress: this runs on every call
        if kind != "ipv6" or not (host.startswith("[") and host.endswith("]")):
            return b"?"
        packed = socket.inet_pton(socket.AF_INET6, host[1:-1].partition("%")[0])  # no brackets, no zone id
    except OSError:
        return b"?"
    if packed[:12] == _IPV4_MAPPED:
        return b"4" + packed[12:]
    mask = ((1 << 128) - 1) ^ ((1 << (128 - ipv6_prefix)) - 1)
    return b"6" + (int.from_bytes(packed, "big") & mask).to_bytes(16, "big")


def _country(value: str | bytes | None) -> str:
    if isinstance(value, str) and len(value) == 2 and value.isascii() and value.isalpha():
        return value.upper()
    return ""


def _proxy_client(value: str | bytes | None) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= MAX_PROXY_CLIENT and value.isascii() and value.isprintable():
        return value
    return None


class ClientIdentifier:
    """Identities for calls: keyed hashes of peer addresses, or a trusted proxy's client id.

    ``proxy_token`` None: proxy metadata is never read. ``clock`` gives Unix
    seconds (the period of a hash). Thread-safe.
    """

    def __init__(
        self,
        keys: PeriodKeys,
        *,
        ipv6_prefix: int = 64,
        proxy_token: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = keys
        self._ipv6_prefix = ipv6_prefix
        self._proxy_token = None if proxy_token is None else proxy_token.encode()
        self._clock = clock
        # (key, HMAC keyed with it): copying a keyed HMAC costs ~half of keying a new one.
        self._keyed: tuple[bytes, hmac.HMAC] | None = None

    def _hash(self, data: bytes) -> tuple[str, int]:
        period, key = self.keys.key(self._clock())
        keyed = self._keyed
        if keyed is None or keyed[0] is not key:
            keyed = self._keyed = (key, hmac.new(key, digestmod=hashlib.sha256))
        mac = keyed[1].copy()
        mac.update(data)
        return CLIENT_PREFIX + mac.digest()[:CLIENT_ID_BYTES].hex(), period

    def hash_peer(self, peer: str) -> Identity:
        """The identity of the client at gRPC peer string ``peer`` (its address hashed)."""
        name, period = self._hash(address_bytes(peer, self._ipv6_prefix))
        return Identity(name, "", period)

    def identify(self, context: grpc.ServicerContext) -> Identity:
        """The identity of the client of a call: the trusted proxy's, else its peer address hashed.

        Raises ConfigError only if the period's key cannot be made (``PeriodKeys.key``).
        """
        if self._proxy_token is None:
            return self.hash_peer(context.peer())  # proxy metadata is never read
        return self.identify_peer(context.peer(), context.invocation_metadata() or ())

    def identify_peer(self, peer: str, metadata: Iterable[tuple[str, str | bytes]]) -> Identity:
        """``identify`` for a call from gRPC peer string ``peer`` with ``metadata`` (key, value) pairs.

        The HTTP server calls it with the client's address written as a gRPC
        peer string and the request's proxy headers. Raises as ``identify``.
        """
        if self._proxy_token is not None:
            proxied = self._from_proxy(metadata)
            if proxied is not None:
                return proxied
        return self.hash_peer(peer)

    def _from_proxy(self, metadata) -> Identity | None:
        token = client = country = None
        for key, value in metadata:
            if key == PROXY_TOKEN_KEY:
                token = value
            elif key == PROXY_CLIENT_KEY:
                client = value
            elif key == PROXY_COUNTRY_KEY:
                country = value
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(), self._proxy_token or b""):
            return None
        proxied = _proxy_client(client)
        if proxied is None:
            return None
        name, period = self._hash(b"p" + proxied.encode())
        return Identity(name, _country(country), period)

    def tag(self, context: grpc.ServicerContext) -> str:
        """A call's client as log lines name it: its identity's name."""
        return self.identify(context).name
