"""Test records, the same everywhere."""

from __future__ import annotations

import hashlib

from pypi_witness.core.records import FileRecord


def record(i: int, variant: str = "", project: str = "demo") -> FileRecord:
    """The i-th test record; another ``variant`` gives the same filename other hashes."""
    seed = f"{i}/{variant}".encode()
    return FileRecord(
        project=project,
        version=f"1.{i}",
        filename=f"{project}-1.{i}-py3-none-any.whl",
        sha256=hashlib.sha256(seed).hexdigest(),
        blake2b_256=hashlib.blake2b(seed, digest_size=32).hexdigest(),
        size=1000 + i,
        upload_time="2024-01-02T03:04:05.000006Z",
        serial=i,
    )
