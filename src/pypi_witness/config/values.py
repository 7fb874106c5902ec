"""The checks that configuration values pass: each takes the key's dotted name
(for the message) and the TOML value, and returns the value to use or raises
ConfigError naming the key. ``config`` builds its sections from them.
"""

from __future__ import annotations

import ipaddress
import math
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pypi_witness.core.tlog.note import Verifier
from pypi_witness.core.errors import ConfigError, NoteError, quoted


def integer(low: int, high: int) -> Callable[[str, object], int]:
    def check(key: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(f"{key}: must be an integer from {low} to {high}, got {quoted(value)}")
        return value

    return check


def seconds(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{key}: must be a number of seconds, 0 or more, got {quoted(value)}")
    return float(value)


def string(key: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key}: must be a non-empty string, got {quoted(value)}")
    return value


def check_origin(key: str, value: object) -> str:
    origin = string(key, value)
    # SPEC: signed-note — a key name is non-empty, with no Unicode spaces or plus signs.
    if any(c.isspace() or c == "+" for c in origin) or not origin.isprintable():
        raise ConfigError(f"{key}: {quoted(origin)} cannot name a key (no spaces, '+' or control characters)")
    return origin


def check_listen(key: str, value: object) -> str:
    """``host:port`` or ``[v6]:port`` with port 0-65535."""
    listen = string(key, value)
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"{key}: must be host:port with a port from 0 to 65535, got {quoted(listen)}")
    if host.startswith("["):
        try:
            if not host.endswith("]"):
                raise ValueError(host)
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ConfigError(f"{key}: {quoted(host)} is not a bracketed IPv6 address") from None
    elif ":" in host:
        raise ConfigError(f"{key}: put an IPv6 address in brackets, as [{host}]:{port}")
    return listen


def path(base: Path) -> Callable[[str, object], Path]:
    def check(key: str, value: object) -> Path:
        return base / Path(string(key, value)).expanduser()

    return check


def positive(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{key}: must be a number above 0, got {quoted(value)}")
    return float(value)


def boolean(key: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key}: must be true or false, got {quoted(value)}")
    return value


def costs(key: str, value: object) -> dict[str, float]:
    given = table(key, value)
    out = {}
    for method, cost in given.items():
        if not method.isidentifier():
            raise ConfigError(f"{key}.{method}: not a method name")
        if isinstance(cost, bool) or not isinstance(cost, int | float) or not math.isfinite(cost) or cost < 0:
            raise ConfigError(f"{key}.{method}: must be a number of tokens, 0 or more, got {quoted(cost)}")
        out[method] = float(cost)
    return out


def table(key: str, value: object) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: must be a table ([{key}]), got {quoted(value)}")
    return value


def read_table(name: str, table: Mapping[str, Any], checks: Mapping[str, Callable[[str, object], Any]]) -> dict:
    """Check every key of ``table`` against ``checks``; unknown keys are refused."""
    out = {}
    for key, value in table.items():
        check = checks.get(key)
        if check is None:
            known = f"known keys: {', '.join(checks)}" if checks else "this version reads no keys here"
            raise ConfigError(f"{name}.{key}: unknown key ({known})")
        out[key] = check(f"{name}.{key}", value)
    return out


def check_index_url(key: str, value: object) -> str:
    url = string(key, value)
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.query or parsed.fragment:
        raise ConfigError(f"{key}: must be an http:// or https:// URL of an index, e.g. https://pypi.org, got {quoted(url)}")
    return url.rstrip("/")


def fraction(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(f"{key}: must be a number from 0 to 1, got {quoted(value)}")
    return float(value)


def positive_seconds(key: str, value: object) -> float:
    number = seconds(key, value)
    if number <= 0:
        raise ConfigError(f"{key}: must be more than 0 seconds, got {quoted(value)}")
    return number


def vkey(alg: int, kind: str) -> Callable[[str, object], Verifier]:
    def check(key: str, value: object) -> Verifier:
        text = string(key, value)
        try:
            verifier = Verifier.from_vkey(text.strip())
        except NoteError as e:
            raise ConfigError(f"{key}: not a verifier key ({e})") from None
        if verifier.alg != alg:
            raise ConfigError(f"{key}: must be {kind} (type 0x{alg:02x}), got a key of type 0x{verifier.alg:02x}")
        return verifier

    return check


def check_address(key: str, value: object) -> str:
    address = check_listen(key, value)
    if address.rpartition(":")[2] == "0":
        raise ConfigError(f"{key}: port 0 cannot be dialled; give the peer's port")
    return address
