"""Evaluate a tlog-policy quorum against the witnesses that cosigned a checkpoint.

Three levels, each usable on its own:

* :func:`evaluate` — which of a policy's groups (and the quorum) a set of
  witness names satisfies, given by name.
* :func:`check_cosignatures` — verify the cosignature lines of a checkpoint
  note for every witness of the policy, then evaluate. A known witness whose
  cosignature does not verify is *failed*, not fatal: it simply does not
  count. Lines from keys the policy does not know are ignored.
* :func:`check_checkpoint` — verify a signed, cosigned checkpoint note: the
  signature of a policy log named after the origin (fatal if missing or bad),
  then the cosignatures as above.

The result says whether the quorum is satisfied and, per witness and per group,
what verified, what failed and what is missing; :func:`require_quorum` turns an
unsatisfied result into a :class:`~pypi_witness.core.errors.QuorumError`.

How safe a policy is against split views lives in
:mod:`pypi_witness.core.quorum.safety`; its public functions are re-exported
here (:func:`max_tolerated_faults`, :func:`warnings`, ...).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pypi_witness.core.tlog.checkpoint import Checkpoint, parse_checkpoint
from pypi_witness.core.tlog.signed_checkpoint import SignedCheckpoint, open_checkpoint
from pypi_witness.core.tlog.cosignature import Cosignature, verify_cosignature
from pypi_witness.core.tlog.note import NoteSignature, Verifier, parse_note
from pypi_witness.core.quorum.policy import NONE, Policy, PolicyLog
from pypi_witness.core.quorum.safety import (
    blocking_set,
    max_tolerated_faults,
    max_tolerated_unavailable,
    min_overlap,
    split_view_example,
    split_view_possible,
    warnings,
)
from pypi_witness.core.errors import NoteError, QuorumError, SignatureError, quoted

__all__ = [
    "CheckedCheckpoint",
    "GroupResult",
    "QuorumResult",
    "blocking_set",
    "check_checkpoint",
    "check_cosignatures",
    "evaluate",
    "max_tolerated_faults",
    "max_tolerated_unavailable",
    "min_overlap",
    "require_quorum",
    "split_view_example",
    "split_view_possible",
    "warnings",
]


@dataclass(frozen=True)
class GroupResult:
    """One group's outcome: its threshold, members, and the members that are satisfied (in member order)."""

    name: str
    threshold: int
    members: tuple[str, ...]
    satisfied_members: tuple[str, ...]

    @property
    def satisfied(self) -> bool:
        """True iff at least ``threshold`` members are satisfied."""
        return len(self.satisfied_members) >= self.threshold


@dataclass(frozen=True)
class QuorumResult:
    """The outcome of evaluating a policy's quorum.

    ``quorum`` is the quorum name (None for ``quorum none``); ``verified``,
    ``failed`` (name -> reason) and ``missing`` partition the policy's
    witnesses, in definition order; ``groups`` holds every group's result;
    ``cosignatures`` holds the verified cosignature per witness name (empty
    when evaluated from names alone).
    """

    quorum: str | None
    satisfied: bool
    verified: tuple[str, ...]
    failed: Mapping[str, str]
    missing: tuple[str, ...]
    groups: Mapping[str, GroupResult]
    cosignatures: Mapping[str, Cosignature] = field(default_factory=dict)

    def explain(self) -> str:
        """A one-paragraph account of the outcome, naming what is short and what failed."""
        name = NONE if self.quorum is None else repr(self.quorum)
        parts = [f"quorum {name} is {'satisfied' if self.satisfied else 'not satisfied'}"]
        group = self.groups.get(self.quorum) if self.quorum is not None else None
        if group is not None:
            have = ", ".join(group.satisfied_members) or "none"
            parts.append(f"{len(group.satisfied_members)} of {group.threshold} needed members ({have})")
        elif self.quorum is not None:
            parts.append(f"witness {quoted(self.quorum)} {'cosigned' if self.satisfied else 'did not cosign'}")
        short = [
            f"group {quoted(g.name)} has {len(g.satisfied_members)} of {g.threshold}"
            for g in self.groups.values()
            if not g.satisfied and g.name != self.quorum
        ]
        if short:
            parts.append("; ".join(short))
        parts.append(f"verified: {', '.join(self.verified) or 'none'}")
        if self.failed:
            parts.append("failed: " + "; ".join(f"{w} ({why})" for w, why in self.failed.items()))
        if self.missing:
            parts.append(f"missing: {', '.join(self.missing)}")
        return "; ".join(parts)


def evaluate(
    policy: Policy,
    verified: Iterable[str],
    failed: Mapping[str, str] | None = None,
    cosignatures: Mapping[str, Cosignature] | None = None,
) -> QuorumResult:
    """Evaluate ``policy``'s groups and quorum given the witnesses (by policy name) that cosigned.

    Names that are not witnesses of the policy are ignored. ``failed`` (name
    -> reason) records witnesses whose cosignature was present but bad; a name
    in both ``verified`` and ``failed`` counts as verified. ``cosignatures``
    is carried into the result unchanged. Never raises.
    """
    known = policy.witness_by_name
    good = {name for name in verified if name in known}
    bad = {name: why for name, why in (failed or {}).items() if name in known and name not in good}
    satisfied: dict[str, bool] = {name: name in good for name in known}
    groups: dict[str, GroupResult] = {}
    # SPEC: tlog-policy — a group witnesses a checkpoint iff at least k of its n members have
    # (groups only reference earlier definitions, so one pass in order suffices)
    for group in policy.groups:
        result = GroupResult(
            group.name, group.threshold, group.members, tuple(m for m in group.members if satisfied[m])
        )
        groups[group.name] = result
        satisfied[group.name] = result.satisfied
    # SPEC: tlog-policy — `quorum none` requires no cosignatures at all
    ok = True if policy.quorum is None else satisfied[policy.quorum]
    order = [w.name for w in policy.witnesses]
    return QuorumResult(
        quorum=policy.quorum,
        satisfied=ok,
        verified=tuple(n for n in order if n in good),
        failed={n: bad[n] for n in order if n in bad},
        missing=tuple(n for n in order if n not in good and n not in bad),
        groups=groups,
        cosignatures={n: c for n, c in (cosignatures or {}).items() if n in good},
    )


def check_cosignatures(policy: Policy, checkpoint: Checkpoint, signatures: Sequence[NoteSignature]) -> QuorumResult:
    """Verify each policy witness's cosignature lines among ``signatures`` and evaluate the quorum.

    A witness whose (key name, key id) appears on a line is *verified* if one
    such line is a valid cosignature/v1 of ``checkpoint``, otherwise *failed*
    (with the reason: malformed payload or a signature that does not verify);
    a witness with no line is *missing*. Lines from keys the policy does not
    know (the log's own signature among them) are ignored. Never raises for
    bad signature lines.
    """
    by_key: dict[tuple[str, bytes], list[str]] = {}
    for witness in policy.witnesses:
        v = witness.verifier
        by_key.setdefault((v.name, v.key_id), []).append(witness.name)
    good: dict[str, Cosignature] = {}
    bad: dict[str, str] = {}
    for sig in signatures:
        # SPEC: signed-note — verifiers MUST ignore signatures from unknown keys
        for name in by_key.get((sig.name, sig.key_id), ()):
            if name in good:
                continue
            try:
                cosignature = Cosignature.from_note_signature(sig)
                verify_cosignature(checkpoint, cosignature, policy.witness_by_name[name].verifier)
            except (NoteError, SignatureError) as exc:
                # A failed known witness does not count; unlike signed-note's rule for the
                # log's own key, it does not reject the checkpoint.
                bad.setdefault(name, str(exc))
                continue
            good[name] = cosignature
    return evaluate(policy, good, bad, good)


@dataclass(frozen=True)
class CheckedCheckpoint:
    """A checkpoint whose log signature verified: the log, the signed checkpoint and the quorum outcome.

    ``signed.cosignatures`` holds the verified witness cosignatures, in
    policy order. Whether the quorum is satisfied is ``quorum.satisfied``.
    """

    log: PolicyLog
    signed: SignedCheckpoint
    quorum: QuorumResult


def check_checkpoint(policy: Policy, note: bytes, extra_logs: Sequence[Verifier] = ()) -> CheckedCheckpoint:
    """Verify a signed, cosigned checkpoint note against ``policy``.

    The log is chosen by origin among the policy's logs and ``extra_logs``
    (for applications that know their log from elsewhere, as tlog-policy
    allows); if several match, the first whose signature verifies is used.
    Returns the CheckedCheckpoint whether or not the quorum is satisfied (see
    :func:`require_quorum`).

    Raises NoteError if the note or checkpoint is malformed; SignatureError if
    no trusted log is named after the origin, or the signature of every such
    log is missing or does not verify.
    """
    parsed = parse_note(note)
    origin = parse_checkpoint(parsed.text).origin
    candidates = [*policy.logs_for_origin(origin), *(PolicyLog(v) for v in extra_logs if v.name == origin)]
    # SPEC: tlog-policy — a checkpoint is valid only if signed by one of the listed logs
    if not candidates:
        raise SignatureError(f"checkpoint origin {quoted(origin)} is not a log the policy trusts")
    first_error: SignatureError | None = None
    for log in candidates:
        try:
            signed = open_checkpoint(note, log.verifier)
        except SignatureError as exc:
            first_error = first_error or exc
            continue
        result = check_cosignatures(policy, signed.checkpoint, parsed.signatures)
        order = tuple(result.cosignatures[w] for w in result.verified)
        return CheckedCheckpoint(log, dataclasses.replace(signed, cosignatures=order), result)
    raise first_error  # type: ignore[misc]  # candidates is not empty, so an error was recorded


def require_quorum(result: QuorumResult) -> None:
    """Return None if ``result`` is satisfied; raise QuorumError (carrying it) otherwise."""
    if not result.satisfied:
        raise QuorumError(result.explain(), result)
