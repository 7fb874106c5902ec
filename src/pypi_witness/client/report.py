"""How ``verify`` reports: a line per node and one line per entry, or one JSON object per entry; and the exit code.

Exit codes (also in the README and ``verify --help``):

* 0 — every entry is OK (or NOT_CHECKABLE: an editable or directory
  requirement, which no log can vouch for; the report lists them);
* 3 — an entry is MISMATCH, or a node or bundle failed verification (a bad
  signature or proof, an answer that does not parse, a rollback or split
  view against the state directory);
* 4 — no MISMATCH and nothing failed verification, but an entry is UNKNOWN
  or UNRESOLVED (not witnessed yet, or no quorum-backed answer);
* 1 — the command could not run (bad input, no node of a trusted log answered).

The human report has one line per entry: its status, where it is (file and
line, or file and filename), what it names and the reason, whose lists are
cut to a few items (the JSON has them all). The JSON keys are listed in
``JSON_KEYS`` and the README.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TextIO

from pypi_witness.client.nodes import NodeOutcome
from pypi_witness.client.verdict import HashFinding, Statement, Status, Verdict

EXIT_OK = 0
EXIT_UNVERIFIED = 3
EXIT_INCOMPLETE = 4

# Every key of a JSON verdict object, and of the objects in its lists (the README documents each).
JSON_KEYS = ("where", "filename", "release", "status", "reason", "expected", "hashes", "evidence", "overruled")
STATEMENT_KEYS = (
    "source", "origin", "tree_size", "index", "trusted", "filename", "sha256", "blake2b_256", "size", "swaps",
)  # fmt: skip
HASH_KEYS = ("sha256", "where", "status", "filename")


def exit_code(verdicts: Sequence[Verdict], outcomes: Sequence[NodeOutcome]) -> int:
    """The exit code for these verdicts and node outcomes (see the module docstring)."""
    statuses = {v.status for v in verdicts}
    if Status.MISMATCH in statuses or any(o.failed_verification for o in outcomes):
        return EXIT_UNVERIFIED
    if statuses - {Status.OK, Status.NOT_CHECKABLE}:
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
        "filename": s.record.filename,
        "sha256": s.record.sha256,
        "blake2b_256": s.record.blake2b_256,
        "size": s.record.size,
        "swaps": [{"index": i, "sha256": r.sha256, "size": r.size} for i, r in s.swaps],
    }


def _hash_json(h: HashFinding) -> dict[str, object]:
    return {"sha256": h.sha256, "where": h.where, "status": h.status.value, "filename": h.filename}


def verdict_json(v: Verdict) -> dict[str, object]:
    """The JSON object of one entry's verdict (keys: ``JSON_KEYS``)."""
    e = v.expected
    return {
        "where": e.where,
        "filename": e.filename,
        "release": None if e.release is None else {"name": e.release[0], "version": e.release[1]},
        "status": v.status.value,
        "reason": v.reason,
        "expected": {"sha256": sorted(e.sha256), "blake2b_256": e.blake2b_256, "size": e.size},
        "hashes": [_hash_json(h) for h in v.hashes],
        "evidence": [_statement_json(s) for s in v.evidence],
        "overruled": [_statement_json(s) for s in v.overruled],
    }


def verdict_line(v: Verdict) -> str:
    """The one human line of an entry's verdict: status, where, what it names, and why."""
    e = v.expected
    named = f" {e.shown}" if e.shown else ""
    return f"{v.status.value:<10} {e.where}{named}: {v.reason}"


def print_report(
    verdicts: Sequence[Verdict], outcomes: Sequence[NodeOutcome], *, as_json: bool, out: TextIO, err: TextIO
) -> None:
    """Write the report: JSON Lines (one object per entry; node problems on ``err``) or human lines."""
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
        print(verdict_line(v), file=out)
    counts = {s: sum(v.status is s for v in verdicts) for s in Status}
    print(f"{len(verdicts)} entries: " + ", ".join(f"{n} {s.value}" for s, n in counts.items() if n or s in
                                                   (Status.OK, Status.MISMATCH)), file=out)  # fmt: skip
