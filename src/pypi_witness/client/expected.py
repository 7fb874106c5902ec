"""What one line of a target says a file must be, and the bounded reading of target files.

An :class:`Expected` is one thing to verify: a file named by its filename
(``name @ URL`` lines, lock file entries, local files), a release named by
``name==version`` (``pip-compile --generate-hashes`` lines), or an entry that
cannot be checked, with the reason. A :class:`TargetReader` reads every target
file (and include) of one run through ``bounded_file.read_bounded``, within a
cap per file and one budget for all of them, and reads an included file once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pypi_witness.bounded_file import read_bounded
from pypi_witness.core.errors import MalformedError

# The largest requirements or lock file read (a 10,000-pin lock file with
# hashes is about 10 MB; the largest uv.lock files seen are tens of MB).
MAX_TARGET_FILE_BYTES = 64 << 20
# All target files of one run together, includes counted.
MAX_TARGET_BYTES = 256 << 20


@dataclass(frozen=True, slots=True)
class Expected:
    """One thing to verify: where it was named, its filename and the hashes it must have.

    ``sha256`` holds every acceptable sha256 (lowercase hex; a requirement may
    list several); ``blake2b_256`` and ``size`` are checked too when known.
    ``release`` is the (normalized project, version as written) of a
    ``name==version`` line, which names no filename. ``reason`` says why it
    cannot be checked: with ``checkable`` False it never can be (an editable
    or directory requirement, a VCS checkout), else the target lacks what a
    check needs (no hash, no pinned version). ``hash_where`` gives the
    ``file:line`` each listed sha256 is on; ``label`` what the line names,
    for people (``certifi==2015.4.28``, ``-e .``).
    """

    where: str
    filename: str | None
    sha256: frozenset[str]
    blake2b_256: str | None = None
    size: int | None = None
    reason: str | None = None
    release: tuple[str, str] | None = None
    checkable: bool = True
    hash_where: tuple[tuple[str, str], ...] = ()
    label: str | None = None

    def line_of(self, sha256: str) -> str:
        """The ``file:line`` ``sha256`` is listed on (``where`` if not known)."""
        return next((w for h, w in self.hash_where if h == sha256), self.where)

    @property
    def shown(self) -> str:
        """What the entry names, for a report line: its label, filename or release."""
        if self.label:
            return self.label
        if self.filename:
            return self.filename
        return f"{self.release[0]}=={self.release[1]}" if self.release else ""


def not_checkable(where: str, label: str, reason: str) -> Expected:
    """An entry no log can ever vouch for (``reason`` says what it is instead of an index file)."""
    return Expected(where, None, frozenset(), reason=reason, checkable=False, label=label)


class TargetReader:
    """Reads target files within MAX_TARGET_FILE_BYTES each and ``budget`` bytes in all."""

    def __init__(self, budget: int = MAX_TARGET_BYTES, per_file: int = MAX_TARGET_FILE_BYTES) -> None:
        self.budget = budget
        self.remaining = budget
        self.per_file = per_file
        self.seen: set[Path] = set()

    def read(self, path: Path, what: str) -> bytes:
        """The bytes of ``path``: MalformedError as ``read_bounded`` raises it (a cap of ``per_file``),
        or when the files read in this run hold more than ``budget`` bytes together."""
        data = read_bounded(path, self.per_file, what)
        self.remaining -= len(data)
        if self.remaining < 0:
            raise MalformedError(f"{path}: the target files of this run hold more than {self.budget:,} bytes together")
        return data

    def first_time(self, path: Path) -> bool:
        """True the first time ``path`` (resolved) is asked about in this run."""
        resolved = path.resolve()
        if resolved in self.seen:
            return False
        self.seen.add(resolved)
        return True
