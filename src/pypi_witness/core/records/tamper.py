"""How a witness judges what an index serves against what it logged before.

Pure decisions over records; the follower gathers the facts (what the log holds
for a filename, its release and its project) and acts on the verdict.

An index may never:
- serve a logged filename with other digests or size (a *swap*): PyPI never
  reuses a filename, even after deleting the file;
- serve a filename again after removing it, its release or its project (a
  *resurrection*), with the same content or not;
- add a file to a release older than ``late_days`` days (PyPI's rule since
  2026): reported as suspicious, since an index could change the rule;
- serve a file at a path whose BLAKE2b part differs from the stated
  blake2b_256 (PyPI derives the path from the content's BLAKE2b-256).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from pypi_witness.core.records.values import is_hex64
from pypi_witness.core.records.format import AlarmKind, AlarmRecord, FileRecord, RemovalRecord, parse_record

_SHAPED_PATH = re.compile(r"/packages/([^/]{2})/([^/]{2})/([^/]+)/([^/]+)")


def path_blake2b(url: str) -> str | None:
    """The BLAKE2b-256 hex digest a PyPI-style download URL's path encodes.

    Returns None for a URL not shaped ``…/packages/<2>/<2>/<rest>/<filename>``
    (other layouts are not checkable), and the path's three hash parts joined
    (64 hex digits if well formed, anything else if not) otherwise.
    """
    path = unquote(urlsplit(url).path)
    match = _SHAPED_PATH.search(path)
    if match is None:
        return None
    return match[1] + match[2] + match[3]


def bad_path(record: FileRecord, url: str) -> AlarmRecord | None:
    """A ``bad-path`` alarm if ``url``'s BLAKE2b part is not ``record``'s blake2b_256."""
    found = path_blake2b(url)
    if found is None or found == record.blake2b_256:
        return None
    seen = found if is_hex64(found) else None
    return AlarmRecord(AlarmKind.BAD_PATH, record, seen_blake2b_256=seen)


def _instant(time: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(time[:-1])  # canonical: ...T15:12:42.313790Z


def is_late(record: FileRecord, release_times: Iterable[str], late_days: int) -> bool:
    """Whether ``record`` was uploaded more than ``late_days`` days after the
    release's first file (``release_times``: the upload times of the release's
    files, canonical). ``late_days`` 0 turns the check off."""
    if late_days <= 0:
        return False
    first = min(release_times, default=record.upload_time)
    return _instant(record.upload_time) - _instant(first) > datetime.timedelta(days=late_days)


@dataclass(frozen=True, slots=True)
class History:
    """What the log holds about one filename, in log order: the (index, leaf)
    pairs for the filename itself, its release key and its project key."""

    file_entries: tuple[tuple[int, bytes], ...]
    release_entries: tuple[tuple[int, bytes], ...] = ()
    project_entries: tuple[tuple[int, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to make of a file the index serves now.

    ``known``: the log holds a file record for it. ``same``: one of those has
    the same digests and size (so a new file record would be a duplicate).
    ``resurrected``: the log holds a removal of the file, its release or its
    project after its first file record.
    """

    known: bool
    same: bool
    resurrected: bool

    @property
    def swapped(self) -> bool:
        return self.known and not self.same


def judge(record: FileRecord, history: History) -> Verdict:
    """Compare ``record`` (as served now) with the log's ``history`` of its filename."""
    first_seen: int | None = None
    same = False
    removed_at: list[int] = []
    for index, leaf in history.file_entries:
        logged = parse_record(leaf)
        if type(logged) is FileRecord:
            if first_seen is None:
                first_seen = index
            if (logged.sha256, logged.blake2b_256, logged.size) == (record.sha256, record.blake2b_256, record.size):
                same = True
        elif type(logged) is RemovalRecord:
            removed_at.append(index)
    for entries in (history.release_entries, history.project_entries):
        removed_at.extend(index for index, leaf in entries if type(parse_record(leaf)) is RemovalRecord)
    resurrected = first_seen is not None and any(index > first_seen for index in removed_at)
    return Verdict(first_seen is not None, same, resurrected)
