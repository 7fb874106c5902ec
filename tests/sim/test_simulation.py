"""The simulator drives 100 production gossip machines over a seeded, lossy, reordering network."""

from __future__ import annotations

import math
import random

import pytest

from pypi_witness.core.tlog.evidence import verify_evidence
from pypi_witness.core.gossip.messages import EvidenceAck, Heads
from pypi_witness.core.errors import ConfigError
from pypi_witness.sim.__main__ import main
from pypi_witness.sim.network import Network, Partition
from pypi_witness.sim.world import FORKING_ORIGIN, SimConfig, Simulation

BAR_100 = math.ceil(math.log2(100) + math.log(100))  # 12 rounds


def run(**kwargs) -> tuple[Simulation, object]:
    sim = Simulation(SimConfig(**kwargs))
    return sim, sim.run()


@pytest.mark.parametrize("evidence_fanout", [1, None])
def test_every_honest_node_holds_evidence_within_the_bar(evidence_fanout) -> None:
    worst = []
    for seed in range(1, 7):
        sim, result = run(nodes=100, fanout=1, seed=seed, evidence_fanout=evidence_fanout)
        assert result.all_detected, f"seed {seed}: {len(result.detection)} of {result.honest} detected"
        assert result.first_exposure is not None
        assert result.false_equivocation_alarms == 0
        worst.append(max(result.rounds_to_detection()))
        # What they hold is real evidence, checkable offline with the log's key alone.
        node = sim.machines[sim.honest_names[seed]]
        verify_evidence(node.evidence_for(FORKING_ORIGIN), sim.forking.verifier)
    assert max(worst) <= BAR_100, worst


def test_loss_reordering_and_replayed_heads_raise_no_alarm() -> None:
    for seed in (1, 2):
        sim, result = run(
            nodes=100,
            seed=seed,
            fork=False,
            honest_logs=2,
            loss=0.2,
            replayers=10,
            latency_min=0.01,
            latency_max=1.5,
            max_rounds=30,
        )
        assert result.false_equivocation_alarms == 0 and result.bad_proof_alarms == 0
        assert result.lost > 0 and sim.net.stats.delivered > 0
        assert not any(m.evidence() for m in sim.machines.values())
        # The honest nodes did follow the logs (the heads moved past the first checkpoint).
        sizes = [int(m.head(o).split(b"\n")[1]) for m in sim.machines.values() for o in sim.logs if m.head(o)]
        assert max(sizes) > 10


def test_detection_despite_loss_colluders_and_replayers() -> None:
    sim, result = run(nodes=100, seed=3, loss=0.1, colluders=10, replayers=5)
    assert result.all_detected and result.false_equivocation_alarms == 0
    assert not any(hasattr(a, "refuses_to_cosign") for a in sim.adversaries.values())


def test_a_partition_hides_the_fork_until_it_heals() -> None:
    _, result = run(nodes=60, seed=4, partition_groups=2, partition_rounds=25, split_by_partition=True)
    assert result.all_detected
    assert result.first_exposure is not None and result.first_exposure >= 25
    assert min(result.detection.values()) >= 25


def test_network_partitions_loss_and_reordering() -> None:
    net = Network(random.Random(1), latency_min=0.0, latency_max=1.0, loss=0.0)
    net.partitions.append(Partition(0.0, 5.0, (frozenset({"a"}), frozenset({"b"}))))
    got: list[tuple[str, object]] = []
    net.send("a", "b", Heads((), True), lambda s, m: got.append((s, m)))
    net.send("a", "c", Heads((), True), lambda s, m: got.append((s, m)))
    net.run_until(10.0)
    assert got == [("a", Heads((), True))] and net.stats.partitioned == 1
    order: list[int] = []
    for i in range(50):
        net.send("a", "b", EvidenceAck(f"{i:064x}"), lambda s, m: order.append(int(m.evidence_id, 16)))
    net.run_until(20.0)
    assert sorted(order) == list(range(50)) and order != sorted(order)  # all delivered, out of order
    lossy = Network(random.Random(2), loss=0.5)
    for _ in range(200):
        lossy.send("a", "b", Heads((), True), lambda s, m: None)
    lossy.run_until(5.0)
    assert 60 < lossy.stats.lost < 140 and lossy.stats.delivered == 200 - lossy.stats.lost


@pytest.mark.parametrize(
    "kwargs",
    [
        {"nodes": 1},
        {"colluders": 100},
        {"partition_groups": 1},
        {"split_by_partition": True},
        {"loss": 1.0},
        {"latency_min": 2.0, "latency_max": 1.0},
    ],
)
def test_bad_simulation_configs_are_refused(kwargs) -> None:
    with pytest.raises(ConfigError):
        Simulation(SimConfig(**kwargs))


def test_cli_prints_statistics(capsys) -> None:
    assert main(["--nodes", "30", "--seed", "2", "--runs", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and '"detected": 30' in lines[0] and '"bar_rounds": 9' in lines[2]


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--nodes", "1"], "at least 2"), (["--evidence-push", "many"], "--evidence-push"), (["--runs", "0"], "--runs")],
)
def test_cli_refuses_bad_arguments(argv, message, capsys) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err
