"""Reading targets (pip requirements rules, pylock.toml) and classifying verdicts, without nodes."""

from __future__ import annotations

import pytest

from pypi_witness.client.targets import Expected, expected_from
from pypi_witness.client.verdict import SourceAnswer, Status, classify, statement
from pypi_witness.core.errors import MalformedError
from tests.factories import record

A, B = "a" * 64, "b" * 64


def test_requirements_continuations_comments_includes_and_url_hashes(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "base.txt").write_text(f"c @ https://h/c-1-py3-none-any.whl#sha256={B}\n")
    req = tmp_path / "requirements.txt"
    req.write_text(
        "# comment line\n"
        f"x @ https://h/p/x-1.0.tar.gz?query=1 \\\n  --hash sha256:{A.upper()} \\\n  --hash=sha256:{B}  # why\n"
        "-r sub/base.txt\n"
        "--requirement=sub/base.txt\n"
        f"./dist/local-2.0-py3-none-any.whl --hash=sha512:{'f' * 128}\n"
        "-e ./src\n"
    )
    got = expected_from(str(req))
    assert [(e.where, e.filename, e.sha256, e.reason is None, e.checkable) for e in got] == [
        (f"{req}:2", "x-1.0.tar.gz", frozenset({A, B}), True, True),
        # included twice: read and listed once
        (f"{tmp_path / 'sub' / 'base.txt'}:1", "c-1-py3-none-any.whl", frozenset({B}), True, True),
        (f"{req}:7", "local-2.0-py3-none-any.whl", frozenset(), False, True),  # sha512 only: nothing to compare
        (f"{req}:8", None, frozenset(), False, False),  # editable: never checkable
    ]
    # Each hash is on its own line: the continuation lines are where it is reported.
    assert [got[0].line_of(A), got[0].line_of(B)] == [f"{req}:3", f"{req}:4"]


def test_an_include_cycle_is_refused(tmp_path):
    (tmp_path / "a.txt").write_text("-r b.txt\n")
    (tmp_path / "b.txt").write_text("-r a.txt\n")
    with pytest.raises(MalformedError, match="includes itself"):
        expected_from(str(tmp_path / "a.txt"))


def test_pylock_takes_the_filename_from_name_or_url(tmp_path):
    lock = tmp_path / "pylock.toml"
    lock.write_text(
        'lock-version = "1.0"\n[[packages]]\nname = "p"\n'
        f'sdist = {{ url = "https://h/p-1.0.tar.gz", hashes = {{ sha256 = "{A}" }}, size = 5 }}\n'
        f'wheels = [{{ name = "p-1.0-py3-none-any.whl", url = "https://h/other", hashes = {{ sha256 = "{B}" }} }}]\n'
    )
    got = expected_from(str(lock))
    assert [(e.filename, e.sha256, e.size) for e in got] == [
        ("p-1.0-py3-none-any.whl", frozenset({B}), None),
        ("p-1.0.tar.gz", frozenset({A}), 5),
    ]


def answer(name: str, entries, trusted: bool = True) -> SourceAnswer:
    found = statement(name, f"{name}/log", 10, trusted, entries)
    statements = {} if found is None else {found.record.filename: found}
    return SourceAnswer(name, f"{name}/log", 10, trusted, None if trusted else "no quorum", statements)


def expected_for(r, sha256=None) -> Expected:
    return Expected("here", r.filename, frozenset({sha256 or r.sha256}))


def test_verdicts():
    good, evil = record(1), record(1, "evil")
    honest, liar = answer("n1", [(0, good)]), answer("n2", [(3, evil)])
    assert classify(expected_for(good), [honest]).status is Status.OK
    assert classify(expected_for(good), [liar]).status is Status.MISMATCH
    assert classify(expected_for(good), [honest, liar]).status is Status.UNRESOLVED
    assert classify(expected_for(good), [answer("n3", [(0, good)], trusted=False)]).status is Status.UNRESOLVED
    assert classify(expected_for(good), [answer("n4", [])]).status is Status.UNKNOWN
    # A log that recorded a swap vouches for the first hash: the swapped file is a MISMATCH.
    swapped = answer("n5", [(0, good), (9, evil)])
    ok = classify(expected_for(good), [swapped])
    assert ok.status is Status.OK and "later served other hashes" in ok.reason
    assert classify(expected_for(evil), [swapped]).status is Status.MISMATCH
    # Local files: BLAKE2b-256 and size must match too.
    local = Expected("f", good.filename, frozenset({good.sha256}), good.blake2b_256, good.size + 1)
    assert classify(local, [honest]).status is Status.MISMATCH


@pytest.mark.parametrize(
    "name, instead",
    [
        ("pyproject.toml", "lock it first"),
        ("poetry.lock", "poetry export"),
        ("Pipfile.lock", "pipenv requirements --hash"),
        ("setup.py", "lock the project's dependencies"),
        ("notes.md", "pass a requirements file with --hash options, a pylock.toml, a uv.lock"),
        ("dist", "pass a requirements file"),
    ],
)
def test_what_is_no_kind_of_target_is_refused_before_anything_is_read(tmp_path, name, instead):
    path = tmp_path / name
    if name == "dist":
        path.mkdir()
    else:
        path.symlink_to("/dev/zero")  # would never be hashed to the end: it must not be read at all
    with pytest.raises(MalformedError, match="nothing a witness logs to check it against") as refused:
        expected_from(str(path))
    assert instead in str(refused.value)


def test_a_release_line_verdict_names_the_bad_hash_and_its_line_and_stays_one_short_line():
    """A release of 72 files (as big wheels matrices are), all listed, one of them swapped on the index."""
    from dataclasses import replace

    from pypi_witness.client.report import verdict_json, verdict_line
    from pypi_witness.core.records.format import release_key

    files = [replace(record(i), version="1.0", filename=f"demo-1.0-cp3{i}-none-any.whl") for i in range(72)]
    swapped = replace(record(99, "swap"), version="1.0", filename=files[40].filename)
    entries = {f.filename: statement("n1", "n1/log", 100, True, [(i, f)] + ([(90, swapped)] if f is files[40] else []))
               for i, f in enumerate(files)}  # fmt: skip
    answer = SourceAnswer("n1", "n1/log", 100, True, None, entries, {release_key("demo", "1.0"): tuple(entries)})
    hashes = [f.sha256 for f in files[:40]] + [swapped.sha256] + [f.sha256 for f in files[41:]]
    where = tuple((h, f"requirements.txt:{i + 2}") for i, h in enumerate(hashes))
    line = Expected("requirements.txt:1", None, frozenset(hashes), release=("demo", "1.0"), hash_where=where)
    ok = classify(replace(line, sha256=frozenset(hashes[:40]), hash_where=where[:40]), [answer])
    assert ok.status is Status.OK and ok.reason == "40 listed hashes are files logged by n1/log"
    verdict = classify(line, [answer])
    assert verdict.status is Status.MISMATCH
    text = verdict_line(verdict)
    assert "\n" not in text and len(text) < 400
    assert f"sha256 {swapped.sha256} (requirements.txt:42) is what the index later served in place of " \
           f"{files[40].filename}" in text  # fmt: skip
    obj = verdict_json(verdict)
    assert [(e["index"], e["sha256"]) for e in obj["evidence"]] == [(40, files[40].sha256)]
    assert [h["where"] for h in obj["hashes"] if h["status"] == "MISMATCH"] == ["requirements.txt:42"]
    assert len(obj["hashes"]) == 72


def test_the_readme_documents_every_json_key_of_verify():
    from pathlib import Path

    from pypi_witness.client.report import HASH_KEYS, JSON_KEYS, STATEMENT_KEYS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("### Verifying files") : readme.index("### Import format")]
    nested = {"name", "version", "sha256", "blake2b_256", "size", "index"}  # release, expected and swaps objects
    for key in {*JSON_KEYS, *STATEMENT_KEYS, *HASH_KEYS, *nested}:
        assert f"`{key}`" in section, key


def test_a_bundle_matches_a_lock_entry_that_spells_its_filename_otherwise():
    from dataclasses import replace

    real = replace(record(1, project="pysocks"), version="1.7.1", filename="PySocks-1.7.1-py3-none-any.whl")
    bundle = answer("bundle x.tlog-proof", [(5, real)])  # no release lookups: a bundle holds one entry
    spelled = Expected("pylock.toml:pysocks-1.7.1-py3-none-any.whl", "pysocks-1.7.1-py3-none-any.whl",
                       frozenset({real.sha256}))  # fmt: skip
    verdict = classify(spelled, [bundle])
    assert verdict.status is Status.OK and "logged as PySocks-1.7.1-py3-none-any.whl" in verdict.reason
    assert classify(replace(spelled, sha256=frozenset({A})), [bundle]).status is Status.MISMATCH
    other = replace(spelled, filename="pysocks-1.7.1-py2-none-any.whl")
    assert classify(other, [bundle]).status is Status.UNKNOWN
