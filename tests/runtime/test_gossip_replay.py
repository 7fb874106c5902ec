"""A peer that replays old heads: two honest node processes and a replaying peer (replay_node.py) on 127.0.0.1.

The replaying peer sends both honest nodes, every round, old signed heads of
its own log and of theirs, captured from their gossip. Checked: the honest
nodes raise no equivocation or bad-proof alarm, and keep accepting real
growth of each other's logs and of the replaying peer's log.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import trio

from pypi_witness.core.tlog.note import ALG_COSIGNATURE_V1
from pypi_witness.signing.keys import generate_signer
from pypi_witness.signing.log import init_log
from pypi_witness.signing.witness import init_witness_key
from tests.rpc.support import free_port, vkey
from tests.runtime.test_gossip_federation import (
    HERE,
    INTERVAL,
    log_lines,
    start_honest,
    stop,
)
from tests.runtime.test_gossip_partition import (
    ALARMS,
    accepted_sizes,
    checkpoint_of,
    wait_for,
    write_config,
)

HONEST = ("alpha", "beta")
REPLAY = "replay.test/log"


def replayed(text: str) -> tuple[int, int]:
    """(old heads sent, of them of other logs) by the replaying peer so far."""
    counts = re.findall(r"replay: sent (\d+) old heads \((\d+) of other logs\)", text)
    return (int(counts[-1][0]), int(counts[-1][1])) if counts else (0, 0)


async def test_replayed_old_heads_raise_no_alarm_and_growth_is_still_accepted(tmp_path):
    ports = {name: free_port() for name in (*HONEST, "replay")}
    for name in HONEST:
        init_log(tmp_path / name, f"{name}.test/log").close()
        init_witness_key(tmp_path / name, f"{name}.test/log/witness")
    logs = {name: vkey(tmp_path / name / "log.vkey") for name in HONEST}
    witnesses = {name: vkey(tmp_path / name / "witness.vkey") for name in HONEST}
    replay_log, replay_witness = generate_signer(REPLAY), generate_signer(f"{REPLAY}/witness", ALG_COSIGNATURE_V1)
    logs["replay"], witnesses["replay"] = replay_log.verifier(), replay_witness.verifier()
    address = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
    for name in HONEST:
        peers = {other: address[other] for other in (*HONEST, "replay") if other != name}
        write_config(tmp_path, name, ports[name], peers, logs, witnesses)
    spec = {
        "listen": address["replay"],
        "dir": str(tmp_path / "replay"),
        "log_skey": replay_log.skey(),
        "witness_skey": replay_witness.skey(),
        "interval": INTERVAL,
        "peers": [{"name": n, "address": address[n], "witness_vkey": witnesses[n].vkey()} for n in HONEST],
    }
    (tmp_path / "replay.json").write_text(json.dumps(spec))
    processes = {name: start_honest(tmp_path, name) for name in HONEST}
    processes["replay"] = subprocess.Popen(
        [sys.executable, str(HERE / "replay_node.py"), str(tmp_path / "replay.json")],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "replay.log", "ab"),  # noqa: SIM115 - the child owns it
    )
    try:
        with trio.fail_after(15):  # running: cosigned by both peers, and old heads of every log replayed
            for name in HONEST:
                others = [witnesses[o] for o in (*HONEST, "replay") if o != name]
                while len((await checkpoint_of(address[name], logs[name], others)).cosignatures) < 2:
                    await trio.sleep(0.05)
            await wait_for(lambda: replayed(log_lines(tmp_path, "replay"))[1] >= 20)
        sent = replayed(log_lines(tmp_path, "replay"))
        marks = {name: len(log_lines(tmp_path, name)) for name in HONEST}
        before = {
            (name, origin): max(accepted_sizes(log_lines(tmp_path, name), origin), default=-1)
            for name in HONEST
            for origin in ("alpha.test/log", "beta.test/log", REPLAY)
            if not origin.startswith(name)
        }
        with trio.fail_after(15):  # while the replays go on, real growth is still accepted, by both nodes
            for (name, origin), size in before.items():
                await wait_for(lambda n=name, o=origin, s=size: max(accepted_sizes(log_lines(tmp_path, n)[marks[n] :], o), default=-1) > s)
            await wait_for(lambda: replayed(log_lines(tmp_path, "replay"))[0] > sent[0])
    finally:
        codes = {name: stop(p) for name, p in processes.items()}
    assert {n: codes[n] for n in HONEST} == dict.fromkeys(HONEST, 0), {n: log_lines(tmp_path, n)[-3000:] for n in HONEST}
    for name in HONEST:
        text = log_lines(tmp_path, name)
        assert not [alarm for alarm in ALARMS if f"gossip: {alarm}" in text], text[-3000:]
        assert "message from replay refused" not in text  # the replayed notes are genuine, never malformed
