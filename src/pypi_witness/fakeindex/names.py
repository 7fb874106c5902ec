"""Names as PyPI handles them: project name normalization, filename kinds, version order."""

from __future__ import annotations

import re

from pypi_witness.core.errors import MalformedError, quoted

_PROJECT = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)  # PEP 508 names
_VERSION = re.compile(r"^[A-Za-z0-9._+!-]{1,64}$")
_FILENAME = re.compile(r"^[A-Za-z0-9._+!-]{1,200}$")
_SEPARATORS = re.compile(r"[-_.]+")
_PEP440 = re.compile(r"^(\d+(?:\.\d+)*)(?:(a|b|rc)(\d+))?(?:\.post(\d+))?(?:\.dev(\d+))?$")

SDIST_SUFFIXES = (".tar.gz", ".zip", ".tar.bz2", ".tgz")


def normalize(name: str) -> str:
    """PEP 503 normalization: runs of ``-``, ``_``, ``.`` become ``-``, lower case."""
    return _SEPARATORS.sub("-", name).lower()


def check_project(name: str) -> str:
    """``name`` if it is a valid PEP 508 project name; raises ``MalformedError`` otherwise."""
    if not isinstance(name, str) or not _PROJECT.match(name):
        raise MalformedError(f"not a valid project name: {quoted(name)}")
    return name


def check_version(version: str) -> str:
    """``version`` if it is a plausible version string; raises ``MalformedError`` otherwise."""
    if not isinstance(version, str) or not _VERSION.match(version):
        raise MalformedError(f"not a valid version: {quoted(version)}")
    return version


def file_kind(filename: str) -> tuple[str, str]:
    """``(packagetype, python_version)`` for a distribution filename, as warehouse records them.

    Wheels are ``bdist_wheel`` with their python tag (``py3``, ``cp311``...), source
    archives ``sdist`` with ``source``. Raises ``MalformedError`` for anything else.
    """
    if not isinstance(filename, str) or not _FILENAME.match(filename):
        raise MalformedError(f"not a valid distribution filename: {quoted(filename)}")
    if filename.endswith(".whl"):
        parts = filename[: -len(".whl")].split("-")
        if len(parts) not in (5, 6) or not all(parts):
            raise MalformedError(f"not a valid wheel filename: {quoted(filename)}")
        return "bdist_wheel", parts[-3]
    if filename.endswith(SDIST_SUFFIXES):
        return "sdist", "source"
    raise MalformedError(f"not a wheel or source archive: {quoted(filename)}")


def version_key(version: str) -> tuple:
    """A sort key putting PEP 440 versions in order (dev < pre < final < post); others sort first, by text."""
    m = _PEP440.match(version)
    if not m:
        return (0, (), 0, 0, 0, 0, version)
    release = tuple(int(p) for p in m.group(1).split("."))
    while len(release) > 1 and release[-1] == 0:
        release = release[:-1]
    pre = (("a", "b", "rc").index(m.group(2)), int(m.group(3))) if m.group(2) else (3, 0)
    post = int(m.group(4)) if m.group(4) else -1
    dev = int(m.group(5)) if m.group(5) else 1 << 62
    if m.group(5) and not m.group(2) and not m.group(4):
        pre = (-1, 0)  # 1.0.dev1 sorts before 1.0a1
    return (1, release, pre, post, dev, 0, "")


def is_prerelease(version: str) -> bool:
    m = _PEP440.match(version)
    return bool(m and (m.group(2) or m.group(5)))
