"""A signed append-only log: a store, the key that signs its checkpoints, and its directory.

A data directory holds::

    log/        the LMDB store (see store.lmdb_store)
    log.key     the log's private key, mode 0600
    log.vkey    the log's verifier key (public)

A checkpoint is signed only for a size the store has durably committed, and is
stored by compare-and-swap, so checkpoints never go backwards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pypi_witness.core import merkle
from pypi_witness.core.checkpoint import Checkpoint, SignedCheckpoint, open_checkpoint, sign_checkpoint
from pypi_witness.core.note import Signer, Verifier
from pypi_witness.core.records import Record
from pypi_witness.errors import ConfigError, OutOfRangeError, StoreError
from pypi_witness.keys import generate_signer, read_signer, read_verifier, write_private_key, write_verifier_key
from pypi_witness.store.base import AppendResult, Conflict, LogStore
from pypi_witness.store.lmdb_store import LmdbStore

STORE_DIR = "log"
PRIVATE_KEY_FILE = "log.key"
VERIFIER_KEY_FILE = "log.vkey"


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """Leaf ``index`` of the tree of ``size`` with ``root_hash``, and its proof."""

    index: int
    size: int
    leaf: bytes
    leaf_hash: bytes
    proof: tuple[bytes, ...]
    root_hash: bytes


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """The tree (old_size, old_root) is a prefix of (new_size, new_root)."""

    old_size: int
    new_size: int
    old_root: bytes
    new_root: bytes
    proof: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Lookup:
    """Every entry for a filename, each proven against ``checkpoint``; ``conflicts`` among them."""

    checkpoint: SignedCheckpoint
    entries: tuple[InclusionProof, ...]
    conflicts: tuple[Conflict, ...]


class Log:
    """The log of one origin. Reads need only the verifier key; ``publish`` needs the signer."""

    def __init__(self, store: LogStore, verifier: Verifier, signer: Signer | None = None) -> None:
        if signer is not None and signer.verifier() != verifier:
            raise ConfigError("the log's private key does not match its verifier key")
        self.store = store
        self.verifier = verifier
        self._signer = signer

    @property
    def origin(self) -> str:
        return self.verifier.name

    def append(self, records: Sequence[Record], state: Mapping[str, bytes] | None = None) -> AppendResult:
        """Append records durably, and ``state`` in the same transaction (see
        store.base for the rules); does not sign."""
        return self.store.append(records, state)

    def publish(self) -> SignedCheckpoint:
        """Sign and store a checkpoint for the durable size, unless the stored one has it already.

        Raises StoreError for a log opened without its private key.
        """
        size = self.store.size()
        stored = self.store.checkpoint()
        if stored is not None:
            current = open_checkpoint(stored, self.verifier)
            if current.checkpoint.size == size:
                return current
        if self._signer is None:
            raise StoreError("this log was opened without its private key and cannot sign")
        checkpoint = Checkpoint(self.origin, size, merkle.tree_root(size, self.store))
        note = sign_checkpoint(checkpoint, self._signer)
        self.store.set_checkpoint(note, size)
        return SignedCheckpoint(checkpoint, note)

    def checkpoint(self) -> SignedCheckpoint:
        """The latest signed checkpoint, verified. StoreError if none was ever signed."""
        stored = self.store.checkpoint()
        if stored is None:
            raise StoreError("the log has no signed checkpoint yet")
        return open_checkpoint(stored, self.verifier)

    def _size_or_checkpoint(self, size: int | None) -> int:
        if size is None:
            return self.checkpoint().checkpoint.size
        durable = self.store.size()
        if not 0 <= size <= durable:
            raise OutOfRangeError(f"size {size} is not in a log of size {durable}")
        return size

    def entries(self, start: int, end: int) -> list[bytes]:
        """Leaves [start, end). OutOfRangeError unless 0 <= start <= end <= size."""
        return self.store.leaves(start, end)

    def leaf_and_proof(self, index: int, size: int) -> tuple[bytes, list[bytes]]:
        """Entry ``index`` and its inclusion proof in the tree of ``size`` (no root computed).

        OutOfRangeError if size exceeds the log or index >= size.
        """
        size = self._size_or_checkpoint(size)
        if not 0 <= index < size:
            raise OutOfRangeError(f"index {index} is not in a tree of size {size}")
        return self.store.leaves(index, index + 1)[0], merkle.inclusion_proof(index, size, self.store)

    def inclusion_proof(self, index: int, size: int | None = None, root_hash: bytes | None = None) -> InclusionProof:
        """Prove entry ``index`` in the tree of ``size`` (default: the signed checkpoint's).

        ``root_hash``, when the caller knows the tree's root (from a
        checkpoint), saves computing it. OutOfRangeError if size exceeds the
        log or index >= size.
        """
        size = self._size_or_checkpoint(size)
        leaf, proof = self.leaf_and_proof(index, size)
        if root_hash is None:
            root_hash = merkle.tree_root(size, self.store)
        return InclusionProof(index, size, leaf, merkle.leaf_hash(leaf), tuple(proof), root_hash)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        """Prove tree ``old_size`` is a prefix of ``new_size`` (default: the signed checkpoint's).

        OutOfRangeError if a size exceeds the log or old_size > new_size.
        """
        new_size = self._size_or_checkpoint(new_size)
        if not 0 <= old_size <= new_size:
            raise OutOfRangeError(f"old size {old_size} is not between 0 and new size {new_size}")
        return ConsistencyProof(
            old_size,
            new_size,
            merkle.tree_root(old_size, self.store),
            merkle.tree_root(new_size, self.store),
            tuple(merkle.consistency_proof(old_size, new_size, self.store)),
        )

    def lookup(self, filename: str, signed: SignedCheckpoint | None = None) -> Lookup:
        """Every entry for ``filename`` proven against ``signed`` (default: the latest checkpoint).

        Entries after the checkpoint's size are left out.
        """
        if signed is None:
            signed = self.checkpoint()
        size, root = signed.checkpoint.size, signed.checkpoint.root_hash
        found = [i for i, _ in self.store.lookup(filename) if i < size]
        proofs = tuple(self.inclusion_proof(i, size, root) for i in found)
        # A conflict is keyed by its own entry: ask at each entry of this file.
        conflicts = tuple(c for i in found for c in self.store.conflicts(i, limit=1) if c.index == i)
        return Lookup(signed, proofs, conflicts)

    def close(self) -> None:
        self.store.close()


def init_log(data_dir: Path, origin: str) -> Log:
    """Create keys and an empty log with a signed size-0 checkpoint in ``data_dir``.

    Raises ConfigError if ``data_dir`` already holds a log or keys, or the origin
    is not a valid key name.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    for name in (STORE_DIR, PRIVATE_KEY_FILE, VERIFIER_KEY_FILE):
        if (data_dir / name).exists():
            raise ConfigError(f"{data_dir / name} already exists; {data_dir} already holds a log")
    try:
        signer = generate_signer(origin)
    except ValueError as e:
        raise ConfigError(f"origin {origin!r} cannot name a key: {e}") from None
    write_private_key(data_dir / PRIVATE_KEY_FILE, signer)
    write_verifier_key(data_dir / VERIFIER_KEY_FILE, signer.verifier())
    log = Log(LmdbStore(data_dir / STORE_DIR), signer.verifier(), signer)
    log.publish()
    return log


def open_log(data_dir: Path, *, readonly: bool = False, key_path: Path | None = None) -> Log:
    """Open the log in ``data_dir``; with ``readonly`` the private key is not read.

    ``key_path`` is the private key file (default: ``log.key`` in ``data_dir``).
    Raises ConfigError if the directory does not hold a log or the key is not
    the log's, StoreError if the store cannot be opened.
    """
    if not (data_dir / STORE_DIR).is_dir():
        raise ConfigError(f"{data_dir} holds no log (run 'pypi-witness init --data {data_dir}' first)")
    verifier = read_verifier(str(data_dir / VERIFIER_KEY_FILE))
    signer = None if readonly else read_signer(key_path or data_dir / PRIVATE_KEY_FILE)
    return Log(LmdbStore(data_dir / STORE_DIR, readonly=readonly), verifier, signer)
