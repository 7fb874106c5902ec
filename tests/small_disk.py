"""A real, small filesystem for disk-full tests: a tmpfs of a few MiB mounted in the test's directory.

Mounting needs root (or CAP_SYS_ADMIN); without it the tests that need a real
full disk are skipped, and the map-full tests (no privileges needed) still run.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_filesystem(path: Path, size_kib: int) -> Iterator[Path]:
    """A tmpfs of ``size_kib`` KiB mounted at ``path`` (made if missing), unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0755", "tmpfs", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def fill(directory: Path, leave: int = 0) -> Path:
    """Fill the filesystem of ``directory`` with a file, leaving about ``leave`` bytes free; the file."""
    filler = directory / "filler"
    stat = os.statvfs(directory)
    free = stat.f_bfree * stat.f_frsize
    with open(filler, "wb") as f:
        try:
            f.write(b"\0" * max(free - leave, 0))
            f.flush()
        except OSError:
            pass  # full: what was written stays
    return filler
