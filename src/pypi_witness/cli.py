"""The ``pypi-witness`` command line.

Human-readable output by default, ``--json`` for machines. Every error is one
line on stderr and a non-zero exit: 1 for a refused operation or bad input, 2
for a malformed command line, 3 when a node's answer fails verification, 130
when interrupted.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pypi_witness.client.command import add_parsers as add_client_parsers
from pypi_witness.client.command import add_tls_arguments, client_credentials
from pypi_witness.node_commands import add_parsers as add_node_parsers
from pypi_witness.core import merkle
from pypi_witness.errors import VerificationError, WitnessError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNVERIFIED = 3
EXIT_INTERRUPTED = 130


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _emit(args: argparse.Namespace, human: str, machine: Any) -> None:
    if args.json:
        print(json.dumps(machine, sort_keys=True))
    else:
        print(human)


# --- init / import --------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    from pypi_witness.log import PRIVATE_KEY_FILE, init_log
    from pypi_witness.witness import default_witness_name, new_witness_signer, write_witness_key

    # A bad witness name is refused before anything is created.
    signer = new_witness_signer(args.witness_name) if args.witness_name else None
    log = init_log(args.data, args.origin)
    try:
        signer = signer or new_witness_signer(default_witness_name(log.origin))
        write_witness_key(args.data, signer)
        witness = signer.verifier()
        vkey = log.verifier.vkey()
        _emit(
            args,
            f"created log {log.origin} in {args.data}\nverifier key: {vkey}\n"
            f"private key:  {args.data / PRIVATE_KEY_FILE} (keep it secret)\n"
            f"witness key:  {witness.vkey()}",
            {"origin": log.origin, "vkey": vkey, "witness_vkey": witness.vkey(), "data": str(args.data)},
        )
    finally:
        log.close()
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from pypi_witness.ingest.importer import DEFAULT_BATCH_SIZE, default_workers, import_jsonl
    from pypi_witness.log import open_log
    from pypi_witness.progress import Progress

    log = open_log(args.data)
    try:
        if args.file == "-":
            stream, total = sys.stdin.buffer, None
        else:
            try:
                stream = open(args.file, "rb")  # noqa: SIM115 - closed below
            except OSError as e:
                raise _CliError(f"cannot read {args.file}: {e.strerror}") from None
            total = Path(args.file).stat().st_size
        progress = Progress("importing", total)
        try:
            workers = default_workers(total) if args.workers is None else args.workers
            result = import_jsonl(
                log,
                stream,
                batch_size=args.batch_size or DEFAULT_BATCH_SIZE,
                workers=workers,
                progress=lambda lines, read: progress.update(read, lines, "lines"),
            )
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()
        progress.finish(total or 0, result.lines, "lines")
        cp = result.checkpoint.checkpoint
        _emit(
            args,
            f"imported {result.appended:,} records ({result.duplicates:,} duplicates skipped, "
            f"{result.conflicts:,} conflicts) from {result.lines:,} lines; log size {cp.size:,}\n"
            + result.checkpoint.note.decode(),
            {
                "lines": result.lines,
                "appended": result.appended,
                "duplicates": result.duplicates,
                "conflicts": result.conflicts,
                "size": cp.size,
                "root": b64(cp.root_hash),
                "checkpoint": result.checkpoint.note.decode(),
            },
        )
    finally:
        log.close()
    return EXIT_OK


# --- log ------------------------------------------------------------------------


def _inclusion_json(p: Any) -> dict[str, Any]:
    return {
        "index": p.index,
        "size": p.size,
        "leaf_hash": b64(p.leaf_hash),
        "proof": [b64(h) for h in p.proof],
        "root": b64(p.root_hash),
    }


def cmd_log(args: argparse.Namespace) -> int:
    from pypi_witness.log import open_log

    log = open_log(args.data, readonly=True)
    try:
        return _LOG_COMMANDS[args.log_command](log, args)
    finally:
        log.close()


def _log_checkpoint(log: Any, args: argparse.Namespace) -> int:
    signed = log.checkpoint()
    cp = signed.checkpoint
    if args.json:
        _emit(args, "", {"origin": cp.origin, "size": cp.size, "root": b64(cp.root_hash), "note": signed.note.decode()})
    else:
        sys.stdout.write(signed.note.decode())
    return EXIT_OK


def _log_vkey(log: Any, args: argparse.Namespace) -> int:
    _emit(args, log.verifier.vkey(), {"vkey": log.verifier.vkey()})
    return EXIT_OK


def _log_entries(log: Any, args: argparse.Namespace) -> int:
    leaves = log.entries(args.start, args.end)
    for index, leaf in enumerate(leaves, args.start):
        if args.json:
            print(json.dumps({"index": index, "leaf": b64(leaf)}, sort_keys=True))
        else:
            print(f"# entry {index}\n{leaf.decode(errors='replace')}", end="")
    return EXIT_OK


def _log_lookup(log: Any, args: argparse.Namespace) -> int:
    found = log.lookup(args.filename)
    if not found.entries:
        raise _CliError(f"{args.filename} is not in the log (checked up to size {found.checkpoint.checkpoint.size})")
    root = found.checkpoint.checkpoint.root_hash
    for p in found.entries:
        merkle.verify_inclusion(p.leaf_hash, p.index, p.size, p.proof, root)
    if args.json:
        _emit(
            args,
            "",
            {
                "filename": args.filename,
                "checkpoint": found.checkpoint.note.decode(),
                "entries": [{**_inclusion_json(p), "leaf": b64(p.leaf)} for p in found.entries],
                "conflicts": [{"index": c.index, "earlier_index": c.earlier_index} for c in found.conflicts],
            },
        )
        return EXIT_OK
    for p in found.entries:
        print(f"# entry {p.index} of {p.size} (inclusion proof of {len(p.proof)} hashes verified)")
        print(p.leaf.decode(errors="replace"), end="")
    for c in found.conflicts:
        print(f"CONFLICT: entry {c.index} logs {c.filename} with other hashes than entry {c.earlier_index}")
    return EXIT_OK


def _log_proof(log: Any, args: argparse.Namespace) -> int:
    if args.proof_kind == "inclusion":
        p = log.inclusion_proof(args.index, args.size)
        merkle.verify_inclusion(p.leaf_hash, p.index, p.size, p.proof, p.root_hash)
        human = "\n".join(
            [f"index {p.index}", f"size {p.size}", f"leaf_hash {b64(p.leaf_hash)}", f"root {b64(p.root_hash)}"]
            + [f"proof {b64(h)}" for h in p.proof]
        )
        _emit(args, human, _inclusion_json(p))
        return EXIT_OK
    c = log.consistency_proof(args.old, args.new)
    merkle.verify_consistency(c.old_size, c.new_size, c.old_root, c.new_root, c.proof)
    human = "\n".join(
        [f"old {c.old_size}", f"new {c.new_size}", f"old_root {b64(c.old_root)}", f"new_root {b64(c.new_root)}"]
        + [f"proof {b64(h)}" for h in c.proof]
    )
    _emit(
        args,
        human,
        {
            "old": c.old_size,
            "new": c.new_size,
            "old_root": b64(c.old_root),
            "new_root": b64(c.new_root),
            "proof": [b64(h) for h in c.proof],
        },
    )
    return EXIT_OK


_LOG_COMMANDS = {
    "checkpoint": _log_checkpoint,
    "vkey": _log_vkey,
    "entries": _log_entries,
    "lookup": _log_lookup,
    "proof": _log_proof,
}


# --- serve ----------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from pypi_witness.runtime.serve import serve_main

    return serve_main(args.config)


# --- privacy --------------------------------------------------------------------


def cmd_privacy(args: argparse.Namespace) -> int:
    from pypi_witness.privacy.report import format_summary, privacy_summary

    summary = privacy_summary(args.data)
    _emit(args, format_summary(summary), summary)
    return EXIT_OK


# --- query ----------------------------------------------------------------------


def cmd_query(args: argparse.Namespace) -> int:
    import trio

    from pypi_witness.keys import read_verifier
    from pypi_witness.rpc.client import LogClient
    from pypi_witness.verifying_client import ClientState, VerifyingClient

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
        raise _CliError(f"no answer from {args.node} within {args.timeout:g} s") from None


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
        from pypi_witness.core.checkpoint import open_checkpoint

        try:
            note = Path(args.since).read_bytes()
        except OSError as e:
            raise _CliError(f"cannot read {args.since}: {e.strerror}") from None
        since = open_checkpoint(note, client.verifier)
    accepted = await client.checkpoint(since)
    lines = _accepted_lines(accepted)
    _emit(args, "\n".join(lines) + "\n" + accepted.checkpoint.note.decode().rstrip("\n"), _accepted_json(accepted))
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
    _emit(args, human, machine)
    return EXIT_OK


_QUERY_COMMANDS = {
    "checkpoint": _query_checkpoint,
    "lookup": _query_lookup,
    "entries": _query_entries,
    "proof": _query_proof,
}


# --- demo -----------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from pypi_witness.demo import run_demo

    return run_demo(args.data)


# --- parsing --------------------------------------------------------------------


class _CliError(WitnessError):
    """A command-line level refusal (an unreadable file, nothing found)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _nonnegative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError("must be between 0 and 86400 seconds")
    return value


def _positive(text: str) -> int:
    value = _nonnegative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pypi-witness", description="Witness the files PyPI serves in an append-only Merkle log.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--data", type=Path, required=True, metavar="DIR", help="the node's data directory")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("init", parents=[common, data], help="create keys and an empty log")
    p.add_argument("--origin", required=True, help="the log's origin, e.g. witness.example.org/pypi")
    p.add_argument("--witness-name", help="the name of the node's witness key (default: ORIGIN/witness)")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("import", parents=[common, data], help="append BigQuery-shaped JSON Lines records")
    p.add_argument("file", help="a JSON Lines file, or - for standard input")
    p.add_argument("--batch-size", type=_positive, help="records per write transaction (default 20,000)")
    p.add_argument(
        "--workers", type=_nonnegative, help="parsing processes (default: one per CPU for inputs over 8 MB, else 0)"
    )
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("log", help="read the local log")
    p.set_defaults(func=cmd_log)
    lsub = p.add_subparsers(dest="log_command", required=True, parser_class=_Parser)
    lsub.add_parser("checkpoint", parents=[common, data], help="the latest signed checkpoint")
    lsub.add_parser("vkey", parents=[common, data], help="the log's verifier key")
    q = lsub.add_parser("entries", parents=[common, data], help="entries START (inclusive) to END (exclusive)")
    q.add_argument("start", type=_nonnegative)
    q.add_argument("end", type=_nonnegative)
    q = lsub.add_parser("lookup", parents=[common, data], help="every entry for a filename, with proofs")
    q.add_argument("filename")
    q = lsub.add_parser("proof", help="inclusion and consistency proofs")
    psub = q.add_subparsers(dest="proof_kind", required=True, parser_class=_Parser)
    r = psub.add_parser("inclusion", parents=[common, data], help="prove entry INDEX")
    r.add_argument("index", type=_nonnegative)
    r.add_argument("--size", type=_nonnegative, help="tree size (default: the signed checkpoint's)")
    r = psub.add_parser("consistency", parents=[common, data], help="prove tree OLD is a prefix of tree NEW")
    r.add_argument("old", type=_nonnegative)
    r.add_argument("new", type=_nonnegative)

    p = sub.add_parser("serve", help="run a node: serve the log over gRPC")
    p.add_argument("--config", type=Path, required=True, metavar="FILE", help="the node's TOML configuration")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("privacy", help="what the node stores about clients")
    p.set_defaults(func=cmd_privacy)
    psub = p.add_subparsers(dest="privacy_command", required=True, parser_class=_Parser)
    psub.add_parser("report", parents=[common, data], help="counts, oldest record's age, key period; never a key")

    node = argparse.ArgumentParser(add_help=False)
    node.add_argument("--node", required=True, metavar="HOST:PORT", help="the node to ask")
    node.add_argument("--vkey", required=True, help="the log's verifier key, or a file holding it")
    node.add_argument("--state", type=Path, metavar="DIR", help="keep the newest accepted checkpoint here; refuse rollbacks")
    node.add_argument("--timeout", type=_seconds, default=10.0, help="seconds to wait for all answers (default 10)")
    add_tls_arguments(node)
    p = sub.add_parser("query", help="ask a node, and verify every answer")
    p.set_defaults(func=cmd_query)
    qsub = p.add_subparsers(dest="query_command", required=True, parser_class=_Parser)
    q = qsub.add_parser("checkpoint", parents=[common, node], help="the node's checkpoint, verified")
    q.add_argument("--since", metavar="FILE", help="a signed checkpoint the new one must extend")
    q = qsub.add_parser("lookup", parents=[common, node], help="entries for filenames, each proven")
    q.add_argument("filenames", nargs="+", metavar="FILENAME")
    q = qsub.add_parser("entries", parents=[common, node], help="entries START to END (exclusive), each proven")
    q.add_argument("start", type=_nonnegative)
    q.add_argument("end", type=_nonnegative)
    q = qsub.add_parser("proof", parents=[common, node], help="entry INDEX with its proof, verified")
    q.add_argument("index", type=_nonnegative)

    from pypi_witness.evidence_cli import add_parser as add_evidence_parser

    add_evidence_parser(sub, common, data)
    add_node_parsers(sub, common, data)  # follow, fake-index, federation init
    add_client_parsers(sub, common, _seconds)  # verify, proof
    from pypi_witness.http.commands import add_tiles_parser

    add_tiles_parser(sub, common, data)  # tiles export

    p = sub.add_parser("demo", help="build a log from the bundled sample, serve it, and verify it as a client")
    p.add_argument("--data", type=Path, metavar="DIR", help="where to keep the demo log (default: a temporary directory)")
    p.set_defaults(func=cmd_demo)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see the module docstring)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except VerificationError as e:
        print(f"pypi-witness: verification failed: {e}", file=sys.stderr)
        return EXIT_UNVERIFIED
    except WitnessError as e:
        print(f"pypi-witness: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): say nothing more, and keep the
        # interpreter's final flush of stdout from failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as e:
        where = f" {e.filename}" if e.filename else ""
        print(f"pypi-witness: error:{where} {e.strerror or e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("pypi-witness: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
