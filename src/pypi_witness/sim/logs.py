"""Simulated logs: real RFC 6962 trees over in-memory leaves, real Ed25519 signatures.

``SimLog`` is an honest log. ``ForkingLog`` forks at a chosen size into two
branches that grow in lockstep, signs a checkpoint of each at every size it
publishes, shows each peer one branch, and answers every proof request from the
branch of the peer asking (the answer a log hiding a fork would give).
"""

from __future__ import annotations

from pypi_witness.core.tlog.checkpoint import Checkpoint, sign_checkpoint
from pypi_witness.core.gossip.machine import prove
from pypi_witness.core.gossip.messages import ProofRequest, ProofResponse
from pypi_witness.core.tlog.merkle import MemoryHashes, leaf_hash
from pypi_witness.core.tlog.note import Signer, Verifier


class _Branch:
    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.tree = MemoryHashes()
        self.notes: dict[int, bytes] = {}

    def append(self, leaf: bytes) -> None:
        self.tree.append(leaf_hash(leaf))

    def sign(self, signer: Signer) -> bytes:
        note = sign_checkpoint(Checkpoint(self.origin, self.tree.size, self.tree.root()), signer)
        self.notes[self.tree.size] = note
        return note


class SimLog:
    """An honest log named ``origin`` whose Ed25519 key comes from ``seed`` (32 bytes)."""

    def __init__(self, origin: str, seed: bytes) -> None:
        self.origin = origin
        self.signer = Signer.from_seed(origin, seed)
        self._branch = _Branch(origin)

    @property
    def verifier(self) -> Verifier:
        return self.signer.verifier()

    @property
    def size(self) -> int:
        return self._branch.tree.size

    def grow(self, count: int) -> bytes:
        """Append ``count`` leaves and sign the new size; returns the signed note."""
        for _ in range(count):
            self._branch.append(f"{self.origin} leaf {self.size}".encode())
        return self._branch.sign(self.signer)

    def head(self, peer: str = "") -> bytes:
        """The latest signed note (the same for every peer)."""
        return self._branch.notes[max(self._branch.notes)]

    def note_at(self, size: int, peer: str = "") -> bytes:
        """The note signed at ``size`` (KeyError if none was)."""
        return self._branch.notes[size]

    def answer(self, peer: str, request: ProofRequest) -> ProofResponse:
        """A full consistency proof; raises MalformedError if the request is beyond the signed size."""
        return prove(request, self._branch.tree, max(self._branch.notes))


class ForkingLog:
    """A log that forks after ``fork_at`` leaves into branches ``a`` and ``b``.

    ``branch_of(peer)`` says which branch a peer is shown (given by the
    ``assignment`` dict; peers not in it see ``a``). ``forked`` becomes True at
    the first signing past the fork point.
    """

    def __init__(self, origin: str, seed: bytes, fork_at: int, assignment: dict[str, str]) -> None:
        self.origin = origin
        self.signer = Signer.from_seed(origin, seed)
        self.fork_at = fork_at
        self.assignment = assignment
        self._branches = {"a": _Branch(origin), "b": _Branch(origin)}

    @property
    def verifier(self) -> Verifier:
        return self.signer.verifier()

    @property
    def size(self) -> int:
        return self._branches["a"].tree.size

    @property
    def forked(self) -> bool:
        return self.size > self.fork_at

    def branch_of(self, peer: str) -> str:
        return self.assignment.get(peer, "a")

    def grow(self, count: int) -> bytes:
        """Append ``count`` leaves to both branches (different after the fork) and sign both."""
        for _ in range(count):
            i = self.size
            for name, branch in self._branches.items():
                branch.append(f"{self.origin} leaf {i}{'' if i < self.fork_at else ' ' + name}".encode())
        notes = [b.sign(self.signer) for b in self._branches.values()]
        return notes[0]

    def branch_notes(self, branch: str) -> dict[int, bytes]:
        """Every note signed on ``branch``, by size."""
        return dict(self._branches[branch].notes)

    def head(self, peer: str) -> bytes:
        notes = self._branches[self.branch_of(peer)].notes
        return notes[max(notes)]

    def note_at(self, size: int, peer: str) -> bytes:
        return self._branches[self.branch_of(peer)].notes[size]

    def answer(self, peer: str, request: ProofRequest) -> ProofResponse:
        branch = self._branches[self.branch_of(peer)]
        return prove(request, branch.tree, max(branch.notes))
