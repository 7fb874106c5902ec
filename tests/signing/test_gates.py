"""Every place the package signs, or loads a signing key, is known: a new one fails here until it is
routed through its key's gate (or listed below with the reason it needs none).

The sites are found in the source, not at run time: every call, anywhere under
``src/pypi_witness`` (generated code aside), of a signing primitive
(``SIGNING_CALLS``) or of something that makes or loads a private key
(``KEY_CALLS``), named ``path::enclosing.function``. Each allow-list maps a
site to why it may sign or hold a key. To add a site, add it to the list of
its key with a reason; a site listed but no longer in the code fails too, so
the lists stay true.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from pypi_witness.core.tlog.note import Signer
from pypi_witness.signing.log import Log, init_log, open_log

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "pypi_witness"

# Calls that sign: the primitives, and the gates' and helpers' methods of these names.
SIGNING_CALLS = frozenset({"sign", "sign_note", "sign_checkpoint", "cosign", "sign_exchange"})
# Calls that make or load a private key, or build a log that can sign.
KEY_CALLS = frozenset(
    {"read_signer", "generate_signer", "from_seed", "from_skey", "new_witness_signer", "read_witness_key",
     "init_witness_key", "Log"}
)  # fmt: skip

# The signing primitives themselves: they sign for whoever calls them, and every caller is listed here.
PRIMITIVES: dict[str, str] = {
    "core/tlog/note.py::Signer.sign": "Ed25519 itself",
    "core/tlog/note.py::sign_note": "C2SP signed-note: signs a note's text with the keys given",
    "core/tlog/checkpoint.py::sign_checkpoint": "a checkpoint note: sign_note with a log key",
    "core/tlog/cosignature.py::cosign": "C2SP tlog-cosignature: the witness key's signature",
}

# The log key signs in exactly one place: its gate (checkpoint_gate.py).
LOG_KEY_SIGNING: dict[str, str] = {
    "signing/checkpoint_gate.py::CheckpointGate.sign": "the log key's one signing gate",
    "signing/log.py::Log.publish": "calls the gate (CheckpointGate.sign); Log holds no key",
}

# The witness key cosigns in exactly one place: its gate (witness.py, Witness._cosign), after the
# durable compare-and-swap, whichever path asks (add-checkpoint, gossip, the node's own log).
WITNESS_KEY_SIGNING: dict[str, str] = {
    "signing/witness.py::Witness._cosign": "the witness key's one cosigning gate",
    "signing/witness.py::EnvelopeSigner.sign": "witness key: gossip envelopes only, refused unless they start with their context line",
    "core/tlog/witness.py::add_checkpoint": "the pure ladder with a cosignature for callers holding a key (tests); no node path calls it",
    "rpc/gossip_auth.py::sign_exchange": "witness key (as EnvelopeSigner): authenticates a gossip exchange",
    "rpc/gossip_service.py::GossipClient.exchange": "calls sign_exchange",
}

# Keys of simulated nodes and deliberate adversaries: never a real node's key, never its gate's.
SIMULATED_SIGNING: dict[str, str] = {
    "sim/logs.py::_Branch.sign": "simulated log: signs its branch with the simulation's key",
    "sim/logs.py::SimLog.grow": "simulated log",
    "sim/logs.py::ForkingLog.grow": "simulated forking log: equivocates on purpose",
    "sim/adversaries.py::Colluder.take": "simulated colluding witness",
    "sim/forking_node.py::CosignAnything.add_checkpoint": "the demo's rogue node cosigns anything on purpose",
}

SIGNING_SITES = {**PRIMITIVES, **LOG_KEY_SIGNING, **WITNESS_KEY_SIGNING, **SIMULATED_SIGNING}

# Where private keys are made or loaded, and logs that can sign are built.
KEY_SITES: dict[str, str] = {
    "signing/keys.py::generate_signer": "makes a key from the OS's randomness",
    "signing/keys.py::read_signer": "reads a key file",
    "signing/log.py::init_log": "the log key, made and handed to the log's gate",
    "signing/log.py::open_log": "the log key, read and handed to the log's gate (its record: log.signed)",
    "signing/witness.py::new_witness_signer": "witness key",
    "signing/witness.py::init_witness_key": "witness key",
    "signing/witness.py::read_witness_key": "witness key",
    "signing/witness.py::open_witness": "witness key",
    "cli/log_commands.py::cmd_init": "witness key, made by init",
    "config/federation.py::create_federation": "witness key, made for each member",
    "demo/federation.py::_federation": "the demo's rogue operator takes its own keys to fork its log on purpose",
    "demo/federation.py::_fork": "the demo's rogue operator: branch logs in memory, forked on purpose",
    "sim/forking_node.py::branch_log": "an in-memory branch of the rogue's log (its own gate, in memory)",
    "sim/logs.py::SimLog.__init__": "simulated log key",
    "sim/logs.py::ForkingLog.__init__": "simulated log key",
    "sim/adversaries.py::Colluder.__init__": "simulated witness key",
}


def _sites(names: frozenset[str]) -> dict[str, set[str]]:
    """site -> the names of ``names`` called there, over the whole package."""
    found: dict[str, set[str]] = {}

    class Visitor(ast.NodeVisitor):
        def __init__(self, path: str) -> None:
            self.path, self.scope = path, []

        def _scoped(self, node: ast.AST) -> None:
            self.scope.append(node.name)  # type: ignore[attr-defined]
            self.generic_visit(node)
            self.scope.pop()

        visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scoped

        def visit_Call(self, node: ast.Call) -> None:
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if name in names:
                found.setdefault(f"{self.path}::{'.'.join(self.scope) or '<module>'}", set()).add(name)
            self.generic_visit(node)

    for file in sorted(PACKAGE.rglob("*.py")):
        path = file.relative_to(PACKAGE).as_posix()
        if not path.startswith("rpc/gen/"):
            Visitor(path).visit(ast.parse(file.read_text(), str(file)))
    return found


def test_every_signing_site_is_a_known_one():
    found = _sites(SIGNING_CALLS)
    unknown = sorted(set(found) - set(SIGNING_SITES))
    assert not unknown, (
        f"code that signs outside its key's gate: {unknown}; route it through the gate "
        "(the log key: signing.checkpoint_gate.CheckpointGate) or list it with a reason"
    )
    stale = sorted(set(SIGNING_SITES) - set(found))
    assert not stale, f"listed signing sites that no longer sign: {stale}"


def test_only_the_gate_signs_checkpoints_with_a_real_log_key():
    found = _sites(frozenset({"sign_checkpoint"}))
    assert set(found) <= set(PRIMITIVES) | set(LOG_KEY_SIGNING) | set(SIMULATED_SIGNING)
    assert "signing/checkpoint_gate.py::CheckpointGate.sign" in found


def test_every_key_is_made_or_loaded_at_a_known_site():
    found = _sites(KEY_CALLS)
    unknown = sorted(set(found) - set(KEY_SITES))
    assert not unknown, f"code that makes or loads a signing key, or builds a log that signs: {unknown}"
    stale = sorted(set(KEY_SITES) - set(found))
    assert not stale, f"listed key sites that no longer handle a key: {stale}"


def test_the_scan_finds_a_new_site(tmp_path, monkeypatch):
    """The scan is not blind: a module that signs a checkpoint directly is reported."""
    package = tmp_path / "pypi_witness"
    (package / "sneaky").mkdir(parents=True)
    (package / "sneaky" / "shortcut.py").write_text(
        "from pypi_witness.core.tlog.checkpoint import sign_checkpoint\n\n"
        "def sign_quietly(checkpoint, signer):\n    return sign_checkpoint(checkpoint, signer)\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", package)
    assert _sites(SIGNING_CALLS) == {"sneaky/shortcut.py::sign_quietly": {"sign_checkpoint"}}


def test_a_log_keeps_no_key_of_its_own(tmp_path):
    """The signer lives in the log's gate only: nothing on the log itself can sign."""
    init_log(tmp_path / "node", "gates.example/log").close()
    log = open_log(tmp_path / "node")
    try:
        assert isinstance(log, Log)
        assert not any(isinstance(value, Signer) for value in vars(log).values())
        gate = log._gate
        assert [k for k, v in vars(gate).items() if isinstance(v, Signer)] == ["_CheckpointGate__signer"]
    finally:
        log.close()


def test_the_witness_key_is_held_by_its_gate_alone(tmp_path):
    """Nothing on the witness but its gate holds the key, and the gossip machine holds no key at all."""
    from pypi_witness.core.gossip.machine import GossipMachine
    from pypi_witness.signing.witness import open_witness

    witness = open_witness(tmp_path, {}, create_name="gates.example/witness")
    try:
        assert [k for k, v in vars(witness).items() if isinstance(v, Signer)] == ["_signer"]
        envelope = witness.envelope_signer()
        assert [k for k, v in vars(envelope).items() if isinstance(v, Signer)] == ["_signer"]
    finally:
        witness.close()
    assert "cosigner" not in GossipMachine.__init__.__code__.co_varnames


def test_no_module_of_the_package_uses_the_ladder_that_cosigns():
    """core.tlog.witness.add_checkpoint cosigns with any key it is handed: only tests may import it."""
    users = []
    for file in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("core.tlog.witness"):
                users += [file.name for a in node.names if a.name == "add_checkpoint"]
    assert users == []
