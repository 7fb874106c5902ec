"""gRPC TLS credentials from the configuration's TLS keys (``config_tls``), read when the node starts.

``server_credentials(node)``: the server's certificate and key, and, with
``tls_client_ca``, client certificates required and checked against it.
``channel_credentials(peer)``: the CA that the peer's certificate must chain
to, and this node's client certificate for mutual TLS. Both return None for
plaintext. A file that cannot be read or holds no PEM of the right kind is
refused with a ConfigError naming the key.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import grpc

from pypi_witness.config.node import NodeConfig, PeerConfig
from pypi_witness.bounded_file import read_bounded
from pypi_witness.core.errors import ConfigError

# The largest PEM file read (a CA bundle of a few hundred certificates).
MAX_PEM_BYTES = 4 << 20

_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"
_PRIVATE_KEY = b"PRIVATE KEY-----"


def read_pem(key: str, path: Path, marker: bytes, kind: str) -> bytes:
    """The bytes of ``path`` if they hold ``marker``; ConfigError naming ``key`` otherwise."""
    try:
        data = read_bounded(path, MAX_PEM_BYTES, f"PEM {kind} file", ConfigError)
    except ConfigError as e:  # the message starts with the path
        raise ConfigError(f"{key}: cannot read {e}") from None
    if marker not in data:
        raise ConfigError(f"{key}: {path} holds no PEM {kind}")
    return data


def server_credentials(node: NodeConfig) -> grpc.ServerCredentials | None:
    """The server's TLS credentials, or None to serve plaintext (no tls_cert). ConfigError for a bad file."""
    if node.tls_cert is None or node.tls_key is None:
        return None
    cert = read_pem("node.tls_cert", node.tls_cert, _CERTIFICATE, "certificate")
    key = read_pem("node.tls_key", node.tls_key, _PRIVATE_KEY, "private key")
    client_ca = None
    if node.tls_client_ca is not None:
        client_ca = read_pem("node.tls_client_ca", node.tls_client_ca, _CERTIFICATE, "certificate")
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def channel_credentials(peer: PeerConfig, name: str = "peers") -> grpc.ChannelCredentials | None:
    """TLS credentials for connecting to ``peer``, or None for plaintext (no tls_ca). ConfigError for a bad file."""
    if peer.tls_ca is None:
        return None
    ca = read_pem(f"{name}.tls_ca", peer.tls_ca, _CERTIFICATE, "certificate")
    cert = key = None
    if peer.tls_cert is not None and peer.tls_key is not None:
        cert = read_pem(f"{name}.tls_cert", peer.tls_cert, _CERTIFICATE, "certificate")
        key = read_pem(f"{name}.tls_key", peer.tls_key, _PRIVATE_KEY, "private key")
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)


def peer_credentials(peers: Sequence[PeerConfig]) -> dict[str, grpc.ChannelCredentials | None]:
    """``channel_credentials`` of every peer with an address, by peer name. ConfigError for a bad file."""
    return {
        peer.name: channel_credentials(peer, f"peers[{i}]")
        for i, peer in enumerate(peers)
        if peer.address is not None
    }


def client_credentials(
    ca: Path | None, cert: Path | None = None, key: Path | None = None
) -> grpc.ChannelCredentials | None:
    """TLS credentials for a client of a node (``--tls-ca``, and ``--tls-cert`` with
    ``--tls-key`` for a node that requires client certificates); None without ``ca``.

    ConfigError for a file that cannot be read or holds no PEM of its kind, or
    for a certificate without its key (or a key without its certificate).
    """
    if (cert is None) != (key is None):
        raise ConfigError("--tls-cert and --tls-key go together")
    if ca is None:
        if cert is not None:
            raise ConfigError("--tls-cert needs --tls-ca (the CA that signed the node's certificate)")
        return None
    root = read_pem("--tls-ca", ca, _CERTIFICATE, "certificate")
    chain = read_pem("--tls-cert", cert, _CERTIFICATE, "certificate") if cert is not None else None
    private = read_pem("--tls-key", key, _PRIVATE_KEY, "private key") if key is not None else None
    return grpc.ssl_channel_credentials(root_certificates=root, private_key=private, certificate_chain=chain)
