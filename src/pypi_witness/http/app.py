"""The node's HTTP face, as an ASGI application: C2SP tlog-witness, tlog-checkpoint, tlog-tiles, proofs.

Endpoints (all under ``[http] prefix``):

=======================================  ==================================================
``POST /add-checkpoint``                 tlog-witness: cosign a log's checkpoint (the node's
                                         one witness gate, ``Witness.add_checkpoint``)
``GET /<hex sha256(origin)>/checkpoint`` tlog-witness monitoring: the latest checkpoint this
                                         witness cosigned for that log, with its cosignature
``GET /checkpoint``                      tlog-checkpoint: the log's checkpoint with every
                                         cosignature the node holds
``GET /tile/<L>/<N>[.p/<W>]``            tlog-tiles: hash tiles
``GET /tile/entries/<N>[.p/<W>]``        tlog-tiles: entry bundles (gzip when accepted)
``GET /proof/<filename>``                a C2SP tlog-proof bundle for the file's first entry
                                         (``pypi-witness verify FILE.tlog-proof`` checks it)
=======================================  ==================================================

Every request first passes the node's privacy gate: the client is named by
a keyed hash of its address (or a trusted proxy's word; ``privacy.identity``),
charged to its rate-limit budget and counted in the access events, exactly
as gRPC calls are; the address goes no further. Every refusal is answered
through the one table in ``http.errors``.

A request body (only add-checkpoint has one) is refused with 413 past
``[http] max_body_bytes`` (by its Content-Length, or as it arrives) and with
408 if it does not arrive whole within ``body_timeout_seconds``. The witness
call waits for a durable write, so it runs in a worker thread, at most
``[limits] witness_writes`` at once; up to ``max_concurrent_rpcs`` more wait,
and beyond that the answer is 503 with Retry-After. A listed log's requests
beyond its ``qpd`` (``config_logs``) are answered 429 with Retry-After;
only requests the log signed are charged to its budget.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import logging
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import trio

from pypi_witness.config.node import Config
from pypi_witness.core.tlog.checkpoint import parse_checkpoint
from pypi_witness.core.tlog.log_list import ListedLog
from pypi_witness.core.tlog.note import parse_note
from pypi_witness.core.records.format import FileRecord, parse_record
from pypi_witness.core.tlog.tiles import Tile, parse_tile_path
from pypi_witness.core.quorum.tlogproof import TlogProof, format_tlog_proof
from pypi_witness.core.tlog.witness import check_request, format_cosignature_line
from pypi_witness.core.tlog.witness_wire import parse_add_checkpoint
from pypi_witness.core.errors import MalformedError, NotFoundError, OverloadedError
from pypi_witness.http.errors import Answer, BodyTooLarge, BodyTooSlow, MethodNotAllowed, report
from pypi_witness.http.tiles import TileSource
from pypi_witness.signing.log import Log
from pypi_witness.privacy.identity import PROXY_KEYS, ClientIdentifier, Identity
from pypi_witness.privacy.period_keys import PeriodKeys
from pypi_witness.privacy.rate_limit import TokenBuckets, retry_after_seconds
from pypi_witness.signing.witness import Witness

logger = logging.getLogger("pypi_witness.http")

Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]

OCTETS = "application/octet-stream"
TEXT = "text/plain; charset=utf-8"
# SPEC: tlog-tiles — full tiles and bundles are immutable: long-lived caching.
IMMUTABLE = "public, max-age=31536000, immutable"
# SPEC: tlog-tiles — the checkpoint is mutable: no caching beyond a few seconds.
SHORT = "public, max-age=5"
NO_STORE = "no-store"
# Method names for rate-limit costs ([privacy] method_costs) and access events.
ADD_CHECKPOINT, CHECKPOINT, TILE, PROOF, MONITOR = (
    "HttpAddCheckpoint", "HttpCheckpoint", "HttpTile", "HttpProof", "HttpWitnessCheckpoint",
)  # fmt: skip
SECONDS_PER_DAY = 86_400.0
_FULL_TILE = (("content-type", OCTETS), ("cache-control", IMMUTABLE))
_PARTIAL_TILE = (("content-type", OCTETS), ("cache-control", SHORT))


class LogBudgets:
    """Per-log add-checkpoint budgets from ``qpd`` (requests a day): a bucket per listed log with a qpd.

    Each bucket refills qpd/86,400 tokens a second and holds an hour's worth
    (at least 1). Thread-safe (``TokenBuckets``).
    """

    def __init__(self, logs: Sequence[ListedLog]) -> None:
        self._buckets: dict[str, TokenBuckets] = {}
        for log in logs:
            if log.qpd is None:
                continue
            rate = max(log.qpd, 1e-6) / SECONDS_PER_DAY
            self._buckets[log.origin] = TokenBuckets(rate, max(1.0, log.qpd / 24), 1)

    def limits(self, origin: str) -> bool:
        """True if ``origin`` has a budget (a listed log with a qpd)."""
        return origin in self._buckets

    def charge(self, origin: str) -> None:
        """Take one request from ``origin``'s budget. OverloadedError with the wait if it is used up."""
        bucket = self._buckets.get(origin)
        if bucket is None:
            return
        wait = bucket.take(origin, 1.0)
        if wait > 0:
            seconds = retry_after_seconds(wait)
            raise OverloadedError(
                f"{origin!r} has used its add-checkpoint requests a day (qpd); retry after {seconds} s", retry_after=seconds
            )


def _peer_string(client: tuple[str, int] | None) -> str:
    """The ASGI client address as a gRPC peer string (``privacy.identity.address_bytes`` reads it)."""
    if not client:
        return "unknown:"
    host, port = client[0], client[1]
    return f"ipv6:[{host}]:{port}" if ":" in host else f"ipv4:{host}:{port}"


class HttpApp:
    """The ASGI application (see the module docstring).

    ``witness`` None: no add-checkpoint and monitoring endpoints.
    ``witnessed(note)`` adds the cosignatures the node holds to its
    checkpoint. ``listed``: the logs of ``[witnessing]`` (their ``qpd``
    budgets). ``privacy``: the node's ``runtime.privacy.NodePrivacy``
    (identifier, rate limiter, access-event counter); without it clients are
    hashed with a key held in memory only, and nothing is limited or counted.
    """

    def __init__(
        self,
        config: Config,
        log: Log,
        *,
        witness: Witness | None = None,
        witnessed: Callable[[bytes], bytes] = lambda note: note,
        listed: Sequence[ListedLog] = (),
        privacy: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = config.http
        self.prefix = config.http.prefix
        self.log = log
        self.witness = witness
        self.witnessed = witnessed
        self.tiles = TileSource(log.store, config.http.tile_cache)
        self.budgets = LogBudgets(listed)
        self._identifier: ClientIdentifier = (
            privacy.identifier if privacy is not None else ClientIdentifier(PeriodKeys(7 * 24 * 3600))
        )
        self._limiter = None if privacy is None else privacy.limiter
        self._counter = None if privacy is None else privacy.counter
        self._costs = {} if privacy is None else dict(privacy.config.method_costs)
        self._clock = clock
        self._writes = trio.CapacityLimiter(config.limits.witness_writes)
        self._max_waiting = config.limits.max_concurrent_rpcs
        self._origins = {} if witness is None else {hashlib.sha256(o.encode()).hexdigest(): o for o in witness.logs}
        self._checkpoint: tuple[bytes, int] = (b"", 0)  # the last note read, and its size
        self._gzipped: OrderedDict[Tile, bytes] = OrderedDict()  # full entry bundles, compressed (trio thread only)

    # --- ASGI -----------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return  # websockets: not served (Hypercorn closes the connection)
        identity = self._identify(scope)
        try:
            answer = await self._route(scope, receive, identity)
        except Exception as e:  # every failure becomes an answer
            answer = report(e, scope.get("method", "?") + " " + self._short(scope), identity.name)
        await _send(send, answer)

    def _short(self, scope: Scope) -> str:
        path = scope.get("path", "")
        return path if len(path) <= 100 else path[:97] + "..."

    def _identify(self, scope: Scope) -> Identity:
        proxy = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", ()) if k.decode("latin-1") in PROXY_KEYS]
        return self._identifier.identify_peer(_peer_string(scope.get("client")), proxy)

    def _admit(self, identity: Identity, method: str) -> None:
        """Charge and count one call of ``method`` (the gate). OverloadedError past the client's budget."""
        wait = self._limiter.charge(identity, self._costs.get(method, 1.0)) if self._limiter is not None else 0.0
        if self._counter is not None:
            self._counter.count(identity, method, self._clock(), limited=wait > 0)
        if wait > 0:
            seconds = retry_after_seconds(wait)
            raise OverloadedError(f"rate limit reached for {method}; retry after {seconds} s", retry_after=seconds)

    async def _route(self, scope: Scope, receive: Receive, identity: Identity) -> Answer:
        raw = scope.get("raw_path") or scope["path"].encode()
        path = raw.split(b"?", 1)[0].decode("latin-1")
        if self.prefix:
            if not path.startswith(self.prefix + "/"):
                raise NotFoundError(f"no such resource; everything here is under {self.prefix}/")
            path = path[len(self.prefix) :]
        method = scope["method"]
        if path == "/add-checkpoint" and self.witness is not None:
            _allow(method, "POST")
            self._admit(identity, ADD_CHECKPOINT)
            return await self._add_checkpoint(scope, receive)
        _allow(method, "GET")
        if path == "/checkpoint":
            self._admit(identity, CHECKPOINT)
            return Answer(200, (("content-type", TEXT), ("cache-control", SHORT)), self._note()[0])
        if path.startswith("/tile/"):
            self._admit(identity, TILE)
            return await self._tile(path[1:], _accepts_gzip(scope))
        if path.startswith("/proof/"):
            self._admit(identity, PROOF)
            try:
                filename = urllib.parse.unquote(path[len("/proof/") :], errors="strict")
            except UnicodeDecodeError:
                raise MalformedError("the filename is not percent-encoded UTF-8") from None
            return await self._proof(filename)
        head, _, tail = path[1:].partition("/")
        if tail == "checkpoint" and head in self._origins:
            self._admit(identity, MONITOR)
            assert self.witness is not None
            note = self.witness.latest(self._origins[head])
            if note is None:
                # SPEC: tlog-witness — never cosigned that log: 404 Not Found.
                raise NotFoundError(f"this witness has not cosigned {self._origins[head]!r} since it started")
            return Answer(200, (("content-type", TEXT), ("cache-control", SHORT)), note)
        raise NotFoundError("no such resource")

    # --- endpoints ------------------------------------------------------------------

    def _note(self) -> tuple[bytes, int]:
        """The log's signed checkpoint with the cosignatures held, and its size."""
        note = self.log.store.checkpoint()
        if note is None:
            raise NotFoundError("the log has no checkpoint yet")
        held = self._checkpoint
        if held[0] != note:
            size = parse_checkpoint(parse_note(note).text).size
            held = self._checkpoint = (note, size)
        return self.witnessed(note), held[1]

    async def _tile(self, path: str, gzip_ok: bool = False) -> Answer:
        tile = parse_tile_path(path)
        # A full tile in the cache exists at every later size: no need to read the size.
        data = self.tiles.cached(tile) if tile.is_full else None
        if data is None:
            data = await trio.to_thread.run_sync(self.tiles.get, tile, self._note()[1])
        headers = _FULL_TILE if tile.is_full else _PARTIAL_TILE
        if tile.is_entries:
            # SPEC: tlog-tiles — entry bundles SHOULD be compressed at the HTTP layer (gzip, when accepted).
            headers = (*headers, ("vary", "accept-encoding"))
            if gzip_ok:
                packed = self._gzipped.get(tile) if tile.is_full else None
                if packed is None:
                    packed = await trio.to_thread.run_sync(functools.partial(gzip.compress, data, 6, mtime=0))
                    if tile.is_full and self.settings.tile_cache:
                        self._gzipped[tile] = packed
                        while len(self._gzipped) > self.settings.tile_cache:
                            self._gzipped.popitem(last=False)
                data, headers = packed, (*headers, ("content-encoding", "gzip"))
        return Answer(200, headers, data)

    async def _proof(self, filename: str) -> Answer:
        if not filename or "/" in filename or not filename.isprintable():
            raise MalformedError("give a filename, e.g. /proof/demo-1.0-py3-none-any.whl")
        bundle = await trio.to_thread.run_sync(self._bundle, filename)
        return Answer(200, (("content-type", TEXT), ("cache-control", NO_STORE)), bundle)

    def _bundle(self, filename: str) -> bytes:
        found = self.log.lookup(filename)
        for entry in found.entries:
            if type(parse_record(entry.leaf)) is FileRecord:
                note = self.witnessed(found.checkpoint.note)
                return format_tlog_proof(TlogProof(entry.index, entry.proof, note, extra=entry.leaf))
        size = found.checkpoint.checkpoint.size
        raise NotFoundError(f"{filename} is not in this log (checked up to size {size})")

    async def _add_checkpoint(self, scope: Scope, receive: Receive) -> Answer:
        assert self.witness is not None
        request = parse_add_checkpoint(await self._body(scope, receive))
        origin = request.note.split(b"\n", 1)[0].decode("utf-8", "replace")
        if self.budgets.limits(origin):
            # Only a request the log really signed is charged to its budget: others cannot use it up.
            await trio.to_thread.run_sync(check_request, self.witness.logs, request)
            self.budgets.charge(origin)
        if self._writes.statistics().tasks_waiting >= self._max_waiting:
            raise OverloadedError("too many add-checkpoint requests wait for the disk")
        async with self._writes:
            cosignature = await trio.to_thread.run_sync(self.witness.add_checkpoint, request)
        return Answer(200, (("content-type", TEXT),), format_cosignature_line(cosignature))

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        """The whole request body: 413 past max_body_bytes, 408 if it takes past body_timeout_seconds."""
        limit = self.settings.max_body_bytes
        for key, value in scope.get("headers", ()):
            if key == b"content-length" and (not value.isdigit() or int(value) > limit):
                raise BodyTooLarge(f"the body may have at most {limit} bytes")
        chunks, received = [], 0
        with trio.move_on_after(self.settings.body_timeout_seconds) as timer:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise MalformedError("the client went away before sending its whole body")
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > limit:
                    raise BodyTooLarge(f"the body may have at most {limit} bytes")
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
        assert timer.cancelled_caught
        raise BodyTooSlow(f"the body did not arrive within {self.settings.body_timeout_seconds:g} s")


def _accepts_gzip(scope: Scope) -> bool:
    """True if the request's Accept-Encoding takes gzip (and does not refuse it with q=0)."""
    for key, value in scope.get("headers", ()):
        if key == b"accept-encoding":
            for item in value.decode("latin-1").lower().split(","):
                coding, _, params = item.strip().partition(";")
                if coding.strip() in ("gzip", "*"):
                    q = params.strip().removeprefix("q=")
                    return not (params and q.replace(".", "").strip("0") == "")
    return False


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise MethodNotAllowed(f"{method} is not allowed here; use {' or '.join(allowed)}", allowed)


async def _send(send: Send, answer: Answer) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers]
    headers.append((b"content-length", str(len(answer.body)).encode()))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})

