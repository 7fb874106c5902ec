"""The verdict on one file, from what every source (a node, a bundle) proved about its filename.

Pure: values in, a :class:`Verdict` out. A *source* is trusted when its
answer verified and its checkpoint satisfies the policy's quorum; only trusted
sources decide. For a filename a source logged several times with different
hashes (the index swapped the file), the first entry is what that source
vouches for: PyPI never reuses a filename for other content, so the later
ones are the evidence of a swap.

When trusted sources disagree, the policy settles it as ``core.disputes.settle`` does
for nodes: each log votes through the witness its node runs
(``core.disputes.settle.voter_for_log``), one vote per log (a log whose sources
disagree casts none), and a value wins if its voters satisfy the policy's
quorum and no other value's do. A quorum of colluding logs wins: that is the
policy's limit.

The four outcomes:

* ``OK`` — a trusted source vouches for exactly the expected hashes, and no
  trusted source vouches for others; or, given the policy, trusted sources
  disagree and the expected hashes are the ones a quorum of the logs' voters
  vouches for (the reason names each overruled log and its sha256);
* ``MISMATCH`` — every trusted source that logged the filename vouches for
  other hashes (the evidence names each: source, entry index, logged sha256);
  or, given the policy, trusted sources disagree and a quorum vouches for
  other hashes than the expected ones;
* ``UNRESOLVED`` — trusted sources disagree with each other and no one value
  has a quorum (or no policy was given), or only sources whose checkpoint
  lacks the quorum have logged the file;
* ``UNKNOWN`` — no source has logged the file, or it cannot be checked (no
  filename, no sha256: the reason says which).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from pypi_witness.client.targets import Expected
from pypi_witness.core.quorum.policy import Policy
from pypi_witness.core.quorum.evaluation import evaluate
from pypi_witness.core.records.format import FileRecord, release_key
from pypi_witness.core.disputes.settle import Value, voter_for_log


class Status(enum.Enum):
    OK = "OK"
    MISMATCH = "MISMATCH"
    UNRESOLVED = "UNRESOLVED"
    UNKNOWN = "UNKNOWN"


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
class Verdict:
    """The verdict on one expected file; ``overruled`` holds the trusted statements a quorum outvoted."""

    expected: Expected
    status: Status
    reason: str
    evidence: tuple[Statement, ...] = ()
    overruled: tuple[Statement, ...] = ()


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
    return (
        record.sha256 in expected.sha256
        and (expected.blake2b_256 is None or record.blake2b_256 == expected.blake2b_256)
        and (expected.size is None or record.size == expected.size)
    )


def _short(statements: Sequence[Statement]) -> str:
    return ", ".join(f"{s.origin} entry {s.index}" for s in statements)


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
    return ", ".join(f"{s.origin} (sha256 {s.record.sha256})" for s in statements)


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
        f"a quorum ({_short(majority)}) logs other hashes, sha256 {value[0]} size {value[2]}; "
        f"overruled: {_overruled(minority)}"
    )
    return Verdict(expected, Status.MISMATCH, reason, tuple(majority + minority), tuple(minority))


def classify(expected: Expected, answers: Sequence[SourceAnswer], policy: Policy | None = None) -> Verdict:
    """The verdict on ``expected`` given every source's answer (see the module docstring).

    Without ``policy`` trusted sources that disagree give UNRESOLVED; with it,
    a value a quorum vouches for settles it. Never raises.
    """
    if expected.reason is None and expected.filename is None and expected.release is not None:
        return _classify_release(expected, answers, policy)
    if expected.reason is not None or expected.filename is None:
        return Verdict(expected, Status.UNKNOWN, expected.reason or "no filename to look up")
    found = [a.statements[expected.filename] for a in answers if expected.filename in a.statements]
    trusted = [s for s in found if s.trusted]
    agree = [s for s in trusted if matches(expected, s.record)]
    differ = [s for s in trusted if not matches(expected, s.record)]
    if policy is not None and len({_identity(s.record) for s in trusted}) > 1:
        settled = _settled(expected, policy, trusted)
        if settled is not None:
            return settled
    if agree and differ:
        return Verdict(
            expected, Status.UNRESOLVED,
            f"trusted logs disagree: {_short(agree)} log the expected hash, {_short(differ)} log another",
            tuple(differ + agree),
        )  # fmt: skip
    if differ:
        return Verdict(expected, Status.MISMATCH, f"logged with other hashes by {_short(differ)}", tuple(differ))
    if agree:
        reason = f"logged by {_short(agree)}"
        swapped = [s for s in agree if s.swaps]
        if swapped:
            reason += "; the index later served other hashes under this name (" + "; ".join(
                f"{s.origin} entries {', '.join(str(i) for i, _ in s.swaps)}" for s in swapped
            ) + ")"
        return Verdict(expected, Status.OK, reason, tuple(agree))
    if found:
        untrusted = sorted({a.source + ": " + (a.why_untrusted or "") for a in answers if not a.trusted})
        return Verdict(
            expected, Status.UNRESOLVED,
            f"only logs without a trusted checkpoint know this file ({_short(found)}); " + "; ".join(untrusted),
            tuple(found),
        )  # fmt: skip
    sizes = ", ".join(f"{a.origin} up to size {a.tree_size}" for a in answers) or "no source answered"
    return Verdict(expected, Status.UNKNOWN, f"not logged yet ({sizes})")


_WORST = (Status.MISMATCH, Status.UNRESOLVED, Status.UNKNOWN, Status.OK)


def _classify_release(expected: Expected, answers: Sequence[SourceAnswer], policy: Policy | None) -> Verdict:
    """The verdict on a ``name==version`` line: every listed sha256 must be a file the sources logged
    for that release, each judged as its own filename; the worst of those verdicts is the line's."""
    assert expected.release is not None
    project, version = expected.release
    key = release_key(project, version)
    files = sorted({f for a in answers for f in a.releases.get(key, ())})
    if not files:
        sizes = ", ".join(f"{a.origin} up to size {a.tree_size}" for a in answers) or "no source answered"
        return Verdict(expected, Status.UNKNOWN, f"no file of {project} {version} logged yet ({sizes})")
    parts: list[Verdict] = []
    for sha256 in sorted(expected.sha256):
        named = sorted({f for a in answers for f in files if f in a.statements and a.statements[f].record.sha256 == sha256})
        if named:
            parts += [classify(replace(expected, filename=f, sha256=frozenset({sha256}), release=None), answers, policy)
                      for f in named]  # fmt: skip
            continue
        swapped = sorted({f for a in answers for f in files if f in a.statements
                          for _, r in a.statements[f].swaps if r.sha256 == sha256})  # fmt: skip
        why = f"sha256 {sha256} is not the hash of any of the {len(files)} files logged for {project} {version}"
        if swapped:
            why += f"; the index served it later in place of {', '.join(swapped)} (a swapped file)"
        parts.append(Verdict(expected, Status.MISMATCH, why))
    status = next(st for st in _WORST if any(v.status is st for v in parts))
    shown = [v for v in parts if v.status is status]
    reason = "; ".join(f"{v.expected.filename}: {v.reason}" if v.expected.filename else v.reason for v in shown)
    evidence = tuple(e for v in shown for e in v.evidence)
    overruled = tuple(o for v in parts for o in v.overruled)
    return Verdict(expected, status, reason, evidence, overruled)
