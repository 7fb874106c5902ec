"""A node process whose log grows slowly while it serves: ``python gossip_node.py CONFIG``.

Runs ``serve_main`` (the real ``serve``: signals, graceful stop, exit code)
with one source appending ``GROW`` records of ``tests.factories.record``
every ``EVERY`` seconds, so that gossip has new heads to prove consistent.
Used by test_gossip_federation.py; not a test itself.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import trio  # noqa: E402

from pypi_witness.runtime.serve import serve_main  # noqa: E402
from pypi_witness.runtime.writer import LogWriter  # noqa: E402
from tests.factories import record  # noqa: E402

GROW = 3
EVERY = 0.4


async def grow_slowly(writer: LogWriter) -> None:
    size = (await writer.publish()).checkpoint.size
    while True:
        await trio.sleep(EVERY)
        size = (await writer.append([record(i) for i in range(size, size + GROW)])).new_size


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    sys.exit(serve_main(Path(sys.argv[1]), sources=[grow_slowly]))
