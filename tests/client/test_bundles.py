"""``pypi-witness proof`` writes a tlog-proof bundle; ``verify`` checks bundles offline and refuses tampered ones."""

from __future__ import annotations

import base64

import pytest

from pypi_witness.core.records.format import format_record
from pypi_witness.core.quorum.tlogproof import TlogProof, format_tlog_proof, parse_tlog_proof
from tests.client.conftest import FILES, LOCAL_CONTENT, local_record
from tests.client.support import one_error_line, run
from tests.factories import record


@pytest.fixture(scope="module")
def bundle(federation, tmp_path_factory):
    """A bundle for the local file, from alpha (cosigned by beta and gamma)."""
    out = tmp_path_factory.mktemp("bundles") / "localpkg-1.0.tar.gz.tlog-proof"
    result = run(
        "proof", local_record().filename, "--node", federation.addresses["alpha"],
        "--vkey", federation.logs["alpha"].vkey(), "--out", out, "--json", code=0,
    )  # fmt: skip
    assert result.objects() == [
        {"out": str(out), "filename": local_record().filename, "sha256": local_record().sha256,
         "size": len(LOCAL_CONTENT)}
    ]  # fmt: skip
    return out


@pytest.fixture
def dist(tmp_path):
    path = tmp_path / local_record().filename
    path.write_bytes(LOCAL_CONTENT)
    return path


def test_the_bundle_is_a_tlog_proof_carrying_the_entry(bundle, federation):
    parsed = parse_tlog_proof(bundle.read_bytes())
    assert parsed.extra == format_record(local_record())
    assert parsed.index == FILES.index(local_record())
    assert b"\n\xe2\x80\x94 beta.test/log/witness " in parsed.checkpoint  # the cosignatures came along


def test_a_bundle_verifies_offline_with_the_file_or_its_hash(bundle, dist, federation):
    run("verify", "--policy", federation.policy, bundle, dist, code=0)
    run("verify", "--policy", federation.policy, bundle, "--sha256", local_record().sha256, code=0)
    result = run("verify", "--json", "--policy", federation.policy, bundle, "--sha256", "0" * 64, code=3)
    assert result.objects()[0]["status"] == "MISMATCH"
    other = dist.parent / "other-1.0.tar.gz"
    other.write_bytes(b"x")
    result = run("verify", "--json", "--policy", federation.policy, bundle, other, code=4)
    assert result.objects()[0]["status"] == "UNKNOWN"


def test_a_swapped_file_fails_against_its_bundle(bundle, dist, federation):
    dist.write_bytes(LOCAL_CONTENT + b"appended")
    run("verify", "--policy", federation.policy, bundle, dist, code=3)


def _tampered(bundle_bytes: bytes) -> dict[str, bytes]:
    b = parse_tlog_proof(bundle_bytes)
    swapped_entry = format_record(record(0, "evil", project="localpkg"))
    flipped = bytes([b.proof[0][0] ^ 1]) + b.proof[0][1:]
    cp = b.checkpoint.decode()
    lines = cp.split("\n")
    lines[1] = str(int(lines[1]) + 1)
    return {
        "entry": format_tlog_proof(TlogProof(b.index, b.proof, b.checkpoint, swapped_entry)),
        "index": format_tlog_proof(TlogProof(b.index + 1, b.proof, b.checkpoint, b.extra)),
        "proof": format_tlog_proof(TlogProof(b.index, (flipped, *b.proof[1:]), b.checkpoint, b.extra)),
        "checkpoint size": format_tlog_proof(TlogProof(b.index, b.proof, "\n".join(lines).encode(), b.extra)),
        "cosignatures removed": format_tlog_proof(
            TlogProof(b.index, b.proof, b"".join(x + b"\n" for x in b.checkpoint.split(b"\n")[:5]), b.extra)
        ),
        "no entry": format_tlog_proof(TlogProof(b.index, b.proof, b.checkpoint, None)),
        "malformed": bundle_bytes.replace(base64.b64encode(b.proof[0]), b"!!notbase64!!"),
    }


def test_tampered_bundles_are_refused_with_exit_3(bundle, dist, federation, tmp_path):
    for name, data in _tampered(bundle.read_bytes()).items():
        path = tmp_path / f"{name.replace(' ', '-')}.tlog-proof"
        path.write_bytes(data)
        result = run("verify", "--policy", federation.policy, path, dist, code=3)
        line = [x for x in result.err.splitlines() if " warning: " not in x]
        assert len(line) == 1 and line[0].startswith("pypi-witness: verification failed: bundle"), (name, result.err)


def test_proof_of_an_unlogged_file_is_an_error(federation, tmp_path):
    result = run(
        "proof", "nothing-1.0.tar.gz", "--node", federation.addresses["alpha"],
        "--vkey", federation.logs["alpha"].vkey(), "--out", tmp_path / "x.tlog-proof", code=1,
    )  # fmt: skip
    assert "nothing-1.0.tar.gz is not in the log" in one_error_line(result)
    assert not (tmp_path / "x.tlog-proof").exists()


def test_bundles_and_nodes_do_not_mix(bundle, dist, federation):
    result = run("verify", "--policy", federation.policy, "--node", federation.addresses["alpha"], bundle, dist, code=1)
    assert "checked offline" in one_error_line(result)
