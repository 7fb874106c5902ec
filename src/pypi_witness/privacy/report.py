"""What a node stores about clients, as the ``pypi-witness privacy report`` command shows it.

Counts only: how many records and identities, calls per method, the age of
the oldest record, and the key period. Never a key, never an identity.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pypi_witness.privacy.events import PRIVACY_DIR, AccessEvents


def privacy_summary(data_dir: Path, now: float | None = None) -> dict[str, Any]:
    """``AccessEvents.summary`` of ``<data_dir>/privacy/``, read-only.

    Raises StoreError if the node has stored no access events there (or they
    cannot be read).
    """
    events = AccessEvents(Path(data_dir) / PRIVACY_DIR, readonly=True)
    try:
        return events.summary(time.time() if now is None else now)
    finally:
        events.close()


def _age(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 3600:
        return f"{seconds} s"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _when(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as lines for people."""
    lines = [
        f"access-event records: {summary['records']} "
        f"({summary['identities']} identities, of which {summary['peers']} peers)",
        f"oldest record: window began {_age(summary['oldest_window_age_seconds'])} ago; "
        f"newest: {_age(summary['newest_window_age_seconds'])} ago",
    ]
    if summary["next_expiry_seconds"] is not None:
        lines.append(f"next expiry: in {_age(max(summary['next_expiry_seconds'], 0))}")
    calls = ", ".join(f"{m} {n}" for m, n in summary["calls"].items()) or "none"
    limited = ", ".join(f"{m} {n}" for m, n in summary["limited"].items()) or "none"
    lines += [f"calls: {calls}", f"refused by the rate limit: {limited}"]
    lines.append(f"countries (from a trusted proxy): {', '.join(summary['countries']) or 'none'}")
    state = summary["state"]
    if state is not None:
        lines += [
            f"key period: {state['period']} ({_when(state['period_start'])} to {_when(state['period_end'])}), "
            f"key kept in {state['key_storage']}",
            f"retention: {_age(state['retention_seconds'])}; windows of {_age(state['window_seconds'])}",
        ]
    return "\n".join(lines)
