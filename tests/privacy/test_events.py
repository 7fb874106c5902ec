"""Access events: counted in memory, written in batches, purged at expiry and not before."""

from __future__ import annotations

from pypi_witness.privacy.events import AccessEvents, EventCounter
from pypi_witness.privacy.identity import Identity
from pypi_witness.privacy.report import format_summary, privacy_summary

HOUR = 3600
RETENTION = 24 * HOUR
STATE = {"period": 0, "period_start": 0, "period_end": RETENTION, "retention_seconds": RETENTION,
         "window_seconds": HOUR, "key_storage": "memory only"}  # fmt: skip
A, B = Identity("c:" + "a" * 32, "DE", 3), Identity("c:" + "b" * 32)


def write(events: AccessEvents, counter: EventCounter) -> None:
    events.write(counter.drain(), window_seconds=HOUR, retention_seconds=RETENTION, state=STATE)


def test_counts_per_window_identity_and_method_merge_across_writes(tmp_path):
    events = AccessEvents(tmp_path / "privacy")
    counter = EventCounter(HOUR, 100)
    for _ in range(3):
        counter.count(A, "GetCheckpoint", 10 * HOUR + 5)
    counter.count(A, "GetEntries", 10 * HOUR + 7, limited=True)
    counter.count(A, "GetCheckpoint", 11 * HOUR)  # the next window
    counter.count(B, "GetCheckpoint", 10 * HOUR + 9)
    write(events, counter)
    assert counter.drain() == {}
    counter.count(A, "GetCheckpoint", 10 * HOUR + 100)
    write(events, counter)
    records = {(r["window"], r["identity"]): r for r in events.records()}
    assert set(records) == {(10 * HOUR, A.name), (11 * HOUR, A.name), (10 * HOUR, B.name)}
    first = records[(10 * HOUR, A.name)]
    assert first["calls"] == {"GetCheckpoint": 4} and first["limited"] == {"GetEntries": 1}
    assert first["country"] == "DE" and first["period"] == 3
    assert first["expires"] == 11 * HOUR + RETENTION
    events.close()


def test_the_purge_removes_expired_events_and_nothing_else(tmp_path):
    events = AccessEvents(tmp_path / "privacy")
    counter = EventCounter(HOUR, 100)
    for hour in range(5):
        counter.count(A, "GetCheckpoint", hour * HOUR)
        counter.count(B, "GetCheckpoint", hour * HOUR + 1)
    write(events, counter)
    assert events.purge(RETENTION + 2 * HOUR - 1) == 2  # hour 0's window ended at 1 h; expired at 1 h + retention
    assert events.purge(RETENTION + 2 * HOUR - 1) == 0
    assert sorted({r["window"] for r in events.records()}) == [h * HOUR for h in range(1, 5)]
    assert events.purge(RETENTION + 3 * HOUR) == 4  # hours 1 and 2 (expiry == now counts)
    assert sorted({r["window"] for r in events.records()}) == [3 * HOUR, 4 * HOUR]
    assert events.purge(10**10) == 4 and events.records() == []
    assert events.purge(10**10) == 0  # an empty database
    events.close()


def test_the_pending_counts_are_bounded(tmp_path):
    counter = EventCounter(HOUR, 2)
    for i in range(5):
        counter.count(Identity(f"c:{i}"), "GetCheckpoint", 0)
    counter.count(Identity("c:0"), "GetCheckpoint", 0)  # a pair already held is still counted
    assert counter.dropped == 3
    assert {k[1]: t.calls["GetCheckpoint"] for k, t in counter.drain().items()} == {"c:0": 2, "c:1": 1}


def test_the_report_shows_counts_ages_and_the_key_period_never_an_identity(tmp_path):
    events = AccessEvents(tmp_path / "privacy")
    counter = EventCounter(HOUR, 100)
    counter.count(A, "GetCheckpoint", 10 * HOUR)
    counter.count(B, "LookupFilename", 12 * HOUR, limited=True)
    counter.count(Identity.peer("w.example"), "GetCheckpoint", 12 * HOUR)
    write(events, counter)
    events.close()
    summary = privacy_summary(tmp_path, now=13 * HOUR)
    assert summary["records"] == 3 and summary["identities"] == 3 and summary["peers"] == 1
    assert summary["calls"] == {"GetCheckpoint": 2} and summary["limited"] == {"LookupFilename": 1}
    assert summary["oldest_window_age_seconds"] == 3 * HOUR and summary["newest_window_age_seconds"] == HOUR
    assert summary["countries"] == ["DE"] and summary["state"] == STATE
    text = format_summary(summary)
    assert "key period: 0" in text and "3.0 h" in text
    assert A.name not in str(summary) + text and "a" * 32 not in text
