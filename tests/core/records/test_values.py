"""Record values: PyPI's upload-time forms made canonical, project names normalized."""

from __future__ import annotations

import pytest
from pypi_witness.core.records.values import canonical_time, normalize_project
from pypi_witness.core.errors import RecordError


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2023-05-22T15:12:42.313790Z", "2023-05-22T15:12:42.313790Z"),
        ("2023-05-22T15:12:42Z", "2023-05-22T15:12:42.000000Z"),
        ("2023-05-22T15:12:42", "2023-05-22T15:12:42.000000Z"),
        ("2023-05-22T15:12:42.313790", "2023-05-22T15:12:42.313790Z"),
        ("2023-05-22T15:12:42.3Z", "2023-05-22T15:12:42.300000Z"),
        ("2023-05-22 15:12:42.313790 UTC", "2023-05-22T15:12:42.313790Z"),
        ("2023-05-22 15:12:42 UTC", "2023-05-22T15:12:42.000000Z"),
        ("2023-05-22 15:12:42.5 UTC", "2023-05-22T15:12:42.500000Z"),
        ("2023-05-22T15:12:42.313790+00:00", "2023-05-22T15:12:42.313790Z"),
        ("2023-05-22T15:12:42-00:00", "2023-05-22T15:12:42.000000Z"),
        ("2023-05-22T00:12:42.000001+01:30", "2023-05-21T22:42:42.000001Z"),
        ("2023-12-31T23:59:59-01:00", "2024-01-01T00:59:59.000000Z"),
        ("2024-02-29 00:00:00 UTC", "2024-02-29T00:00:00.000000Z"),
        ("0999-01-01T00:00:00Z", "0999-01-01T00:00:00.000000Z"),
    ],
)
def test_canonical_time_accepts_pypi_forms(given: str, expected: str) -> None:
    assert canonical_time(given) == expected
    assert canonical_time(expected) == expected


@pytest.mark.parametrize(
    "given",
    [
        "2023-05-22",
        "2023-05-22T15:12",
        "2023-05-22T15:12:42.3137901Z",
        "2023-05-22T15:12:42.Z",
        "2023-05-22t15:12:42Z",
        "2023-05-22T15:12:42z",
        "2023-05-22T15:12:42 UTC",
        "2023-05-22 15:12:42Z",
        "2023-05-22 15:12:42",
        "2023-05-22 15:12:42.313790 utc",
        "2023-05-22T15:12:42+0000",
        "2023-05-22T15:12:42+24:00",
        "2023-05-22T15:12:42+00:60",
        "2023-02-30 15:12:42.313790 UTC",
        "2023-05-22 24:12:42.313790 UTC",
        "2023-05-22T15:12:61Z",
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:30:00+01:00",
        " 2023-05-22T15:12:42Z",
        "2023-05-22T15:12:42Z\n",
        "1684768362",
        "",
        None,
        1684768362,
    ],
)
def test_canonical_time_refuses_other_forms(given: object) -> None:
    with pytest.raises(RecordError, match="upload_time"):
        canonical_time(given)  # type: ignore[arg-type]


# -- normalize_project ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("requests", "requests"),
        ("Django", "django"),
        ("zope.interface", "zope-interface"),
        ("Flask_Login", "flask-login"),
        ("pyOpenSSL", "pyopenssl"),
        ("a-_.-b", "a-b"),
        ("A__B..C", "a-b-c"),
        ("X", "x"),
        ("0", "0"),
        ("py3-dns", "py3-dns"),
    ],
)
def test_normalize_project(name: str, expected: str) -> None:
    assert normalize_project(name) == expected
    assert normalize_project(expected) == expected


@pytest.mark.parametrize("name", ["", "-a", "a-", ".a", "a_", "a b", "a/b", "fóo", "a\n", 7, None])
def test_normalize_project_refuses_invalid_names(name: object) -> None:
    with pytest.raises(RecordError, match="project name"):
        normalize_project(name)  # type: ignore[arg-type]


# -- the record object ------------------------------------------------------------
