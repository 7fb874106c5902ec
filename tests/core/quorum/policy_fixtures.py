"""Real keys, policies and cosigned checkpoints shared by the policy, quorum and tlog-proof tests."""

from __future__ import annotations

from collections.abc import Sequence

from pypi_witness.core.tlog.checkpoint import Checkpoint, sign_checkpoint
from pypi_witness.core.tlog.cosignature import add_cosignatures, cosign
from pypi_witness.core.tlog.note import ALG_COSIGNATURE_V1, Signer

ORIGIN = "pypi-witness.example/log"
TIMESTAMP = 1_700_000_000


def log_signer(origin: str = ORIGIN, n: int = 1) -> Signer:
    return Signer.from_seed(origin, bytes([n]) * 32)


def witness_signer(i: int) -> Signer:
    """The i-th test witness (key name ``w<i>.example``, type 0x04)."""
    return Signer.from_seed(f"w{i}.example", bytes([100 + i]) * 32, ALG_COSIGNATURE_V1)


def witness_vkey(i: int) -> str:
    return witness_signer(i).verifier().vkey()


def log_vkey(origin: str = ORIGIN) -> str:
    return log_signer(origin).verifier().vkey()


def flat_policy_text(n: int, k: int | str, names: Sequence[str] | None = None) -> str:
    """A policy with the test log, witnesses W0..W(n-1) and quorum = group g k-of-n."""
    names = list(names or [f"W{i}" for i in range(n)])
    lines = [f"log {log_vkey()}"]
    lines += [f"witness {name} {witness_vkey(i)}" for i, name in enumerate(names)]
    lines += [f"group g {k} {' '.join(names)}", "quorum g"]
    return "\n".join(lines) + "\n"


# The c2sp.org/tlog-policy example policy, with real keys in place of <vkey>.
SPEC_EXAMPLE = f"""log {log_vkey()}

witness X1 {witness_vkey(1)}
witness X2 {witness_vkey(2)}
witness X3 {witness_vkey(3)}
group X-witnesses 2 X1 X2 X3

witness Y1 {witness_vkey(4)}
witness Y2 {witness_vkey(5)}
witness Y3 {witness_vkey(6)}
group Y-witnesses any Y1 Y2 Y3

group X-and-Y all X-witnesses Y-witnesses
quorum X-and-Y
"""


def cosigned_note(
    checkpoint: Checkpoint, witnesses: Sequence[int], timestamp: int = TIMESTAMP, log: Signer | None = None
) -> bytes:
    """``checkpoint`` signed by the log and cosigned by the given test witnesses."""
    note = sign_checkpoint(checkpoint, log or log_signer(checkpoint.origin))
    return add_cosignatures(note, [cosign(checkpoint, witness_signer(i), timestamp) for i in witnesses])
