"""``errors.quoted``: how every message quotes a value it was given, bounded whatever the value."""

from __future__ import annotations

import pytest

from pypi_witness.core.errors import QUOTE_CHARS, quoted


def deep(levels: int) -> list:
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("abc", "'abc'"),
        ("", "''"),
        ("a\nb\x00", "'a\\nb\\x00'"),
        (b"\xff\x00", "b'\\xff\\x00'"),
        (bytearray(b"ab"), "b'ab'"),
        (42, "42"),
        (-7, "-7"),
        (None, "None"),
        (True, "True"),
        (1.5, "1.5"),
        ([1, 2, 3], "<list of length 3>"),
        ({"a": 1}, "<dict of length 1>"),
        (object(), "<object>"),
    ],
)
def test_short_values_are_shown_as_their_repr_or_their_type(value, shown):
    assert quoted(value) == shown


def test_long_text_is_cut_to_the_limit_and_says_how_long_it_was():
    assert quoted("x" * 20_000) == "'" + "x" * QUOTE_CHARS + "'... (20000 characters)"
    assert quoted(b"y" * 300) == "b'" + "y" * QUOTE_CHARS + "'... (300 bytes)"
    assert quoted("abcdef", 3) == "'abc'... (6 characters)"


@pytest.mark.parametrize(
    "value",
    [
        "x" * 10_000_000,
        "\U000e0001" * 5_000,  # each one escaped as 10 characters
        b"\x00" * 1_000_000,
        deep(100_000),  # its repr would recurse past any limit
        10**20_000,  # str() of it raises ValueError (int_max_str_digits)
        {i: deep(2000) for i in range(10)},
    ],
    ids=["huge-text", "escapes", "huge-bytes", "deep-list", "huge-int", "dict-of-deep"],
)
def test_any_value_is_quoted_short_without_recursion(value):
    assert len(quoted(value)) <= 4 * QUOTE_CHARS + 40


def test_a_value_with_a_hostile_len_is_named_by_its_type():
    class Hostile:
        def __len__(self):
            raise RuntimeError("no")

        def __repr__(self):
            raise RuntimeError("no")

    assert quoted(Hostile()) == "<Hostile>"
    assert quoted(10**400) == "an integer of 1329 bits"
