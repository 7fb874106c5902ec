"""A seeded in-memory network: latency, loss, reordering and partitions, driven by one event queue.

Time is a float (seconds). ``send`` schedules a delivery after a latency drawn
uniformly from ``[latency_min, latency_max]`` (so messages overtake each other:
reordering), unless the message is lost (probability ``loss``) or sender and
receiver are on different sides of an active partition. Messages travel as
bytes: they are encoded when sent and decoded on arrival, as over a real wire.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pypi_witness.core.gossip.messages import Message, decode, encode
from pypi_witness.core.errors import ConfigError


@dataclass(frozen=True)
class Partition:
    """Between ``start`` and ``end``, nodes in different ``groups`` cannot talk (nodes in no group talk to all)."""

    start: float
    end: float
    groups: tuple[frozenset[str], ...]

    def separates(self, a: str, b: str, now: float) -> bool:
        if not self.start <= now < self.end:
            return False
        ga = next((i for i, g in enumerate(self.groups) if a in g), None)
        gb = next((i for i, g in enumerate(self.groups) if b in g), None)
        return ga is not None and gb is not None and ga != gb


@dataclass
class NetworkStats:
    sent: int = 0
    delivered: int = 0
    lost: int = 0
    partitioned: int = 0
    bytes: int = 0


@dataclass
class Network:
    """The event queue and the links. ``rng`` decides latency and loss."""

    rng: random.Random
    latency_min: float = 0.01
    latency_max: float = 0.2
    loss: float = 0.0
    partitions: list[Partition] = field(default_factory=list)
    stats: NetworkStats = field(default_factory=NetworkStats)
    now: float = 0.0
    _queue: list[tuple[float, int, Callable[[], None]]] = field(default_factory=list)
    _seq: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.latency_min <= self.latency_max:
            raise ConfigError(f"latency range [{self.latency_min}, {self.latency_max}] is not valid")
        if not 0 <= self.loss < 1:
            raise ConfigError(f"loss must be in [0, 1), not {self.loss}")

    def at(self, when: float, action: Callable[[], None]) -> None:
        """Run ``action`` at time ``when`` (ties in scheduling order)."""
        self._seq += 1
        heapq.heappush(self._queue, (when, self._seq, action))

    def send(self, src: str, dst: str, message: Message, deliver: Callable[[str, Message], None]) -> None:
        """Encode ``message`` and schedule ``deliver(src, decoded)`` at ``dst``'s side, unless lost or cut off."""
        data = encode(message)
        self.stats.sent += 1
        self.stats.bytes += len(data)
        if any(p.separates(src, dst, self.now) for p in self.partitions):
            self.stats.partitioned += 1
            return
        if self.loss and self.rng.random() < self.loss:
            self.stats.lost += 1
            return

        def arrive() -> None:
            self.stats.delivered += 1
            deliver(src, decode(data))

        self.at(self.now + self.rng.uniform(self.latency_min, self.latency_max), arrive)

    def run_until(self, end: float, stop: Callable[[], bool] = lambda: False) -> None:
        """Process events in time order until ``end`` or until ``stop()`` is true."""
        while self._queue and self._queue[0][0] <= end and not stop():
            when, _, action = heapq.heappop(self._queue)
            self.now = when
            action()
        if not stop():
            self.now = max(self.now, end)


def groups_of(names: Iterable[str], count: int, rng: random.Random) -> tuple[frozenset[str], ...]:
    """Split ``names`` at random into ``count`` groups of (nearly) equal size."""
    shuffled = list(names)
    rng.shuffle(shuffled)
    return tuple(frozenset(shuffled[i::count]) for i in range(count))
