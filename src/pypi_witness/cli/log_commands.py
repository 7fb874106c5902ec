"""The commands on a local log: ``init``, ``import`` and ``log`` (checkpoint, vkey, entries, lookup, proof)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pypi_witness.cli.args import (
    EXIT_OK,
    CliError,
    Parser,
    b64,
    emit,
    nonnegative,
    positive,
)
from pypi_witness.core.tlog import merkle

# --- init / import --------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    from pypi_witness.signing.log import PRIVATE_KEY_FILE, init_log
    from pypi_witness.signing.witness import (
        default_witness_name,
        new_witness_signer,
        write_witness_key,
    )

    # A bad witness name is refused before anything is created.
    signer = new_witness_signer(args.witness_name) if args.witness_name else None
    log = init_log(args.data, args.origin)
    try:
        signer = signer or new_witness_signer(default_witness_name(log.origin))
        write_witness_key(args.data, signer)
        witness = signer.verifier()
        vkey = log.verifier.vkey()
        emit(
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
    from pypi_witness.ingest.importer import (
        DEFAULT_BATCH_SIZE,
        default_workers,
        import_jsonl,
    )
    from pypi_witness.ingest.progress import Progress
    from pypi_witness.signing.log import open_log

    log = open_log(args.data)
    try:
        if args.file == "-":
            stream, total = sys.stdin.buffer, None
        else:
            try:
                stream = open(args.file, "rb")  # noqa: SIM115 - closed below
            except OSError as e:
                raise CliError(f"cannot read {args.file}: {e.strerror}") from None
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
        emit(
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
    from pypi_witness.signing.log import open_log

    log = open_log(args.data, readonly=True)
    try:
        return _LOG_COMMANDS[args.log_command](log, args)
    finally:
        log.close()


def _log_checkpoint(log: Any, args: argparse.Namespace) -> int:
    signed = log.checkpoint()
    cp = signed.checkpoint
    if args.json:
        emit(args, "", {"origin": cp.origin, "size": cp.size, "root": b64(cp.root_hash), "note": signed.note.decode()})
    else:
        sys.stdout.write(signed.note.decode())
    return EXIT_OK


def _log_vkey(log: Any, args: argparse.Namespace) -> int:
    emit(args, log.verifier.vkey(), {"vkey": log.verifier.vkey()})
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
        raise CliError(f"{args.filename} is not in the log (checked up to size {found.checkpoint.checkpoint.size})")
    root = found.checkpoint.checkpoint.root_hash
    for p in found.entries:
        merkle.verify_inclusion(p.leaf_hash, p.index, p.size, p.proof, root)
    if args.json:
        emit(
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
        emit(args, human, _inclusion_json(p))
        return EXIT_OK
    c = log.consistency_proof(args.old, args.new)
    merkle.verify_consistency(c.old_size, c.new_size, c.old_root, c.new_root, c.proof)
    human = "\n".join(
        [f"old {c.old_size}", f"new {c.new_size}", f"old_root {b64(c.old_root)}", f"new_root {b64(c.new_root)}"]
        + [f"proof {b64(h)}" for h in c.proof]
    )
    emit(
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


def add_parsers(sub: Any, common: argparse.ArgumentParser, data: argparse.ArgumentParser) -> None:
    """Add ``init``, ``import`` and ``log`` to the subcommands ``sub``."""
    p = sub.add_parser("init", parents=[common, data], help="create keys and an empty log")
    p.add_argument("--origin", required=True, help="the log's origin, e.g. witness.example.org/pypi")
    p.add_argument("--witness-name", help="the name of the node's witness key (default: ORIGIN/witness)")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("import", parents=[common, data], help="append BigQuery-shaped JSON Lines records")
    p.add_argument("file", help="a JSON Lines file, or - for standard input")
    p.add_argument("--batch-size", type=positive, help="records per write transaction (default 20,000)")
    p.add_argument(
        "--workers", type=nonnegative, help="parsing processes (default: one per CPU for inputs over 8 MB, else 0)"
    )
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("log", help="read the local log")
    p.set_defaults(func=cmd_log)
    lsub = p.add_subparsers(dest="log_command", required=True, parser_class=Parser)
    lsub.add_parser("checkpoint", parents=[common, data], help="the latest signed checkpoint")
    lsub.add_parser("vkey", parents=[common, data], help="the log's verifier key")
    q = lsub.add_parser("entries", parents=[common, data], help="entries START (inclusive) to END (exclusive)")
    q.add_argument("start", type=nonnegative)
    q.add_argument("end", type=nonnegative)
    q = lsub.add_parser("lookup", parents=[common, data], help="every entry for a filename, with proofs")
    q.add_argument("filename")
    q = lsub.add_parser("proof", help="inclusion and consistency proofs")
    psub = q.add_subparsers(dest="proof_kind", required=True, parser_class=Parser)
    r = psub.add_parser("inclusion", parents=[common, data], help="prove entry INDEX")
    r.add_argument("index", type=nonnegative)
    r.add_argument("--size", type=nonnegative, help="tree size (default: the signed checkpoint's)")
    r = psub.add_parser("consistency", parents=[common, data], help="prove tree OLD is a prefix of tree NEW")
    r.add_argument("old", type=nonnegative)
    r.add_argument("new", type=nonnegative)
