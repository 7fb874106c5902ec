"""A federation of witness nodes set up in one go: keys, logs and configurations that name each other.

``create_federation`` makes, under one root directory, a data directory per
node (a new log and witness key, as ``pypi-witness init`` makes them), a TOML
configuration per node whose ``[[peers]]`` are all the other nodes (so every
node cosigns every other's log and pushes its own checkpoints to them), and a
C2SP tlog-policy file trusting the logs and requiring ``quorum`` of the
witnesses, which every node's ``[policy]`` names (disputes are settled by it). ``pypi-witness federation init`` runs it; ``compose/`` uses it to
start a federation under docker compose, and the tests to start one on
loopback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pypi_witness.core.tlog.note import Verifier
from pypi_witness.core.errors import ConfigError
from pypi_witness.signing.log import init_log
from pypi_witness.signing.witness import default_witness_name, init_witness_key

POLICY_FILE = "policy.txt"


@dataclass(frozen=True, slots=True)
class Member:
    """One node of a federation: where its files are and what others need to know of it."""

    name: str
    data_dir: Path
    config: Path
    address: str  # where peers and clients reach it
    log: Verifier
    witness: Verifier


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def create_federation(
    root: Path,
    addresses: Mapping[str, str],
    *,
    listen: Mapping[str, str] | None = None,
    origin_suffix: str = ".witness.invalid/log",
    quorum: int | None = None,
    extra_config: str = "",
    http_listen: Mapping[str, str] | None = None,
) -> dict[str, Member]:
    """Create the federation of the nodes ``addresses`` names (name -> host:port) under ``root``.

    Each node listens on ``listen[name]`` (default: its address) and has origin
    ``<name><origin_suffix>``. ``quorum`` (default: a majority) is how many
    witnesses the policy file requires. ``extra_config`` (TOML) is appended to
    every configuration's [node] section. ``http_listen[name]``, if given, is
    where the node's C2SP HTTP face listens (``[http] listen``). Returns the members by name. Raises ConfigError for
    fewer than two nodes, a bad quorum or a name that cannot name a key, and
    StoreError / OSError if a directory already holds a log or cannot be written.
    """
    names = list(addresses)
    if len(names) < 2:
        raise ConfigError("a federation needs at least two nodes")
    quorum = len(names) // 2 + 1 if quorum is None else quorum
    if not 1 <= quorum <= len(names):
        raise ConfigError(f"quorum must be from 1 to {len(names)}, got {quorum}")
    root.mkdir(parents=True, exist_ok=True)
    members: dict[str, Member] = {}
    for name in names:
        data_dir = root / name
        log = init_log(data_dir, f"{name}{origin_suffix}")
        try:
            log_vkey = log.verifier
        finally:
            log.close()
        witness = init_witness_key(data_dir, default_witness_name(log_vkey.name)).verifier()
        members[name] = Member(name, data_dir, root / f"{name}.toml", addresses[name], log_vkey, witness)
    for member in members.values():
        peers = "".join(
            f"\n[[peers]]\nname = {_toml_string(other.name)}\naddress = {_toml_string(other.address)}\n"
            f"log_vkey = {_toml_string(other.log.vkey())}\nwitness_vkey = {_toml_string(other.witness.vkey())}\n"
            for other in members.values()
            if other is not member
        )
        bind = (listen or {}).get(member.name, member.address)
        # The faults a q-of-n quorum withstands: two quorums share at least 2q - n witnesses.
        faults = max(0, 2 * quorum - len(names) - 1)
        http = (http_listen or {}).get(member.name)
        http_section = "" if http is None else f"[http]\nlisten = {_toml_string(http)}\n"
        member.config.write_text(
            f"[node]\ndata_dir = {_toml_string(member.name)}\nlisten = {_toml_string(bind)}\n"
            f"{extra_config}[policy]\nfile = {_toml_string(POLICY_FILE)}\nfaults = {faults}\n{http_section}{peers}"
        )
    (root / POLICY_FILE).write_text(policy_text(list(members.values()), quorum))
    return members


def policy_text(members: Sequence[Member], quorum: int) -> str:
    """A C2SP tlog-policy trusting every member's log and ``quorum`` of their witnesses."""
    lines = [f"log {m.log.vkey()}\n" for m in members]
    lines += [f"witness {m.name} {m.witness.vkey()}\n" for m in members]
    lines.append(f"group federation {quorum} {' '.join(m.name for m in members)}\nquorum federation\n")
    return "".join(lines)
