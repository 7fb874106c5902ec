"""``query``: ask a node, and verify every answer (checkpoint, lookup, entries, proof)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pypi_witness.cli.args import (
    EXIT_ERROR,
    EXIT_OK,
    CliError,
    Parser,
    b64,
    emit,
    nonnegative,
    seconds,
)
from pypi_witness.client.command import add_tls_arguments, client_credentials
from pypi_witness.core.tlog import merkle

# --- query ----------------------------------------------------------------------


def cmd_query(args: argparse.Namespace) -> int:
    import trio

    from pypi_witness.client.verifying import ClientState, VerifyingClient
    from pypi_witness.rpc.client import LogClient
    from pypi_witness.signing.keys import read_verifier

    verifier = read_verifier(args.vkey)
    credentials = client_credentials(args.tls_ca, args.tls_cert, args.tls_key)
    state = ClientState(args.state) if args.state else None

    async def run() -> int:
        async with LogClient(args.node, credentials=credentials) as node:
            client = VerifyingClient(node, verifier, state)
            with trio.fail_after(args.timeout):
                return await _QUERY_COMMANDS[args.query_command](client, args)

    try:
        return trio.run(run)
    except trio.TooSlowError:
        raise CliError(f"no answer from {args.node} within {args.timeout:g} s") from None


def _accepted_lines(accepted: Any) -> list[str]:
    cp = accepted.checkpoint.checkpoint
    lines = [f"checkpoint: {cp.origin} size {cp.size} root {b64(cp.root_hash)} (signature verified)"]
    if accepted.previous_size == cp.size:
        lines.append("the same as the checkpoint accepted before")
    elif accepted.previous_size is not None:
        lines.append(
            f"consistent with the checkpoint of size {accepted.previous_size} accepted before "
            f"(proof of {len(accepted.consistency_proof)} hashes verified)"
        )
    return lines


def _accepted_json(accepted: Any) -> dict[str, Any]:
    cp = accepted.checkpoint.checkpoint
    return {
        "origin": cp.origin,
        "size": cp.size,
        "root": b64(cp.root_hash),
        "note": accepted.checkpoint.note.decode(),
        "previous_size": accepted.previous_size,
    }


async def _query_checkpoint(client: Any, args: argparse.Namespace) -> int:
    since = None
    if args.since:
        from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint

        from pypi_witness.bounded_file import read_bounded

        note = read_bounded(args.since, 1 << 20, "signed checkpoint (--since)")
        since = open_checkpoint(note, client.verifier)
    accepted = await client.checkpoint(since)
    lines = _accepted_lines(accepted)
    emit(args, "\n".join(lines) + "\n" + accepted.checkpoint.note.decode().rstrip("\n"), _accepted_json(accepted))
    return EXIT_OK


def _entry_json(entry: Any) -> dict[str, Any]:
    return {
        "index": entry.index,
        "leaf": b64(entry.leaf),
        "leaf_hash": b64(merkle.leaf_hash(entry.leaf)),
        "proof": [b64(h) for h in entry.proof],
    }


async def _query_lookup(client: Any, args: argparse.Namespace) -> int:
    accepted, results = await client.lookup(args.filenames)
    missing = [r.filename for r in results if not r.entries]
    if args.json:
        print(
            json.dumps(
                {
                    "checkpoint": _accepted_json(accepted),
                    "results": [
                        {
                            "filename": r.filename,
                            "entries": [_entry_json(e) for e in r.entries],
                            "conflicts": [{"index": c.index, "earlier_index": c.earlier_index} for c in r.conflicts],
                        }
                        for r in results
                    ],
                },
                sort_keys=True,
            )
        )
    else:
        print("\n".join(_accepted_lines(accepted)))
        for r in results:
            if not r.entries:
                print(f"{r.filename}: not in the log (up to size {accepted.checkpoint.checkpoint.size})")
            for e in r.entries:
                print(f"# {r.filename}: entry {e.index} (inclusion proof of {len(e.proof)} hashes verified)")
                print(e.leaf.decode(errors="replace"), end="")
            for c in r.conflicts:
                print(f"CONFLICT: entry {c.index} logs {c.filename} with other hashes than entry {c.earlier_index}")
    return EXIT_ERROR if missing else EXIT_OK


async def _query_entries(client: Any, args: argparse.Namespace) -> int:
    accepted, entries = await client.entries(args.start, args.end)
    if args.json:
        for e in entries:
            print(json.dumps({"index": e.index, "leaf": b64(e.leaf)}, sort_keys=True))
    else:
        print("\n".join(_accepted_lines(accepted)))
        for e in entries:
            print(f"# entry {e.index} (inclusion proof verified)\n{e.leaf.decode(errors='replace')}", end="")
    return EXIT_OK


async def _query_proof(client: Any, args: argparse.Namespace) -> int:
    accepted, entry = await client.inclusion(args.index)
    cp = accepted.checkpoint.checkpoint
    machine = {"index": entry.index, "size": cp.size, "leaf_hash": b64(merkle.leaf_hash(entry.leaf)),
               "proof": [b64(h) for h in entry.proof], "root": b64(cp.root_hash)}  # fmt: skip
    human = "\n".join(
        [*_accepted_lines(accepted), f"entry {entry.index}: inclusion proof of {len(entry.proof)} hashes verified"]
        + [f"proof {b64(h)}" for h in entry.proof]
    )
    emit(args, human, machine)
    return EXIT_OK


_QUERY_COMMANDS = {
    "checkpoint": _query_checkpoint,
    "lookup": _query_lookup,
    "entries": _query_entries,
    "proof": _query_proof,
}


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``query`` to the subcommands ``sub``."""
    node = argparse.ArgumentParser(add_help=False)
    node.add_argument("--node", required=True, metavar="HOST:PORT", help="the node to ask")
    node.add_argument("--vkey", required=True, help="the log's verifier key, or a file holding it")
    node.add_argument("--state", type=Path, metavar="DIR", help="keep the newest accepted checkpoint here; refuse rollbacks")
    node.add_argument("--timeout", type=seconds, default=10.0, help="seconds to wait for all answers (default 10)")
    add_tls_arguments(node)
    p = sub.add_parser("query", help="ask a node, and verify every answer")
    p.set_defaults(func=cmd_query)
    qsub = p.add_subparsers(dest="query_command", required=True, parser_class=Parser)
    q = qsub.add_parser("checkpoint", parents=[common, node], help="the node's checkpoint, verified")
    q.add_argument("--since", metavar="FILE", help="a signed checkpoint the new one must extend")
    q = qsub.add_parser("lookup", parents=[common, node], help="entries for filenames, each proven")
    q.add_argument("filenames", nargs="+", metavar="FILENAME")
    q = qsub.add_parser("entries", parents=[common, node], help="entries START to END (exclusive), each proven")
    q.add_argument("start", type=nonnegative)
    q.add_argument("end", type=nonnegative)
    q = qsub.add_parser("proof", parents=[common, node], help="entry INDEX with its proof, verified")
    q.add_argument("index", type=nonnegative)
