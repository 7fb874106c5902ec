"""The commands that run a follower or a fake index, and set up a federation:
``follow``, ``fake-index`` and ``federation init`` (the ``pypi-witness`` CLI's)."""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import Any

from pypi_witness.cli.args import (
    EXIT_OK,
    EXIT_UNVERIFIED,
    Parser,
    emit,
    nonnegative,
    positive,
)

# --- federation -------------------------------------------------------------------


def cmd_federation_init(args: argparse.Namespace) -> int:
    from pypi_witness.config.federation import POLICY_FILE, create_federation
    from pypi_witness.config.node import check_index_url

    names = [f"node{i}" for i in range(1, args.nodes + 1)]
    if args.compose is not None:
        addresses = {name: f"{name}:{args.compose}" for name in names}
        listen = {name: f"0.0.0.0:{args.compose}" for name in names}
        http_port = args.http_base_port if args.http_base_port is not None else 8080
        http = {name: f"0.0.0.0:{http_port}" for name in names}
    else:
        addresses = {name: f"{args.host}:{args.base_port + i}" for i, name in enumerate(names)}
        listen = None
        http_base = args.http_base_port if args.http_base_port is not None else args.base_port + 1000
        http = {name: f"{args.host}:{http_base + i}" for i, name in enumerate(names)}
    extra = f'\n[index]\nurl = "{check_index_url("--index", args.index)}"\n' if args.index else ""
    if args.compose is not None:
        # The nodes talk over the compose project's own network; TLS is for the open internet.
        extra = "allow_plaintext = true\n" + extra
    members = create_federation(
        args.dir, addresses, listen=listen, quorum=args.quorum, extra_config=extra, http_listen=http
    )
    lines = [f"{m.name}: {m.address}, HTTP {http[m.name]}, config {m.config}, log {m.log.vkey()}" for m in members.values()]
    emit(
        args,
        "\n".join(lines) + f"\npolicy: {args.dir / POLICY_FILE}\nstart each with: pypi-witness serve --config CONFIG",
        {
            "policy": str(args.dir / POLICY_FILE),
            "nodes": [
                {"name": m.name, "address": m.address, "http": http[m.name], "config": str(m.config),
                 "log_vkey": m.log.vkey(), "witness_vkey": m.witness.vkey()}
                for m in members.values()
            ],
        },
    )  # fmt: skip
    return EXIT_OK


# --- follow ---------------------------------------------------------------------


def cmd_follow(args: argparse.Namespace) -> int:
    import dataclasses
    import logging

    import trio

    from pypi_witness.config.node import IndexConfig, check_index_url, load_config
    from pypi_witness.runtime.follow import TAMPERING, follow

    settings = load_config(args.config).index if args.config else IndexConfig()
    settings = dataclasses.replace(settings, url=check_index_url("--index", args.index))
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    status = trio.run(functools.partial(follow, args.data, settings, once=args.once, progress=sys.stderr.isatty()))
    tampering = sum(n for kind, n in status.alarms.items() if kind in TAMPERING)
    alarms = ", ".join(f"{kind} {n}" for kind, n in sorted(status.alarms.items())) or "none"
    emit(
        args,
        f"followed {settings.url} to serial {status.serial} (head {status.head_serial}): "
        f"{status.records} records appended, {status.requests} requests; alarms: {alarms}",
        {
            "index": settings.url, "serial": status.serial, "head_serial": status.head_serial,
            "records": status.records, "requests": status.requests, "alarms": dict(status.alarms),
        },
    )  # fmt: skip
    return EXIT_UNVERIFIED if tampering else EXIT_OK


# --- fake-index -----------------------------------------------------------------


def cmd_fake_index(args: argparse.Namespace) -> int:
    from pypi_witness.fakeindex.run import serve_fake_index

    return serve_fake_index(host=args.host, port=args.port, state_dir=args.state, populate=args.populate,
                            seed=args.seed, changelog_cap=args.changelog_cap)  # fmt: skip


# --- parsing --------------------------------------------------------------------


def add_parsers(sub: Any, common: argparse.ArgumentParser, data: argparse.ArgumentParser) -> None:
    """Add ``follow``, ``fake-index`` and ``federation`` to the subcommands ``sub``."""
    p = sub.add_parser("federation", help="set up several nodes that witness each other")
    fsub = p.add_subparsers(dest="federation_command", required=True, parser_class=Parser)
    q = fsub.add_parser("init", parents=[common], help="keys, logs, configurations and a policy for N nodes")
    q.add_argument("dir", type=Path, metavar="DIR")
    q.add_argument("--nodes", type=positive, default=3, help="how many nodes (default 3), named node1, node2...")
    q.add_argument("--host", default="127.0.0.1", help="the host they listen on (default 127.0.0.1)")
    q.add_argument("--base-port", type=nonnegative, default=7001, help="node1's port; node2 the next... (default 7001)")
    q.add_argument("--compose", type=positive, metavar="PORT", help="for docker compose: node N at nodeN:PORT, listening on all addresses, in plaintext")
    q.add_argument(
        "--http-base-port", type=nonnegative, metavar="PORT",
        help="node1's HTTP port (C2SP tlog-witness, tlog-tiles); node2 the next... (default: base port + 1000; "
        "with --compose, the HTTP port of every node, default 8080)",
    )
    q.add_argument("--quorum", type=positive, help="witnesses the policy requires (default: a majority)")
    q.add_argument("--index", metavar="URL", help="an index every node follows")
    q.set_defaults(func=cmd_federation_init)

    p = sub.add_parser("follow", parents=[common, data], help="follow a package index into the log")
    p.add_argument("--index", required=True, metavar="URL", help="the index, e.g. https://pypi.org")
    p.add_argument("--once", action="store_true", help="catch up and audit once, then stop")
    p.add_argument("--config", type=Path, metavar="FILE", help="take the other [index] settings from this file")
    p.set_defaults(func=cmd_follow)


    p = sub.add_parser("fake-index", help="serve a fake PyPI (XML-RPC, JSON, Simple, files) for tests and demos")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=nonnegative, default=0, help="port to listen on (default: any free port)")
    p.add_argument("--state", type=Path, metavar="DIR", help="keep the index here across restarts")
    p.add_argument("--populate", type=nonnegative, metavar="N", help="generate N projects when the index is new")
    p.add_argument("--seed", type=int, default=0, help="seed for --populate (default 0)")
    p.add_argument("--changelog-cap", type=positive, default=50_000, help="rows per changelog call (default 50,000)")
    p.set_defaults(func=cmd_fake_index)
