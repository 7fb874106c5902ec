"""``verify`` of real pip-compile, uv and pip lock output (fixtures/) against nodes logging the real PyPI files.

See conftest: alpha, beta and gamma log every file of fixtures/records.jsonl as
PyPI keeps it (``certifi 2015.04.28``, ``Django 1.8c1``, ``PySocks-...``) and
later a swapped six sdist; delta lags, without one PySocks wheel.
"""

from __future__ import annotations

import pytest

from tests.client.conftest import FIXTURES, LAGGING, REAL, SWAP, SWAPPED
from tests.client.support import run

WRONG = "0" * 64
PYSOCKS_PY3 = next(r for r in REAL if r.filename == "PySocks-1.7.1-py3-none-any.whl")
LOCKS = ["pip-compile.txt", "uv-pip-compile.txt", "uv-export.txt", "pylock.uvexport.toml", "pylock.piplock.toml",
         "uv.lock", "pip-compile-editable.txt"]  # fmt: skip


def nodes(fed, *names):
    return [x for n in (names or ("alpha", "beta", "gamma")) for x in ("--node", fed.addresses[n])]


def copy(tmp_path, name, old="", new=""):
    """fixtures/NAME copied to tmp_path, with ``old`` replaced by ``new`` (exactly once)."""
    text = (FIXTURES / name).read_text()
    if old:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    (tmp_path / name).write_text(text)
    return tmp_path / name


@pytest.mark.parametrize("name", LOCKS)
def test_every_real_lock_file_verifies(federation, name):
    result = run("verify", "--json", "--policy", federation.policy, *nodes(federation), FIXTURES / name, code=0)
    statuses = {o["status"] for o in result.objects()}
    assert statuses <= {"OK", "NOT_CHECKABLE"} and "OK" in statuses
    not_checkable = [o["where"] for o in result.objects() if o["status"] == "NOT_CHECKABLE"]
    assert len(not_checkable) == (0 if name in ("pip-compile.txt", "uv-pip-compile.txt") else 2), not_checkable


def test_pinned_versions_meet_the_versions_pypi_keeps(federation):
    # pip-compile writes certifi==2015.4.28 and django==1.8rc1; the logs hold 2015.04.28 and 1.8c1.
    result = run("verify", "--json", "--policy", federation.policy, *nodes(federation), FIXTURES / "pip-compile.txt",
                 code=0)  # fmt: skip
    by_release = {o["release"]["name"]: o for o in result.objects()}
    assert [h["filename"] for h in by_release["certifi"]["hashes"]] == [
        "certifi-2015.04.28-py2.py3-none-any.whl", "certifi-2015.04.28.tar.gz",
    ]  # fmt: skip
    assert by_release["django"]["hashes"][0]["filename"] == "Django-1.8c1-py2.py3-none-any.whl"


def test_a_tampered_hash_in_a_uv_pylock_is_a_mismatch_under_the_index_filename(federation, tmp_path):
    lock = copy(tmp_path, "pylock.uvexport.toml", f'sha256 = "{PYSOCKS_PY3.sha256}"', f'sha256 = "{WRONG}"')
    result = run("verify", "--json", "--policy", federation.policy, *nodes(federation), lock, code=3)
    (bad,) = [o for o in result.objects() if o["status"] == "MISMATCH"]
    assert bad["filename"] == PYSOCKS_PY3.filename
    assert {(e["origin"], e["sha256"]) for e in bad["evidence"]} == {
        (f"{n}.test/log", PYSOCKS_PY3.sha256) for n in ("alpha", "beta", "gamma")
    }


def test_a_pylock_entry_without_url_is_found_by_its_normalized_name(federation, tmp_path):
    # uv's name for PyPI's PySocks-1.7.1-py3-none-any.whl, with the url left out.
    b2 = PYSOCKS_PY3.blake2b_256
    url = f'url = "https://files.pythonhosted.org/packages/{b2[:2]}/{b2[2:4]}/{b2[4:]}/{PYSOCKS_PY3.filename}", '
    lock = copy(tmp_path, "pylock.uvexport.toml", url, "")
    result = run("verify", "--json", "--policy", federation.policy, *nodes(federation), lock, code=0)
    (found,) = [o for o in result.objects() if o["filename"] == "pysocks-1.7.1-py3-none-any.whl"]
    assert found["status"] == "OK" and "logged as PySocks-1.7.1-py3-none-any.whl" in found["reason"]
    lock.write_text(lock.read_text().replace(PYSOCKS_PY3.sha256, WRONG))
    result = run("verify", "--json", "--policy", federation.policy, *nodes(federation), lock, code=3)
    (found,) = [o for o in result.objects() if o["filename"] == "pysocks-1.7.1-py3-none-any.whl"]
    assert found["status"] == "MISMATCH" and found["evidence"][0]["filename"] == PYSOCKS_PY3.filename


def test_a_size_only_mismatch_says_size(federation, tmp_path):
    lock = copy(tmp_path, "pylock.uvexport.toml", f"size = {PYSOCKS_PY3.size},", f"size = {PYSOCKS_PY3.size + 1},")
    result = run("verify", "--json", "--policy", federation.policy, *nodes(federation), lock, code=3)
    (bad,) = [o for o in result.objects() if o["status"] == "MISMATCH"]
    assert f"log size {PYSOCKS_PY3.size}, not {PYSOCKS_PY3.size + 1}; same sha256" in bad["reason"]


def test_a_requirement_line_hash_the_index_swapped_in_is_a_mismatch_naming_the_hash_and_its_line(federation, tmp_path):
    req = copy(tmp_path, "pip-compile.txt", SWAPPED.sha256, SWAP.sha256)
    line = next(i for i, x in enumerate(req.read_text().splitlines(), 1) if SWAP.sha256 in x)
    result = run("verify", "--policy", federation.policy, *nodes(federation), req, code=3)
    (bad,) = [x for x in result.out.splitlines() if x.startswith("MISMATCH")]
    assert f"sha256 {SWAP.sha256} ({req}:{line}) is what the index later served in place of six-1.16.0.tar.gz" in bad
    (obj,) = [o for o in run("verify", "--json", "--policy", federation.policy, *nodes(federation), req,
                             code=3).objects() if o["status"] == "MISMATCH"]  # fmt: skip
    assert {(e["origin"], e["sha256"]) for e in obj["evidence"]} == {
        (f"{n}.test/log", SWAPPED.sha256) for n in ("alpha", "beta", "gamma")
    }
    assert [h["where"] for h in obj["hashes"] if h["status"] == "MISMATCH"] == [f"{req}:{line}"]


def test_a_requirement_line_hash_no_log_holds_is_unknown_and_named_with_its_line(federation, tmp_path):
    req = copy(tmp_path, "pip-compile.txt", PYSOCKS_PY3.sha256, WRONG)
    line = next(i for i, x in enumerate(req.read_text().splitlines(), 1) if WRONG in x)
    result = run("verify", "--policy", federation.policy, *nodes(federation), req, code=4)
    (unknown,) = [x for x in result.out.splitlines() if x.startswith("UNKNOWN")]
    assert f"sha256 {WRONG} ({req}:{line}) is no file logged for pysocks 1.7.1 yet" in unknown


def test_the_same_file_missing_from_a_lagging_log_is_unknown_in_every_kind_of_lock(federation):
    # delta has not logged PySocks' py3 wheel; it has the release's other files.
    delta = ["--vkey", federation.logs["delta"].vkey(), *nodes(federation, "delta")]
    for name in ("pip-compile.txt", "uv-export.txt", "pylock.piplock.toml", "pylock.uvexport.toml", "uv.lock"):
        result = run("verify", "--json", *delta, FIXTURES / name, code=4)
        missing = [o for o in result.objects() if o["status"] not in ("OK", "NOT_CHECKABLE")]
        assert [o["status"] for o in missing] == ["UNKNOWN"], name
        assert missing[0]["filename"] == LAGGING or PYSOCKS_PY3.sha256 in missing[0]["reason"], name


def test_human_output_is_one_short_line_per_entry(federation):
    result = run("verify", "--policy", federation.policy, *nodes(federation), FIXTURES / "uv-export.txt", code=0)
    lines = result.out.splitlines()
    entries = [x for x in lines if not x.startswith("node ")]
    assert len(entries) == 6 + 1  # four pins, -e . and ./localdep, and the count
    assert entries[-1] == "6 entries: 4 OK, 0 MISMATCH, 2 NOT_CHECKABLE"
    assert max(len(x) for x in lines) < 300
