"""Check an LMDB data file before LMDB maps it: a missing, empty, truncated or foreign file is refused.

LMDB maps its data file into memory and trusts it. A page past the end of a
truncated file is a SIGBUS on first access, which no Python code can catch: the
process dies. So a store reads the file's two meta pages and its free-page list
with ordinary reads (``os.pread``, never the map) before it opens the file, and
refuses it unless every page its last commit uses lies inside the file. This
reads a few pages, not the log: its cost does not grow with the log's size
(docs/benchmarks.md).

Why the free list: LMDB's committed meta page names the last page allocated
(``last_pgno``), but a transaction may free pages it allocated before it
writes them (overwritten values, pages that became empty), so a sound file can
end a few pages short of ``last_pgno``. Every such page is in the free list.
A file is truncated exactly when a page between its end and ``last_pgno`` is
not free.

Facts about LMDB 0.9's format (the version py-lmdb bundles; 64-bit, native
byte order), from its ``mdb.c``:

- a page starts with a 16-byte header: page number (8 bytes), pad (2), flags
  (2: 0x01 branch, 0x02 leaf, 0x04 overflow, 0x08 meta), then ``lower`` and
  ``upper`` (2 each; for an overflow page, its page count, 4 bytes);
- pages 0 and 1 are meta pages; the one with the higher transaction id is the
  last commit. After the header: magic ``0xBEEFC0DE`` (4 bytes), data version
  1 (4), map address (8), map size (8), the free-list and main databases' 48-byte
  records, the last page number (8) and the transaction id (8). The page size
  is the free-list record's first 4 bytes (``mm_psize``);
- a database record: pad (4), flags (2), depth (2), branch, leaf and overflow
  page counts and entries (8 each), root page (8; all ones: empty);
- a branch or leaf page holds, after its header, 2-byte offsets of its nodes up
  to ``lower``. A node: ``lo``, ``hi``, ``flags``, key size (2 bytes each),
  then the key, then the data. In a branch node the child page is ``lo | hi << 16
  | flags << 32``; in a leaf node the data size is ``lo | hi << 16``, and flag
  0x01 means the data is in overflow pages whose first page number is the data;
- the free list is keyed by transaction id; each value is a list of page
  numbers: a count (8 bytes) and that many page numbers (8 bytes each).

A writer in another process may commit while this reads. Pages of the commit
read are not reused before two more commits, so a check is kept only if the
meta pages show at most one commit since; otherwise it is tried again.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from pypi_witness.core.errors import CorruptionError

DATA_FILE = "data.mdb"
MAGIC = 0xBEEFC0DE
DATA_VERSION = 1
PAGE_HEADER = 16
NODE_HEADER = 8
P_BRANCH, P_LEAF, P_OVERFLOW, P_META = 0x01, 0x02, 0x04, 0x08
F_BIGDATA = 0x01
NO_PAGE = (1 << 64) - 1
# Page sizes accepted: LMDB 0.9 uses the OS page size, a power of two of at most 32 KiB.
MIN_PAGE_SIZE, MAX_PAGE_SIZE = 512, 1 << 15
# Times a check is tried again while another process commits (each try reads a few pages).
ATTEMPTS = 5

_U16 = struct.Struct("=H")
_U32 = struct.Struct("=I")
_U64 = struct.Struct("=Q")
_NODE = struct.Struct("=HHHH")


@dataclass(frozen=True, slots=True)
class _Db:
    depth: int
    pages: int  # branch + leaf + overflow
    root: int


@dataclass(frozen=True, slots=True)
class Meta:
    """What a meta page says of its commit."""

    page_size: int
    txnid: int
    last_pgno: int
    free: _Db
    main: _Db


@dataclass(frozen=True, slots=True)
class FileCheck:
    """A data file that passed: its page size, the commit checked, and its length in whole pages."""

    page_size: int
    txnid: int
    last_pgno: int
    file_pages: int


def _db(raw: bytes, offset: int) -> _Db:
    depth = _U16.unpack_from(raw, offset + 6)[0]
    branch, leaf, overflow, _entries, root = struct.unpack_from("=QQQQQ", raw, offset + 8)
    return _Db(depth, branch + leaf + overflow, root)


def _meta(raw: bytes, which: int, path: Path) -> Meta:
    """Meta page ``which`` (its first 160 bytes). CorruptionError if it is not one."""
    flags = _U16.unpack_from(raw, 10)[0]
    magic, version = struct.unpack_from("=II", raw, PAGE_HEADER)
    if not flags & P_META or magic != MAGIC:
        raise CorruptionError(f"{path} is not an LMDB data file (meta page {which} has no LMDB magic number)")
    if version != DATA_VERSION:
        raise CorruptionError(f"{path} is LMDB data version {version}; this build reads version {DATA_VERSION}")
    free, main = _db(raw, PAGE_HEADER + 24), _db(raw, PAGE_HEADER + 72)
    page_size = _U32.unpack_from(raw, PAGE_HEADER + 24)[0]
    last_pgno, txnid = struct.unpack_from("=QQ", raw, PAGE_HEADER + 120)
    return Meta(page_size, txnid, last_pgno, free, main)


def _metas(fd: int, path: Path, file_size: int) -> tuple[Meta, Meta]:
    """Both meta pages. CorruptionError if the file is too short for them or they are not LMDB's."""
    head = os.pread(fd, PAGE_HEADER + 144, 0)
    if len(head) < PAGE_HEADER + 144:
        raise CorruptionError(f"{path} is truncated: {file_size} bytes, too short even for its header")
    first = _meta(head, 0, path)
    size = first.page_size
    if size & (size - 1) or not MIN_PAGE_SIZE <= size <= MAX_PAGE_SIZE:
        raise CorruptionError(f"{path} is damaged: its header gives a page size of {size}")
    if file_size < 2 * size:
        raise CorruptionError(f"{path} is truncated: {file_size} bytes, shorter than its two header pages")
    second = _meta(os.pread(fd, PAGE_HEADER + 144, size), 1, path)
    if second.page_size != size:
        raise CorruptionError(f"{path} is damaged: its two header pages give page sizes {size} and {second.page_size}")
    return first, second


class _Pages:
    """Reads whole pages of the file by number, never past its last whole page."""

    def __init__(self, fd: int, path: Path, page_size: int, file_pages: int) -> None:
        self.fd, self.path, self.size, self.count = fd, path, page_size, file_pages

    def read(self, pgno: int, pages: int = 1) -> bytes | None:
        """Pages ``pgno`` to ``pgno + pages - 1``; None if they are not all inside the file."""
        if pgno + pages > self.count:
            return None
        data = os.pread(self.fd, pages * self.size, pgno * self.size)
        return data if len(data) == pages * self.size else None

    def damaged(self, what: str) -> CorruptionError:
        return CorruptionError(f"{self.path} is damaged: {what}")


def _nodes(page: bytes, pgno: int, pages: _Pages) -> list[int]:
    """The offsets of a branch or leaf page's nodes."""
    lower = _U16.unpack_from(page, 12)[0]
    if not PAGE_HEADER <= lower <= pages.size or (lower - PAGE_HEADER) % 2:
        raise pages.damaged(f"page {pgno} has a bad node count")
    offsets = [_U16.unpack_from(page, PAGE_HEADER + 2 * i)[0] for i in range((lower - PAGE_HEADER) // 2)]
    if any(not lower <= o <= pages.size - NODE_HEADER for o in offsets):
        raise pages.damaged(f"page {pgno} has a node outside the page")
    return offsets


def _free_list_value(page: bytes, offset: int, pgno: int, pages: _Pages) -> bytes:
    """The data of the leaf node at ``offset`` of free-list page ``pgno``: inline, or in overflow pages."""
    lo, hi, flags, key_size = _NODE.unpack_from(page, offset)
    data_size, start = lo | hi << 16, offset + NODE_HEADER + key_size
    if not flags & F_BIGDATA:
        if start + data_size > pages.size:
            raise pages.damaged(f"a free-list entry of page {pgno} runs past the page")
        return page[start : start + data_size]
    if start + 8 > pages.size:
        raise pages.damaged(f"a free-list entry of page {pgno} runs past the page")
    first = _U64.unpack_from(page, start)[0]
    count = -(-(PAGE_HEADER + data_size) // pages.size)
    data = pages.read(first, count)
    if data is None:
        raise _Beyond(first + count - 1)
    if not _U16.unpack_from(data, 10)[0] & P_OVERFLOW:
        raise pages.damaged(f"free-list overflow page {first} is not an overflow page")
    return data[PAGE_HEADER : PAGE_HEADER + data_size]


class _Beyond(Exception):
    """A page the commit uses lies past the end of the file (its number)."""

    def __init__(self, pgno: int) -> None:
        self.pgno = pgno


def _free_pages(pages: _Pages, free: _Db, low: int, high: int) -> set[int]:
    """The free pages numbered ``low`` to ``high``, from the free list rooted at ``free.root``.

    Raises _Beyond if a page of the free list itself is past the end of the
    file, CorruptionError if one is not what it should be.
    """
    found: set[int] = set()
    if free.root == NO_PAGE:
        return found
    stack, seen = [(free.root, 1)], set()
    while stack:
        pgno, depth = stack.pop()
        if pgno in seen or depth > max(free.depth, 1) or len(seen) > free.pages:
            raise pages.damaged(f"the free list's tree is malformed at page {pgno}")
        seen.add(pgno)
        page = pages.read(pgno)
        if page is None:
            raise _Beyond(pgno)
        flags = _U16.unpack_from(page, 10)[0]
        if _U64.unpack_from(page, 0)[0] != pgno or not flags & (P_BRANCH | P_LEAF):
            raise pages.damaged(f"free-list page {pgno} is not a page of the free list")
        for offset in _nodes(page, pgno, pages):
            if flags & P_BRANCH:
                lo, hi, top, _ = _NODE.unpack_from(page, offset)
                stack.append((lo | hi << 16 | top << 32, depth + 1))
                continue
            value = _free_list_value(page, offset, pgno, pages)
            count = _U64.unpack_from(value, 0)[0] if len(value) >= 8 else -1
            if count < 0 or 8 * (count + 1) > len(value):
                raise pages.damaged(f"a free-list entry of page {pgno} is malformed")
            found.update(p for p in struct.unpack_from(f"={count}Q", value, 8) if low <= p <= high)
    return found


def _newest_txnid(fd: int, path: Path) -> int:
    first, second = _metas(fd, path, os.fstat(fd).st_size)
    return max(first.txnid, second.txnid)


def _check_once(fd: int, path: Path) -> FileCheck:
    """One check of the last commit. CorruptionError as ``check_data_file`` says."""
    first, second = _metas(fd, path, os.fstat(fd).st_size)
    meta = second if first.txnid < second.txnid else first
    # Stat after reading the meta: a writer extends the file before it writes the meta.
    file_size = os.fstat(fd).st_size
    pages = _Pages(fd, path, meta.page_size, file_size // meta.page_size)
    if meta.last_pgno < 1:
        raise pages.damaged(f"its header gives last page {meta.last_pgno}")
    for db, name in ((meta.free, "free list"), (meta.main, "main database")):
        if db.root != NO_PAGE and not 2 <= db.root <= meta.last_pgno:
            raise pages.damaged(f"its {name} starts at page {db.root}, outside the {meta.last_pgno + 1} pages in use")
    try:
        for db in (meta.free, meta.main):
            if db.root != NO_PAGE and db.root >= pages.count:
                raise _Beyond(db.root)
        if meta.last_pgno >= pages.count:
            free = _free_pages(pages, meta.free, pages.count, meta.last_pgno)
            used = [p for p in range(meta.last_pgno, pages.count - 1, -1) if p not in free]
            if used:
                raise _Beyond(used[0])
    except _Beyond as beyond:
        needed = (beyond.pgno + 1) * meta.page_size
        raise CorruptionError(
            f"{path} is truncated: {file_size:,} bytes, but its last commit uses page {beyond.pgno:,} "
            f"(at least {needed:,} bytes)"
        ) from None
    return FileCheck(meta.page_size, meta.txnid, meta.last_pgno, pages.count)


def check_data_file(directory: Path) -> FileCheck:
    """Check the LMDB data file in ``directory`` as the module docstring says; what was checked.

    Raises CorruptionError if the file is missing, empty, not an LMDB file of
    this format, or truncated (a page its last commit uses is past its end),
    naming the file and what is wrong; OSError if it cannot be read. A try
    that overlapped two or more commits of a writer in another process is
    tried again, up to ATTEMPTS times; after that the last try's findings
    stand (the pages it read were inside the file when it read them).
    """
    path = directory / DATA_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise CorruptionError(f"{path} is missing") from None
    try:
        if os.fstat(fd).st_size == 0:
            raise CorruptionError(f"{path} is empty (0 bytes)")
        for attempt in range(1, ATTEMPTS + 1):
            before = _newest_txnid(fd, path)
            try:
                checked = _check_once(fd, path)
            except CorruptionError:
                if attempt < ATTEMPTS and _newest_txnid(fd, path) > before + 1:
                    continue  # pages read may have been reused by the commits meanwhile
                raise
            if attempt == ATTEMPTS or _newest_txnid(fd, path) <= checked.txnid + 1:
                return checked
        raise AssertionError("unreachable: the last attempt returns or raises")
    finally:
        os.close(fd)
