"""Getting this node's log witnessed: push each new checkpoint to the peers, keep their cosignatures.

One ``push_to_peer`` task per peer with an ``address`` runs in ``run_node``'s
nursery (and one ``push_to_http_witness`` task per HTTP witness of
``[witnessing]``, the same over HTTP: ``http.client``). It watches the log's
signed checkpoint; for each new one it calls the peer's ``AddCheckpoint``
(C2SP tlog-witness) with the size that peer last
cosigned for this log and a consistency proof from it, verifies the
cosignature against the peer's ``witness_vkey``, and files it in
``Cosignatures``, whence ``GetCheckpoint`` serves the checkpoint with every
cosignature it has (``core.tlog.cosignature.add_cosignatures``).

The size a peer last cosigned is not stored: a task starts from 0 and learns
it from the peer's ABORTED answer (``known-size``), then retries at once.
Each call runs under a cancel scope of ``witness.push_timeout_seconds``; a
peer that fails (unreachable, slow, refusing) is retried after a wait that
starts at ``retry_min_seconds`` and doubles to ``retry_max_seconds``. A task
only ever waits on its own peer, so one peer never holds up another, the
log, or the node's API.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import grpc
import trio

from pypi_witness.config.node import Config, PeerConfig, WitnessConfig
from pypi_witness.config.logs import HttpWitness, listed_logs
from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint
from pypi_witness.core.tlog.cosignature import Cosignature, add_cosignatures
from pypi_witness.core.tlog.note import Verifier
from pypi_witness.core.tlog.witness import logs_by_origin, open_cosignature
from pypi_witness.core.errors import ConfigError, ConflictError, WitnessError
from pypi_witness.signing.log import Log
from pypi_witness.http.client import HttpWitnessClient, client_ssl_context
from pypi_witness.rpc.witness_client import WitnessClient
from pypi_witness.signing.witness import Witness, default_witness_name, open_witness

logger = logging.getLogger("pypi_witness.witness")

# How often a push task looks for a new checkpoint of the log: the writer signs
# one after each write, so a new checkpoint reaches the peers within this.
CHECKPOINT_POLL_SECONDS = 0.25


def open_node_witness(config: Config, own: Verifier) -> Witness:
    """The node's witness of its peers' logs and of its own (key and state in the data directory).

    ``own`` is the node's own log key: the witness cosigns that log's heads
    in gossip, through the same gate and state as every other log's. The
    logs of ``[witnessing]`` (``config_logs``) are cosigned too. A
    missing default key is created, named ``witness.name`` or
    ``<origin>/witness``. Raises ConfigError if a peer's or listed log is this
    node's own (or a log is listed twice), the log list cannot be read, or
    the key is missing (when configured), unreadable or misnamed; StoreError
    if the state cannot be opened.
    """
    origin = own.name
    for i, peer in enumerate(config.peers):
        if peer.origin == origin:
            raise ConfigError(f"peers[{i}].log_vkey: names this node's own log {origin!r}")
    logs = logs_by_origin([own, *(peer.log_vkey for peer in config.peers)])
    listed, skipped = listed_logs(config.witnessing)  # [witnessing]: any C2SP log, by its vkey
    for message in skipped:
        logger.warning("%s", message)
    for log in listed:
        if log.origin in logs:
            raise ConfigError(f"witnessing: the log {log.origin!r} is this node's own or a peer's; list it once")
        logs[log.origin] = (log.vkey,)
    return open_witness(
        config.node.data_dir,
        logs,
        key_path=config.witness.key,
        name=config.witness.name,
        create_name=config.witness.name or default_witness_name(origin),
    )


class Cosignatures:
    """The peers' cosignatures of the log's latest checkpoint, and that checkpoint with them.

    ``add`` runs in the trio thread; ``witnessed`` in any thread (it reads one
    immutable snapshot, replaced whole by ``add``). Cosignature lines follow
    the order of ``peers``.
    """

    def __init__(self, peers: Sequence[str]) -> None:
        self._rank = {name: i for i, name in enumerate(peers)}
        # (note the cosignatures are of, peer name -> cosignature, the note with them)
        self._snapshot: tuple[bytes, dict[str, Cosignature], bytes] = (b"", {}, b"")

    def add(self, note: bytes, peer: str, cosignature: Cosignature) -> None:
        """File ``peer``'s verified cosignature of ``note``; those of an older note are dropped."""
        base, cosignatures, _ = self._snapshot
        kept = dict(cosignatures) if base == note else {}
        kept[peer] = cosignature
        ordered = [kept[name] for name in sorted(kept, key=lambda n: self._rank.get(n, len(self._rank)))]
        self._snapshot = (note, kept, add_cosignatures(note, ordered))

    def of(self, note: bytes) -> dict[str, Cosignature]:
        """The cosignatures held for ``note``, by peer name."""
        base, cosignatures, _ = self._snapshot
        return dict(cosignatures) if base == note else {}

    def witnessed(self, note: bytes) -> bytes:
        """``note`` with the cosignature lines held for it appended (``note`` itself if none)."""
        base, _, with_cosignatures = self._snapshot
        return with_cosignatures if base == note else note


async def push_to_peer(
    log: Log,
    peer: PeerConfig,
    settings: WitnessConfig,
    cosignatures: Cosignatures,
    *,
    credentials: grpc.ChannelCredentials | None = None,
) -> None:
    """Get every new checkpoint of ``log`` cosigned by ``peer``; runs until cancelled (module docstring).

    ``credentials``: TLS to the peer (``rpc.tls``), None for plaintext.
    Never raises for a peer's failure (it is logged and retried).
    """
    assert peer.address is not None and peer.witness_vkey is not None
    reconnect = (settings.retry_min_seconds, settings.retry_max_seconds)
    async with WitnessClient(peer.address, reconnect_seconds=reconnect, credentials=credentials) as client:
        await _push(log, peer.name, peer.address, peer.witness_vkey, client, settings, cosignatures)


async def push_to_http_witness(
    log: Log, witness: HttpWitness, settings: WitnessConfig, cosignatures: Cosignatures
) -> None:
    """``push_to_peer`` for an HTTP witness of ``[witnessing]`` (C2SP tlog-witness over HTTP: ``http.client``)."""
    tls = client_ssl_context(witness.tls_ca, witness.tls_cert, witness.tls_key) if witness.url.startswith("https:") else None
    async with HttpWitnessClient(witness.url, ssl_context=tls) as client:
        await _push(log, witness.name, witness.url, witness.vkey, client, settings, cosignatures)


async def _push(
    log: Log,
    name: str,
    address: str,
    witness_vkey: Verifier,
    client: WitnessClient | HttpWitnessClient,
    settings: WitnessConfig,
    cosignatures: Cosignatures,
) -> None:
    """The push loop of the module docstring, through ``client``, to the witness of ``witness_vkey``."""
    known: int | None = None  # the size the witness last cosigned for this log, once learned
    done: bytes | None = None  # the last note the witness cosigned
    delay = settings.retry_min_seconds
    while True:
        note = log.store.checkpoint()
        if note is None or note == done:
            await trio.sleep(CHECKPOINT_POLL_SECONDS)
            continue
        checkpoint = open_checkpoint(note, log.verifier).checkpoint
        old = known if known is not None and known <= checkpoint.size else 0
        try:
            with trio.fail_after(settings.push_timeout_seconds):
                proof: tuple[bytes, ...] = ()
                if 0 < old < checkpoint.size:
                    proof = (await trio.to_thread.run_sync(log.consistency_proof, old, checkpoint.size)).proof
                answer = await client.add_checkpoint(old, proof, note)
            cosignature = open_cosignature(note, answer, log.verifier, witness_vkey)
        except ConflictError as e:
            if e.known_size is not None and e.known_size != old and e.known_size <= checkpoint.size:
                known = e.known_size  # learned what the peer cosigned: ask again from there at once
                continue
            logger.error(
                "peer %s has cosigned size %s of %s, but this log's checkpoint has size %d: %s",
                name, e.known_size, log.origin, checkpoint.size, e,
            )  # fmt: skip
        except trio.TooSlowError:
            logger.warning("peer %s (%s): no answer within %g s", name, address, settings.push_timeout_seconds)
        except WitnessError as e:
            logger.warning("peer %s (%s) did not cosign size %d: %s", name, address, checkpoint.size, e)
        else:
            cosignatures.add(note, name, cosignature)
            logger.info("peer %s cosigned %s at size %d", name, log.origin, checkpoint.size)
            known, done, delay = checkpoint.size, note, settings.retry_min_seconds
            continue
        await trio.sleep(delay)
        delay = min(delay * 2, settings.retry_max_seconds)
