"""Every [privacy] key is documented in config.py's docstring and the README's configuration table."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from pypi_witness.config import node as config
from pypi_witness.config.node import PrivacyConfig

ROOT = Path(__file__).resolve().parent.parent.parent


def test_every_privacy_key_is_documented():
    readme = (ROOT / "README.md").read_text()
    docstring = config.__doc__ or ""
    section = docstring[docstring.index("[privacy]") :]
    for f in fields(PrivacyConfig):
        assert re.search(rf"^\s+{f.name}\s+=", section, re.M), f"{f.name} not in config.py's docstring"
        assert f"privacy.{f.name}`" in readme, f"privacy.{f.name} not in the README's configuration table"
