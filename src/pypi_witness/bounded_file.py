"""Reading a file someone named on the command line, bounded in size.

Every file a client command reads because a user (or a file the user named)
pointed at it goes through :func:`read_bounded`: requirements files and their
``-r`` includes, lock files, policy files, verifier keys, tlog-proof bundles,
the client's state, TLS certificates. Only a regular file is read, so
``/dev/zero``, ``/dev/stdin``, a FIFO or a socket is refused before anything is
read (reading one could never end, or never start); and at most ``limit + 1``
bytes are read, so a file over its cap is refused without holding more.

The caps are chosen per kind of file by the caller and named in the message.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pypi_witness.core.errors import MalformedError


def read_bounded(
    path: Path | str, limit: int, what: str, error: type[MalformedError] = MalformedError
) -> bytes:
    """The bytes of the regular file at ``path``, if it holds at most ``limit`` bytes.

    Raises ``error`` (MalformedError or a subclass such as ConfigError), one
    line naming ``path`` and ``what`` it should have been, if the file does
    not exist, is a directory, is not a regular file (a device, FIFO or
    socket), cannot be read, or holds more than ``limit`` bytes.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise error(f"{path}: is a directory, not a {what}")
        if not stat.S_ISREG(mode):
            raise error(f"{path}: not a regular file (a device, pipe or socket), so not a {what}")
        # O_NONBLOCK: should the path have become a FIFO since the check, opening it does not wait.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except NotADirectoryError:
        raise error(f"{path}: no such {what} (a part of the path is not a directory)") from None
    except OSError as e:
        raise error(f"{path}: cannot read the {what}: {e.strerror or e}") from None
    if len(data) > limit:
        raise error(f"{path}: larger than {limit:,} bytes, too large for a {what}")
    return data
