"""Every LMDB failure as a package error that names its cause.

py-lmdb raises ``lmdb.Error`` subclasses; none may reach the node's tasks,
which handle package errors (``core.errors.StoreError`` and its subclasses).
``store_error`` picks the class and says what happened in words an operator
acts on:

==========================  ================  =========================================
LMDB says                   error             because
==========================  ================  =========================================
MDB_MAP_FULL                StoreFullError    the store's map (its reserved size) is full
ENOSPC                      StoreFullError    no space left on the device
EIO, with the disk full     StoreFullError    LMDB reports a short write as an I/O error:
                                              a full disk looks like EIO
EIO                         StoreError        the device failed a read or a write
MDB_CORRUPTED, MDB_PAGE_    CorruptionError   the file's pages are not what LMDB wrote
NOTFOUND, MDB_INVALID,
MDB_VERSION_MISMATCH
MDB_READERS_FULL            StoreError        every reader slot is taken (the store
                                              reclaims dead readers' slots first)
anything else               StoreError        LMDB's own words
==========================  ================  =========================================
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import lmdb

from pypi_witness.core.errors import CorruptionError, StoreError, StoreFullError

# A write that failed with EIO on a filesystem with less than this free was a
# full disk (a short write leaves the disk full to the last block).
FULL_DISK_BYTES = 1 << 20

_CORRUPT = (lmdb.CorruptedError, lmdb.PageNotFoundError, lmdb.InvalidError, lmdb.VersionMismatchError)


def free_bytes(path: Path) -> int | None:
    """Bytes this process may still write on the filesystem holding ``path`` (None: unknown)."""
    try:
        stat = os.statvfs(path)
    except OSError:
        return None
    blocks = stat.f_bfree if os.geteuid() == 0 else stat.f_bavail  # root may use the reserved blocks
    return blocks * stat.f_frsize


def store_error(error: lmdb.Error, path: Path, doing: str) -> StoreError:
    """The package error for ``error``, raised while ``doing`` (e.g. "append to") the store at ``path``.

    See the module docstring for the classes. The message names the store,
    what was being done, and the cause.
    """
    where = f"{doing} the store at {path}"
    if isinstance(error, lmdb.MapFullError):
        return StoreFullError(f"cannot {where}: its map is full (MDB_MAP_FULL); nothing of this write was made")
    code = getattr(error, "code", 0)
    if isinstance(error, lmdb.DiskError) or code == errno.ENOSPC:
        return StoreFullError(f"cannot {where}: no space left on device; nothing of this write was made")
    if code == errno.EIO:
        free = free_bytes(path)
        if free is not None and free < FULL_DISK_BYTES:
            return StoreFullError(
                f"cannot {where}: no space left on device ({free:,} bytes free; LMDB reported it as an "
                "I/O error); nothing of this write was made"
            )
        return StoreError(f"cannot {where}: I/O error from the device (the disk may be failing): {error}")
    if isinstance(error, _CORRUPT):
        return CorruptionError(f"cannot {where}: the store is damaged: {error}")
    if isinstance(error, lmdb.ReadersFullError):
        return StoreError(f"cannot {where}: every reader slot is taken by a live reader: {error}")
    return StoreError(f"cannot {where}: {error}")
