"""Readers that die mid-read: ``python dying_readers.py STORE COUNT BATCH MAX_READERS ON_FULL``.

Forks COUNT reader processes, BATCH at a time. Each opens the LMDB store
read-only, begins a read transaction, reads, says so, and waits; once a whole
batch is reading, every one of it is killed with SIGKILL (inside its read
transaction, so its reader slot is never released). A reader that finds every
slot taken says so and exits; ON_FULL is ``wait`` (try it again after a short
pause, until someone reclaims the dead readers' slots) or ``stop`` (stop
there). Prints ``killed N full M`` at the end.

This process opens no LMDB environment itself, so forking it is safe
(DESIGN §5: no fork after LMDB objects exist).
"""

from __future__ import annotations

import os
import signal
import sys
import time

import lmdb


def _reader(path: str, max_readers: int, write_fd: int) -> None:
    """In the child: take a reader slot, read, report, and wait to be killed."""
    try:
        env = lmdb.open(path, readonly=True, max_readers=max_readers, max_dbs=8)
        txn = env.begin()
        txn.get(b"layout", db=env.open_db(b"meta", txn=txn, create=False))
    except lmdb.ReadersFullError:
        os.write(write_fd, b"F")
        os._exit(0)
    os.write(write_fd, b"R")
    time.sleep(60)
    os._exit(1)


def main(path: str, count: int, batch: int, max_readers: int, on_full: str) -> None:
    killed = full = 0
    while killed < count:
        children = []
        for _ in range(min(batch, count - killed)):
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read_fd)
                _reader(path, max_readers, write_fd)
            os.close(write_fd)
            children.append((pid, read_fd))
        waiting = False
        for pid, read_fd in children:
            said = os.read(read_fd, 1)
            os.close(read_fd)
            if said == b"R":
                os.kill(pid, signal.SIGKILL)  # mid-read: its slot stays taken
                killed += 1
            elif said == b"F":
                full += 1
                waiting = True
            else:
                sys.exit(f"reader {pid} failed before reading")
            os.waitpid(pid, 0)
        if waiting:
            if on_full == "stop":
                break
            time.sleep(0.05)
    print(f"killed {killed} full {full}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
