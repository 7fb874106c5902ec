"""TLS for gRPC: configuration checks, and two real node processes on 127.0.0.1 over mutual TLS.

Certificates are made in the test with the ``openssl`` command (skipped
without it): a CA, one node certificate it signs (for 127.0.0.1, used as
server and client certificate), and an unrelated CA. The nodes cosign and
gossip with each other over TLS; a plaintext client, a client trusting the
wrong CA and a client with no certificate are refused; one with the right CA
and certificate gets through; a client whose certificate another CA signed is
refused.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
import trio

from pypi_witness.config.node import Config, load_config
from pypi_witness.core.errors import ConfigError, MalformedError, UnavailableError
from pypi_witness.signing.log import init_log
from pypi_witness.rpc.tls import channel_credentials, server_credentials
from pypi_witness.rpc.witness_client import WitnessClient
from pypi_witness.signing.witness import init_witness_key
from tests.rpc.support import free_port, vkey
from tests.runtime.test_gossip_federation import (
    gossip_section,
    log_lines,
    start_honest,
    stop,
)

ROOT = Path(__file__).resolve().parents[2]
NODES = ("alpha", "beta")
OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command is needed to make test certificates")


def openssl(directory: Path, *args: str) -> None:
    assert OPENSSL is not None
    subprocess.run([OPENSSL, *args], cwd=directory, check=True, capture_output=True, timeout=30)


def make_ca(directory: Path, name: str) -> None:
    """``<name>.pem`` and ``<name>.key``: a self-signed CA."""
    (directory / "ca.cnf").write_text(
        "[req]\ndistinguished_name = dn\nx509_extensions = ca\n[dn]\n"
        "[ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
        "subjectKeyIdentifier = hash\n"
    )
    openssl(
        directory, "req", "-x509", "-config", "ca.cnf", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}",
    )  # fmt: skip


def make_cert(directory: Path, name: str, ca: str) -> None:
    """``<name>.pem`` and ``<name>.key``: a certificate for 127.0.0.1 signed by ``ca``, for servers and clients."""
    (directory / "leaf.cnf").write_text(
        "[leaf]\nbasicConstraints = CA:FALSE\nsubjectAltName = IP:127.0.0.1,DNS:localhost\n"
        "extendedKeyUsage = serverAuth,clientAuth\nkeyUsage = critical,digitalSignature\n"
    )
    openssl(
        directory, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
    )  # fmt: skip
    openssl(
        directory, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
        "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", "leaf.cnf", "-extensions", "leaf",
    )  # fmt: skip


@pytest.fixture
def pki(tmp_path) -> Path:
    if OPENSSL is None:
        pytest.skip("the openssl command is needed to make test certificates")
    directory = tmp_path / "pki"
    directory.mkdir()
    make_ca(directory, "ca")
    make_cert(directory, "node", "ca")
    make_ca(directory, "other-ca")
    make_cert(directory, "stranger", "other-ca")
    return directory


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(text)
    return path


def test_cryptography_is_not_a_dependency():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert not re.search(r"""["']cryptography\b""", pyproject)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[node]\nlisten = "0.0.0.0:6962"', r"node.listen: 0.0.0.0:6962 is not a loopback address; serve it over TLS"),
        ('[node]\nlisten = "witness.example:6962"', r"node.listen: .* is not a loopback address"),
        ('[node]\ntls_cert = "c.pem"', r"node.tls_cert: tls_cert and tls_key go together"),
        ('[node]\ntls_client_ca = "ca.pem"', r"node.tls_client_ca: client certificates need TLS"),
        ("[node]\nallow_plaintext = 1", r"node.allow_plaintext: must be true or false"),
        ('[[peers]]\nname = "a"\nlog_vkey = "{log}"\ntls_ca = "ca.pem"', r"peers\[0\].tls_ca: this peer has no address"),
    ],
)
def test_tls_keys_are_checked(tmp_path, text, message):
    from tests.config.test_witness_section import LOG_A

    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text.replace("{log}", LOG_A.vkey())))


def test_plaintext_off_loopback_needs_allow_plaintext(tmp_path):
    from tests.config.test_witness_section import LOG_A, WIT_A

    peer = f'[[peers]]\nname = "a"\nlog_vkey = "{LOG_A.vkey()}"\nwitness_vkey = "{WIT_A.vkey()}"\naddress = "10.0.0.7:6962"\n'
    with pytest.raises(ConfigError, match=r"peers\[0\].address: 10.0.0.7:6962 is not a loopback address"):
        load_config(write(tmp_path, peer))
    with pytest.raises(ConfigError, match=r"peers\[0\].tls_cert: a client certificate needs TLS"):
        load_config(write(tmp_path, peer + 'tls_cert = "c.pem"\ntls_key = "c.key"\n'))
    config = load_config(write(tmp_path, '[node]\nlisten = "[::]:6962"\nallow_plaintext = true\n' + peer))
    assert config.node.allow_plaintext and config.peers[0].tls_ca is None
    config = load_config(write(tmp_path, '[node]\nlisten = "[::1]:6962"\n' + peer + 'tls_ca = "ca.pem"\n'))
    assert config.peers[0].tls_ca == tmp_path / "ca.pem"  # relative to the file
    with pytest.raises(ConfigError, match="node.listen: 0.0.0.0:1 is not a loopback address"):
        Config.default(tmp_path, listen="0.0.0.0:1")


@needs_openssl
def test_unreadable_or_non_pem_tls_files_are_refused(tmp_path, pki):
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    base = f'[node]\ntls_cert = "{pki}/node.pem"\ntls_key = "{pki}/node.key"\n'
    assert server_credentials(load_config(write(tmp_path, base)).node) is not None
    with pytest.raises(ConfigError, match=r"node.tls_key: .*junk.pem holds no PEM private key"):
        server_credentials(load_config(write(tmp_path, base.replace("node.key", "../junk.pem"))).node)
    with pytest.raises(ConfigError, match=r"node.tls_client_ca: cannot read .*missing.pem"):
        server_credentials(load_config(write(tmp_path, base + 'tls_client_ca = "missing.pem"\n')).node)
    from tests.config.test_witness_section import LOG_A, WIT_A

    peer = f'[[peers]]\nname = "a"\nlog_vkey = "{LOG_A.vkey()}"\nwitness_vkey = "{WIT_A.vkey()}"\naddress = "127.0.0.1:1"\n'
    with pytest.raises(ConfigError, match=r"peers.tls_ca: .*junk.pem holds no PEM certificate"):
        channel_credentials(load_config(write(tmp_path, peer + 'tls_ca = "junk.pem"\n')).peers[0])


@needs_openssl
async def test_two_nodes_cosign_and_gossip_over_mutual_tls(tmp_path, pki):
    ports = {name: free_port() for name in NODES}
    for name in NODES:
        init_log(tmp_path / name, f"{name}.test/log").close()
        init_witness_key(tmp_path / name, f"{name}.test/log/witness")
    logs = {name: vkey(tmp_path / name / "log.vkey") for name in NODES}
    witnesses = {name: vkey(tmp_path / name / "witness.vkey") for name in NODES}
    for name in NODES:
        other = next(n for n in NODES if n != name)
        (tmp_path / f"{name}.toml").write_text(
            f'[node]\ndata_dir = "{name}"\nlisten = "127.0.0.1:{ports[name]}"\n'
            f'tls_cert = "pki/node.pem"\ntls_key = "pki/node.key"\ntls_client_ca = "pki/ca.pem"\n'
            "[limits]\nstop_grace_seconds = 1\n"
            "[witness]\nretry_min_seconds = 0.1\nretry_max_seconds = 0.5\n" + gossip_section()
            + f'[[peers]]\nname = "{other}"\naddress = "127.0.0.1:{ports[other]}"\n'
            f'log_vkey = "{logs[other].vkey()}"\nwitness_vkey = "{witnesses[other].vkey()}"\n'
            'tls_ca = "pki/ca.pem"\ntls_cert = "pki/node.pem"\ntls_key = "pki/node.key"\n'
        )  # fmt: skip
    processes = {name: start_honest(tmp_path, name) for name in NODES}
    try:
        with trio.fail_after(15):  # each cosigns the other's growing log and accepts it by gossip
            for name in NODES:
                other = next(n for n in NODES if n != name)
                while not (
                    re.search(rf"peer {other} cosigned {name}\.test/log at size [1-9]", log_lines(tmp_path, name))
                    and re.search(rf"gossip: accepted {other}\.test/log size [1-9]", log_lines(tmp_path, name))
                ):
                    await trio.sleep(0.1)
        target = f"127.0.0.1:{ports['alpha']}"
        ca, other_ca = (pki / "ca.pem").read_bytes(), (pki / "other-ca.pem").read_bytes()
        key, cert = (pki / "node.key").read_bytes(), (pki / "node.pem").read_bytes()
        refused = {
            "plaintext": None,
            "wrong CA": grpc.ssl_channel_credentials(other_ca, key, cert),
            "no client certificate": grpc.ssl_channel_credentials(ca),
            "client certificate of another CA": grpc.ssl_channel_credentials(
                ca, (pki / "stranger.key").read_bytes(), (pki / "stranger.pem").read_bytes()
            ),
        }
        for what, credentials in refused.items():
            with trio.fail_after(10):
                async with WitnessClient(target, credentials=credentials) as client:
                    with pytest.raises(UnavailableError):
                        await client.add_checkpoint(0, (), b"not a checkpoint\n")
        async with WitnessClient(target, credentials=grpc.ssl_channel_credentials(ca, key, cert)) as client:
            with pytest.raises(MalformedError):  # through TLS to the witness, which refuses the junk
                await client.add_checkpoint(0, (), b"not a checkpoint\n")
        # The command-line clients talk TLS when given the CA (and a client certificate, which this node requires).
        query = [sys.executable, "-m", "pypi_witness.cli", "query", "checkpoint", "--node", target,
                 "--vkey", logs["alpha"].vkey(), "--timeout", "5"]  # fmt: skip
        tls = ["--tls-ca", pki / "ca.pem", "--tls-cert", pki / "node.pem", "--tls-key", pki / "node.key"]
        ok = await trio.run_process([*query, *tls], capture_stdout=True, capture_stderr=True, check=False)
        assert ok.returncode == 0, ok.stderr.decode()
        assert b"signature verified" in ok.stdout
        plain = await trio.run_process(query, capture_stdout=True, capture_stderr=True, check=False)
        assert plain.returncode == 1 and b"Traceback" not in plain.stderr
        half = await trio.run_process([*query, *tls[:4]], capture_stdout=True, capture_stderr=True, check=False)
        assert half.returncode == 1 and b"--tls-cert and --tls-key go together" in half.stderr
    finally:
        codes = {name: stop(p) for name, p in processes.items()}
    assert codes == dict.fromkeys(NODES, 0), {n: log_lines(tmp_path, n)[-3000:] for n in NODES}


def test_the_readme_and_the_config_docstring_document_every_node_and_peer_tls_key():
    import pypi_witness.config.node as config_module
    from pypi_witness.config.node import NodeConfig, PeerConfig

    readme = (ROOT / "README.md").read_text()
    readme = readme[readme.index("The configuration is one TOML file") :]
    readme = readme[: readme.index("\n### ")]
    assert set(re.findall(r"^\| `node\.([a-z_]+)` \|", readme, re.MULTILINE)) == set(NodeConfig.__dataclass_fields__)
    doc = config_module.__doc__ or ""
    node = doc[doc.index("[node]") : doc.index("[limits]")]
    assert set(re.findall(r"^    ([a-z_]+) +=", node, re.MULTILINE)) == set(NodeConfig.__dataclass_fields__)
    peers = doc[doc.index("[[peers]]") : doc.index("[gossip]")]
    assert set(re.findall(r"^    ([a-z_]+) +=", peers, re.MULTILINE)) == set(PeerConfig.__dataclass_fields__)
