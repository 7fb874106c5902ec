"""Ask every node about every filename at once, and check everything each one says.

Per node, one ``LookupFilenames`` call per ``MAX_BATCH`` filenames; all nodes
are asked in parallel (one trio task each). Each answer is checked in order:

1. the checkpoint's origin is a log the policy (or ``--vkey``) trusts, else the
   node is *not usable* (its log is unknown here; no lie is implied);
2. the log's signature verifies, else the node *failed verification*;
3. the policy's quorum of witness cosignatures (``core.quorum.evaluation``); a checkpoint
   short of it is *untrusted*: its proofs are still checked, but its answers
   decide nothing;
4. for a trusted checkpoint, with a state directory: it extends the newest
   checkpoint of that log this client accepted before (no rollback, no other
   root at the same size, a verified consistency proof), else the node
   *failed verification*; the state then holds it;
5. every inclusion proof, and that each leaf is a record about its filename
   (or, for a release key ``/release/<project>/<version>``, about that
   release), else the node *failed verification*.

A node that cannot be reached, answers an error, or does not answer within
the time given is *unavailable*. Nothing here raises for one node's failure:
each node gets a :class:`NodeOutcome`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import grpc
import trio

from pypi_witness.client.verdict import SourceAnswer, Statement, statement
from pypi_witness.core.tlog.checkpoint import parse_checkpoint
from pypi_witness.core.tlog.note import Verifier, parse_note
from pypi_witness.core.quorum.policy import Policy
from pypi_witness.core.quorum.evaluation import QuorumResult, check_checkpoint
from pypi_witness.core.records.format import RELEASE_PREFIX, FileRecord
from pypi_witness.core.errors import NoteError, VerificationError, WitnessError
from pypi_witness.rpc.client import LogClient
from pypi_witness.client.verifying import ClientState, VerifyingClient

# Filenames per LookupFilenames call: the node's default limit (config.LimitsConfig).
MAX_BATCH = 1000


@dataclass(frozen=True, slots=True)
class NodeOutcome:
    """What came of asking one node: its checked answer, or why there is none.

    ``failed_verification`` is True when the node said something that does not
    verify (a bad signature or proof, a rollback, a split view): the client
    was lied to, or the node is broken.
    """

    address: str
    answer: SourceAnswer | None
    quorum: QuorumResult | None = None
    error: str | None = None
    failed_verification: bool = False


class _Unusable(WitnessError):
    """The node's log is not one this client trusts."""


def _origin(note: bytes) -> str:
    return parse_checkpoint(parse_note(note).text).origin


async def _ask(
    address: str,
    filenames: Sequence[str],
    policy: Policy,
    extra_logs: Sequence[Verifier],
    state: ClientState | None,
    credentials: grpc.ChannelCredentials | None,
) -> NodeOutcome:
    statements: dict[str, Statement] = {}
    releases: dict[str, tuple[str, ...]] = {}
    quorum: QuorumResult | None = None
    trusted_all, why, origin, size = True, None, "", 0
    async with LogClient(address, credentials=credentials) as node:
        for start in range(0, len(filenames), MAX_BATCH):
            chunk = list(filenames[start : start + MAX_BATCH])
            answer = await node.lookup_many(chunk)
            origin = _origin(answer.checkpoint)
            if not policy.logs_for_origin(origin) and not any(v.name == origin for v in extra_logs):
                raise _Unusable(f"its log {origin!r} is not one the policy (or --vkey) trusts")
            checked = check_checkpoint(policy, answer.checkpoint, extra_logs)
            quorum = checked.quorum
            client = VerifyingClient(node, checked.log.verifier, state if quorum.satisfied else None)
            signed = checked.signed
            if quorum.satisfied:
                signed = (await client.accept(answer.checkpoint)).checkpoint
            else:
                trusted_all, why = False, f"checkpoint not trusted: {quorum.explain()}"
            size = signed.checkpoint.size
            for lookup in client.check_lookup(chunk, answer, signed):
                entries = [(e.index, e.record) for e in lookup.entries if type(e.record) is FileRecord]
                if lookup.filename.startswith(RELEASE_PREFIX):  # a release's files, each its own statement
                    names = tuple(dict.fromkeys(r.filename for _, r in entries))
                    releases[lookup.filename] = names
                    for name in names:
                        found = statement(f"node {address}", origin, size, quorum.satisfied,
                                          [(i, r) for i, r in entries if r.filename == name])  # fmt: skip
                        if found is not None:
                            statements.setdefault(name, found)
                    continue
                found = statement(f"node {address}", origin, size, quorum.satisfied, entries)
                if found is not None:
                    statements[lookup.filename] = found
    source = SourceAnswer(f"node {address}", origin, size, trusted_all, why, statements, releases)
    return NodeOutcome(address, source, quorum)


async def ask_node(
    address: str,
    filenames: Sequence[str],
    policy: Policy,
    extra_logs: Sequence[Verifier] = (),
    state: ClientState | None = None,
    timeout: float = 10.0,
    credentials: grpc.ChannelCredentials | None = None,
) -> NodeOutcome:
    """Ask the node at ``address`` about ``filenames`` and check its answer (see the module docstring).

    ``credentials``: TLS (``rpc.tls.client_credentials``), None for plaintext.
    Never raises for the node's failures: they are in the outcome.
    """
    try:
        with trio.fail_after(timeout):
            return await _ask(address, filenames, policy, extra_logs, state, credentials)
    except trio.TooSlowError:
        return NodeOutcome(address, None, error=f"no answer within {timeout:g} s")
    except (VerificationError, NoteError) as e:
        return NodeOutcome(address, None, error=str(e), failed_verification=True)
    except WitnessError as e:
        return NodeOutcome(address, None, error=str(e))


async def ask_nodes(
    addresses: Sequence[str],
    filenames: Sequence[str],
    policy: Policy,
    extra_logs: Sequence[Verifier] = (),
    state: ClientState | None = None,
    timeout: float = 10.0,
    credentials: grpc.ChannelCredentials | None = None,
) -> list[NodeOutcome]:
    """``ask_node`` for every address at once; outcomes in the order of ``addresses``."""
    outcomes: list[NodeOutcome | None] = [None] * len(addresses)

    async def one(i: int, address: str) -> None:
        outcomes[i] = await ask_node(address, filenames, policy, extra_logs, state, timeout, credentials)

    async with trio.open_nursery() as nursery:
        for i, address in enumerate(addresses):
            nursery.start_soon(one, i, address)
    return [o for o in outcomes if o is not None]
