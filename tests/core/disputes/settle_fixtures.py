"""A federation of test nodes, each a log and a witness named after it, and their statements about a file.

Node i runs the log ``node<i>.witness.invalid/log`` (a real Ed25519 key) and
the witness ``node<i>.witness.invalid/log/witness`` (a real cosigning key);
the policy lists every log and every witness (policy names ``node<i>``) and a
k-of-n quorum group, as ``pypi-witness federation init`` writes it. Each
node's log is a real RFC 6962 tree of a few other records and the node's
entry for the disputed file, and the statement is a real tlog-proof of it
against a checkpoint cosigned by every witness.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from pypi_witness.core.tlog.checkpoint import Checkpoint, sign_checkpoint
from pypi_witness.core.tlog.cosignature import add_cosignatures, cosign
from pypi_witness.core.quorum.statement import LogStatement
from pypi_witness.core.tlog.merkle import hash_reader_for, inclusion_proof, leaf_hash, root_of
from pypi_witness.core.tlog.note import ALG_COSIGNATURE_V1, Signer
from pypi_witness.core.quorum.policy import Policy, parse_policy
from pypi_witness.core.records.format import FileRecord, Record, format_record
from pypi_witness.core.quorum.tlogproof import TlogProof
from pypi_witness.core.tlog.witness import default_witness_name
from tests.factories import record

TIMESTAMP = 1_700_000_000
DISPUTED = record(7)
TRUTH = DISPUTED
LIE = record(7, "swapped")
OTHER_LIE = record(7, "other")


def origin(i: int) -> str:
    return f"node{i}.witness.invalid/log"


def log_signer(i: int) -> Signer:
    return Signer.from_seed(origin(i), bytes([i]) * 32)


def witness_signer(i: int) -> Signer:
    return Signer.from_seed(default_witness_name(origin(i)), bytes([100 + i]) * 32, ALG_COSIGNATURE_V1)


def policy_text(n: int, k: int, *, logs: Sequence[int] | None = None, witnesses: Sequence[int] | None = None) -> str:
    """The federation policy of nodes 1..n with quorum k-of-n (optionally fewer logs or witnesses listed)."""
    logs = range(1, n + 1) if logs is None else logs
    witnesses = range(1, n + 1) if witnesses is None else witnesses
    lines = [f"log {log_signer(i).verifier().vkey()}" for i in logs]
    lines += [f"witness node{i} {witness_signer(i).verifier().vkey()}" for i in witnesses]
    lines += [f"group federation {k} {' '.join(f'node{i}' for i in witnesses)}", "quorum federation"]
    return "\n".join(lines) + "\n"


def federation_policy(n: int = 5, k: int = 3, **kwargs: Sequence[int]) -> Policy:
    return parse_policy(policy_text(n, k, **kwargs).encode())


def log_statement(
    i: int,
    entry: Record | bytes = TRUTH,
    *,
    position: int = 3,
    size: int = 6,
    cosigners: Sequence[int] = (1, 2, 3, 4, 5),
) -> LogStatement:
    """Node i's statement: its log of ``size`` leaves holds ``entry`` at ``position``, cosigned by ``cosigners``."""
    leaf = entry if isinstance(entry, bytes) else format_record(entry)
    leaves = [format_record(record(100 + j, f"node{i}")) for j in range(size)]
    leaves[position] = leaf
    hashes = [leaf_hash(x) for x in leaves]
    checkpoint = Checkpoint(origin(i), size, root_of(hashes))
    note = sign_checkpoint(checkpoint, log_signer(i))
    note = add_cosignatures(note, [cosign(checkpoint, witness_signer(w), TIMESTAMP) for w in cosigners])
    proof = tuple(inclusion_proof(position, size, hash_reader_for(hashes)))
    return LogStatement(leaf, TlogProof(position, proof, note))


def with_bad_proof(statement: LogStatement) -> LogStatement:
    """The statement with its first proof hash flipped."""
    first = bytes([statement.bundle.proof[0][0] ^ 1]) + statement.bundle.proof[0][1:]
    bundle = dataclasses.replace(statement.bundle, proof=(first, *statement.bundle.proof[1:]))
    return LogStatement(statement.entry, bundle)


def votes(values: Sequence[FileRecord]) -> list[LogStatement]:
    """Node i+1 states values[i], for each i."""
    return [log_statement(i, value) for i, value in enumerate(values, 1)]
