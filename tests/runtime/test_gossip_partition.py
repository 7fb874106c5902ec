"""A partitioned node: three real node processes on 127.0.0.1, one of them behind a proxy that cuts traffic.

Every connection to and from gamma passes a ``LoopbackProxy`` (alpha and beta
dial gamma at a proxy port, gamma dials them at proxy ports). While the
proxy is cut, gamma is reported stale on both sides and its new checkpoints
go uncosigned; once it heals, gamma's checkpoints are cosigned again, the
others accept its newer heads and it accepts theirs, and no node ever raises
an equivocation or bad-proof alarm.
"""

from __future__ import annotations

import re
from pathlib import Path

import trio

from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint
from pypi_witness.core.tlog.note import Verifier
from pypi_witness.core.errors import UnavailableError
from pypi_witness.signing.log import init_log
from pypi_witness.rpc.client import LogClient
from pypi_witness.signing.witness import init_witness_key
from tests.rpc.support import free_port, vkey
from tests.runtime.loopback_proxy import LoopbackProxy
from tests.runtime.test_gossip_federation import (
    gossip_section,
    log_lines,
    start_honest,
    stop,
)

NODES = ("alpha", "beta", "gamma")
ALARMS = ("EQUIVOCATION", "bad proof")


def write_config(tmp_path: Path, name: str, port: int, addresses: dict[str, str], logs, witnesses) -> None:
    peers = "".join(
        f'[[peers]]\nname = "{other}"\naddress = "{address}"\n'
        f'log_vkey = "{logs[other].vkey()}"\nwitness_vkey = "{witnesses[other].vkey()}"\n'
        for other, address in addresses.items()
    )
    (tmp_path / f"{name}.toml").write_text(
        f'[node]\ndata_dir = "{name}"\nlisten = "127.0.0.1:{port}"\n'
        "[limits]\nstop_grace_seconds = 1\n"
        "[witness]\nretry_min_seconds = 0.1\nretry_max_seconds = 0.5\n"
        + gossip_section().replace("stale_peer_rounds = 8", "stale_peer_rounds = 4")
        + peers
    )


async def checkpoint_of(address: str, log: Verifier, witnesses: list[Verifier]):
    """The node's served checkpoint, opened with the cosignatures of ``witnesses`` it carries."""
    async with LogClient(address) as client:
        while True:
            try:
                return open_checkpoint(await client.checkpoint(), log, witnesses)
            except UnavailableError:
                await trio.sleep(0.05)


async def wait_for(condition) -> None:
    """Return once ``condition()`` holds (the caller bounds the wait)."""
    while not condition():
        await trio.sleep(0.1)


def accepted_sizes(text: str, origin: str) -> list[int]:
    return [int(s) for s in re.findall(rf"gossip: accepted {re.escape(origin)} size (\d+) ", text)]


async def test_a_partitioned_node_is_reported_stale_then_catches_up_without_alarms(tmp_path):
    ports = {name: free_port() for name in NODES}
    for name in NODES:
        init_log(tmp_path / name, f"{name}.test/log").close()
        init_witness_key(tmp_path / name, f"{name}.test/log/witness")
    logs = {name: vkey(tmp_path / name / "log.vkey") for name in NODES}
    witnesses = {name: vkey(tmp_path / name / "witness.vkey") for name in NODES}
    proxy = LoopbackProxy()
    processes = {}
    async with trio.open_nursery() as nursery:
        await nursery.start(proxy.run)
        via = {}  # the proxy's port for each node
        for name in NODES:
            via[name] = f"127.0.0.1:{await proxy.route(ports[name])}"
        direct = {name: f"127.0.0.1:{ports[name]}" for name in NODES}
        write_config(tmp_path, "alpha", ports["alpha"], {"beta": direct["beta"], "gamma": via["gamma"]}, logs, witnesses)
        write_config(tmp_path, "beta", ports["beta"], {"alpha": direct["alpha"], "gamma": via["gamma"]}, logs, witnesses)
        write_config(tmp_path, "gamma", ports["gamma"], {"alpha": via["alpha"], "beta": via["beta"]}, logs, witnesses)
        try:
            processes = {name: start_honest(tmp_path, name) for name in NODES}
            gamma_peers = [witnesses["alpha"], witnesses["beta"]]
            with trio.fail_after(15):  # connected: gamma is cosigned and its log gossiped
                while len((await checkpoint_of(direct["gamma"], logs["gamma"], gamma_peers)).cosignatures) < 2:
                    await trio.sleep(0.05)
                await wait_for(lambda: accepted_sizes(log_lines(tmp_path, "alpha"), "gamma.test/log"))
            assert proxy.connections > 0

            proxy.cut()
            cut_at = {name: len(log_lines(tmp_path, name)) for name in NODES}
            size_at_cut = (await checkpoint_of(direct["gamma"], logs["gamma"], gamma_peers)).checkpoint.size

            def since_cut(name: str) -> str:
                return log_lines(tmp_path, name)[cut_at[name] :]

            with trio.fail_after(10):  # stale on both sides of the cut
                await wait_for(lambda: "gossip: stale peer gamma" in since_cut("alpha"))
                await wait_for(lambda: "gossip: stale peer gamma" in since_cut("beta"))
                await wait_for(
                    lambda: "gossip: stale peer alpha" in since_cut("gamma") and "gossip: stale peer beta" in since_cut("gamma")
                )
            stale_at = len(log_lines(tmp_path, "alpha"))
            await trio.sleep(1.0)  # a few more rounds cut off
            during = await checkpoint_of(direct["gamma"], logs["gamma"], gamma_peers)
            assert during.checkpoint.size > size_at_cut and not during.cosignatures  # grown, but no one to cosign it
            cut_off = log_lines(tmp_path, "alpha")[stale_at:]
            assert "gossip: accepted gamma.test/log" not in cut_off  # nothing of gamma gets through

            proxy.heal()
            size_at_heal = during.checkpoint.size
            with trio.fail_after(15):  # caught up: cosigned again, newer heads accepted both ways
                while True:
                    now = await checkpoint_of(direct["gamma"], logs["gamma"], gamma_peers)
                    if now.checkpoint.size > size_at_heal and len(now.cosignatures) == 2:
                        break
                    await trio.sleep(0.05)
                await wait_for(
                    lambda: any(s > size_at_heal for s in accepted_sizes(since_cut("alpha"), "gamma.test/log"))
                )
                await wait_for(
                    lambda: any(s > size_at_heal for s in accepted_sizes(since_cut("beta"), "gamma.test/log"))
                )
                await wait_for(lambda: accepted_sizes(since_cut("gamma"), "alpha.test/log") != [])
        finally:
            nursery.cancel_scope.cancel()
            codes = {name: stop(p) for name, p in processes.items()}
    assert codes == dict.fromkeys(NODES, 0), {n: log_lines(tmp_path, n)[-3000:] for n in NODES}
    for name in NODES:
        text = log_lines(tmp_path, name)
        assert not [alarm for alarm in ALARMS if f"gossip: {alarm}" in text], text[-3000:]
