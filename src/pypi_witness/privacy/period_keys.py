"""The keys client addresses are hashed with: one random key per period, older ones destroyed.

Time is cut into periods of ``period_seconds`` (``[privacy] retention_seconds``)
counted from the Unix epoch: period ``N`` is ``[N * period_seconds,
(N + 1) * period_seconds)``. Each period has its own 32 random bytes. When a
period begins its key is made and every older key is destroyed, so a hash
made in one period cannot be linked to one made in another, even by whoever
later holds the node, its data directory and its key directory.

Where keys live:

- ``key_dir`` set: one file per period, ``period-<N>.key`` (64 hex digits and
  a newline, mode 0600, in a directory the node creates with mode 0700), so
  hashes stay the same across restarts within a period. The directory must
  lie outside the data directory (``config.node.check_privacy``). An older
  period's file is overwritten with zeros, synced and unlinked (on
  copy-on-write or journalling file systems the overwrite is best effort;
  the unlink is not).
- ``key_dir`` unset: keys live only in this process's memory, and a restart
  begins a fresh key.

Randomness and the clock are injected (``random``, and ``now`` on every
call), so tests can move through periods.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

from pypi_witness.core.errors import ConfigError

KEY_BYTES = 32
_KEY_FILE = re.compile(r"period-(\d{1,20})\.key")


def key_file_name(period: int) -> str:
    return f"period-{period}.key"


class PeriodKeys:
    """The current period's key, made on demand; older ones destroyed.

    Thread-safe: ``key(now)`` is called from every gRPC worker thread; the
    lock is taken only when a period begins.
    """

    def __init__(
        self,
        period_seconds: int,
        key_dir: Path | None = None,
        *,
        random: Callable[[int], bytes] = os.urandom,
    ) -> None:
        if period_seconds < 1:
            raise ValueError("period_seconds must be at least 1")
        self.period_seconds = period_seconds
        self.key_dir = None if key_dir is None else Path(key_dir)
        self._random = random
        self._lock = threading.Lock()
        # (period, key, end of the period): replaced whole, so readers need no lock.
        self._current: tuple[int, bytes, float] | None = None

    def period(self, now: float) -> int:
        """The number of the period ``now`` (Unix seconds) falls in."""
        return int(now // self.period_seconds)

    def key(self, now: float) -> tuple[int, bytes]:
        """``(period, key)`` for the period of ``now``.

        Beginning a period makes its key (or reads it from ``key_dir`` if this
        period's file exists) and destroys every older key. Raises ConfigError
        naming ``privacy.key_dir`` if the directory or a key file cannot be
        made, read or removed, or a key file is malformed or readable by others.
        A clock that goes back keeps the current key (the older one is gone).
        """
        current = self._current
        if current is not None and (now < current[2] or self.period(now) <= current[0]):
            return current[0], current[1]
        with self._lock:
            current = self._current
            period = self.period(now)
            if current is not None and period <= current[0]:
                return current[0], current[1]
            key = self._load_or_make(period)
            self._current = (period, key, (period + 1) * self.period_seconds)
            self._destroy_before(period)
            return period, key

    # --- key files --------------------------------------------------------------------

    def _load_or_make(self, period: int) -> bytes:
        if self.key_dir is None:
            return self._random(KEY_BYTES)
        path = self.key_dir / key_file_name(period)
        try:
            self.key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return self._read(path)
            key = self._random(KEY_BYTES)
            try:
                os.write(fd, key.hex().encode() + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)
            self._sync_dir()
            return key
        except OSError as e:
            raise ConfigError(f"privacy.key_dir: cannot make or read {path}: {e.strerror or e}") from None

    def _read(self, path: Path) -> bytes:
        if path.stat().st_mode & 0o077:
            raise ConfigError(f"privacy.key_dir: {path} is readable by other users; make it mode 0600")
        text = path.read_text(errors="replace").strip()
        if not re.fullmatch(f"[0-9a-f]{{{2 * KEY_BYTES}}}", text):
            raise ConfigError(f"privacy.key_dir: {path} does not hold a key ({2 * KEY_BYTES} hex digits)")
        return bytes.fromhex(text)

    def _destroy_before(self, period: int) -> None:
        if self.key_dir is None:
            return  # the old key object is dropped with self._current
        try:
            for entry in os.scandir(self.key_dir):
                match = _KEY_FILE.fullmatch(entry.name)
                if match and int(match.group(1)) < period:
                    _destroy(Path(entry.path))
            self._sync_dir()
        except OSError as e:
            raise ConfigError(
                f"privacy.key_dir: cannot destroy an old key in {self.key_dir}: {e.strerror or e}"
            ) from None

    def _sync_dir(self) -> None:
        assert self.key_dir is not None
        fd = os.open(self.key_dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _destroy(path: Path) -> None:
    """Overwrite ``path`` with zeros, sync, unlink."""
    with open(path, "r+b") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(0)
        f.write(b"\0" * size)
        f.flush()
        os.fsync(f.fileno())
    path.unlink()
