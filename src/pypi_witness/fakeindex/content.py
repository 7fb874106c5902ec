"""Deterministic file content for the fake index, and the digests PyPI states for it.

A file's bytes are a function of ``(content_seed, filename, variant)``: nothing
is stored, and a download can be hashed and compared with what the JSON APIs
state. ``variant`` tells apart the contents one filename can have: ``"0"`` for
the first upload, ``"1"``, ``"2"``... for each re-use of the filename (only
possible with the resurrect switch), ``"swap"`` for the swap attack. Sizes run
from 1 KiB to 64 KiB, most of them small.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

MIN_SIZE = 1024
MAX_SIZE = 64 * 1024
_BLOCK = 4096  # pseudo-random bytes, repeated to the size: cheap to make, unique per file


@dataclass(frozen=True, slots=True)
class Digests:
    """What the index states about some bytes: hex digests and the size in bytes."""

    sha256: str
    blake2b_256: str
    md5: str
    size: int

    @classmethod
    def of(cls, data: bytes) -> Digests:
        return cls(
            sha256=hashlib.sha256(data).hexdigest(),
            blake2b_256=hashlib.blake2b(data, digest_size=32).hexdigest(),
            md5=hashlib.md5(data).hexdigest(),
            size=len(data),
        )


def _key(content_seed: int, filename: str, variant: str) -> bytes:
    return f"pypi-witness-fakeindex/1\n{content_seed}\n{filename}\n{variant}\n".encode()


def generated_size(content_seed: int, filename: str, variant: str) -> int:
    """The size of the generated content, without generating it (1 KiB to 64 KiB, skewed small)."""
    u = int.from_bytes(hashlib.blake2b(_key(content_seed, filename, variant), digest_size=8).digest()) / 2**64
    return MIN_SIZE + int((MAX_SIZE - MIN_SIZE) * u**3)


def generated_content(content_seed: int, filename: str, variant: str) -> bytes:
    """The bytes of ``filename`` in ``variant``: a readable first line, then a repeated pseudo-random block."""
    size = generated_size(content_seed, filename, variant)
    head = f"fake {filename} variant {variant}\n".encode()[:size]
    block = hashlib.shake_256(_key(content_seed, filename, variant)).digest(min(size, _BLOCK))
    return head + (block * (size // len(block) + 1))[: size - len(head)]


def blob_path(blake2b_256: str, filename: str) -> str:
    """PyPI's storage path: ``/packages/<b2[:2]>/<b2[2:4]>/<b2[4:]>/<filename>``."""
    return f"/packages/{blake2b_256[:2]}/{blake2b_256[2:4]}/{blake2b_256[4:]}/{filename}"


def corrupted(data: bytes) -> bytes:
    """The same number of bytes with the last one flipped: same size, other digests."""
    return data[:-1] + bytes([data[-1] ^ 0xFF]) if data else b"\xff"


def wrong_blake2b(blake2b_256: str) -> str:
    """A well-formed BLAKE2b-256 hex digest that is not ``blake2b_256`` (for the bad-path switch)."""
    return hashlib.blake2b(b"bad-path\n" + bytes.fromhex(blake2b_256), digest_size=32).hexdigest()
