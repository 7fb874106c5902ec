"""The witness network's log list (``logs/v0``): which logs a witness cosigns, and how often.

The format (transparency-dev witness-network, ``log-list-format.md``) is
line based: blank lines and lines starting with ``#`` are ignored; the first
other line is ``logs/v0``; then each log is a ``vkey <verifier key>`` line
followed by its ``origin``, ``bastion``, ``qpd`` and ``contact`` lines::

    logs/v0
    vkey example.com/log+0123abcd+AXBhc3N3b3Jk...
    origin none
    bastion none
    qpd 1440
    contact ops@example.com

``origin none`` (or no origin line) means the origin is the key's name.
``qpd`` is how many add-checkpoint requests the log may make a day.

``parse_log_list`` is strict about the grammar (an unknown keyword, a
repeated line, a bad number is a MalformedError naming the line), and lenient
about keys this witness cannot check: a log whose key is not an Ed25519
note key (type 0x01) is skipped and reported, so one exotic log in a public
list does not stop a witness from cosigning the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pypi_witness.core.tlog.note import ALG_ED25519, Verifier
from pypi_witness.core.errors import MalformedError, NoteError

HEADER = "logs/v0"
_KEYWORDS = ("origin", "bastion", "qpd", "contact")
_NUMBER = re.compile(r"[0-9]{1,12}(\.[0-9]{1,6})?")


@dataclass(frozen=True, slots=True)
class ListedLog:
    """One log to witness: its key, origin, requests allowed a day (None: no limit), and contact."""

    vkey: Verifier
    origin: str
    qpd: float | None = None
    contact: str = ""


def parse_log_list(text: str) -> tuple[list[ListedLog], list[str]]:
    """The logs in a ``logs/v0`` list, and a message for each log skipped (its key is unusable).

    Raises MalformedError naming the line for: no ``logs/v0`` header, a line
    before the first ``vkey`` or with an unknown keyword, a keyword twice for
    one log, a ``qpd`` that is not a non-negative number, a verifier key that
    does not parse, or an origin listed twice.
    """
    logs: list[ListedLog] = []
    skipped: list[str] = []
    seen_header = False
    current: dict[str, str] | None = None
    current_line = 0
    origins: dict[str, int] = {}

    def finish() -> None:
        if current is None:
            return
        log = _listed(current, current_line, skipped)
        if log is None:
            return
        if log.origin in origins:
            raise MalformedError(f"line {current_line}: origin {log.origin!r} is listed already (line {origins[log.origin]})")
        origins[log.origin] = current_line
        logs.append(log)

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not seen_header:
            if line != HEADER:
                raise MalformedError(f"line {number}: a log list starts with {HEADER!r}, not {line[:40]!r}")
            seen_header = True
            continue
        keyword, _, value = line.partition(" ")
        value = value.strip()
        if keyword == "vkey":
            finish()
            current, current_line = {"vkey": value}, number
        elif keyword in _KEYWORDS:
            if current is None:
                raise MalformedError(f"line {number}: {keyword!r} before any 'vkey' line")
            if keyword in current:
                raise MalformedError(f"line {number}: a second {keyword!r} line for the log of line {current_line}")
            current[keyword] = value
        else:
            raise MalformedError(f"line {number}: unknown keyword {keyword[:40]!r}")
    if not seen_header:
        raise MalformedError(f"the log list has no {HEADER!r} header")
    finish()
    return logs, skipped


def _listed(fields: dict[str, str], line: int, skipped: list[str]) -> ListedLog | None:
    try:
        vkey = Verifier.from_vkey(fields["vkey"])
    except NoteError as e:
        if "signature type" in str(e):
            skipped.append(f"line {line}: skipped, its key is of a type this witness cannot check ({e})")
            return None
        raise MalformedError(f"line {line}: not a verifier key: {e}") from None
    if vkey.alg != ALG_ED25519:
        skipped.append(f"line {line}: skipped, {vkey.name!r} is a cosigner key (type 0x{vkey.alg:02x}), not a log key")
        return None
    origin = fields.get("origin", "none")
    if not origin:
        raise MalformedError(f"line {line}: empty origin (write 'origin none' for the key's name)")
    qpd = None
    if "qpd" in fields:
        if not _NUMBER.fullmatch(fields["qpd"]):
            raise MalformedError(f"line {line}: qpd {fields['qpd'][:40]!r} is not a number of requests a day")
        qpd = float(fields["qpd"])
    return ListedLog(vkey, vkey.name if origin == "none" else origin, qpd, fields.get("contact", ""))


def format_log_list(logs: list[ListedLog]) -> str:
    """A ``logs/v0`` list of ``logs`` (``parse_log_list`` reads it back)."""
    out = [HEADER + "\n"]
    for log in logs:
        out.append(f"\nvkey {log.vkey.vkey()}\n")
        out.append(f"origin {'none' if log.origin == log.vkey.name else log.origin}\n")
        out.append("bastion none\n")
        if log.qpd is not None:
            out.append(f"qpd {log.qpd:g}\n")
        if log.contact:
            out.append(f"contact {log.contact}\n")
    return "".join(out)
