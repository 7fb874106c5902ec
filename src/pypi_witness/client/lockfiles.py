"""Lock files in TOML: PEP 751 ``pylock.toml`` (``pip lock``, ``uv export --format pylock.toml``) and ``uv.lock``.

Each file entry (a wheel or an sdist) becomes an :class:`Expected` named by
its real filename: the last segment of its ``url`` (or ``path``) when that is
a distribution filename, since PEP 751 does not promise that ``name`` is the index's filename
(``uv export`` writes ``pysocks-1.7.1-py3-none-any.whl`` for PyPI's
``PySocks-1.7.1-py3-none-any.whl``); ``name`` otherwise. A package locked as a
directory, an editable project or a VCS checkout is never checkable.

``uv.lock`` (uv's own format, ``version = 1``): every ``[[package]]`` with a
``source`` of ``registry``, ``url`` or ``path`` gives its ``sdist`` and
``wheels`` (``hash = "sha256:HEX"``, ``size``); ``editable``, ``directory``,
``virtual`` and ``git`` sources are never checkable.

MalformedError, one line naming the file and the entry, for invalid TOML, a
file that is not a lock of that kind, or an entry without a filename or hashes.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pypi_witness.client.expected import Expected, TargetReader, not_checkable
from pypi_witness.client.filenames import is_distribution
from pypi_witness.client.requirements import filename_of
from pypi_witness.core.errors import MalformedError

_HEX64 = re.compile("[0-9a-f]{64}")
_NEVER = {
    "vcs": "a VCS checkout", "directory": "a local directory", "editable": "an editable project",
    "virtual": "a virtual project (no files)", "git": "a git checkout",
}  # fmt: skip


def _load(path: Path, reader: TargetReader, what: str) -> dict[str, Any]:
    data = reader.read(path, what)
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise MalformedError(f"{path}: not a valid TOML {what}: {e}") from None


def _size(path: Path, where: str, value: object) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise MalformedError(f"{path}: {where}: size must be a whole number, got {str(value)[:40]!r}")
    return value  # type: ignore[return-value]


def _entry_filename(entry: dict[str, Any], fallback: str | None) -> str | None:
    """The real filename of a lock entry: the last segment of ``url`` or ``path`` if it is a distribution
    filename, else ``name`` (or uv's ``filename``), else ``fallback``, else any non-empty one of them."""
    candidates = [filename_of(entry[k]) for k in ("url", "path") if isinstance(entry.get(k), str)]
    candidates += [entry[k] for k in ("name", "filename") if isinstance(entry.get(k), str)]
    candidates = [c for c in (*candidates, fallback) if c]
    return next((c for c in candidates if is_distribution(c)), candidates[0] if candidates else None)


def _sha256(path: Path, where: str, value: object) -> str:
    if not isinstance(value, str) or not _HEX64.fullmatch(value.lower()):
        raise MalformedError(f"{path}: {where}: the sha256 hash is not 64 hex digits")
    return value.lower()


# --- pylock.toml (PEP 751) ------------------------------------------------------------


def _pylock_file(path: Path, where: str, entry: Any, fallback: str | None = None) -> Expected:
    if not isinstance(entry, dict):
        raise MalformedError(f"{path}: {where} must be a table")
    name = _entry_filename(entry, fallback)
    if name is None:
        raise MalformedError(f"{path}: {where} has no name, url or path to take a filename from")
    hashes = entry.get("hashes")
    if not isinstance(hashes, dict) or not hashes:
        raise MalformedError(f"{path}: {where} ({name}) has no hashes table")
    size = _size(path, f"{where} ({name})", entry.get("size"))
    if hashes.get("sha256") is None:
        return Expected(f"{path}:{name}", name, frozenset(), size=size, reason="the lock file gives no sha256 hash")
    return Expected(f"{path}:{name}", name, frozenset({_sha256(path, f"{where} ({name}).hashes", hashes["sha256"])}),
                    size=size)  # fmt: skip


def pylock_files(path: Path, reader: TargetReader | None = None) -> list[Expected]:
    """Every wheel, sdist and archive of a PEP 751 lock file; directories and VCS checkouts as not checkable.

    MalformedError for invalid TOML, a missing ``lock-version`` or
    ``packages``, or a file entry without a filename or hashes.
    """
    lock = _load(path, reader or TargetReader(), "lock file")
    if not isinstance(lock.get("lock-version"), str):
        raise MalformedError(f"{path}: no lock-version: not a PEP 751 lock file")
    packages = lock.get("packages")
    if not isinstance(packages, list):
        raise MalformedError(f"{path}: no [[packages]] array")
    out: list[Expected] = []
    for i, package in enumerate(packages):
        if not isinstance(package, dict) or not isinstance(package.get("name"), str):
            raise MalformedError(f"{path}: packages[{i}] has no name")
        label = f"packages[{i}] ({package['name'][:80]})"
        wheels = package.get("wheels", [])
        if not isinstance(wheels, list):
            raise MalformedError(f"{path}: {label}.wheels must be an array of tables")
        for j, wheel in enumerate(wheels):
            out.append(_pylock_file(path, f"{label}.wheels[{j}]", wheel))
        if "sdist" in package:
            out.append(_pylock_file(path, f"{label}.sdist", package["sdist"]))
        if "archive" in package:
            out.append(_pylock_file(path, f"{label}.archive", package["archive"]))
        if not wheels and "sdist" not in package and "archive" not in package:
            kind = next((k for k in ("vcs", "directory") if k in package), None)
            reason = f"locked as {_NEVER[kind]}, not as a file on an index" if kind else "locked with no file to check"
            out.append(not_checkable(f"{path}:{package['name']}", package["name"], reason))
    return out


# --- uv.lock --------------------------------------------------------------------------


def _uv_file(path: Path, where: str, entry: Any, fallback: str | None) -> Expected:
    if not isinstance(entry, dict):
        raise MalformedError(f"{path}: {where} must be a table")
    name = _entry_filename(entry, fallback)
    if name is None:
        raise MalformedError(f"{path}: {where} has no url, path or filename to take a filename from")
    size = _size(path, f"{where} ({name})", entry.get("size"))
    value = entry.get("hash")
    if not isinstance(value, str) or ":" not in value:
        raise MalformedError(f"{path}: {where} ({name}) has no hash = \"sha256:...\"")
    algorithm, digest = value.split(":", 1)
    if algorithm != "sha256":
        reason = f"the lock file gives a {algorithm[:20]} hash, not sha256"
        return Expected(f"{path}:{name}", name, frozenset(), size=size, reason=reason)
    return Expected(f"{path}:{name}", name, frozenset({_sha256(path, f"{where} ({name}).hash", digest)}), size=size)


def uv_lock_files(path: Path, reader: TargetReader | None = None) -> list[Expected]:
    """Every file of every package a ``uv.lock`` locks (see the module docstring), in order.

    MalformedError for invalid TOML, no ``version`` or ``[[package]]``, or a
    file entry without a filename or a hash.
    """
    lock = _load(path, reader or TargetReader(), "uv.lock")
    if not isinstance(lock.get("version"), int) or not isinstance(lock.get("package", []), list):
        raise MalformedError(f"{path}: no version and [[package]] array: not a uv.lock file")
    out: list[Expected] = []
    for i, package in enumerate(lock.get("package", [])):
        if not isinstance(package, dict) or not isinstance(package.get("name"), str):
            raise MalformedError(f"{path}: package[{i}] has no name")
        label = f"package[{i}] ({package['name'][:80]})"
        source = package.get("source", {})
        kind = next(iter(source), None) if isinstance(source, dict) else None
        if kind in _NEVER:
            out.append(not_checkable(f"{path}:{package['name']}", package["name"],
                                     f"locked as {_NEVER[kind]}, not as a file on an index"))  # fmt: skip
            continue
        # A direct URL or path source names the archive; its sdist or wheel entry may not repeat it.
        located = source.get(kind) if kind in ("url", "path") else None
        fallback = filename_of(located) if isinstance(located, str) else None
        wheels = package.get("wheels", [])
        if not isinstance(wheels, list):
            raise MalformedError(f"{path}: {label}.wheels must be an array of tables")
        files = [_uv_file(path, f"{label}.wheels[{j}]", w, fallback) for j, w in enumerate(wheels)]
        if "sdist" in package:
            files.append(_uv_file(path, f"{label}.sdist", package["sdist"], fallback))
        if not files:
            files.append(not_checkable(f"{path}:{package['name']}", package["name"], "locked with no file to check"))
        out += files
    return out
