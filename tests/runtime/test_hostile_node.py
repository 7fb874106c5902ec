"""``serve`` as a real process against hostile input: it keeps serving, and every stop is bounded.

Each test ends by waiting for the process with a generous timeout (HANG_GUARD):
a guard against a hang, not a timing assertion.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from pypi_witness.fakeindex import FakeIndexServer, Index
from pypi_witness.rpc.gen.v1 import log_pb2 as pb
from pypi_witness.rpc.log_service import SERVICE_NAME as LOG_SERVICE
from tests.rpc.support import ORIGIN

STUCK_NODE = Path(__file__).with_name("stuck_node.py")
REFLECTION_INFO = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
HANG_GUARD = 60.0


class Node:
    """A node process (``serve`` or a test script); stderr goes to a file, stdout is read line by line."""

    def __init__(self, tmp_path: Path, config: str, *, script: Path | None = None) -> None:
        path = tmp_path / "node.toml"
        path.write_text(f'[node]\ndata_dir = "node"\nlisten = "127.0.0.1:0"\norigin = "{ORIGIN}"\n' + config)
        self.stderr_path = tmp_path / "stderr.txt"
        command = [sys.executable, str(script), str(path)] if script else [sys.executable, "-m", "pypi_witness.cli", "serve", "--config", str(path)]
        with self.stderr_path.open("w") as stderr:
            self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
        line = self.process.stdout.readline()  # "" if the process ended
        assert line.startswith("serving "), self.stderr()
        self.address = line.rpartition(" on ")[2].strip()

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait_for_stderr(self, text: str, count: int = 1) -> None:
        deadline = time.monotonic() + HANG_GUARD
        while self.stderr().count(text) < count:
            assert self.process.poll() is None, f"the node exited {self.process.returncode}:\n{self.stderr()}"
            assert time.monotonic() < deadline, f"no {text!r} in:\n{self.stderr()}"
            time.sleep(0.05)

    def checkpoint(self) -> bytes:
        with grpc.insecure_channel(self.address) as channel:
            call = channel.unary_unary(f"/{LOG_SERVICE}/GetCheckpoint", response_deserializer=pb.GetCheckpointResponse.FromString)
            return call(b"", timeout=10).checkpoint

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=HANG_GUARD)
        finally:
            if self.process.returncode is None:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


@pytest.fixture
def nodes():
    started: list[Node] = []
    yield lambda *args, **kwargs: started.append(Node(*args, **kwargs)) or started[-1]
    for node in started:
        node.kill()


def test_sigterm_stops_a_node_after_malformed_reflection_calls(tmp_path, nodes):
    node = nodes(tmp_path, "[limits]\nstop_grace_seconds = 1\n[privacy]\nrate_limit = false\n")
    with grpc.insecure_channel(node.address) as channel:
        info = channel.stream_stream(REFLECTION_INFO)  # bytes in, bytes out
        for _ in range(10):
            with pytest.raises(grpc.RpcError) as caught:
                list(info(iter([b"\xff\xff"]), timeout=10))
            assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert "the request does not parse" in caught.value.details()
    assert node.checkpoint().startswith(ORIGIN.encode())
    assert node.stop() == 0, node.stderr()
    assert "Traceback" not in node.stderr()
    assert "stopped; log" in node.stderr()


def test_a_second_signal_ends_a_stop_that_does_not_finish(tmp_path, nodes):
    node = nodes(tmp_path, "[limits]\nstop_grace_seconds = 0.2\nstop_timeout_seconds = 600\n", script=STUCK_NODE)
    node.process.send_signal(signal.SIGTERM)
    assert node.process.stdout.readline() == "stuck\n"  # the stop has begun and cannot finish
    assert node.stop(signal.SIGINT) == 1
    assert node.stderr().splitlines()[-1] == (
        "pypi-witness: error: SIGINT while stopping: exiting now, without finishing the stop"
    )
    assert "Traceback" not in node.stderr()


def test_a_stop_that_does_not_finish_ends_after_stop_timeout_seconds(tmp_path, nodes):
    node = nodes(tmp_path, "[limits]\nstop_grace_seconds = 0.2\nstop_timeout_seconds = 1.5\n", script=STUCK_NODE)
    assert node.stop() == 1
    assert node.stderr().splitlines()[-1] == (
        "pypi-witness: error: the node did not stop within 1.5 s of the signal; exiting without finishing the stop"
    )
    assert "Traceback" not in node.stderr()


def test_a_node_following_a_deeply_nested_changelog_keeps_serving(tmp_path, nodes):
    index = Index(content_seed=3)
    index.populate(seed=11, projects=3)
    with FakeIndexServer(index) as fake:
        fake.set_attacks(hostile="deep", hostile_on=["xmlrpc"])  # a changelog row 1,000 arrays deep
        node = nodes(
            tmp_path,
            f'[index]\nurl = "{fake.url}"\npoll_seconds = 0.2\nrequests_per_second = 0\n'
            "max_attempts = 2\nbackoff_max_seconds = 0.05\n[limits]\nstop_grace_seconds = 1\n",
        )
        wanted = "ALARM bad-response poll: changelog row 0 has a field of the wrong type: [<list of length 1>"
        node.wait_for_stderr(wanted, count=2)  # two polls at least
        assert node.checkpoint().startswith(ORIGIN.encode())  # still serving
        assert node.stop() == 0, node.stderr()
    assert "Traceback" not in node.stderr()
