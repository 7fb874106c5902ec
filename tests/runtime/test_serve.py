"""``serve_main`` as a real process: signals stop it gracefully under load; bad configs exit 1."""

from __future__ import annotations

import functools
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from pypi_witness.core.tlog import merkle
from pypi_witness.core.records.format import format_record
from pypi_witness.core.errors import UnavailableError
from pypi_witness.rpc.client import LogClient
from pypi_witness.runtime.node import run_node
from tests.rpc.support import ORIGIN, config_for, open_note, record, vkey_of

APPENDING_NODE = Path(__file__).with_name("appending_node.py")


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(text)
    return path


async def read_lines(stream: trio.abc.ReceiveStream, lines: list[str]) -> None:
    buffer = b""
    async for chunk in stream:
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        lines.extend(line.decode() for line in complete)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_stops_an_appending_node_under_load_and_nothing_is_lost(tmp_path, signum):
    """(A second signal ends a stop at once: test_hostile_node.py.)"""
    data = tmp_path / "node"
    config = write_config(
        tmp_path,
        f'[node]\ndata_dir = "node"\nlisten = "127.0.0.1:0"\norigin = "{ORIGIN}"\n[limits]\nstop_grace_seconds = 2\n'
        "[privacy]\nrate_limit = false\n",  # eight clients from one address, as fast as they can
    )
    lines: list[str] = []
    seen: list[bytes] = []  # checkpoints clients saw while the node ran
    process = await trio.lowlevel.open_process(
        [sys.executable, str(APPENDING_NODE), str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    errors: list[str] = []

    async def load(address: str) -> None:
        async with LogClient(address) as client:
            try:
                while True:
                    note = await client.checkpoint()
                    seen.append(note)
                    size = open_note(note, vkey_of(data)).checkpoint.size
                    if size:
                        await client.lookup_many([record(size // 2).filename, record(size - 1).filename])
            except UnavailableError:
                pass  # the node stopped

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_lines, process.stdout, lines)
            nursery.start_soon(read_lines, process.stderr, errors)
            with trio.fail_after(20):
                while not any(line.startswith("serving ") for line in lines):
                    await trio.sleep(0.01)
                address = next(line for line in lines if line.startswith("serving ")).rpartition(" on ")[2]
                for _ in range(8):
                    nursery.start_soon(load, address)
                while sum(line.startswith("acked ") for line in lines) < 10 or len(seen) < 20:
                    await trio.sleep(0.01)
                process.send_signal(signum)
                assert await process.wait() == 0, "\n".join(errors)
    finally:
        if process.returncode is None:
            process.kill()
    last_acked = max(int(line.split()[1]) for line in lines if line.startswith("acked "))
    assert any(f"{signal.Signals(signum).name}: stopping" in line for line in errors)
    assert any("closed" in line for line in errors)
    assert not any("Traceback" in line for line in errors)

    # Restart the node and verify the log through a client.
    async with trio.open_nursery() as nursery:
        address = await nursery.start(functools.partial(run_node, config_for(data)))
        async with LogClient(address) as client:
            final = open_note(await client.checkpoint(), vkey_of(data)).checkpoint
            assert final.size >= last_acked
            leaves: list[bytes] = []
            while len(leaves) < final.size:
                leaves.extend((await client.entries(len(leaves), final.size)).leaves)
            assert leaves == [format_record(record(i)) for i in range(final.size)]
            assert merkle.root_of([merkle.leaf_hash(x) for x in leaves]) == final.root_hash
            for note in {seen[0], seen[len(seen) // 2], seen[-1]}:
                old = open_note(note, vkey_of(data)).checkpoint
                proof = await client.consistency_proof(old.size, final.size)
                merkle.verify_consistency(old.size, final.size, old.root_hash, final.root_hash, proof.proof)
        nursery.cancel_scope.cancel()


def run_serve(config: Path) -> subprocess.CompletedProcess:
    code = "import sys; from pypi_witness.runtime.serve import serve_main; sys.exit(serve_main(sys.argv[1]))"
    return subprocess.run([sys.executable, "-c", code, str(config)], capture_output=True, text=True, timeout=60)


def test_a_bad_config_exits_1_with_one_line_naming_the_key(tmp_path):
    config = write_config(tmp_path, "[limits]\nmax_entries_per_page = -3\n")
    result = run_serve(config)
    assert result.returncode == 1
    assert result.stderr == (
        f"pypi-witness: error: {config}: limits.max_entries_per_page: must be an integer from 1 to 100000, got -3\n"
    )


def test_a_node_that_cannot_start_exits_1_with_one_line(tmp_path):
    config = write_config(tmp_path, '[node]\ndata_dir = "nothing-here"\n')
    result = run_serve(config)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"pypi-witness: error: node.origin: needed to create a new log in {tmp_path / 'nothing-here'}"
    )
    assert "Traceback" not in result.stderr
