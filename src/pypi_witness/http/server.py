"""Serving the HTTP face: Hypercorn's trio worker runs ``http.app.HttpApp`` inside the node's nursery.

Hypercorn (a maintained ASGI server; HTTP/1.1 with keep-alive, and HTTP/2
over TLS) does the protocol; this module only sets it up from ``[http]``:
the listen address, TLS (certificate, key, and client CAs for mutual TLS),
keep-alive and read timeouts. Hypercorn's access log
stays off (it would write client addresses); its error log goes to the
``pypi_witness.http.server`` logger.
"""

from __future__ import annotations

import functools
import logging
import socket
import ssl
from collections.abc import Callable
from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from pypi_witness.config.node import Config
from pypi_witness.config.http import HttpConfig
from pypi_witness.config.logs import listed_logs
from pypi_witness.core.errors import ConfigError
from pypi_witness.http.app import HttpApp
from pypi_witness.http.export import keep_exported
from pypi_witness.signing.log import Log
from pypi_witness.signing.witness import Witness

logger = logging.getLogger("pypi_witness.http.server")
# Headers of a request larger than this are refused by Hypercorn (431) before the app sees them.
MAX_HEADER_BYTES = 16 << 10


def hypercorn_config(http: HttpConfig) -> HypercornConfig:
    """Hypercorn's settings for ``http`` (its ``listen`` must be set). ConfigError for unreadable TLS files."""
    assert http.listen is not None
    config = HypercornConfig()
    config.bind = [http.listen]
    config.accesslog = None  # it would log client addresses
    config.errorlog = logger
    config.keep_alive_timeout = http.keep_alive_seconds
    # A client silent this long in the middle of a request is dropped (slow headers, slow bodies).
    config.read_timeout = max(1, round(http.body_timeout_seconds))
    config.h11_max_incomplete_size = MAX_HEADER_BYTES
    config.graceful_timeout = 1.0
    config.include_server_header = False
    config.include_date_header = True
    if http.tls_cert is not None:
        for name in ("tls_cert", "tls_key", "tls_client_ca"):
            path = getattr(http, name)
            if path is not None and not path.is_file():
                raise ConfigError(f"http.{name}: {path} is not a readable file")
        config.certfile = str(http.tls_cert)
        config.keyfile = str(http.tls_key)
        if http.tls_client_ca is not None:
            config.ca_certs = str(http.tls_client_ca)
            config.verify_mode = ssl.CERT_REQUIRED
    return config


def listen_socket(listen: str) -> socket.socket:
    """A TCP socket bound to ``listen`` (``host:port`` or ``[v6]:port``). ConfigError if it cannot be bound."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, int(port)))
    except OSError as e:
        sock.close()
        raise ConfigError(f"http.listen: cannot listen on {listen}: {e.strerror or e}") from None
    return sock


async def serve_http(app: HttpApp, http: HttpConfig, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve ``app`` on ``http.listen`` until cancelled; report the bound ``http(s)://host:port`` when ready.

    Raises ConfigError if the address cannot be bound or a TLS file cannot be used.
    """
    config = hypercorn_config(http)
    try:
        config.create_ssl_context()  # fail on a bad certificate now, with the key's name
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(f"http.tls_cert: cannot use the certificate or key: {e}") from None
    # Bind here, so a taken address is a ConfigError naming the key; Hypercorn serves the bound socket.
    assert http.listen is not None
    sock = listen_socket(http.listen)
    config.bind = [f"fd://{sock.detach()}"]
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(functools.partial(serve, app, config))
        task_status.started(binds[0] if binds else f"http://{http.listen}")


async def serve_node_http(
    config: Config,
    log: Log,
    *,
    witness: Witness | None,
    witnessed: Callable[[bytes], bytes],
    privacy: Any = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """A node's HTTP task: the server of ``[http]`` and, with ``export_dir``, the static export.

    ``witnessed`` adds the cosignatures held to the log's checkpoint;
    ``privacy`` is the node's ``NodePrivacy``. Reports the bound URL; runs
    until cancelled. Raises ConfigError as ``serve_http`` and
    ``config_logs.listed_logs`` do.
    """
    listed, _ = listed_logs(config.witnessing)
    app = HttpApp(config, log, witness=witness, witnessed=witnessed, listed=listed, privacy=privacy)
    started = False
    try:
        async with trio.open_nursery() as nursery:
            url = await nursery.start(serve_http, app, config.http)
            if config.http.export_dir is not None:

                def current() -> bytes | None:
                    note = log.store.checkpoint()
                    return None if note is None else witnessed(note)

                nursery.start_soon(keep_exported, log.store, config.http.export_dir, current, config.http.export_seconds)
            logger.info("serving HTTP (C2SP tlog-witness, tlog-tiles) on %s%s", url, config.http.prefix)
            task_status.started(url)
            started = True
    except BaseExceptionGroup as group:
        # A refusal while starting is one error: raise it as itself, as documented.
        if not started and len(group.exceptions) == 1 and isinstance(group.exceptions[0], ConfigError):
            raise group.exceptions[0] from None
        raise
