"""A node's privacy over real gRPC: rate limits, proxy metadata, peers' budgets, access events, the scan."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
from pathlib import Path

import grpc
import pytest
import trio

from pypi_witness.cli.main import main as cli_main
from pypi_witness.config.node import PrivacyConfig
from pypi_witness.core.errors import ConfigError, OverloadedError
from pypi_witness.privacy.events import PRIVACY_DIR, AccessEvents
from pypi_witness.rpc.privacy_gate import PrivacyGate
from pypi_witness.privacy.identity import PROXY_CLIENT_KEY, PROXY_COUNTRY_KEY, PROXY_TOKEN_KEY, ClientIdentifier
from pypi_witness.privacy.period_keys import PeriodKeys
from pypi_witness.privacy.rate_limit import RateLimiter, TokenBuckets
from pypi_witness.rpc.bridge import call_unary
from pypi_witness.rpc.client import LogClient
from pypi_witness.rpc.errors import RETRY_AFTER_KEY
from pypi_witness.rpc.gen.v1 import log_pb2 as pb
from pypi_witness.runtime.privacy import NodePrivacy
from tests.rpc.support import config_for, start_node

ROOT = Path(__file__).resolve().parent.parent.parent
TOKEN = "a-proxy-token-of-some-length"


def _load_scan():
    spec = importlib.util.spec_from_file_location("privacy_scan", ROOT / "scripts" / "privacy_scan.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def node_config(data_dir: Path, **privacy: object):
    config = config_for(data_dir)
    return dataclasses.replace(config, privacy=PrivacyConfig(**privacy))


def stored(data_dir: Path) -> list[dict]:
    events = AccessEvents(data_dir / PRIVACY_DIR, readonly=True)
    try:
        return events.records()
    finally:
        events.close()


async def test_the_rate_limit_rejects_with_a_retry_hint_and_then_recovers(data_dir):
    config = node_config(data_dir, rate_burst=3.0, rate_per_second=10.0, method_costs={"GetEntries": 3})
    async with trio.open_nursery() as nursery:
        address = await start_node(nursery, config)
        async with LogClient(address) as client:
            for _ in range(3):
                await client.checkpoint()
            with pytest.raises(OverloadedError) as caught:
                await client.checkpoint()
            assert caught.value.retry_after == 1 and "retry after 1 s" in str(caught.value)
            await trio.sleep(0.35)  # 3.5 tokens at 10/s
            await client.checkpoint()
            with pytest.raises(OverloadedError):
                await client.entries(0, 1)  # costs 3; 2.5 left
            await trio.sleep(0.1)
            await client.entries(0, 1)
        nursery.cancel_scope.cancel()
    (record,) = stored(data_dir)
    assert record["calls"] == {"GetCheckpoint": 4, "GetEntries": 1}
    assert record["limited"] == {"GetCheckpoint": 1, "GetEntries": 1}


async def test_the_retry_hint_is_trailing_metadata(data_dir):
    config = node_config(data_dir, rate_burst=1.0, rate_per_second=0.2)
    async with trio.open_nursery() as nursery:
        address = await start_node(nursery, config)
        with grpc.insecure_channel(address) as channel:
            method = channel.unary_unary("/pypi_witness.v1.LogService/GetCheckpoint")
            await call_unary(method, b"")
            with pytest.raises(grpc.RpcError) as caught:
                await call_unary(method, b"")
        assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert (RETRY_AFTER_KEY, "5") in tuple(caught.value.trailing_metadata())
        nursery.cancel_scope.cancel()


async def test_proxy_metadata_counts_only_with_the_token(data_dir, tmp_path):
    token_file = tmp_path / "proxy.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    keys = tmp_path / "keys"
    config = node_config(data_dir, key_dir=keys, proxy_token_file=token_file)
    claimed = ((PROXY_CLIENT_KEY, "client-42"), (PROXY_COUNTRY_KEY, "nl"))
    async with trio.open_nursery() as nursery:
        address = await start_node(nursery, config)
        async with LogClient(address) as client:
            stub = client._methods["GetCheckpoint"]
            await call_unary(stub, pb.GetCheckpointRequest(), metadata=claimed)
            await call_unary(stub, pb.GetCheckpointRequest(), metadata=(*claimed, (PROXY_TOKEN_KEY, "not-it")))
            await call_unary(stub, pb.GetCheckpointRequest(), metadata=(*claimed, (PROXY_TOKEN_KEY, TOKEN)))
        nursery.cancel_scope.cancel()
    ours = ClientIdentifier(PeriodKeys(PrivacyConfig().retention_seconds, keys), proxy_token=TOKEN)
    loopback = ours.hash_peer("ipv4:127.0.0.1:1").name
    records = {r["identity"]: r for r in stored(data_dir)}
    assert len(records) == 2
    assert records[loopback]["calls"] == {"GetCheckpoint": 2} and records[loopback]["country"] == ""
    (proxied,) = [r for name, r in records.items() if name != loopback]
    assert proxied["country"] == "NL" and proxied["calls"] == {"GetCheckpoint": 1}


class Details(grpc.HandlerCallDetails):
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


class FakeContext:
    def __init__(self, peer: str, metadata=()) -> None:
        self._peer, self._metadata, self.trailing = peer, tuple(metadata), ()

    def peer(self) -> str:
        return self._peer

    def invocation_metadata(self):
        return self._metadata

    def set_trailing_metadata(self, metadata) -> None:
        self.trailing = tuple(metadata)

    def abort(self, code, message):
        raise grpc.RpcError(code, message)


def test_authenticated_peers_are_charged_to_their_own_budget():
    # A stand-in for the witness service's authenticator: metadata naming a peer.
    def authenticate(request, context):
        return dict(context.invocation_metadata()).get("x-stand-in-peer")

    limiter = RateLimiter(TokenBuckets(0.001, 2.0, 8), TokenBuckets(0.001, 4.0, 8))
    gate = PrivacyGate(
        ClientIdentifier(PeriodKeys(3600)),
        limiter=limiter,
        peer_authenticators={"/pypi_witness.v1.WitnessService/AddCheckpoint": authenticate},
    )
    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: b"ok")
    details = Details("/pypi_witness.v1.WitnessService/AddCheckpoint")
    wrapped = gate.intercept_service(lambda d: handler, details).unary_unary
    assert gate.intercept_service(lambda d: handler, details).unary_unary is wrapped  # made once per method

    client = FakeContext("ipv4:198.51.100.9:4000")
    peer = FakeContext("ipv4:198.51.100.9:4001", [("x-stand-in-peer", "witness-b.example")])
    assert [wrapped(b"", client) for _ in range(2)] == [b"ok", b"ok"]
    with pytest.raises(grpc.RpcError):
        wrapped(b"", client)
    assert client.trailing and client.trailing[0][0] == RETRY_AFTER_KEY
    # Same address, but authenticated: the peer's budget is untouched by the client's.
    assert [wrapped(b"", peer) for _ in range(4)] == [b"ok"] * 4
    with pytest.raises(grpc.RpcError):
        wrapped(b"", peer)


def test_a_key_dir_inside_the_data_dir_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="privacy.key_dir: .* inside node.data_dir"):
        NodePrivacy(PrivacyConfig(key_dir=tmp_path / "data" / "keys"), tmp_path / "data")


@pytest.mark.parametrize(("content", "mode"), [("short", 0o600), (TOKEN, 0o644), ("has space" * 4, 0o600)])
def test_bad_proxy_token_files_are_refused(tmp_path, content, mode):
    token_file = tmp_path / "token"
    token_file.write_text(content)
    os.chmod(token_file, mode)
    with pytest.raises(ConfigError, match="privacy.proxy_token_file"):
        NodePrivacy(PrivacyConfig(proxy_token_file=token_file), tmp_path / "data")
    with pytest.raises(ConfigError, match="cannot read"):
        NodePrivacy(PrivacyConfig(proxy_token_file=tmp_path / "missing"), tmp_path / "data")


def test_the_report_command(data_dir, capsys):
    privacy = NodePrivacy(PrivacyConfig(), data_dir)
    privacy.counter.count(privacy.identifier.hash_peer("ipv4:203.0.113.5:1"), "GetCheckpoint", privacy._clock())
    privacy.close()
    assert cli_main(["privacy", "report", "--data", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "access-event records: 1 (1 identities" in out and "GetCheckpoint 1" in out
    assert "key kept in memory only" in out
    assert cli_main(["privacy", "report", "--data", str(data_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["records"] == 1
    assert cli_main(["privacy", "report", "--data", str(data_dir / "nothing")]) == 1
    assert "no access events are stored" in capsys.readouterr().err


def test_no_client_address_is_stored_or_logged(tmp_path):
    scan = _load_scan()
    # 14 calls an address cost 32 tokens (GetEntries costs 10): more than a burst of 10 and 1 token/s refill.
    result = scan.run_scan(tmp_path, n_addresses=12, requests=168, seed=3, rate=1.0, burst=10.0)
    assert result["identities"] == 12  # every address reached the node as its own client
    assert result["outcomes"].get("rate limited", 0) > 0  # refusals were exercised too
    assert result["hits"] == []
    # The scan does find an address that is there, in any of its forms.
    address = result["addresses"][0]
    for form in scan.address_forms(address):
        assert ("planted", address, form) in scan.scan({"planted": b"x" + form + b"y"}, [address])
