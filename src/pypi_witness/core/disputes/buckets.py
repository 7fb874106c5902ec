"""Filename buckets: a small digest of a log's filename -> hashes map, for finding disputes.

Two witnesses must find the filenames whose hashes differ between their logs
(disputes) without shipping whole logs. Each log's filenames are split into
``BUCKETS`` buckets by the first 12 bits of SHA-256(filename); a bucket's
digest summarises the filenames in it, so peers compare 4,096 digests and then
only the filenames of the buckets that differ.

What a bucket holds: every filename the log has a ``file`` record for, taken
at its FIRST file record (filename, sha256, blake2b, size): that is what the
log vouches for. A later file record for the same filename with other hashes
(a swap the log recorded as a conflict) changes nothing; removals, yanks and
alarms do not count. So a digest only ever changes when a new filename is
logged, and two logs agree on a bucket exactly when they saw the same first
hashes for the same filenames in it.

``bucket_of`` matches the LMDB store's ``names`` index (key SHA-256(filename)[:1],
items sorted and starting with SHA-256(filename)[1:8]): a bucket is the key
``bucket >> 4`` and the items whose first byte's high nibble is ``bucket & 15``,
one contiguous range of the index.

Digest = XOR of the item hashes (``item_hash``: SHA-256, domain-separated) of
the bucket's filenames; an empty bucket digests to 32 zero bytes. XOR makes a
digest incremental (adding a filename is one XOR, in the append's own
transaction) and independent of the order filenames arrived in. It is NOT a
commitment: anyone can choose items whose XOR cancels, or match a target digest
by solving a linear system over GF(2) with a few hundred chosen items, so a
peer can make buckets look equal that are not, or unequal that are. That is
acceptable here because a differing digest is only a trigger: a dispute is
then shown by the filenames' entries and settled by signed statements (log
entries with inclusion proofs, checkpoints and cosignatures), never by a
digest. The limit: a lying or broken peer can hide a difference from this
search (its digests vouch for nothing), so finding no dispute with a peer
proves nothing about that peer; an honest pair of logs finds every difference,
as two different honest sets of items collide only with probability 2**-256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from pypi_witness.core.errors import MalformedError

BUCKETS = 4096
"""Buckets a log's filenames are split into (the first 12 bits of SHA-256(filename))."""

DIGEST_BYTES = 32
EMPTY_DIGEST = bytes(DIGEST_BYTES)
"""The digest of a bucket holding no filename."""

ITEM_DOMAIN = b"pypi-witness/bucket-item/v1\n"
ROOT_DOMAIN = b"pypi-witness/bucket-root/v1\n"

# One bucket entry: (filename, sha256 hex, blake2b hex, size).
Entry = tuple[str, str, str, int]


def bucket_of(filename: str) -> int:
    """The bucket of ``filename``: the first 12 bits of SHA-256 of its UTF-8 bytes, 0 to BUCKETS - 1."""
    head = hashlib.sha256(filename.encode()).digest()
    return (head[0] << 4) | (head[1] >> 4)


def item_values(filename: bytes, sha256: bytes, blake2b: bytes, size: bytes) -> bytes:
    """What ``item_hash`` hashes after its domain: the four lines of a ``file`` record that name the file.

    ``file <filename>\nsha256 <hex>\nblake2b <hex>\nsize <decimal>\n``,
    exactly as a ``file`` record spells them (core.records.format), so a store can
    hash that slice of a record without parsing it.
    """
    return b"file " + filename + b"\nsha256 " + sha256 + b"\nblake2b " + blake2b + b"\nsize " + size + b"\n"


def item_hash_of_values(values: bytes) -> bytes:
    """SHA-256(ITEM_DOMAIN || values), ``values`` as ``item_values`` makes them."""
    return hashlib.sha256(ITEM_DOMAIN + values).digest()


def item_hash(filename: str, sha256: str, blake2b: str, size: int) -> bytes:
    """The 32-byte hash one filename contributes to its bucket's digest.

    SHA-256 of ``ITEM_DOMAIN`` and ``item_values`` (the domain keeps it apart
    from every other hash in the project). The values are hashed as given:
    the caller passes a logged record's values (lowercase hex, a size >= 0).
    """
    return item_hash_of_values(item_values(filename.encode(), sha256.encode(), blake2b.encode(), str(size).encode()))


def xor_digest(digest: bytes, item: bytes) -> bytes:
    """``digest`` with ``item`` XORed in (adds or, the same again, removes it)."""
    return (int.from_bytes(digest, "big") ^ int.from_bytes(item, "big")).to_bytes(DIGEST_BYTES, "big")


def bucket_digest(entries: Sequence[Entry]) -> bytes:
    """The digest of a bucket holding ``entries`` (one per filename): XOR of their item hashes."""
    acc = 0
    for entry in entries:
        acc ^= int.from_bytes(item_hash(*entry), "big")
    return acc.to_bytes(DIGEST_BYTES, "big")


def digests_from_entries(entries: Sequence[Entry]) -> list[bytes]:
    """All BUCKETS digests of a log whose first file records are ``entries`` (one per filename).

    The reference the stores are tested against; a store keeps its digests
    incrementally instead.
    """
    acc = [0] * BUCKETS
    for entry in entries:
        acc[bucket_of(entry[0])] ^= int.from_bytes(item_hash(*entry), "big")
    return [a.to_bytes(DIGEST_BYTES, "big") for a in acc]


def digest_root(digests: Sequence[bytes]) -> bytes:
    """One hash over all bucket digests: SHA-256(ROOT_DOMAIN || digest 0 || ... || digest 4095).

    Two logs with equal roots agree on every bucket. MalformedError unless
    ``digests`` holds BUCKETS digests of 32 bytes each.
    """
    if len(digests) != BUCKETS or any(len(d) != DIGEST_BYTES for d in digests):
        raise MalformedError(f"a bucket root needs {BUCKETS} digests of {DIGEST_BYTES} bytes")
    return hashlib.sha256(ROOT_DOMAIN + b"".join(digests)).digest()
