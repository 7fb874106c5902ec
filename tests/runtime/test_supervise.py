"""``supervised``: a failing task is logged and restarted with a growing delay; a refusal to start is raised."""

from __future__ import annotations

import dataclasses
import logging

import pytest
import trio

from pypi_witness.core.errors import ConfigError
from pypi_witness.privacy.events import AccessEvents
from pypi_witness.rpc.client import LogClient
from pypi_witness.runtime import supervise
from pypi_witness.runtime.supervise import RESTART_MAX_SECONDS, RESTART_MIN_SECONDS, supervised
from tests.rpc.support import config_for, start_node


async def test_a_failing_task_is_restarted_with_a_doubling_delay(autojump_clock, caplog):
    starts: list[float] = []

    async def flaky() -> None:
        starts.append(trio.current_time())
        if len(starts) <= 8:
            raise RuntimeError(f"failure {len(starts)}")
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(supervised, "flaky", flaky)
        await trio.sleep(1000)
        nursery.cancel_scope.cancel()
    delays = [b - a for a, b in zip(starts, starts[1:])]
    assert len(starts) == 9
    assert delays == [min(RESTART_MIN_SECONDS * 2**i, RESTART_MAX_SECONDS) for i in range(8)]
    failures = [r for r in caplog.records if r.getMessage().startswith("task flaky failed")]
    assert len(failures) == 8 and all(r.exc_info is not None for r in failures)
    assert "failure 8" in caplog.text


async def test_the_delay_is_back_to_the_minimum_after_a_long_run(autojump_clock):
    starts: list[float] = []

    async def fails_later() -> None:
        starts.append(trio.current_time())
        await trio.sleep(supervise.RESTART_RESET_SECONDS if len(starts) == 3 else 0)
        raise RuntimeError("boom")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(supervised, "later", fails_later)
        await trio.sleep(supervise.RESTART_RESET_SECONDS + 10)
        nursery.cancel_scope.cancel()
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert gaps[:4] == [1.0, 2.0, supervise.RESTART_RESET_SECONDS + 1.0, 2.0]


async def test_a_task_that_reports_started_and_then_fails_is_restarted(autojump_clock):
    runs = 0

    async def service(*, task_status=trio.TASK_STATUS_IGNORED) -> None:
        nonlocal runs
        runs += 1
        task_status.started()
        if runs < 3:
            raise ValueError("bad input")
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: supervised("svc", service, reports_started=True, task_status=task_status))
        await trio.sleep(100)
        nursery.cancel_scope.cancel()
    assert runs == 3


async def test_a_refusal_to_start_is_raised_as_itself_and_not_retried():
    runs = 0

    async def refuses(*, task_status=trio.TASK_STATUS_IGNORED) -> None:
        nonlocal runs
        runs += 1
        raise ConfigError("index.url: this log follows another index")

    with pytest.RaisesGroup(pytest.RaisesExc(ConfigError, match="this log follows")):
        async with trio.open_nursery() as nursery:
            await nursery.start(lambda task_status: supervised("f", refuses, reports_started=True, task_status=task_status))
    assert runs == 1


async def test_a_node_task_that_fails_is_restarted_and_the_node_keeps_serving(data_dir, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    calls = 0
    write = AccessEvents.write

    def failing_write(self, *args, **kwargs):  # the privacy task fails twice (a bug, not a store error), then recovers
        nonlocal calls
        calls += 1
        if calls in (2, 3):
            raise RuntimeError("a bug in the access-event writer")
        return write(self, *args, **kwargs)

    monkeypatch.setattr(AccessEvents, "write", failing_write)
    monkeypatch.setattr(supervise, "RESTART_MIN_SECONDS", 0.05)
    config = config_for(data_dir)
    config = dataclasses.replace(config, privacy=dataclasses.replace(config.privacy, flush_seconds=0.05))
    async with trio.open_nursery() as nursery:
        address = await start_node(nursery, config)
        with trio.fail_after(30):  # a guard against a hang
            while calls < 5:
                await trio.sleep(0.02)
        async with LogClient(address) as client:
            assert await client.checkpoint()
        nursery.cancel_scope.cancel()
    failures = [r for r in caplog.records if r.getMessage().startswith("task privacy failed")]
    assert len(failures) == 2
    assert "a bug in the access-event writer" in caplog.text
