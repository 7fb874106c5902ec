"""``run_node``: one nursery owning everything a node runs.

A node runs: the log's one writer (runtime.writer), the gRPC server
(LogService, WitnessService, standard health checking, server reflection)
behind the privacy gate (runtime.privacy: client hashing, rate limits,
access events), the privacy task (writes and purges access events, rotates
keys), a task keeping the health status current, one task per peer pushing
the log's checkpoints to it for cosigning (runtime.witnessing), the gossip
loop and its GossipService (runtime.gossip; the witness refuses logs it
holds equivocation evidence against; it finds file-hash disputes), with a
``[policy]`` file the settler (runtime.settle: each dispute settled by quorum,
its verdict logged and sent to the peers) and, when
``[index]`` names a URL, the index follower (ingest.follower). ``sources`` is
where other tasks that append to the log plug in. A task frees the store's
reader slots of processes that died mid-read every ``[limits]
reader_check_seconds``. With ``[http] listen``, the C2SP HTTP face
(http.server: tlog-witness, tlog-tiles, proofs) runs too.

Health (grpc.health.v1): the node ("") and LogService are SERVING while the
store answers reads (checked every HEALTH_CHECK_SECONDS); ``WRITES_SERVICE``
is SERVING while the log's writes work, and NOT_SERVING, at once, while
appending or signing fails for the store's sake (a full disk, an I/O error, a
damaged store, the signing gate refusing): the node then serves reads only,
and goes back to SERVING after the next write that works.

Every long-running task but the writer runs ``supervised`` (runtime.supervise):
an exception escaping one after it started is logged with its traceback and
that task alone starts again after a growing delay; nothing a task is sent
stops the node. A task that refuses to start (a bad configuration) stops it.

Stopping (``run_node`` cancelled), in this order within the one nursery:
health turns NOT_SERVING and the server accepts no new calls; calls in flight
get ``stop_grace_seconds`` to finish and are then cancelled (their trio
handlers see the cancellation); the server and its worker threads get
STOP_SLACK_SECONDS more to finish, after which a thread still busy is left
behind (logged; ``serve`` then exits without waiting for it); the writer lets
a running write commit or roll back whole, refuses queued ones and signs the
durable size; then the access events counted are written and the stores are
closed. Acknowledged appends are never lost.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import grpc
import trio
from grpc_health.v1 import health, health_pb2
from grpc_reflection.v1alpha import reflection

from pypi_witness.config.node import Config, NodeConfig
from pypi_witness.core.errors import ConfigError, StoreError, WitnessError, quoted
from pypi_witness.http.server import serve_node_http
from pypi_witness.signing.log import Log, holds_log, init_log, open_log
from pypi_witness.rpc.bridge import ServerBridge
from pypi_witness.rpc.log_service import SERVICE_NAME as LOG_SERVICE_NAME
from pypi_witness.rpc.log_service import LogServicer
from pypi_witness.ingest.follower import Follower
from pypi_witness.runtime.follow import LogSink
from pypi_witness.rpc.thread_budget import ThreadBudget
from pypi_witness.rpc.witness_service import SERVICE_NAME as WITNESS_SERVICE_NAME
from pypi_witness.rpc.witness_service import WRITE_METHODS as WITNESS_WRITE_METHODS
from pypi_witness.rpc.witness_service import WitnessServicer
from pypi_witness.runtime.witnessing import Cosignatures, open_node_witness, push_to_http_witness, push_to_peer
from pypi_witness.core.disputes.finder import Dispute
from pypi_witness.config.policy_file import read_policy
from pypi_witness.runtime.gossip import GossipNode, exchange_as_peer, open_node_gossip, peer_keys
from pypi_witness.runtime.settle import Settler
from pypi_witness.runtime.privacy import NodePrivacy
from pypi_witness.rpc.gossip_auth import authenticator as gossip_authenticator
from pypi_witness.rpc.gossip_service import EXCHANGE_METHOD, GossipServicer
from pypi_witness.rpc.gossip_service import SERVICE_NAME as GOSSIP_SERVICE_NAME
from pypi_witness.rpc.tls import peer_credentials, server_credentials
from pypi_witness.privacy.identity import ClientIdentifier
from pypi_witness.privacy.period_keys import PeriodKeys
from pypi_witness.rpc.standard_services import StandardServices
from pypi_witness.runtime.supervise import supervised
from pypi_witness.runtime.writer import LogWriter
from pypi_witness.signing.witness import Witness

logger = logging.getLogger("pypi_witness.runtime")

# A task that appends to the log through the node's writer, run in the node's nursery.
Source = Callable[[LogWriter], Awaitable[None]]
# How often the health task checks that the store still answers.
HEALTH_CHECK_SECONDS = 5.0
# When stopping, how long past stop_grace_seconds the gRPC server and its worker threads may take.
STOP_SLACK_SECONDS = 5.0
_HEALTH_SERVICES = ("", LOG_SERVICE_NAME)
# The health service name that says whether the log's writes (appends and signing) work.
WRITES_SERVICE = "pypi_witness.v1.Writes"


def open_node_log(node: NodeConfig) -> Log:
    """Open the log in ``node.data_dir`` for writing, creating it if there is none.

    Creating needs ``node.origin`` and the default key location; a directory
    holding what is left of a log (keys without a store) is never given a new
    one. Raises ConfigError (no log and no origin, origin not the log's, a
    key file missing, unreadable, too open or not the log's key),
    CorruptionError (one line, nothing signed: a store missing, empty,
    truncated, not a log store, or not holding what the key signed:
    ``signing.log.open_log``) or StoreError (the store cannot be opened, e.g. it is
    open already in this process).
    """
    data_dir, key_path = node.data_dir, node.log_key_path
    if not holds_log(data_dir):
        if node.origin is None:
            raise ConfigError(f"node.origin: needed to create a new log in {data_dir}")
        if node.log_key is not None:
            raise ConfigError(f"node.log_key: {data_dir} holds no log; create it (with its key) first")
        logger.info("creating a log for origin %s in %s", node.origin, data_dir)
        return init_log(data_dir, node.origin)
    log = open_log(data_dir, key_path=key_path)
    if node.origin is not None and node.origin != log.origin:
        log.close()
        raise ConfigError(
            f"node.origin: the log in {data_dir} has origin {quoted(log.origin)}, not {quoted(node.origin)}"
        )
    return log


def _set_health(servicer: health.HealthServicer, serving: bool) -> None:
    status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
    for service in _HEALTH_SERVICES:
        servicer.set(service, status)


def _set_writes_health(servicer: health.HealthServicer, failure: str | None) -> None:
    serving = health_pb2.HealthCheckResponse.SERVING if failure is None else health_pb2.HealthCheckResponse.NOT_SERVING
    servicer.set(WRITES_SERVICE, serving)


def _stored_checkpoint(log: Log) -> bytes | None:
    """The log's stored checkpoint note, for the gossip to publish; None (logged) while the store fails."""
    try:
        return log.store.checkpoint()
    except StoreError as e:
        logger.warning("gossip: cannot read the log's checkpoint now: %s", e)
        return None


async def _reclaim_readers(log: Log, seconds: float) -> None:
    """Every ``seconds``: free the store's reader slots of processes that died mid-read (logged)."""
    while True:
        await trio.sleep(seconds)
        try:
            freed = await trio.to_thread.run_sync(log.store.reclaim_readers)
        except WitnessError as e:
            logger.warning("cannot check the store's readers: %s", e)
            continue
        if freed:
            logger.warning("freed %d reader slots of processes that died while reading the log", freed)


async def _watch_health(log: Log, servicer: health.HealthServicer) -> None:
    """Every HEALTH_CHECK_SECONDS: SERVING if the store answers with a checkpoint, else NOT_SERVING."""
    while True:
        await trio.sleep(HEALTH_CHECK_SECONDS)
        try:
            serving = await trio.to_thread.run_sync(lambda: log.store.checkpoint() is not None)
        except WitnessError as e:
            logger.warning("health check: the store does not answer: %s", e)
            serving = False
        _set_health(servicer, serving)


def _bound_address(listen: str, port: int) -> str:
    return f"{listen.rpartition(':')[0]}:{port}"


async def serve_grpc(
    config: Config,
    log: Log,
    health_servicer: health.HealthServicer,
    privacy: NodePrivacy | None = None,
    *,
    witness: Witness | None = None,
    witnessed: Callable[[bytes], bytes] | None = None,
    gossip: GossipServicer | None = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the gRPC server until cancelled; report the bound ``host:port``; stop gracefully.

    With ``witness``, WitnessService is served too, with ``gossip`` GossipService; ``witnessed`` adds the
    cosignatures held to the checkpoints LogService serves. Every call passes
    ``privacy.gate`` first (none: no gate). Serves TLS if ``[node] tls_cert``
    is set (``rpc.tls``). Raises ConfigError if a TLS file is unreadable or
    not PEM, or the listen address cannot be bound.
    """
    limits = config.limits
    credentials = server_credentials(config.node)
    identifier = privacy.identifier if privacy is not None else None
    bridge = ServerBridge(trio.lowlevel.current_trio_token())
    servicer = LogServicer(log, limits, bridge, witnessed=witnessed, identifier=identifier)
    handlers = [servicer.handler()]
    if witness is not None:
        handlers.append(WitnessServicer(witness, identifier=identifier).handler())
    if gossip is not None:
        handlers.append(gossip.handler())
    # grpc_workers threads for reads, witness_writes more for writes waiting on the disk.
    executor = ThreadPoolExecutor(max_workers=limits.grpc_workers + limits.witness_writes, thread_name_prefix="grpc-worker")
    budget = ThreadBudget(limits.grpc_workers, limits.witness_writes, WITNESS_WRITE_METHODS)
    server = grpc.server(
        executor,
        handlers=handlers,
        interceptors=[*([privacy.gate] if privacy is not None else []), budget],
        maximum_concurrent_rpcs=limits.max_concurrent_rpcs,
        options=[
            ("grpc.max_send_message_length", limits.max_message_bytes),
            ("grpc.max_receive_message_length", limits.max_message_bytes),
            # gRPC sets SO_REUSEPORT by default: a second node on the same port
            # would silently share it. Fail to bind instead.
            ("grpc.so_reuseport", 0),
        ],
    )
    services = (LOG_SERVICE_NAME, WITNESS_SERVICE_NAME, GOSSIP_SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME)
    standard = StandardServices(
        health_servicer, (*_HEALTH_SERVICES, WRITES_SERVICE), services, identifier or ClientIdentifier(PeriodKeys(7 * 24 * 3600))
    )
    server.add_generic_rpc_handlers(standard.handlers())
    try:
        if credentials is None:
            port = server.add_insecure_port(config.node.listen)
        else:
            port = server.add_secure_port(config.node.listen, credentials)
    except RuntimeError as e:
        server.stop(None)
        executor.shutdown(wait=False)
        raise ConfigError(f"node.listen: cannot listen on {config.node.listen}: {e}") from None
    server.start()
    try:
        task_status.started(_bound_address(config.node.listen, port))
        await trio.sleep_forever()
    finally:
        with trio.CancelScope(shield=True):
            health_servicer.enter_graceful_shutdown()
            await stop_server(server, executor, limits.stop_grace_seconds)


async def stop_server(server: grpc.Server, executor: ThreadPoolExecutor, grace: float) -> bool:
    """Stop ``server`` and its ``executor``, waiting at most ``grace`` + STOP_SLACK_SECONDS.

    Calls in flight get ``grace`` seconds and are then cancelled. Returns
    True once the server and every worker thread have finished; False if
    the time ran out first (logged as a warning): the busy threads are left
    behind. The trio loop keeps running while this waits, so the trio
    handlers of calls in flight can finish (or see their cancellation).
    """
    stopped = server.stop(grace)
    with trio.move_on_after(grace + STOP_SLACK_SECONDS) as scope:
        await trio.to_thread.run_sync(stopped.wait, abandon_on_cancel=True)
        await trio.to_thread.run_sync(functools.partial(executor.shutdown, wait=True), abandon_on_cancel=True)
    if scope.cancelled_caught:
        executor.shutdown(wait=False, cancel_futures=True)
        logger.warning(
            "the gRPC server did not stop within %g s; calls still running are left behind",
            grace + STOP_SLACK_SECONDS,
        )
        return False
    return True


def _settle_dispute(gossip: GossipNode, settler: Settler, dispute: Dispute) -> None:
    """A dispute the gossip found: logged and counted, then settled by quorum."""
    gossip.log_dispute(dispute)
    settler.dispute(dispute.filename)


async def run_node(
    config: Config,
    *,
    sources: Sequence[Source] = (),
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a node until cancelled; report the address it serves on (``host:port``) when ready.

    Opens (or creates: ``open_node_log``) the log and the node's witness
    (``runtime.witnessing.open_node_witness``: creating its key if missing),
    signs a checkpoint for its durable size, serves it and add-checkpoint for
    the peers' logs, pushes its checkpoints to the peers with an address, and
    runs each of ``sources`` with the node's writer. Cancelling stops everything as the module docstring says and
    returns once the store is closed. Raises, before reporting ready,
    ConfigError or StoreError if the log cannot be opened or the address not
    bound; afterwards, whatever a source raises (after the same graceful stop).
    """
    channels = peer_credentials(config.peers)  # ConfigError for a bad TLS file, before anything is opened
    policy = None if config.policy.file is None else read_policy(config.policy.file)  # ConfigError if bad
    log = open_node_log(config.node)
    try:
        witness = open_node_witness(config, log.verifier)
        try:
            gossip = open_node_gossip(config, log, witness, credentials=channels)
            witness.refuse_equivocators(gossip.evidence_against)
            try:
                authenticate = gossip_authenticator(peer_keys(config.peers), time.time)
                privacy = NodePrivacy(
                    config.privacy, config.node.data_dir, peer_authenticators={EXCHANGE_METHOD: authenticate}
                )
            except BaseException:
                gossip.close()
                raise
        except BaseException:
            witness.close()
            raise
    except BaseException:
        log.close()
        raise
    started = False
    try:
        async with trio.open_nursery() as nursery:
            health_servicer = health.HealthServicer(experimental_non_blocking=True)
            on_health = functools.partial(_set_writes_health, health_servicer)
            writer = LogWriter(log, config.limits.writer_queue, on_health=on_health)
            await nursery.start(writer.run)
            signed = await writer.publish()
            _set_health(health_servicer, True)
            _set_writes_health(health_servicer, writer.write_failure)
            await nursery.start(functools.partial(supervised, "privacy", privacy.run, reports_started=True))
            cosignatures = Cosignatures([peer.name for peer in config.peers])
            bridge = ServerBridge(trio.lowlevel.current_trio_token())
            exchange = exchange_as_peer(gossip, config.peers)
            gossip_servicer = GossipServicer(
                exchange, peer_keys(config.peers), bridge, time.time, identifier=privacy.identifier
            )
            await nursery.start(functools.partial(supervised, "gossip", gossip.run, reports_started=True))
            watch_log = functools.partial(gossip.watch_log, functools.partial(_stored_checkpoint, log))
            nursery.start_soon(supervised, "gossip checkpoint watch", watch_log)
            follower = Follower(config.index, LogSink(log, writer)) if config.index.url else None
            if policy is not None:
                settler = Settler(
                    log, writer, policy, config.peers,
                    witnessed=cosignatures.witnessed, credentials=channels,
                    index=None if follower is None else follower.client, publish=gossip.spread_verdict,
                )  # fmt: skip
                gossip.on_dispute = functools.partial(_settle_dispute, gossip, settler)
                gossip.on_verdict = settler.receive_verdict
                await nursery.start(functools.partial(supervised, "settler", settler.run, reports_started=True))
            address = await nursery.start(
                functools.partial(
                    serve_grpc,
                    config,
                    log,
                    health_servicer,
                    privacy,
                    witness=witness,
                    witnessed=cosignatures.witnessed,
                    gossip=gossip_servicer,
                )
            )
            nursery.start_soon(supervised, "health", functools.partial(_watch_health, log, health_servicer))
            reclaim = functools.partial(_reclaim_readers, log, config.limits.reader_check_seconds)
            nursery.start_soon(supervised, "reader slots", reclaim)
            if config.http.listen is not None:  # the C2SP HTTP face (http.server)
                await nursery.start(
                    functools.partial(
                        serve_node_http, config, log, witness=witness, witnessed=cosignatures.witnessed, privacy=privacy
                    )
                )
            if follower is not None:
                await nursery.start(functools.partial(supervised, "follower", follower.run, reports_started=True))
            for peer in config.peers:
                if peer.address is not None:
                    push = functools.partial(
                        push_to_peer, log, peer, config.witness, cosignatures, credentials=channels.get(peer.name)
                    )
                    nursery.start_soon(supervised, f"push to {peer.name}", push)
            for http_witness in config.witnessing.witnesses:  # C2SP tlog-witness over HTTP
                push = functools.partial(push_to_http_witness, log, http_witness, config.witness, cosignatures)
                nursery.start_soon(supervised, f"push to {http_witness.name}", push)
            for source in sources:
                nursery.start_soon(source, writer)
            logger.info("serving log %s (size %d) on %s", log.origin, signed.checkpoint.size, address)
            task_status.started(address)
            started = True
    except BaseExceptionGroup as group:
        # A refusal while starting is one error: raise it as itself, as documented.
        if not started and len(group.exceptions) == 1 and isinstance(group.exceptions[0], WitnessError):
            raise group.exceptions[0] from None
        raise
    finally:
        try:
            privacy.close()
        finally:
            try:
                gossip.close()
            finally:
                witness.close()
                log.close()
        logger.info("stopped; log %s closed", log.origin)
