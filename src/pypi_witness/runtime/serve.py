"""``serve_main``: run a node as a process (``pypi-witness serve --config FILE``).

Loads the configuration, runs ``run_node`` under ``trio.run`` and stops it
gracefully on SIGINT or SIGTERM. Every stop is bounded: if the process has
not exited ``[limits] stop_timeout_seconds`` after the signal, or if a second
SIGINT or SIGTERM arrives while the node stops (after the first was handled:
signals arriving together count as one),
the process exits at once with status 1 and one line ``pypi-witness: error:
...`` on standard error. The log loses nothing by that: every acknowledged
append is durable before it is acknowledged. Once stopped, further signals are
ignored until the process exits. Prints one line ``serving <origin> on
<host:port>`` to standard output when the node is ready; logs go to standard
error (never a client's address: see config's [privacy]).
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import trio

from pypi_witness.config.node import Config, load_config
from pypi_witness.core.errors import WitnessError
from pypi_witness.config.policy_file import policy_warnings, read_policy
from pypi_witness.runtime.node import Source, run_node

logger = logging.getLogger("pypi_witness.runtime")

EXIT_OK = 0
EXIT_ERROR = 1
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _exit_now(message: str) -> None:
    """Print ``message`` as the process's error line and exit with EXIT_ERROR at once, from any thread."""
    try:
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stdout.flush()
        print(f"pypi-witness: error: {message}", file=sys.stderr, flush=True)
    finally:
        os._exit(EXIT_ERROR)


class _StopLimit:
    """Exits the process if it is still alive ``seconds`` after ``start`` (a daemon timer thread)."""

    def __init__(self) -> None:
        self._timer: threading.Timer | None = None

    def start(self, seconds: float) -> None:
        if self._timer is None:
            message = f"the node did not stop within {seconds:g} s of the signal; exiting without finishing the stop"
            self._timer = threading.Timer(seconds, _exit_now, (message,))
            self._timer.daemon = True
            self._timer.start()

    def stopped(self) -> None:
        """The node has stopped: no need to force the exit, unless threads it left would hold the process."""
        if self._timer is None:
            return
        busy = [t.name for t in threading.enumerate() if t.is_alive() and not t.daemon and t is not threading.main_thread()]
        if busy:
            logger.warning("threads still busy after the stop: %s; the process exits without them", ", ".join(busy))
            return
        self._timer.cancel()


def _leaves(error: BaseException) -> Iterator[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from _leaves(inner)
    else:
        yield error


async def _serve(config: Config, sources: Sequence[Source], limit: _StopLimit) -> None:
    """Run the node until a stop signal; return once it has stopped (``limit`` bounds the stop)."""
    node_scope = trio.CancelScope()
    with trio.open_signal_receiver(*_STOP_SIGNALS) as signals:
        async with trio.open_nursery() as nursery:

            async def stop_on_signals() -> None:
                async for signum in signals:
                    name = signal.Signals(signum).name
                    if node_scope.cancel_called:
                        _exit_now(f"{name} while stopping: exiting now, without finishing the stop")
                    logger.info("%s: stopping", name)
                    limit.start(config.limits.stop_timeout_seconds)
                    node_scope.cancel()

            nursery.start_soon(stop_on_signals)
            with node_scope:
                async with trio.open_nursery() as node_nursery:
                    address = await node_nursery.start(functools.partial(run_node, config, sources=sources))
                    origin = config.node.origin or "the log"
                    print(f"serving {origin} on {address}", flush=True)
            nursery.cancel_scope.cancel()  # the node has stopped: stop listening for signals


def _warn_about_policy(config: Config) -> None:
    """Read ``[policy] file`` (ConfigError if bad) and log a warning per way it is unsafe with ``faults``."""
    if config.policy.file is None:
        return
    policy = read_policy(config.policy.file)
    for warning in policy_warnings(policy, config.policy.faults):
        logger.warning("policy %s: %s", config.policy.file, warning)


def serve_main(config_path: Path, *, sources: Sequence[Source] = ()) -> int:
    """Run a node from the TOML file ``config_path`` until SIGINT or SIGTERM; return the exit code.

    Returns 0 after a signal and a graceful stop, leaving SIGINT and SIGTERM
    ignored (the caller is about to exit; if worker threads the node left
    behind keep the process alive, it is ended as the module docstring says).
    Exits the process with 1 at once on a second signal or when the stop
    takes too long (module docstring). Returns 1 after printing one
    line ``pypi-witness: error: ...`` to standard error if the configuration
    is refused (the message names the file and key), or the node cannot start
    or fails (a package or OS error). Anything else is a bug and propagates.
    ``sources`` are passed to ``run_node`` (tests and embedders).
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    previous = {signum: signal.getsignal(signum) for signum in _STOP_SIGNALS}
    try:
        config = load_config(config_path)
        _warn_about_policy(config)
        # While the node runs, trio's signal receiver handles these; before and
        # after it they are ignored, so that a signal racing the receiver's
        # exit (trio redelivers pending ones then) cannot kill a node that has
        # stopped cleanly, turning exit 0 into death by signal.
        for signum in _STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        limit = _StopLimit()
        trio.run(_serve, config, sources, limit)
        limit.stopped()
    except BaseException as error:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        leaves = list(_leaves(error))
        if not all(isinstance(e, WitnessError | OSError) for e in leaves):
            raise
        for e in leaves:
            print(f"pypi-witness: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK
