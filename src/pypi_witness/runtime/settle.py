"""Settling disputes: every witness's signed statement about a filename, tallied by the policy's quorum.

The gossip's dispute finder reports a filename whose hashes differ between
this node's log and a peer's (``dispute``). The settler then, one filename at
a time:

1. gathers a signed statement from every witness it can reach: its own log's
   first entry for the filename, and each peer's (``LookupFilename`` over
   gRPC), each with its inclusion proof and the log's cosigned checkpoint
   (a C2SP tlog-proof); a peer that cannot be reached, holds no entry, or
   answers with something that is not a statement is left out (and logged);
2. tallies them (``core.disputes.settle.tally``): the value vouched for by logs whose
   witnesses satisfy the policy's quorum wins, the others are the minority;
3. appends a ``verdict`` record holding every statement to this node's log,
   unless the last verdict logged for the filename already says the same
   (outcome and value),
   and hands it to ``publish`` (the gossip spreads it);
4. raises the alarms: ``VERDICT`` (warning) naming the minority; ``ALARM
   unresolved`` (error) when no value has a quorum after ``attempts``
   settlements (1 s, 2 s, 4 s... apart, at most ``retry_max_seconds``: peers
   come back, checkpoints get cosigned); only then is an unresolved verdict
   logged; and ``ALARM index-tampered`` (critical) when
   the index this node follows now serves the file with other hashes than
   the quorum's: the index is serving a tampered file.

A statement can only count once its log's checkpoint carries the quorum of
cosignatures; a checkpoint signed a moment ago may not have it yet, which is
one reason an unresolved dispute is settled again later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from dataclasses import dataclass

import grpc
import trio

from pypi_witness.config.node import PeerConfig
from pypi_witness.core.quorum.policy import Policy
from pypi_witness.core.records.values import time_of
from pypi_witness.core.records.format import (
    FileRecord,
    format_record,
    parse_record,
    verdict_key,
)
from pypi_witness.core.disputes.settle import LogStatement, Outcome, Tally, tally, verdict_record, verify_verdict
from pypi_witness.core.quorum.tlogproof import TlogProof
from pypi_witness.core.records.verdict import VerdictRecord
from pypi_witness.core.errors import RecordError, WitnessError
from pypi_witness.ingest.pypi_api import PyPIClient
from pypi_witness.signing.log import Log
from pypi_witness.rpc.client import LogClient
from pypi_witness.runtime.writer import LogWriter

logger = logging.getLogger("pypi_witness.settle")

# Disputes waiting to be settled; more are dropped (and found again by the next gossip rounds).
QUEUE_SIZE = 1024


# Disputes whose statements are gathered at once.
CONCURRENT = 4


@dataclass(frozen=True, slots=True)
class SettleOptions:
    timeout: float = 10.0  # seconds for each peer's answer
    retry_min_seconds: float = 1.0  # before settling an unresolved dispute again, doubling each time...
    retry_max_seconds: float = 60.0  # ...up to this
    attempts: int = 8  # settlements of one unresolved dispute; the last one logs it as unresolved


class Settler:
    """Settles the disputes handed to ``dispute`` (module docstring); run ``run`` in the node's nursery.

    ``witnessed(note)`` is this node's checkpoint note with the cosignatures
    it holds; ``credentials`` the TLS channel credentials by peer name;
    ``index`` the follower's index client (None: the node follows no index);
    ``publish(record)`` spreads a new verdict record (the gossip).
    """

    def __init__(
        self,
        log: Log,
        writer: LogWriter,
        policy: Policy,
        peers: Sequence[PeerConfig],
        *,
        witnessed: Callable[[bytes], bytes],
        credentials: Mapping[str, grpc.ChannelCredentials] | None = None,
        index: PyPIClient | None = None,
        publish: Callable[[bytes], None] = lambda record: None,
        options: SettleOptions = SettleOptions(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._log, self._writer, self._policy = log, writer, policy
        self._peers = [p for p in peers if p.address is not None]
        self._witnessed, self._credentials = witnessed, dict(credentials or {})
        self._index, self._publish, self._options, self._clock = index, publish, options, clock
        self._send, self._receive = trio.open_memory_channel[str](QUEUE_SIZE)
        self._active: set[str] = set()  # queued or being settled
        self._limiter = trio.CapacityLimiter(CONCURRENT)
        self._settled: set[str] = set()
        self.verdicts: dict[str, Tally] = {}  # the latest tally per filename settled by this run

    def dispute(self, filename: str) -> None:
        """Queue ``filename`` to be settled (not while it is being settled, nor once settled). Never blocks."""
        if filename in self._active or filename in self._settled:
            return
        try:
            self._send.send_nowait(filename)
        except trio.WouldBlock:
            logger.warning("dispute queue full: %s will be settled when gossip finds it again", filename)
            return
        self._active.add(filename)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Settle queued disputes until cancelled, ``CONCURRENT`` filenames at a time."""
        task_status.started()
        async with trio.open_nursery() as nursery:
            async for filename in self._receive:
                nursery.start_soon(self._settle_until_done, filename)

    async def _settle_until_done(self, filename: str) -> None:
        """Settle ``filename``; while no value has a quorum, again after a growing delay (module docstring)."""
        delay = self._options.retry_min_seconds
        try:
            for attempt in range(1, self._options.attempts + 1):
                final = attempt == self._options.attempts
                async with self._limiter:
                    result = await self.settle(filename, final=final)
                if result is not None and result.outcome is Outcome.SETTLED and (final or not result.rejected):
                    self._settled.add(filename)
                    return
                if not final:
                    await trio.sleep(delay)
                    delay = min(2 * delay, self._options.retry_max_seconds)
        finally:
            self._active.discard(filename)

    async def settle(self, filename: str, *, final: bool = True) -> Tally | None:
        """Settle ``filename`` now: gather, tally, log the verdict, raise the alarms.

        Unless ``final``, a tally that is unresolved or left statements out is
        not logged: most often a checkpoint was not cosigned yet, and a later
        settlement names every log. Returns the tally, or None if a verdict
        was due but could not be logged.
        """
        statements = await self.statements(filename)
        result = tally(self._policy, filename, statements)
        self.verdicts[filename] = result
        if not final and (result.outcome is not Outcome.SETTLED or result.rejected):
            logger.info("dispute %s not settled yet (%d statements left out): %s",
                        filename, len(result.rejected), result.reason)  # fmt: skip
            return result
        for position, reason in result.rejected:
            logger.warning("dispute %s: statement %d does not count: %s", filename, position, reason)
        try:
            record = await self._log_verdict(result, statements)
        except WitnessError as e:
            logger.error("dispute %s: cannot log the verdict: %s", filename, e)
            return None
        _announce(result)
        if record is not None:
            self._publish(record)
        if result.outcome is Outcome.SETTLED and self._index is not None:
            await self._check_index(result)
        return result

    async def statements(self, filename: str) -> list[LogStatement]:
        """This node's statement and every reachable peer's, in that order (module docstring, step 1)."""
        found: list[LogStatement | None] = [self._own_statement(filename)] + [None] * len(self._peers)

        async def ask(i: int, peer: PeerConfig) -> None:
            found[i + 1] = await self._peer_statement(peer, filename)

        async with trio.open_nursery() as nursery:
            for i, peer in enumerate(self._peers):
                nursery.start_soon(ask, i, peer)
        return [s for s in found if s is not None]

    def _own_statement(self, filename: str) -> LogStatement | None:
        try:
            lookup = self._log.lookup(filename)
        except WitnessError as e:
            logger.warning("dispute %s: cannot read this node's own entry: %s", filename, e)
            return None
        return _first_file_statement(lookup.entries, self._witnessed(lookup.checkpoint.note))

    def _own_file(self, filename: str) -> FileRecord | None:
        """The first ``file`` record this node's log holds for ``filename`` (no proof needed), or None
        (also, logged, if the log cannot be read now)."""
        try:
            found = self._log.store.lookup(filename)
        except WitnessError as e:
            logger.warning("verdict on %s: cannot read this node's own entry: %s", filename, e)
            return None
        for _, leaf in found:
            record = parse_record(leaf)
            if type(record) is FileRecord:
                return record
        return None

    def receive_verdict(self, peer: str, data: bytes) -> Tally | None:
        """A verdict record ``peer`` logged and spread: re-checked against this node's policy.

        Returns the re-tally, or None (logged) if the bytes are not a verdict
        record that verifies. A settled verdict overruling this node's own log
        is an alarm (``ALARM overruled``: this node was shown, or logged, other
        hashes than the quorum vouches for). Either way the filename is queued
        to be settled here too, so this node's log holds its own verdict.
        """
        try:
            record = parse_record(data)
            if not isinstance(record, VerdictRecord):
                raise RecordError(f"a {record.kind.value} record, not a verdict")
            result = verify_verdict(self._policy, record)
        except WitnessError as e:
            logger.warning("a verdict from %s does not verify: %s", peer, e)
            return None
        mine = self._own_file(result.filename) if result.outcome is Outcome.SETTLED else None
        if mine is not None:
            if (mine.sha256, mine.blake2b_256, mine.size) != result.value:
                assert result.value is not None
                logger.error(
                    "ALARM overruled %s: a quorum of witnesses (verdict from %s) vouches for sha256 %s; "
                    "this node's log holds sha256 %s",
                    result.filename, peer, result.value[0], mine.sha256,
                )  # fmt: skip
        logger.info("verdict on %s from %s verified: %s", result.filename, peer, result.reason)
        self.dispute(result.filename)
        return result

    async def _peer_statement(self, peer: PeerConfig, filename: str) -> LogStatement | None:
        assert peer.address is not None
        try:
            with trio.fail_after(self._options.timeout):
                async with LogClient(peer.address, credentials=self._credentials.get(peer.name)) as client:
                    answer = await client.lookup(filename)
        except trio.TooSlowError:
            logger.warning("dispute %s: peer %s did not answer within %g s", filename, peer.name, self._options.timeout)
            return None
        except WitnessError as e:
            logger.warning("dispute %s: peer %s gave no statement: %s", filename, peer.name, e)
            return None
        try:
            return _first_file_statement([e for r in answer.results for e in r.entries], answer.checkpoint)
        except WitnessError as e:
            logger.warning("dispute %s: peer %s sent a malformed proof: %s", filename, peer.name, e)
            return None

    async def _log_verdict(self, result: Tally, statements: Sequence[LogStatement]) -> bytes | None:
        """Append the verdict unless the last one logged for the filename says the same; its bytes, or None."""
        record = verdict_record(result, statements, time_of(self._clock()))
        last = self._last_verdict(result.filename)
        if last is not None and _same(last, record):
            return None
        await self._writer.append([record])
        return format_record(record)

    def _last_verdict(self, filename: str) -> VerdictRecord | None:
        entries = self._log.store.lookup(verdict_key(filename))
        if not entries:
            return None
        record = parse_record(entries[-1][1])
        return record if isinstance(record, VerdictRecord) else None

    async def _check_index(self, result: Tally) -> None:
        """Raise the loudest alarm if the index now serves the file with other hashes than the quorum's."""
        assert self._index is not None and result.value is not None and result.majority
        record = result.majority[0].record
        try:
            view = await trio.to_thread.run_sync(self._index.release, record.project, record.version, abandon_on_cancel=True)
        except WitnessError as e:
            logger.warning("dispute %s: cannot ask the index: %s", result.filename, e)
            return
        facts = None if view is None else view.files.get(result.filename)
        if facts is None:
            return  # the index no longer serves it: a removal, which the follower records
        served = (facts.sha256, facts.blake2b_256, facts.size)
        if served != result.value:
            logger.critical(
                "ALARM index-tampered %s: the index serves sha256 %s, but the witnesses' quorum vouches for %s",
                result.filename, facts.sha256, result.value[0],
            )  # fmt: skip


def _first_file_statement(entries: Sequence[Any], checkpoint: bytes) -> LogStatement | None:
    """The statement of the first ``file`` entry among proven ``entries`` (each with index, leaf and proof).

    A leaf that does not parse is skipped (the tally would reject it anyway);
    BundleError for a proof a tlog-proof cannot hold.
    """
    for entry in entries:
        try:
            is_file = type(parse_record(entry.leaf)) is FileRecord
        except WitnessError:
            continue
        if is_file:
            return LogStatement(entry.leaf, TlogProof(entry.index, tuple(entry.proof), checkpoint))
    return None


def _same(a: VerdictRecord, b: VerdictRecord) -> bool:
    return (a.outcome, a.value) == (b.outcome, b.value)


def _announce(result: Tally) -> None:
    minority = "; ".join(f"{s.origin} (sha256 {s.record.sha256})" for s in result.minority) or "none"
    if result.outcome is Outcome.SETTLED:
        assert result.value is not None
        logger.warning(
            "VERDICT %s: sha256 %s by quorum (%s); minority: %s",
            result.filename, result.value[0], ", ".join(s.origin for s in result.majority), minority,
        )  # fmt: skip
    else:
        logger.error("ALARM unresolved %s: %s; statements: %s", result.filename, result.reason, minority)
