"""A simulated federation: honest gossip machines, logs (one of them forking) and adversaries.

Everything is seeded by ``SimConfig.seed``. Honest nodes run the production
:class:`~pypi_witness.core.gossip.machine.GossipMachine`; logs publish real signed
checkpoints every ``publish_every`` rounds and push them to ``fanout`` random
nodes (each node is shown the branch the forking log assigned it); proof
requests go to the log, which answers from that node's branch.

Measured, in rounds (time / interval):

* first exposure: the first moment an honest node has received signed heads of
  both branches past the fork;
* detection: the moment each honest node first holds verified evidence;
* rounds to detection: detection minus first exposure, per honest node.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass, field

from pypi_witness.core.gossip.machine import (
    Alarm,
    GossipConfig,
    GossipMachine,
    OriginInfo,
    Send,
    Stale,
)
from pypi_witness.core.gossip.messages import Heads, Message, ProofRequest
from pypi_witness.core.errors import ConfigError, WitnessError
from pypi_witness.sim.adversaries import Colluder, Replayer
from pypi_witness.sim.logs import ForkingLog, SimLog
from pypi_witness.sim.network import Network, Partition, groups_of

FORKING_ORIGIN = "forking.log.example"


@dataclass(frozen=True)
class SimConfig:
    """One simulation run. Construction raises ConfigError naming a bad value."""

    nodes: int = 100
    fanout: int = 1
    evidence_fanout: int | None = 1  # None: push new evidence to every peer at once
    seed: int = 1
    honest_logs: int = 1
    colluders: int = 0
    replayers: int = 0
    loss: float = 0.0
    latency_min: float = 0.01
    latency_max: float = 0.2
    jitter: float = 0.1  # of a round
    publish_every: int = 3  # rounds between log publications
    fork: bool = True
    partition_groups: int = 0  # 0: none; else split honest nodes into groups...
    partition_rounds: float = 0.0  # ...for this many rounds from the start
    split_by_partition: bool = False  # show branch a to group 0 and b to the others
    max_rounds: int = 200

    def __post_init__(self) -> None:
        if self.nodes < 2:
            raise ConfigError(f"--nodes must be at least 2, not {self.nodes}")
        if self.colluders < 0 or self.replayers < 0 or self.honest_logs < 0:
            raise ConfigError("--colluders, --replayers and --honest-logs must not be negative")
        if self.colluders + self.replayers >= self.nodes:
            raise ConfigError("adversaries must leave at least one honest node")
        if self.publish_every < 1 or self.max_rounds < 1:
            raise ConfigError("--publish-every and --max-rounds must be at least 1")
        if self.partition_groups == 1 or self.partition_groups < 0:
            raise ConfigError("--partition-groups must be 0 (none) or at least 2")
        if self.split_by_partition and not self.partition_groups:
            raise ConfigError("--split-by-partition needs --partition-groups")
        if not 0 <= self.jitter:
            raise ConfigError("--jitter must not be negative")


@dataclass
class SimResult:
    """What a run measured (rounds are floats: time / interval)."""

    config: SimConfig
    first_exposure: float | None = None
    detection: dict[str, float] = field(default_factory=dict)
    honest: int = 0
    false_equivocation_alarms: int = 0  # equivocation alarms against honest logs
    bad_proof_alarms: int = 0
    stale_alarms: int = 0
    rounds_run: float = 0.0
    messages: int = 0
    lost: int = 0

    @property
    def all_detected(self) -> bool:
        return len(self.detection) == self.honest

    def rounds_to_detection(self) -> list[float]:
        """Per detecting honest node: rounds from first exposure to holding evidence (0 if before)."""
        if self.first_exposure is None:
            return []
        return sorted(max(0.0, t - self.first_exposure) for t in self.detection.values())

    def summary(self) -> dict[str, object]:
        r = self.rounds_to_detection()
        return {
            "seed": self.config.seed,
            "honest": self.honest,
            "detected": len(self.detection),
            "first_exposure_round": None if self.first_exposure is None else round(self.first_exposure, 2),
            "median_rounds": round(statistics.median(r), 2) if r else None,
            "max_rounds": round(max(r), 2) if r else None,
            "false_equivocation_alarms": self.false_equivocation_alarms,
            "bad_proof_alarms": self.bad_proof_alarms,
            "stale_alarms": self.stale_alarms,
            "messages": self.messages,
            "lost": self.lost,
        }


class Simulation:
    """Builds the federation for ``config`` and runs it (``run``)."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        rng = random.Random(config.seed)
        self.rng = rng
        self.net = Network(random.Random(rng.getrandbits(64)), config.latency_min, config.latency_max, config.loss)
        names = [f"n{i}" for i in range(config.nodes)]
        bad = rng.sample(names, config.colluders + config.replayers)
        colluders, replayers = set(bad[: config.colluders]), set(bad[config.colluders :])
        self.honest_names = [n for n in names if n not in colluders and n not in replayers]
        groups: tuple[frozenset[str], ...] = ()
        if config.partition_groups:
            groups = groups_of(self.honest_names, config.partition_groups, rng)
            self.net.partitions.append(Partition(0.0, config.partition_rounds, groups))
        if config.split_by_partition:
            assignment = {n: ("a" if n in groups[0] else "b") for n in self.honest_names}
        else:
            assignment = {n: rng.choice("ab") for n in names}
        self.logs: dict[str, SimLog | ForkingLog] = {}
        for i in range(config.honest_logs):
            log = SimLog(f"honest{i}.log.example", rng.randbytes(32))
            self.logs[log.origin] = log
        self.forking: ForkingLog | None = None
        if config.fork:
            self.forking = ForkingLog(FORKING_ORIGIN, rng.randbytes(32), 10, assignment)
            self.logs[FORKING_ORIGIN] = self.forking
        origins = {o: OriginInfo(log.verifier, o) for o, log in self.logs.items()}
        gossip = GossipConfig(
            interval=1.0,
            jitter=config.jitter,
            fanout=config.fanout,
            evidence_fanout=config.evidence_fanout,
            stale_peer_rounds=0,  # with everyone as a peer, silence says little (see docs/simulator.md)
            stale_origin_rounds=6 * config.publish_every,
        )
        self.machines = {
            n: GossipMachine(n, names, origins, gossip, random.Random(rng.getrandbits(64)), 0.0)
            for n in self.honest_names
        }
        self.adversaries = {
            n: (Colluder if n in colluders else Replayer)(n, names, config.fanout, random.Random(rng.getrandbits(64)))
            for n in bad
        }
        self.result = SimResult(config, honest=len(self.honest_names))
        self._branch_of_root: dict[bytes, str] = {}
        self._exposed: dict[str, set[str]] = {}

    # ------------------------------------------------------------ plumbing

    def _deliver(self, dst: str, src: str, message: Message) -> None:
        now = self.net.now
        if dst in self.logs:
            if isinstance(message, ProofRequest):
                try:
                    reply = self.logs[dst].answer(src, message)
                except WitnessError:
                    return
                self._send(dst, src, reply)
            return
        if dst in self.machines:
            if isinstance(message, Heads):
                self._watch_exposure(dst, message, now)
            self._effects(dst, self.machines[dst].receive(src, message, now))
            if (
                dst not in self.result.detection
                and self.forking
                and self.machines[dst].refuses_to_cosign(FORKING_ORIGIN)
            ):
                self.result.detection[dst] = now
        elif dst in self.adversaries:
            self._effects(dst, self.adversaries[dst].receive(src, message, now))

    def _send(self, src: str, dst: str, message: Message) -> None:
        self.net.send(src, dst, message, lambda s, m: self._deliver(dst, s, m))

    def _effects(self, src: str, effects) -> None:
        for e in effects:
            if isinstance(e, Send):
                self._send(src, e.peer, e.message)
            elif isinstance(e, Alarm):
                if e.kind == "equivocation" and e.origin != FORKING_ORIGIN:
                    self.result.false_equivocation_alarms += 1
                elif e.kind == "bad-proof":
                    self.result.bad_proof_alarms += 1
            elif isinstance(e, Stale):
                self.result.stale_alarms += 1

    def _watch_exposure(self, dst: str, message: Heads, now: float) -> None:
        if self.result.first_exposure is not None or self.forking is None:
            return
        for note in message.notes:
            if not note.startswith(FORKING_ORIGIN.encode() + b"\n"):
                continue
            size, root = note.split(b"\n")[1:3]
            if int(size) <= self.forking.fork_at:
                continue
            branch = self._branch_of_root.get(root)
            if branch is not None:
                seen = self._exposed.setdefault(dst, set())
                seen.add(branch)
                if len(seen) == 2:
                    self.result.first_exposure = now

    # ------------------------------------------------------------ actors' schedules

    def _schedule_tick(self, name: str, actor, when: float) -> None:
        def run() -> None:
            now = self.net.now
            if name in self.machines:
                m = self.machines[name]
                self._effects(name, m.tick(now))
                self._schedule_tick(name, m, m.next_round_at())
            else:
                self._effects(name, actor.tick(now))
                self._schedule_tick(name, actor, now + 1.0 + self.rng.random() * self.config.jitter)

        self.net.at(when, run)

    def _publish(self, origin: str, first: bool) -> None:
        log = self.logs[origin]
        log.grow(10 if first else self.rng.randint(1, 20))
        if isinstance(log, ForkingLog):
            for branch in "ab":
                for note in log.branch_notes(branch).values():
                    self._branch_of_root[note.split(b"\n")[2]] = branch
        for peer in self.rng.sample(self.honest_names, min(self.config.fanout, len(self.honest_names))):
            self._send(origin, peer, Heads((log.head(peer),), reply=False))
        self.net.at(self.net.now + self.config.publish_every, lambda: self._publish(origin, False))

    # ------------------------------------------------------------ run

    def _done(self) -> bool:
        return self.forking is not None and self.result.all_detected

    def run(self) -> SimResult:
        """Run until every honest node holds evidence (or ``max_rounds``); returns the result."""
        for origin in self.logs:
            self.net.at(0.0, lambda o=origin: self._publish(o, True))
        for name, m in self.machines.items():
            self._schedule_tick(name, m, m.next_round_at())
        for name, a in self.adversaries.items():
            self._schedule_tick(name, a, self.rng.random())
        self.net.run_until(float(self.config.max_rounds), self._done)
        self.result.rounds_run = self.net.now
        self.result.messages = self.net.stats.sent
        self.result.lost = self.net.stats.lost + self.net.stats.partitioned
        return self.result
