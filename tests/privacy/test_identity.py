"""Client identities: parsing gRPC peer strings, keyed hashes, rotation, the trusted proxy."""

from __future__ import annotations

import hmac
import ipaddress

import pytest

from pypi_witness.privacy.identity import (
    PROXY_CLIENT_KEY,
    PROXY_COUNTRY_KEY,
    PROXY_TOKEN_KEY,
    ClientIdentifier,
    Identity,
    address_bytes,
)
from pypi_witness.privacy.period_keys import PeriodKeys

DAY = 86400
TOKEN = "proxy-token-0123456789"


class FakeContext:
    def __init__(self, peer: str, metadata=()) -> None:
        self._peer = peer
        self._metadata = tuple(metadata)

    def peer(self) -> str:
        return self._peer

    def invocation_metadata(self):
        return self._metadata


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        ("ipv4:203.0.113.7:5555", b"4" + bytes([203, 0, 113, 7])),
        ("ipv6:[::ffff:203.0.113.7]:5555", b"4" + bytes([203, 0, 113, 7])),
        ("ipv6:[2001:db8:1:2:3:4:5:6]:5555", b"6" + ipaddress.IPv6Address("2001:db8:1:2::").packed),
        ("ipv6:%5B2001:db8:1:2::9%5D:5555", b"6" + ipaddress.IPv6Address("2001:db8:1:2::").packed),
        ("ipv6:[fe80::1%25eth0]:5555", b"6" + ipaddress.IPv6Address("fe80::").packed),
        ("ipv6:[::1]:5555", b"6" + bytes(16)),
        ("unix:/run/witness.sock", b"unix"),
        ("unix-abstract:witness", b"unix"),
        ("ipv4:not-an-address:1", b"?"),
        ("", b"?"),
        ("garbage", b"?"),
    ],
)
def test_peer_strings_reduce_to_what_names_a_subscriber(peer, expected):
    assert address_bytes(peer) == expected


def test_ipv6_prefix_length_is_configurable():
    full = address_bytes("ipv6:[2001:db8::1:2]:1", 128)
    assert full == b"6" + ipaddress.IPv6Address("2001:db8::1:2").packed
    assert address_bytes("ipv6:[2001:db8::1:2]:1", 48) == b"6" + ipaddress.IPv6Address("2001:db8::").packed


def test_hashes_hide_the_address_ignore_the_port_and_tell_clients_apart():
    ident = ClientIdentifier(PeriodKeys(DAY), clock=Clock(5.0))
    a = ident.hash_peer("ipv4:203.0.113.7:5000")
    assert a == ident.hash_peer("ipv4:203.0.113.7:6000")
    assert a.name.startswith("c:") and len(a.name) == 2 + 32 and a.period == 0
    assert "203" not in a.name and bytes([203, 0, 113, 7]).hex() not in a.name
    assert ident.hash_peer("ipv4:203.0.113.8:5000") != a
    assert ident.hash_peer("ipv6:[::ffff:203.0.113.7]:1") == a


def test_after_key_rotation_the_same_address_hashes_differently(tmp_path):
    clock = Clock(10 * DAY)
    ident = ClientIdentifier(PeriodKeys(DAY, tmp_path / "keys"), clock=clock)
    before = ident.hash_peer("ipv4:203.0.113.7:5000")
    clock.now += DAY
    after = ident.hash_peer("ipv4:203.0.113.7:5000")
    assert (before.period, after.period) == (10, 11)
    assert before.name != after.name
    # Two processes within one period agree (the key is in the key file).
    again = ClientIdentifier(PeriodKeys(DAY, tmp_path / "keys"), clock=clock).hash_peer("ipv4:203.0.113.7:1")
    assert again == after


def proxied(token: str | None, client: str = "proxy-hash-1", country: str = "de"):
    metadata = [(PROXY_CLIENT_KEY, client), (PROXY_COUNTRY_KEY, country)]
    if token is not None:
        metadata.append((PROXY_TOKEN_KEY, token))
    return FakeContext("ipv4:192.0.2.1:443", metadata)


def test_proxy_metadata_counts_only_with_the_token():
    ident = ClientIdentifier(PeriodKeys(DAY), proxy_token=TOKEN, clock=Clock(0))
    proxy_itself = ident.hash_peer("ipv4:192.0.2.1:443")
    trusted = ident.identify(proxied(TOKEN))
    assert trusted.country == "DE" and trusted.name != proxy_itself.name
    assert ident.identify(proxied(TOKEN, client="proxy-hash-2")).name != trusted.name
    for bad in (None, "", "wrong", TOKEN + "x", TOKEN[:-1]):
        assert ident.identify(proxied(bad)) == proxy_itself  # ignored: the peer address is hashed
    assert ident.identify(proxied(TOKEN, country="Deutschland")).country == ""
    assert ident.identify(proxied(TOKEN, client="")) == proxy_itself
    assert ident.identify(proxied(TOKEN, client="x" * 129)) == proxy_itself
    assert ident.identify(proxied(TOKEN, client="tab\there")) == proxy_itself


def test_without_a_configured_token_proxy_metadata_is_never_read():
    class NoMetadata(FakeContext):
        def invocation_metadata(self):
            raise AssertionError("metadata read")

    ident = ClientIdentifier(PeriodKeys(DAY), clock=Clock(0))
    assert ident.identify(NoMetadata("ipv4:192.0.2.1:1")) == ident.hash_peer("ipv4:192.0.2.1:2")


def test_peer_identities_are_named_by_key():
    peer = Identity.peer("witness.example.org")
    assert peer.is_peer and peer.name == "peer:witness.example.org"
    assert not Identity("c:00").is_peer


def test_the_client_id_is_hmac_sha256_of_the_address_cut_to_16_bytes():
    keys = PeriodKeys(DAY, random=lambda n: b"\x07" * n)
    ident = ClientIdentifier(keys, clock=Clock(0))
    expected = hmac.digest(b"\x07" * 32, b"4" + bytes([192, 0, 2, 10]), "sha256")[:16].hex()
    assert ident.hash_peer("ipv4:192.0.2.10:80").name == "c:" + expected
