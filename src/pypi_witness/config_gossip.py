"""The ``[gossip]`` section of the node's configuration (keys documented in ``config``'s docstring).

Every key of ``core.gossip_config.GossipConfig`` (``evidence_fanout = 0``
stands for "every peer", as TOML has no null), plus ``timeout_seconds``, the
longest one exchange with a peer may take.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from pypi_witness.core.gossip_config import GossipConfig
from pypi_witness.errors import ConfigError

GOSSIP_KEYS = tuple(f.name for f in fields(GossipConfig)) + ("timeout_seconds",)


@dataclass(frozen=True, slots=True)
class GossipSettings:
    """[gossip]: the machine's config and the exchange timeout."""

    machine: GossipConfig = field(default_factory=GossipConfig)
    # 5 s: an exchange is a few ms of work; a peer this slow is tried again next round.
    timeout_seconds: float = 5.0


def read_gossip(table: Mapping[str, Any]) -> GossipSettings:
    """The settings in ``table``; ConfigError naming the key for an unknown key or bad value."""
    values = dict(table)
    for key in values:
        if key not in GOSSIP_KEYS:
            raise ConfigError(f"gossip.{key}: unknown key (known keys: {', '.join(GOSSIP_KEYS)})")
    timeout = values.pop("timeout_seconds", 5.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not math.isfinite(timeout) or timeout <= 0:
        raise ConfigError(f"gossip.timeout_seconds: must be a number above 0, got {timeout!r}")
    if values.get("evidence_fanout") == 0:
        values["evidence_fanout"] = None
    for key in ("interval", "jitter"):
        if key in values and (isinstance(values[key], bool) or not isinstance(values[key], int | float)):
            raise ConfigError(f"gossip.{key}: must be a number of seconds, got {values[key]!r}")
    return GossipSettings(GossipConfig(**values), float(timeout))  # ConfigError names the key
