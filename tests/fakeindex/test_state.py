"""The fake index's state: warehouse's journal rows, its rules, history views, persistence, generation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pypi_witness.core.errors import ConflictError, MalformedError, NotFoundError
from pypi_witness.fakeindex import Index
from pypi_witness.fakeindex.names import normalize, version_key
from pypi_witness.fakeindex.state import LATE_FILE_SECONDS
from tests.fakeindex.support import Clock

DAY = 86400


@pytest.fixture
def empty(clock: Clock) -> Index:
    return Index(clock=clock)


def actions(index: Index, since: int = 0) -> list[tuple]:
    return [(name, version, action) for name, version, _, action, _ in index.changelog_since(since, 10**6)]


def test_uploads_write_warehouse_journal_rows(empty, clock):
    assert empty.add_file("Foo_Bar", "1.0", "foo_bar-1.0.tar.gz") == 4
    empty.add_file("Foo_Bar", "1.0", "foo_bar-1.0-py3-none-any.whl")
    empty.add_file("foo-bar", "1.0", "foo_bar-1.0-cp312-cp312-win_amd64.whl")
    empty.add_file("foo.bar", "1.1", "foo_bar-1.1.zip")
    assert actions(empty) == [
        ("Foo_Bar", None, "create"),
        ("Foo_Bar", None, "add Owner owner"),
        ("Foo_Bar", "1.0", "new release"),
        ("Foo_Bar", "1.0", "add source file foo_bar-1.0.tar.gz"),
        ("Foo_Bar", "1.0", "add py3 file foo_bar-1.0-py3-none-any.whl"),
        ("Foo_Bar", "1.0", "add cp312 file foo_bar-1.0-cp312-cp312-win_amd64.whl"),
        ("Foo_Bar", "1.1", "new release"),
        ("Foo_Bar", "1.1", "add source file foo_bar-1.1.zip"),
    ]
    assert [row[4] for row in empty.journal] == list(range(1, 9))
    assert {row[2] for row in empty.journal} == {int(clock.now)}
    rec = empty.live_file("foo_bar-1.0-py3-none-any.whl")
    assert (rec.packagetype, rec.python_version, rec.upload_time_us) == ("bdist_wheel", "py3", int(clock.now * 1e6))


def test_removals_and_yanks_write_their_rows_and_change_the_view(empty):
    for name in ("p-1.0.tar.gz", "p-1.0-py3-none-any.whl"):
        empty.add_file("p", "1.0", name)
    empty.add_file("p", "2.0", "p-2.0.tar.gz")
    start = empty.last_serial
    empty.yank_release("p", "1.0", "broken")
    assert empty.project_view("p").releases[0].yanked_reason == "broken"
    empty.unyank_release("p", "1.0")
    empty.remove_file("p", "1.0", "p-1.0.tar.gz")
    empty.remove_release("p", "2.0")
    assert actions(empty, start) == [
        ("p", "1.0", "yank release"),
        ("p", "1.0", "unyank release"),
        ("p", "1.0", "remove file p-1.0.tar.gz"),
        ("p", "2.0", "remove release"),
    ]
    view = empty.project_view("P")
    assert [(r.version, r.yanked, [f.filename for f in r.files]) for r in view.releases] == [
        ("1.0", False, ["p-1.0-py3-none-any.whl"])
    ]
    assert empty.live_file("p-2.0.tar.gz") is None
    empty.remove_project("p")
    assert actions(empty)[-1] == ("p", None, "remove project")
    assert empty.project_view("p") is None and empty.packages_with_serial() == {}


def test_mutations_of_what_does_not_exist_raise_not_found(empty):
    empty.add_file("p", "1.0", "p-1.0.tar.gz")
    with pytest.raises(NotFoundError):
        empty.remove_file("p", "1.0", "p-9.tar.gz")
    with pytest.raises(NotFoundError):
        empty.remove_release("p", "9.0")
    with pytest.raises(NotFoundError):
        empty.yank_release("q", "1.0")
    with pytest.raises(NotFoundError):
        empty.remove_project("q")
    empty.yank_release("p", "1.0")
    with pytest.raises(ConflictError):
        empty.yank_release("p", "1.0")
    empty.unyank_release("p", "1.0")
    with pytest.raises(ConflictError):
        empty.unyank_release("p", "1.0")


@pytest.mark.parametrize(
    ("project", "version", "filename"),
    [("", "1.0", "p-1.0.tar.gz"), ("-p", "1.0", "p-1.0.tar.gz"), ("p", "1 0", "p-1.0.tar.gz"),
     ("p", "1.0", "p-1.0.exe"), ("p", "1.0", "../p-1.0.tar.gz"), ("p", "1.0", "p-1.0.whl")],
)  # fmt: skip
def test_bad_names_are_malformed(empty, project, version, filename):
    with pytest.raises(MalformedError):
        empty.add_file(project, version, filename)
    assert empty.last_serial == 0


def test_a_filename_is_never_reused_unless_the_resurrect_switch_is_on(empty):
    empty.add_file("p", "1.0", "p-1.0.tar.gz")
    with pytest.raises(ConflictError):
        empty.add_file("p", "1.0", "p-1.0.tar.gz")
    first = empty.digests(empty.live_file("p-1.0.tar.gz"))
    empty.remove_release("p", "1.0")
    with pytest.raises(ConflictError, match="never reuses"):
        empty.add_file("p", "1.0", "p-1.0.tar.gz")
    empty.allow_filename_reuse = True
    empty.add_file("p", "1.0", "p-1.0.tar.gz")
    again = empty.live_file("p-1.0.tar.gz")
    assert again.variant == "1" and empty.digests(again).sha256 != first.sha256
    with pytest.raises(ConflictError, match="already exists"):
        empty.add_file("p", "1.0", "p-1.0.tar.gz")


def test_a_release_older_than_14_days_takes_no_new_files(empty, clock):
    empty.add_file("p", "1.0", "p-1.0.tar.gz")
    clock.now += LATE_FILE_SECONDS - 1
    empty.add_file("p", "1.0", "p-1.0-py3-none-any.whl")
    clock.now += 2
    with pytest.raises(ConflictError, match="14 days"):
        empty.add_file("p", "1.0", "p-1.0-cp312-cp312-win_amd64.whl")
    empty.add_file("p", "1.1", "p-1.1.tar.gz")  # a new release is fine
    empty.allow_late_files = True
    empty.add_file("p", "1.0", "p-1.0-cp312-cp312-win_amd64.whl")
    assert len(empty.project_view("p").releases[0].files) == 3


def test_views_as_of_an_older_serial_show_that_time(empty):
    empty.add_file("p", "1.0", "p-1.0.tar.gz")
    before = empty.last_serial
    empty.add_file("p", "1.0", "p-1.0-py3-none-any.whl")
    empty.yank_release("p", "1.0", "oops")
    empty.remove_file("p", "1.0", "p-1.0.tar.gz")
    old = empty.project_view("p", before)
    assert old.last_serial == before
    assert [f.filename for f in old.releases[0].files] == ["p-1.0.tar.gz"] and not old.releases[0].yanked
    now = empty.project_view("p")
    assert [f.filename for f in now.releases[0].files] == ["p-1.0-py3-none-any.whl"] and now.releases[0].yanked
    assert empty.project_view("p", 0) is None


def test_state_round_trips_through_save_and_load(index, clock, tmp_path):
    index.add_file("Given", "1.0", "given-1.0.tar.gz", content=b"exact bytes",
                   upload_time=datetime(2023, 5, 22, 15, 12, 42, 313790, tzinfo=UTC))  # fmt: skip
    index.allow_filename_reuse = True
    index.remove_file("Given", "1.0", "given-1.0.tar.gz")
    index.add_file("Given", "1.0", "given-1.0.tar.gz")
    index.yank_release("Given", "1.0", "why")
    index.save(tmp_path)
    loaded = Index.load(tmp_path, clock=clock)
    assert loaded.journal == index.journal and loaded.content_seed == index.content_seed
    for name in index.projects:
        a, b = index.project_view(name), loaded.project_view(name)
        assert [(r.version, r.yanked_reason, [(f.filename, f.variant, f.upload_time_us) for f in r.files]) for r in a.releases] == \
               [(r.version, r.yanked_reason, [(f.filename, f.variant, f.upload_time_us) for f in r.files]) for r in b.releases]  # fmt: skip
        for r in a.releases:
            for f in r.files:
                assert loaded.digests(loaded.live_file(f.filename)) == index.digests(f)
    old = loaded._files["given-1.0.tar.gz"][0]
    assert loaded.content(old) == b"exact bytes" and old.upload_time_us == 1684768362313790
    assert Index.load(tmp_path / "nothing-here").last_serial == 0


@pytest.mark.parametrize("text", [b"not json", b'{"format": "other"}', b'{"format": "pypi-witness-fakeindex/1"}',
                                  b'{"format": "pypi-witness-fakeindex/1", "content_seed": 0, "ops": [{"op": "x"}]}'])  # fmt: skip
def test_unreadable_state_is_malformed(tmp_path, text):
    (tmp_path / "index.json").write_bytes(text)
    with pytest.raises(MalformedError):
        Index.load(tmp_path)


def test_populate_is_deterministic_and_realistic():
    a, b, c = Index(), Index(), Index()
    a.populate(1, 40)
    b.populate(1, 40)
    c.populate(2, 40)
    assert a.journal == b.journal and a.journal != c.journal
    names = {row[0] for row in a.journal}
    assert any(n != normalize(n) for n in names) and any(n == normalize(n) for n in names)
    kinds = {row[3].split(" ")[0] + (" " + row[3].split(" ")[1] if row[3].startswith("remove") else "") for row in a.journal}
    assert {"create", "new", "add", "yank", "remove file", "remove release"} <= kinds
    micro = [f.upload_time_us % 1_000_000 for recs in a._files.values() for f in recs]
    assert 0 in micro and any(micro)
    a.populate(3, 5)  # more projects on top: new names, later times
    assert len(a.projects) + len(a._gone) == 45 and a.journal[: len(b.journal)] == b.journal


def test_versions_sort_like_pep_440():
    ordered = ["0.9", "1.0.dev1", "1.0a1", "1.0b2", "1.0rc1", "1.0", "1.0.post1", "1.0.1", "1.10", "2.0"]
    shuffled = ordered[3:] + ordered[:3]
    shuffled.reverse()
    assert sorted(shuffled, key=version_key) == ordered
