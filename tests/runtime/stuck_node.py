"""A node process whose stop cannot finish: ``python stuck_node.py CONFIG``.

Runs ``serve_main`` (the real ``serve``: signals, stop, exit code) with one
source that, once the node is told to stop, shields itself from the
cancellation and never returns, as a task stuck in a bug would. It prints
``stuck`` when it has seen the cancellation. Used by test_hostile_node.py;
not a test itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pypi_witness.runtime.serve import serve_main  # noqa: E402
from pypi_witness.runtime.writer import LogWriter  # noqa: E402


async def never_stop(writer: LogWriter) -> None:
    try:
        await trio.sleep_forever()
    finally:
        with trio.CancelScope(shield=True):
            print("stuck", flush=True)
            await trio.sleep_forever()


if __name__ == "__main__":
    sys.exit(serve_main(Path(sys.argv[1]), sources=[never_stop]))
