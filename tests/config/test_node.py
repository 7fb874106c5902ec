"""The TOML configuration: defaults, every key, and refusals that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pypi_witness.config.node import DEFAULT_LISTEN, Config, IndexConfig, LimitsConfig, PeerConfig, PrivacyConfig, load_config
from pypi_witness.core.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(text)
    return path


def test_defaults(tmp_path):
    config = Config.default(tmp_path / "data")
    assert config.node.data_dir == tmp_path / "data"
    assert config.node.listen == DEFAULT_LISTEN == "127.0.0.1:6962"
    assert config.node.origin is None
    assert config.node.log_key_path == tmp_path / "data" / "log.key"
    assert config.limits == LimitsConfig()
    assert config.peers == ()
    assert config.privacy == PrivacyConfig() and config.privacy.retention_seconds == 7 * 86400


def test_every_privacy_key(tmp_path):
    config = load_config(
        write(
            tmp_path,
            """
            [privacy]
            key_dir = "keys"
            retention_seconds = 86400
            window_seconds = 600
            flush_seconds = 2
            max_pending_events = 50
            ipv6_prefix = 56
            proxy_token_file = "/etc/pypi-witness/proxy.token"
            rate_limit = false
            rate_per_second = 20
            rate_burst = 40.5
            rate_clients = 1000
            peer_rate_per_second = 300
            peer_burst = 600
            rate_peers = 16
            method_costs = { GetEntries = 5, LookupFilenames = 0.5 }
            """,
        )
    )
    assert config.privacy == PrivacyConfig(
        tmp_path / "keys", 86400, 600, 2.0, 50, 56, Path("/etc/pypi-witness/proxy.token"), False,
        20.0, 40.5, 1000, 300.0, 600.0, 16, {"GetEntries": 5.0, "LookupFilenames": 0.5},
    )  # fmt: skip


def test_an_empty_file_is_all_defaults_relative_to_the_file(tmp_path):
    config = load_config(write(tmp_path, ""))
    assert config.node.data_dir == tmp_path / "pypi-witness-data"
    assert config.limits == LimitsConfig()


def test_every_key(tmp_path):
    config = load_config(
        write(
            tmp_path,
            """
            [node]
            data_dir = "state"
            listen = "[::1]:7000"
            origin = "witness.example.org/pypi"
            log_key = "/etc/pypi-witness/log.key"

            [limits]
            grpc_workers = 3
            max_concurrent_rpcs = 64
            max_message_bytes = 1048576
            max_entries_per_page = 250
            max_lookup_filenames = 300
            lookup_threads = 4
            writer_queue = 2
            stop_grace_seconds = 1.5
            stop_timeout_seconds = 4

            [index]
            url = "http://127.0.0.1:8080/mirror/"
            poll_seconds = 5
            sample_rate = 0.25
            late_file_days = 0
            [policy]
            [privacy]
            """,
        )
    )
    assert config.node.data_dir == tmp_path / "state"
    assert config.node.listen == "[::1]:7000"
    assert config.node.origin == "witness.example.org/pypi"
    assert config.node.log_key_path == Path("/etc/pypi-witness/log.key")
    assert config.limits == LimitsConfig(3, 64, 1 << 20, 250, 300, 4, 2, 1.5, 4.0)
    assert config.peers == ()
    assert config.index == IndexConfig(url="http://127.0.0.1:8080/mirror", poll_seconds=5.0, sample_rate=0.25, late_file_days=0)


def test_whole_seconds_are_accepted(tmp_path):
    assert load_config(write(tmp_path, "[limits]\nstop_grace_seconds = 0")).limits.stop_grace_seconds == 0.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[limits]\nmax_entries_per_page = -3", "limits.max_entries_per_page: must be an integer from 1 to 100000, got -3"),
        ("[limits]\ngrpc_workers = true", "limits.grpc_workers: must be an integer from 1 to 1024, got True"),
        ("[limits]\ngrpc_workers = 2.0", "limits.grpc_workers: must be an integer"),
        ("[limits]\nwitness_writes = 0", "limits.witness_writes: must be an integer from 1 to 1024, got 0"),
        ("[limits]\nmax_message_bytes = 100", "limits.max_message_bytes: must be an integer from 16384"),
        ("[limits]\nstop_grace_seconds = -1", "limits.stop_grace_seconds: must be a number of seconds, 0 or more"),
        ("[limits]\nstop_grace_seconds = nan", "limits.stop_grace_seconds"),
        ("[limits]\nstop_grace_seconds = '5'", "limits.stop_grace_seconds"),
        ("[limits]\nstop_timeout_seconds = 0", "limits.stop_timeout_seconds"),
        (
            "[limits]\nstop_grace_seconds = 30",
            "limits.stop_timeout_seconds: must be more than limits.stop_grace_seconds (20 is not more than 30)",
        ),
        ("[limits]\nmax_page = 3", "limits.max_page: unknown key (known keys: grpc_workers, "),
        ("[nodes]", "nodes: unknown section"),
        ("listen = '127.0.0.1:1'", "listen: unknown section"),
        ("node = 5", "node: must be a table"),
        ("[node]\nlisten = 'localhost'", "node.listen: must be host:port"),
        ("[node]\nlisten = 'localhost:http'", "node.listen: must be host:port"),
        ("[node]\nlisten = '1.2.3.4:70000'", "node.listen: must be host:port with a port from 0 to 65535"),
        ("[node]\nlisten = ':80'", "node.listen: must be host:port"),
        ("[node]\nlisten = '::1:80'", "node.listen: put an IPv6 address in brackets"),
        ("[node]\nlisten = '[nothex]:80'", "node.listen: '[nothex]' is not a bracketed IPv6 address"),
        ("[node]\norigin = 'a b'", "node.origin: 'a b' cannot name a key"),
        ("[node]\norigin = 'a+b'", "node.origin: 'a+b' cannot name a key"),
        ("[node]\norigin = ''", "node.origin: must be a non-empty string"),
        ("[node]\ndata_dir = 5", "node.data_dir: must be a non-empty string, got 5"),
        ("[node]\nlog_key = ''", "node.log_key: must be a non-empty string"),
        ("[node]\ncolour = 'blue'", "node.colour: unknown key (known keys: data_dir, listen, origin, log_key, tls_cert, tls_key, tls_client_ca, allow_plaintext)"),
        ("[index]\nurl = 'ftp://pypi.org'", "index.url: must be an http:// or https:// URL"),
        ("[index]\nurl = 'https://pypi.org/?x=1'", "index.url: must be an http:// or https:// URL"),
        ("[index]\nsample_rate = 1.5", "index.sample_rate: must be a number from 0 to 1"),
        ("[index]\npoll_seconds = 0", "index.poll_seconds: must be more than 0 seconds"),
        ("[index]\nconcurrency = 0", "index.concurrency: must be an integer from 1 to 256"),
        ("[index]\nbatch_rows = 50001", "index.batch_rows: must be an integer from 1 to 50000"),
        ("[index]\nmirror = 1", "index.mirror: unknown key (known keys: url, "),
        ("[policy]\nquorum = 2", "policy.quorum: unknown key"),
        ("[privacy]\nlog_client_ips = true", "privacy.log_client_ips: unknown key"),
        ("[privacy]\nkey_dir = 'pypi-witness-data/keys'", "privacy.key_dir: "),
        ("[node]\ndata_dir = 'd'\n[privacy]\nproxy_token_file = 'd/t'", "is inside node.data_dir"),
        ("[privacy]\nwindow_seconds = 7000", "privacy.window_seconds: must divide privacy.retention_seconds"),
        ("[privacy]\nretention_seconds = 10", "privacy.retention_seconds: must be an integer from 60"),
        ("[privacy]\nrate_limit = 1", "privacy.rate_limit: must be true or false"),
        ("[privacy]\nrate_per_second = 0", "privacy.rate_per_second: must be a number above 0"),
        ("[privacy]\nipv6_prefix = 0", "privacy.ipv6_prefix: must be an integer from 1 to 128"),
        ("[privacy]\nmethod_costs = 3", "privacy.method_costs: must be a table"),
        ("[privacy]\nmethod_costs = {GetEntries = -1}", "privacy.method_costs.GetEntries: must be a number of tokens"),
        ("[privacy]\nmethod_costs = {'a b' = 1}", "privacy.method_costs.a b: not a method name"),
        ("[[peers]]\nurl = 'x'", "peers[0].url: unknown key (known keys: name, log_vkey, address, witness_vkey, tls_ca, tls_cert, tls_key)"),
        ("peers = 3", "peers: must be an array of tables"),
        ("peers = [3]", "peers[0]: must be a table"),
        ("[node\n", "not valid TOML"),
    ],
)
def test_refusals_name_the_file_and_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_unreadable_files_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the configuration"):
        load_config(tmp_path / "missing.toml")
    path = tmp_path / "binary.toml"
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_default_checks_its_arguments(tmp_path):
    with pytest.raises(ConfigError, match="node.origin"):
        Config.default(tmp_path, origin="has space")
    with pytest.raises(ConfigError, match="node.listen"):
        Config.default(tmp_path, listen="nowhere")
