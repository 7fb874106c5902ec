"""Reading targets (pip requirements rules, pylock.toml) and classifying verdicts, without nodes."""

from __future__ import annotations

import pytest

from pypi_witness.client.targets import Expected, expected_from
from pypi_witness.client.verdict import SourceAnswer, Status, classify, statement
from pypi_witness.errors import MalformedError
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
