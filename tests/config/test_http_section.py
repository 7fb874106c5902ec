"""[http] and [witnessing]: every key, the TLS rules, and refusals that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pypi_witness.config.node import load_config
from pypi_witness.config.http import HttpConfig
from pypi_witness.config.logs import listed_logs
from pypi_witness.core.tlog.note import ALG_COSIGNATURE_V1, Signer
from pypi_witness.core.errors import ConfigError

LOG = Signer.from_seed("logs.example/one", b"1" * 32).verifier()
WITNESS = Signer.from_seed("witness.example/w", b"2" * 32, ALG_COSIGNATURE_V1).verifier()


def load(tmp_path: Path, text: str):
    path = tmp_path / "node.toml"
    path.write_text(text)
    return load_config(path)


def test_http_is_off_by_default_and_every_key_reads(tmp_path):
    assert load(tmp_path, "").http == HttpConfig() and HttpConfig().listen is None
    config = load(
        tmp_path,
        """
        [http]
        listen = "127.0.0.1:8080"
        prefix = "/pypi"
        max_body_bytes = 8192
        body_timeout_seconds = 2.5
        keep_alive_seconds = 30
        tile_cache = 16
        export_dir = "static"
        export_seconds = 60
        """,
    )
    assert config.http == HttpConfig(
        "127.0.0.1:8080", "/pypi", None, None, None, 8192, 2.5, 30.0, 16, tmp_path / "static", 60.0
    )


def test_http_tls_defaults_to_the_nodes_and_guards_plaintext(tmp_path):
    config = load(tmp_path, '[node]\ntls_cert = "c.pem"\ntls_key = "k.pem"\n[http]\nlisten = "0.0.0.0:443"\n')
    assert (config.http.tls_cert, config.http.tls_key) == (tmp_path / "c.pem", tmp_path / "k.pem")
    own = load(tmp_path, '[node]\ntls_cert = "c.pem"\ntls_key = "k.pem"\n[http]\ntls_cert = "h.pem"\ntls_key = "hk.pem"\n')
    assert own.http.tls_cert == tmp_path / "h.pem"
    with pytest.raises(ConfigError, match="http.listen: 0.0.0.0:80 is not a loopback address"):
        load(tmp_path, '[http]\nlisten = "0.0.0.0:80"\n')
    assert load(tmp_path, '[node]\nallow_plaintext = true\n[http]\nlisten = "0.0.0.0:80"\n').http.listen == "0.0.0.0:80"
    with pytest.raises(ConfigError, match="http.tls_cert: tls_cert and tls_key go together"):
        load(tmp_path, '[http]\ntls_cert = "c.pem"\n')


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('listen = "nowhere"', "http.listen"), ('prefix = "pypi"', "http.prefix"), ('prefix = "/pypi/"', "http.prefix"),
        ("max_body_bytes = 10", "http.max_body_bytes"), ("body_timeout_seconds = 0", "http.body_timeout_seconds"),
        ("tile_cache = -1", "http.tile_cache"), ("colour = 1", "http.colour"),
    ],
)  # fmt: skip
def test_bad_http_values_name_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load(tmp_path, f"[http]\n{text}\n")


def test_witnessing_reads_logs_a_list_file_and_http_witnesses(tmp_path):
    other = Signer.from_seed("logs.example/two", b"3" * 32).verifier()
    (tmp_path / "logs.txt").write_text(f"logs/v0\nvkey {other.vkey()}\norigin two.example\nqpd 86400\ncontact me\n")
    config = load(
        tmp_path,
        f"""
        [witnessing]
        log_list = "logs.txt"
        [[witnessing.logs]]
        vkey = "{LOG.vkey()}"
        qpd = 1440
        [[witnessing.witnesses]]
        name = "w"
        url = "https://witness.example/prefix"
        vkey = "{WITNESS.vkey()}"
        """,
    )
    logs, skipped = listed_logs(config.witnessing)
    assert [(log.origin, log.qpd) for log in logs] == [("logs.example/one", 1440.0), ("two.example", 86400.0)]
    assert skipped == []
    assert config.witnessing.witnesses[0].url == "https://witness.example/prefix"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[[witnessing.logs]]\nqpd = 1\n", r"witnessing.logs\[0\].vkey: required"),
        (f'[[witnessing.logs]]\nvkey = "{WITNESS.vkey()}"\n', "must be a log key"),
        (f'[[witnessing.logs]]\nvkey = "{LOG.vkey()}"\nqpd = -1\n', "qpd"),
        (f'[[witnessing.witnesses]]\nname = "w"\nurl = "ftp://x"\nvkey = "{WITNESS.vkey()}"\n', "url"),
        (f'[[witnessing.witnesses]]\nname = "w"\nurl = "https://x/"\nvkey = "{WITNESS.vkey()}"\n', "trailing slash"),
        (f'[[witnessing.witnesses]]\nname = "w"\nurl = "http://witness.example"\nvkey = "{WITNESS.vkey()}"\n', "plaintext"),
        (f'[[witnessing.witnesses]]\nname = "w"\nurl = "https://x"\nvkey = "{LOG.vkey()}"\n', "cosigner"),
        ('[witnessing]\nlog_list = "missing.txt"\n', "cannot read"),
    ],
)
def test_bad_witnessing_values_name_the_key(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        listed_logs(load(tmp_path, text).witnessing)


def test_a_listed_log_may_not_be_the_nodes_own_or_a_peers(tmp_path):
    import dataclasses

    from pypi_witness.config.node import Config
    from pypi_witness.config.logs import WitnessingConfig
    from pypi_witness.core.tlog.log_list import ListedLog
    from pypi_witness.runtime.witnessing import open_node_witness

    config = Config.default(tmp_path / "data", origin=LOG.name)
    config = dataclasses.replace(config, witnessing=WitnessingConfig(logs=(ListedLog(LOG, LOG.name),)))
    (tmp_path / "data").mkdir()
    with pytest.raises(ConfigError, match="is this node's own or a peer's"):
        open_node_witness(config, LOG)
