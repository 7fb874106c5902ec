"""The ``[witnessing]`` section: logs this node cosigns besides its peers' (any C2SP log), and the
HTTP witnesses (C2SP tlog-witness, e.g. the public witness network's) it asks to cosign its own.

Keys::

    [witnessing]
    log_list = ""          # a file in the witness network's logs/v0 format (core.tlog.log_list);
                           # read at start: every Ed25519 log in it is cosigned
    [[witnessing.logs]]    # one table per log, as in a log list:
    vkey    = "sigsum.example/log+01234567+AQ..."  # required: the log's verifier key (type 0x01)
    origin  = ""           # its checkpoints' origin line; unset: the key's name
    qpd     = 1440         # add-checkpoint requests the log may make a day; unset: no limit
    contact = ""           # how to reach the log's operator (for people)

    [[witnessing.witnesses]]  # one table per HTTP witness this node pushes its checkpoints to:
    name    = "example-witness"                       # required: a unique label, used in log lines
    url     = "https://witness.example/prefix"        # required: its submission prefix (POST <url>/add-checkpoint)
    vkey    = "witness.example/w1+89abcdef+BA..."     # required: its cosigner key (type 0x04)
    tls_ca  = ""           # CA certificates (PEM) for https; unset: the system's
    tls_cert = ""          # client certificate and key (PEM), for a witness that asks for one
    tls_key  = ""

An ``http://`` URL is allowed only to a loopback host unless
``node.allow_plaintext``. The witnesses' cosignatures are served with the
log's checkpoint, like the peers'.

A log's requests beyond its ``qpd`` (a token bucket refilling qpd/86,400 a
second, holding an hour's worth) are answered 429 with ``Retry-After``.
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pypi_witness.config.tls import is_loopback
from pypi_witness.config.values import check_origin, path, read_table, string, table, vkey
from pypi_witness.core.tlog.log_list import ListedLog, parse_log_list
from pypi_witness.core.tlog.note import ALG_COSIGNATURE_V1, ALG_ED25519, Verifier
from pypi_witness.core.errors import ConfigError, MalformedError


@dataclass(frozen=True, slots=True)
class HttpWitness:
    """One [[witnessing.witnesses]] table: an HTTP witness asked to cosign this node's log."""

    name: str
    url: str
    vkey: Verifier
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None


@dataclass(frozen=True, slots=True)
class WitnessingConfig:
    """[witnessing]: the list file (read at start), the logs listed in the configuration, HTTP witnesses."""

    log_list: Path | None = None
    logs: tuple[ListedLog, ...] = ()
    witnesses: tuple[HttpWitness, ...] = ()


def witness_url(key: str, value: object) -> str:
    """An HTTP witness's submission prefix: ``http(s)://host[:port][/prefix]``, no trailing slash."""
    url = string(key, value)
    try:
        parsed = urllib.parse.urlsplit(url)
        parsed.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as e:
        raise ConfigError(f"{key}: not a URL: {e}") from None
    if parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.query or parsed.fragment \
            or url.endswith("/") or parsed.username is not None:  # fmt: skip
        raise ConfigError(
            f"{key}: must be http(s)://host[:port][/prefix] with no trailing slash, query or credentials, got {url!r}"
        )
    return url


def _qpd(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{key}: must be a number of requests a day, 0 or more, got {value!r}")
    return float(value)


_LOG_CHECKS = {
    "vkey": vkey(ALG_ED25519, "a log key"),
    "origin": check_origin,
    "qpd": _qpd,
    "contact": string,
}


def _witness_checks(base: Path) -> dict[str, Any]:
    return {
        "name": string,
        "url": witness_url,
        "vkey": vkey(ALG_COSIGNATURE_V1, "a witness (cosigner) key"),
        "tls_ca": path(base),
        "tls_cert": path(base),
        "tls_key": path(base),
    }


def _read_witnesses(raw: object, base: Path, allow_plaintext: bool) -> tuple[HttpWitness, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"witnessing.witnesses: must be an array of tables ([[witnessing.witnesses]]), got {raw!r}")
    out: list[HttpWitness] = []
    for i, item in enumerate(raw):
        name = f"witnessing.witnesses[{i}]"
        entry = read_table(name, table(name, item), _witness_checks(base))
        for required in ("name", "url", "vkey"):
            if required not in entry:
                raise ConfigError(f"{name}.{required}: required")
        if ("tls_cert" in entry) != ("tls_key" in entry):
            raise ConfigError(f"{name}.tls_cert: tls_cert and tls_key go together")
        host = urllib.parse.urlsplit(entry["url"]).hostname or ""
        if entry["url"].startswith("http:") and not allow_plaintext and not is_loopback(f"[{host}]:0" if ":" in host else f"{host}:0"):
            raise ConfigError(f"{name}.url: {entry['url']} is plaintext to a host that is not loopback; use https "
                              "or set node.allow_plaintext = true")  # fmt: skip
        witness = HttpWitness(**entry)
        if any(w.name == witness.name or w.url == witness.url for w in out):
            raise ConfigError(f"{name}: its name or url is the same as another witness's; list each witness once")
        out.append(witness)
    return tuple(out)


def read_witnessing(data: Mapping[str, Any], base: Path, allow_plaintext: bool = False) -> WitnessingConfig:
    """The [witnessing] table ``data``; ConfigError naming the key for anything refused.

    ``allow_plaintext`` is ``node.allow_plaintext`` (for ``http://`` witnesses).
    """
    values = dict(table("witnessing", data))
    witnesses = _read_witnesses(values.pop("witnesses", []), base, allow_plaintext)
    raw_logs = values.pop("logs", [])
    settings = read_table("witnessing", values, {"log_list": path(base)})
    if not isinstance(raw_logs, list):
        raise ConfigError(f"witnessing.logs: must be an array of tables ([[witnessing.logs]]), got {raw_logs!r}")
    logs = []
    for i, raw in enumerate(raw_logs):
        name = f"witnessing.logs[{i}]"
        entry = read_table(name, table(name, raw), _LOG_CHECKS)
        if "vkey" not in entry:
            raise ConfigError(f"{name}.vkey: required")
        logs.append(ListedLog(entry["vkey"], entry.get("origin", entry["vkey"].name), entry.get("qpd"), entry.get("contact", "")))
    return WitnessingConfig(settings.get("log_list"), tuple(logs), witnesses)


def listed_logs(config: WitnessingConfig) -> tuple[list[ListedLog], list[str]]:
    """Every log to witness: those in the configuration, then those in ``log_list``; and the skipped ones.

    Raises ConfigError naming the file and line if the list cannot be read
    or parsed, or a log (origin) is listed twice.
    """
    logs = list(config.logs)
    skipped: list[str] = []
    if config.log_list is not None:
        try:
            text = config.log_list.read_text("utf-8")
            from_file, skipped = parse_log_list(text)
        except OSError as e:
            raise ConfigError(f"witnessing.log_list: cannot read {config.log_list}: {e.strerror or e}") from None
        except (UnicodeDecodeError, MalformedError) as e:
            raise ConfigError(f"witnessing.log_list: {config.log_list}: {e}") from None
        skipped = [f"witnessing.log_list: {config.log_list}: {s}" for s in skipped]
        logs += from_file
    seen: set[str] = set()
    for log in logs:
        if log.origin in seen:
            raise ConfigError(f"witnessing: the log {log.origin!r} is listed twice")
        seen.add(log.origin)
    return logs, skipped
