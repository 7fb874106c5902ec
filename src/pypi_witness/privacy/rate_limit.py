"""Token buckets per identity, in memory, bounded: how much each client may ask.

Each identity has a bucket of at most ``burst`` tokens that refills at
``rate`` tokens a second; a call costs its method's tokens (``gate``). A new
identity starts with a full bucket. The table keeps at most ``max_entries``
buckets and drops the least recently used one to make room (an LRU, so
memory is bounded however many identities a flood brings). An identity idle
long enough to be dropped has usually refilled anyway; the bound's only
error is that a dropped identity comes back with a full bucket.

``RateLimiter`` holds two such tables: one for clients, one for peer
witnesses (``peer:<key name>``), so that no number of clients can use up,
or evict, a peer's budget and gossip keeps flowing under a flood.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from pypi_witness.privacy.identity import Identity


class TokenBuckets:
    """One bucket per name, at most ``max_entries`` (LRU). Thread-safe.

    ``clock`` is monotonic seconds (injected for tests).
    """

    def __init__(
        self, rate: float, burst: float, max_entries: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst <= 0 or max_entries < 1:
            raise ValueError("rate and burst must be above 0 and max_entries at least 1")
        self.rate = rate
        self.burst = burst
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()  # name -> [tokens, at]

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, name: str, cost: float) -> float:
        """Take ``cost`` tokens from ``name``'s bucket: 0.0 if taken, else seconds until they would be.

        A refused call takes nothing. A cost above ``burst`` is charged as
        ``burst`` (a full bucket), so every method stays callable.
        """
        cost = min(cost, self.burst)
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(name)
            if bucket is None:
                if len(self._buckets) >= self.max_entries:
                    self._buckets.popitem(last=False)
                bucket = self._buckets[name] = [self.burst, now]
            else:
                self._buckets.move_to_end(name)
                tokens = bucket[0] + (now - bucket[1]) * self.rate
                bucket[0] = tokens if tokens < self.burst else self.burst
                bucket[1] = now
            if bucket[0] >= cost:
                bucket[0] -= cost
                return 0.0
            return (cost - bucket[0]) / self.rate


class RateLimiter:
    """Client and peer budgets, in separate tables (see the module docstring)."""

    def __init__(self, clients: TokenBuckets, peers: TokenBuckets) -> None:
        self.clients = clients
        self.peers = peers

    def charge(self, identity: Identity, cost: float) -> float:
        """Charge ``identity`` ``cost`` tokens: 0.0 if allowed, else seconds to wait before retrying."""
        table = self.peers if identity.is_peer else self.clients
        return table.take(identity.name, cost)


def retry_after_seconds(wait: float) -> int:
    """A wait as the whole seconds a client is told (``retry-after``): at least 1."""
    return max(1, math.ceil(wait))
