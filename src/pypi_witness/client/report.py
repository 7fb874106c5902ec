"""How ``verify`` reports: a line per node and per file, or one JSON object per file; and the exit code.

Exit codes (also in the README and ``verify --help``):

* 0 — every file is OK;
* 3 — a file is MISMATCH, or a node or bundle failed verification (a bad
  signature or proof, a rollback or split view against the state directory);
* 4 — no MISMATCH and nothing failed verification, but a file is UNKNOWN or
  UNRESOLVED (not witnessed yet, or no quorum-backed answer);
* 1 — the command could not run (bad input, no node answered).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TextIO

from pypi_witness.client.nodes import NodeOutcome
from pypi_witness.client.verdict import Statement, Status, Verdict

EXIT_OK = 0
EXIT_UNVERIFIED = 3
EXIT_INCOMPLETE = 4


def exit_code(verdicts: Sequence[Verdict], outcomes: Sequence[NodeOutcome]) -> int:
    """The exit code for these verdicts and node outcomes (see the module docstring)."""
    statuses = {v.status for v in verdicts}
    if Status.MISMATCH in statuses or any(o.failed_verification for o in outcomes):
        return EXIT_UNVERIFIED
    if statuses - {Status.OK}:
        return EXIT_INCOMPLETE
    return EXIT_OK


def node_line(outcome: NodeOutcome) -> str:
    """One line on what came of asking a node."""
    head = f"node {outcome.address}"
    if outcome.answer is None:
        kind = "FAILED VERIFICATION" if outcome.failed_verification else "unavailable"
        return f"{head}: {kind}: {outcome.error}"
    a = outcome.answer
    if not a.trusted:
        return f"{head}: {a.origin} size {a.tree_size}: NOT TRUSTED ({a.why_untrusted})"
    q = outcome.quorum
    cosigned = f"quorum satisfied, cosigned by {', '.join(q.verified) or 'no witness needed'}" if q else "trusted"
    return f"{head}: {a.origin} size {a.tree_size}: {cosigned}"


def _statement_json(s: Statement) -> dict[str, object]:
    return {
        "source": s.source,
        "origin": s.origin,
        "tree_size": s.tree_size,
        "index": s.index,
        "trusted": s.trusted,
        "sha256": s.record.sha256,
        "blake2b_256": s.record.blake2b_256,
        "size": s.record.size,
        "swaps": [{"index": i, "sha256": r.sha256} for i, r in s.swaps],
    }


def verdict_json(v: Verdict) -> dict[str, object]:
    """The JSON object of one file's verdict."""
    e = v.expected
    return {
        "where": e.where,
        "filename": e.filename,
        "release": None if e.release is None else {"name": e.release[0], "version": e.release[1]},
        "status": v.status.value,
        "reason": v.reason,
        "expected": {"sha256": sorted(e.sha256), "blake2b_256": e.blake2b_256, "size": e.size},
        "evidence": [_statement_json(s) for s in v.evidence],
        "overruled": [_statement_json(s) for s in v.overruled],
    }


def verdict_lines(v: Verdict) -> list[str]:
    """The human lines of one file's verdict: the status line, then the evidence of a disagreement.

    For an OK a quorum settled, the overruled logs follow the status line.
    """
    e = v.expected
    name = f" {e.filename}" if e.filename else f" {e.release[0]}=={e.release[1]}" if e.release else ""
    lines = [f"{v.status.value:<10} {e.where}{name}: {v.reason}"]
    if v.status is Status.OK:
        lines += [f"    overruled {_statement_line(s)}" for s in v.overruled]
    if v.status in (Status.MISMATCH, Status.UNRESOLVED):
        expected = " or ".join(sorted(e.sha256)) or "none"
        lines.append(f"    expected sha256 {expected}")
        overruled = set(map(id, v.overruled))
        lines += [f"    {'overruled ' if id(s) in overruled else ''}{_statement_line(s)}" for s in v.evidence]
    return lines


def _statement_line(s: Statement) -> str:
    trust = "" if s.trusted else " (checkpoint not trusted)"
    return (
        f"{s.source}: {s.origin} entry {s.index} of {s.tree_size} logs sha256 {s.record.sha256}"
        f" size {s.record.size}{trust}"
    )


def print_report(
    verdicts: Sequence[Verdict], outcomes: Sequence[NodeOutcome], *, as_json: bool, out: TextIO, err: TextIO
) -> None:
    """Write the report: JSON Lines (one object per file; node problems on ``err``) or human lines."""
    if as_json:
        for o in outcomes:
            if o.answer is None or not o.answer.trusted:
                print(f"pypi-witness: {node_line(o)}", file=err)
        for v in verdicts:
            print(json.dumps(verdict_json(v), sort_keys=True), file=out)
        return
    for o in outcomes:
        print(node_line(o), file=out)
    for v in verdicts:
        print("\n".join(verdict_lines(v)), file=out)
    counts = {s: sum(v.status is s for v in verdicts) for s in Status}
    print(f"{len(verdicts)} files: " + ", ".join(f"{n} {s.value}" for s, n in counts.items()), file=out)
