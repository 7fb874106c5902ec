"""Test records, the same everywhere."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

from pypi_witness.core.records.format import FileRecord


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


def _load_generator():
    """scripts/gen_records.py as a module (scripts/ is not a package)."""
    path = Path(__file__).resolve().parent.parent / "scripts" / "gen_records.py"
    spec = importlib.util.spec_from_file_location("gen_records", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen_records = _load_generator()


def generated_lines(n: int, seed: int) -> list[bytes]:
    """``n`` BigQuery-shaped JSON lines from scripts/gen_records.py."""
    return [json.dumps(row, separators=(",", ":")).encode() + b"\n" for row in gen_records.generate(n, seed)]
