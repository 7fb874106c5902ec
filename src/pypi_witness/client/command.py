"""The ``verify`` and ``proof`` commands (registered by ``cli.main.build_parser``)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pypi_witness.core.errors import ConfigError, MalformedError, WitnessError

VERIFY_EPILOG = """\
A TARGET is a pip requirements file (*.txt, *.in) with --hash=sha256: options
(pip-compile --generate-hashes, uv pip compile --generate-hashes, uv export),
a PEP 751 pylock.toml (pip lock, uv export --format pylock.toml), a uv.lock, a
local distribution file (hashed here), or a *.tlog-proof bundle (then nothing
is asked of any node: the other targets are checked offline against the
bundles, matched by filename, or --sha256 gives the expected hash of a single
bundle's file). Anything else (pyproject.toml, poetry.lock, a directory) is
refused.

Trust: --policy FILE (a C2SP tlog-policy: the logs, the witnesses and the
quorum of cosignatures a checkpoint needs), and/or --vkey for each node's log
key (without --policy, each such log is trusted on its own signature).

Statuses: OK (a trusted log holds this exact hash), MISMATCH (trusted logs
hold that filename with other hashes or size, or a quorum does), UNKNOWN (not
logged yet, or the line lacks a hash or a pinned version), UNRESOLVED
(trusted logs disagree, or only untrusted ones know it), NOT_CHECKABLE
(editable, directory or VCS requirements: never on an index). When trusted
logs disagree, the hash the logs of a quorum of the policy's witnesses vouch
for (each node's log votes through the witness it runs, <origin>/witness)
decides: OK or MISMATCH, naming the overruled logs.

Exit codes: 0 all OK (or NOT_CHECKABLE); 3 a MISMATCH, or a node or bundle
failed verification; 4 otherwise, some entry UNKNOWN or UNRESOLVED; 1 error;
2 bad command line.
"""

# What a split-view warning means for the person running verify, said once after the warnings.
SPLIT_VIEW_MEANING = (
    "this means: if the log and those witnesses collude, you could be shown a history of the log "
    "that other users are not, and no check here would notice; verdicts still hold for the history you see"
)
_SHA256 = re.compile("[0-9a-f]{64}")
# Faulty witnesses verify warns about by default: the same as a node's [policy] faults default, and what
# the policy `federation init` writes withstands (a majority of n >= 3 witnesses: every two quorums share one).
DEFAULT_FAULTS = 0


def add_parsers(sub: Any, common: argparse.ArgumentParser, seconds: Callable[[str], float]) -> None:
    """Add ``verify`` and ``proof`` to the ``pypi-witness`` subcommands."""
    p = sub.add_parser(
        "verify",
        parents=[common],
        help="verify requirements, lock files or distribution files against nodes and a quorum policy",
        epilog=VERIFY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("targets", nargs="+", metavar="TARGET")
    p.add_argument("--policy", type=Path, metavar="FILE", help="a C2SP tlog-policy file")
    p.add_argument("--vkey", action="append", default=[], help="a log's verifier key (or a file holding it); repeat")
    p.add_argument("--node", action="append", default=[], metavar="HOST:PORT", help="a node to ask; repeat")
    p.add_argument("--state", type=Path, metavar="DIR", help="keep each log's newest checkpoint; refuse rollbacks")
    p.add_argument("--timeout", type=seconds, default=10.0,
                   help="seconds each node gets to answer each lookup call (default 10)")
    p.add_argument("--faults", type=int, default=DEFAULT_FAULTS,
                   help=f"warn if this many faulty witnesses could split the policy's quorum "
                   f"(default {DEFAULT_FAULTS})")
    p.add_argument("--sha256", metavar="HEX", help="with one bundle: the hash its file must have")
    add_tls_arguments(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("proof", parents=[common], help="write a C2SP tlog-proof bundle for a file, for offline checks")
    p.add_argument("filename")
    p.add_argument("--node", required=True, metavar="HOST:PORT", help="the node to ask")
    p.add_argument("--vkey", required=True, help="the log's verifier key, or a file holding it")
    p.add_argument("--out", required=True, type=Path, metavar="FILE", help="where to write the bundle")
    add_tls_arguments(p)
    p.add_argument("--timeout", type=seconds, default=10.0, help="seconds to wait (default 10)")
    p.set_defaults(func=cmd_proof)


def add_tls_arguments(p: argparse.ArgumentParser) -> None:
    """``--tls-ca`` (and ``--tls-cert`` with ``--tls-key``) for a node served over TLS."""
    p.add_argument("--tls-ca", type=Path, metavar="FILE", help="talk TLS; the CA certificate that signed the node's")
    p.add_argument("--tls-cert", type=Path, metavar="FILE", help="a client certificate, for a node that requires one")
    p.add_argument("--tls-key", type=Path, metavar="FILE", help="the client certificate's private key")


def client_credentials(ca: Path | None, cert: Path | None, key: Path | None) -> Any:
    from pypi_witness.rpc.tls import client_credentials as credentials

    return credentials(ca, cert, key)


def _log_keys(texts: list[str]) -> tuple[Any, ...]:
    from pypi_witness.core.tlog.note import ALG_ED25519
    from pypi_witness.signing.keys import read_verifier

    keys = tuple(read_verifier(t) for t in texts)
    for k in keys:
        if k.alg != ALG_ED25519:
            raise ConfigError(f"--vkey {k.name}: not a log key (type 0x{k.alg:02x}, not 0x01)")
    return keys


def _keys_to_ask(expected: list[Any]) -> list[str]:
    """The filenames and release keys to ask every node about."""
    from pypi_witness.core.records.format import release_key

    keys: set[str] = set()
    for e in expected:
        if e.reason is not None or not e.checkable:
            continue
        if e.filename is not None:
            keys.add(e.filename)
        elif e.release is not None:
            keys.add(release_key(*e.release))
    return sorted(keys)


def _release_key_of(filename: str) -> str | None:
    """The release key to ask for a filename a node has not logged, to find it under the index's
    spelling (``client.filenames``); None for a filename that names no release."""
    from pypi_witness.client.filenames import release_of
    from pypi_witness.core.records.format import release_key

    release = release_of(filename)
    return None if release is None else release_key(*release)


def _nobody_answered(outcomes: list[Any]) -> WitnessError:
    """The error when no node gave an answer to judge by: naming the nodes that serve other logs."""
    others = [o for o in outcomes if o.other_log is not None]
    if others:
        return WitnessError(
            "no node of a trusted log answered: "
            + "; ".join(f"{o.address} {o.error}" if o.other_log else f"{o.address}: {o.error}" for o in outcomes)
        )
    return WitnessError("no node answered: " + "; ".join(f"{o.address}: {o.error}" for o in outcomes))


def cmd_verify(args: argparse.Namespace) -> int:
    import trio

    from pypi_witness.client.bundles import bundle_answer
    from pypi_witness.client.expected import TargetReader
    from pypi_witness.client.nodes import ask_nodes
    from pypi_witness.client.report import exit_code, print_report
    from pypi_witness.client.targets import Expected, expected_from, is_bundle
    from pypi_witness.client.verdict import classify
    from pypi_witness.core.quorum.policy import Policy
    from pypi_witness.config.policy_file import policy_warnings, read_policy
    from pypi_witness.client.verifying import ClientState

    if args.policy is None and not args.vkey:
        raise ConfigError("give --policy FILE or --vkey for each node's log: nothing is trusted otherwise")
    if args.faults < 0:
        raise ConfigError("--faults must be 0 or more")
    policy = read_policy(args.policy) if args.policy else Policy((), (), (), None)
    if args.policy:
        warnings = policy_warnings(policy, args.faults)
        for warning in warnings:
            print(f"pypi-witness: warning: policy {args.policy}: {warning}", file=sys.stderr)
        if any(w.startswith("split view") for w in warnings):
            print(f"pypi-witness: warning: {SPLIT_VIEW_MEANING}", file=sys.stderr)
    extra_logs = _log_keys(args.vkey)
    bundles = [Path(t) for t in args.targets if is_bundle(t)]
    if bundles and args.node:
        raise ConfigError("*.tlog-proof targets are checked offline: leave out --node")
    if not bundles and not args.node:
        raise ConfigError("give --node HOST:PORT (one or more), or *.tlog-proof bundles to check offline")
    if args.sha256 is not None and (len(bundles) != 1 or not _SHA256.fullmatch(args.sha256)):
        raise ConfigError("--sha256 takes 64 lowercase hex digits and goes with exactly one *.tlog-proof target")
    expected: list[Expected] = []
    reader = TargetReader()
    for target in args.targets:
        if not is_bundle(target):
            expected += expected_from(target, reader)
    outcomes: list[Any] = []
    if bundles:
        answers = [bundle_answer(b, policy, extra_logs) for b in bundles]
        if args.sha256 is not None:
            (filename,) = answers[0].statements
            expected.append(Expected("--sha256", filename, frozenset({args.sha256})))
        if not expected:
            raise MalformedError("nothing to check the bundles against: give the files, or --sha256")
    else:
        keys = _keys_to_ask(expected)
        state = ClientState(args.state) if args.state else None
        if keys:
            credentials = client_credentials(args.tls_ca, args.tls_cert, args.tls_key)
            outcomes = trio.run(ask_nodes, args.node, keys, policy, extra_logs, state, args.timeout, credentials,
                                _release_key_of)  # fmt: skip
            if all(o.answer is None and not o.failed_verification for o in outcomes):
                raise _nobody_answered(outcomes)
        answers = [o.answer for o in outcomes if o.answer is not None]
    verdicts = [classify(e, answers, policy if args.policy else None) for e in expected]
    print_report(verdicts, outcomes, as_json=args.json, out=sys.stdout, err=sys.stderr)
    return exit_code(verdicts, outcomes)


def cmd_proof(args: argparse.Namespace) -> int:
    import trio

    from pypi_witness.client.bundles import fetch_bundle

    (verifier,) = _log_keys([args.vkey])
    credentials = client_credentials(args.tls_ca, args.tls_cert, args.tls_key)

    async def run() -> tuple[bytes, Any]:
        with trio.fail_after(args.timeout):
            return await fetch_bundle(args.node, verifier, args.filename, credentials)

    try:
        bundle, record = trio.run(run)
    except trio.TooSlowError:
        raise WitnessError(f"no answer from {args.node} within {args.timeout:g} s") from None
    try:
        args.out.write_bytes(bundle)
    except OSError as e:
        raise ConfigError(f"cannot write {args.out}: {e.strerror or e}") from None
    machine = {"out": str(args.out), "filename": record.filename, "sha256": record.sha256, "size": record.size}
    if args.json:
        print(json.dumps(machine, sort_keys=True))
    else:
        print(f"wrote {args.out}: {record.filename} sha256 {record.sha256}, proven in {verifier.name}")
    return 0
