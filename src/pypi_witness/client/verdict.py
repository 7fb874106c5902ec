"""The verdict on one expected file or release, from what every source (a node, a bundle) proved.

Pure: values in, a :class:`Verdict` out. A *source* is trusted when its
answer verified and its checkpoint satisfies the policy's quorum; only trusted
sources decide. For a filename a source logged several times with different
hashes (the index swapped the file), the first entry is what that source
vouches for: PyPI never reuses a filename for other content, so the later
ones are the evidence of a swap.

A filename is looked for as written and, failing that, among its release's
logged files by installer identity (``client.filenames.identity``): a lock
file's ``pysocks-1.7.1-py3-none-any.whl`` is PyPI's
``PySocks-1.7.1-py3-none-any.whl``.

When trusted sources disagree, the policy settles it as ``core.disputes.settle`` does
for nodes: each log votes through the witness its node runs
(``core.disputes.settle.voter_for_log``), one vote per log (a log whose sources
disagree casts none), and a value wins if its voters satisfy the policy's
quorum and no other value's do. A quorum of colluding logs wins: that is the
policy's limit.

The rule for a file no log holds (the same for every kind of target): a file
that is simply not logged yet is UNKNOWN; MISMATCH needs evidence: a trusted
log that holds that filename with other hashes (or a size), or a quorum that
vouches for other ones. A ``name==version`` line names no file, so a listed
hash is judged as the file it is the hash of: a hash that is no logged file
of the release is UNKNOWN (a wheel uploaded after the logs' last entry looks
exactly like that), and a MISMATCH only when that hash is what the index
later served in place of a logged file (a swap the log recorded).

The outcomes:

* ``OK`` — a trusted source vouches for exactly the expected hashes, and no
  trusted source vouches for others; or, given the policy, trusted sources
  disagree and the expected hashes are the ones a quorum of the logs' voters
  vouches for (the reason names each overruled log and its sha256);
* ``MISMATCH`` — every trusted source that logged the filename vouches for
  other hashes or another size (the evidence names each: source, entry
  index, logged values); or, given the policy, trusted sources disagree and
  a quorum vouches for other hashes than the expected ones;
* ``UNRESOLVED`` — trusted sources disagree with each other and no one value
  has a quorum (or no policy was given), or only sources whose checkpoint
  lacks the quorum have logged the file;
* ``UNKNOWN`` — no source has logged the file yet, or the target lacks what a
  check needs (no sha256, no pinned version: the reason says which);
* ``NOT_CHECKABLE`` — never checkable: an editable or directory requirement,
  a VCS checkout, a URL naming no distribution file.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pypi_witness.client.expected import Expected
from pypi_witness.client.filenames import identity, release_of
from pypi_witness.core.quorum.policy import Policy
from pypi_witness.core.quorum.evaluation import evaluate
from pypi_witness.core.records.format import FileRecord, release_key
from pypi_witness.core.disputes.settle import Value, voter_for_log

# Items a reason lists before it says "and N more" (the JSON has them all).
SHOWN = 4


class Status(enum.Enum):
    OK = "OK"
    MISMATCH = "MISMATCH"
    UNRESOLVED = "UNRESOLVED"
    UNKNOWN = "UNKNOWN"
    NOT_CHECKABLE = "NOT_CHECKABLE"


@dataclass(frozen=True, slots=True)
class Statement:
    """What one source proved about one filename: the first file entry, and later ones with other hashes."""

    source: str
    origin: str
    tree_size: int
    index: int
    record: FileRecord
    trusted: bool
    swaps: tuple[tuple[int, FileRecord], ...] = ()


@dataclass(frozen=True, slots=True)
class SourceAnswer:
    """One source's verified answer: its log, whether its checkpoint is trusted (and why not), its statements."""

    source: str
    origin: str
    tree_size: int
    trusted: bool
    why_untrusted: str | None
    statements: Mapping[str, Statement] = field(default_factory=dict)
    # release key (core.records.format.release_key) -> the filenames this source logged for that release
    releases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HashFinding:
    """For a ``name==version`` line: what one listed sha256 turned out to be, and the line it is on."""

    sha256: str
    where: str
    status: Status
    filename: str | None  # the logged file it is the hash of (None: none)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The verdict on one expected entry; ``overruled`` holds the trusted statements a quorum outvoted;
    ``hashes`` what each listed hash of a ``name==version`` line is (empty for other entries)."""

    expected: Expected
    status: Status
    reason: str
    evidence: tuple[Statement, ...] = ()
    overruled: tuple[Statement, ...] = ()
    hashes: tuple[HashFinding, ...] = ()


def statement(source: str, origin: str, tree_size: int, trusted: bool,
              entries: Sequence[tuple[int, FileRecord]]) -> Statement | None:  # fmt: skip
    """The Statement for a filename's proven file entries (in log order); None if there are none."""
    if not entries:
        return None
    (index, first), rest = entries[0], entries[1:]
    swaps = tuple((i, r) for i, r in rest if _identity(r) != _identity(first))
    return Statement(source, origin, tree_size, index, first, trusted, swaps)


def _identity(record: FileRecord) -> Value:
    return (record.sha256, record.blake2b_256, record.size)


def matches(expected: Expected, record: FileRecord) -> bool:
    """True if ``record`` logs a file with the expected sha256 (and BLAKE2b-256 and size, where known)."""
    return not _differences(expected, record)


def _differences(expected: Expected, record: FileRecord) -> list[str]:
    """What ``record`` logs otherwise than expected, in words ("sha256 X", "size N, not M")."""
    out = []
    if record.sha256 not in expected.sha256:
        out.append(f"sha256 {record.sha256}")
    if expected.blake2b_256 is not None and record.blake2b_256 != expected.blake2b_256:
        out.append(f"blake2b_256 {record.blake2b_256}")
    if expected.size is not None and record.size != expected.size:
        out.append(f"size {record.size}, not {expected.size}")
    if out and record.sha256 in expected.sha256:
        out.append("same sha256")  # a size-only (or blake2b-only) mismatch says so
    return out


def listing(items: Iterable[str], shown: int = SHOWN, sep: str = ", ") -> str:
    """The first ``shown`` of ``items`` joined by ``sep``, and "and N more" if there are more."""
    items = list(items)
    more = len(items) - shown
    return sep.join(items[:shown]) + (f" and {more} more" if more > 0 else "")


def _short(statements: Sequence[Statement]) -> str:
    return listing(f"{s.origin} entry {s.index}" for s in statements)


def _sizes(answers: Sequence[SourceAnswer]) -> str:
    return listing(f"{a.origin} up to size {a.tree_size}" for a in answers) or "no source answered"


def _quorum_value(policy: Policy, trusted: Sequence[Statement]) -> Value | None:
    """The one value whose logs' voters satisfy ``policy``'s quorum, or None if none or several do."""
    values_of: dict[str, set[Value]] = {}
    for s in trusted:
        values_of.setdefault(s.origin, set()).add(_identity(s.record))
    voters: dict[Value, set[str]] = {}
    for origin, values in values_of.items():
        voter = voter_for_log(policy, origin)
        for value in values:
            voters.setdefault(value, set())
            if voter is not None and len(values) == 1:  # a log that told two sources two things has no vote
                voters[value].add(voter)
    winners = [value for value, names in voters.items() if evaluate(policy, names).satisfied]
    return winners[0] if len(winners) == 1 else None


def _overruled(statements: Sequence[Statement]) -> str:
    return listing(f"{s.origin} (sha256 {s.record.sha256})" for s in statements)


def _settled(expected: Expected, policy: Policy, trusted: list[Statement]) -> Verdict | None:
    """The verdict when trusted sources disagree and ``policy``'s quorum settles it; None if it does not."""
    value = _quorum_value(policy, trusted)
    if value is None:
        return None
    majority = sorted((s for s in trusted if _identity(s.record) == value), key=lambda s: (s.origin, s.source))
    minority = sorted((s for s in trusted if _identity(s.record) != value), key=lambda s: (s.origin, s.source))
    if matches(expected, majority[0].record):
        reason = f"logged by {_short(majority)}, a quorum; overruled: {_overruled(minority)}"
        return Verdict(expected, Status.OK, reason, tuple(majority), tuple(minority))
    reason = (
        f"a quorum ({_short(majority)}) logs {'; '.join(_differences(expected, majority[0].record))}; "
        f"overruled: {_overruled(minority)}"
    )
    return Verdict(expected, Status.MISMATCH, reason, tuple(majority + minority), tuple(minority))


def _found(filename: str, answers: Sequence[SourceAnswer]) -> list[Statement]:
    """Every source's statement about ``filename``: logged under that name, or else under a name an
    installer takes for the same file (``client.filenames.identity``) among its release's files (a
    bundle's among its statements)."""
    out = [a.statements[filename] for a in answers if filename in a.statements]
    if len(out) == len(answers):
        return out
    wanted, release = identity(filename), release_of(filename)
    key = release_key(*release) if release is not None else None
    for a in answers:
        if filename in a.statements:
            continue
        if key is not None and a.releases:
            out += [a.statements[f] for f in a.releases.get(key, ()) if f in a.statements and identity(f) == wanted]
        elif key is not None:  # a bundle: a statement or two, and no release lookups
            out += [s for f, s in a.statements.items() if identity(f) == wanted]
    return out


def classify(expected: Expected, answers: Sequence[SourceAnswer], policy: Policy | None = None) -> Verdict:
    """The verdict on ``expected`` given every source's answer (see the module docstring).

    Without ``policy`` trusted sources that disagree give UNRESOLVED; with it,
    a value a quorum vouches for settles it. Never raises.
    """
    if not expected.checkable:
        return Verdict(expected, Status.NOT_CHECKABLE, expected.reason or "not a file on an index")
    if expected.reason is not None:
        return Verdict(expected, Status.UNKNOWN, expected.reason)
    if expected.filename is None:
        if expected.release is not None:
            return _classify_release(expected, answers, policy)
        return Verdict(expected, Status.UNKNOWN, "no filename to look up")
    found = _found(expected.filename, answers)
    trusted = [s for s in found if s.trusted]
    agree = [s for s in trusted if matches(expected, s.record)]
    differ = [s for s in trusted if not matches(expected, s.record)]
    if policy is not None and len({_identity(s.record) for s in trusted}) > 1:
        settled = _settled(expected, policy, trusted)
        if settled is not None:
            return settled
    spelled = sorted({s.record.filename for s in found} - {expected.filename})
    aside = f" (logged as {listing(spelled)})" if spelled else ""
    if agree and differ:
        return Verdict(
            expected, Status.UNRESOLVED,
            f"trusted logs disagree: {_short(agree)} log the expected hash, {_short(differ)} log "
            f"{'; '.join(_differences(expected, differ[0].record))}{aside}",
            tuple(differ + agree),
        )  # fmt: skip
    if differ:
        what = "; ".join(_differences(expected, differ[0].record))
        return Verdict(expected, Status.MISMATCH, f"{_short(differ)} log {what}{aside}", tuple(differ))
    if agree:
        reason = f"logged by {_short(agree)}{aside}"
        swapped = [s for s in agree if s.swaps]
        if swapped:
            reason += "; the index later served other hashes under this name (" + listing(
                f"{s.origin} entries {', '.join(str(i) for i, _ in s.swaps)}" for s in swapped
            ) + ")"
        return Verdict(expected, Status.OK, reason, tuple(agree))
    if found:
        untrusted = sorted({a.source + ": " + (a.why_untrusted or "") for a in answers if not a.trusted})
        return Verdict(
            expected, Status.UNRESOLVED,
            f"only logs without a trusted checkpoint know this file ({_short(found)}); " + listing(untrusted, 2, "; "),
            tuple(found),
        )  # fmt: skip
    return Verdict(expected, Status.UNKNOWN, f"not logged yet ({_sizes(answers)})")


_WORST = (Status.MISMATCH, Status.UNRESOLVED, Status.UNKNOWN, Status.OK)


def _hash_verdict(expected: Expected, sha256: str, files: Sequence[str], answers: Sequence[SourceAnswer],
                  policy: Policy | None) -> list[tuple[str | None, Verdict]]:  # fmt: skip
    """What one listed hash of a release line is: (logged filename or None, its verdict), one or more."""
    project, version = expected.release  # type: ignore[misc]  # only release lines come here
    line = expected.line_of(sha256)
    named = sorted({f for a in answers for f in files if f in a.statements and a.statements[f].record.sha256 == sha256})
    if named:
        return [(f, classify(Expected(expected.where, f, frozenset({sha256})), answers, policy)) for f in named]
    by_source = {(f, a.source): a.statements[f] for a in answers for f in files if f in a.statements
                 and a.statements[f].trusted and any(r.sha256 == sha256 for _, r in a.statements[f].swaps)}  # fmt: skip
    if by_source:
        swapped = [by_source[k] for k in sorted(by_source)]
        first = swapped[0].record
        why = (f"sha256 {sha256} ({line}) is what the index later served in place of {first.filename}, which "
               f"{_short(swapped)} logged first with sha256 {first.sha256}")  # fmt: skip
        return [(first.filename, Verdict(expected, Status.MISMATCH, why, tuple(swapped)))]
    why = (f"sha256 {sha256} ({line}) is no file logged for {project} {version} yet ({len(files)} "
           f"file{'' if len(files) == 1 else 's'} logged: {_sizes(answers)})")  # fmt: skip
    return [(None, Verdict(expected, Status.UNKNOWN, why))]


def _classify_release(expected: Expected, answers: Sequence[SourceAnswer], policy: Policy | None) -> Verdict:
    """The verdict on a ``name==version`` line: each listed sha256 judged as the logged file it is the
    hash of (see the module docstring); the worst of those verdicts is the line's."""
    assert expected.release is not None
    project, version = expected.release
    key = release_key(project, version)
    files = sorted({f for a in answers for f in a.releases.get(key, ())})
    if not files:
        return Verdict(expected, Status.UNKNOWN, f"no file of {project} {version} logged yet ({_sizes(answers)})")
    order = [h for h, _ in expected.hash_where] + sorted(expected.sha256)
    parts: list[tuple[str, str | None, Verdict]] = []
    for sha256 in dict.fromkeys(h for h in order if h in expected.sha256):
        parts += [(sha256, f, v) for f, v in _hash_verdict(expected, sha256, files, answers, policy)]
    status = next(st for st in _WORST if any(v.status is st for _, _, v in parts))
    shown = [(h, f, v) for h, f, v in parts if v.status is status]
    if status is Status.OK:
        origins = sorted({s.origin for _, _, v in shown for s in v.evidence})
        reason = f"{len(shown)} listed {'hash is a file' if len(shown) == 1 else 'hashes are files'} logged by " \
                 f"{listing(origins)}"  # fmt: skip
    else:
        reasons = (v.reason if f is None or v.reason.startswith("sha256") else
                   f"{f} (sha256 {h}, {expected.line_of(h)}): {v.reason}" for h, f, v in shown)  # fmt: skip
        reason = listing(reasons, 2, "; ")
    evidence = tuple(e for _, _, v in shown for e in v.evidence)
    overruled = tuple(o for _, _, v in parts for o in v.overruled)
    findings = tuple(HashFinding(h, expected.line_of(h), v.status, f) for h, f, v in parts)
    return Verdict(expected, status, reason, evidence, overruled, findings)
