"""What every command group of the command line shares: exit codes, errors, argument types, output."""

from __future__ import annotations

import argparse
import base64
import json
from typing import Any

from pypi_witness.core.errors import WitnessError, quoted

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNVERIFIED = 3
EXIT_INTERRUPTED = 130


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def emit(args: argparse.Namespace, human: str, machine: Any) -> None:
    """Print ``machine`` as one JSON object with ``--json``, else ``human``."""
    if args.json:
        print(json.dumps(machine, sort_keys=True))
    else:
        print(human)


class CliError(WitnessError):
    """A command-line level refusal (an unreadable file, nothing found)."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def nonnegative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{quoted(text)} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{quoted(text)} is not a number of seconds") from None
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError("must be between 0 and 86400 seconds")
    return value


def positive(text: str) -> int:
    value = nonnegative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
