"""Distribution filenames the way installers read them (``packaging.utils``, which pip uses).

A lock file may spell a file's name otherwise than the index does: ``uv export
--format pylock.toml`` writes ``name = "pysocks-1.7.1-py3-none-any.whl"`` for
PyPI's ``PySocks-1.7.1-py3-none-any.whl``, and ``certifi-2015.4.28-...`` for
``certifi-2015.04.28-...``. Installers compare the parsed parts, normalized:
the project name (PEP 503), the version (PEP 440), and for a wheel its build
tag and its set of compatibility tags; for an sdist its archive format. Two
filenames with the same :func:`identity` name the same file of a release (PyPI
refuses a second upload with the same parts).

Pure: strings in, values out.
"""

from __future__ import annotations

import functools
import re

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_version,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion

# Archive formats PyPI has accepted over the years besides wheels and PEP 625 sdists.
LEGACY_SUFFIXES = (
    ".tar.bz2", ".tar.xz", ".tar.Z", ".tgz", ".tbz", ".tar", ".egg", ".exe", ".msi", ".rpm", ".dmg", ".deb",
)  # fmt: skip
# name-version...: a project name, a dash, a digit (how every legacy distribution filename starts).
_LEGACY_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+]*(?:-[A-Za-z0-9._+]+)*?-[0-9]")

Identity = tuple[object, ...]


def _wheel(filename: str) -> Identity | None:
    try:
        name, version, build, tags = parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidVersion):
        return None
    return ("wheel", name, canonicalize_version(version), build, frozenset(str(t) for t in tags))


def _sdist(filename: str) -> Identity | None:
    try:
        name, version = parse_sdist_filename(filename)
    except (InvalidSdistFilename, InvalidVersion):
        return None
    return ("sdist", name, canonicalize_version(version), ".zip" if filename.endswith(".zip") else ".tar.gz")


@functools.lru_cache(maxsize=1 << 16)
def identity(filename: str) -> Identity:
    """What an installer takes ``filename`` to name: equal identities name the same file.

    Wheels and sdists (``.tar.gz``, ``.zip``) by their normalized parts; any
    other filename by itself, exactly. Never raises.
    """
    if filename.endswith(".whl"):
        found = _wheel(filename)
    elif filename.endswith((".tar.gz", ".zip")):
        found = _sdist(filename)
    else:
        found = None
    return found if found is not None else ("file", filename)


def is_distribution(filename: str) -> bool:
    """True if ``filename`` has the grammar of a file an index serves: a wheel, an sdist, or a legacy
    archive (``LEGACY_SUFFIXES``, named ``<name>-<version>...``). Never raises."""
    if identity(filename)[0] != "file":
        return True
    return filename.endswith(LEGACY_SUFFIXES) and _LEGACY_STEM.match(filename) is not None


def release_of(filename: str) -> tuple[str, str] | None:
    """(normalized project, canonical version) of a wheel or sdist filename; None for any other.

    Never raises.
    """
    found = identity(filename)
    if found[0] == "file":
        return None
    return str(found[1]), str(found[2])
