"""Running ``pypi-witness verify`` in this process, with the stream rules every command keeps."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass

import pytest

from pypi_witness.cli.main import main
from pypi_witness.core.records.format import FileRecord


@dataclass
class Run:
    code: int
    out: str
    err: str

    def objects(self) -> list[dict]:
        return [json.loads(line) for line in self.out.splitlines()]

    def status_of(self, where_suffix: str) -> str:
        (line,) = [x for x in self.out.splitlines() if where_suffix in x and not x.startswith(" ")]
        return line.split()[0]


def run(*args: object, code: int) -> Run:
    """``pypi-witness ARGS`` in this process; asserts the exit code and that nothing raised."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main([str(a) for a in args])
        except SystemExit as e:
            status = e.code
        except BaseException as e:  # noqa: BLE001 - would have been a traceback
            pytest.fail(f"pypi-witness {' '.join(map(str, args))} raised {type(e).__name__}: {e!r}")
    result = Run(status, out.getvalue(), err.getvalue())
    assert "Traceback" not in result.err
    assert result.code == code, f"exit {result.code}, expected {code}\nstdout: {result.out}\nstderr: {result.err}"
    return result


def one_error_line(result: Run) -> str:
    """The single ``pypi-witness: error: ...`` line a failed command printed (warnings aside)."""
    lines = [x for x in result.err.splitlines() if " warning: " not in x]
    assert len(lines) == 1 and lines[0].startswith("pypi-witness: error: "), result.err
    return lines[0]


def requirement(r: FileRecord, sha256: str | None = None) -> str:
    """A requirements line naming ``r``'s file by URL, with its (or the given) sha256."""
    return f"{r.project} @ https://files.example/packages/{r.filename} --hash=sha256:{sha256 or r.sha256}\n"
