"""core.tlog.log_list: the witness network's logs/v0 list, parsed strictly, unusable keys skipped."""

from __future__ import annotations

import pytest

from pypi_witness.core.tlog.log_list import ListedLog, format_log_list, parse_log_list
from pypi_witness.core.tlog.note import ALG_COSIGNATURE_V1, Signer
from pypi_witness.core.errors import MalformedError

ONE = Signer.from_seed("tlog.foo.org", b"a" * 32).verifier()
TWO = Signer.from_seed("bar.org/tlog", b"b" * 32).verifier()
COSIGNER = Signer.from_seed("w.example", b"c" * 32, ALG_COSIGNATURE_V1).verifier()


def test_the_formats_example_shape():
    text = f"""#
# List:      10qps-100klogs
# Revision:  123
#
logs/v0

# 1st list item -- foo's log
vkey {ONE.vkey()}
origin none
qpd 86400
bastion https://bastion.tlog.foo.org/
contact https://tlog.foo.org/contact

# 2nd list item -- bar's log
vkey {TWO.vkey()}
origin something-not-equal-to-vkey-keyname
qpd 24
bastion none
contact sysadmin (at) bar.org
"""
    logs, skipped = parse_log_list(text)
    assert logs == [
        ListedLog(ONE, "tlog.foo.org", 86400.0, "https://tlog.foo.org/contact"),
        ListedLog(TWO, "something-not-equal-to-vkey-keyname", 24.0, "sysadmin (at) bar.org"),
    ]
    assert skipped == []
    assert parse_log_list(format_log_list(logs))[0] == logs


def test_keys_this_witness_cannot_check_are_skipped_not_fatal():
    unknown = "other.example+01020304+" + "Aw" + "A" * 42  # type 0x03: not a type this project reads
    logs, skipped = parse_log_list(f"logs/v0\nvkey {unknown}\nqpd 1\nvkey {COSIGNER.vkey()}\nvkey {ONE.vkey()}\n")
    assert [log.origin for log in logs] == ["tlog.foo.org"] and len(skipped) == 2
    assert "line 2" in skipped[0] and "line 4" in skipped[1]


@pytest.mark.parametrize(
    "text",
    [
        "", "# only comments\n", f"logs/v1\nvkey {ONE.vkey()}\n", "logs/v0\nqpd 1\n", f"logs/v0\nvkey {ONE.vkey()}\nqpd x\n",
        f"logs/v0\nvkey {ONE.vkey()}\nqpd 1\nqpd 2\n", f"logs/v0\nvkey {ONE.vkey()}\ncolour blue\n",
        "logs/v0\nvkey not-a-key\n", f"logs/v0\nvkey {ONE.vkey()}\nvkey {ONE.vkey()}\n",
        f"logs/v0\nvkey {ONE.vkey()}\norigin\n",
    ],
)  # fmt: skip
def test_malformed_lists_are_refused(text):
    with pytest.raises(MalformedError):
        parse_log_list(text)
