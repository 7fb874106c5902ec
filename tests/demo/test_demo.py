"""``pypi-witness demo``: it runs from nothing, shows what it says, and leaves a log that verifies."""

from __future__ import annotations

import re

from pypi_witness.core.tlog import merkle
from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint
from pypi_witness.core.tlog.note import Verifier
from tests.cli.support import b64, cli


def test_demo_runs_and_verifies():
    run = cli("demo")
    out = run.out
    assert "verified" in out
    assert "demo.pypi-witness.invalid/log\n200\n" in out
    assert "\n\u2014 demo.pypi-witness.invalid/log " in out
    # The node followed the fake index, then caught its swap: the node's alarm and the client's conflict.
    assert "caught up: checkpoint size" in out
    victim = out.split("The index now serves ", 1)[1].split()[0]
    assert f"ALARM swap {victim}: entry " in run.err
    assert "CONFLICT found by the client: entry " in out and f"logs {victim} with other hashes" in out
    # The federation: every node's checkpoint cosigned by both others, then gamma forks and is caught.
    for name, others in (("alpha", "beta and gamma"), ("beta", "alpha and gamma"), ("gamma", "alpha and beta")):
        assert f"\n{name}: size " in out and f"cosignatures from {others} verified; policy quorum" in out
    assert out.count(") satisfied\n") == 3
    fork = out.split("turns rogue", 1)[1]
    shown = re.findall(r"(alpha|beta) is shown size (\d+): (\S+) with sha256 (\w+)", fork)
    assert [s[0] for s in shown] == ["alpha", "beta"] and shown[0][1:3] == shown[1][1:3] and shown[0][3] != shown[1][3]
    for name in ("alpha", "beta"):
        assert re.search(rf"\n{name} refuses to cosign gamma\S+ again: this witness holds evidence \w+", fork)
        held = re.search(rf"\n{name}: evidence \w+ \(same-size: sizes (\d+) and \1, .*\): evidence verified\n", fork)
        assert held and held.group(1) == shown[0][1]


def test_demo_in_a_data_directory_leaves_a_log_that_reads_back(tmp_path):
    data = tmp_path / "demo"
    out = cli("demo", "--data", data).out
    vkey = out.split("verifier key: ", 1)[1].split()[0]
    assert vkey == (data / "log.vkey").read_text().strip()
    # The checkpoint the demo printed is a note signed by that key ...
    start = out.index("demo.pypi-witness.invalid/log\n")
    end = out.index("\n", out.index("\u2014 demo.pypi-witness.invalid/log ", start)) + 1
    shown = open_checkpoint(out[start:end].encode(), Verifier.from_vkey(vkey)).checkpoint
    # ... and the log the demo left behind verifies and extends it.
    final = cli("log", "checkpoint", "--data", data, "--json").json()
    latest = open_checkpoint(final["note"].encode(), Verifier.from_vkey(vkey)).checkpoint
    assert latest.size >= shown.size >= 200
    c = cli("log", "proof", "consistency", shown.size, latest.size, "--data", data, "--json").json()
    merkle.verify_consistency(shown.size, latest.size, shown.root_hash, latest.root_hash, [b64(p) for p in c["proof"]])
    run = cli("demo", "--data", data, code=1)  # the directory already holds a log
    assert "already" in run.err
