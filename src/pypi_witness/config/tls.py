"""TLS keys of the configuration: ``[node] tls_cert, tls_key, tls_client_ca, allow_plaintext`` and
``[[peers]] tls_ca, tls_cert, tls_key`` (documented in ``config``'s docstring).

The checks here are on the configuration alone (which keys go together, and
plaintext only on loopback); the files are read when the node starts
(``rpc.tls``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pypi_witness.config.values import boolean, path
from pypi_witness.core.errors import ConfigError


def node_tls_checks(base: Path) -> dict[str, Callable[[str, object], Any]]:
    """The checks of the [node] TLS keys, relative paths taken from ``base``."""
    return {"tls_cert": path(base), "tls_key": path(base), "tls_client_ca": path(base), "allow_plaintext": boolean}


def peer_tls_checks(base: Path) -> dict[str, Callable[[str, object], Any]]:
    """The checks of the [[peers]] TLS keys, relative paths taken from ``base``."""
    return {"tls_ca": path(base), "tls_cert": path(base), "tls_key": path(base)}


def is_loopback(address: str) -> bool:
    """True if ``address`` (``host:port`` or ``[v6]:port``) names this machine only: 127/8, ::1 or localhost."""
    host = address.rpartition(":")[0].strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def check_node_tls(node: Any) -> None:
    """ConfigError unless the [node] TLS keys of ``node`` (a NodeConfig) fit together.

    tls_cert and tls_key go together; tls_client_ca needs them; a ``listen``
    address that is not loopback needs them, unless ``allow_plaintext``.
    """
    if (node.tls_cert is None) != (node.tls_key is None):
        raise ConfigError("node.tls_cert: tls_cert and tls_key go together (the server's certificate and its key)")
    if node.tls_client_ca is not None and node.tls_cert is None:
        raise ConfigError("node.tls_client_ca: client certificates need TLS; set tls_cert and tls_key too")
    if node.tls_cert is None and not node.allow_plaintext and not is_loopback(node.listen):
        raise ConfigError(
            f"node.listen: {node.listen} is not a loopback address; serve it over TLS (tls_cert, tls_key) "
            "or set allow_plaintext = true"
        )


def check_peer_tls(name: str, table: Mapping[str, Any], allow_plaintext: bool) -> None:
    """ConfigError unless the TLS keys of the [[peers]] ``table`` (checked values) fit together.

    tls_cert and tls_key (the client certificate for mutual TLS) go together
    and need tls_ca; TLS keys need an address; an address that is not
    loopback needs tls_ca, unless the node sets ``allow_plaintext``.
    """
    if ("tls_cert" in table) != ("tls_key" in table):
        raise ConfigError(f"{name}.tls_cert: tls_cert and tls_key go together (this node's client certificate and key)")
    if "tls_cert" in table and "tls_ca" not in table:
        raise ConfigError(f"{name}.tls_cert: a client certificate needs TLS; set tls_ca too")
    address = table.get("address")
    if address is None:
        if "tls_ca" in table:
            raise ConfigError(f"{name}.tls_ca: this peer has no address to connect to")
        return
    if "tls_ca" not in table and not allow_plaintext and not is_loopback(address):
        raise ConfigError(
            f"{name}.address: {address} is not a loopback address; connect over TLS (tls_ca) "
            "or set node.allow_plaintext = true"
        )
