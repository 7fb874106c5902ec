"""[witness] and [[peers]]: every key, and refusals that name the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pypi_witness.config.node import PeerConfig, WitnessConfig, load_config
from pypi_witness.core.tlog.note import ALG_COSIGNATURE_V1, Signer
from pypi_witness.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
LOG_A = Signer.from_seed("a.example/pypi", b"a" * 32).verifier()
LOG_B = Signer.from_seed("b.example/pypi", b"b" * 32).verifier()
WIT_A = Signer.from_seed("a.example/pypi/witness", b"A" * 32, ALG_COSIGNATURE_V1).verifier()
WIT_B = Signer.from_seed("b.example/pypi/witness", b"B" * 32, ALG_COSIGNATURE_V1).verifier()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(text)
    return path


def peer(name: str = "a", log=LOG_A, address: str | None = "127.0.0.1:7001", witness=WIT_A) -> str:
    text = f'[[peers]]\nname = "{name}"\nlog_vkey = "{log.vkey()}"\n'
    if address is not None:
        text += f'address = "{address}"\n'
    if witness is not None:
        text += f'witness_vkey = "{witness.vkey()}"\n'
    return text


def test_defaults(tmp_path):
    config = load_config(write(tmp_path, ""))
    assert config.witness == WitnessConfig(None, None, 5.0, 0.5, 60.0)
    assert config.peers == ()


def test_every_key(tmp_path):
    config = load_config(
        write(
            tmp_path,
            '[witness]\nkey = "keys/w.key"\nname = "me.example/witness"\npush_timeout_seconds = 2\n'
            "retry_min_seconds = 0.25\nretry_max_seconds = 10\n"
            + peer()
            + peer("b", LOG_B, None, None),
        )
    )
    assert config.witness == WitnessConfig(tmp_path / "keys" / "w.key", "me.example/witness", 2.0, 0.25, 10.0)
    assert config.peers == (
        PeerConfig("a", LOG_A, "127.0.0.1:7001", WIT_A),
        PeerConfig("b", LOG_B, None, None),
    )
    assert config.peers[0].origin == "a.example/pypi"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[witness]\ncolour = 1", "witness.colour: unknown key (known keys: key, name, push_timeout_seconds"),
        ("[witness]\nname = 'a b'", "witness.name: 'a b' cannot name a key"),
        ("[witness]\nkey = ''", "witness.key: must be a non-empty string"),
        ("[witness]\npush_timeout_seconds = 0", "witness.push_timeout_seconds: must be more than 0"),
        ("[witness]\nretry_min_seconds = -1", "witness.retry_min_seconds: must be a number of seconds"),
        ("[witness]\nretry_min_seconds = 0", "witness.retry_min_seconds: must be more than 0"),
        ("[witness]\nretry_min_seconds = 5\nretry_max_seconds = 1", "witness.retry_max_seconds: must be at least"),
        ("witness = 1", "witness: must be a table"),
        ("[[peers]]\nlog_vkey = 'x'", "peers[0].log_vkey: not a verifier key"),
        (f"[[peers]]\nlog_vkey = '{LOG_A.vkey()}'", "peers[0].name: required"),
        ("[[peers]]\nname = 'a'", "peers[0].log_vkey: required"),
        ("[[peers]]\nname = ''", "peers[0].name: must be a non-empty string"),
        (peer(log=WIT_A), "peers[0].log_vkey: must be a log key (type 0x01), got a key of type 0x04"),
        (peer(witness=LOG_B), "peers[0].witness_vkey: must be a witness (cosigner) key (type 0x04)"),
        (peer(witness=None), "peers[0]: address and witness_vkey go together"),
        (peer(address=None), "peers[0]: address and witness_vkey go together"),
        (peer(address="nowhere"), "peers[0].address: must be host:port"),
        (peer(address="127.0.0.1:0"), "peers[0].address: port 0 cannot be dialled"),
        (peer() + peer(), "peers[1].name: is the same as peers[0].name"),
        (peer() + peer("b"), "peers[1].log_vkey: names the same log as peers[0].log_vkey"),
        (peer() + peer("b", LOG_B), "peers[1].address: is the same as peers[0].address"),
        (peer() + peer("b", LOG_B, "127.0.0.1:7002"), "peers[1].witness_vkey: is the same as peers[0].witness_vkey"),
    ],
)
def test_refusals_name_the_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert message in str(caught.value)


def test_a_damaged_vkey_is_refused_without_echoing_a_traceback(tmp_path):
    vkey = LOG_A.vkey()
    broken = vkey[:-4] + "AAAA"  # another key under the same id
    with pytest.raises(ConfigError, match=r"peers\[0\].log_vkey: not a verifier key \(.*does not match"):
        load_config(write(tmp_path, f'[[peers]]\nname = "a"\nlog_vkey = "{broken}"\n'))


def test_the_readme_documents_every_witness_and_peer_key():
    readme = (ROOT / "README.md").read_text()
    readme = readme[readme.index("The configuration is one TOML file") :]
    readme = readme[: readme.index("\n### ")]
    documented = set(re.findall(r"^\| `((?:witness|peers)\.[a-z_]+)` \|", readme, re.MULTILINE))
    keys = {f"witness.{k}" for k in WitnessConfig.__dataclass_fields__} | {
        f"peers.{k}" for k in PeerConfig.__dataclass_fields__
    }
    assert documented == keys


def test_the_readme_and_the_config_docstring_document_every_gossip_key():
    import pypi_witness.config.node as config_module
    from pypi_witness.config.gossip import GOSSIP_KEYS

    readme = (ROOT / "README.md").read_text()
    readme = readme[readme.index("The configuration is one TOML file") :]
    readme = readme[: readme.index("\n### ")]
    documented = set(re.findall(r"^\| `gossip\.([a-z_]+)` \|", readme, re.MULTILINE))
    assert documented == set(GOSSIP_KEYS)
    doc = config_module.__doc__
    section = doc[doc.index("[gossip]") : doc.index("[index]")]
    assert set(re.findall(r"^    ([a-z_]+) +=", section, re.MULTILINE)) == set(GOSSIP_KEYS)


def test_the_gossip_section_is_read_and_checked(tmp_path):
    config = load_config(write(tmp_path, "[gossip]\ninterval = 0.5\nfanout = 3\nevidence_fanout = 0\ntimeout_seconds = 2\n"))
    assert (config.gossip.machine.interval, config.gossip.machine.fanout) == (0.5, 3)
    assert config.gossip.machine.evidence_fanout is None and config.gossip.timeout_seconds == 2.0
    for text, message in [
        ("[gossip]\nrounds = 3\n", "gossip.rounds: unknown key"),
        ("[gossip]\nfanout = 0\n", "fanout must be an integer >= 1"),
        ("[gossip]\ninterval = true\n", "gossip.interval: must be a number"),
        ("[gossip]\ntimeout_seconds = 0\n", "gossip.timeout_seconds: must be a number above 0"),
    ]:
        with pytest.raises(ConfigError, match=message):
            load_config(write(tmp_path, text))
