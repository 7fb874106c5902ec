"""The log key's one signing gate: the key never signs a tree that does not extend what it signed before.

A log that signs a smaller tree, or another root for a size it signed, has
equivocated: anyone holding both notes can prove it. A store can lose data (a
deleted or emptied ``data.mdb``, a backup restored over it, a damaged disk),
so the store cannot be the only memory of what was signed. ``CheckpointGate``
keeps the last note the key signed in a record outside the store
(``LastSignedFile``: ``log.signed`` next to the key) and signs the tree of a
store only if, for the record's checkpoint and the store's own stored one
(each verified with the log's key; whichever is larger is the last signed):

1. the new size is not smaller than its size;
2. the store still holds its tree: the store's root of that size is its root
   (same size: the note already signed is returned, nothing new is signed);
3. the new tree extends it: a consistency proof computed from the store
   verifies from its root to the new root.

Otherwise it raises RollbackError and signs nothing. The new note is
written to the record (a temporary file, fsync, rename, fsync of the
directory) before it is returned, so no signature leaves the gate unrecorded.
A lock file (``log.signed.lock``, ``flock``) makes the check and the record's
update one step across processes (``serve`` and ``pypi-witness log``
commands may open one data directory together).

Opening a log for writing runs ``check``: rules 1 and 2 against the store,
signing nothing, so a store that lost entries is refused at open. A data
directory made before the record existed gets it there, from the store's
stored checkpoint, after verifying it with the log's key. From then on,
deleting, emptying or replacing the store cannot make the key sign a
rollback. (Deleting ``log.signed`` as well would: never do that to get a
damaged log going again.)

``Log`` (log.py) is the gate's only user and signs nothing itself;
tests/signing/test_gates.py checks that no other code in the package signs
a checkpoint.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from pypi_witness.core.tlog import merkle
from pypi_witness.core.tlog.checkpoint import Checkpoint, sign_checkpoint
from pypi_witness.core.tlog.signed_checkpoint import SignedCheckpoint, open_checkpoint
from pypi_witness.core.tlog.note import ALG_ED25519, Signer
from pypi_witness.core.errors import (
    ConfigError,
    CorruptionError,
    NoteError,
    ProofError,
    RollbackError,
    SignatureError,
    StoreError,
)
from pypi_witness.store.base import LogStore

LAST_SIGNED_FILE = "log.signed"
LOCK_FILE = "log.signed.lock"


class LastSigned(Protocol):
    """Where the gate keeps the last note the key signed."""

    def load(self) -> bytes | None:
        """The note last saved, or None if none was. StoreError if it cannot be read."""
        ...

    def save(self, note: bytes) -> None:
        """Keep ``note`` durably before returning. StoreError if it cannot be written."""
        ...

    def locked(self) -> contextlib.AbstractContextManager[None]:
        """Hold the record against every other gate using it (other threads and processes)."""
        ...


class LastSignedMemory:
    """A record held in memory: for logs that live no longer than the process (simulations, tests)."""

    def __init__(self) -> None:
        self._note: bytes | None = None

    def load(self) -> bytes | None:
        return self._note

    def save(self, note: bytes) -> None:
        self._note = note

    def locked(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


class LastSignedFile:
    """The record as the file ``log.signed`` in ``data_dir`` (see the module docstring)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LAST_SIGNED_FILE
        self._lock_path = data_dir / LOCK_FILE

    def load(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StoreError(f"cannot read {self.path}: {e.strerror}; nothing was signed") from None

    def save(self, note: bytes) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, note)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, self.path)
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as e:
            raise StoreError(f"cannot record the signed checkpoint in {self.path}: {e.strerror}; "
                             "the new signature was not handed out") from None  # fmt: skip

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        try:
            fd = os.open(self._lock_path, os.O_WRONLY | os.O_CREAT, 0o644)
        except OSError as e:
            raise StoreError(f"cannot open the lock file {self._lock_path}: {e.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock


class CheckpointGate:
    """Signs checkpoints with the log key ``signer``, as the module docstring says, recording them in ``record``.

    ``signer`` is kept here and nowhere else. Raises ConfigError if it is not a
    log key (type 0x01).
    """

    def __init__(self, signer: Signer, record: LastSigned) -> None:
        if signer.alg != ALG_ED25519:
            raise ConfigError(f"key {signer.name!r} is not a log key (type 0x01)")
        self.__signer = signer
        self.verifier = signer.verifier()
        self._record = record
        self._lock = threading.Lock()

    @property
    def origin(self) -> str:
        return self.verifier.name

    def _recorded(self) -> SignedCheckpoint | None:
        """The record's note, verified. CorruptionError if it is not one the log key signed."""
        note = self._record.load()
        if note is None:
            return None
        try:
            return open_checkpoint(note, self.verifier)
        except (NoteError, SignatureError) as e:
            where = getattr(self._record, "path", "the record of the last signed checkpoint")
            raise CorruptionError(
                f"{where} is damaged ({e}); nothing was signed. Restore it from a backup, or delete it "
                "to take the last signed checkpoint from the store again (only if the store is known good)"
            ) from None

    def _stored(self, store: LogStore) -> SignedCheckpoint | None:
        """The store's own checkpoint, verified. CorruptionError if it does not verify."""
        note = store.checkpoint()
        if note is None:
            return None
        try:
            return open_checkpoint(note, self.verifier)
        except (NoteError, SignatureError) as e:
            raise CorruptionError(f"the checkpoint stored in the log does not verify ({e}); nothing was signed") from None

    def _check_holds(self, signed: SignedCheckpoint, store: LogStore, size: int) -> None:
        """RollbackError (saying what is wrong) unless the store's tree of ``size`` extends ``signed``."""
        old = signed.checkpoint
        # Rule 1: never a smaller tree than one signed.
        if size < old.size:
            raise RollbackError(
                f"the log holds {size:,} entries, but its key already signed a checkpoint of size {old.size:,} "
                f"(the store lost entries: a backup to restore must hold at least {old.size:,})",
                signed_size=old.size,
                store_size=size,
            )
        # Rule 2: the store still holds the signed tree.
        root = merkle.tree_root(old.size, store)
        if root != old.root_hash:
            raise RollbackError(
                f"the log's tree of size {old.size:,} is not the one its key signed: its root differs "
                "(the store was replaced or damaged)",
                signed_size=old.size,
                store_size=size,
            )

    def check(self, store: LogStore) -> None:
        """Check, signing nothing, that ``store`` holds the trees the key signed (rules 1 and 2); record
        the store's checkpoint if the record holds none or an older one (a directory made before the
        record existed).

        Raises RollbackError if the store does not hold them, CorruptionError
        if the record or the store's checkpoint does not verify, StoreError if
        the store or the record fails.
        """
        with self._lock, self._record.locked():
            recorded, stored = self._recorded(), self._stored(store)
            size = store.size()
            for signed in {s.note: s for s in (recorded, stored) if s is not None}.values():
                self._check_holds(signed, store, size)
            if stored is not None and (recorded is None or stored.checkpoint.size > recorded.checkpoint.size):
                self._record.save(stored.note)

    def sign(self, store: LogStore) -> SignedCheckpoint:
        """The log key's checkpoint of ``store``'s durable tree, signed only if it passes the module docstring's rules.

        Returns the note already signed if the last signed checkpoint has this
        size. Raises RollbackError (nothing signed) if the tree does not extend
        the last signed checkpoint, CorruptionError if the record or the
        store's checkpoint does not verify, StoreError if the store or the
        record fails.
        """
        with self._lock, self._record.locked():
            size = store.size()
            recorded, stored = self._recorded(), self._stored(store)
            known = [s for s in (recorded, stored) if s is not None]
            try:
                for signed in {s.note: s for s in known}.values():
                    self._check_holds(signed, store, size)
            except RollbackError as e:
                raise RollbackError(f"refusing to sign: {e}; nothing was signed", e.signed_size, e.store_size) from None
            last = max(known, key=lambda s: s.checkpoint.size, default=None)
            if last is not None and last.checkpoint.size == size:
                if recorded is None or recorded.note != last.note:
                    self._record.save(last.note)  # the store's is newer: the record catches up
                return last
            root = merkle.tree_root(size, store)
            if last is not None:
                # Rule 3: the new tree extends the last signed one (RFC 9162 §2.1.4).
                old = last.checkpoint
                proof = merkle.consistency_proof(old.size, size, store)
                try:
                    merkle.verify_consistency(old.size, size, old.root_hash, root, proof)
                except ProofError as e:
                    raise RollbackError(
                        f"refusing to sign size {size:,}: the tree does not extend the checkpoint of size "
                        f"{old.size:,} its key signed ({e}); nothing was signed",
                        signed_size=old.size,
                        store_size=size,
                    ) from None
            checkpoint = Checkpoint(self.origin, size, root)
            note = sign_checkpoint(checkpoint, self.__signer)
            self._record.save(note)
            return SignedCheckpoint(checkpoint, note)
