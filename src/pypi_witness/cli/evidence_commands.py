"""``pypi-witness evidence``: list, show and verify equivocation evidence.

``list --data DIR`` and ``show ID --data DIR`` read the node's gossip state
(``store.gossip_state``, read-only: the node may be running). ``verify FILE
--vkey VKEY`` needs nothing but the file and the log's verifier key (or a
file holding it) and works offline. Exit codes (``cli``): 0 for evidence
that proves the log equivocated, 3 for evidence that does not (the reason on
stderr), 1 for a file that is not evidence at all, or a missing store or id.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pypi_witness.bounded_file import read_bounded
from pypi_witness.core.tlog.evidence import evidence_id, parse_evidence, verify_evidence
from pypi_witness.core.tlog.note import Verifier
from pypi_witness.core.errors import MalformedError, NoteError
from pypi_witness.store.gossip_state import STATE_DIR, GossipStateStore

# The largest evidence file read: two signed checkpoints and a consistency proof.
MAX_EVIDENCE_BYTES = 1 << 20


def _summary(text: bytes) -> dict:
    parsed = parse_evidence(text)
    a, b = parsed.checkpoints()
    return {
        "id": evidence_id(text),
        "kind": parsed.kind,
        "origin": parsed.origin,
        "sizes": [a.size, b.size],
    }


def _open(data: Path) -> GossipStateStore:
    return GossipStateStore(data / STATE_DIR, readonly=True)


def cmd_list(args: argparse.Namespace) -> int:
    store = _open(args.data)
    try:
        held = store.evidence()
    finally:
        store.close()
    rows = [_summary(text) for _, text in sorted(held.items())]
    if args.json:
        print(json.dumps(rows, sort_keys=True))
    elif not rows:
        print("no evidence held")
    for row in rows if not args.json else ():
        print(f"{row['id']}  {row['kind']:9}  {row['origin']}  sizes {row['sizes'][0]} and {row['sizes'][1]}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    store = _open(args.data)
    try:
        text = store.evidence_text(args.id)
    finally:
        store.close()
    sys.stdout.buffer.write(text)
    sys.stdout.flush()
    return 0


def _vkey(value: str) -> Verifier:
    text = value
    if "+" not in value or Path(value).is_file():
        data = read_bounded(value, 64 << 10, "verifier key file (--vkey)")
        text = data.decode("utf-8", errors="replace")
    try:
        return Verifier.from_vkey(text.strip())
    except NoteError as e:
        raise MalformedError(f"--vkey: not a verifier key: {e}") from None


def cmd_verify(args: argparse.Namespace) -> int:
    verifier = _vkey(args.vkey)
    text = read_bounded(args.file, MAX_EVIDENCE_BYTES, "evidence file")
    verified = verify_evidence(text, verifier)  # MalformedError (exit 1) or VerificationError (exit 3)
    a, b = verified.checkpoints()
    summary = {"id": evidence_id(text), "kind": verified.kind, "origin": verified.origin, "sizes": [a.size, b.size]}
    if args.json:
        print(json.dumps({**summary, "valid": True}, sort_keys=True))
    else:
        print(f"valid evidence {summary['id']}: {verified.origin} signed two incompatible trees ({verified.kind}, sizes {a.size} and {b.size})")
    return 0


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser, data: argparse.ArgumentParser) -> None:
    """Register ``evidence list|show|verify`` on the CLI's subcommands."""
    p = sub.add_parser("evidence", help="equivocation evidence held by a node, or checked offline")
    esub = p.add_subparsers(dest="evidence_command", required=True, parser_class=type(p))
    q = esub.add_parser("list", parents=[common, data], help="the evidence the node holds")
    q.set_defaults(func=cmd_list)
    q = esub.add_parser("show", parents=[common, data], help="one evidence text (ID or a unique prefix of 4+)")
    q.add_argument("id", metavar="ID")
    q.set_defaults(func=cmd_show)
    q = esub.add_parser("verify", parents=[common], help="check an evidence file with the log's key (offline)")
    q.add_argument("file", metavar="FILE")
    q.add_argument("--vkey", required=True, help="the log's verifier key, or a file holding it")
    q.set_defaults(func=cmd_verify)
