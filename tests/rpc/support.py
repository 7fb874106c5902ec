"""Shared helpers for the rpc and runtime tests: a sample log, records, nodes, verification."""

from __future__ import annotations

import dataclasses
import functools
import shutil
import socket
from importlib import resources
from pathlib import Path

import trio

from pypi_witness.config.node import Config, LimitsConfig, PrivacyConfig
from pypi_witness.core.tlog import merkle
from pypi_witness.core.tlog.signed_checkpoint import SignedCheckpoint, open_checkpoint
from pypi_witness.core.tlog.note import Verifier
from pypi_witness.core.records.format import format_record
from pypi_witness.ingest.bigquery import parse_line
from pypi_witness.ingest.importer import import_jsonl
from pypi_witness.signing.log import VERIFIER_KEY_FILE, init_log
from pypi_witness.runtime.node import run_node
from tests.factories import record  # noqa: F401 (re-exported for the tests that import it from here)

ORIGIN = "test.pypi-witness.invalid/log"
# Short grace: a test's node stops within a second even with a call in flight.
TEST_LIMITS = LimitsConfig(stop_grace_seconds=1.0)
# Tests that hammer a node from one address are not about rate limits (tests/privacy are).
TEST_PRIVACY = PrivacyConfig(rate_limit=False)


def sample_lines() -> list[bytes]:
    with (resources.files("pypi_witness") / "data" / "sample_records.jsonl").open("rb") as f:
        return f.readlines()


def sample_leaves() -> list[bytes]:
    """The leaves a log holds after importing the bundled sample (it has no duplicates)."""
    return [format_record(parse_line(line, n)) for n, line in enumerate(sample_lines(), 1)]


def make_sample_log(data_dir: Path) -> str:
    """Create a log of the bundled sample in ``data_dir``; returns its verifier key."""
    log = init_log(data_dir, ORIGIN)
    try:
        with (resources.files("pypi_witness") / "data" / "sample_records.jsonl").open("rb") as f:
            import_jsonl(log, f)
        return log.verifier.vkey()
    finally:
        log.close()


def copy_log(template: Path, target: Path) -> Path:
    shutil.copytree(template, target)
    return target


def config_for(data_dir: Path, *, origin: str | None = None, **limits: object) -> Config:
    """A test node's config: loopback, a free port, TEST_LIMITS changed by ``limits``, TEST_PRIVACY."""
    config = Config.default(data_dir, origin=origin, listen="127.0.0.1:0")
    return dataclasses.replace(config, limits=dataclasses.replace(TEST_LIMITS, **limits), privacy=TEST_PRIVACY)


async def start_node(nursery: trio.Nursery, config: Config) -> str:
    """Start ``run_node`` in ``nursery``; returns its address."""
    return await nursery.start(functools.partial(run_node, config))


def free_port() -> int:
    """A loopback port free now (a test binds it soon after)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vkey(path: Path) -> Verifier:
    """The verifier key in the file at ``path``."""
    return Verifier.from_vkey(path.read_text().strip())


def vkey_of(data_dir: Path) -> str:
    return (data_dir / VERIFIER_KEY_FILE).read_text().strip()


def open_note(note: bytes, vkey: str) -> SignedCheckpoint:
    """Verify a checkpoint note as a client does."""
    return open_checkpoint(note, Verifier.from_vkey(vkey))


def check_inclusion(leaf: bytes, index: int, size: int, proof: tuple[bytes, ...], root: bytes) -> None:
    merkle.verify_inclusion(merkle.leaf_hash(leaf), index, size, proof, root)
