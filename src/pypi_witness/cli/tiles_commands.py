"""``pypi-witness tiles export``: the log's C2SP tlog-tiles as static files (``http.export`` writes them)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pypi_witness.cli.args import EXIT_OK, Parser, emit


def cmd_tiles_export(args: argparse.Namespace) -> int:
    from pypi_witness.core.errors import ConfigError
    from pypi_witness.http.export import export_tiles
    from pypi_witness.signing.log import open_log

    log = open_log(args.data, readonly=True)
    try:
        note = log.store.checkpoint()
        if note is None:
            raise ConfigError(f"the log in {args.data} has no signed checkpoint to export")
        log.checkpoint()  # the stored note verifies with the log's key
        result = export_tiles(log.store, args.out, note)
    finally:
        log.close()
    emit(
        args,
        f"exported the tiles of size {result.size} into {args.out}: {result.written} files written, "
        f"{result.kept} already there" + "".join(f"\nleft out {s}" for s in result.skipped_bundles),
        {"size": result.size, "written": result.written, "kept": result.kept, "skipped": list(result.skipped_bundles)},
    )
    return EXIT_OK


def add_tiles_parser(sub: Any, common: argparse.ArgumentParser, data: argparse.ArgumentParser) -> None:
    """Add ``tiles export`` to the subcommands ``sub``."""
    p = sub.add_parser("tiles", help="the log as C2SP tlog-tiles")
    tsub = p.add_subparsers(dest="tiles_command", required=True, parser_class=Parser)
    q = tsub.add_parser(
        "export", parents=[common, data], help="write the tiles, entry bundles and checkpoint as static files"
    )
    q.add_argument("--out", type=Path, required=True, metavar="DIR", help="where to write them (served as the log's URL prefix)")
    q.set_defaults(func=cmd_tiles_export)
