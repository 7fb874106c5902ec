"""Let go of this process's mappings of a file's pages, keeping them in the page cache.

LMDB reads its database through a shared, read-only memory map. Every page a
write transaction reads (and, through the kernel's fault-around, up to 15
neighbours already in the page cache) stays mapped in the process, so after a
long import the process's resident set holds most of the database file even
though it needs none of it. ``release_file_pages`` asks the kernel to drop
those mappings (``madvise(MADV_DONTNEED)`` over the file's mappings): for a
shared file mapping this only unmaps, the pages stay in the page cache, and the
next read maps them again (a minor fault). Nothing is lost or written.

Linux only (it reads ``/proc/self/maps``); elsewhere it does nothing.
"""

from __future__ import annotations

import ctypes
import mmap
import sys
from pathlib import Path

_MADV_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)
_madvise = None
if sys.platform.startswith("linux") and _MADV_DONTNEED is not None:
    try:
        _libc = ctypes.CDLL(None, use_errno=True)
        _madvise = _libc.madvise
        _madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
        _madvise.restype = ctypes.c_int
    except (OSError, AttributeError):
        _madvise = None


def file_mappings(path: Path) -> list[tuple[int, int]]:
    """The (start, end) address ranges of this process's mappings of file ``path``; [] if unknown."""
    wanted = str(path)
    out: list[tuple[int, int]] = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)
                if len(fields) == 6 and fields[5].rstrip("\n") == wanted:
                    start, end = fields[0].split("-")
                    out.append((int(start, 16), int(end, 16)))
    except OSError:
        return []
    return out


_PAGE_SIZE = mmap.PAGESIZE


def mapped_file_bytes() -> int | None:
    """Bytes of file-backed (and shared) pages resident in this process, from /proc/self/statm; None if unknown."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[2]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return None


def release_file_pages_over(path: Path, budget: int) -> int:
    """``release_file_pages(path)`` if this process has more than ``budget`` bytes of
    file-backed pages resident, else nothing; returns the mappings released.

    Checking is cheap (one small read); releasing makes the next read of every
    page a fault, so callers check often and release rarely.
    """
    resident = mapped_file_bytes()
    if resident is None or resident <= budget:
        return 0
    return release_file_pages(path)


def release_file_pages(path: Path) -> int:
    """Unmap this process's resident pages of file ``path`` (see the module docstring).

    Returns the number of mappings released; 0 where the platform does not
    support it or the file is not mapped. Never raises: the pages are only
    unmapped if the kernel agrees, and an unmapped page is read again on use.
    """
    if _madvise is None:
        return 0
    released = 0
    for start, end in file_mappings(path):
        if _madvise(start, end - start, _MADV_DONTNEED) == 0:
            released += 1
    return released
