"""Period keys: one per period, kept in files outside the data directory, older ones destroyed."""

from __future__ import annotations

import os

import pytest

from pypi_witness.core.errors import ConfigError
from pypi_witness.privacy.period_keys import KEY_BYTES, PeriodKeys, key_file_name

DAY = 86400


def counter_random():
    state = {"n": 0}

    def random(n: int) -> bytes:
        state["n"] += 1
        return bytes([state["n"]]) * n

    return random


def test_memory_keys_change_each_period_and_stay_within_one():
    keys = PeriodKeys(DAY, random=counter_random())
    p0, k0 = keys.key(10 * DAY + 5)
    assert p0 == 10 and len(k0) == KEY_BYTES
    assert keys.key(11 * DAY - 1) == (10, k0)
    p1, k1 = keys.key(11 * DAY)
    assert p1 == 11 and k1 != k0
    assert keys.key(10 * DAY + 5) == (11, k1)  # a clock going back keeps the current key


def test_key_files_survive_a_restart_within_a_period(tmp_path):
    a = PeriodKeys(DAY, tmp_path / "keys")
    period, key = a.key(3 * DAY + 1)
    path = tmp_path / "keys" / key_file_name(period)
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700
    assert path.read_text() == key.hex() + "\n"
    assert PeriodKeys(DAY, tmp_path / "keys").key(3 * DAY + 500) == (period, key)


def test_a_new_period_destroys_older_key_files_and_nothing_else(tmp_path):
    keys_dir = tmp_path / "keys"
    keys = PeriodKeys(DAY, keys_dir)
    _, old = keys.key(1 * DAY)
    (keys_dir / "notes.txt").write_text("not a key")
    _, new = keys.key(2 * DAY)
    assert sorted(p.name for p in keys_dir.iterdir()) == ["notes.txt", key_file_name(2)]
    assert new != old
    # A later process cannot get the old key back: it makes a different one.
    assert PeriodKeys(DAY, tmp_path / "keys").key(2 * DAY + 1)[1] == new


def test_bad_key_files_are_refused(tmp_path):
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir()
    path = keys_dir / key_file_name(5)
    path.write_text("00" * KEY_BYTES + "\n")
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="privacy.key_dir: .* readable by other users"):
        PeriodKeys(DAY, keys_dir).key(5 * DAY)
    os.chmod(path, 0o600)
    path.write_text("not hex")
    with pytest.raises(ConfigError, match="does not hold a key"):
        PeriodKeys(DAY, keys_dir).key(5 * DAY)


def test_an_unusable_key_dir_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="privacy.key_dir: cannot make or read"):
        PeriodKeys(DAY, blocker / "keys").key(0)
