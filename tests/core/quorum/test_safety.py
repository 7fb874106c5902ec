"""Tests for core.quorum.safety: split-view and withholding bounds, checked against brute force."""

from __future__ import annotations

import itertools
import random

import pytest

from pypi_witness.core.tlog.note import ALG_COSIGNATURE_V1, Signer
from pypi_witness.core.quorum.policy import Policy, PolicyGroup, PolicyWitness, parse_policy
from pypi_witness.core.quorum.evaluation import (
    blocking_set,
    evaluate,
    max_tolerated_faults,
    max_tolerated_unavailable,
    min_overlap,
    split_view_example,
    split_view_possible,
    warnings,
)
from pypi_witness.core.errors import MalformedError, PolicyError
from tests.core.quorum.policy_fixtures import SPEC_EXAMPLE, flat_policy_text, witness_vkey

KEYS = [Signer.from_seed(f"k{i}.example", bytes([200 + i]) * 32, ALG_COSIGNATURE_V1).verifier() for i in range(8)]


# ---------------------------------------------------------------- an independent brute force


def _satisfies(policy: Policy, chosen: frozenset[str], name: str | None) -> bool:
    if name is None:
        return True
    if name in policy.witness_by_name:
        return name in chosen
    group = policy.group_by_name[name]
    return sum(_satisfies(policy, chosen, m) for m in group.members) >= group.threshold


def satisfying_sets(policy: Policy, names: list[str]) -> list[frozenset[str]]:
    subsets = (frozenset(c) for r in range(len(names) + 1) for c in itertools.combinations(names, r))
    return [s for s in subsets if _satisfies(policy, s, policy.quorum)]


def brute_overlap(a: Policy, b: Policy | None = None) -> int:
    names = [w.name for w in a.witnesses]
    sets_a = satisfying_sets(a, names)
    sets_b = sets_a if b is None else satisfying_sets(b, names)
    return min(len(s1 & s2) for s1 in sets_a for s2 in sets_b)


def brute_split(a: Policy, faults: int, b: Policy | None = None) -> bool:
    """Literally: some set F of `faults` witnesses lets two quorums meet only inside F."""
    names = [w.name for w in a.witnesses]
    sets_a = satisfying_sets(a, names)
    sets_b = sets_a if b is None else satisfying_sets(b, names)
    for bad in itertools.combinations(names, min(faults, len(names))):
        f = frozenset(bad)
        if any((s1 & s2) <= f for s1 in sets_a for s2 in sets_b):
            return True
    return False


def brute_blocking(policy: Policy) -> int:
    names = [w.name for w in policy.witnesses]
    sets = satisfying_sets(policy, names)
    for r in range(len(names) + 1):
        for silent in itertools.combinations(names, r):
            if not any(not (s & frozenset(silent)) for s in sets):
                return r
    raise AssertionError("unreachable: silencing everyone blocks any quorum but none")


def flat(n: int, k: int) -> Policy:
    witnesses = tuple(PolicyWitness(f"W{i}", KEYS[i]) for i in range(n))
    return Policy((), witnesses, (PolicyGroup("g", k, tuple(w.name for w in witnesses)),), "g")


# ---------------------------------------------------------------- flat k-of-n, exhaustively


@pytest.mark.parametrize("n", range(1, 8))
def test_flat_split_rule_matches_brute_force(n: int) -> None:
    for k in range(1, n + 1):
        policy = flat(n, k)
        assert min_overlap(policy) == brute_overlap(policy) == max(0, 2 * k - n)
        assert max_tolerated_faults(policy) == max(0, 2 * k - n) - 1
        for f in range(n + 1):
            expected = 2 * k <= n + f
            assert split_view_possible(policy, f) == expected == brute_split(policy, f), (n, k, f)


@pytest.mark.parametrize("n", range(1, 8))
def test_two_clients_k1_k2_rule_matches_brute_force(n: int) -> None:
    for k1, k2 in itertools.product(range(1, n + 1), repeat=2):
        a, b = flat(n, k1), flat(n, k2)
        assert min_overlap(a, b) == brute_overlap(a, b) == max(0, k1 + k2 - n)
        for f in range(n + 1):
            assert split_view_possible(a, f, b) == (k1 + k2 <= n + f) == brute_split(a, f, b), (n, k1, k2, f)


@pytest.mark.parametrize("n", range(1, 8))
def test_flat_blocking_matches_brute_force(n: int) -> None:
    for k in range(1, n + 1):
        policy = flat(n, k)
        assert max_tolerated_unavailable(policy) == n - k == brute_blocking(policy) - 1


def test_known_figures() -> None:
    assert max_tolerated_faults(flat(4, 3)) == 1
    assert max_tolerated_faults(flat(7, 5)) == 2
    assert max_tolerated_faults(flat(1, 1)) == 0
    assert max_tolerated_faults(flat(3, 1)) == -1


# ---------------------------------------------------------------- nested groups


def random_tree(rng: random.Random, names: list[str]) -> tuple[list[PolicyGroup], str]:
    """A random nested quorum over ``names`` (each used once), as groups in definition order."""
    groups: list[PolicyGroup] = []
    nodes = list(names)
    rng.shuffle(nodes)
    while len(nodes) > 1 or not groups:
        take = rng.randint(1, min(3, len(nodes))) if len(nodes) > 1 else 1
        if len(nodes) > 1 and take == 1:
            take = 2
        members, nodes = nodes[:take], nodes[take:]
        group = PolicyGroup(f"G{len(groups)}", rng.randint(1, len(members)), tuple(members))
        groups.append(group)
        nodes.insert(rng.randint(0, len(nodes)), group.name)
    return groups, nodes[0]


def random_policy(rng: random.Random, n: int) -> Policy:
    witnesses = tuple(PolicyWitness(f"W{i}", KEYS[i]) for i in range(n))
    groups, top = random_tree(rng, [w.name for w in witnesses])
    return Policy((), witnesses, tuple(groups), top)


def test_random_nested_policies_match_brute_force() -> None:
    rng = random.Random(20240611)
    for _ in range(250):
        policy = random_policy(rng, rng.randint(1, 7))
        assert min_overlap(policy) == brute_overlap(policy), policy.groups
        assert max_tolerated_unavailable(policy) == brute_blocking(policy) - 1, policy.groups
        s1, s2 = split_view_example(policy)
        assert _satisfies(policy, s1, policy.quorum) and _satisfies(policy, s2, policy.quorum)
        assert len(s1 & s2) == min_overlap(policy)
        silent = blocking_set(policy)
        assert silent is not None and len(silent) == brute_blocking(policy)
        rest = frozenset(w.name for w in policy.witnesses) - silent
        assert not _satisfies(policy, rest, policy.quorum)


def test_random_nested_pairs_with_other_thresholds_match_brute_force() -> None:
    rng = random.Random(7)
    for _ in range(150):
        a = random_policy(rng, rng.randint(2, 7))
        regrouped = tuple(PolicyGroup(g.name, rng.randint(1, len(g.members)), g.members) for g in a.groups)
        b = Policy((), a.witnesses, regrouped, a.quorum)
        assert min_overlap(a, b) == brute_overlap(a, b)
        s1, s2 = split_view_example(a, b)
        assert _satisfies(a, s1, a.quorum) and _satisfies(b, s2, b.quorum)
        assert len(s1 & s2) == min_overlap(a, b)


def test_spec_example_figures() -> None:
    policy = parse_policy(SPEC_EXAMPLE.encode())
    # X: 2-of-3 overlaps in >= 1; Y: any-of-3 can overlap in 0; all of both -> 1.
    assert min_overlap(policy) == brute_overlap(policy) == 1
    assert max_tolerated_faults(policy) == 0
    # Silencing all three Y witnesses (or two X) blocks it.
    assert max_tolerated_unavailable(policy) == 1
    assert len(blocking_set(policy) or ()) == 2


def test_nested_two_of_three_groups_of_three_of_four() -> None:
    lines = [f"witness W{i} {witness_vkey(i)}" for i in range(12)]
    lines += [f"group G{j} 3 W{4 * j} W{4 * j + 1} W{4 * j + 2} W{4 * j + 3}" for j in range(3)]
    lines += ["group top 2 G0 G1 G2", "quorum top"]
    policy = parse_policy(("\n".join(lines) + "\n").encode())
    # Two of three groups: two quorums share at least one group, in which they share >= 2.
    assert min_overlap(policy) == 2
    assert max_tolerated_unavailable(policy) == 3  # silence 2 in each of two groups -> 4 needed


def test_differently_grouped_policies_are_not_compared() -> None:
    a = flat(4, 3)
    b = Policy(
        (),
        a.witnesses,
        (PolicyGroup("x", 1, ("W0", "W1")), PolicyGroup("y", 1, ("W2", "W3")), PolicyGroup("g", 2, ("x", "y"))),
        "g",
    )
    with pytest.raises(PolicyError, match="group their witnesses differently"):
        min_overlap(a, b)


def test_single_member_groups_collapse() -> None:
    a = parse_policy(f"witness A {witness_vkey(1)}\ngroup g all A\nquorum g\n".encode())
    b = parse_policy(f"witness A {witness_vkey(1)}\nquorum A\n".encode())
    assert min_overlap(a, b) == 1


def test_quorum_none() -> None:
    policy = parse_policy(f"witness A {witness_vkey(1)}\nquorum none\n".encode())
    assert min_overlap(policy) == 0
    assert max_tolerated_faults(policy) == -1
    assert split_view_possible(policy, 0)
    assert blocking_set(policy) is None
    assert max_tolerated_unavailable(policy) == 1
    assert split_view_example(policy) == (frozenset(), frozenset())
    assert evaluate(policy, []).satisfied


# ---------------------------------------------------------------- warnings


def test_no_warnings_for_a_safe_policy() -> None:
    assert warnings(parse_policy(flat_policy_text(7, 5).encode()), 2) == []


def test_split_warning_names_the_shared_witnesses() -> None:
    policy = parse_policy(flat_policy_text(4, 2).encode())
    (text,) = warnings(policy, 0)
    assert "split view possible with 0 faulty witnesses" in text
    assert "share no witness" in text
    assert "tolerates -1 faulty" in text
    (text,) = [w for w in warnings(parse_policy(flat_policy_text(4, 3).encode()), 2) if "split" in w]
    assert "share only {" in text and "tolerates 1 faulty witness;" in text


def test_blocking_warning() -> None:
    policy = parse_policy(flat_policy_text(4, 4).encode())
    texts = warnings(policy, 1)
    assert len(texts) == 1
    assert "1 witness refusing to cosign" in texts[0] and "survives 0 silent" in texts[0]


def test_quorum_none_warning() -> None:
    (text,) = warnings(parse_policy(b"quorum none\n"), 0)
    assert "quorum none" in text and "log alone" in text


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_faults_must_be_a_non_negative_int(bad: object) -> None:
    policy = flat(3, 2)
    with pytest.raises(MalformedError):
        warnings(policy, bad)  # type: ignore[arg-type]
    with pytest.raises(MalformedError):
        split_view_possible(policy, bad)  # type: ignore[arg-type]
