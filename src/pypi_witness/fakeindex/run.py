"""``pypi-witness fake-index``: serve a fake index until Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

from pypi_witness.fakeindex.server import DEFAULT_CHANGELOG_CAP, FakeIndexServer
from pypi_witness.fakeindex.state import Index


class _Terminated(BaseException):
    """SIGTERM arrived. A BaseException, like KeyboardInterrupt, so that socketserver's
    per-request ``except Exception`` cannot swallow it when it lands mid-request."""


def _terminate(signum: int, frame: Any) -> None:
    raise _Terminated


def serve_fake_index(
    *,
    host: str,
    port: int,
    state_dir: Path | None,
    populate: int | None,
    seed: int,
    changelog_cap: int = DEFAULT_CHANGELOG_CAP,
) -> int:
    """Load (or create) the index, populate it when new, serve it; returns 0 on SIGTERM.

    Prints one line with the URL on stdout once listening. Ctrl-C raises
    ``KeyboardInterrupt`` after the index is saved. Raises ``MalformedError`` for an
    unreadable state file and ``OSError`` when the port cannot be bound.
    """
    index = Index.load(state_dir) if state_dir is not None else Index()
    if populate:
        if index.last_serial == 0:
            index.populate(seed, populate)
        else:
            print(f"fake index: {state_dir} already holds an index; --populate ignored", file=sys.stderr)
    server = FakeIndexServer(index, host=host, port=port, state_dir=state_dir, changelog_cap=changelog_cap)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        if state_dir is not None:
            index.save(state_dir)
        print(
            f"fake index serving {server.url} ({len(index.projects):,} projects, "
            f"{index.file_count():,} files, serial {index.last_serial:,})",
            flush=True,
        )
        server.serve_forever()
    except _Terminated:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.close()
    return 0
