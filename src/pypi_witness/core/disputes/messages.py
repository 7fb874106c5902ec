"""Dispute-finding messages: comparing two logs' filename buckets over gossip (version 1).

They travel in the same ``Exchange`` calls as the other gossip messages and
share their framing: ``pypi-witness/gossip/v1 <type>\\n`` then the fields
(:mod:`pypi_witness.core.gossip.messages` writes that line and dispatches the
types below to ``write_body`` / ``read_body``):

==================  =============================================================
type                fields
==================  =============================================================
``bucket-root``     ``root <base64>`` (``core.disputes.buckets.digest_root``), ``size <n>``
``bucket-digests``  ``width <w>``, ``digests <4096 * w>`` block: every bucket's
                    digest cut to its first ``w`` bytes (8 to 32), in bucket order
``bucket-request``  ``count <n>``, n × ``bucket <b>``, strictly increasing
``bucket-files``    ``bucket <b>``, ``count <n>``, n ×
                    ``file <filename> <sha256> <blake2b> <size>``, strictly
                    increasing by filename, every filename in bucket ``b``
==================  =============================================================

``size`` is the sender's log size when it read its digests: for the reader of
a log line, it tells lag (a smaller log) from a disagreement. Every count and
size has a limit (``MAX_*``); a message breaking one, or any rule above, is a
MalformedError, from the constructor as from ``read_body``. Writing then
reading gives the same message and the same bytes back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pypi_witness.core.disputes.buckets import BUCKETS, DIGEST_BYTES, Entry, bucket_of
from pypi_witness.core.tlog.framing import MAX_INT, FrameReader, FrameWriter
from pypi_witness.core.records.values import DOT_NAMES, bad_filename_char
from pypi_witness.core.errors import MalformedError, quoted

MIN_DIGEST_WIDTH = 8
MAX_REQUEST_BUCKETS = 64
"""Buckets one request may ask for (a node asks for fewer: ``dispute_buckets_per_round``)."""
MAX_BUCKET_FILES = 16_384
"""Entries one bucket-files message may hold: 4 times a bucket of a 15 M-file index."""
MAX_FILENAME_BYTES = 1024

_HEX64 = re.compile("[0-9a-f]{64}")
_DECIMAL = re.compile("0|[1-9][0-9]{0,18}")


def _check_bucket(bucket: object) -> None:
    if isinstance(bucket, bool) or not isinstance(bucket, int) or not 0 <= bucket < BUCKETS:
        raise MalformedError(f"bucket {quoted(bucket)} is not in 0..{BUCKETS - 1}")


@dataclass(frozen=True)
class BucketRoot:
    """One hash over the sender's bucket digests; sent to a peer every gossip round."""

    root: bytes
    size: int

    def __post_init__(self) -> None:
        if not isinstance(self.root, bytes) or len(self.root) != DIGEST_BYTES:
            raise MalformedError(f"a bucket root is {DIGEST_BYTES} bytes")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 0 <= self.size <= MAX_INT:
            raise MalformedError(f"log size {quoted(self.size)} is not in 0..2**63-1")


@dataclass(frozen=True)
class BucketDigests:
    """Every bucket's digest, each cut to its first ``width`` bytes; the answer to a differing root."""

    digests: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.digests, tuple) or len(self.digests) != BUCKETS:
            raise MalformedError(f"bucket digests must be a tuple of {BUCKETS}")
        width = len(self.digests[0]) if isinstance(self.digests[0], bytes) else -1
        if not MIN_DIGEST_WIDTH <= width <= DIGEST_BYTES:
            raise MalformedError(f"bucket digests must be {MIN_DIGEST_WIDTH} to {DIGEST_BYTES} bytes each")
        if any(not isinstance(d, bytes) or len(d) != width for d in self.digests):
            raise MalformedError("bucket digests must all have the same width")

    @property
    def width(self) -> int:
        return len(self.digests[0])


@dataclass(frozen=True)
class BucketRequest:
    """Ask for the entries of ``buckets`` (strictly increasing, at most MAX_REQUEST_BUCKETS)."""

    buckets: tuple[int, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.buckets, tuple) or not 0 < len(self.buckets) <= MAX_REQUEST_BUCKETS:
            raise MalformedError(f"a bucket request asks for 1 to {MAX_REQUEST_BUCKETS} buckets")
        for bucket in self.buckets:
            _check_bucket(bucket)
        if any(a >= b for a, b in zip(self.buckets, self.buckets[1:])):
            raise MalformedError("requested buckets must be strictly increasing")


def check_entry(entry: object, bucket: int) -> None:
    """MalformedError unless ``entry`` is a (filename, sha256, blake2b, size) of ``bucket``."""
    if not isinstance(entry, tuple) or len(entry) != 4:
        raise MalformedError("a bucket entry is (filename, sha256, blake2b, size)")
    filename, sha256, blake2b, size = entry
    if (
        not isinstance(filename, str)
        or not filename
        or len(filename.encode("utf-8", "surrogatepass")) > MAX_FILENAME_BYTES
        or bad_filename_char(filename)
        or filename in DOT_NAMES
    ):
        raise MalformedError(f"{quoted(filename)} is not a file name of at most {MAX_FILENAME_BYTES} bytes")
    for name, digest in (("sha256", sha256), ("blake2b", blake2b)):
        if not isinstance(digest, str) or _HEX64.fullmatch(digest) is None:
            raise MalformedError(f"{name} of {quoted(filename)} is not 64 lowercase hex digits")
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_INT:
        raise MalformedError(f"size of {quoted(filename)} is not in 0..2**63-1")
    if bucket_of(filename) != bucket:
        raise MalformedError(f"{quoted(filename)} is not in bucket {bucket}")


@dataclass(frozen=True)
class BucketFiles:
    """The sender's entries of ``bucket``: each filename at its first file record, sorted by filename."""

    bucket: int
    entries: tuple[Entry, ...]

    def __post_init__(self) -> None:
        _check_bucket(self.bucket)
        if not isinstance(self.entries, tuple) or len(self.entries) > MAX_BUCKET_FILES:
            raise MalformedError(f"bucket files hold at most {MAX_BUCKET_FILES} entries")
        for entry in self.entries:
            check_entry(entry, self.bucket)
        if any(a[0] >= b[0] for a, b in zip(self.entries, self.entries[1:])):
            raise MalformedError("bucket entries must be strictly increasing by filename")


DisputeMessage = BucketRoot | BucketDigests | BucketRequest | BucketFiles

KINDS = ("bucket-root", "bucket-digests", "bucket-request", "bucket-files")


def write_body(message: DisputeMessage, w: FrameWriter) -> None:
    """Add the fields of ``message`` (after its type line) to ``w``."""
    if isinstance(message, BucketRoot):
        w.hash("root", message.root).number("size", message.size)
    elif isinstance(message, BucketDigests):
        w.number("width", message.width).block("digests", b"".join(message.digests))
    elif isinstance(message, BucketRequest):
        w.number("count", len(message.buckets))
        for bucket in message.buckets:
            w.number("bucket", bucket)
    elif isinstance(message, BucketFiles):
        w.number("bucket", message.bucket).number("count", len(message.entries))
        for filename, sha256, blake2b, size in message.entries:
            w.line("file", f"{filename} {sha256} {blake2b} {size}")
    else:
        raise MalformedError(f"not a dispute message: {type(message).__name__}")


def _read_entry(r: FrameReader) -> Entry:
    parts = r.line("file").split(" ")
    if len(parts) != 4 or _DECIMAL.fullmatch(parts[3]) is None:
        raise r.fail("a 'file' line is <filename> <sha256> <blake2b> <size>")
    return (parts[0], parts[1], parts[2], int(parts[3]))


def read_body(kind: str, r: FrameReader) -> DisputeMessage:
    """The message of type ``kind`` (one of KINDS) whose fields ``r`` reads next. MalformedError otherwise."""
    if kind == "bucket-root":
        return BucketRoot(r.hash("root"), r.number("size"))
    if kind == "bucket-digests":
        width = r.number("width", DIGEST_BYTES)
        if width < MIN_DIGEST_WIDTH:
            raise r.fail(f"digest width {width} is below {MIN_DIGEST_WIDTH}")
        data = r.block("digests", BUCKETS * width)
        if len(data) != BUCKETS * width:
            raise r.fail(f"{len(data)} bytes of digests, not {BUCKETS} of {width}")
        return BucketDigests(tuple(data[i : i + width] for i in range(0, len(data), width)))
    if kind == "bucket-request":
        count = r.number("count", MAX_REQUEST_BUCKETS)
        return BucketRequest(tuple(r.number("bucket", BUCKETS - 1) for _ in range(count)))
    if kind == "bucket-files":
        bucket = r.number("bucket", BUCKETS - 1)
        count = r.number("count", MAX_BUCKET_FILES)
        return BucketFiles(bucket, tuple(_read_entry(r) for _ in range(count)))
    raise r.fail(f"unknown message type {quoted(kind)}")
