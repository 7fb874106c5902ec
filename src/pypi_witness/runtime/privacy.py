"""``NodePrivacy``: a node's privacy parts, built from ``[privacy]``, and the task that keeps them.

It owns the period keys, the client identifier, the rate limiter, the
in-memory event counter, the access-event database (``<data_dir>/privacy/``)
and the gRPC interceptor (``gate``) that ties them together. ``run`` is the
node's privacy task: every ``flush_seconds`` it writes the counted events in
one transaction, moves to a new key period when one begins (destroying the
old key), and purges every event past its expiry. ``close`` writes what is
left and closes the database; calls the server still answers after that are
not counted.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import trio

from pypi_witness.config.node import PrivacyConfig, check_privacy
from pypi_witness.core.errors import ConfigError, StoreError
from pypi_witness.privacy.events import PRIVACY_DIR, AccessEvents, EventCounter
from pypi_witness.rpc.privacy_gate import PeerAuthenticator, PrivacyGate
from pypi_witness.privacy.identity import ClientIdentifier
from pypi_witness.privacy.period_keys import PeriodKeys
from pypi_witness.privacy.rate_limit import RateLimiter, TokenBuckets

logger = logging.getLogger("pypi_witness.privacy")

# A proxy token shorter than this is too easy to guess.
MIN_PROXY_TOKEN = 16


def read_proxy_token(path: Path) -> str:
    """The token in ``path`` (surrounding whitespace removed).

    ConfigError naming ``privacy.proxy_token_file`` if it cannot be read, is
    readable by other users, or holds fewer than MIN_PROXY_TOKEN printable
    ASCII characters (or any other character).
    """
    key = "privacy.proxy_token_file"
    try:
        if path.stat().st_mode & 0o077:
            raise ConfigError(f"{key}: {path} is readable by other users; make it mode 0600")
        token = path.read_bytes().strip()
    except OSError as e:
        raise ConfigError(f"{key}: cannot read {path}: {e.strerror or e}") from None
    if len(token) < MIN_PROXY_TOKEN or not all(0x21 <= b <= 0x7E for b in token):
        raise ConfigError(f"{key}: {path} must hold a token of at least {MIN_PROXY_TOKEN} printable ASCII characters")
    return token.decode()


class NodePrivacy:
    """See the module docstring. ``clock`` is Unix seconds; ``random`` makes keys.

    Raises ConfigError (bad [privacy] values, key directory or proxy token
    problems) or StoreError (the event database cannot be opened).
    """

    def __init__(
        self,
        config: PrivacyConfig,
        data_dir: Path,
        *,
        clock: Callable[[], float] = time.time,
        random: Callable[[int], bytes] = os.urandom,
        peer_authenticators: Mapping[str, PeerAuthenticator] = {},
    ) -> None:
        check_privacy(config, data_dir)
        self.config = config
        self._clock = clock
        token = None if config.proxy_token_file is None else read_proxy_token(config.proxy_token_file)
        self.keys = PeriodKeys(config.retention_seconds, config.key_dir, random=random)
        self.keys.key(clock())  # refuse a bad key directory now, not on the first call
        self.identifier = ClientIdentifier(self.keys, ipv6_prefix=config.ipv6_prefix, proxy_token=token, clock=clock)
        self.counter = EventCounter(config.window_seconds, config.max_pending_events)
        self.limiter = None
        if config.rate_limit:
            self.limiter = RateLimiter(
                TokenBuckets(config.rate_per_second, config.rate_burst, config.rate_clients),
                TokenBuckets(config.peer_rate_per_second, config.peer_burst, config.rate_peers),
            )
        self.gate = PrivacyGate(
            self.identifier,
            limiter=self.limiter,
            counter=self.counter,
            costs=config.method_costs,
            peer_authenticators=peer_authenticators,
            clock=clock,
        )
        self.events = AccessEvents(Path(data_dir) / PRIVACY_DIR)
        self._dropped_reported = 0

    def _state(self, now: float) -> dict:
        period, _ = self.keys.key(now)
        seconds = self.config.retention_seconds
        return {
            "period": period,
            "period_start": period * seconds,
            "period_end": (period + 1) * seconds,
            "retention_seconds": seconds,
            "window_seconds": self.config.window_seconds,
            "key_storage": "files in privacy.key_dir" if self.config.key_dir is not None else "memory only",
        }

    def flush(self) -> int:
        """Rotate the key if a period began, write counted events, purge expired ones; returns how many purged."""
        now = self._clock()
        state = self._state(now)  # rotates (and destroys the old key) when a period begins
        self.events.write(
            self.counter.drain(),
            window_seconds=self.config.window_seconds,
            retention_seconds=self.config.retention_seconds,
            state=state,
        )
        dropped = self.counter.dropped
        if dropped > self._dropped_reported:
            logger.warning(
                "%d calls not counted in access events (privacy.max_pending_events reached)",
                dropped - self._dropped_reported,
            )
            self._dropped_reported = dropped
        return self.events.purge(now)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Flush, rotate and purge every ``flush_seconds`` until cancelled.

        A flush that cannot write (StoreError: e.g. a full disk) is logged and
        the node goes on; the events it held are not written (they are counts
        of calls, and the next flush writes those counted after it).
        """
        task_status.started()
        while True:
            try:
                purged = await trio.to_thread.run_sync(self.flush)
            except StoreError as e:
                logger.error("cannot write access events (the events of this window are not kept): %s", e)
            else:
                if purged:
                    logger.info("purged %d expired access-event records", purged)
            await trio.sleep(self.config.flush_seconds)

    def close(self) -> None:
        """Write what is counted and close the event database; a write that fails is logged (as in ``run``)."""
        try:
            self.flush()
        except StoreError as e:
            logger.error("cannot write access events (the events of this window are not kept): %s", e)
        finally:
            self.events.close()
