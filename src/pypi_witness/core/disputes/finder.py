"""The dispute finder: a sans-I/O machine that finds filenames two logs hash differently.

A **dispute** is a filename both this node's log and a peer's log hold a file
record for, with other (sha256, blake2b, size) at its first file record. A
filename only one side holds is lag (one log has not seen it yet), never a
dispute. The finder only finds disputes and reports them (``Dispute``
effects); settling them is someone else's job.

It runs alongside the gossip machine, on the same rounds and in the same
``Exchange`` calls (messages: :mod:`pypi_witness.core.disputes.messages`):

1. ``tick(now, peers)``: to each peer the round talks to, ``BucketRoot`` (the
   root over this log's bucket digests, :mod:`pypi_witness.core.disputes.buckets`).
2. A node receiving a root that differs from its own answers with its
   ``BucketDigests`` (cut to ``digest_width`` bytes each); an equal root ends
   the conversation: two identical logs exchange one hash each per round.
3. The round's initiator compares the digests with its own and asks for at
   most ``buckets_per_round`` differing buckets (``BucketRequest``), skipping
   buckets already compared with that peer at the same two digests (a lag
   that has not changed is not fetched again) and taking them in turn from a
   cursor per peer, so every differing bucket is reached in time.
4. The peer answers with ``BucketFiles`` for at most ``buckets_per_round``
   requested buckets, up to about ``reply_bytes`` (at least one bucket; a
   bucket of more than MAX_BUCKET_FILES filenames is not served). Buckets
   not answered are asked for again in a later round.
5. The initiator compares each bucket's entries with its own: every filename
   in both with other hashes is a ``Dispute``, reported once per (filename,
   peer) for the machine's lifetime.

Each side finds a dispute in its own rounds, so both report it. Answers are
only taken from a peer the machine asked, for what it asked, within
``pending_seconds``; anything else is ignored. The store is read through
``BucketReader`` (the log store's ``bucket_digests``, ``bucket_files``,
``size``); StoreError from it propagates. ``now`` is any clock in seconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from pypi_witness.core.disputes.buckets import BUCKETS, Entry, digest_root
from pypi_witness.core.disputes.messages import (
    MAX_BUCKET_FILES,
    MAX_REQUEST_BUCKETS,
    MIN_DIGEST_WIDTH,
    BucketDigests,
    BucketFiles,
    BucketRequest,
    BucketRoot,
    DisputeMessage,
)
from pypi_witness.core.errors import ConfigError, MalformedError, quoted

__all__ = ["BucketReader", "Dispute", "DisputeFinder", "Effect", "Send"]

# Bytes an entry takes in a bucket-files message, besides its filename.
_ENTRY_OVERHEAD = 160


class BucketReader(Protocol):
    """What the finder reads from the node's log store (``store.base.LogStore`` fits)."""

    def size(self) -> int: ...

    def bucket_digests(self) -> list[bytes]: ...

    def bucket_files(self, bucket: int) -> list[Entry]: ...


@dataclass(frozen=True)
class Send:
    """Deliver ``messages`` to ``peer`` (best effort: a loss is repaired by later rounds)."""

    peer: str
    messages: tuple[DisputeMessage, ...]


@dataclass(frozen=True)
class Dispute:
    """``peer``'s log holds ``filename`` with ``theirs`` (sha256, blake2b, size); this log with ``ours``."""

    filename: str
    peer: str
    ours: tuple[str, str, int]
    theirs: tuple[str, str, int]


Effect = Send | Dispute


@dataclass
class _Peer:
    root_sent_at: float | None = None  # when the last BucketRoot went out, until digests come back
    asked: dict[int, tuple[float, bytes, bytes]] = field(default_factory=dict)  # bucket -> (at, ours, theirs)
    checked: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)  # bucket -> (ours, theirs) compared
    cursor: int = 0  # the bucket the next request starts from


class DisputeFinder:
    """One node's dispute finding; see the module docstring.

    ``buckets_per_round``: buckets asked of (and served to) one peer per
    round, 1 to MAX_REQUEST_BUCKETS. ``digest_width``: bytes of each digest
    sent (8 to 32; 16 makes a chance collision between two honest logs
    2**-128 per bucket). ``reply_bytes``: about the most bucket entries one
    answer carries. ``pending_seconds``: how long an answer is awaited.
    ConfigError for a value out of range.
    """

    def __init__(
        self,
        reader: BucketReader,
        *,
        buckets_per_round: int = 4,
        digest_width: int = 16,
        reply_bytes: int = 2 << 20,
        pending_seconds: float = 60.0,
    ) -> None:
        for name, value, low, high in (
            ("buckets_per_round", buckets_per_round, 1, MAX_REQUEST_BUCKETS),
            ("digest_width", digest_width, MIN_DIGEST_WIDTH, 32),
            ("reply_bytes", reply_bytes, 1, 1 << 31),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"dispute finder {name} must be an integer in {low}..{high}, not {quoted(value)}")
        if not pending_seconds > 0:
            raise ConfigError(f"dispute finder pending_seconds must be > 0, not {quoted(pending_seconds)}")
        self._reader = reader
        self.buckets_per_round = buckets_per_round
        self.digest_width = digest_width
        self.reply_bytes = reply_bytes
        self.pending_seconds = pending_seconds
        self._peers: dict[str, _Peer] = {}
        self._reported: set[tuple[str, str]] = set()
        self._digests: list[bytes] = []
        self._digests_size = -1
        self._root = b""

    # ------------------------------------------------------------ queries

    def reported(self) -> frozenset[tuple[str, str]]:
        """The (filename, peer) pairs reported as disputes so far."""
        return frozenset(self._reported)

    # ------------------------------------------------------------ inputs

    def tick(self, now: float, peers: Iterable[str]) -> list[Effect]:
        """A gossip round talks to ``peers``: send each this log's bucket root."""
        self._expire(now)
        root = BucketRoot(self._own_root(), self._digests_size)
        out: list[Effect] = []
        for peer in dict.fromkeys(peers):
            self._peer(peer).root_sent_at = now
            out.append(Send(peer, (root,)))
        return out

    def receive(self, peer: str, message: DisputeMessage, now: float) -> list[Effect]:
        """Handle ``message`` from ``peer``; the effects.

        Ignores answers nobody asked for; raises MalformedError only if
        ``message`` is not a dispute message object, StoreError from the reader.
        """
        if isinstance(message, BucketRoot):
            if message.root == self._own_root():
                return []
            return [Send(peer, (BucketDigests(tuple(d[: self.digest_width] for d in self._digests)),))]
        if isinstance(message, BucketDigests):
            return self._on_digests(peer, message, now)
        if isinstance(message, BucketRequest):
            return self._serve(peer, message)
        if isinstance(message, BucketFiles):
            return self._on_files(peer, message, now)
        raise MalformedError(f"not a dispute message: {type(message).__name__}")

    # ------------------------------------------------------------ steps

    def _peer(self, peer: str) -> _Peer:
        state = self._peers.get(peer)
        if state is None:
            state = self._peers[peer] = _Peer()
        return state

    def _own_root(self) -> bytes:
        """The root over this log's digests, read again only when the log has grown."""
        size = self._reader.size()
        if size != self._digests_size:
            self._digests = self._reader.bucket_digests()
            self._root = digest_root(self._digests)
            self._digests_size = size
        return self._root

    def _expire(self, now: float) -> None:
        limit = now - self.pending_seconds
        for state in self._peers.values():
            if state.root_sent_at is not None and state.root_sent_at < limit:
                state.root_sent_at = None
            for bucket in [b for b, (at, _, _) in state.asked.items() if at < limit]:
                del state.asked[bucket]

    def _on_digests(self, peer: str, message: BucketDigests, now: float) -> list[Effect]:
        state = self._peers.get(peer)
        if state is None or state.root_sent_at is None or state.root_sent_at < now - self.pending_seconds:
            return []  # not asked for
        state.root_sent_at = None
        self._own_root()
        width = message.width
        wanted: list[int] = []
        for step in range(BUCKETS):
            bucket = (state.cursor + step) % BUCKETS
            ours, theirs = self._digests[bucket][:width], message.digests[bucket]
            if ours == theirs or state.checked.get(bucket) == (ours, theirs) or bucket in state.asked:
                continue
            wanted.append(bucket)
            state.asked[bucket] = (now, ours, theirs)
            if len(wanted) == self.buckets_per_round:
                break
        if not wanted:
            return []
        state.cursor = (wanted[-1] + 1) % BUCKETS
        return [Send(peer, (BucketRequest(tuple(sorted(wanted))),))]

    def _serve(self, peer: str, message: BucketRequest) -> list[Effect]:
        answers: list[DisputeMessage] = []
        budget = self.reply_bytes
        for bucket in message.buckets[: self.buckets_per_round]:
            entries = self._reader.bucket_files(bucket)
            if len(entries) > MAX_BUCKET_FILES:
                continue  # cannot be sent in one message; the asker sees lag at most
            cost = sum(len(e[0]) + _ENTRY_OVERHEAD for e in entries)
            if answers and cost > budget:
                break
            budget -= cost
            answers.append(BucketFiles(bucket, tuple(entries)))
        return [Send(peer, tuple(answers))] if answers else []

    def _on_files(self, peer: str, message: BucketFiles, now: float) -> list[Effect]:
        state = self._peers.get(peer)
        asked = None if state is None else state.asked.pop(message.bucket, None)
        if state is None or asked is None or asked[0] < now - self.pending_seconds:
            return []  # not asked for
        _, ours_digest, theirs_digest = asked
        state.checked[message.bucket] = (ours_digest, theirs_digest)
        ours = {e[0]: e[1:] for e in self._reader.bucket_files(message.bucket)}
        out: list[Effect] = []
        for filename, *theirs in message.entries:
            mine = ours.get(filename)
            if mine is None or mine == tuple(theirs) or (filename, peer) in self._reported:
                continue
            self._reported.add((filename, peer))
            out.append(Dispute(filename, peer, mine, tuple(theirs)))  # type: ignore[arg-type]
        return out
