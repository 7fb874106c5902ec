"""Key files: creating, writing (mode 0600) and reading signer and verifier keys.

A private key file holds one line, the Go-compatible ``PRIVATE+KEY+...`` string;
a verifier key file holds one ``name+hexid+base64`` line. Reading refuses a
private key file that other users can read, as ssh does.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pypi_witness.bounded_file import read_bounded
from pypi_witness.core.tlog.note import ALG_ED25519, Signer, Verifier
from pypi_witness.core.errors import ConfigError, NoteError

# The largest key file read: one line of a few hundred bytes.
MAX_KEY_FILE_BYTES = 64 << 10


def generate_signer(name: str, alg: int = ALG_ED25519) -> Signer:
    """A new signer named ``name`` from 32 bytes of the OS's randomness. NoteError for a bad name."""
    return Signer.from_seed(name, os.urandom(32), alg)


def write_private_key(path: Path, signer: Signer) -> None:
    """Write ``signer`` to a new file ``path`` readable only by its owner.

    Raises ConfigError if the file already exists (keys are never overwritten)
    or cannot be written.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"key file {path} already exists; refusing to overwrite a key") from None
    except OSError as e:
        raise ConfigError(f"cannot create key file {path}: {e.strerror}") from None
    with os.fdopen(fd, "w") as f:
        f.write(signer.skey() + "\n")
        f.flush()
        os.fsync(f.fileno())


def write_verifier_key(path: Path, verifier: Verifier) -> None:
    """Write the public verifier key string to ``path`` (mode 0644). ConfigError on failure."""
    try:
        path.write_text(verifier.vkey() + "\n")
    except OSError as e:
        raise ConfigError(f"cannot write {path}: {e.strerror}") from None


def _read_line(path: Path, what: str) -> str:
    if not path.exists():
        raise ConfigError(f"{what} file {path} does not exist")
    data = read_bounded(path, MAX_KEY_FILE_BYTES, f"{what} file", ConfigError)
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError as e:
        raise ConfigError(f"cannot read {what} file {path}: {e}") from None


def read_signer(path: Path) -> Signer:
    """The signer in private key file ``path``.

    Raises ConfigError if the file is missing, unreadable, readable by group or
    others, or does not hold a valid private key string.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"private key file {path} does not exist") from None
    except OSError as e:
        raise ConfigError(f"cannot read private key file {path}: {e.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"private key file {path} is accessible by others (mode {mode & 0o777:o}); chmod 600 it")
    try:
        return Signer.from_skey(_read_line(path, "private key"))
    except NoteError as e:
        raise ConfigError(f"private key file {path}: {e}") from None


def read_verifier(text_or_path: str) -> Verifier:
    """A verifier from a ``name+hexid+base64`` string, or from a file holding one.

    Raises ConfigError if neither parses.
    """
    if "+" in text_or_path and not Path(text_or_path).exists():
        try:
            return Verifier.from_vkey(text_or_path.strip())
        except NoteError as e:
            raise ConfigError(f"verifier key: {e}") from None
    path = Path(text_or_path)
    try:
        return Verifier.from_vkey(_read_line(path, "verifier key"))
    except NoteError as e:
        raise ConfigError(f"verifier key file {path}: {e}") from None
