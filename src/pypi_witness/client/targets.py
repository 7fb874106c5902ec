"""What a user wants verified: the files a requirements file, a lock file or a local distribution names.

A target is, by its name:

* ``*.tlog-proof``: an offline bundle (``client.bundles``);
* ``pylock.toml`` or ``pylock.<name>.toml``: a PEP 751 lock file;
* ``uv.lock``: uv's lock file (``client.lockfiles``);
* ``*.txt``, ``*.in`` or a name holding "requirements": a pip requirements
  file (``client.requirements``);
* a distribution filename (a wheel, an sdist, a legacy archive:
  ``client.filenames``): a local file, hashed here (sha256, BLAKE2b-256 and
  size all must match).

Anything else (``pyproject.toml``, ``poetry.lock``, ``Pipfile.lock``, a
directory...) is refused before anything is read or sent: it is not a file an
index serves, and hashing it would only ask nodes about a name no log holds.

Every problem with a target raises MalformedError with one line naming the
file (and the line or entry) and what is wrong.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from pypi_witness.client.expected import Expected, TargetReader
from pypi_witness.client.filenames import is_distribution
from pypi_witness.client.lockfiles import pylock_files, uv_lock_files
from pypi_witness.client.requirements import requirements_files
from pypi_witness.core.errors import MalformedError

__all__ = ["Expected", "expected_from", "is_bundle", "local_file", "pylock_files", "requirements_files"]

_READ_CHUNK = 1 << 20
# What to pass instead of a file that is not a target, by its name.
_INSTEAD = {
    "pyproject.toml": "lock it first (uv lock, pip lock, pip-compile --generate-hashes) and pass the lock file",
    "poetry.lock": "export it with hashes (poetry export -f requirements.txt) and pass that file",
    "pipfile.lock": "export it with hashes (pipenv requirements --hash) and pass that file",
    "pipfile": "lock and export it with hashes (pipenv requirements --hash) and pass that file",
    "setup.py": "lock the project's dependencies with hashes and pass the lock file",
    "setup.cfg": "lock the project's dependencies with hashes and pass the lock file",
}


def is_bundle(path: str) -> bool:
    """True if ``path`` names a tlog-proof bundle (``*.tlog-proof``)."""
    return path.endswith(".tlog-proof")


def is_requirements(path: Path) -> bool:
    return path.suffix in (".txt", ".in") or "requirements" in path.name


def is_pylock(path: Path) -> bool:
    return path.name == "pylock.toml" or (path.name.startswith("pylock.") and path.name.endswith(".toml"))


def is_uv_lock(path: Path) -> bool:
    return path.name == "uv.lock"


def expected_from(target: str, reader: TargetReader | None = None) -> list[Expected]:
    """The files ``target`` names (see the module docstring).

    ``reader`` bounds the bytes read over a whole run. MalformedError for a
    bad target, or one that is not a kind of target at all (saying what to
    pass instead).
    """
    reader = reader if reader is not None else TargetReader()
    path = Path(target)
    if is_pylock(path):
        return pylock_files(path, reader)
    if is_uv_lock(path):
        return uv_lock_files(path, reader)
    if is_requirements(path):
        return requirements_files(path, reader)
    if is_distribution(path.name):
        return [local_file(path)]
    instead = _INSTEAD.get(path.name.lower(), "pass a requirements file with --hash options, a pylock.toml, a "
                                              "uv.lock, a distribution file or a *.tlog-proof bundle")  # fmt: skip
    kind = "a directory" if path.is_dir() else "not a distribution file, requirements file or lock file"
    raise MalformedError(f"{path}: {kind}, so there is nothing a witness logs to check it against: {instead}")


def local_file(path: Path) -> Expected:
    """A local distribution file, hashed: its sha256, BLAKE2b-256 and size.

    MalformedError if it does not exist, is not a regular file (a device or
    pipe could be read forever), or cannot be read.
    """
    sha256, blake2b = hashlib.sha256(), hashlib.blake2b(digest_size=32)
    size = 0
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise MalformedError(f"{path}: is a directory, not a distribution file")
        if not stat.S_ISREG(mode):
            raise MalformedError(f"{path}: not a regular file (a device, pipe or socket), so not a distribution file")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            while chunk := f.read(_READ_CHUNK):
                sha256.update(chunk)
                blake2b.update(chunk)
                size += len(chunk)
    except FileNotFoundError:
        raise MalformedError(f"{path}: no such file") from None
    except OSError as e:
        raise MalformedError(f"{path}: cannot read: {e.strerror or e}") from None
    return Expected(str(path), path.name, frozenset({sha256.hexdigest()}), blake2b.hexdigest(), size)
