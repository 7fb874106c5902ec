"""Tests for core.quorum.policy: the C2SP tlog-policy file format, one test per rule."""

from __future__ import annotations

import pytest

from pypi_witness.core.tlog.note import ALG_ED25519, Signer
from pypi_witness.core.quorum.policy import (
    Policy,
    PolicyGroup,
    PolicyLog,
    PolicyWitness,
    format_policy,
    parse_policy,
)
from pypi_witness.core.errors import MalformedError, PolicyError
from tests.core.quorum.policy_fixtures import (
    ORIGIN,
    SPEC_EXAMPLE,
    flat_policy_text,
    log_signer,
    log_vkey,
    witness_signer,
    witness_vkey,
)


def parse(text: str) -> Policy:
    return parse_policy(text.encode("utf-8"))


def refused(text: str | bytes, line: int | None, *words: str) -> PolicyError:
    """Assert that parsing ``text`` fails on ``line`` with a message holding ``words``."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    with pytest.raises(PolicyError) as info:
        parse_policy(data)
    assert info.value.line == line, str(info.value)
    for word in words:
        assert word in str(info.value), str(info.value)
    if line is not None:
        assert str(info.value).startswith(f"line {line}: ")
    assert isinstance(info.value, MalformedError)
    return info.value


W1 = f"witness W1 {witness_vkey(1)}\n"
W2 = f"witness W2 {witness_vkey(2)}\n"
W3 = f"witness W3 {witness_vkey(3)}\n"


# ---------------------------------------------------------------- well-formed policies


def test_spec_example_parses_into_its_parts() -> None:
    policy = parse(SPEC_EXAMPLE)
    assert [log.origin for log in policy.logs] == [ORIGIN]
    assert policy.logs[0].verifier == log_signer().verifier()
    assert [w.name for w in policy.witnesses] == ["X1", "X2", "X3", "Y1", "Y2", "Y3"]
    assert policy.witness_by_name["Y2"].verifier == witness_signer(5).verifier()
    assert policy.groups == (
        PolicyGroup("X-witnesses", 2, ("X1", "X2", "X3")),
        PolicyGroup("Y-witnesses", 1, ("Y1", "Y2", "Y3")),
        PolicyGroup("X-and-Y", 2, ("X-witnesses", "Y-witnesses")),
    )
    assert policy.quorum == "X-and-Y"
    assert policy.quorum_witnesses() == ("X1", "X2", "X3", "Y1", "Y2", "Y3")


def test_urls_are_optional_and_kept() -> None:
    policy = parse(
        f"log {log_vkey()} https://log.example/\n"
        f"witness W1 {witness_vkey(1)} https://w1.example/add\n"
        f"witness W2 {witness_vkey(2)}\n"
        "quorum W1\n"
    )
    assert policy.logs[0].url == "https://log.example/"
    assert policy.witness_by_name["W1"].url == "https://w1.example/add"
    assert policy.witness_by_name["W2"].url is None
    assert policy.quorum_witnesses() == ("W1",)


def test_comments_blank_lines_and_space_tab_runs_are_ignored() -> None:
    text = (
        "# a comment\n"
        "   \t # an indented comment\n"
        "\n"
        " \t \n"
        f"\t log \t {log_vkey()}  \n"
        f"witness\tW1\t\t{witness_vkey(1)}\n"
        "  quorum   W1\t\n"
    )
    policy = parse(text)
    assert policy == parse(f"log {log_vkey()}\n{W1}quorum W1\n")


def test_quorum_none_needs_no_witnesses_or_logs() -> None:
    policy = parse("quorum none\n")
    assert policy.quorum is None
    assert policy.logs == () and policy.witnesses == ()
    assert policy.quorum_witnesses() == ()


def test_any_and_all_are_thresholds_one_and_n() -> None:
    policy = parse(W1 + W2 + W3 + "group a any W1 W2\ngroup b all W3\ngroup c all a b\nquorum c\n")
    assert [g.threshold for g in policy.groups] == [1, 1, 2]


def test_numeric_threshold_may_have_leading_zeros() -> None:
    # The spec asks only for decimal; "02" is 2.
    assert parse(W1 + W2 + "group g 02 W1 W2\nquorum g\n").groups[0].threshold == 2


def test_names_are_opaque_octets() -> None:
    kelvin = "\u212a"
    policy = parse(
        f"witness K {witness_vkey(1)}\nwitness {kelvin} {witness_vkey(2)}\ngroup g all K {kelvin}\nquorum g\n"
    )
    assert [w.name for w in policy.witnesses] == ["K", kelvin]
    # A non-breaking space is an opaque octet pair, not whitespace.
    nbsp = parse(f"witness a\u00a0b {witness_vkey(1)}\nquorum a\u00a0b\n")
    assert nbsp.quorum == "a\u00a0b"


def test_non_utf8_octets_in_names_and_comments_are_opaque() -> None:
    data = b"# caf\xe9\n" + b"witness w\xff " + witness_vkey(1).encode() + b"\nquorum w\xff\n"
    policy = parse_policy(data)
    assert policy.quorum is not None and policy.quorum.encode("utf-8", "surrogateescape") == b"w\xff"
    assert format_policy(policy) == b"witness w\xff " + witness_vkey(1).encode() + b"\nquorum w\xff\n"


def test_logs_for_origin_matches_the_key_name() -> None:
    other = log_signer("other.example/log", 2).verifier()
    policy = parse(f"log {log_vkey()}\nlog {other.vkey()}\nquorum none\n")
    assert [log.verifier for log in policy.logs_for_origin("other.example/log")] == [other]
    assert policy.logs_for_origin("unknown.example") == ()


# ---------------------------------------------------------------- canonical form and round trips


def test_format_is_canonical_and_round_trips() -> None:
    policy = parse(SPEC_EXAMPLE)
    text = format_policy(policy)
    assert parse_policy(text) == policy
    assert format_policy(parse_policy(text)) == text
    expected = [f"log {log_vkey()}"]
    expected += [f"witness {n} {witness_vkey(i)}" for i, n in enumerate(["X1", "X2", "X3", "Y1", "Y2", "Y3"], 1)]
    expected += [
        "group X-witnesses 2 X1 X2 X3",
        "group Y-witnesses any Y1 Y2 Y3",
        "group X-and-Y all X-witnesses Y-witnesses",
        "quorum X-and-Y",
    ]
    assert text.decode() == "\n".join(expected) + "\n"


def test_format_writes_urls_and_none() -> None:
    text = f"log {log_vkey()} https://log.example/\n{W1.strip()} https://w/\nquorum none\n"
    assert format_policy(parse(text)).decode() == text


def test_policy_built_in_code_equals_parsed_one() -> None:
    built = Policy(
        logs=(PolicyLog(log_signer().verifier()),),
        witnesses=(
            PolicyWitness("W1", witness_signer(1).verifier()),
            PolicyWitness("W2", witness_signer(2).verifier()),
        ),
        groups=(PolicyGroup("g", 2, ("W1", "W2")),),
        quorum="g",
    )
    assert parse_policy(format_policy(built)) == built
    assert built == parse(f"log {log_vkey()}\n{W1}{W2}group g all W1 W2\nquorum g\n")


def test_policy_built_in_code_is_checked_too() -> None:
    with pytest.raises(PolicyError, match="not defined"):
        Policy((), (PolicyWitness("W1", witness_signer(1).verifier()),), (PolicyGroup("g", 1, ("W9",)),), "g")
    with pytest.raises(PolicyError, match="threshold 3"):
        Policy((), (PolicyWitness("W1", witness_signer(1).verifier()),), (PolicyGroup("g", 3, ("W1",)),), "g")
    with pytest.raises(PolicyError, match="lone surrogate"):
        Policy((), (PolicyWitness("\ud800", witness_signer(1).verifier()),), (), None)


# ---------------------------------------------------------------- malformed lines


def test_unknown_keyword() -> None:
    refused(W1 + "quorm W1\n", 2, "unknown keyword 'quorm'")


def test_keywords_are_case_sensitive() -> None:
    refused("Quorum none\n", 1, "unknown keyword 'Quorum'")


def test_log_field_count() -> None:
    refused("log\nquorum none\n", 1, "'log' takes")
    refused(f"log {log_vkey()} https://a/ extra\nquorum none\n", 1, "got 3 fields")


def test_witness_field_count() -> None:
    refused("witness W1\nquorum none\n", 1, "'witness' takes")
    refused(f"witness W1 {witness_vkey(1)} https://a/ b\nquorum none\n", 1, "got 4 fields")


def test_group_needs_name_threshold_and_a_member() -> None:
    refused(W1 + "group g any\nquorum none\n", 2, "at least one member")


def test_quorum_takes_exactly_one_name() -> None:
    refused(W1 + W2 + "quorum W1 W2\n", 3, "exactly one name")
    refused("quorum\n", 1, "got 0")


def test_trailing_comment_is_not_a_comment() -> None:
    refused(W1 + "quorum W1 # the only one\n", 2, "exactly one name")
    refused(f"witness W1 {witness_vkey(1)} #note\nquorum W1\n", 1, "starts with '#'")


def test_control_characters_are_refused() -> None:
    refused(W1 + "quorum W1\r\n", 2, "0x0d")
    refused(W1 + "quorum\x0bW1\n", 2, "0x0b")
    refused(b"# ok\n# nul \x00 here\nquorum none\n", 2, "0x00", "column 7")


def test_missing_final_newline() -> None:
    refused(W1 + "quorum W1", 2, "does not end in a newline")


# ---------------------------------------------------------------- keys


def test_bad_vkey() -> None:
    refused("log not-a-key\nquorum none\n", 1, "log key is not a valid vkey")
    vkey = witness_vkey(1)
    refused(f"witness W1 {vkey[:-4]}AAAA\nquorum W1\n", 1, "witness 'W1' key is not a valid vkey")


def test_vkey_with_wrong_key_id() -> None:
    name, _, material = witness_vkey(1).split("+", 2)
    refused(f"witness W1 {name}+00000000+{material}\nquorum W1\n", 1, "does not match")


def test_log_key_must_be_ed25519_note_key() -> None:
    refused(f"log {witness_vkey(1)}\nquorum none\n", 1, "must be 0x01")


def test_witness_key_must_be_cosignature_key() -> None:
    refused(f"witness W1 {log_vkey()}\nquorum W1\n", 1, "must be 0x04")


def test_duplicate_log_keys_even_under_another_name() -> None:
    key = log_signer().public_key
    renamed = Signer.from_seed("renamed.example", bytes([1]) * 32, ALG_ED25519).verifier()
    assert renamed.public_key == key
    refused(f"log {log_vkey()}\nlog {log_vkey()}\nquorum none\n", 2, "same public key")
    refused(f"log {log_vkey()}\nlog {renamed.vkey()}\nquorum none\n", 2, "same public key")


def test_duplicate_witness_keys_even_under_another_name() -> None:
    refused(f"{W1}witness W2 {witness_vkey(1)}\nquorum W1\n", 2, "same public key as witness 'W1'")


# ---------------------------------------------------------------- names


def test_witness_names_are_unique() -> None:
    refused(f"{W1}witness W1 {witness_vkey(2)}\nquorum W1\n", 2, "'W1' is already defined")


def test_witnesses_and_groups_share_one_namespace() -> None:
    refused(W1 + W2 + "group W1 any W2\nquorum W1\n", 3, "already defined")
    refused(W1 + "group g any W1\n" + f"witness g {witness_vkey(2)}\nquorum g\n", 3, "already defined")


def test_none_cannot_be_defined() -> None:
    refused(f"witness none {witness_vkey(1)}\nquorum none\n", 1, "'none' is predefined")
    refused(W1 + "group none any W1\nquorum none\n", 2, "'none' is predefined")


# ---------------------------------------------------------------- groups


def test_group_members_must_be_defined_earlier() -> None:
    refused("group g any W1\n" + W1 + "quorum g\n", 1, "'W1' is not defined on an earlier line")


def test_group_cannot_reference_itself() -> None:
    refused(W1 + "group g any W1 g\nquorum g\n", 2, "'g' is not defined")


def test_none_cannot_be_a_member() -> None:
    refused(W1 + "group g any W1 none\nquorum g\n", 2, "'none' cannot be a group member")


def test_member_listed_twice_in_one_group() -> None:
    refused(W1 + W2 + "group g 2 W1 W2 W1\nquorum g\n", 3, "lists 'W1' twice")


def test_member_of_two_groups() -> None:
    refused(W1 + W2 + W3 + "group a any W1 W2\ngroup b any W1 W3\nquorum b\n", 5, "already a member of group 'a'")


def test_threshold_above_member_count() -> None:
    refused(W1 + W2 + "group g 3 W1 W2\nquorum g\n", 3, "threshold 3 is not in 1..2")


def test_threshold_zero() -> None:
    refused(W1 + "group g 0 W1\nquorum g\n", 2, "threshold 0")


@pytest.mark.parametrize("word", ["-1", "+1", "two", "1.0", "ALL", "Any", "0x2", "1" * 40])
def test_threshold_words(word: str) -> None:
    refused(W1 + W2 + f"group g {word} W1 W2\nquorum g\n", 3, "is not 'any', 'all' or a decimal")


def test_nested_groups_parse() -> None:
    policy = parse(
        flat_policy_text(3, 2).replace("quorum g\n", "")
        + f"witness V {witness_vkey(9)}\ngroup top all g V\nquorum top\n"
    )
    assert policy.group_by_name["top"].members == ("g", "V")
    assert policy.quorum_witnesses() == ("W0", "W1", "W2", "V")


# ---------------------------------------------------------------- quorum line


def test_quorum_must_be_defined_earlier() -> None:
    refused("quorum W1\n" + W1, 1, "not a witness or group defined on an earlier line")


def test_exactly_one_quorum_line() -> None:
    refused(W1 + "quorum W1\nquorum none\n", 3, "more than one quorum line")
    refused(W1, None, "no quorum line")
    refused(b"", None, "no quorum line")
