"""Token buckets: refusal with a wait, recovery, the LRU bound, separate peer budgets."""

from __future__ import annotations

from pypi_witness.privacy.identity import Identity
from pypi_witness.privacy.rate_limit import RateLimiter, TokenBuckets, retry_after_seconds


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_refuses_when_empty_and_recovers_at_its_rate():
    clock = Clock()
    buckets = TokenBuckets(rate=2.0, burst=3.0, max_entries=10, clock=clock)
    assert [buckets.take("a", 1) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", 1) == 0.5  # one token at 2/s
    assert buckets.take("a", 1) == 0.5  # a refusal takes nothing
    assert buckets.take("b", 1) == 0.0  # other clients are not affected
    clock.now += 0.5
    assert buckets.take("a", 1) == 0.0
    assert buckets.take("a", 1) > 0
    clock.now += 100
    assert [buckets.take("a", 1) for _ in range(4)] == [0.0, 0.0, 0.0, 0.5]  # refilled to burst, no more


def test_costs_and_costs_above_the_burst():
    clock = Clock()
    buckets = TokenBuckets(rate=1.0, burst=10.0, max_entries=10, clock=clock)
    assert buckets.take("a", 4) == 0.0
    assert buckets.take("a", 7) == 1.0
    assert buckets.take("b", 50) == 0.0  # charged as a full bucket
    assert buckets.take("b", 50) == 10.0


def test_the_table_is_bounded_and_drops_the_least_recently_used():
    clock = Clock()
    buckets = TokenBuckets(rate=0.001, burst=1.0, max_entries=2, clock=clock)
    buckets.take("a", 1)
    buckets.take("b", 1)
    assert buckets.take("a", 1) > 0  # a used; now the most recent
    buckets.take("c", 1)  # drops b, the least recently used
    assert len(buckets) == 2
    assert buckets.take("a", 1) > 0  # a kept its empty bucket
    assert buckets.take("b", 1) == 0.0  # b starts over


def test_peers_have_their_own_budget_clients_cannot_exhaust():
    clock = Clock()
    limiter = RateLimiter(
        TokenBuckets(rate=1.0, burst=2.0, max_entries=2, clock=clock),
        TokenBuckets(rate=1.0, burst=5.0, max_entries=4, clock=clock),
    )
    peer = Identity.peer("peer.example.org")
    for i in range(100):  # a flood of clients fills and churns the client table
        limiter.charge(Identity(f"c:{i:032x}"), 2.0)
    assert all(limiter.charge(peer, 1.0) == 0.0 for _ in range(5))
    assert limiter.charge(peer, 1.0) > 0
    assert limiter.charge(Identity("c:peer:peer.example.org"), 1.0) == 0.0  # not the peer's bucket


def test_retry_after_is_whole_seconds_at_least_one():
    assert [retry_after_seconds(w) for w in (0.01, 1.0, 1.2, 59.9)] == [1, 1, 2, 60]
