"""A node process that appends test records while it serves: ``python appending_node.py CONFIG``.

Runs ``serve_main`` (the real ``serve`` entry: signals, graceful stop, exit
code) with one source that appends batches of ``tests.rpc.support.record(i)``,
in order from the log's current size, and prints ``acked <size>`` after each
commit returns. Used by test_serve.py; not a test itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pypi_witness.runtime.serve import serve_main  # noqa: E402
from pypi_witness.runtime.writer import LogWriter  # noqa: E402
from tests.rpc.support import record  # noqa: E402

BATCH = 20


async def append_forever(writer: LogWriter) -> None:
    size = (await writer.publish()).checkpoint.size
    while True:
        size = (await writer.append([record(i) for i in range(size, size + BATCH)])).new_size
        print(f"acked {size}", flush=True)


if __name__ == "__main__":
    sys.exit(serve_main(Path(sys.argv[1]), sources=[append_forever]))
