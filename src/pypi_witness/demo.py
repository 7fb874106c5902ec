"""``pypi-witness demo``: a log built from the bundled sample, checked the way a client would."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tempfile
from importlib import resources
from pathlib import Path

from pypi_witness.core import merkle
from pypi_witness.core.checkpoint import open_checkpoint
from pypi_witness.core.note import Verifier
from pypi_witness.core.records import parse_record, record_filename
from pypi_witness.ingest.importer import import_jsonl
from pypi_witness.log import init_log

DEMO_ORIGIN = "demo.pypi-witness.invalid/log"


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

        _step(f"The index now serves {filename} with other bytes")
        original = parse_record(entry)
        swapped = dataclasses.replace(
            original,
            sha256=hashlib.sha256(b"swapped " + entry).hexdigest(),
            blake2b_256=hashlib.blake2b(b"swapped " + entry, digest_size=32).hexdigest(),
        )
        result = log.append([swapped])
        log.publish()
        for conflict in log.lookup(filename).conflicts:
            print(
                f"CONFLICT: entry {conflict.index} logs {conflict.filename} with sha256 {swapped.sha256[:16]}..., "
                f"entry {conflict.earlier_index} with {original.sha256[:16]}..."
            )
        print(f"both observations stay in the log (size {result.new_size}), signed; neither is overwritten")
    finally:
        log.close()
