"""The read side of the HTTP face: tlog-checkpoint, tlog-tiles (served and exported), tlog-proof bundles."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import trio

from pypi_witness.client.bundles import bundle_answer
from pypi_witness.core.tlog import merkle
from pypi_witness.core.quorum.policy import parse_policy
from pypi_witness.core.records.format import format_record
from pypi_witness.core.tlog.tiles import parse_bundle
from pypi_witness.signing.log import init_log, open_log
from tests.factories import record
from tests.http.support import http_config, request, start_http_node
from tests.rpc.support import ORIGIN, sample_leaves, vkey_of

ENTRIES = 600  # two full level-0 tiles and a partial one of 88


@pytest.fixture
def big_log(tmp_path: Path) -> Path:
    data = tmp_path / "big"
    log = init_log(data, ORIGIN)
    try:
        log.append([record(i) for i in range(ENTRIES)])
        log.publish()
    finally:
        log.close()
    return data


async def test_checkpoint_and_tiles_of_a_small_log(nursery, data_dir):
    leaves = sample_leaves()
    log = open_log(data_dir, readonly=True)
    try:
        note = log.store.checkpoint()
    finally:
        log.close()
    _, base = await start_http_node(nursery, http_config(data_dir))

    reply = await request(base, "GET", "/checkpoint")
    assert (reply.status, reply.headers["content-type"], reply.body) == (200, "text/plain; charset=utf-8", note)
    assert reply.headers["cache-control"] == "public, max-age=5"

    reply = await request(base, "GET", f"/tile/0/000.p/{len(leaves)}")
    assert reply.status == 200 and reply.headers["content-type"] == "application/octet-stream"
    assert reply.body == b"".join(merkle.leaf_hash(x) for x in leaves)
    reply = await request(base, "GET", f"/tile/entries/000.p/{len(leaves)}")
    assert parse_bundle(reply.body) == leaves
    # An earlier checkpoint's partial tile is its prefix; tiles the tree does not hold are 404; bad paths 400.
    assert (await request(base, "GET", "/tile/0/000.p/7")).body == b"".join(merkle.leaf_hash(x) for x in leaves[:7])
    for missing in ("/tile/0/000", "/tile/0/000.p/201", "/tile/1/000.p/1", "/tile/entries/001.p/1", "/tile/0/x001/000"):
        assert (await request(base, "GET", missing)).status == 404, missing
    for bad in ("/tile/0/0", "/tile/00/000", "/tile/0/000.p/0", "/tile/0/000.p/256", "/tile/x/000"):
        assert (await request(base, "GET", bad)).status == 400, bad
    assert (await request(base, "GET", "/nothing")).status == 404
    assert (await request(base, "POST", "/checkpoint", b"")).status == 405


async def test_full_tiles_are_immutable_and_the_export_is_what_is_served(nursery, big_log, tmp_path):
    out = tmp_path / "static"
    _, base = await start_http_node(nursery, http_config(big_log, export_dir=out, export_seconds=0.05))
    hashes = [merkle.leaf_hash(format_record(record(i))) for i in range(ENTRIES)]

    reply = await request(base, "GET", "/tile/0/001")
    assert reply.body == b"".join(hashes[256:512])
    assert reply.headers["cache-control"] == "public, max-age=31536000, immutable"
    reply = await request(base, "GET", "/tile/1/000.p/2")
    assert reply.body == merkle.root_of(hashes[:256]) + merkle.root_of(hashes[256:512])
    assert reply.headers["cache-control"] == "public, max-age=5"
    assert parse_bundle((await request(base, "GET", "/tile/entries/001")).body) == [
        format_record(record(i)) for i in range(256, 512)
    ]

    with trio.fail_after(10):
        while not (out / "checkpoint").exists():
            await trio.sleep(0.05)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [
        "checkpoint", "tile/0/000", "tile/0/001", "tile/0/002.p/88", "tile/1/000.p/2",
        "tile/entries/000", "tile/entries/001", "tile/entries/002.p/88",
    ]  # fmt: skip
    for name in files:
        assert (out / name).read_bytes() == (await request(base, "GET", "/" + name)).body, name


async def test_a_proof_bundle_over_plain_http_verifies_offline(nursery, data_dir, tmp_path):
    config = http_config(data_dir, prefix="/pypi")
    _, base = await start_http_node(nursery, config)
    filename = record_filename(sample_leaves()[3])
    reply = await request(base, "GET", "/proof/" + filename)
    assert reply.status == 200
    bundle = tmp_path / "f.tlog-proof"
    bundle.write_bytes(reply.body)
    policy = parse_policy(f"log {vkey_of(data_dir)}\nquorum none\n".encode())
    answer = bundle_answer(bundle, policy)
    assert answer.trusted and filename in answer.statements
    assert (await request(base, "GET", "/proof/no-such-1.0.tar.gz")).status == 404
    assert (await request(base, "GET", "/proof/%ff")).status == 400
    # Everything lives under the prefix.
    assert (await request(base.removesuffix("/pypi"), "GET", "/checkpoint")).status == 404


def record_filename(leaf: bytes) -> str:
    from pypi_witness.core.records.format import parse_record

    return parse_record(leaf).filename


async def test_cli_export_matches_the_node(nursery, big_log, tmp_path):
    from pypi_witness.cli.main import main

    out = tmp_path / "exported"
    assert main(["tiles", "export", "--data", str(big_log), "--out", str(out)]) == 0
    assert main(["tiles", "export", "--data", str(big_log), "--out", str(out)]) == 0  # again: nothing new
    _, base = await start_http_node(nursery, http_config(big_log))
    for path in sorted(out.rglob("*")):
        if path.is_file() and path.name != "checkpoint":
            served = await request(base, "GET", "/" + path.relative_to(out).as_posix())
            assert served.body == path.read_bytes()
    assert hashlib.sha256((out / "checkpoint").read_bytes()).digest() == hashlib.sha256(
        (await request(base, "GET", "/checkpoint")).body
    ).digest()



async def test_entry_bundles_are_gzipped_when_the_client_accepts_it(nursery, big_log):
    import gzip

    _, base = await start_http_node(nursery, http_config(big_log))
    for path in ("/tile/entries/001", "/tile/entries/002.p/88", "/tile/entries/001"):  # full twice: cached
        plain = await request(base, "GET", path)
        assert "content-encoding" not in plain.headers and plain.headers["vary"] == "accept-encoding"
        packed = await request(base, "GET", path, headers=(("accept-encoding", "gzip, deflate"),))
        assert packed.headers["content-encoding"] == "gzip"
        assert gzip.decompress(packed.body) == plain.body and len(packed.body) < len(plain.body) / 2
        refused = await request(base, "GET", path, headers=(("accept-encoding", "gzip;q=0, identity"),))
        assert "content-encoding" not in refused.headers and refused.body == plain.body
    # Hash tiles are not compressed (random bytes do not shrink).
    tile = await request(base, "GET", "/tile/0/001", headers=(("accept-encoding", "gzip"),))
    assert "content-encoding" not in tile.headers
