"""The ``[gossip]`` section of the node's configuration (keys documented in ``config``'s docstring).

Every key of ``core.gossip.config.GossipConfig`` (``evidence_fanout = 0``
stands for "every peer", as TOML has no null), plus ``timeout_seconds``, the
longest one exchange with a peer may take, and ``dispute_buckets_per_round``,
the filename buckets compared with one peer per round to find disputes
(``core.disputes.finder``; 0 turns dispute finding off).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from pypi_witness.core.disputes.messages import MAX_REQUEST_BUCKETS
from pypi_witness.core.gossip.config import GossipConfig
from pypi_witness.core.errors import ConfigError, quoted

GOSSIP_KEYS = tuple(f.name for f in fields(GossipConfig)) + ("timeout_seconds", "dispute_buckets_per_round")


@dataclass(frozen=True, slots=True)
class GossipSettings:
    """[gossip]: the machine's config and the exchange timeout."""

    machine: GossipConfig = field(default_factory=GossipConfig)
    # 5 s: an exchange is a few ms of work; a peer this slow is tried again next round.
    timeout_seconds: float = 5.0
    # 4 buckets: at PyPI's ~15 M files about 4 x 3,700 entries (~2.5 MB) per answer at most,
    # under the 4 MiB message limit; 0: dispute finding off.
    dispute_buckets_per_round: int = 4


def read_gossip(table: Mapping[str, Any]) -> GossipSettings:
    """The settings in ``table``; ConfigError naming the key for an unknown key or bad value."""
    values = dict(table)
    for key in values:
        if key not in GOSSIP_KEYS:
            raise ConfigError(f"gossip.{key}: unknown key (known keys: {', '.join(GOSSIP_KEYS)})")
    timeout = values.pop("timeout_seconds", 5.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not math.isfinite(timeout) or timeout <= 0:
        raise ConfigError(f"gossip.timeout_seconds: must be a number above 0, got {quoted(timeout)}")
    buckets = values.pop("dispute_buckets_per_round", 4)
    if isinstance(buckets, bool) or not isinstance(buckets, int) or not 0 <= buckets <= MAX_REQUEST_BUCKETS:
        raise ConfigError(
            f"gossip.dispute_buckets_per_round: must be an integer from 0 (off) to {MAX_REQUEST_BUCKETS}, got {quoted(buckets)}"
        )
    if values.get("evidence_fanout") == 0:
        values["evidence_fanout"] = None
    for key in ("interval", "jitter"):
        if key in values and (isinstance(values[key], bool) or not isinstance(values[key], int | float)):
            raise ConfigError(f"gossip.{key}: must be a number of seconds, got {quoted(values[key])}")
    return GossipSettings(GossipConfig(**values), float(timeout), buckets)  # ConfigError names the key
