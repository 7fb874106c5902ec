"""Dishonest witnesses for the simulator. They speak the protocol but follow none of its rules.

* ``Colluder``: cosigns and forwards any note it is sent, never checks a
  proof, acknowledges evidence (so honest nodes stop sending it) and never
  passes it on.
* ``Replayer``: keeps the first heads it saw and pushes those old heads
  forever, to make honest nodes mistake an old head for a fork.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence

from pypi_witness.core.tlog.checkpoint import parse_checkpoint
from pypi_witness.core.tlog.cosignature import add_cosignatures, cosign
from pypi_witness.core.tlog.evidence import evidence_id
from pypi_witness.core.gossip.machine import Send
from pypi_witness.core.gossip.messages import EvidenceAck, EvidencePush, Heads, Message
from pypi_witness.core.tlog.note import ALG_COSIGNATURE_V1, Signer, parse_note
from pypi_witness.core.errors import WitnessError


class _Adversary(ABC):
    def __init__(self, name: str, peers: Sequence[str], fanout: int, rng: random.Random) -> None:
        self.name = name
        self.peers = [p for p in peers if p != name]
        self.fanout = fanout
        self.rng = rng

    @abstractmethod
    def notes(self) -> tuple[bytes, ...]:
        """The notes this adversary shows."""

    @abstractmethod
    def take(self, note: bytes, now: float) -> None:
        """Keep (or not) a note it was sent."""

    def tick(self, now: float) -> list[Send]:
        targets = self.rng.sample(self.peers, min(self.fanout, len(self.peers)))
        return [Send(p, Heads(self.notes(), reply=True)) for p in targets]

    def receive(self, peer: str, message: Message, now: float) -> list[Send]:
        if isinstance(message, EvidencePush):
            return [Send(peer, EvidenceAck(evidence_id(message.text)))]
        if isinstance(message, Heads):
            for note in message.notes:
                self.take(note, now)
            if message.reply:
                return [Send(peer, Heads(self.notes(), reply=False))]
        return []


class Colluder(_Adversary):
    """Cosigns anything; keeps the last two distinct notes per origin and shows them both."""

    def __init__(self, name: str, peers: Sequence[str], fanout: int, rng: random.Random) -> None:
        super().__init__(name, peers, fanout, rng)
        self.key = Signer.from_seed(name, rng.randbytes(32), ALG_COSIGNATURE_V1)
        self._held: dict[str, list[bytes]] = {}

    def notes(self) -> tuple[bytes, ...]:
        return tuple(n for pair in self._held.values() for n in pair)

    def take(self, note: bytes, now: float) -> None:
        try:
            text = parse_note(note).text
            checkpoint = parse_checkpoint(text)
            signed = add_cosignatures(note, [cosign(checkpoint, self.key, int(now))])
        except WitnessError:
            return
        held = self._held.setdefault(checkpoint.origin, [])
        if all(parse_note(n).text != text for n in held):
            held.append(signed)
            del held[:-2]


class Replayer(_Adversary):
    """Remembers the first note it sees per origin and replays it, to everyone, forever."""

    def __init__(self, name: str, peers: Sequence[str], fanout: int, rng: random.Random) -> None:
        super().__init__(name, peers, fanout, rng)
        self._first: dict[str, bytes] = {}

    def notes(self) -> tuple[bytes, ...]:
        return tuple(self._first.values())

    def take(self, note: bytes, now: float) -> None:
        origin = note.split(b"\n", 1)[0].decode("utf-8", "replace")
        self._first.setdefault(origin, note)
