"""``pypi-witness serve`` (a real process) refuses a damaged data directory with one line and signs nothing.

Item 3 and 4 of issue 11: an emptied or deleted ``log/data.mdb`` made ``serve``
start a new empty log and sign a size-0 checkpoint with the old key; a
truncated one made it die of SIGBUS on the first proof. Here each damage is
made to a copy of a log, ``serve`` is run on it, and it must exit 1 with one
error line, before listening, with the last signed checkpoint (``log.signed``)
and whatever is left of the store unchanged.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pypi_witness.signing.log import LAST_SIGNED_FILE, STORE_DIR, open_log
from tests.factories import record
from tests.rpc.support import ORIGIN


def _damage_empty(data: Path) -> None:
    os.truncate(data / STORE_DIR / "data.mdb", 0)


def _damage_delete(data: Path) -> None:
    (data / STORE_DIR / "data.mdb").unlink()


def _damage_delete_store(data: Path) -> None:
    shutil.rmtree(data / STORE_DIR)


def _truncate(kept: float):
    def damage(data: Path) -> None:
        path = data / STORE_DIR / "data.mdb"
        os.truncate(path, int(path.stat().st_size * kept))

    return damage


def _restore_older(data: Path) -> None:
    shutil.rmtree(data / STORE_DIR)
    shutil.copytree(data.parent / "older", data / STORE_DIR)


DAMAGES = {
    "emptied": (_damage_empty, "data.mdb is empty"),
    "deleted": (_damage_delete, "data.mdb is missing"),
    "store-deleted": (_damage_delete_store, f"its store {{data}}/{STORE_DIR} is missing"),
    "truncated-50": (_truncate(0.5), "data.mdb is truncated"),
    "truncated-90": (_truncate(0.9), "data.mdb is truncated"),
    "truncated-99.9": (_truncate(0.999), "data.mdb is truncated"),
    "older-backup": (_restore_older, "the log holds 200 entries, but its key already signed a checkpoint of size 500"),
}


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_serve_refuses_a_damaged_log_and_signs_nothing(data_dir, tmp_path, damage):
    shutil.copytree(data_dir / STORE_DIR, tmp_path / "older")  # a backup at the sample's 200 entries
    log = open_log(data_dir)
    log.append([record(i) for i in range(300)])
    log.publish()  # the key has signed 500
    log.append([record(i) for i in range(300, 400)])  # the last commit writes the file's last pages
    log.close()
    make, expected = DAMAGES[damage]
    make(data_dir)
    signed_before = (data_dir / LAST_SIGNED_FILE).read_bytes()
    store_before = digest(data_dir / STORE_DIR / "data.mdb")
    config = tmp_path / "node.toml"
    config.write_text(f'[node]\ndata_dir = "{data_dir}"\nlisten = "127.0.0.1:0"\norigin = "{ORIGIN}"\n')
    result = subprocess.run(
        [sys.executable, "-m", "pypi_witness.cli", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, (result.returncode, result.stderr)  # not -7 (SIGBUS), not 0
    assert "Traceback" not in result.stderr and "serving" not in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("pypi-witness: error:")]
    assert len(errors) == 1, result.stderr
    assert expected.format(data=data_dir) in errors[0]
    assert "nothing was signed" in errors[0].lower()
    assert "restore" in errors[0] and "from a backup" in errors[0]
    assert (data_dir / LAST_SIGNED_FILE).read_bytes() == signed_before
    assert digest(data_dir / STORE_DIR / "data.mdb") == store_before  # not written, not made anew
