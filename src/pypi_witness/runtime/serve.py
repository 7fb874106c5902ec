"""``serve_main``: run a node as a process (``pypi-witness serve --config FILE``).

Loads the configuration, runs ``run_node`` under ``trio.run`` and stops it
gracefully on SIGINT or SIGTERM (further signals while stopping are noted and
ignored, and once stopped, ignored until the process exits). Prints one line
``serving <origin> on <host:port>`` to standard output when the node is
ready; logs go to standard error (never a client's address: see config's
[privacy]).
"""

from __future__ import annotations

import functools
import logging
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import trio

from pypi_witness.config import Config, load_config
from pypi_witness.errors import WitnessError
from pypi_witness.policy_file import policy_warnings, read_policy
from pypi_witness.runtime.node import Source, run_node

logger = logging.getLogger("pypi_witness.runtime")

EXIT_OK = 0
EXIT_ERROR = 1
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _leaves(error: BaseException) -> Iterator[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from _leaves(inner)
    else:
        yield error


async def _serve(config: Config, sources: Sequence[Source]) -> None:
    """Run the node until a stop signal; return once it has stopped."""
    node_scope = trio.CancelScope()
    with trio.open_signal_receiver(*_STOP_SIGNALS) as signals:
        async with trio.open_nursery() as nursery:

            async def stop_on_signals() -> None:
                async for signum in signals:
                    name = signal.Signals(signum).name
                    if node_scope.cancel_called:
                        logger.info("%s: already stopping", name)
                    else:
                        logger.info("%s: stopping", name)
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
    ignored (the caller is about to exit). Returns 1 after printing one
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
        trio.run(_serve, config, sources)
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
