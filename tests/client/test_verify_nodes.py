"""``pypi-witness verify`` against real node processes (see conftest: alpha, beta, gamma cosign each other)."""

from __future__ import annotations

import json
import shutil

from pypi_witness.core.tlog.checkpoint import Checkpoint, sign_checkpoint
from pypi_witness.signing.keys import read_signer
from tests.client.conftest import FILES, LIED_FILE, LIED_INDEX, LOCAL_CONTENT, local_record, logged_by
from tests.client.support import one_error_line, requirement, run
from tests.factories import record

GOOD = [f for f in FILES[:6]]
WRONG = "0" * 64


def nodes(fed, *names):
    return [x for n in (names or ("alpha", "beta", "gamma")) for x in ("--node", fed.addresses[n])]


def test_a_requirements_file_with_one_tampered_hash_flags_exactly_that_line(federation, tmp_path):
    inc = tmp_path / "more.txt"
    inc.write_text(requirement(GOOD[5]))
    req = tmp_path / "requirements.txt"
    req.write_text(
        "# locked\n--index-url https://pypi.org/simple\n"
        + "".join(requirement(f) for f in GOOD[:2])
        + f"{GOOD[2].project} @ https://files.example/{GOOD[2].filename} \\\n"
        f"    --hash=sha256:{WRONG} \\\n    --hash=sha256:{'1' * 64}  # a comment\n"
        + requirement(GOOD[3])
        + "-r more.txt\n"
    )
    result = run("verify", "--policy", federation.policy, *nodes(federation), req, code=3)
    statuses = {line.split()[1]: line.split()[0] for line in result.out.splitlines() if line[:1].isupper()}
    assert statuses == {
        f"{req}:3": "OK", f"{req}:4": "OK", f"{req}:5": "MISMATCH", f"{req}:8": "OK", f"{inc}:1": "OK",
    }  # fmt: skip
    # One line per requirement; the MISMATCH names every log's entry and the hash it logs.
    (line,) = [x for x in result.out.splitlines() if x.startswith("MISMATCH")]
    assert line.endswith(f"log sha256 {GOOD[2].sha256}")
    for name in ("alpha", "beta", "gamma"):
        assert f"{name}.test/log entry 2" in line


def test_json_output_is_one_object_per_file(federation, tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text(requirement(GOOD[0]) + requirement(GOOD[1], WRONG))
    result = run("verify", "--json", "--policy", federation.policy, *nodes(federation), req, code=3)
    first, second = result.objects()
    assert (first["filename"], first["status"]) == (GOOD[0].filename, "OK")
    assert (second["status"], second["expected"]["sha256"]) == ("MISMATCH", [WRONG])
    assert {(e["origin"], e["index"], e["sha256"]) for e in second["evidence"]} == {
        (f"{n}.test/log", 1, GOOD[1].sha256) for n in ("alpha", "beta", "gamma")
    }


def test_a_pylock_with_one_tampered_hash_flags_that_file(federation, tmp_path):
    lock = tmp_path / "pylock.toml"
    wheels = lambda fs, bad=None: ",\n".join(  # noqa: E731
        f'  {{ name = "{f.filename}", url = "https://files.example/{f.filename}", '
        f'hashes = {{ sha256 = "{WRONG if f is bad else f.sha256}" }} }}'
        for f in fs
    )
    lock.write_text(
        'lock-version = "1.0"\ncreated-by = "test"\n\n'
        f'[[packages]]\nname = "demo"\nversion = "1.0"\nwheels = [\n{wheels(GOOD[:3], GOOD[1])}\n]\n\n'
        f'[[packages]]\nname = "demo2"\nversion = "1.0"\nsdist = {{ url = "https://files.example/{GOOD[4].filename}", '
        f'hashes = {{ sha256 = "{GOOD[4].sha256}" }}, size = {GOOD[4].size} }}\n\n'
        '[[packages]]\nname = "fromgit"\nvcs = { type = "git", url = "https://x", commit-id = "abc" }\n'
    )
    result = run("verify", "--json", "--policy", federation.policy, *nodes(federation), lock, code=3)
    got = [(o["filename"], o["status"]) for o in result.objects()]
    assert got == [
        (GOOD[0].filename, "OK"), (GOOD[1].filename, "MISMATCH"), (GOOD[2].filename, "OK"),
        (GOOD[4].filename, "OK"), (None, "NOT_CHECKABLE"),
    ]  # fmt: skip


def test_files_not_in_the_log_are_unknown_and_exit_4(federation, tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text(
        requirement(GOOD[0])
        + "unlogged @ https://files.example/unlogged-9.9.tar.gz --hash=sha256:" + "2" * 64 + "\n"
        + "nohash @ https://files.example/nohash-1.0.tar.gz\n"
        + "named==1.0 --hash=sha256:" + "3" * 64 + "\n"
    )  # fmt: skip
    result = run("verify", "--json", "--policy", federation.policy, *nodes(federation), req, code=4)
    objects = result.objects()
    assert [o["status"] for o in objects] == ["OK", "UNKNOWN", "UNKNOWN", "UNKNOWN"]
    assert "not logged yet" in objects[1]["reason"]
    assert "no --hash" in objects[2]["reason"]
    assert "no file of named 1.0 logged yet" in objects[3]["reason"]


def test_a_local_file_is_hashed_and_every_hash_must_match(federation, tmp_path):
    good = tmp_path / local_record().filename
    good.write_bytes(LOCAL_CONTENT)
    run("verify", "--policy", federation.policy, *nodes(federation), good, code=0)
    swapped = tmp_path / "swapped" / local_record().filename
    swapped.parent.mkdir()
    swapped.write_bytes(LOCAL_CONTENT[:-1] + b"!")
    result = run("verify", "--json", "--policy", federation.policy, *nodes(federation), swapped, code=3)
    (obj,) = result.objects()
    assert obj["status"] == "MISMATCH" and obj["evidence"][0]["sha256"] == local_record().sha256


def test_a_checkpoint_without_the_quorum_decides_nothing(federation, tmp_path):
    # delta's log holds every file, but nobody cosigned its checkpoint.
    req = tmp_path / "requirements.txt"
    req.write_text(requirement(GOOD[0]) + requirement(GOOD[1], WRONG))
    result = run("verify", "--json", "--policy", federation.policy, *nodes(federation, "delta"), req, code=4)
    assert [o["status"] for o in result.objects()] == ["UNRESOLVED", "UNRESOLVED"]
    assert "NOT TRUSTED" in result.err and "quorum 'g' is not satisfied" in result.err
    # Trusting delta's key alone (quorum none) makes the same answers count.
    run("verify", "--vkey", federation.logs["delta"].vkey(), *nodes(federation, "delta"), req, code=3)


def test_a_quorum_of_nodes_overrules_the_one_that_disagrees(federation, tmp_path):
    req = tmp_path / "requirements.txt"
    lie = record(LIED_INDEX, "lie").sha256
    req.write_text(requirement(LIED_FILE))
    result = run("verify", "--json", "--policy", federation.policy, *nodes(federation), req, code=0)
    (obj,) = result.objects()
    assert obj["status"] == "OK" and f"overruled: gamma.test/log (sha256 {lie})" in obj["reason"]
    assert [(e["origin"], e["sha256"]) for e in obj["overruled"]] == [("gamma.test/log", lie)]
    assert {e["origin"] for e in obj["evidence"]} == {"alpha.test/log", "beta.test/log"}
    text = run("verify", "--policy", federation.policy, *nodes(federation), req, code=0)
    (line,) = [x for x in text.out.splitlines() if x.startswith("OK")]
    assert f"overruled: gamma.test/log (sha256 {lie})" in line
    # Expecting the liar's hash: the quorum's hash makes it a MISMATCH that names the liar.
    req.write_text(requirement(LIED_FILE, lie))
    (obj,) = run("verify", "--json", "--policy", federation.policy, *nodes(federation), req, code=3).objects()
    assert obj["status"] == "MISMATCH" and "a quorum" in obj["reason"] and "overruled: gamma.test/log" in obj["reason"]
    # Asking only the liar: its quorum-backed answer is a MISMATCH with its evidence.
    req.write_text(requirement(LIED_FILE))
    run("verify", "--policy", federation.policy, *nodes(federation, "gamma"), req, code=3)


def test_nodes_that_disagree_without_a_quorum_to_settle_it_leave_a_file_unresolved(federation, tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text(requirement(LIED_FILE))
    keys = ["--vkey", federation.logs["alpha"].vkey(), "--vkey", federation.logs["gamma"].vkey()]
    result = run("verify", "--json", *keys, *nodes(federation, "alpha", "gamma"), req, code=4)
    (obj,) = result.objects()
    assert obj["status"] == "UNRESOLVED" and "disagree" in obj["reason"] and obj["overruled"] == []
    assert {e["origin"] for e in obj["evidence"] if e["sha256"] != LIED_FILE.sha256} == {"gamma.test/log"}


def test_rollback_and_split_view_against_the_state_are_refused(federation, tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text(requirement(GOOD[0]))
    state = tmp_path / "state"
    alpha = federation.logs["alpha"]
    run("verify", "--vkey", alpha.vkey(), "--state", state, *nodes(federation, "alpha"), req, code=0)
    (stored,) = state.iterdir()
    # The state now claims a bigger tree: the node's real checkpoint is a rollback.
    signer = read_signer(federation.root / "alpha" / "log.key")
    bigger = sign_checkpoint(Checkpoint(alpha.name, len(logged_by("alpha")) + 5, b"\x01" * 32), signer)
    stored.write_bytes(bigger)
    result = run("verify", "--vkey", alpha.vkey(), "--state", state, *nodes(federation, "alpha"), req, code=3)
    assert "FAILED VERIFICATION: rollback" in result.out
    # Same size, another root: a split view.
    stored.write_bytes(sign_checkpoint(Checkpoint(alpha.name, len(logged_by("alpha")), b"\x02" * 32), signer))
    result = run("verify", "--vkey", alpha.vkey(), "--state", state, *nodes(federation, "alpha"), req, code=3)
    assert "FAILED VERIFICATION: split view" in result.out
    shutil.rmtree(state)


def test_an_unreachable_node_is_reported_and_the_others_decide(federation, tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text(requirement(GOOD[0]))
    dead = ["--node", "127.0.0.1:1"]
    result = run("verify", "--timeout", "5", "--policy", federation.policy, *nodes(federation, "alpha"), *dead, req, code=0)
    assert "node 127.0.0.1:1: unavailable" in result.out
    result = run("verify", "--timeout", "5", "--policy", federation.policy, *dead, req, code=1)
    assert "no node answered" in one_error_line(result)


def test_malformed_inputs_get_one_error_line_and_exit_1(federation, tmp_path):
    policy, good = federation.policy, tmp_path / "requirements.txt"
    good.write_text(requirement(GOOD[0]))
    cases = {
        "requirements.txt": ("demo @ https://x/demo.whl --hash=sha256:abc\n", "is not sha256:<64 hex digits>"),
        "r2.txt": ("--bogus-option\n", "unknown option --bogus-option"),
        "r3.txt": ("-r missing.txt\n", "missing.txt: no such requirements file"),
        "pylock.toml": ("lock-version = \n", "not a valid TOML lock file"),
        "pylock.x.toml": ('lock-version = "1.0"\n[[packages]]\nname = "a"\nwheels = [{ url = "https://x/a.whl" }]\n',
                          "has no hashes table"),
    }  # fmt: skip
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        result = run("verify", "--policy", policy, *nodes(federation, "alpha"), tmp_path / name, code=1)
        assert message in one_error_line(result), (name, result.err)
    bad_policy = tmp_path / "policy.txt"
    bad_policy.write_text("log not-a-key\nquorum none\n")
    result = run("verify", "--policy", bad_policy, *nodes(federation, "alpha"), good, code=1)
    assert "line 1: log key is not a valid vkey" in one_error_line(result)
    missing = tmp_path / "nothing-1.0-py3-none-any.whl"
    result = run("verify", "--policy", policy, *nodes(federation, "alpha"), missing, code=1)
    assert "no such file" in one_error_line(result)
    result = run("verify", *nodes(federation, "alpha"), good, code=1)
    assert "give --policy" in one_error_line(result)


def test_verify_help_documents_the_exit_codes():
    result = run("verify", "--help", code=0)
    assert "0 all OK (or NOT_CHECKABLE); 3 a MISMATCH" in result.out and "4 otherwise" in json.dumps(result.out)


def test_pinned_name_version_lines_are_checked_against_the_files_logged_for_the_release(federation, tmp_path):
    # pip-compile --generate-hashes writes "name==version --hash=..." lines: no filename, a release.
    req = tmp_path / "requirements.txt"
    req.write_text(
        f"{GOOD[0].project}=={GOOD[0].version} \\\n    --hash=sha256:{GOOD[0].sha256}\n"
        f"Demo[extra]=={GOOD[1].version} --hash=sha256:{GOOD[1].sha256} --hash=sha256:{WRONG}\n"
        f"{GOOD[2].project}=={GOOD[2].version} --hash=sha256:{GOOD[2].sha256}  # fine\n"
        f"{GOOD[3].project}==99.0 --hash=sha256:{GOOD[3].sha256}\n"
    )
    result = run("verify", "--json", "--policy", federation.policy, *nodes(federation), req, code=4)
    objects = result.objects()
    # A hash that is no logged file of the release may be a file not logged yet: UNKNOWN, not MISMATCH.
    assert [o["status"] for o in objects] == ["OK", "UNKNOWN", "OK", "UNKNOWN"]
    assert objects[0]["release"] == {"name": "demo", "version": GOOD[0].version}
    assert objects[0]["hashes"] == [
        {"sha256": GOOD[0].sha256, "where": f"{req}:2", "status": "OK", "filename": GOOD[0].filename}
    ]
    # Exactly the unknown hash is named, with its line: the other one on that line is a logged file.
    assert f"sha256 {WRONG} ({req}:3) is no file logged for demo {GOOD[1].version} yet" in objects[1]["reason"]
    assert [h["status"] for h in objects[1]["hashes"]] == ["OK", "UNKNOWN"]
    assert "no file of demo 99.0 logged yet" in objects[3]["reason"]
