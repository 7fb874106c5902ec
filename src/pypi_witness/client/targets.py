"""What a user wants verified: the files a requirements file, a lock file or a directory names.

Each target becomes one or more :class:`Expected` files, each with the
filename to look up and the hashes it must have:

* a pip requirements file (``*.txt``, ``*.in``, or a name holding
  "requirements"), in pip's format: ``\\`` line continuations, ``#`` comments,
  ``-r``/``--requirement`` includes relative to the including file, and
  ``--hash=sha256:HEX`` options (several per requirement: any one may match).
  The filename comes from the requirement's URL or path (``name @ URL``, a bare
  URL or path); a ``name==version`` line (as ``pip-compile --generate-hashes``
  writes) names a release instead (``Expected.release``): every listed hash
  must be the hash of a file the witnesses logged for that release; any other
  line without a single pinned version is reported as not checkable;
* a PEP 751 lock file (``pylock.toml`` or ``pylock.*.toml``): every
  ``[[packages]]`` ``wheels`` entry and ``sdist``, with ``name`` (or the last
  segment of ``url``/``path``), ``hashes.sha256`` and ``size``;
* any other path: a local distribution file, hashed here (sha256, BLAKE2b-256
  and size all must match).

Every problem with a target raises MalformedError with one line naming the
file, the line (or key) and what is wrong: an unreadable or missing file, an
include cycle, an unknown option, a malformed ``--hash`` value, a TOML error,
a lock entry without a name or hashes.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pypi_witness.core.records.values import normalize_project
from pypi_witness.core.errors import MalformedError

_HEX64 = re.compile("[0-9a-f]{64}")
_HASH_VALUE = re.compile(r"(sha256|sha384|sha512):([0-9a-fA-F]+)")
_HASH_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_DIRECT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*@\s*(\S+)")
# name[extras]==version (or ===), with an optional environment marker: one exact version.
_PINNED = re.compile(r"([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[[^\]]*\])?\s*===?\s*([^\s;,*=<>!~]+)\s*(?:;.*)?")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_DIST_SUFFIXES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz", ".egg")
# Options pip accepts on a line of their own, and whether they take a value.
_GLOBAL_OPTIONS = {
    "-i": True, "--index-url": True, "--extra-index-url": True, "--no-index": False,
    "-f": True, "--find-links": True, "--pre": False, "--trusted-host": True,
    "--only-binary": True, "--no-binary": True, "--prefer-binary": False,
    "--require-hashes": False, "--use-feature": True, "-c": True, "--constraint": True,
}  # fmt: skip
_READ_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Expected:
    """One file to verify: where it was named, its filename and the hashes it must have.

    ``sha256`` holds every acceptable sha256 (lowercase hex; a requirement may
    list several); ``blake2b_256`` and ``size`` are checked too when known
    (local files). ``reason`` says why the file cannot be checked (no
    filename, no sha256); then ``filename`` may be None.
    """

    where: str
    filename: str | None
    sha256: frozenset[str]
    blake2b_256: str | None = None
    size: int | None = None
    reason: str | None = None
    release: tuple[str, str] | None = None  # (normalized project, version) of a name==version line


def is_bundle(path: str) -> bool:
    """True if ``path`` names a tlog-proof bundle (``*.tlog-proof``)."""
    return path.endswith(".tlog-proof")


def is_requirements(path: Path) -> bool:
    return path.suffix in (".txt", ".in") or "requirements" in path.name


def is_pylock(path: Path) -> bool:
    return path.name == "pylock.toml" or (path.name.startswith("pylock.") and path.name.endswith(".toml"))


def expected_from(target: str) -> list[Expected]:
    """The files ``target`` names (see the module docstring). MalformedError for a bad target."""
    path = Path(target)
    if is_pylock(path):
        return pylock_files(path)
    if is_requirements(path):
        return requirements_files(path)
    return [local_file(path)]


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise MalformedError(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise MalformedError(f"{path}: is a directory, not a {what}") from None
    except OSError as e:
        raise MalformedError(f"{path}: cannot read the {what}: {e.strerror or e}") from None


# --- local files -------------------------------------------------------------------


def local_file(path: Path) -> Expected:
    """A local distribution file, hashed: its sha256, BLAKE2b-256 and size. MalformedError if unreadable."""
    sha256, blake2b = hashlib.sha256(), hashlib.blake2b(digest_size=32)
    size = 0
    try:
        with open(path, "rb") as f:
            while chunk := f.read(_READ_CHUNK):
                sha256.update(chunk)
                blake2b.update(chunk)
                size += len(chunk)
    except FileNotFoundError:
        raise MalformedError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise MalformedError(f"{path}: is a directory, not a distribution file") from None
    except OSError as e:
        raise MalformedError(f"{path}: cannot read: {e.strerror or e}") from None
    return Expected(str(path), path.name, frozenset({sha256.hexdigest()}), blake2b.hexdigest(), size)


# --- requirements files ---------------------------------------------------------------


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, line) with continuations joined and comments removed, as pip reads them."""
    start, parts = 0, []
    for number, raw in enumerate(text.splitlines(), 1):
        if not parts:
            start = number
        # pip: a comment starts at a '#' at the line's start or after whitespace
        line = re.sub(r"(^|\s+)#.*$", "", raw)
        if line.endswith("\\") and not raw.lstrip().startswith("#"):
            parts.append(line[:-1])
            continue
        parts.append(line)
        joined = " ".join(p.strip() for p in parts).strip()
        parts = []
        if joined:
            yield start, joined
    if parts:
        joined = " ".join(p.strip() for p in parts).strip()
        if joined:
            yield start, joined


def _option_value(tokens: list[str], i: int, where: str) -> tuple[str, int]:
    """The value of the option at tokens[i] (``--opt=value`` or ``--opt value``) and the next index."""
    token = tokens[i]
    if "=" in token and token.startswith("--"):
        return token.split("=", 1)[1], i + 1
    if len(token) > 2 and token[1] != "-":  # -rfile
        return token[2:], i + 1
    if i + 1 >= len(tokens):
        raise MalformedError(f"{where}: {token} needs a value")
    return tokens[i + 1], i + 2


def _filename_of(location: str) -> str:
    """The last path segment of a URL or path, without query or fragment."""
    if _SCHEME.match(location):
        path = urllib.parse.unquote(urllib.parse.urlsplit(location).path)
    else:
        path = location.split("#", 1)[0]
    return path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


def _requirement(where: str, requirement: str, hashes: list[str]) -> Expected:
    sha256 = frozenset(h.split(":", 1)[1].lower() for h in hashes if h.startswith("sha256:"))
    direct = _DIRECT.match(requirement)
    location = direct.group(2) if direct else requirement.split(";", 1)[0].strip()
    if location.startswith(("git+", "hg+", "svn+", "bzr+")):
        return Expected(where, None, sha256, reason=f"{requirement!r} is a VCS requirement, not a file on an index")
    if direct or _SCHEME.match(location) or "/" in location or location.endswith(_DIST_SUFFIXES):
        fragment = urllib.parse.urlsplit(location).fragment if "#" in location else ""
        for key, value in urllib.parse.parse_qsl(fragment):
            if key == "sha256" and _HEX64.fullmatch(value.lower()):
                sha256 |= {value.lower()}
        filename = _filename_of(location)
        if not filename:
            raise MalformedError(f"{where}: {requirement!r} names no file")
        if not sha256:
            return Expected(where, filename, sha256, reason="no --hash=sha256:... to check it against")
        return Expected(where, filename, sha256)
    if _NAME.match(requirement) is None:
        raise MalformedError(f"{where}: {requirement!r} is not a requirement")
    if not sha256:
        return Expected(where, None, sha256, reason=f"{requirement!r} has no --hash=sha256:... to check")
    pinned = _PINNED.fullmatch(requirement)
    if pinned is None:
        return Expected(
            where, None, sha256,
            reason=f"{requirement!r} pins no single version (use name==version, or the file's URL: "
            "'name @ https://.../file.whl')",
        )  # fmt: skip
    return Expected(where, None, sha256, release=(normalize_project(pinned.group(1)), pinned.group(2)))


def requirements_files(path: Path, _seen: tuple[Path, ...] = ()) -> list[Expected]:
    """Every requirement of a pip requirements file (and its ``-r`` includes), in order.

    MalformedError (naming file and line) for an unreadable file or include,
    an include cycle, an unknown option, a ``--hash`` that is not
    ``sha256|sha384|sha512:HEX`` of the right length, or a line that is not a
    requirement.
    """
    resolved = path.resolve()
    if resolved in _seen:
        raise MalformedError(f"{path}: includes itself (through -r)")
    data = _read(path, "requirements file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedError(f"{path}: not UTF-8 text") from None
    out: list[Expected] = []
    for number, line in _logical_lines(text):
        where = f"{path}:{number}"
        tokens = line.split()
        if tokens[0] in ("-r", "--requirement") or tokens[0].startswith(("-r", "--requirement=")):
            name, _ = _option_value(tokens, 0, where)
            out += requirements_files(path.parent / name, (*_seen, resolved))
            continue
        if tokens[0] in ("-e", "--editable") or tokens[0].startswith("--editable="):
            out.append(Expected(where, None, frozenset(), reason="an editable requirement is not a file on an index"))
            continue
        if tokens[0].startswith("-"):
            option = tokens[0].split("=", 1)[0]
            if option not in _GLOBAL_OPTIONS:
                raise MalformedError(f"{where}: unknown option {option}")
            continue
        first_option = next((i for i, t in enumerate(tokens) if t.startswith("-")), len(tokens))
        requirement = " ".join(tokens[:first_option])
        hashes: list[str] = []
        i = first_option
        while i < len(tokens):
            if tokens[i] == "--hash" or tokens[i].startswith("--hash="):
                value, i = _option_value(tokens, i, where)
                match = _HASH_VALUE.fullmatch(value)
                if match is None or len(match.group(2)) != _HASH_LENGTHS[match.group(1)]:
                    raise MalformedError(f"{where}: --hash={value} is not sha256:<64 hex digits> (or sha384/sha512)")
                hashes.append(value)
            else:
                i += 1  # other per-requirement options (--config-settings...) do not concern us
        out.append(_requirement(where, requirement, hashes))
    return out


# --- pylock.toml (PEP 751) ------------------------------------------------------------


def _lock_file(path: Path, where: str, entry: Any) -> Expected:
    if not isinstance(entry, dict):
        raise MalformedError(f"{path}: {where} must be a table")
    name = entry.get("name")
    location = entry.get("url") or entry.get("path")
    if name is None and isinstance(location, str):
        name = _filename_of(location)
    if not isinstance(name, str) or not name:
        raise MalformedError(f"{path}: {where} has no name, url or path to take a filename from")
    hashes = entry.get("hashes")
    if not isinstance(hashes, dict) or not hashes:
        raise MalformedError(f"{path}: {where} ({name}) has no hashes table")
    size = entry.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise MalformedError(f"{path}: {where} ({name}): size must be a whole number, got {size!r}")
    sha256 = hashes.get("sha256")
    if sha256 is None:
        return Expected(f"{path}:{name}", name, frozenset(), size=size, reason="the lock file gives no sha256 hash")
    if not isinstance(sha256, str) or not _HEX64.fullmatch(sha256.lower()):
        raise MalformedError(f"{path}: {where} ({name}): hashes.sha256 is not 64 hex digits")
    return Expected(f"{path}:{name}", name, frozenset({sha256.lower()}), size=size)


def pylock_files(path: Path) -> list[Expected]:
    """Every wheel and sdist of a PEP 751 lock file.

    A package locked as a VCS checkout, a directory or an archive URL is not
    a file on an index: it is reported with that reason. MalformedError for
    invalid TOML, a missing ``lock-version`` or ``packages``, or a wheel or
    sdist entry without a name or hashes.
    """
    data = _read(path, "lock file")
    try:
        lock = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise MalformedError(f"{path}: not a valid TOML lock file: {e}") from None
    if not isinstance(lock.get("lock-version"), str):
        raise MalformedError(f"{path}: no lock-version: not a PEP 751 lock file")
    packages = lock.get("packages")
    if not isinstance(packages, list):
        raise MalformedError(f"{path}: no [[packages]] array")
    out: list[Expected] = []
    for i, package in enumerate(packages):
        if not isinstance(package, dict) or not isinstance(package.get("name"), str):
            raise MalformedError(f"{path}: packages[{i}] has no name")
        label = f"packages[{i}] ({package['name']})"
        wheels = package.get("wheels", [])
        if not isinstance(wheels, list):
            raise MalformedError(f"{path}: {label}.wheels must be an array of tables")
        for j, wheel in enumerate(wheels):
            out.append(_lock_file(path, f"{label}.wheels[{j}]", wheel))
        if "sdist" in package:
            out.append(_lock_file(path, f"{label}.sdist", package["sdist"]))
        if not wheels and "sdist" not in package:
            kind = next((k for k in ("vcs", "directory", "archive") if k in package), "no file")
            out.append(
                Expected(f"{path}:{package['name']}", None, frozenset(),
                         reason=f"locked as {kind}, not as a file on an index")
            )  # fmt: skip
    return out
