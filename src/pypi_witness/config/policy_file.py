"""Reading a C2SP tlog-policy file from disk, and saying how safe it is.

Used by ``verify --policy`` and by a node's ``[policy] file``; the format
itself is ``core.quorum.policy``, the safety rule ``core.quorum.safety``.
"""

from __future__ import annotations

from pathlib import Path

from pypi_witness.core.quorum.policy import Policy, parse_policy
from pypi_witness.core.quorum.safety import warnings
from pypi_witness.core.errors import ConfigError, PolicyError


def read_policy(path: Path) -> Policy:
    """The policy in the file at ``path``.

    Raises ConfigError, one line naming the file (and the line, for a rule of
    the format that is broken), if the file cannot be read or is not a valid
    tlog-policy.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ConfigError(f"policy file {path}: cannot read it: {e.strerror or e}") from None
    try:
        return parse_policy(data)
    except PolicyError as e:
        raise ConfigError(f"policy file {path}: {e}") from None


def policy_warnings(policy: Policy, faults: int) -> list[str]:
    """Why ``policy`` is unsafe with ``faults`` faulty witnesses (``core.quorum.safety.warnings``); [] if safe."""
    return warnings(policy, faults)
