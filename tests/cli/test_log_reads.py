"""``pypi-witness log`` checkpoint, vkey, entries, lookup and proofs, and directories without a log."""

from __future__ import annotations

import base64
import json
import pytest
from pypi_witness.core.tlog import merkle
from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint
from pypi_witness.core.tlog.note import Verifier
from pypi_witness.core.errors import ProofError
from tests.factories import generated_lines
from tests.cli.support import FIRST_SAMPLE_LEAF, ORIGIN, SAMPLE, b64, cli, filename_of, import_json, init, query, root_of, store_size


# --- log: checkpoint, vkey, entries -------------------------------------------------


def test_log_checkpoint_human_is_the_note_verbatim(sample_log, sample_leaves):
    data, vkey = sample_log
    note = cli("log", "checkpoint", "--data", data).out
    signed = open_checkpoint(note.encode(), Verifier.from_vkey(vkey))
    assert (signed.checkpoint.size, signed.checkpoint.root_hash) == (200, root_of(sample_leaves))
    assert note.startswith(f"{ORIGIN}\n200\n{base64.b64encode(root_of(sample_leaves)).decode()}\n\n\u2014 {ORIGIN} ")


def test_log_checkpoint_json_fields(sample_log, sample_leaves):
    data, vkey = sample_log
    out = query("log", "checkpoint", "--data", data, "--json").json()
    assert set(out) == {"origin", "size", "root", "note"}
    assert (out["origin"], out["size"], b64(out["root"])) == (ORIGIN, 200, root_of(sample_leaves))
    assert out["note"] == query("log", "checkpoint", "--data", data).out
    open_checkpoint(out["note"].encode(), Verifier.from_vkey(vkey))


def test_log_vkey_human_and_json(sample_log):
    data, vkey = sample_log
    assert query("log", "vkey", "--data", data).out == vkey + "\n"
    assert query("log", "vkey", "--data", data, "--json").json() == {"vkey": vkey}
    assert (data / "log.vkey").read_text().strip() == vkey


@pytest.mark.parametrize("start, end", [(0, 1), (10, 15), (195, 200), (0, 200)])
def test_log_entries_json_lines(sample_log, sample_leaves, start, end):
    data, _ = sample_log
    out = query("log", "entries", start, end, "--data", data, "--json").out
    objects = [json.loads(line) for line in out.splitlines()]
    assert len(objects) == end - start
    for index, obj in enumerate(objects, start):
        assert set(obj) == {"index", "leaf"}
        assert obj["index"] == index
        assert b64(obj["leaf"]) == sample_leaves[index]
    if start == 0:
        assert b64(objects[0]["leaf"]) == FIRST_SAMPLE_LEAF


def test_log_entries_human_shows_each_leaf_verbatim(sample_log, sample_leaves):
    data, _ = sample_log
    out = query("log", "entries", "10", "13", "--data", data).out
    assert out == "".join(f"# entry {i}\n{sample_leaves[i].decode()}" for i in range(10, 13))


def test_log_entries_of_an_empty_range_print_nothing(sample_log):
    data, _ = sample_log
    assert query("log", "entries", "7", "7", "--data", data, "--json").out == ""


# --- log: lookup --------------------------------------------------------------------


def test_log_lookup_finds_a_file_with_a_verified_proof(sample_log, sample_lines, sample_leaves):
    data, vkey = sample_log
    name = filename_of(sample_lines[42])
    human = query("log", "lookup", name, "--data", data).out
    assert "entry 42 of 200" in human
    assert sample_leaves[42].decode() in human
    assert "CONFLICT" not in human

    out = query("log", "lookup", name, "--data", data, "--json").json()
    assert out["filename"] == name and out["conflicts"] == []
    root = open_checkpoint(out["checkpoint"].encode(), Verifier.from_vkey(vkey)).checkpoint.root_hash
    assert root == root_of(sample_leaves)
    [entry] = out["entries"]
    assert (entry["index"], entry["size"], b64(entry["leaf"])) == (42, 200, sample_leaves[42])
    assert b64(entry["leaf_hash"]) == merkle.leaf_hash(sample_leaves[42])
    merkle.verify_inclusion(b64(entry["leaf_hash"]), 42, 200, [b64(p) for p in entry["proof"]], root)


def test_log_lookup_of_an_unknown_file_fails(sample_log):
    data, _ = sample_log
    run = query("log", "lookup", "nothing-1.0.tar.gz", "--data", data, code=1)
    assert "nothing-1.0.tar.gz" in run.err


def _conflicting(line: bytes) -> bytes:
    row = json.loads(line)
    row["sha256_digest"] = "f" * 64
    return json.dumps(row).encode() + b"\n"


def test_log_lookup_reports_a_conflict(tmp_path, sample_lines):
    data = tmp_path / "node"
    init(data)
    cli("import", "--data", data, str(SAMPLE))
    (tmp_path / "swap.jsonl").write_bytes(_conflicting(sample_lines[0]))
    out = import_json(data, tmp_path / "swap.jsonl")
    assert (out["appended"], out["conflicts"], out["size"]) == (1, 1, 201)
    again = import_json(data, tmp_path / "swap.jsonl")  # the swapped file is now known too
    assert (again["appended"], again["duplicates"], again["conflicts"]) == (0, 1, 0)

    name = filename_of(sample_lines[0])
    found = query("log", "lookup", name, "--data", data, "--json").json()
    assert [e["index"] for e in found["entries"]] == [0, 200]
    assert found["conflicts"] == [{"index": 200, "earlier_index": 0}]
    human = query("log", "lookup", name, "--data", data).out
    assert f"CONFLICT: entry 200 logs {name} with other hashes than entry 0" in human


def test_log_lookup_reports_a_conflict_logged_after_other_files_conflicts(tmp_path, sample_lines):
    data = tmp_path / "node"
    init(data)
    cli("import", "--data", data, str(SAMPLE))
    # Swapped versions of files 1 and 3 are logged (as conflicts 200, 201) before file 0's (202).
    swaps = [_conflicting(sample_lines[i]) for i in (1, 3, 0)]
    (tmp_path / "swap.jsonl").write_bytes(b"".join(swaps))
    assert import_json(data, tmp_path / "swap.jsonl")["conflicts"] == 3

    name = filename_of(sample_lines[0])
    found = query("log", "lookup", name, "--data", data, "--json").json()
    assert [e["index"] for e in found["entries"]] == [0, 202]
    assert found["conflicts"] == [{"index": 202, "earlier_index": 0}]


# --- log: proofs --------------------------------------------------------------------


@pytest.mark.parametrize("index, size", [(0, None), (57, None), (199, None), (0, 1), (57, 100), (99, 100), (127, 128)])
def test_log_proof_inclusion_json_verifies_independently(sample_log, sample_leaves, index, size):
    data, _ = sample_log
    args = ["log", "proof", "inclusion", index, "--data", data, "--json"]
    if size is not None:
        args += ["--size", size]
    out = query(*args).json()
    assert set(out) == {"index", "size", "leaf_hash", "proof", "root"}
    expected_size = 200 if size is None else size
    assert (out["index"], out["size"]) == (index, expected_size)
    leaf_hash, root = b64(out["leaf_hash"]), b64(out["root"])
    proof = [b64(p) for p in out["proof"]]
    assert leaf_hash == merkle.leaf_hash(sample_leaves[index])
    assert root == root_of(sample_leaves[:expected_size])
    merkle.verify_inclusion(leaf_hash, index, expected_size, proof, root)
    if proof:  # the proof is not vacuous: a corrupted element fails
        with pytest.raises(ProofError):
            merkle.verify_inclusion(leaf_hash, index, expected_size, [bytes(32)] + proof[1:], root)


def test_log_proof_inclusion_human(sample_log, sample_leaves):
    data, _ = sample_log
    out = query("log", "proof", "inclusion", "57", "--data", data).out.splitlines()
    assert out[:4] == [
        "index 57",
        "size 200",
        f"leaf_hash {base64.b64encode(merkle.leaf_hash(sample_leaves[57])).decode()}",
        f"root {base64.b64encode(root_of(sample_leaves)).decode()}",
    ]
    proof = [b64(line.removeprefix("proof ")) for line in out[4:]]
    assert all(line.startswith("proof ") for line in out[4:]) and proof
    merkle.verify_inclusion(merkle.leaf_hash(sample_leaves[57]), 57, 200, proof, root_of(sample_leaves))


@pytest.mark.parametrize(
    "old, new", [(0, 200), (1, 200), (57, 200), (64, 128), (100, 150), (199, 200), (200, 200), (0, 0)]
)
def test_log_proof_consistency_json_verifies_independently(sample_log, sample_leaves, old, new):
    data, _ = sample_log
    out = query("log", "proof", "consistency", old, new, "--data", data, "--json").json()
    assert set(out) == {"old", "new", "old_root", "new_root", "proof"}
    assert (out["old"], out["new"]) == (old, new)
    old_root, new_root = b64(out["old_root"]), b64(out["new_root"])
    proof = [b64(p) for p in out["proof"]]
    assert old_root == root_of(sample_leaves[:old])
    assert new_root == root_of(sample_leaves[:new])
    merkle.verify_consistency(old, new, old_root, new_root, proof)
    if proof:
        with pytest.raises(ProofError):
            merkle.verify_consistency(old, new, old_root, new_root, proof[:-1] + [bytes(32)])


def test_log_proof_consistency_human(sample_log, sample_leaves):
    data, _ = sample_log
    out = query("log", "proof", "consistency", "57", "200", "--data", data).out.splitlines()
    old_root, new_root = root_of(sample_leaves[:57]), root_of(sample_leaves)
    assert out[:4] == [
        "old 57",
        "new 200",
        f"old_root {base64.b64encode(old_root).decode()}",
        f"new_root {base64.b64encode(new_root).decode()}",
    ]
    proof = [b64(line.removeprefix("proof ")) for line in out[4:]]
    merkle.verify_consistency(57, 200, old_root, new_root, proof)


@pytest.mark.parametrize(
    "args",
    [
        ["proof", "inclusion", "200"],
        ["proof", "inclusion", "5", "--size", "5"],
        ["proof", "inclusion", "0", "--size", "0"],
        ["proof", "inclusion", "0", "--size", "201"],
        ["proof", "consistency", "150", "100"],
        ["proof", "consistency", "0", "201"],
        ["proof", "consistency", "201", "201"],
        ["entries", "0", "201"],
        ["entries", "5", "4"],
        ["entries", "300", "301"],
    ],
    ids=lambda a: " ".join(a),
)
def test_log_out_of_range_fails_in_one_line(sample_log, args):
    data, _ = sample_log
    query("log", *args, "--data", data, code=1)
    query("log", *args, "--data", data, "--json", code=1)


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["log"],
        ["log", "proof"],
        ["log", "proof", "inclusion", "abc"],
        ["log", "proof", "inclusion", "-1"],
        ["log", "proof", "inclusion", "1", "--size", "-3"],
        ["log", "proof", "inclusion", "1", "--size", "ten"],
        ["log", "proof", "consistency", "x", "5"],
        ["log", "proof", "consistency", "1", "-2"],
        ["log", "proof", "consistency", "1"],
        ["log", "entries", "-1", "5"],
        ["log", "entries", "0", "1.5"],
        ["import", "FILE", "--batch-size", "0"],
        ["import", "FILE", "--batch-size", "many"],
        ["import", "FILE", "--workers", "-1"],
    ],
    ids=lambda a: " ".join(a) or "nothing",
)
def test_malformed_command_lines_exit_2(sample_log, args):
    data, _ = sample_log
    with_data = args + ["--data", str(data)] if len(args) > 1 else args
    run = query(*with_data, code=2)
    assert run.out == ""


# --- data directories without a log, or with an exposed key -------------------------

LOG_COMMANDS = [
    ["checkpoint"],
    ["vkey"],
    ["entries", "0", "0"],
    ["lookup", "x.whl"],
    ["proof", "inclusion", "0"],
    ["proof", "consistency", "0", "0"],
]


@pytest.mark.parametrize("args", LOG_COMMANDS, ids=lambda a: " ".join(a))
def test_log_commands_on_a_directory_without_a_log(tmp_path, args):
    (tmp_path / "empty").mkdir()
    for run_it, data in ((query, tmp_path / "empty"), (cli, tmp_path / "missing")):
        run = run_it("log", *args, "--data", data, code=1)
        assert "init" in run.err and str(data) in run.err
    assert not (tmp_path / "missing").exists()


def test_import_into_a_directory_without_a_log(tmp_path):
    run = cli("import", "--data", tmp_path / "missing", str(SAMPLE), code=1)
    assert "init" in run.err
    assert not (tmp_path / "missing").exists()


def test_exposed_private_key_blocks_import_but_not_reads(tmp_path, sample_lines):
    data = tmp_path / "node"
    init(data)
    cli("import", "--data", data, str(SAMPLE))
    (data / "log.key").chmod(0o644)

    run = cli("import", "--data", data, str(SAMPLE), code=1)
    assert "chmod" in run.err and "log.key" in run.err
    (tmp_path / "more.jsonl").write_bytes(b"".join(generated_lines(10, seed=9)))
    cli("import", "--data", data, tmp_path / "more.jsonl", code=1)
    assert store_size(data) == 200

    for args in (*LOG_COMMANDS[:3], ["entries", "0", "3"], ["lookup", filename_of(sample_lines[3])],
                 ["proof", "inclusion", "3"], ["proof", "consistency", "3", "200"]):  # fmt: skip
        cli("log", *args, "--data", data)

    (data / "log.key").chmod(0o600)
    assert import_json(data, tmp_path / "more.jsonl")["size"] == 210
