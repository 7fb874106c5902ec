#!/usr/bin/env python3
"""Freeze Go's tlog tiles as test vectors: tests/vectors/go_tiles.json.

Go's checksum database (golang.org/x/mod/sumdb/tlog) computes tiles of height
8 with ``StoredHashes``, ``NewTiles`` and ``ReadTileData``: the same tiles
as C2SP tlog-tiles, whose paths differ only by Go's height segment
(``tile/8/L/N`` is tlog-tiles' ``tile/L/N``). This script gives Go the
leaves of a test log (``tests.factories.record(i)``, formatted), asks it for
every tile of trees of the sizes in SIZES, checks that this project's tiles
(``core.tlog.tiles`` over an LMDB store, as the node serves them) are the same
bytes, and writes Go's paths and SHA-256 digests. tests/core/tlog/test_interop_go_tiles.py
replays the check without Go.

Requirements (developer machine only): Go and golang.org/x/mod; on Debian
``apt-get install -y golang-go golang-golang-x-mod-dev``. Run from the
repository root with the project installed:

    python scripts/gen_tile_vectors.py [--gopath /usr/share/gocode] [--check]

``--check`` compares with the committed file instead of writing it. Any
disagreement is printed and the script exits 1 without writing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.factories and the test's own helpers

from pypi_witness.core.tlog.tiles import tiles_of  # noqa: E402
from tests.core.tlog.test_interop_go_tiles import SIZES, VECTORS, latest_partials, our_tiles, test_leaves  # noqa: E402

GO_SOURCE = ROOT / "scripts" / "interop" / "gotiles"


def go_tiles(gopath: str, leaves: list[bytes]) -> tuple[str, dict[str, list[dict]]]:
    go = shutil.which("go")
    if go is None:
        sys.exit("gen_tile_vectors: 'go' not found; install golang-go and golang-golang-x-mod-dev")
    with tempfile.TemporaryDirectory() as work:
        env = dict(os.environ, GOPATH=gopath, GO111MODULE="off", GOFLAGS="", GOPROXY="off",
                   GOCACHE=str(Path(work) / "cache"), CGO_ENABLED="0")  # fmt: skip
        binary = Path(work) / "gotiles"
        subprocess.run([go, "build", "-o", str(binary), "main.go"], cwd=GO_SOURCE, env=env, check=True)
        version = subprocess.run([go, "version"], env=env, check=True, capture_output=True, text=True).stdout.strip()
        data = b"".join(len(leaf).to_bytes(4, "big") + leaf for leaf in leaves)
        proc = subprocess.run([str(binary), *map(str, SIZES)], input=data, capture_output=True, env=env, check=False)
        if proc.returncode != 0:
            sys.exit(f"gen_tile_vectors: gotiles failed:\n{proc.stderr.decode()}")
    return version, json.loads(proc.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gopath", default="/usr/share/gocode", help="GOPATH holding golang.org/x/mod")
    parser.add_argument("--check", action="store_true", help="compare with the committed vectors; write nothing")
    args = parser.parse_args()
    leaves = test_leaves(max(SIZES))
    version, by_size = go_tiles(args.gopath, leaves)
    vectors = {"go": version, "sizes": {}}
    problems = []
    with tempfile.TemporaryDirectory() as work:
        ours = our_tiles(Path(work), leaves)
        for size in SIZES:
            go = [(t["path"].replace("tile/8/", "tile/", 1), t["bytes"], t["sha256"]) for t in by_size[str(size)]]
            mine = ours(size, [path for path, _, _ in go])
            if sorted(go) != sorted(mine):
                problems.append(f"size {size}: tiles differ from Go's: {sorted(set(go) ^ set(mine))[:3]}")
            listed = {t.path() for t in tiles_of(size)}
            if listed != latest_partials([path for path, _, _ in go]):
                problems.append(f"size {size}: tiles_of lists other tiles than Go's NewTiles (widest partials)")
            vectors["sizes"][str(size)] = [list(t) for t in sorted(go)]
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    text = json.dumps(vectors, indent=0, sort_keys=True) + "\n"
    if args.check:
        if VECTORS.read_text() != text:
            print(f"{VECTORS} differs from what Go computes now", file=sys.stderr)
            return 1
        print(f"{VECTORS} agrees with Go ({version})")
        return 0
    VECTORS.write_text(text)
    print(f"wrote {VECTORS}: {sum(len(v) for v in vectors['sizes'].values())} tiles at sizes {SIZES} ({version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
