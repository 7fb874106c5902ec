"""The ``[http]`` section: the node's C2SP HTTP face (tlog-witness, tlog-checkpoint, tlog-tiles, proofs).

Keys::

    [http]
    listen        = ""        # host:port for HTTP ([v6addr]:port; port 0 picks one). Unset: no HTTP server.
                              # Loopback unless TLS is on or node.allow_plaintext, as for [node] listen.
    prefix        = ""        # URL path prefix of every endpoint, e.g. "/pypi" (no trailing slash)
    tls_cert      = ""        # TLS certificate chain (PEM); unset: [node] tls_cert (if any)
    tls_key       = ""        # its key (PEM); unset: [node] tls_key
    tls_client_ca = ""        # require client certificates signed by these CAs; unset: [node]'s
    max_body_bytes       = 65536  # largest request body (add-checkpoint); more gets 413
    body_timeout_seconds = 10.0   # time a client gets to send a whole request body; slower gets 408
    keep_alive_seconds   = 75.0   # an idle keep-alive connection is closed after this
    tile_cache           = 4096   # full tiles and entry bundles kept in memory (8 KiB and ~80 KiB each)
    export_dir           = ""     # keep the log's static tiles here (tlog-tiles files, for any web server)
    export_seconds       = 10.0   # how often the export is brought up to the latest checkpoint

``read_http`` checks a table; ``check_http_tls`` the TLS keys against the
listen address, as ``config_tls`` does for ``[node]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from pypi_witness.config.tls import is_loopback
from pypi_witness.config.values import check_listen, integer, path, positive_seconds, read_table
from pypi_witness.core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class HttpConfig:
    """[http]: see the module docstring. ``listen`` None: the node serves no HTTP."""

    listen: str | None = None
    prefix: str = ""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    # 64 KiB: an add-checkpoint body is 63 proof lines (2.8 KB) and a checkpoint
    # with a few dozen signatures (a few KB); nothing else is posted.
    max_body_bytes: int = 64 << 10
    # 10 s: a body of 64 KiB takes milliseconds; a client dripping it holds a connection no longer.
    body_timeout_seconds: float = 10.0
    # 75 s: longer than a witness's or log's usual interval between requests (Go's
    # http.Transport keeps idle connections 90 s), so logs reuse their connection.
    keep_alive_seconds: float = 75.0
    # 4,096 tiles: 32 MiB of level-0 tiles, or the upper levels of any log, plus bundles.
    tile_cache: int = 4096
    export_dir: Path | None = None
    # 10 s: static readers see a new checkpoint within seconds; an export of a few new tiles is cheap.
    export_seconds: float = 10.0


def _prefix(key: str, value: object) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key}: must be a string, got {value!r}")
    if value and (not value.startswith("/") or value.endswith("/") or "//" in value or not value.isprintable()
                  or any(c in value for c in " ?#%")):  # fmt: skip
        raise ConfigError(f"{key}: must be empty or a path like /pypi (leading /, no trailing /), got {value!r}")
    return value


def _checks(base: Path) -> dict[str, Callable[[str, object], Any]]:
    return {
        "listen": check_listen,
        "prefix": _prefix,
        "tls_cert": path(base),
        "tls_key": path(base),
        "tls_client_ca": path(base),
        "max_body_bytes": integer(1 << 12, 1 << 26),
        "body_timeout_seconds": positive_seconds,
        "keep_alive_seconds": positive_seconds,
        "tile_cache": integer(0, 1_000_000),
        "export_dir": path(base),
        "export_seconds": positive_seconds,
    }


assert set(_checks(Path())) == {f.name for f in fields(HttpConfig)}


def read_http(table: Mapping[str, Any], base: Path, node: Any) -> HttpConfig:
    """The [http] settings in ``table`` (relative paths from ``base``), TLS defaulting to ``node``'s.

    ``node`` is the NodeConfig. Raises ConfigError naming the key for an
    unknown key or bad value, or TLS keys that do not fit together (see
    ``check_http_tls``).
    """
    values = read_table("http", table, _checks(base))
    if "tls_cert" not in values and "tls_key" not in values:  # none of its own: the node's TLS
        for key in ("tls_cert", "tls_key", "tls_client_ca"):
            if key not in values and getattr(node, key) is not None:
                values[key] = getattr(node, key)
    http = HttpConfig(**values)
    check_http_tls(http, node.allow_plaintext)
    return http


def check_http_tls(http: HttpConfig, allow_plaintext: bool) -> None:
    """ConfigError unless the TLS keys of ``http`` fit together and with its listen address.

    tls_cert and tls_key go together; tls_client_ca needs them; a listen
    address that is not loopback needs them, unless ``allow_plaintext``.
    """
    if (http.tls_cert is None) != (http.tls_key is None):
        raise ConfigError("http.tls_cert: tls_cert and tls_key go together (the server's certificate and its key)")
    if http.tls_client_ca is not None and http.tls_cert is None:
        raise ConfigError("http.tls_client_ca: client certificates need TLS; set tls_cert and tls_key too")
    if http.listen is not None and http.tls_cert is None and not allow_plaintext and not is_loopback(http.listen):
        raise ConfigError(
            f"http.listen: {http.listen} is not a loopback address; serve it over TLS (tls_cert, tls_key) "
            "or set node.allow_plaintext = true"
        )

