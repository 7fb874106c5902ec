"""The README opens with the run command and the test command, and CI runs the latter."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", (ROOT / "README.md").read_text())


def test_readme_opens_with_run_and_test_commands():
    run, test = _commands()[:2]
    assert run.endswith("pypi-witness demo")
    assert test.endswith("python -m pytest")


def test_ci_runs_exactly_the_readme_test_command():
    test = _commands()[1]
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test in ci_lines
