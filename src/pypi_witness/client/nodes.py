"""Ask every node about every filename and release at once, and check everything each one says.

Per node, ``LookupFilenames`` calls of at most ``MAX_BATCH`` keys, each asking
for an answer of at most ``ANSWER_BYTES`` (the node answers a page: the first
keys whose entries fit; the rest are asked again), so any number of targets of
any size is answered within gRPC's message limit; the next call is sent while
a page is checked. Then, in a second round, the
release key of every filename the node has not logged, so a file a lock file
spells otherwise than the index (``client.filenames``) is still found. All
nodes are asked in parallel (one trio task each). Each answer is checked in
order:

1. the checkpoint's origin is a log the policy (or ``--vkey``) trusts, else the
   node is *not usable* (it serves another log; no lie is implied);
2. the log's signature verifies, else the node *failed verification*;
3. the policy's quorum of witness cosignatures (``core.quorum.evaluation``); a checkpoint
   short of it is *untrusted*: its proofs are still checked, but its answers
   decide nothing;
4. for a trusted checkpoint, with a state directory: it extends the newest
   checkpoint of that log this client accepted before (no rollback, no other
   root at the same size, a verified consistency proof), else the node
   *failed verification*; the state then holds it;
5. every inclusion proof, and that each leaf is a record about its key
   (a filename, or a release key ``/release/<project>/<version>``), else the
   node *failed verification*.

Anything the node sends that does not parse (the answer's bytes, the note,
a leaf) is a failed verification too. A node that cannot be reached, answers
an error, or does not answer within the time given is *unavailable*.
Nothing here raises for one node's failure: each node gets a
:class:`NodeOutcome`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import grpc
import trio

from pypi_witness.client.verdict import SourceAnswer, Statement, statement
from pypi_witness.core.tlog.signed_checkpoint import SignedCheckpoint
from pypi_witness.core.tlog.checkpoint import parse_checkpoint
from pypi_witness.core.tlog.note import Verifier, parse_note
from pypi_witness.core.quorum.policy import Policy
from pypi_witness.core.quorum.evaluation import QuorumResult, check_checkpoint
from pypi_witness.core.records.format import RELEASE_PREFIX, FileRecord
from pypi_witness.core.errors import NoteError, VerificationError, WitnessError
from pypi_witness.rpc.client import DEFAULT_MAX_MESSAGE_BYTES, LogClient
from pypi_witness.rpc.convert import LookupAnswer
from pypi_witness.client.verifying import ClientState, VerifiedLookup, VerifyingClient

# Keys per LookupFilenames call: the node's default limit (config.LimitsConfig).
MAX_BATCH = 1000
# The largest answer asked for: the client's message limit, less room for gRPC's own framing.
ANSWER_BYTES = DEFAULT_MAX_MESSAGE_BYTES - (64 << 10)


@dataclass(frozen=True, slots=True)
class NodeOutcome:
    """What came of asking one node: its checked answer, or why there is none.

    ``failed_verification`` is True when the node said something that does not
    verify (a bad signature or proof, an answer that does not parse, a
    rollback, a split view): the client was lied to, or the node is broken.
    ``other_log`` is the origin of the log the node serves when the policy
    (or ``--vkey``) trusts no such log.
    """

    address: str
    answer: SourceAnswer | None
    quorum: QuorumResult | None = None
    error: str | None = None
    failed_verification: bool = False
    other_log: str | None = None


class _Unusable(WitnessError):
    """The node's log is not one this client trusts."""

    def __init__(self, origin: str) -> None:
        super().__init__(f"it serves the log {origin[:100]!r}, which neither --policy nor --vkey trusts")
        self.origin = origin


def _origin(note: bytes) -> str:
    try:
        return parse_checkpoint(parse_note(note).text).origin
    except NoteError as e:
        raise VerificationError(f"its checkpoint does not parse: {e}") from None


class _Call:
    """One lookup call running in the background: its answer, or the error it ended with."""

    def __init__(self) -> None:
        self._done = trio.Event()
        self._answer: LookupAnswer | None = None
        self._error: BaseException | None = None

    async def run(self, lookup: Callable[[list[str], int], Awaitable[LookupAnswer]], keys: list[str],
                  timeout: float, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:  # fmt: skip
        # Started at once: this task goes on (the request is sent) until it waits for the answer, and
        # only then does the task that started it check the page before.
        task_status.started()
        try:
            with trio.fail_after(timeout):  # each call gets the time on its own
                self._answer = await lookup(keys, ANSWER_BYTES)
        except (WitnessError, trio.TooSlowError) as e:  # raised where the answer is awaited
            self._error = e
        finally:
            self._done.set()

    async def result(self) -> LookupAnswer:
        await self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._answer is not None
        return self._answer


class _Session:
    """One node's answers, gathered over as many calls as it takes, every one checked."""

    def __init__(self, address: str, node: LogClient, policy: Policy, extra_logs: Sequence[Verifier],
                 state: ClientState | None, timeout: float) -> None:  # fmt: skip
        self.address, self.node, self.policy, self.extra_logs, self.state = address, node, policy, extra_logs, state
        self.timeout = timeout
        self.statements: dict[str, Statement] = {}
        self.releases: dict[str, tuple[str, ...]] = {}
        self.logged: set[str] = set()  # keys with at least one entry
        self.quorum: QuorumResult | None = None
        self.accepted: SignedCheckpoint | None = None
        self.trusted_all, self.why, self.origin, self.size = True, None, "", 0

    async def ask(self, keys: Sequence[str]) -> None:
        """Look up ``keys``: each call asks for the next MAX_BATCH not yet answered and gets a page of them.

        The next call is on its way while a page is checked (the node works
        while this client verifies); pages are checked in the order asked.
        """
        remaining = list(keys)
        if not remaining:
            return
        failure: BaseException | None = None
        async with trio.open_nursery() as nursery:
            try:
                pending = await self._fetch(nursery, remaining[:MAX_BATCH])
                while pending is not None:
                    answer = await pending.result()
                    answered = len(answer.results)
                    if not 0 < answered <= min(len(remaining), MAX_BATCH):
                        raise VerificationError(
                            f"asked about {min(len(remaining), MAX_BATCH)} filenames, answered {answered}"
                        )
                    asked, remaining = remaining[:answered], remaining[answered:]
                    pending = await self._fetch(nursery, remaining[:MAX_BATCH]) if remaining else None
                    await self._check(asked, answer)
            except (WitnessError, trio.TooSlowError) as e:  # raised from here, not inside an exception group
                failure = e
                nursery.cancel_scope.cancel()
        if failure is not None:
            raise failure

    async def _fetch(self, nursery: trio.Nursery, keys: list[str]) -> _Call:
        call = _Call()
        await nursery.start(call.run, self.node.lookup_many, keys, self.timeout)
        return call

    async def _check(self, asked: list[str], answer: LookupAnswer) -> None:
        """Check one page answering ``asked`` (see the module docstring) and keep what it proves."""
        origin = _origin(answer.checkpoint)
        if self.origin and origin != self.origin:
            raise VerificationError(f"its answers are from two logs, {self.origin[:100]!r} and {origin[:100]!r}")
        if not self.policy.logs_for_origin(origin) and not any(v.name == origin for v in self.extra_logs):
            raise _Unusable(origin)
        try:
            checked = check_checkpoint(self.policy, answer.checkpoint, self.extra_logs)
        except NoteError as e:
            raise VerificationError(f"its checkpoint does not parse: {e}") from None
        self.quorum = checked.quorum
        client = VerifyingClient(self.node, checked.log.verifier, self.state if self.quorum.satisfied else None)
        signed = checked.signed
        if self.quorum.satisfied:  # every page's checkpoint must extend the one before it
            with trio.fail_after(self.timeout):
                signed = (await client.accept(answer.checkpoint, since=self.accepted)).checkpoint
            self.accepted = signed
        else:
            self.trusted_all, self.why = False, f"checkpoint not trusted: {self.quorum.explain()}"
        self.origin, self.size = origin, signed.checkpoint.size
        for lookup in client.check_lookup(asked, answer, signed):
            self._add(lookup)

    def _add(self, lookup: VerifiedLookup) -> None:
        entries = [(e.index, e.record) for e in lookup.entries if type(e.record) is FileRecord]
        trusted, source = self.quorum is not None and self.quorum.satisfied, f"node {self.address}"
        if entries:
            self.logged.add(lookup.filename)
        if lookup.filename.startswith(RELEASE_PREFIX):  # a release's files, each its own statement
            names = tuple(dict.fromkeys(r.filename for _, r in entries))
            self.releases[lookup.filename] = names
            for name in names:
                found = statement(source, self.origin, self.size, trusted,
                                  [(i, r) for i, r in entries if r.filename == name])  # fmt: skip
                if found is not None:
                    self.statements.setdefault(name, found)
            return
        found = statement(source, self.origin, self.size, trusted, entries)
        if found is not None:
            self.statements[lookup.filename] = found

    def answer(self) -> SourceAnswer:
        return SourceAnswer(f"node {self.address}", self.origin, self.size, self.trusted_all, self.why,
                            self.statements, self.releases)  # fmt: skip


def _no_fallback(filename: str) -> None:
    return None


async def _ask(
    address: str,
    keys: Sequence[str],
    fallback: Callable[[str], str | None],
    policy: Policy,
    extra_logs: Sequence[Verifier],
    state: ClientState | None,
    credentials: grpc.ChannelCredentials | None,
    timeout: float,
) -> NodeOutcome:
    async with LogClient(address, credentials=credentials) as node:
        session = _Session(address, node, policy, extra_logs, state, timeout)
        await session.ask(keys)
        asked = set(keys)
        missed = (fallback(k) for k in keys if k not in session.logged and not k.startswith(RELEASE_PREFIX))
        second = sorted({key for key in missed if key is not None} - asked)
        if second:
            await session.ask(second)
    return NodeOutcome(address, session.answer(), session.quorum)


async def ask_node(
    address: str,
    keys: Sequence[str],
    policy: Policy,
    extra_logs: Sequence[Verifier] = (),
    state: ClientState | None = None,
    timeout: float = 10.0,
    credentials: grpc.ChannelCredentials | None = None,
    fallback: Callable[[str], str | None] | None = None,
) -> NodeOutcome:
    """Ask the node at ``address`` about ``keys`` (filenames and release keys) and check its answer.

    ``fallback`` gives the release key to ask about for a filename the
    node has not logged (None: none). ``timeout`` bounds each call (a page
    of at most MAX_BATCH keys), so a lock file of any length gets its time.
    ``credentials``: TLS (``rpc.tls.client_credentials``), None for
    plaintext. Never raises for the node's failures: they are in the outcome
    (see the module docstring).
    """
    try:
        return await _ask(address, keys, fallback or _no_fallback, policy, extra_logs, state, credentials, timeout)
    except trio.TooSlowError:
        return NodeOutcome(address, None, error=f"no answer within {timeout:g} s")
    except _Unusable as e:
        return NodeOutcome(address, None, error=str(e), other_log=e.origin)
    except (VerificationError, NoteError) as e:
        return NodeOutcome(address, None, error=str(e), failed_verification=True)
    except WitnessError as e:
        return NodeOutcome(address, None, error=str(e))


async def ask_nodes(
    addresses: Sequence[str],
    keys: Sequence[str],
    policy: Policy,
    extra_logs: Sequence[Verifier] = (),
    state: ClientState | None = None,
    timeout: float = 10.0,
    credentials: grpc.ChannelCredentials | None = None,
    fallback: Callable[[str], str | None] | None = None,
) -> list[NodeOutcome]:
    """``ask_node`` for every address at once; outcomes in the order of ``addresses``."""
    outcomes: list[NodeOutcome | None] = [None] * len(addresses)

    async def one(i: int, address: str) -> None:
        outcomes[i] = await ask_node(address, keys, policy, extra_logs, state, timeout, credentials, fallback)

    async with trio.open_nursery() as nursery:
        for i, address in enumerate(addresses):
            nursery.start_soon(one, i, address)
    return [o for o in outcomes if o is not None]
