"""The attack switches one client sees (the package docstring documents each effect).

An ``Attacks`` value is immutable; the server keeps one for everybody and,
for the split view, one per client key (a source address such as
``"127.0.0.3"``, or ``"ua:<exact User-Agent>"``).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass
from typing import Any

from pypi_witness.core.errors import MalformedError, quoted

HOSTILE_MODES = ("bad_json", "wrong_content_type", "bad_digest_length", "huge", "short_body", "drip", "deep")
HOSTILE_TARGETS = ("json", "simple", "xmlrpc", "files")
_FILE_SETS = ("swap", "hide", "bad_path", "corrupt")


@dataclass(frozen=True, slots=True)
class Attacks:
    """What the index does wrong for one client. The default value does nothing wrong."""

    swap: frozenset[str] = frozenset()  # 1: other bytes and digests for these filenames
    hide: frozenset[str] = frozenset()  # 8: these files are left out of every answer
    bad_path: frozenset[str] = frozenset()  # 4: URL path's BLAKE2b is not the stated one
    corrupt: frozenset[str] = frozenset()  # 5: bytes at the URL are not the stated ones
    stale_lag: int = 0  # 6: stale JSON answers are as of (last serial - stale_lag)
    stale_count: int = 0  # 6: how many answers are stale; -1: all until switched off
    rate_limit: int = 0  # 7: requests allowed per window and client address; 0: unlimited
    rate_window: float = 60.0  # 7: window length in seconds
    hostile: str | None = None  # 9: one of HOSTILE_MODES
    hostile_on: frozenset[str] = frozenset(("json", "simple", "xmlrpc"))  # 9: which kinds of answer
    huge_size: int = 32 * 1024 * 1024  # 9: total body size in "huge" mode
    deep_depth: int = 1000  # 9: levels of nested arrays in "deep" mode
    drip_bytes: int = 1  # 9: bytes per write in "drip" mode
    drip_interval: float = 0.2  # 9: seconds between writes in "drip" mode

    def replace(self, **changes: Any) -> Attacks:
        """A copy with ``changes`` applied and checked. Raises ``MalformedError`` for a bad field or value."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise MalformedError(f"unknown attack switch {quoted(unknown[0])}")
        fixed: dict[str, Any] = {}
        for name, value in changes.items():
            fixed[name] = _check(name, value)
        return dataclasses.replace(self, **fixed)

    def to_json(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = sorted(value) if isinstance(value, frozenset) else value
        return out


def _check(name: str, value: Any) -> Any:
    if name in _FILE_SETS or name == "hostile_on":
        if isinstance(value, str) or not all(isinstance(v, str) for v in value):
            raise MalformedError(f"{name} takes a list of names")
        if name == "hostile_on" and not set(value) <= set(HOSTILE_TARGETS):
            raise MalformedError(f"hostile_on takes names from {', '.join(HOSTILE_TARGETS)}")
        return frozenset(value)
    if name == "hostile":
        if value is not None and value not in HOSTILE_MODES:
            raise MalformedError(f"hostile is null or one of {', '.join(HOSTILE_MODES)}")
        return value
    if name in ("rate_window", "drip_interval"):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
            raise MalformedError(f"{name} takes seconds between 0 and 3600")
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedError(f"{name} takes a whole number")
    low = -1 if name == "stale_count" else (1 if name == "drip_bytes" else 0)
    if value < low:
        raise MalformedError(f"{name} must be at least {low}")
    return value


def check_client_key(key: str) -> str:
    """A split-view key: an IP address, or ``ua:`` and a User-Agent. Raises ``MalformedError``."""
    if not isinstance(key, str):
        raise MalformedError("a client key is text")
    if key.startswith("ua:"):
        return key
    try:
        return str(ipaddress.ip_address(key))
    except ValueError:
        raise MalformedError(f"a client key is an IP address or ua:<User-Agent>, not {quoted(key)}") from None
