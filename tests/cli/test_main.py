"""The command line's plumbing: closed pipes, the base64 helper."""

from __future__ import annotations

import binascii
import json
import subprocess
import sys
import pytest
from tests.cli.support import b64


# --- output plumbing -------------------------------------------------------------


def test_output_into_a_closed_pipe_exits_quietly(sample_log):
    data, _ = sample_log
    # 200 JSON entries are about 120 KB, more than a pipe holds: the CLI must block, then hit EPIPE.
    proc = subprocess.Popen(
        [sys.executable, "-m", "pypi_witness.cli", "log", "entries", "0", "200", "--json", "--data", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert json.loads(proc.stdout.readline())["index"] == 0
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=30)
    assert "Traceback" not in err
    assert (proc.returncode, err) == (0, "")


def test_b64_helper_refuses_urlsafe_alphabet():
    """The tests' base64 check is strict, so 'standard base64' assertions can fail."""
    with pytest.raises(binascii.Error):
        b64("-_-_")
