"""Reading the real lock files of fixtures/ (pip-compile, uv pip compile, uv export, pip lock, uv.lock), no nodes."""

from __future__ import annotations

import pytest

from pypi_witness.client.filenames import identity, is_distribution, release_of
from pypi_witness.client.targets import expected_from
from pypi_witness.core.records.format import canonical_version, release_key
from pypi_witness.core.errors import MalformedError
from tests.client.conftest import FIXTURES, REAL

BY_NAME = {r.filename: r for r in REAL}


def by_filename(path):
    return {e.filename: e for e in expected_from(str(path)) if e.filename}


def test_the_uploaded_and_the_normalized_version_have_one_release_key():
    assert canonical_version("2015.04.28") == canonical_version("2015.4.28") == "2015.4.28"
    assert canonical_version("1.8c1") == canonical_version("1.8rc1") == "1.8rc1"
    assert canonical_version("3.1.26-1") == canonical_version("3.1.26.post1")
    assert canonical_version("not a version") == "not a version"
    assert release_key("certifi", "2015.04.28") == release_key("certifi", "2015.4.28")


def test_installers_match_filenames_by_their_normalized_parts():
    assert identity("PySocks-1.7.1-py3-none-any.whl") == identity("pysocks-1.7.1-py3-none-any.whl")
    assert identity("certifi-2015.04.28-py2.py3-none-any.whl") == identity("certifi-2015.4.28-py3.py2-none-any.whl")
    assert identity("Django-1.8c1-py2.py3-none-any.whl") == identity("django-1.8rc1-py2.py3-none-any.whl")
    assert identity("PySocks-1.7.1-py27-none-any.whl") != identity("PySocks-1.7.1-py3-none-any.whl")
    assert identity("six-1.16.0.tar.gz") != identity("six-1.16.0.zip")
    assert identity("six-1.16.0.tar.gz") == identity("six-1.16.tar.gz")
    assert release_of("certifi-2015.04.28.tar.gz") == ("certifi", "2015.4.28")
    assert [is_distribution(n) for n in ("x-1.0.tar.bz2", "x-1.0-py2.7.egg", "localdep", "uv.lock", "main.zip")] == [
        True, True, False, False, False,
    ]  # fmt: skip


@pytest.mark.parametrize("name", ["pip-compile.txt", "uv-pip-compile.txt"])
def test_compiled_requirements_name_releases_with_each_hash_on_its_own_line(name):
    path = FIXTURES / name
    got = {e.release: e for e in expected_from(str(path))}
    assert set(got) == {("certifi", "2015.4.28"), ("django", "1.8rc1"), ("pysocks", "1.7.1"), ("six", "1.16.0")}
    pysocks = got[("pysocks", "1.7.1")]
    assert pysocks.sha256 == {BY_NAME[f].sha256 for f in BY_NAME if f.startswith("PySocks")}
    lines = path.read_text().splitlines()
    for sha256, where in pysocks.hash_where:
        number = int(where.rsplit(":", 1)[1])
        assert f"--hash=sha256:{sha256}" in lines[number - 1]
    assert pysocks.where == f"{path}:{next(i for i, x in enumerate(lines, 1) if x.startswith('pysocks=='))}"


def test_uv_export_lists_the_project_and_its_directory_dependency_as_not_checkable():
    got = expected_from(str(FIXTURES / "uv-export.txt"))
    assert [(e.shown, e.checkable) for e in got if not e.checkable] == [("-e .", False), ("./localdep", False)]
    assert {e.release for e in got if e.checkable} == {
        ("certifi", "2015.4.28"), ("django", "1.8rc1"), ("pysocks", "1.7.1"), ("six", "1.16.0"),
    }  # fmt: skip


def test_pip_compile_writes_the_editable_and_the_path_dependency_as_urls_that_name_no_file():
    got = expected_from(str(FIXTURES / "pip-compile-editable.txt"))
    assert [e.shown for e in got if not e.checkable] == [
        "-e file:///tmp/realtools/proj", "localdep @ file:///tmp/realtools/proj/localdep",
    ]  # fmt: skip


def test_uv_export_pylock_takes_the_real_filename_from_the_url_not_name():
    got = by_filename(FIXTURES / "pylock.uvexport.toml")
    # uv writes name = "pysocks-1.7.1-py3-none-any.whl" and "certifi-2015.4.28-...": PyPI's names are in url.
    assert set(got) == set(BY_NAME) - {"PySocks-1.7.1-py27-none-any.whl"}
    for filename, e in got.items():
        assert (e.sha256, e.size) == (frozenset({BY_NAME[filename].sha256}), BY_NAME[filename].size)
    directories = [e for e in expected_from(str(FIXTURES / "pylock.uvexport.toml")) if not e.checkable]
    assert [(e.shown, e.reason) for e in directories] == [
        ("demoapp", "locked as a local directory, not as a file on an index"),
        ("localdep", "locked as a local directory, not as a file on an index"),
    ]


def test_pip_lock_names_the_files_as_pypi_does_and_its_directories_are_not_checkable():
    got = expected_from(str(FIXTURES / "pylock.piplock.toml"))
    assert {e.filename for e in got if e.checkable} == {
        "certifi-2015.04.28-py2.py3-none-any.whl", "Django-1.8c1-py2.py3-none-any.whl",
        "PySocks-1.7.1-py3-none-any.whl", "six-1.16.0-py2.py3-none-any.whl",
    }  # fmt: skip
    assert sorted(e.shown for e in got if not e.checkable) == ["demoapp", "localdep"]


def test_uv_lock_is_read_directly():
    got = expected_from(str(FIXTURES / "uv.lock"))
    files = {e.filename: e for e in got if e.checkable}
    assert set(files) == set(BY_NAME) - {"PySocks-1.7.1-py27-none-any.whl"}
    assert all(files[f].sha256 == {BY_NAME[f].sha256} and files[f].size == BY_NAME[f].size for f in files)
    assert [(e.shown, e.reason) for e in got if not e.checkable] == [
        ("demoapp", "locked as an editable project, not as a file on an index"),
        ("localdep", "locked as a local directory, not as a file on an index"),
    ]


def test_uv_lock_direct_url_sources_and_malformed_entries(tmp_path):
    lock = tmp_path / "uv.lock"
    lock.write_text(
        'version = 1\n[[package]]\nname = "x"\nversion = "1.0"\n'
        'source = { url = "https://example.org/x-1.0-py3-none-any.whl" }\n'
        f'wheels = [{{ hash = "sha256:{"a" * 64}" }}]\n'
        '[[package]]\nname = "g"\nversion = "2"\nsource = { git = "https://example.org/g?rev=main#abc" }\n'
    )
    got = expected_from(str(lock))
    assert [(e.filename, e.checkable) for e in got] == [("x-1.0-py3-none-any.whl", True), (None, False)]
    lock.write_text('version = 1\n[[package]]\nname = "x"\nsource = { registry = "r" }\n'
                    'wheels = [{ url = "https://h/x-1.0-py3-none-any.whl" }]\n')
    with pytest.raises(MalformedError, match=r"package\[0\] \(x\).wheels\[0\] \(x-1.0-py3-none-any.whl\) has no hash"):
        expected_from(str(lock))
    lock.write_text("[tool]\n")
    with pytest.raises(MalformedError, match="not a uv.lock file"):
        expected_from(str(lock))
