"""The [policy] section: file and faults, documented, checked, and read (with warnings) when a node starts."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from pypi_witness.config import node as config
from pypi_witness.config.node import PolicyConfig, load_config
from pypi_witness.core.tlog.note import ALG_COSIGNATURE_V1
from pypi_witness.core.errors import ConfigError
from pypi_witness.signing.keys import generate_signer

ROOT = Path(__file__).resolve().parents[2]


def policy_text(k: int, n: int) -> str:
    log = generate_signer("log.example/pypi").verifier().vkey()
    witnesses = [generate_signer(f"w{i}.example", ALG_COSIGNATURE_V1).verifier().vkey() for i in range(n)]
    lines = [f"log {log}\n"] + [f"witness w{i} {w}\n" for i, w in enumerate(witnesses)]
    return "".join(lines) + f"group g {k} " + " ".join(f"w{i}" for i in range(n)) + "\nquorum g\n"


def test_file_and_faults_are_read_relative_to_the_config(tmp_path):
    (tmp_path / "node.toml").write_text('[policy]\nfile = "policy.txt"\nfaults = 2\n')
    assert load_config(tmp_path / "node.toml").policy == PolicyConfig(tmp_path / "policy.txt", 2)
    (tmp_path / "empty.toml").write_text("[policy]\n")
    assert load_config(tmp_path / "empty.toml").policy == PolicyConfig(None, 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[policy]\nfaults = -1\n", "policy.faults: must be an integer from 0 to 1000, got -1"),
        ('[policy]\nfile = ""\n', "policy.file: must be a non-empty string"),
        ("[policy]\nquorum = 2\n", "policy.quorum: unknown key (known keys: file, faults)"),
    ],
)
def test_bad_values_are_refused_naming_the_key(tmp_path, text, message):
    (tmp_path / "node.toml").write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(tmp_path / "node.toml")


def test_every_policy_key_is_documented():
    readme = (ROOT / "README.md").read_text()
    docstring = config.__doc__ or ""
    section = docstring[docstring.index("[policy]") : docstring.index("[privacy]")]
    for f in fields(PolicyConfig):
        assert re.search(rf"^\s+{f.name}\s+=", section, re.M), f"{f.name} not in config.py's docstring"
        assert f"| `policy.{f.name}` |" in readme, f"policy.{f.name} not in the README's configuration table"


def run_serve(config_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pypi_witness.cli", "serve", "--config", str(config_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_node_refuses_a_bad_policy_file_and_warns_about_a_weak_one(tmp_path):
    # No origin and no log: after reading the policy, the node stops with that error.
    conf = tmp_path / "node.toml"
    conf.write_text('[node]\ndata_dir = "nothing-here"\n[policy]\nfile = "policy.txt"\nfaults = 1\n')
    (tmp_path / "policy.txt").write_text("quorum nobody\n")
    result = run_serve(conf)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"pypi-witness: error: policy file {tmp_path / 'policy.txt'}: line 1: quorum 'nobody' is not a witness"
        " or group defined on an earlier line"
    ], result.stderr
    (tmp_path / "policy.txt").write_text(policy_text(2, 3))  # 2k = 4 is not > n + f = 4
    result = run_serve(conf)
    assert "WARNING" in result.stderr and "split view possible with 1 faulty witness" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("pypi-witness: error: node.origin")
    (tmp_path / "policy.txt").write_text(policy_text(3, 4))  # 3-of-4 tolerates one bad witness
    result = run_serve(conf)
    assert "WARNING" not in result.stderr


def test_the_projects_own_defaults_agree_so_verify_does_not_warn_on_every_run(tmp_path):
    from pypi_witness.client.command import DEFAULT_FAULTS, SPLIT_VIEW_MEANING
    from pypi_witness.config.federation import POLICY_FILE, create_federation
    from pypi_witness.config.policy_file import policy_warnings, read_policy
    from tests.client.support import run

    members = create_federation(tmp_path / "fed", {f"node{i}": f"127.0.0.1:{7000 + i}" for i in (1, 2, 3)})
    policy = read_policy(tmp_path / "fed" / POLICY_FILE)  # federation init's 2-of-3
    assert PolicyConfig().faults == DEFAULT_FAULTS
    assert {load_config(m.config).policy.faults for m in members.values()} == {DEFAULT_FAULTS}
    assert policy_warnings(policy, DEFAULT_FAULTS) == []
    req = tmp_path / "requirements.txt"
    req.write_text(f"p @ https://h/p-1.0.tar.gz --hash=sha256:{'a' * 64}\n")
    args = ["verify", "--policy", tmp_path / "fed" / POLICY_FILE, "--node", "127.0.0.1:1", "--timeout", "1", req]
    assert "warning" not in run(*args, code=1).err
    # Asking for more than the policy withstands warns, and says once what that means for the user.
    err = run(*args, "--faults", "1", code=1).err
    assert "split view possible with 1 faulty witness" in err and err.count(SPLIT_VIEW_MEANING) == 1
