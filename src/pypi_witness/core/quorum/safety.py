"""How many faulty witnesses a tlog-policy quorum survives.

Split views. A log (or index) that wants to show two different checkpoints to
two clients needs each checkpoint to gather a quorum. An honest witness cosigns
only one of two inconsistent checkpoints; a faulty one cosigns both. So a split
goes through exactly when two satisfying witness sets ``S1`` and ``S2`` exist
whose intersection is all faulty, that is when ``min |S1 ∩ S2| <= f``. For a
flat k-of-n group two quorums share at least ``2k - n`` witnesses, so a split
needs ``2k <= n + f`` (3-of-4 survives one faulty witness, 5-of-7 two). For two
clients with thresholds k1 and k2 over the same n witnesses the bound is
``k1 + k2 - n``.

Nested groups. The spec lets each name be a group member at most once, so the
quorum is a tree of threshold gates over distinct witnesses. For a gate with
threshold k over n children whose own minimum overlaps are ``m_i``, two
satisfying sets must both satisfy at least ``2k - n`` children (their chosen
children overlap at least that much) and need share nothing elsewhere, since
children have disjoint witnesses; the minimum overlap is the sum of the
``max(0, 2k - n)`` smallest ``m_i``, and a single witness has overlap 1. This is
exact, and the tests check it against enumeration of all witness subsets.

Withholding. Faulty witnesses can also refuse to cosign anything. The fewest
witnesses whose silence makes the quorum unreachable is, for a gate, the sum of
the ``n - k + 1`` smallest blocking sizes of its children (1 for a witness).
"""

from __future__ import annotations

from dataclasses import dataclass

from pypi_witness.core.quorum.policy import Policy
from pypi_witness.core.errors import MalformedError, PolicyError, quoted


@dataclass(frozen=True)
class _Leaf:
    key: bytes
    name: str

    @property
    def keys(self) -> frozenset[bytes]:
        return frozenset((self.key,))


@dataclass(frozen=True)
class _Gate:
    name: str
    threshold: int
    children: tuple[_Leaf | _Gate, ...]
    keys: frozenset[bytes]


_Node = _Leaf | _Gate


def _tree(policy: Policy) -> _Node | None:
    """The quorum as a tree keyed by witness public keys; None for ``quorum none``.

    A group of one member (whose threshold can only be 1) is the member itself.
    """

    def build(name: str) -> _Node:
        witness = policy.witness_by_name.get(name)
        if witness is not None:
            return _Leaf(witness.verifier.public_key, name)
        group = policy.group_by_name[name]
        children = tuple(build(m) for m in group.members)
        if len(children) == 1:
            return children[0]
        return _Gate(name, group.threshold, children, frozenset().union(*(c.keys for c in children)))

    return None if policy.quorum is None else build(policy.quorum)


def _overlap(a: _Node, b: _Node) -> tuple[int, frozenset[str], frozenset[str]]:
    """Minimum |S1 ∩ S2| over S1 satisfying ``a`` and S2 satisfying ``b``, with such S1, S2 (by name)."""
    if isinstance(a, _Leaf) and isinstance(b, _Leaf) and a.key == b.key:
        return 1, frozenset((a.name,)), frozenset((b.name,))
    if not (isinstance(a, _Gate) and isinstance(b, _Gate) and a.keys == b.keys):
        raise PolicyError(f"the two quorums group their witnesses differently ({quoted(a.name)} and {quoted(b.name)})")
    b_children = {c.keys: c for c in b.children}
    pairs = []
    for child in a.children:
        other = b_children.get(child.keys)
        if other is None:
            raise PolicyError(f"the two quorums group their witnesses differently ({quoted(a.name)} and {quoted(b.name)})")
        pairs.append(_overlap(child, other))
    n = len(pairs)
    # Satisfying sets pick >= k1 and >= k2 children; those picks share >= k1 + k2 - n children.
    shared = max(0, a.threshold + b.threshold - n)
    order = sorted(range(n), key=lambda i: pairs[i][0])
    both, rest = order[:shared], order[shared:]
    only_a = rest[: a.threshold - shared]
    only_b = rest[a.threshold - shared : a.threshold - shared + b.threshold - shared]
    s1 = frozenset().union(*(pairs[i][1] for i in both + only_a))
    s2 = frozenset().union(*(pairs[i][2] for i in both + only_b))
    return sum(pairs[i][0] for i in both), s1, s2


def _quorum_overlap(policy: Policy, other: Policy | None) -> tuple[int, frozenset[str], frozenset[str]]:
    a = _tree(policy)
    b = a if other is None else _tree(other)
    if a is None or b is None:
        # With `quorum none` on either side, that side needs nobody: the empty set satisfies it.
        example_a = frozenset() if a is None else _overlap(a, a)[1]
        example_b = frozenset() if b is None else _overlap(b, b)[2]
        return 0, example_a, example_b
    return _overlap(a, b)


def min_overlap(policy: Policy, other: Policy | None = None) -> int:
    """The fewest witnesses two satisfying sets of the quorum must share.

    With ``other``, S1 satisfies ``policy``'s quorum and S2 ``other``'s (two
    clients with different policies). Returns 0 if either quorum is ``none``.
    Raises PolicyError if ``other``'s quorum does not group the same witness
    keys into the same groups (thresholds may differ); that case is not
    computed.
    """
    return _quorum_overlap(policy, other)[0]


def split_view_example(policy: Policy, other: Policy | None = None) -> tuple[frozenset[str], frozenset[str]]:
    """Two witness sets (by name) satisfying the quorum(s) with the minimum overlap.

    The first satisfies ``policy``, the second ``other`` (or ``policy``). If the
    witnesses they share are faulty, two different checkpoints can each be
    cosigned by a quorum. Raises PolicyError as :func:`min_overlap` does.
    """
    _, s1, s2 = _quorum_overlap(policy, other)
    return s1, s2


def max_tolerated_faults(policy: Policy, other: Policy | None = None) -> int:
    """The largest number f of faulty witnesses for which no split view can gather two quorums.

    This is ``min_overlap - 1``: 0 for a single witness, 1 for 3-of-4, 2 for
    5-of-7, and -1 for ``quorum none`` (the log alone can split, with no fault).
    Raises PolicyError as :func:`min_overlap` does.
    """
    return min_overlap(policy, other) - 1


def split_view_possible(policy: Policy, faults: int, other: Policy | None = None) -> bool:
    """True iff ``faults`` faulty witnesses suffice for two inconsistent checkpoints to both meet the quorum.

    Raises MalformedError if ``faults`` is negative, PolicyError as :func:`min_overlap` does.
    """
    _check_faults(faults)
    return min_overlap(policy, other) <= faults


def _blocking(node: _Node) -> tuple[int, frozenset[str]]:
    """Fewest witnesses whose silence makes ``node`` unsatisfiable, with such a set."""
    if isinstance(node, _Leaf):
        return 1, frozenset((node.name,))
    costs = sorted((_blocking(c) for c in node.children), key=lambda pair: pair[0])
    chosen = costs[: len(node.children) - node.threshold + 1]
    return sum(c for c, _ in chosen), frozenset().union(*(s for _, s in chosen))


def blocking_set(policy: Policy) -> frozenset[str] | None:
    """A smallest set of witnesses (by name) whose refusal to cosign leaves the quorum unreachable.

    None for ``quorum none``, which no witness can block. Never raises.
    """
    tree = _tree(policy)
    return None if tree is None else _blocking(tree)[1]


def max_tolerated_unavailable(policy: Policy) -> int:
    """The most witnesses that may withhold cosignatures while the quorum stays reachable.

    For ``quorum none`` this is the number of witnesses in the policy. Never raises.
    """
    tree = _tree(policy)
    return len(policy.witnesses) if tree is None else _blocking(tree)[0] - 1


def _check_faults(faults: int) -> None:
    if not isinstance(faults, int) or isinstance(faults, bool) or faults < 0:
        raise MalformedError(f"the number of faulty witnesses must be an int >= 0, not {quoted(faults)}")


def _names(names: frozenset[str]) -> str:
    return "{" + ", ".join(sorted(names)) + "}"


def warnings(policy: Policy, faults: int) -> list[str]:
    """Plain-language reasons why ``policy`` is unsafe against ``faults`` faulty witnesses.

    Returns an empty list if a split view needs more than ``faults`` faulty
    witnesses and ``faults`` silent witnesses cannot block the quorum.
    Otherwise each entry explains one problem with an example set of
    witnesses. Raises MalformedError if ``faults`` is negative.
    """
    _check_faults(faults)
    if policy.quorum is None:
        reason = (
            "quorum none: a checkpoint needs no cosignature, so the log alone can show "
            "different checkpoints to different clients and nothing will catch it"
        )
        return [reason]
    out: list[str] = []
    overlap, s1, s2 = _quorum_overlap(policy, None)
    if overlap <= faults:
        shared = s1 & s2
        who = f"only {_names(shared)}" if shared else "no witness"
        out.append(
            f"split view possible with {faults} faulty witness{'es' if faults != 1 else ''}: "
            f"quorum {quoted(policy.quorum)} is met both by {_names(s1)} and by {_names(s2)}, which share {who}; "
            f"if those are faulty, two inconsistent checkpoints can each be cosigned by a quorum. "
            f"This policy tolerates {overlap - 1} faulty witness{'es' if overlap - 1 != 1 else ''}; "
            f"every two quorums must share at least {faults + 1} witnesses (for a k-of-n group, 2k > n + f)"
        )
    block, silent = _blocking(_tree(policy))  # type: ignore[arg-type]  # quorum is not none here
    if block <= faults:
        out.append(
            f"{block} witness{'es' if block != 1 else ''} refusing to cosign ({_names(silent)}) "
            f"leave quorum {quoted(policy.quorum)} unreachable, so {faults} faulty witnesses can stop every "
            f"checkpoint from being accepted (the policy survives {block - 1} silent witnesses)"
        )
    return out
