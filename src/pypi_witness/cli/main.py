"""The ``pypi-witness`` command line.

Human-readable output by default, ``--json`` for machines. Every error is one
line on stderr and a non-zero exit: 1 for a refused operation or bad input, 2
for a malformed command line, 3 when a node's answer fails verification, 130
when interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pypi_witness.cli.args import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNVERIFIED,
    Parser,
    emit,
    seconds,
)
from pypi_witness.cli.log_commands import add_parsers as add_log_parsers
from pypi_witness.cli.node_commands import add_parsers as add_node_parsers
from pypi_witness.cli.query_commands import add_parsers as add_query_parsers
from pypi_witness.client.command import add_parsers as add_client_parsers
from pypi_witness.core.errors import VerificationError, WitnessError

# --- serve ----------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from pypi_witness.runtime.serve import serve_main

    return serve_main(args.config)


# --- privacy --------------------------------------------------------------------


def cmd_privacy(args: argparse.Namespace) -> int:
    from pypi_witness.privacy.report import format_summary, privacy_summary

    summary = privacy_summary(args.data)
    emit(args, format_summary(summary), summary)
    return EXIT_OK


# --- demo -----------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from pypi_witness.demo.run import run_demo

    return run_demo(args.data)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="pypi-witness", description="Witness the files PyPI serves in an append-only Merkle log.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--data", type=Path, required=True, metavar="DIR", help="the node's data directory")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    add_log_parsers(sub, common, data)  # init, import, log

    p = sub.add_parser("serve", help="run a node: serve the log over gRPC")
    p.add_argument("--config", type=Path, required=True, metavar="FILE", help="the node's TOML configuration")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("privacy", help="what the node stores about clients")
    p.set_defaults(func=cmd_privacy)
    psub = p.add_subparsers(dest="privacy_command", required=True, parser_class=Parser)
    psub.add_parser("report", parents=[common, data], help="counts, oldest record's age, key period; never a key")

    add_query_parsers(sub, common)  # query

    from pypi_witness.cli.evidence_commands import add_parser as add_evidence_parser

    add_evidence_parser(sub, common, data)
    add_node_parsers(sub, common, data)  # follow, fake-index, federation init
    add_client_parsers(sub, common, seconds)  # verify, proof
    from pypi_witness.cli.tiles_commands import add_tiles_parser

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
