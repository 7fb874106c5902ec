"""``supervised``: run one of a node's long-running tasks, restarting it when it fails.

A node runs tasks that last as long as it does: the index follower, the
gossip rounds and the watch of the log's checkpoint, the pushes to each peer,
the settler, the privacy task, the health task. Each is written to survive
what it is sent, but an exception that escapes one of them anyway (a bug, or
input that no check foresaw) must not stop the node and with it every other
task and the gRPC server: it is logged with its traceback and that task alone
is started again, after a delay that doubles from RESTART_MIN_SECONDS to
RESTART_MAX_SECONDS and is back at the minimum once the task has run
RESTART_RESET_SECONDS without failing. A task that returns is restarted the
same way (these tasks only end by cancellation).

A task that fails before it reports that it started (``task_status.started()``)
is not restarted: that is a refusal to start (a bad configuration, a log that
follows another index) and is raised to the caller of ``nursery.start``, as it
would be without supervision. Cancellation (the node stopping) is never caught.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

logger = logging.getLogger("pypi_witness.runtime")

# The delay before a failed task starts again: doubling from the minimum to the maximum.
RESTART_MIN_SECONDS = 1.0
RESTART_MAX_SECONDS = 60.0
# A task that has run this long before failing is restarted after the minimum delay again.
RESTART_RESET_SECONDS = 300.0


async def supervised(
    name: str,
    run: Callable[..., Awaitable[object]],
    *,
    reports_started: bool = False,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run ``run`` until cancelled, restarting it after any exception (module docstring).

    With ``reports_started``, ``run`` is started as ``nursery.start(run)``:
    this reports started once ``run`` first does, and raises what ``run``
    raises before then. Otherwise ``run()`` is called and this reports
    started at once. ``name`` names the task in log lines. Never returns;
    raises only trio.Cancelled (and the refusal to start above).
    """
    delay = RESTART_MIN_SECONDS
    started = not reports_started
    if started:
        task_status.started()
    while True:
        began = trio.current_time()
        failure: Exception | None = None
        try:
            if started:
                await run()
            else:
                async with trio.open_nursery() as nursery:
                    await nursery.start(run)
                    started = True
                    task_status.started()
        except Exception as error:
            if not started:
                raise _single(error) from None
            failure = error
        if trio.current_time() - began >= RESTART_RESET_SECONDS:
            delay = RESTART_MIN_SECONDS
        if failure is None:
            logger.error("task %s ended; starting it again in %g s", name, delay)
        else:
            logger.error("task %s failed; starting it again in %g s", name, delay, exc_info=failure)
        await trio.sleep(delay)
        delay = min(2 * delay, RESTART_MAX_SECONDS)


def _single(error: Exception) -> Exception:
    """``error``, or the one exception inside it if it is a group of one (as a nursery wraps it)."""
    while isinstance(error, ExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error
