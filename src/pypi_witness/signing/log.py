"""A signed append-only log: a store, the key that signs its checkpoints, and its directory.

A data directory holds::

    log/             the LMDB store (see store.lmdb_store)
    log.key          the log's private key, mode 0600
    log.vkey         the log's verifier key (public)
    log.signed       the last checkpoint the key signed (checkpoint_gate)
    log.signed.lock  held while the key signs

A checkpoint is signed only for a size the store has durably committed, only
through the log key's one gate (checkpoint_gate: never a smaller tree or
another root than the key signed before, whatever the store says), and is
stored by compare-and-swap, so checkpoints never go backwards.

A data directory whose store is missing, empty, truncated or not a log store
is refused when opened, with one line saying what is wrong, that nothing was
signed, and how to restore it (``damaged``); so is a store entry that fails
its own checks when it is read (CorruptionError).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pypi_witness.signing.checkpoint_gate import LAST_SIGNED_FILE, CheckpointGate, LastSigned, LastSignedFile, LastSignedMemory
from pypi_witness.core.tlog import merkle
from pypi_witness.core.tlog.signed_checkpoint import SignedCheckpoint, open_checkpoint
from pypi_witness.core.tlog.note import Signer, Verifier
from pypi_witness.core.records.format import Record
from pypi_witness.core.errors import ConfigError, CorruptionError, OutOfRangeError, ProofError, RollbackError, StoreError
from pypi_witness.signing.keys import generate_signer, read_signer, read_verifier, write_private_key, write_verifier_key
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


class _AlsoReading:
    """A hash reader over ``store`` that reads one more node, ``extra_id``, with the first batch it is asked for."""

    def __init__(self, store: LogStore, extra_id: merkle.NodeId) -> None:
        self._store, self._extra_id = store, extra_id
        self.extra: bytes | None = None

    def read_hashes(self, ids: Sequence[merkle.NodeId]) -> list[bytes]:
        if self.extra is not None:
            return self._store.read_hashes(ids)
        *hashes, self.extra = self._store.read_hashes([*ids, self._extra_id])
        return hashes


class Log:
    """The log of one origin. Reads need only the verifier key; ``publish`` needs the signer.

    The signer goes into the log's ``CheckpointGate`` and is kept nowhere
    else; ``last_signed`` is the gate's record (default: in memory, for a log
    that lives no longer than the process).
    """

    def __init__(
        self, store: LogStore, verifier: Verifier, signer: Signer | None = None, *, last_signed: LastSigned | None = None
    ) -> None:
        if signer is not None and signer.verifier() != verifier:
            raise ConfigError("the log's private key does not match its verifier key")
        self.store = store
        self.verifier = verifier
        self._gate = None if signer is None else CheckpointGate(signer, last_signed or LastSignedMemory())

    @property
    def origin(self) -> str:
        return self.verifier.name

    def append(self, records: Sequence[Record], state: Mapping[str, bytes] | None = None) -> AppendResult:
        """Append records durably, and ``state`` in the same transaction (see
        store.base for the rules); does not sign."""
        return self.store.append(records, state)

    def publish(self) -> SignedCheckpoint:
        """Sign (through the gate) and store a checkpoint for the durable size; the one signed already
        if the last signed checkpoint has that size.

        Raises StoreError for a log opened without its private key or a store
        that fails, RollbackError (nothing signed) if the store's tree does not
        extend the last checkpoint the key signed, CorruptionError if that
        checkpoint's record is damaged.
        """
        if self._gate is None:
            raise StoreError("this log was opened without its private key and cannot sign")
        signed = self._gate.sign(self.store)
        if self.store.checkpoint() != signed.note:
            self.store.set_checkpoint(signed.note, signed.checkpoint.size)
        return signed

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

        OutOfRangeError if size exceeds the log or index >= size. The entry
        and its pair's are checked against the hash the store keeps for the
        two (one more read): CorruptionError if they do not match.
        """
        size = self._size_or_checkpoint(size)
        if not 0 <= index < size:
            raise OutOfRangeError(f"index {index} is not in a tree of size {size}")
        leaf = self.store.leaves(index, index + 1)[0]
        if index ^ 1 >= size:  # no pair in this tree: the proof does not start at the leaf's sibling
            return leaf, merkle.inclusion_proof(index, size, self.store)
        reader = _AlsoReading(self.store, (1, index >> 1))  # the pair's hash, in the proof's one read
        proof = merkle.inclusion_proof(index, size, reader)
        own = merkle.leaf_hash(leaf)
        # RFC 9162 §2.1.3.1: the proof starts with the other leaf of the pair.
        pair = merkle.node_hash(own, proof[0]) if index % 2 == 0 else merkle.node_hash(proof[0], own)
        if reader.extra != pair:
            raise CorruptionError(
                f"entries {index & ~1} and {index | 1} do not match the hash the log keeps for them: "
                "the store is damaged"
            )
        return leaf, proof

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

        Entries after the checkpoint's size are left out. ``signed`` is one of
        this log's checkpoints: every proof is verified against it before it is
        returned, and one that fails is damage, never an absence:
        CorruptionError (so is a name-index entry that fails the store's own
        checks).
        """
        if signed is None:
            signed = self.checkpoint()
        size, root = signed.checkpoint.size, signed.checkpoint.root_hash
        found = [i for i, _ in self.store.lookup(filename) if i < size]
        proofs = tuple(self.inclusion_proof(i, size, root) for i in found)
        for p in proofs:
            try:
                merkle.verify_inclusion(p.leaf_hash, p.index, size, p.proof, root)
            except ProofError:
                raise CorruptionError(
                    f"entry {p.index} (for {filename!r}) does not match the log's signed checkpoint of size "
                    f"{size}: the entry or the log's stored hashes are damaged"
                ) from None
        # A conflict is keyed by its own entry: ask at each entry of this file.
        conflicts = tuple(c for i in found for c in self.store.conflicts(i, limit=1) if c.index == i)
        return Lookup(signed, proofs, conflicts)

    def close(self) -> None:
        self.store.close()


def holds_log(data_dir: Path) -> bool:
    """Whether ``data_dir`` holds a log, or what is left of one (its store, a key, or its signing record)."""
    return any((data_dir / name).exists() for name in (STORE_DIR, PRIVATE_KEY_FILE, VERIFIER_KEY_FILE, LAST_SIGNED_FILE))


def damaged_line(data_dir: Path, problem: str) -> str:
    """The one line that refuses the damaged log in ``data_dir`` because of ``problem``."""
    return (
        f"refusing to open the log in {data_dir}: {problem}. Nothing was signed. Stop every process using "
        f"it, restore {data_dir / STORE_DIR} from a backup (keep {LAST_SIGNED_FILE}: it stops the key from "
        "signing an older tree), and start again"
    )


def damaged(data_dir: Path, problem: str) -> CorruptionError:
    """CorruptionError with ``damaged_line``."""
    return CorruptionError(damaged_line(data_dir, problem))


def init_log(data_dir: Path, origin: str) -> Log:
    """Create keys and an empty log with a signed size-0 checkpoint in ``data_dir``.

    Raises ConfigError if ``data_dir`` already holds a log or keys, or the origin
    is not a valid key name.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    for name in (STORE_DIR, PRIVATE_KEY_FILE, VERIFIER_KEY_FILE, LAST_SIGNED_FILE):
        if (data_dir / name).exists():
            raise ConfigError(f"{data_dir / name} already exists; {data_dir} already holds a log")
    try:
        signer = generate_signer(origin)
    except ValueError as e:
        raise ConfigError(f"origin {origin!r} cannot name a key: {e}") from None
    write_private_key(data_dir / PRIVATE_KEY_FILE, signer)
    write_verifier_key(data_dir / VERIFIER_KEY_FILE, signer.verifier())
    store = LmdbStore(data_dir / STORE_DIR, create=True)
    log = Log(store, signer.verifier(), signer, last_signed=LastSignedFile(data_dir))
    try:
        log.publish()
    except BaseException:
        log.close()
        raise
    return log


def open_log(data_dir: Path, *, readonly: bool = False, key_path: Path | None = None) -> Log:
    """Open the log in ``data_dir``; with ``readonly`` the private key is not read.

    ``key_path`` is the private key file (default: ``log.key`` in ``data_dir``).
    Raises ConfigError if the directory does not hold a log or the key is not
    the log's; CorruptionError (``damaged``: one line, nothing signed) if the
    store is missing, empty, truncated or not a log store, or, opened for
    writing, does not hold the tree the key last signed (checkpoint_gate;
    a directory without the gate's record gets it from the store here);
    StoreError if the store cannot be opened otherwise.
    """
    if not (data_dir / STORE_DIR).is_dir():
        if holds_log(data_dir):
            raise damaged(data_dir, f"its store {data_dir / STORE_DIR} is missing")
        raise ConfigError(f"{data_dir} holds no log (run 'pypi-witness init --data {data_dir}' first)")
    verifier = read_verifier(str(data_dir / VERIFIER_KEY_FILE))
    signer = None if readonly else read_signer(key_path or data_dir / PRIVATE_KEY_FILE)
    try:
        store = LmdbStore(data_dir / STORE_DIR, readonly=readonly)
    except CorruptionError as e:
        raise damaged(data_dir, str(e)) from None
    log = Log(store, verifier, signer, last_signed=LastSignedFile(data_dir))
    try:
        if log._gate is not None:
            log._gate.check(store)
    except RollbackError as e:
        log.close()
        raise RollbackError(damaged_line(data_dir, str(e)), e.signed_size, e.store_size) from None
    except BaseException:
        log.close()
        raise
    return log
