"""The committed generated code is exactly what scripts/gen_proto.py makes from proto/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "src" / "pypi_witness" / "rpc" / "gen"


def files_under(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_regenerating_changes_nothing(tmp_path):
    out = tmp_path / "gen"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_proto.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    fresh, committed = files_under(out), files_under(COMMITTED)
    assert sorted(fresh) == sorted(committed), "run: python scripts/gen_proto.py"
    changed = [name for name in fresh if fresh[name] != committed[name]]
    assert not changed, f"{changed} differ from proto/; run: python scripts/gen_proto.py"


def test_generated_modules_import_from_inside_the_package():
    from pypi_witness.rpc.gen.v1 import log_pb2, log_pb2_grpc

    assert log_pb2.DESCRIPTOR.name == "pypi_witness/v1/log.proto"
    assert log_pb2_grpc.LogServiceStub is not None
