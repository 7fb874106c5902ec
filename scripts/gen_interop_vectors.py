#!/usr/bin/env python3
"""Freeze Go interop vectors: tests/vectors/go_tlog.json and tests/vectors/go_note.json.

Proves byte-for-byte interoperability of pypi_witness.core.{merkle,note,checkpoint}
with the Go checksum database packages golang.org/x/mod/sumdb/tlog and
golang.org/x/mod/sumdb/note, and freezes the evidence so CI (which has no Go)
can re-check it with tests/core/tlog/test_interop_go.py.

Steps:

1. Build scripts/interop/gotlog (our small Go oracle) against the system copy
   of golang.org/x/mod, in GOPATH mode with the network off. Nothing is
   downloaded.
2. ``gotlog tlog``: Go's roots, inclusion and consistency proofs and its
   CheckRecord / CheckTree verdicts on valid and mutated proofs (leaf i is the
   ASCII bytes ``"leaf %d\\n" % i``). We compute the same roots and proofs and
   require byte equality; we run our verifiers on Go's exact inputs and require
   Go's verdict; we replay each mutation from its op and require Go's exact
   inputs back.
3. ``gotlog note``: Go derives signer keys from fixed seeds and signs
   checkpoints (roots from step 2), a go.sum tree note and plain texts. We
   require our key strings and our signed notes to be Go's, byte for byte, and
   our open_note / open_checkpoint to accept Go's notes.
4. ``gotlog verify-note``: Go's note.Open judges the notes OUR code signed and
   mutations of them (bad signatures, edited text, malformed lines, unknown
   signers...). We require our open_note to reach the same verdict, except
   for the divergences listed in KNOWN_DIVERGENCES, each with its reason; an
   unlisted disagreement, or a listed one that no longer happens, fails.
5. Write the two vector files (hashes interned in a base64 table, mutations
   stored as ops plus a digest of Go's exact inputs; < 1 MB together).

Any disagreement makes the script print every one of them and exit 1 without
writing vectors: a disagreement is a bug to fix, not data to freeze.

Requirements (developer machine only): Go and golang.org/x/mod; on Debian
bookworm ``apt-get install -y golang-go golang-golang-x-mod-dev`` (Go 1.19,
x/mod 0.7.0 under /usr/share/gocode). Run from the repository root with the
project installed in the active environment:

    python scripts/gen_interop_vectors.py [--gopath /usr/share/gocode] [--check]

``--check`` compares instead of writing: it exits 1 if the committed vector
files differ from what Go produces now.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.core.tlog.test_interop_go (the shared replay helpers)

from pypi_witness.core.tlog import merkle
from pypi_witness.core.tlog.checkpoint import Checkpoint, parse_checkpoint, sign_checkpoint
from pypi_witness.core.tlog.signed_checkpoint import open_checkpoint
from pypi_witness.core.tlog.note import Signer, Verifier, open_note, sign_note  # noqa: E402
from tests.core.tlog.test_interop_go import (  # noqa: E402
    NOTE_VECTORS,
    TLOG_VECTORS,
    canonical_consistency,
    canonical_inclusion,
    consistency_inputs,
    consistency_verdict,
    inclusion_inputs,
    inclusion_verdict,
    inputs_digest,
    note_verdict,
)

GO_SOURCE = ROOT / "scripts" / "interop" / "gotlog"

# Fixed key material: seed = SHA-256 of a fixed label; names are key names
# (for the log key, also the checkpoint origin).
LOG_NAME = "example.org/pypi-witness"
LOG_SEED = hashlib.sha256(b"pypi-witness interop: log key").digest()
OTHER_NAME = "witness.example/pypi-witness-interop"
OTHER_SEED = hashlib.sha256(b"pypi-witness interop: second key").digest()
# Keys Go never sees: an unknown signer, and a different key under the log's name.
UNKNOWN_NAME = "unknown.example/signer"
UNKNOWN_SEED = hashlib.sha256(b"pypi-witness interop: unknown key").digest()
IMPOSTOR_SEED = hashlib.sha256(b"pypi-witness interop: same name, other key").digest()

# Note cases where our open_note deliberately differs from Go's note.Open
# (golang.org/x/mod v0.7.0), and why. Each must still occur, or the script fails.
KNOWN_DIVERGENCES = {
    "valid signature, then an invalid signature line from the same key": (
        "Go skips any later signature line from a key it already saw, without verifying it, "
        "so it accepts; c2sp.org/signed-note says 'If the key name and ID match a known key, "
        "verifiers MUST verify the signature' and 'If a signature from a known key fails to "
        "verify, clients SHOULD reject the whole note', which we do."
    ),
    "signature base64 with non-zero padding bits": (
        "Go's base64.StdEncoding ignores non-zero trailing bits, so the signature decodes to the "
        "valid bytes and Go accepts; we accept only the canonical RFC 4648 encoding (the one "
        "every signer, Go's included, writes), so a note has one byte form."
    ),
}


class Disagreement(Exception):
    pass


def b64e(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64d(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


# ------------------------------------------------------------------ Go


def build_go(workdir: Path, gopath: str) -> tuple[Path, dict[str, str], str]:
    """Build gotlog in GOPATH mode, offline; return (binary, env, go version)."""
    go = shutil.which("go")
    if go is None:
        sys.exit("gen_interop_vectors: 'go' not found; install golang-go and golang-golang-x-mod-dev")
    mod = Path(gopath) / "src" / "golang.org" / "x" / "mod" / "sumdb"
    if not (mod / "note").is_dir() or not (mod / "tlog").is_dir():
        sys.exit(f"gen_interop_vectors: golang.org/x/mod/sumdb not found under {gopath}/src")
    env = dict(os.environ)
    env.update(
        GOPATH=gopath,
        GO111MODULE="off",
        GOFLAGS="",
        GOPROXY="off",
        GOCACHE=str(workdir / "gocache"),
        CGO_ENABLED="0",
    )
    binary = workdir / "gotlog"
    subprocess.run([go, "build", "-o", str(binary), "main.go"], cwd=GO_SOURCE, env=env, check=True)
    version = subprocess.run([go, "version"], env=env, check=True, capture_output=True, text=True).stdout.strip()
    return binary, env, version


def run_go(binary: Path, env: dict[str, str], args: list[str], stdin: str | None = None) -> Any:
    proc = subprocess.run(
        [str(binary), *args], env=env, input=stdin, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        sys.exit(f"gen_interop_vectors: gotlog {args[0]} failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def x_mod_version(gopath: str) -> str:
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "golang-golang-x-mod-dev"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        return f"golang-golang-x-mod-dev {out} (Debian), GOPATH {gopath}"
    except (OSError, subprocess.CalledProcessError):
        return f"golang.org/x/mod from GOPATH {gopath}"


# ------------------------------------------------------------------ tlog


class HashTable:
    """Interns hashes; vectors refer to them by position."""

    def __init__(self) -> None:
        self.list: list[str] = []
        self.pos: dict[str, int] = {}

    def id(self, h: str) -> int:
        if h not in self.pos:
            self.pos[h] = len(self.list)
            self.list.append(h)
        return self.pos[h]


def check_tlog(raw: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    """Compare Go's tlog output with ours; return the compact vector document."""
    leaf_format = raw["leaf_format"]
    roots = {t["size"]: b64d(t["root"]) for t in raw["trees"]}
    leaf_hashes = [merkle.leaf_hash((leaf_format % i).encode("ascii")) for i in range(max(roots))]
    reader = merkle.hash_reader_for(leaf_hashes)
    extra = b64d(raw["extra_hash"])

    if b64d(raw["go_empty_tree_hash"]) != bytes(32):
        problems.append("Go's TreeHash(0) is no longer all zeros; revisit test_empty_tree_is_a_known_divergence")

    for size, go_root in sorted(roots.items()):
        if merkle.tree_root(size, reader) != go_root or merkle.root_of(leaf_hashes[:size]) != go_root:
            problems.append(f"root of size {size}: ours {b64e(merkle.tree_root(size, reader))} Go {b64e(go_root)}")

    go_leaf: dict[int, bytes] = {}
    incl_proofs: dict[tuple[int, int], list[bytes]] = {}
    for e in raw["inclusion"]:
        size, index, proof = e["size"], e["index"], [b64d(h) for h in e["proof"]]
        incl_proofs[(size, index)] = proof
        go_leaf[index] = b64d(e["leaf_hash"])
        if not e["go_ok"]:
            problems.append(f"Go rejected its own inclusion proof ({size}, {index})")
        ours = merkle.inclusion_proof(index, size, reader)
        if ours != proof:
            problems.append(f"inclusion proof index {index} size {size}: ours {list(map(b64e, ours))} Go {e['proof']}")
        ok, why = inclusion_verdict((go_leaf[index], index, size, proof, roots[size]))
        if not ok:
            problems.append(f"we reject Go's valid inclusion proof ({size}, {index}): {why}")
    cons_proofs: dict[tuple[int, int], list[bytes]] = {}
    for e in raw["consistency"]:
        old, new, proof = e["old_size"], e["new_size"], [b64d(h) for h in e["proof"]]
        cons_proofs[(old, new)] = proof
        if not e["go_ok"]:
            problems.append(f"Go rejected its own consistency proof ({old}, {new})")
        ours = merkle.consistency_proof(old, new, reader)
        if ours != proof:
            problems.append(f"consistency proof {old} -> {new}: ours {list(map(b64e, ours))} Go {e['proof']}")
        ok, why = consistency_verdict((old, new, roots[old], roots[new], proof))
        if not ok:
            problems.append(f"we reject Go's valid consistency proof ({old}, {new}): {why}")

    # Leaf hashes the mutations use beyond the proved indexes ("leaf_hash_of").
    for c in raw["inclusion_checks"]:
        if c["op"][0] == "leaf_hash_of":
            go_leaf[c["op"][1]] = b64d(c["leaf_hash"])
    for i, h in go_leaf.items():
        ours = merkle.leaf_hash((leaf_format % i).encode("ascii"))
        if ours != h:
            problems.append(f"leaf hash {i}: ours {b64e(ours)} Go {b64e(h)}")

    incl_canon, cons_canon = [], []
    for c in raw["inclusion_checks"]:
        size, index = c["of"]
        go_x = (b64d(c["leaf_hash"]), c["index"], c["size"], [b64d(h) for h in c["proof"]], b64d(c["root"]))
        replay = inclusion_inputs(size, index, c["op"], incl_proofs[(size, index)], go_leaf, roots, extra)
        if canonical_inclusion(replay) != canonical_inclusion(go_x):
            problems.append(f"replaying inclusion op {c['op']} on ({size}, {index}) does not give Go's inputs")
        incl_canon.append(canonical_inclusion(go_x))
        ok, why = inclusion_verdict(go_x)
        if ok != c["go_ok"]:
            problems.append(
                f"inclusion verdict differs: proof of ({size}, {index}) with {c['op']}: "
                f"Go {c['go_ok']} ({c.get('go_error', '')}), ours {ok} ({why})"
            )
    for c in raw["consistency_checks"]:
        old, new = c["of"]
        go_y = (c["old_size"], c["new_size"], b64d(c["old_root"]), b64d(c["new_root"]), [b64d(h) for h in c["proof"]])
        replay_y = consistency_inputs(old, new, c["op"], cons_proofs[(old, new)], roots, extra)
        if canonical_consistency(replay_y) != canonical_consistency(go_y):
            problems.append(f"replaying consistency op {c['op']} on ({old}, {new}) does not give Go's inputs")
        cons_canon.append(canonical_consistency(go_y))
        ok, why = consistency_verdict(go_y)
        if ok != c["go_ok"]:
            problems.append(
                f"consistency verdict differs: proof {old} -> {new} with {c['op']}: "
                f"Go {c['go_ok']} ({c.get('go_error', '')}), ours {ok} ({why})"
            )

    tab = HashTable()
    incl_by_size: dict[str, dict[str, list[int]]] = {}
    for (size, index), proof in incl_proofs.items():
        incl_by_size.setdefault(str(size), {})[str(index)] = [tab.id(b64e(h)) for h in proof]
    cons_by_new: dict[str, dict[str, list[int]]] = {}
    for (old, new), proof in cons_proofs.items():
        cons_by_new.setdefault(str(new), {})[str(old)] = [tab.id(b64e(h)) for h in proof]
    return {
        "_comment": (
            "Frozen output of golang.org/x/mod/sumdb/tlog, written by scripts/gen_interop_vectors.py "
            "(do not edit; regenerate). Leaf i is the ASCII bytes leaf_format % i. Every hash is an index "
            "into 'hashes' (standard base64). roots: {size: root (tlog.TreeHash)}. inclusion: "
            "{size: {index: proof (tlog.ProveRecord)}}. consistency: {new_size: {old_size: proof "
            "(tlog.ProveTree)}}; Go's CheckRecord/CheckTree accepted every one. *_mutations: rows "
            "[size, index, op, go_ok] / [old_size, new_size, op, go_ok]: Go's verdict on the valid proof "
            "edited by op (see tests/core/tlog/test_interop_go.py for the ops; 'flip' bit b is 1<<(b%8) of byte b//8; "
            "'insert' inserts extra_hash). mutated_inputs_sha256 pins the exact inputs Go was given."
        ),
        "go": raw["_go"],
        "leaf_format": leaf_format,
        "go_empty_tree_hash": raw["go_empty_tree_hash"],
        "extra_hash": raw["extra_hash"],
        "leaf_hashes": {str(i): tab.id(b64e(h)) for i, h in sorted(go_leaf.items())},
        "roots": {str(s): tab.id(b64e(h)) for s, h in sorted(roots.items())},
        "inclusion": incl_by_size,
        "consistency": cons_by_new,
        "inclusion_mutations": [[*c["of"], c["op"], c["go_ok"]] for c in raw["inclusion_checks"]],
        "consistency_mutations": [[*c["of"], c["op"], c["go_ok"]] for c in raw["consistency_checks"]],
        "mutated_inputs_sha256": inputs_digest(incl_canon, cons_canon),
        "hashes": tab.list,
    }


# ------------------------------------------------------------------ notes


def check_go_notes(raw: dict[str, Any], problems: list[str]) -> dict[str, Signer]:
    """Compare Go's keys and signed notes with ours; return our signers by name."""
    signers: dict[str, Signer] = {}
    for k in raw["keys"]:
        s = Signer.from_seed(k["name"], bytes.fromhex(k["seed_hex"]))
        signers[k["name"]] = s
        if s.skey() != k["skey"]:
            problems.append(f"signer key for {k['name']}: ours {s.skey()} Go {k['skey']}")
        if s.verifier().vkey() != k["vkey"]:
            problems.append(f"verifier key for {k['name']}: ours {s.verifier().vkey()} Go {k['vkey']}")
        if Verifier.from_vkey(k["vkey"]) != s.verifier() or Signer.from_skey(k["skey"]).skey() != k["skey"]:
            problems.append(f"we do not parse Go's key strings for {k['name']} back to the same key")
    for n in raw["notes"]:
        go_note = n["note"].encode("utf-8")
        ours = sign_note(n["text"], [signers[s] for s in n["signers"]])
        if ours != go_note:
            problems.append(f"signed note differs for text {n['text']!r}:\nours {ours!r}\nGo   {go_note!r}")
        try:
            note, verified = open_note(go_note, [signers[s].verifier() for s in n["signers"]])
            if note.text != n["text"] or [s.name for s in verified] != n["signers"]:
                problems.append(f"open_note of Go's note {n['text']!r} gives the wrong text or signers")
            if n["kind"] == "checkpoint":
                cp = Checkpoint(n["origin"], n["size"], b64d(n["root"]))
                if cp.body() != n["text"] or parse_checkpoint(n["text"]) != cp:
                    problems.append(f"checkpoint body differs: ours {cp.body()!r} Go {n['text']!r}")
                if n["signers"] == [n["origin"]]:
                    if sign_checkpoint(cp, signers[n["origin"]]) != go_note:
                        problems.append(f"sign_checkpoint differs from Go for {n['text']!r}")
                if n["origin"] in signers:
                    open_checkpoint(go_note, signers[n["origin"]].verifier())
        except Exception as exc:  # any failure to open Go's own note is a disagreement
            problems.append(f"we cannot open Go's note {n['text']!r}: {type(exc).__name__}: {exc}")
    return signers


def sig_line(name: str, payload: bytes) -> bytes:
    return f"\u2014 {name} {b64e(payload)}\n".encode()


def note_cases(raw: dict[str, Any], signers: dict[str, Signer]) -> list[dict[str, Any]]:
    """Notes signed by our code, and mutations of them, each with the verifier keys to use."""
    log, other = signers[LOG_NAME], signers[OTHER_NAME]
    unknown = Signer.from_seed(UNKNOWN_NAME, UNKNOWN_SEED)
    impostor = Signer.from_seed(LOG_NAME, IMPOSTOR_SEED)
    v_log, v_other, v_impostor = log.verifier().vkey(), other.verifier().vkey(), impostor.verifier().vkey()
    cases: list[dict[str, Any]] = []

    def add(case: str, data: bytes, vkeys: list[str], **extra: Any) -> None:
        cases.append({"case": case, "note_b64": b64e(data), "vkeys": vkeys, **extra})

    # Our signatures over exactly the texts Go signed (the test checks they equal Go's notes).
    by_size: dict[int, bytes] = {}
    for n in raw["notes"]:
        ss = [signers[s] for s in n["signers"]]
        if n["kind"] == "checkpoint" and n["signers"] == [n["origin"]]:
            data = sign_checkpoint(Checkpoint(n["origin"], n["size"], b64d(n["root"])), ss[0])
            by_size[n["size"]] = data
            label = f"ours: checkpoint of size {n['size']}"
        elif n["kind"] == "checkpoint":
            data = sign_note(n["text"], ss)
            label = f"ours: checkpoint '{n['origin']}' size {n['size']} signed by {' and '.join(n['signers'])}"
        else:
            data = sign_note(n["text"], ss)
            label = f"ours: text {n['text']!r}"
        key_sets = [[s] for s in ss] + ([ss] if len(ss) > 1 else [])
        for ks in key_sets:
            suffix = f" (verifier keys of {' and '.join(s.name for s in ks)})" if len(ss) > 1 else ""
            add(label + suffix, data, [s.verifier().vkey() for s in ks], text=n["text"], signed_by_us=n["signers"])

    # Valid notes Go did not sign.
    add("ours: note whose text is a single newline", sign_note("\n", [log]), [v_log])
    add("ours: text with empty lines inside", sign_note("a\n\n\nb\n", [log]), [v_log])

    base = by_size[7]
    text, _, sigs = base.partition(b"\n\n")
    text += b"\n"
    (line,) = sigs.splitlines(keepends=True)
    payload = b64d(line.decode().split(" ")[2].strip())
    kid, sig = payload[:4], payload[4:]
    assert base == text + b"\n" + sig_line(LOG_NAME, payload)

    def note(t: bytes, *lines: bytes) -> bytes:
        return t + b"\n" + b"".join(lines)

    def flip(data: bytes, byte: int, mask: int = 1) -> bytes:
        out = bytearray(data)
        out[byte] ^= mask
        return bytes(out)

    good = sig_line(LOG_NAME, payload)
    cp7 = parse_checkpoint(text.decode())
    add("unmutated", base, [v_log])
    add("no verifier keys", base, [])
    add("only an unrelated verifier key", base, [v_other])
    add("verifier key with the log's name but another key", base, [v_impostor])
    add("both the right and an unrelated verifier key", base, [v_other, v_log])
    add("flip bit 0 of the first signature byte", note(text, sig_line(LOG_NAME, kid + flip(sig, 0))), [v_log])
    add("flip bit 7 of the last signature byte", note(text, sig_line(LOG_NAME, kid + flip(sig, 63, 0x80))), [v_log])
    add("flip a bit of the key id", note(text, sig_line(LOG_NAME, flip(kid, 3) + sig)), [v_log])
    add("tree size edited", note(Checkpoint(cp7.origin, 8, cp7.root_hash).body().encode(), good), [v_log])
    add("root hash edited", note(Checkpoint(cp7.origin, 7, flip(cp7.root_hash, 31)).body().encode(), good), [v_log])
    add("origin edited", note(text.replace(b"example.org", b"example.com"), good), [v_log])
    add("extension line appended to the text", note(text + b"extension\n", good), [v_log])
    add("key name edited in the signature line", note(text, sig_line(LOG_NAME + "x", payload)), [v_log])
    unknown_line = sig_line(UNKNOWN_NAME, unknown.key_id + unknown.sign(text))
    add("valid signature from an unknown key appended", note(text, good, unknown_line), [v_log])
    add("valid signature from an unknown key prepended", note(text, unknown_line, good), [v_log])
    add("only a signature from an unknown key", note(text, unknown_line), [v_log])
    garbage = hashlib.sha512(b"garbage").digest()[:68]
    add("garbage signature from an unknown key", note(text, good, sig_line("other.example/x", garbage)), [v_log])
    impostor_line = sig_line(LOG_NAME, impostor.key_id + impostor.sign(text))
    add("signature from another key with the log's name", note(text, impostor_line, good), [v_log])
    add("only a signature from another key with the log's name", note(text, impostor_line), [v_log])
    add("known key id under another name", note(text, sig_line("other.example/y", kid + flip(sig, 5)), good), [v_log])
    add("signature line repeated", note(text, good, good), [v_log])
    bad = sig_line(LOG_NAME, kid + flip(sig, 10))
    add("valid signature, then an invalid signature line from the same key", note(text, good, bad), [v_log])
    add("invalid signature line, then a valid one from the same key", note(text, bad, good), [v_log])
    add("signature over another checkpoint", note(text, sig_line(LOG_NAME, kid + log.sign(text + b"x\n"))), [v_log])
    add("signature truncated to 63 bytes", note(text, sig_line(LOG_NAME, kid + sig[:63])), [v_log])
    add("signature extended to 65 bytes", note(text, sig_line(LOG_NAME, kid + sig + b"\0")), [v_log])
    add("signature of 1 byte", note(text, sig_line(LOG_NAME, kid + sig[:1])), [v_log])
    add("key id only, no signature bytes", note(text, sig_line(LOG_NAME, kid)), [v_log])
    good_b64 = b64e(payload)
    assert good_b64.endswith("=") and not good_b64.endswith("==")  # 68 bytes: 2 spare bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet[alphabet.index(good_b64[-2]) | 0b11]
    noncanonical = f"\u2014 {LOG_NAME} {good_b64[:-2]}{last}=\n".encode()
    assert b64d(good_b64[:-2] + last + "=") == payload and noncanonical != good
    add("signature base64 with non-zero padding bits", note(text, noncanonical), [v_log])
    add("signature base64 without padding", note(text, good.replace(b"=\n", b"\n")), [v_log])
    add("no blank line before the signatures", text + good, [v_log])
    add("no signature lines", text + b"\n", [v_log])
    add("final newline removed", note(text, good)[:-1], [v_log])
    add("bytes after the last signature line", note(text, good) + b"x", [v_log])
    add("blank line after the signatures", note(text, good) + b"\n", [v_log])
    add("hyphen instead of em dash", note(text, good.replace("\u2014".encode(), b"-")), [v_log])
    add("en dash instead of em dash", note(text, good.replace("\u2014".encode(), "\u2013".encode())), [v_log])
    add("two spaces after the key name", note(text, f"\u2014 {LOG_NAME}  {good_b64}\n".encode()), [v_log])
    add("tab after the key name", note(text, f"\u2014 {LOG_NAME}\t{good_b64}\n".encode()), [v_log])
    add("no space after the em dash", note(text, f"\u2014{LOG_NAME} {good_b64}\n".encode()), [v_log])
    add("CRLF line endings", note(text, good).replace(b"\n", b"\r\n"), [v_log])
    add("invalid UTF-8 in the text", note(text.replace(b"org", b"or\xff"), good), [v_log])
    add("NUL in the text", note(text.replace(b"org", b"or\0"), good), [v_log])
    add("unknown key name containing U+00A0", note(text, good, sig_line("other\u00a0name", garbage)), [v_log])
    add("empty key name", note(text, good, sig_line("", garbage)), [v_log])
    add("key name containing '+'", note(text, good, sig_line("other+name", garbage)), [v_log])
    tiny = [sig_line(f"u{i}.example", bytes([i, 0, 0, 0, 1])) for i in range(100)]
    add("100 signature lines: ours and 99 from unknown keys", note(text, good, *tiny[:99]), [v_log])
    add("101 signature lines: ours and 100 from unknown keys", note(text, good, *tiny), [v_log])
    return cases


def check_note_cases(cases: list[dict[str, Any]], go_out: list[dict[str, Any]], problems: list[str]) -> None:
    """Attach Go's verdicts to our cases and compare them with ours."""
    seen_divergences = set()
    for c, g in zip(cases, go_out, strict=True):
        c["go_ok"] = g["go_ok"]
        if "go_error" in g:
            c["go_error"] = g["go_error"]
        if "go_tree" in g:
            c["go_tree"] = g["go_tree"]
        ours, why = note_verdict(b64d(c["note_b64"]), c["vkeys"])
        c["ours_ok"] = ours
        if not ours:
            c["ours_error"] = why
        if c["case"] in KNOWN_DIVERGENCES:
            seen_divergences.add(c["case"])
            if ours == g["go_ok"]:
                problems.append(f"listed divergence no longer happens: {c['case']!r} (both {ours})")
            c["divergence"] = KNOWN_DIVERGENCES[c["case"]]
        elif ours != g["go_ok"]:
            problems.append(
                f"note verdict differs: {c['case']!r}: Go {g['go_ok']} ({g.get('go_error', '')}), ours {ours} ({why})"
            )
    for case in set(KNOWN_DIVERGENCES) - seen_divergences:
        problems.append(f"listed divergence has no case: {case!r}")
    tree_cases = [c for c in cases if "go_tree" in c]
    if not tree_cases:
        problems.append("no go.sum tree note was parsed by Go")
    for c in tree_cases:
        note, _ = open_note(b64d(c["note_b64"]), [Verifier.from_vkey(k) for k in c["vkeys"]])
        cp = parse_checkpoint(note.text)
        if c["go_tree"] != {"ok": True, "size": cp.size, "root": b64e(cp.root_hash)}:
            problems.append(f"tlog.ParseTree of our note gives {c['go_tree']}, we parse {cp}")


# ------------------------------------------------------------------ main


def dump(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gopath", default="/usr/share/gocode", help="GOPATH holding golang.org/x/mod")
    parser.add_argument("--check", action="store_true", help="compare with the committed vectors, write nothing")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gotlog-") as tmp:
        binary, env, go_version = build_go(Path(tmp), args.gopath)
        go_info = {"go": go_version, "x_mod": x_mod_version(args.gopath), "program": "scripts/interop/gotlog"}
        problems: list[str] = []

        raw_tlog = run_go(binary, env, ["tlog"])
        raw_tlog["_go"] = go_info
        tlog_doc = check_tlog(raw_tlog, problems)

        raw_note = run_go(binary, env, [
            "note", "-seed", LOG_SEED.hex(), "-name", LOG_NAME,
            "-seed2", OTHER_SEED.hex(), "-name2", OTHER_NAME, "-origin", LOG_NAME,
        ])
        signers = check_go_notes(raw_note, problems)
        cases = note_cases(raw_note, signers)
        go_verdicts = run_go(
            binary, env, ["verify-note"], stdin=json.dumps([{"note": c["note_b64"], "vkeys": c["vkeys"]} for c in cases])
        )
        check_note_cases(cases, go_verdicts, problems)

    if problems:
        print(f"gen_interop_vectors: Go and pypi-witness DISAGREE ({len(problems)}):", file=sys.stderr)
        for p in problems:
            print("  - " + p, file=sys.stderr)
        return 1

    note_doc = {
        "_comment": (
            "Frozen output of golang.org/x/mod/sumdb/note, written by scripts/gen_interop_vectors.py "
            "(do not edit; regenerate). keys: Go's key strings from note.GenerateKey reading seed_hex as its "
            "randomness. go_signed: notes made by note.Sign (checkpoint roots from tlog.TreeHash over the "
            "leaves of go_tlog.json). ours_checked_by_go: notes our code signed, and mutations of them, with "
            "note.Open's verdict (go_ok) under vkeys, and ours (ours_ok); 'divergence' explains the only cases "
            "where they differ."
        ),
        "go": go_info,
        "keys": raw_note["keys"],
        "go_signed": raw_note["notes"],
        "ours_checked_by_go": cases,
    }
    outputs = {TLOG_VECTORS: dump(tlog_doc), NOTE_VECTORS: dump(note_doc)}
    total = sum(len(text.encode()) for text in outputs.values())
    if total >= 1_000_000:
        print(f"gen_interop_vectors: vectors are {total} bytes, over the 1 MB budget", file=sys.stderr)
        return 1
    if args.check:
        stale = [p for p, text in outputs.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
        for p in stale:
            print(f"gen_interop_vectors: {p.relative_to(ROOT)} is not what Go produces now", file=sys.stderr)
        return 1 if stale else 0
    for path, text in outputs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    n_incl_mut, n_cons_mut = len(tlog_doc["inclusion_mutations"]), len(tlog_doc["consistency_mutations"])
    print(f"Go and pypi-witness agree. {go_version}; {go_info['x_mod']}")
    print(f"  tree roots: {len(tlog_doc['roots'])} sizes")
    n_incl = sum(len(v) for v in tlog_doc["inclusion"].values())
    n_cons = sum(len(v) for v in tlog_doc["consistency"].values())
    print(f"  inclusion proofs identical: {n_incl}; consistency proofs identical: {n_cons}")
    print(f"  mutated inclusion proofs, same verdict: {n_incl_mut} "
          f"(Go accepted {sum(r[3] for r in tlog_doc['inclusion_mutations'])})")
    print(f"  mutated consistency proofs, same verdict: {n_cons_mut} "
          f"(Go accepted {sum(r[3] for r in tlog_doc['consistency_mutations'])})")
    print(f"  Go-signed notes reproduced byte for byte: {len(raw_note['notes'])}")
    print(f"  our notes judged by Go: {len(cases)} (Go accepted {sum(c['go_ok'] for c in cases)}); "
          f"deliberate divergences: {len(KNOWN_DIVERGENCES)}")
    for path, text in outputs.items():
        print(f"  wrote {path.relative_to(ROOT)} ({len(text.encode())} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
