"""The dispute finder: machines over in-memory stores, their messages shuttled in memory."""

from __future__ import annotations

import collections

import pytest

from pypi_witness.core.disputes.buckets import bucket_of
from pypi_witness.core.disputes.finder import Dispute, DisputeFinder, Send
from pypi_witness.core.disputes.messages import BucketDigests, BucketFiles, BucketRequest, BucketRoot
from pypi_witness.core.gossip.messages import Heads
from pypi_witness.core.errors import ConfigError, MalformedError
from pypi_witness.store.memory import MemoryStore
from tests.factories import record


class Net:
    """Finders by name, and every message delivered between them, counted by type."""

    def __init__(self, **finders: DisputeFinder) -> None:
        self.finders = finders
        self.sent: collections.Counter[str] = collections.Counter()
        self.requests: list[BucketRequest] = []
        self.disputes: list[tuple[str, Dispute]] = []  # (finder, dispute)

    def run(self, sender: str, effects, now: float = 0.0) -> None:
        """Deliver ``effects`` of ``sender`` and every answer, until quiet."""
        queue = [(sender, e) for e in effects]
        while queue:
            origin, effect = queue.pop(0)
            if isinstance(effect, Dispute):
                self.disputes.append((origin, effect))
                continue
            assert isinstance(effect, Send)
            for message in effect.messages:
                self.sent[type(message).__name__] += 1
                if isinstance(message, BucketRequest):
                    self.requests.append(message)
                queue += [(effect.peer, e) for e in self.finders[effect.peer].receive(origin, message, now)]

    def round(self, sender: str, peer: str, now: float = 0.0) -> None:
        self.run(sender, self.finders[sender].tick(now, [peer]), now)


def store_with(records) -> MemoryStore:
    s = MemoryStore()
    s.append(records)
    return s


def entry3(r):
    return (r.sha256, r.blake2b_256, r.size)


COMMON = [record(i) for i in range(200)]


def test_identical_logs_exchange_one_root_each_and_nothing_else():
    a, b = DisputeFinder(store_with(COMMON)), DisputeFinder(store_with(list(reversed(COMMON))))
    net = Net(a=a, b=b)
    for _ in range(3):
        net.round("a", "b")
        net.round("b", "a")
    assert net.sent == {"BucketRoot": 6}
    assert net.disputes == []


def test_one_filename_with_other_hashes_is_exactly_one_dispute_on_each_side():
    theirs = record(77, variant="swapped")
    a = DisputeFinder(store_with(COMMON))
    b = DisputeFinder(store_with(COMMON[:77] + [theirs] + COMMON[78:]))
    net = Net(a=a, b=b)
    net.round("a", "b")
    assert net.disputes == [("a", Dispute(theirs.filename, "b", entry3(COMMON[77]), entry3(theirs)))]
    assert [r.buckets for r in net.requests] == [(bucket_of(theirs.filename),)]
    net.round("b", "a")
    assert net.disputes[1:] == [("b", Dispute(theirs.filename, "a", entry3(theirs), entry3(COMMON[77])))]
    # Later rounds: the roots still differ, but the bucket was compared at these digests: no new request.
    net.sent.clear()
    for _ in range(2):
        net.round("a", "b")
        net.round("b", "a")
    assert net.sent == {"BucketRoot": 4, "BucketDigests": 4}
    assert len(net.disputes) == 2
    assert a.reported() == {(theirs.filename, "b")} and b.reported() == {(theirs.filename, "a")}


def test_a_dispute_is_reported_once_even_when_its_bucket_changes():
    theirs = record(5, variant="x")
    store_a = store_with(COMMON)
    a, b = DisputeFinder(store_a), DisputeFinder(store_with(COMMON[:5] + [theirs] + COMMON[6:]))
    net = Net(a=a, b=b)
    net.round("a", "b")
    neighbour = next(
        record(i) for i in range(1000, 100_000) if bucket_of(record(i).filename) == bucket_of(theirs.filename)
    )
    store_a.append([neighbour])  # the bucket's digest changes: it is compared again
    net.requests.clear()
    net.round("a", "b")
    assert [r.buckets for r in net.requests] == [(bucket_of(theirs.filename),)]
    assert [d.filename for _, d in net.disputes] == [theirs.filename]


def test_lag_is_never_a_dispute():
    a = DisputeFinder(store_with(COMMON[:150] + [record(i) for i in range(300, 310)]))
    b = DisputeFinder(store_with(COMMON))
    net = Net(a=a, b=b)
    for _ in range(10):
        net.round("a", "b")
        net.round("b", "a")
    assert net.sent["BucketFiles"] > 0  # the differing buckets were compared...
    assert net.disputes == []  # ...and held only filenames one side lacks


def test_a_swap_logged_later_does_not_count_but_a_different_first_record_does():
    x, swapped = record(3), record(3, variant="swap")
    a = DisputeFinder(store_with(COMMON + [swapped]))  # logs x first, then the swap (a conflict)
    agrees = DisputeFinder(store_with(COMMON))
    differs = DisputeFinder(store_with(COMMON[:3] + [swapped] + COMMON[4:]))
    net = Net(a=a, agrees=agrees, differs=differs)
    net.round("a", "agrees")
    net.round("agrees", "a")
    assert net.sent == {"BucketRoot": 2}
    net.round("a", "differs")
    assert net.disputes == [("a", Dispute(x.filename, "differs", entry3(x), entry3(swapped)))]


def test_requests_are_bounded_per_round_and_every_differing_bucket_is_reached():
    extra = [record(i) for i in range(1000, 1040)]  # lag in up to 40 buckets
    theirs = record(150, variant="swapped")
    a = DisputeFinder(store_with(COMMON), buckets_per_round=3)
    b = DisputeFinder(store_with(COMMON[:150] + [theirs] + COMMON[151:] + extra))
    net = Net(a=a, b=b)
    differing = {bucket_of(r.filename) for r in extra} | {bucket_of(theirs.filename)}
    rounds = 0
    while not net.disputes:
        net.round("a", "b")
        rounds += 1
        assert rounds <= len(differing)
    assert all(len(r.buckets) <= 3 for r in net.requests)
    for _ in range(len(differing)):
        net.round("a", "b")
    asked = [b for r in net.requests for b in r.buckets]
    assert set(asked) == differing and len(asked) == len(differing)  # each once: lag is not fetched again
    assert [d.filename for _, d in net.disputes] == [theirs.filename]


def test_a_peer_serves_at_most_its_own_bound_and_reply_budget():
    records = [record(i) for i in range(400)]
    served = DisputeFinder(store_with(records), buckets_per_round=2)
    buckets = tuple(sorted({bucket_of(r.filename) for r in records}))[:10]
    [send] = served.receive("x", BucketRequest(buckets), 0.0)
    assert [m.bucket for m in send.messages] == list(buckets[:2])
    tight = DisputeFinder(store_with(records), buckets_per_round=10, reply_bytes=1)
    [send] = tight.receive("x", BucketRequest(buckets), 0.0)
    assert [m.bucket for m in send.messages] == [buckets[0]]  # one bucket even over budget
    assert send.messages[0].entries == tuple(store_with(records).bucket_files(buckets[0]))


def test_answers_nobody_asked_for_are_ignored():
    theirs = record(7, variant="y")
    a = DisputeFinder(store_with(COMMON))
    bucket = bucket_of(theirs.filename)
    unasked = BucketFiles(bucket, ((theirs.filename, *entry3(theirs)),))
    assert a.receive("b", unasked, 0.0) == []
    assert a.receive("b", BucketDigests(tuple(bytes(16) for _ in range(4096))), 0.0) == []
    # Asked, but the answer comes too late.
    b = DisputeFinder(store_with(COMMON[:7] + [theirs] + COMMON[8:]))
    [root] = a.tick(0.0, ["b"])
    [digests] = b.receive("a", root.messages[0], 0.0)
    [request] = a.receive("b", digests.messages[0], 1.0)
    [files] = b.receive("a", request.messages[0], 2.0)
    assert a.receive("b", files.messages[0], 1.0 + a.pending_seconds + 1) == []
    assert a.receive("c", files.messages[0], 2.0) == []  # from another peer
    assert a.reported() == frozenset()


def test_peers_with_other_digest_widths_still_find_the_dispute():
    theirs = record(9, variant="w")
    a = DisputeFinder(store_with(COMMON), digest_width=32)
    b = DisputeFinder(store_with(COMMON[:9] + [theirs] + COMMON[10:]), digest_width=8)
    net = Net(a=a, b=b)
    net.round("a", "b")
    net.round("b", "a")
    assert sorted((side, d.filename) for side, d in net.disputes) == [("a", theirs.filename), ("b", theirs.filename)]


def test_the_root_carries_the_log_size_and_follows_appends():
    store = store_with(COMMON[:10])
    finder = DisputeFinder(store)
    [send] = finder.tick(0.0, ["p", "p"])
    assert send.messages[0].size == 10
    store.append(COMMON[10:20])
    [again] = finder.tick(1.0, ["p"])
    assert again.messages[0].size == 20 and again.messages[0].root != send.messages[0].root
    twin = DisputeFinder(store_with(COMMON[:20]))
    assert twin.receive("p", again.messages[0], 1.0) == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"buckets_per_round": 0},
        {"buckets_per_round": 65},
        {"buckets_per_round": True},
        {"digest_width": 7},
        {"digest_width": 33},
        {"reply_bytes": 0},
        {"pending_seconds": 0},
    ],
)
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ConfigError):
        DisputeFinder(MemoryStore(), **kwargs)


def test_a_message_of_another_kind_is_refused():
    with pytest.raises(MalformedError, match="not a dispute message"):
        DisputeFinder(MemoryStore()).receive("p", Heads(()), 0.0)  # type: ignore[arg-type]


def test_a_bucket_root_equal_to_an_empty_log_is_quiet():
    finder = DisputeFinder(MemoryStore())
    [send] = DisputeFinder(MemoryStore()).tick(0.0, ["x"])
    assert isinstance(send.messages[0], BucketRoot)
    assert finder.receive("y", send.messages[0], 0.0) == []
