"""Reading a C2SP tlog-policy file from disk, and saying how safe it is.

Used by ``verify --policy`` and by a node's ``[policy] file``; the format
itself is ``core.quorum.policy``, the safety rule ``core.quorum.safety``.
"""

from __future__ import annotations

from pathlib import Path

from pypi_witness.bounded_file import read_bounded
from pypi_witness.core.quorum.policy import Policy, parse_policy
from pypi_witness.core.quorum.safety import warnings
from pypi_witness.core.errors import ConfigError, PolicyError

# The largest policy file read (a policy of a thousand witnesses is about 100 KB).
MAX_POLICY_BYTES = 1 << 20


def read_policy(path: Path) -> Policy:
    """The policy in the file at ``path``.

    Raises ConfigError, one line naming the file (and the line, for a rule of
    the format that is broken), if the file cannot be read, is not a regular
    file, holds more than MAX_POLICY_BYTES, or is not a valid tlog-policy.
    """
    data = read_bounded(path, MAX_POLICY_BYTES, "policy file", ConfigError)
    try:
        return parse_policy(data)
    except PolicyError as e:
        raise ConfigError(f"policy file {path}: {e}") from None


def policy_warnings(policy: Policy, faults: int) -> list[str]:
    """Why ``policy`` is unsafe with ``faults`` faulty witnesses (``core.quorum.safety.warnings``); [] if safe."""
    return warnings(policy, faults)
