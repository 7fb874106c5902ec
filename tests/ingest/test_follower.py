"""The follower against the fake warehouse index, over real HTTP on 127.0.0.1, into a real LMDB log."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from pypi_witness.config.node import IndexConfig
from pypi_witness.core.tlog import merkle
from pypi_witness.core.records.format import (
    AlarmKind,
    AlarmRecord,
    FileRecord,
    RemovalRecord,
    YankRecord,
    parse_record,
)
from pypi_witness.core.errors import ConfigError, IndexResponseError
from pypi_witness.fakeindex import FakeIndexServer, Index
from pypi_witness.signing.log import open_log
from pypi_witness.runtime.follow import TAMPERING, follow



def settings(url: str, **changes: object) -> IndexConfig:
    quick = dict(requests_per_second=0.0, backoff_max_seconds=0.05, max_attempts=3, timeout_seconds=5.0)
    return IndexConfig(url=url, **{**quick, **changes})  # type: ignore[arg-type]


async def follow_once(data: Path, url: str, **changes: object):
    return await follow(data, settings(url, **changes), once=True, progress=False)


def live_files(index: Index) -> dict[str, tuple[str, str, int]]:
    out = {}
    for filename in index.live_filenames():
        d = index.digests(index.live_file(filename))
        out[filename] = (d.sha256, d.blake2b_256, d.size)
    return out


def logged(data: Path) -> list:
    log = open_log(data, readonly=True)
    try:
        return [parse_record(leaf) for leaf in log.store.leaves(0, log.store.size())]
    finally:
        log.close()


def logged_live_files(records: list) -> dict[str, tuple[str, str, int]]:
    """The files the log says are served now: logged, and not removed since."""
    files: dict[str, tuple[str, str, int]] = {}
    where: dict[str, tuple[str, str]] = {}
    for r in records:
        if type(r) is FileRecord:
            files[r.filename] = (r.sha256, r.blake2b_256, r.size)
            where[r.filename] = (r.project, r.version)
        elif type(r) is RemovalRecord:
            for name, (project, version) in list(where.items()):
                if r.project == project and (
                    r.version is None or (r.version == version and r.filename in (None, name))
                ):
                    del files[name], where[name]
    return files


def tampering(status) -> Counter:
    return Counter({k: n for k, n in status.alarms.items() if k in TAMPERING})


# --- catching up -------------------------------------------------------------------


async def test_full_catch_up_equals_the_index_exactly(fake, data):
    status = await follow_once(data, fake.url, audit_releases=0)
    assert status.serial == status.head_serial == fake.index.last_serial
    assert tampering(status) == Counter()
    records = logged(data)
    assert logged_live_files(records) == live_files(fake.index)
    file_names = [r.filename for r in records if type(r) is FileRecord]
    assert len(file_names) == len(set(file_names))  # nothing logged twice
    # Every removal and yank row of the changelog became its own record, in order.
    journal = fake.index.changelog_since(0, 10**6)
    expected = [row[4] for row in journal if row[3].startswith(("remove", "yank", "unyank"))]
    assert [r.serial for r in records if type(r) in (RemovalRecord, YankRecord)] == expected
    assert expected  # the generated history does remove and yank


async def test_the_checkpoint_covers_what_was_followed(fake, data):
    await follow_once(data, fake.url)
    log = open_log(data, readonly=True)
    try:
        signed = log.checkpoint()
        assert signed.checkpoint.size == log.store.size() > 0
        assert merkle.tree_root(signed.checkpoint.size, log.store) == signed.checkpoint.root_hash
    finally:
        log.close()


async def test_paging_past_the_changelog_cap_in_small_batches(data):
    index = Index(content_seed=1)
    index.populate(seed=2, projects=12)
    with FakeIndexServer(index, changelog_cap=7) as server:
        status = await follow_once(data, server.url, batch_rows=3)
        assert status.serial == index.last_serial
        # Files removed pages after they were added are not "vanished".
        assert sum(status.alarms.values()) == 0
        assert logged_live_files(logged(data)) == live_files(index)


async def test_incremental_follow_appends_only_what_is_new(fake, data):
    await follow_once(data, fake.url)
    size = len(logged(data))
    project = next(iter(fake.index.projects.values()))
    version = next(iter(project.releases))
    fake.index.add_file("brand-new", "1.0", "brand_new-1.0.tar.gz")
    fake.index.add_file("brand-new", "1.0", "brand_new-1.0-py3-none-any.whl")
    fake.index.yank_release(project.name, version, "broken")
    status = await follow_once(data, fake.url)
    new = logged(data)[size:]
    assert [type(r).__name__ for r in new] == ["FileRecord", "FileRecord", "YankRecord"]
    assert {r.filename for r in new[:2]} == {"brand_new-1.0.tar.gz", "brand_new-1.0-py3-none-any.whl"}
    assert new[2].yanked and new[2].serial == fake.index.last_serial
    assert status.records == 3 and tampering(status) == Counter()
    again = await follow_once(data, fake.url)
    assert again.records == 0


async def test_a_log_follows_one_index(fake, data):
    await follow_once(data, fake.url)
    with pytest.raises(ConfigError, match="this log follows"):
        await follow_once(data, "http://127.0.0.1:9/other")


# --- tampering ----------------------------------------------------------------------


def proven(data: Path, filename: str):
    """The log's entries for ``filename``, each inclusion proof checked against the signed checkpoint."""
    log = open_log(data, readonly=True)
    try:
        lookup = log.lookup(filename)
        for entry in lookup.entries:
            merkle.verify_inclusion(
                merkle.leaf_hash(entry.leaf), entry.index, entry.size, entry.proof, lookup.checkpoint.checkpoint.root_hash
            )
        return [parse_record(e.leaf) for e in lookup.entries], lookup.conflicts
    finally:
        log.close()


def a_live_file(index: Index):
    return index.live_file(index.live_filenames()[0])


async def test_a_swapped_file_is_logged_again_as_evidence(fake, data):
    await follow_once(data, fake.url)
    victim = a_live_file(fake.index)
    fake.set_attacks(swap=[victim.filename])
    status = await follow_once(data, fake.url, audit_releases=10_000)  # the audit sweeps the whole log
    assert status.alarms["swap"] == 1
    records, conflicts = proven(data, victim.filename)
    files = [r for r in records if type(r) is FileRecord]
    assert len(files) == 2 and files[0].sha256 != files[1].sha256
    assert files[0].sha256 == fake.index.digests(victim).sha256
    assert len(conflicts) == 1


async def test_a_resurrected_file_raises_an_alarm_record(fake, data):
    fake.index.add_file("phoenix", "1.0", "phoenix-1.0.tar.gz")
    await follow_once(data, fake.url)
    fake.index.remove_file("phoenix", "1.0", "phoenix-1.0.tar.gz")
    await follow_once(data, fake.url)
    fake.index.allow_filename_reuse = True
    fake.index.add_file("phoenix", "1.0", "phoenix-1.0.tar.gz")
    status = await follow_once(data, fake.url)
    assert status.alarms["resurrect"] == 1
    assert status.alarms["swap"] == 1  # other content under the old name, too
    records, _ = proven(data, "phoenix-1.0.tar.gz")
    assert [type(r).__name__ for r in records] == ["FileRecord", "RemovalRecord", "FileRecord", "AlarmRecord"]
    assert records[-1].alarm is AlarmKind.RESURRECT


async def test_a_late_file_is_reported(fake, data):
    await follow_once(data, fake.url)
    old = a_live_file(fake.index)  # generated history is years old
    fake.index.allow_late_files = True
    fake.index.add_file(old.project, old.version, f"{old.project.replace('-', '_')}-{old.version}-py2-none-any.whl")
    status = await follow_once(data, fake.url)
    assert status.alarms["late-file"] == 1
    alarms = [r for r in logged(data) if type(r) is AlarmRecord]
    assert [a.alarm for a in alarms] == [AlarmKind.LATE_FILE]


async def test_a_hidden_file_has_vanished(fake, data):
    await follow_once(data, fake.url)
    fake.index.add_file("hider", "1.0", "hider-1.0.tar.gz")
    fake.index.add_file("hider", "1.0", "hider-1.0-py3-none-any.whl")
    fake.set_attacks(hide=["hider-1.0.tar.gz"])
    status = await follow_once(data, fake.url)
    assert status.alarms["vanished"] == 1
    assert [a.subject for a in status.recent if a.kind == "vanished"] == ["hider-1.0.tar.gz"]
    assert [type(r) for r in proven(data, "hider-1.0-py3-none-any.whl")[0]] == [FileRecord]


async def test_a_file_on_a_young_release_is_not_late(fake, data):
    fake.index.add_file("young", "1.0", "young-1.0.tar.gz")
    status = await follow_once(data, fake.url)
    assert status.alarms["late-file"] == 0


async def test_a_wrong_download_path_is_reported(fake, data):
    await follow_once(data, fake.url)
    fake.index.add_file("pathy", "1.0", "pathy-1.0.tar.gz")
    fake.set_attacks(bad_path=["pathy-1.0.tar.gz"])
    status = await follow_once(data, fake.url)
    assert status.alarms["bad-path"] == 1
    records, _ = proven(data, "pathy-1.0.tar.gz")
    alarm = records[-1]
    assert alarm.alarm is AlarmKind.BAD_PATH
    assert alarm.seen_blake2b_256 not in (None, alarm.file.blake2b_256)


async def test_sampled_downloads_catch_bytes_that_do_not_match(fake, data):
    await follow_once(data, fake.url)
    fake.index.add_file("bytesy", "1.0", "bytesy-1.0.tar.gz")
    fake.index.add_file("bytesy", "1.0", "bytesy-1.0-py3-none-any.whl")
    fake.set_attacks(corrupt=["bytesy-1.0.tar.gz"])
    status = await follow_once(data, fake.url, sample_rate=1.0)
    assert status.alarms["bad-bytes"] == 1
    records, _ = proven(data, "bytesy-1.0.tar.gz")
    alarm = records[-1]
    assert alarm.alarm is AlarmKind.BAD_BYTES
    assert alarm.seen_size == alarm.file.size and alarm.seen_sha256 != alarm.file.sha256
    assert [type(r) for r in proven(data, "bytesy-1.0-py3-none-any.whl")[0]] == [FileRecord]


# --- an unreliable index ----------------------------------------------------------------


async def test_stale_answers_are_retried_and_nothing_is_skipped(fake, data):
    await follow_once(data, fake.url)
    fake.index.clock = time.time  # rows announced now: a 404 may be a cache's
    for i in range(4):
        fake.index.add_file(f"late-comer-{i}", "1.0", f"late_comer_{i}-1.0.tar.gz")
    fake.index.add_file("late-comer-0", "1.0", "late_comer_0-1.0-py3-none-any.whl")  # a stale view lacks it
    fake.set_attacks(stale_lag=4, stale_count=3)
    status = await follow_once(data, fake.url, audit_releases=0)
    assert status.serial == fake.index.last_serial
    assert logged_live_files(logged(data)) == live_files(fake.index)
    assert tampering(status) == Counter() and status.alarms["vanished"] == 0
    assert status.requests > 2 + 4  # the changelog calls and one per release, plus retries


async def test_persistently_stale_answers_stop_the_batch_until_fresh(fake, data):
    await follow_once(data, fake.url)
    fake.index.clock = time.time  # rows announced now: a 404 may be a cache's
    fake.index.add_file("fresh-off-the-press", "1.0", "fresh_off_the_press-1.0.tar.gz")
    fake.index.add_file("fresh-off-the-press", "1.0", "fresh_off_the_press-1.0-py3-none-any.whl")
    fake.set_attacks(stale_lag=10**6, stale_count=-1)  # the JSON API shows an empty index
    status = await follow_once(data, fake.url, audit_releases=0)
    assert status.alarms["stale"] >= 1 and tampering(status) == Counter()
    assert status.serial < fake.index.last_serial
    fake.reset_attacks()
    status = await follow_once(data, fake.url, audit_releases=0)
    assert status.serial == fake.index.last_serial
    assert logged_live_files(logged(data)) == live_files(fake.index)


async def test_a_release_that_404s_long_after_its_announcement_has_vanished(fake, data):
    fake.set_attacks(stale_lag=10**6, stale_count=-1)  # every release 404s; the rows are years old
    status = await follow_once(data, fake.url, audit_releases=0)
    assert status.serial == fake.index.last_serial
    assert status.alarms["vanished"] > 0 and tampering(status) == Counter()


async def test_rate_limits_are_honoured(fake, data):
    fake.set_attacks(rate_limit=40, rate_window=1)
    status = await follow_once(data, fake.url, max_attempts=10, audit_releases=0)
    assert status.serial == fake.index.last_serial
    assert logged_live_files(logged(data)) == live_files(fake.index)


@pytest.mark.parametrize("mode", ["bad_json", "wrong_content_type", "bad_digest_length", "huge", "short_body"])
async def test_hostile_release_answers_are_alarms_not_records(fake, data, mode):
    fake.set_attacks(hostile=mode, hostile_on=["json"], huge_size=2 << 20)
    status = await follow_once(data, fake.url, max_body_bytes=1 << 20, audit_releases=0)
    assert status.alarms["bad-response"] > 0
    assert [r for r in logged(data) if type(r) in (FileRecord, AlarmRecord)] == []
    assert status.serial == fake.index.last_serial  # the changelog itself was fine


async def test_a_slow_drip_times_out(fake, data):
    fake.set_attacks(hostile="drip", hostile_on=["json"], drip_bytes=1, drip_interval=0.05)
    status = await follow_once(data, fake.url, timeout_seconds=0.3, max_attempts=1, audit_releases=0, concurrency=32)
    assert status.alarms["bad-response"] > 0


@pytest.mark.parametrize("mode", ["bad_json", "wrong_content_type", "huge", "short_body"])
async def test_a_hostile_changelog_is_a_clear_error(fake, data, mode):
    fake.set_attacks(hostile=mode, hostile_on=["xmlrpc"], huge_size=2 << 20)
    with pytest.raises(IndexResponseError):
        await follow_once(data, fake.url, max_body_bytes=1 << 20)
    assert logged(data) == []


async def test_an_unreachable_index_is_a_clear_error(data):
    from pypi_witness.core.errors import UnavailableError

    with pytest.raises(UnavailableError, match="cannot reach the index"):
        await follow_once(data, "http://127.0.0.1:9", max_attempts=1)
