"""Configuration of the gossip machine: timing, sizes, the logs it follows, its randomness."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pypi_witness.core.tlog.note import Verifier
from pypi_witness.core.errors import ConfigError, quoted


class Randomness(Protocol):
    """What the machine needs from a random source (``random.Random`` fits)."""

    def random(self) -> float: ...

    def sample(self, population: Sequence[str], k: int) -> list[str]: ...


@dataclass(frozen=True)
class GossipConfig:
    """Timing and sizing of the gossip; construction raises ConfigError naming a bad value."""

    interval: float = 10.0  # seconds between rounds...
    jitter: float = 2.0  # ...plus uniform(0, jitter)
    fanout: int = 1  # peers contacted per round
    evidence_fanout: int | None = None  # peers new evidence is pushed to at once; None: every peer
    stale_peer_rounds: int = 30  # 0: off; choose above (number of peers / fanout)
    stale_origin_rounds: int = 60  # 0: off
    proof_retry_rounds: int = 2  # rounds to wait for a proof before asking again
    proof_attempts: int = 3  # requests per proof before giving up (gossip brings the note again)
    notes_per_origin: int = 64  # log-signed notes remembered per origin, by size
    pending_per_origin: int = 4  # outstanding proof requests per origin

    def __post_init__(self) -> None:
        if not self.interval > 0 or not self.jitter >= 0:
            raise ConfigError(f"gossip interval must be > 0 and jitter >= 0, not {self.interval} and {self.jitter}")
        ints = {
            "fanout": (self.fanout, 1),
            "stale_peer_rounds": (self.stale_peer_rounds, 0),
            "stale_origin_rounds": (self.stale_origin_rounds, 0),
            "proof_retry_rounds": (self.proof_retry_rounds, 1),
            "proof_attempts": (self.proof_attempts, 1),
            "notes_per_origin": (self.notes_per_origin, 1),
            "pending_per_origin": (self.pending_per_origin, 1),
        }
        if self.evidence_fanout is not None:
            ints["evidence_fanout"] = (self.evidence_fanout, 1)
        for key, (value, least) in ints.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ConfigError(f"gossip {key} must be an integer >= {least}, not {quoted(value)}")


@dataclass(frozen=True)
class OriginInfo:
    """A log the machine follows: its verifier key and the peer that serves its proofs (None: ask the sender)."""

    verifier: Verifier
    server: str | None = None
