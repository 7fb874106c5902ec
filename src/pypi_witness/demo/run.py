"""``pypi-witness demo``: a log built from the bundled sample, then served, following a fake index
that swaps a file, and checked as a client would; then a federation of three nodes that catches
one of them forking its log (``demo_federation``)."""

from __future__ import annotations

import base64
import dataclasses
import io
import tempfile
from importlib import resources
from pathlib import Path

import trio

from pypi_witness.core.tlog import merkle
from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint
from pypi_witness.core.tlog.note import Verifier
from pypi_witness.core.records.format import parse_record, record_filename
from pypi_witness.config.node import Config, IndexConfig
from pypi_witness.demo.federation import run_federation
from pypi_witness.fakeindex import FakeIndexServer, Index
from pypi_witness.ingest.importer import import_jsonl
from pypi_witness.signing.log import init_log
from pypi_witness.rpc.client import LogClient
from pypi_witness.runtime.node import run_node
from pypi_witness.client.verifying import ClientState, VerifyingClient

DEMO_ORIGIN = "demo.pypi-witness.invalid/log"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def signed_by(vkey: str) -> str:
    """The name and key id part of a verifier key, for display."""
    return "+".join(vkey.split("+")[:2])


def _step(text: str) -> None:
    print(f"\n== {text}")


def run_demo(data: Path | None) -> int:
    """Create a log in ``data`` (default: a temporary directory), import the sample, verify."""
    if data is None:
        with tempfile.TemporaryDirectory(prefix="pypi-witness-demo-") as tmp:
            _demo(Path(tmp) / "node")
            print("\n(The log was in a temporary directory, now removed; `pypi-witness demo --data DIR` keeps it.)")
            return 0
    _demo(data)
    print(f"\nThe log is in {data}; try: pypi-witness log checkpoint --data {data}")
    return 0


def _demo(data: Path) -> None:
    filename, vkey = _local_log(data)
    trio.run(_served, data, filename, vkey)
    run_federation(data.parent / (data.name + "-federation"), _step)


def _local_log(data: Path) -> tuple[str, str]:
    """Build the log from the sample and check it locally; returns a filename in it and the vkey."""
    _step(f"Creating a log for origin {DEMO_ORIGIN} in {data}")
    log = init_log(data, DEMO_ORIGIN)
    try:
        vkey = log.verifier.vkey()
        print(f"verifier key: {vkey}")

        sample = resources.files("pypi_witness") / "data" / "sample_records.jsonl"
        with sample.open("rb") as stream:
            lines = stream.readlines()

        _step(f"Importing the bundled sample of {len(lines)} file records, in two parts")
        first = import_jsonl(log, io.BytesIO(b"".join(lines[: len(lines) // 2])))
        print(f"first part:  {first.appended} records, checkpoint size {first.checkpoint.checkpoint.size}")
        result = import_jsonl(log, io.BytesIO(b"".join(lines)))
        print(
            f"second part: {result.appended} new records, {result.duplicates} already logged, "
            f"{result.conflicts} conflicts"
        )

        _step("The signed checkpoint (C2SP tlog-checkpoint in a signed note)")
        note = result.checkpoint.note
        print(note.decode(), end="")
        # Check the signature as a client would: from the bytes, with the public key only.
        signed = open_checkpoint(note, Verifier.from_vkey(vkey))
        size, root = signed.checkpoint.size, signed.checkpoint.root_hash
        print(f"signature verified with key {signed_by(vkey)}")

        index = size * 2 // 3
        entry = log.entries(index, index + 1)[0]
        filename = record_filename(parse_record(entry))
        _step(f"Looking up {filename}")
        found = log.lookup(filename)
        for p in found.entries:
            merkle.verify_inclusion(p.leaf_hash, p.index, p.size, p.proof, root)
            print(f"entry {p.index}: inclusion proof of {len(p.proof)} hashes verified against the root")
            print("".join(f"    {line}\n" for line in p.leaf.decode().splitlines()), end="")

        old = first.checkpoint.checkpoint
        _step(f"Proving the log only grew: size {old.size} -> {size}")
        c = log.consistency_proof(old.size, size)
        merkle.verify_consistency(old.size, size, old.root_hash, root, c.proof)
        print(f"consistency proof of {len(c.proof)} hashes verified: the first checkpoint is a prefix of the second")
        return filename, vkey
    finally:
        log.close()


DEMO_PROJECTS = 60  # about 270 releases and 800 files on the fake index


async def _served(data: Path, filename: str, vkey: str) -> None:
    """Serve the log on loopback, follow a fake index into it, and ask it as a remote client would."""
    index = Index(content_seed=7)
    index.populate(seed=7, projects=DEMO_PROJECTS)
    with FakeIndexServer(index) as fake:
        _step(
            f"A fake PyPI on {fake.url}: {len(index.projects)} projects, {index.file_count()} files, "
            f"changelog serial {index.last_serial}"
        )
        settings = IndexConfig(url=fake.url, poll_seconds=0.5, requests_per_second=0, audit_releases=400)
        config = dataclasses.replace(Config.default(data, listen="127.0.0.1:0"), index=settings)
        async with trio.open_nursery() as nursery:
            address = await nursery.start(run_node, config)
            _step(f"A node serves the log over gRPC on {address} and follows the index into it")
            state = ClientState(data.parent / (data.name + "-client-state"))
            async with LogClient(address) as node:
                client = VerifyingClient(node, Verifier.from_vkey(vkey), state)
                accepted = await client.checkpoint()
                cp = accepted.checkpoint.checkpoint
                print(f"checkpoint: size {cp.size}, root {b64(cp.root_hash)}: signature verified")
                accepted, (found,) = await client.lookup([filename])
                for entry in found.entries:
                    print(f"{filename}: entry {entry.index}, sha256 {entry.record.sha256[:16]}...: inclusion proof verified")

                victim = index.live_filenames()[len(index.projects)]
                with trio.fail_after(60):
                    while not found.entries or found.filename != victim:
                        await trio.sleep(0.2)
                        accepted, (found,) = await client.lookup([victim])
                cp = accepted.checkpoint.checkpoint
                print(
                    f"caught up: checkpoint size {cp.size}, consistent with every checkpoint seen before "
                    f"(proof of {len(accepted.consistency_proof)} hashes verified)"
                )
                for entry in found.entries:
                    print(f"{victim}: entry {entry.index}, sha256 {entry.record.sha256[:16]}...: inclusion proof verified")

                _step(f"The index now serves {victim} with other bytes, and writes no changelog row for it")
                fake.set_attacks(swap=[victim])
                print("the node's audit re-reads the releases it logged, and raises an alarm:")
                with trio.fail_after(60):
                    while not found.conflicts:
                        await trio.sleep(0.2)
                        accepted, (found,) = await client.lookup([victim])
                for entry in found.entries:
                    print(f"{victim}: entry {entry.index}, sha256 {entry.record.sha256[:16]}...: inclusion proof verified")
                for conflict in found.conflicts:
                    print(
                        f"CONFLICT found by the client: entry {conflict.index} logs {conflict.filename} with other "
                        f"hashes than entry {conflict.earlier_index}; both are signed into the log, neither overwritten"
                    )
            nursery.cancel_scope.cancel()
