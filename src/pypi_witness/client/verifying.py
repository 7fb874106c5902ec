"""A client that believes a node only after checking what it says.

Every answer is checked before it is returned: the checkpoint's signature
against the log's pinned verifier key (C2SP signed-note), every inclusion
proof against that checkpoint's root (RFC 9162 §2.1.3.2), that each leaf is a
well-formed record about what was asked, and, with a ``ClientState``, that the
new checkpoint extends the newest one this client accepted before (a
consistency proof, RFC 9162 §2.1.4.2), so a node can neither roll a client
back nor show it a different history. Conflicts are worked out from the
proven entries themselves, not taken from the node's word.

Every failed check raises ``VerificationError`` (or its subclasses
``SignatureError``, ``ProofError``) with a message naming what failed,
malformed data from the node included (a note or leaf that does not parse,
bytes that are not the answer's message): the node said something that
cannot be true. The node's own refusals arrive as the errors ``rpc.client``
documents.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import trio

from pypi_witness.bounded_file import read_bounded
from pypi_witness.core.tlog import merkle
from pypi_witness.core.tlog.signed_checkpoint import SignedCheckpoint, open_checkpoint
from pypi_witness.core.tlog.note import Verifier
from pypi_witness.core.records.format import FileRecord, Record, parse_record, record_keys
from pypi_witness.core.errors import ConfigError, MalformedError, NoteError, RecordError, VerificationError, WitnessError
from pypi_witness.rpc import convert
from pypi_witness.store.base import Conflict

# Inclusion proofs fetched at once when checking a range of entries.
ENTRY_PROOF_CONCURRENCY = 16
# The most entries `entries` checks in one call (each costs a proof).
MAX_VERIFIED_ENTRIES = 10_000
# The largest client state file read: a signed checkpoint with its cosignatures is a few KB.
MAX_STATE_BYTES = 1 << 20


class Node(Protocol):
    """What the verifying client needs of a node (``rpc.client.LogClient`` has it)."""

    async def checkpoint(self) -> bytes: ...
    async def entries(self, start: int, end: int) -> convert.EntriesPage: ...
    async def lookup_many(self, filenames: Sequence[str]) -> convert.LookupAnswer: ...
    async def inclusion_proof(self, index: int, size: int) -> convert.InclusionAnswer: ...
    async def consistency_proof(self, old_size: int, new_size: int) -> convert.ConsistencyAnswer: ...


@dataclass(frozen=True, slots=True)
class VerifiedEntry:
    """Entry ``index``, proven in the tree of the enclosing answer's checkpoint."""

    index: int
    leaf: bytes
    record: Record
    proof: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class VerifiedLookup:
    """Every entry a node proved for ``filename``, and the conflicts among them."""

    filename: str
    entries: tuple[VerifiedEntry, ...]
    conflicts: tuple[Conflict, ...]


@dataclass(frozen=True, slots=True)
class Accepted:
    """A checkpoint the client accepted, and how it relates to the one it held before."""

    checkpoint: SignedCheckpoint
    previous_size: int | None  # None: nothing accepted before (or no state kept)
    consistency_proof: tuple[bytes, ...] = ()


class ClientState:
    """The newest checkpoint a client accepted per log, kept in a directory of its own.

    One file per origin, holding the signed note; written atomically (a
    temporary file renamed over the old one), so a crash leaves the old or the
    new checkpoint, never a mix.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, origin: str) -> Path:
        return self.directory / (hashlib.sha256(origin.encode()).hexdigest()[:32] + ".checkpoint")

    def load(self, verifier: Verifier) -> SignedCheckpoint | None:
        """The stored checkpoint of ``verifier``'s log, verified; None if there is none.

        Raises ConfigError if the stored file cannot be read, is not a regular
        file, holds more than MAX_STATE_BYTES or no longer verifies.
        """
        path = self._path(verifier.name)
        if not path.exists() and not path.is_symlink():
            return None
        note = read_bounded(path, MAX_STATE_BYTES, "client state checkpoint", ConfigError)
        try:
            return open_checkpoint(note, verifier)
        except WitnessError as e:
            raise ConfigError(f"client state {path} does not verify ({e}); remove it to start afresh") from None

    def save(self, signed: SignedCheckpoint) -> None:
        """Store ``signed`` as the newest checkpoint of its log. ConfigError if it cannot be written."""
        path = self._path(signed.checkpoint.origin)
        tmp = path.with_suffix(".tmp")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(signed.note)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as e:
            raise ConfigError(f"cannot write client state {path}: {e.strerror}") from None


def _identity(record: Record) -> tuple[str, str, int] | None:
    if isinstance(record, FileRecord):
        return (record.sha256, record.blake2b_256, record.size)
    return None


def conflicts_among(filename: str, entries: Sequence[VerifiedEntry]) -> tuple[Conflict, ...]:
    """Entries that log a file with other hashes than the first file entry for it.

    ``filename`` is the key looked up: a filename, or a release key whose
    entries are about several files (each compared with its own first entry).
    """
    first: dict[str, int] = {}
    found: list[Conflict] = []
    seen: set[tuple[str, tuple[str, str, int]]] = set()
    for entry in entries:
        identity = _identity(entry.record)
        if identity is None:
            continue
        name = entry.record.filename  # type: ignore[union-attr]  # only file records have an identity
        if name not in first:
            first[name] = entry.index
        elif (name, identity) not in seen:
            found.append(Conflict(name, entry.index, first[name]))
        seen.add((name, identity))
    return tuple(found)


class VerifyingClient:
    """Queries ``node`` about the log whose key is ``verifier``, checking every answer.

    With ``state``, checkpoints must extend the newest one accepted before.
    """

    def __init__(self, node: Node, verifier: Verifier, state: ClientState | None = None) -> None:
        self.node = node
        self.verifier = verifier
        self.state = state

    async def accept(self, note: bytes, since: SignedCheckpoint | None = None) -> Accepted:
        """Verify a signed checkpoint note and its consistency with what was accepted before.

        ``since`` (a checkpoint the caller trusts, e.g. one kept by an auditor)
        is checked like the stored one. The state, if any, then holds the
        newer of the two. Raises SignatureError for a bad signature, and
        VerificationError for a note that does not parse, a rollback, a
        different root at the same size, or a failing consistency proof.
        """
        try:
            signed = open_checkpoint(note, self.verifier)
        except NoteError as e:  # the node's bytes, not the user's: a failed verification
            raise VerificationError(f"the node's checkpoint is malformed: {e}") from None
        previous = since
        if previous is None and self.state is not None:
            previous = self.state.load(self.verifier)
        if previous is None:
            if self.state is not None:
                self.state.save(signed)
            return Accepted(signed, None)
        old, new = previous.checkpoint, signed.checkpoint
        if new.size < old.size:
            raise VerificationError(
                f"rollback: the node's checkpoint has size {new.size}, older than the size {old.size} "
                "accepted before"
            )
        proof: tuple[bytes, ...] = ()
        if new.size == old.size:
            if new.root_hash != old.root_hash:
                raise VerificationError(
                    f"split view: two checkpoints of size {new.size} with different roots, both signed by "
                    f"{self.verifier.name}"
                )
        else:
            answer = await self.node.consistency_proof(old.size, new.size)
            if (answer.old_size, answer.new_size) != (old.size, new.size):
                raise VerificationError(
                    f"asked for a consistency proof {old.size} -> {new.size}, "
                    f"got one for {answer.old_size} -> {answer.new_size}"
                )
            try:
                merkle.verify_consistency(old.size, new.size, old.root_hash, new.root_hash, answer.proof)
            except VerificationError as e:
                raise VerificationError(
                    f"the checkpoint of size {new.size} is not an extension of the one of size {old.size} "
                    f"accepted before: {e}"
                ) from None
            proof = answer.proof
        if self.state is not None:
            stored = self.state.load(self.verifier)
            if stored is None or stored.checkpoint.size < new.size:
                self.state.save(signed)
        return Accepted(signed, old.size, proof)

    async def checkpoint(self, since: SignedCheckpoint | None = None) -> Accepted:
        """The node's checkpoint, verified (see ``accept``)."""
        return await self.accept(await self.node.checkpoint(), since)

    def _entry(self, index: int, leaf: bytes, proof: Sequence[bytes], signed: SignedCheckpoint) -> VerifiedEntry:
        cp = signed.checkpoint
        try:
            merkle.verify_inclusion(merkle.leaf_hash(leaf), index, cp.size, proof, cp.root_hash)
        except VerificationError as e:
            raise VerificationError(f"entry {index}: inclusion proof in the tree of size {cp.size} fails: {e}") from None
        try:
            record = parse_record(leaf)
        except RecordError as e:
            raise VerificationError(f"entry {index} is proven but is not a valid record: {e}") from None
        return VerifiedEntry(index, leaf, record, tuple(proof))

    async def lookup(self, filenames: Sequence[str]) -> tuple[Accepted, tuple[VerifiedLookup, ...]]:
        """Every entry for each filename, all proven against one verified checkpoint."""
        if not filenames:
            raise MalformedError("no filename to look up")
        answer = await self.node.lookup_many(filenames)
        accepted = await self.accept(answer.checkpoint)
        return accepted, self.check_lookup(filenames, answer, accepted.checkpoint)

    def check_lookup(
        self, filenames: Sequence[str], answer: convert.LookupAnswer, signed: SignedCheckpoint
    ) -> tuple[VerifiedLookup, ...]:
        """Prove every entry of a lookup ``answer`` for ``filenames`` against ``signed`` (already verified).

        Raises VerificationError if the answer is for other filenames, an
        inclusion proof fails, a leaf is not a record about its filename, or
        an entry comes twice.
        """
        if [r.filename for r in answer.results] != list(filenames):
            raise VerificationError("the node answered for other filenames than asked")
        out = []
        for result in answer.results:
            entries = tuple(self._entry(e.index, e.leaf, e.proof, signed) for e in result.entries)
            for entry in entries:
                if result.filename not in record_keys(entry.record):
                    raise VerificationError(f"entry {entry.index} is not about {result.filename}")
            if len({e.index for e in entries}) != len(entries):
                raise VerificationError(f"the node sent an entry twice for {result.filename}")
            out.append(VerifiedLookup(result.filename, entries, conflicts_among(result.filename, entries)))
        return tuple(out)

    async def inclusion(self, index: int) -> tuple[Accepted, VerifiedEntry]:
        """Entry ``index`` proven in the tree of the node's verified checkpoint."""
        accepted = await self.checkpoint()
        size = accepted.checkpoint.checkpoint.size
        answer = await self.node.inclusion_proof(index, size)
        if (answer.index, answer.size) != (index, size):
            raise VerificationError(f"asked for entry {index} at size {size}, got {answer.index} at {answer.size}")
        return accepted, self._entry(index, answer.leaf, answer.proof, accepted.checkpoint)

    async def entries(self, start: int, end: int) -> tuple[Accepted, tuple[VerifiedEntry, ...]]:
        """Entries [start, end) of the node's verified checkpoint, each proven.

        Raises MalformedError for more than MAX_VERIFIED_ENTRIES or start > end.
        """
        if not 0 <= start <= end:
            raise MalformedError(f"no entries from {start} to {end}")
        if end - start > MAX_VERIFIED_ENTRIES:
            raise MalformedError(f"at most {MAX_VERIFIED_ENTRIES} entries are checked at once")
        accepted = await self.checkpoint()
        size = accepted.checkpoint.checkpoint.size
        if end > size:
            raise MalformedError(f"entries up to {end} asked, the checkpoint has {size}")
        results: dict[int, VerifiedEntry] = {}
        failures: list[WitnessError] = []
        limit = trio.CapacityLimiter(ENTRY_PROOF_CONCURRENCY)

        async def prove(index: int, cancel: trio.CancelScope) -> None:
            try:
                async with limit:
                    answer = await self.node.inclusion_proof(index, size)
                if (answer.index, answer.size) != (index, size):
                    raise VerificationError(
                        f"asked for entry {index} at size {size}, got {answer.index} at {answer.size}"
                    )
                results[index] = self._entry(index, answer.leaf, answer.proof, accepted.checkpoint)
            except WitnessError as e:  # the first failure is the answer; stop the rest
                failures.append(e)
                cancel.cancel()

        async with trio.open_nursery() as nursery:
            for index in range(start, end):
                nursery.start_soon(prove, index, nursery.cancel_scope)
        if failures:
            raise failures[0]
        return accepted, tuple(results[i] for i in range(start, end))
