"""Every file the client reads is a regular file read within a cap: never /dev/zero, a FIFO, or a file read whole."""

from __future__ import annotations

import os
import threading

import pytest

from pypi_witness.bounded_file import read_bounded
from pypi_witness.client.expected import TargetReader
from pypi_witness.client.targets import expected_from
from pypi_witness.core.errors import ConfigError, MalformedError
from pypi_witness.signing.keys import generate_signer
from tests.client.support import one_error_line, run

VKEY = generate_signer("some.example/log").verifier().vkey()
DEAD = ["--vkey", VKEY, "--node", "127.0.0.1:1", "--timeout", "1"]


def fifo(path):
    os.mkfifo(path)
    return path


def test_read_bounded_refuses_what_is_not_a_small_regular_file(tmp_path):
    (tmp_path / "ok").write_bytes(b"x" * 10)
    assert read_bounded(tmp_path / "ok", 10, "thing") == b"x" * 10
    cases = {
        tmp_path / "ok": (9, "larger than 9 bytes, too large for a thing"),
        tmp_path / "missing": (10, "no such thing"),
        tmp_path: (10, "is a directory, not a thing"),
        "/dev/zero": (10, "not a regular file (a device, pipe or socket), so not a thing"),
        fifo(tmp_path / "pipe"): (10, "not a regular file"),
    }
    for path, (limit, message) in cases.items():
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
            read_bounded(path, limit, "thing", ConfigError)


@pytest.mark.parametrize("include", ["/dev/zero", "pipe.txt"])
def test_an_include_that_never_ends_is_refused_at_once(tmp_path, include):
    if include == "pipe.txt":
        fifo(tmp_path / include)  # opened for reading, it would wait for a writer forever
    req = tmp_path / "requirements.txt"
    req.write_text(f"-r {include}\n")
    result = run("verify", *DEAD, req, code=1)
    assert "not a regular file" in one_error_line(result)


def test_lock_files_and_local_files_that_are_devices_are_refused(tmp_path):
    for name in ("pylock.toml", "uv.lock", "requirements.txt", "x-1.0-py3-none-any.whl"):
        (tmp_path / name).symlink_to("/dev/zero")
        result = run("verify", *DEAD, tmp_path / name, code=1)
        assert "not a regular file" in one_error_line(result), name


def test_a_file_over_the_cap_and_files_over_the_budget_are_refused(tmp_path):
    (tmp_path / "big.txt").write_text("# " + "x" * 2000 + "\n")
    with pytest.raises(MalformedError, match="big.txt: larger than 1,000 bytes"):
        expected_from(str(tmp_path / "big.txt"), TargetReader(per_file=1000))
    (tmp_path / "a.txt").write_text("# " + "a" * 600 + "\n-r b.txt\n")
    (tmp_path / "b.txt").write_text("# " + "b" * 600 + "\n")
    with pytest.raises(MalformedError, match="b.txt: the target files of this run hold more than 1,000 bytes together"):
        expected_from(str(tmp_path / "a.txt"), TargetReader(budget=1000))


def test_a_file_included_many_times_is_read_and_listed_once(tmp_path):
    # Each level includes the next twice: read naively, the last file's line would come 2**3 times.
    for level in range(3):
        (tmp_path / f"r{level}.txt").write_text(f"-r r{level + 1}.txt\n-r r{level + 1}.txt\n")
    (tmp_path / "r3.txt").write_text(f"p @ https://h/p-1.0.tar.gz --hash=sha256:{'a' * 64}\n")
    got = expected_from(str(tmp_path / "r0.txt"))
    assert [e.filename for e in got] == ["p-1.0.tar.gz"]


def test_policy_key_bundle_and_state_files_are_bounded_too(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text(f"p @ https://h/p-1.0.tar.gz --hash=sha256:{'a' * 64}\n")
    result = run("verify", "--policy", "/dev/zero", "--node", "127.0.0.1:1", req, code=1)
    assert "/dev/zero: not a regular file (a device, pipe or socket), so not a policy file" in one_error_line(result)
    big_key = tmp_path / "log.vkey"
    big_key.write_text(VKEY + "\n" + " " * (64 << 10))
    result = run("verify", "--vkey", str(big_key), "--node", "127.0.0.1:1", req, code=1)
    assert "too large for a verifier key file" in one_error_line(result)
    bundle = fifo(tmp_path / "x.tlog-proof")
    result = run("verify", "--vkey", VKEY, "--sha256", "a" * 64, bundle, code=1)
    assert "not a regular file" in one_error_line(result)
    result = run("verify", *DEAD, "--tls-ca", "/dev/zero", req, code=1)
    assert "not a regular file" in one_error_line(result)


def test_a_state_file_that_is_a_fifo_is_refused_without_waiting(tmp_path):
    from pypi_witness.client.verifying import ClientState

    state = ClientState(tmp_path)
    verifier = generate_signer("some.example/log").verifier()
    fifo(state._path(verifier.name))
    done = threading.Event()
    errors: list[BaseException] = []

    def load() -> None:
        try:
            state.load(verifier)
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            errors.append(e)
        done.set()

    threading.Thread(target=load, daemon=True).start()
    assert done.wait(30), "reading the state waited on the FIFO"
    assert isinstance(errors[0], ConfigError) and "not a regular file" in str(errors[0])


def test_a_node_configuration_that_is_a_device_is_refused(tmp_path):
    from pypi_witness.config.node import load_config

    (tmp_path / "node.toml").symlink_to("/dev/zero")
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(tmp_path / "node.toml")
