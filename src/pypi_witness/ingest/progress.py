"""Progress reporting: a one-line bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Reports ``done`` of ``total`` units (total may be unknown) for a named task.

    On a terminal the line is redrawn in place at most ``interval`` seconds
    apart; elsewhere one plain line is written per ``interval``, so logs stay
    readable.
    """

    def __init__(self, task: str, total: int | None = None, *, stream: TextIO | None = None, interval: float = 0.5) -> None:
        self.task = task
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self._tty = self.stream.isatty()
        self._start = time.monotonic()
        self._last = 0.0
        self._drawn = False

    def update(self, done: int, items: int, unit: str = "records") -> None:
        """Show ``done`` units finished and ``items`` items processed so far."""
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        self._draw(done, items, unit, now)

    def _draw(self, done: int, items: int, unit: str, now: float) -> None:
        elapsed = max(now - self._start, 1e-9)
        rate = f"{items / elapsed:,.0f} {unit}/s"
        if self.total:
            share = min(done / self.total, 1.0)
            bar = "#" * int(share * 30)
            text = f"{self.task} [{bar:<30}] {share:6.1%}  {items:,} {unit}  {rate}"
        else:
            text = f"{self.task}: {items:,} {unit}  {rate}"
        if self._tty:
            self.stream.write("\r" + text + "\x1b[K")
            self._drawn = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self, done: int, items: int, unit: str = "records") -> None:
        """Draw the final state and end the line."""
        self._draw(done, items, unit, time.monotonic())
        if self._tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
