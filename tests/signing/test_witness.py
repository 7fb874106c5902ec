"""The node's witness: key files, add-checkpoint with durable state, restarts, races."""

from __future__ import annotations

import stat
import threading

import pytest

from pypi_witness.core.tlog.checkpoint import Checkpoint
from pypi_witness.core.tlog.cosignature import verify_cosignature
from pypi_witness.core.tlog.note import ALG_COSIGNATURE_V1, Signer
from pypi_witness.core.tlog.witness import WitnessRequest, WitnessState, logs_by_origin
from pypi_witness.core.errors import ConfigError, ConflictError, ProofError, SignatureError
from pypi_witness.signing.keys import write_private_key
from pypi_witness.signing.witness import (
    PRIVATE_KEY_FILE,
    VERIFIER_KEY_FILE,
    Witness,
    default_witness_name,
    init_witness_key,
    open_witness,
    read_witness_key,
)
from tests.core.tlog.test_witness import LOG, ORIGIN, TREE

LOGS = logs_by_origin([LOG.verifier()])


def req(old: int, new: int, proof=None) -> WitnessRequest:
    return WitnessRequest(old, TREE.proof(old, new) if proof is None else proof, TREE.note(new))


@pytest.fixture
def witness(tmp_path):
    w = open_witness(tmp_path, LOGS, create_name="me.example/witness", clock=lambda: 1234)
    yield w
    w.close()


def test_init_writes_a_private_key_only_its_owner_reads_and_the_verifier_key(tmp_path):
    signer = init_witness_key(tmp_path, "me.example/witness")
    assert signer.alg == ALG_COSIGNATURE_V1
    assert stat.S_IMODE((tmp_path / PRIVATE_KEY_FILE).stat().st_mode) == 0o600
    assert (tmp_path / VERIFIER_KEY_FILE).read_text().strip() == signer.verifier().vkey()
    assert read_witness_key(tmp_path / PRIVATE_KEY_FILE).verifier() == signer.verifier()
    with pytest.raises(ConfigError, match="already exists"):
        init_witness_key(tmp_path, "me.example/witness")


def test_default_name():
    assert default_witness_name("a.example/pypi") == "a.example/pypi/witness"


def test_a_log_key_or_a_key_of_another_name_is_refused(tmp_path):
    write_private_key(tmp_path / "log.key", LOG)
    with pytest.raises(ConfigError, match="not a witness"):
        read_witness_key(tmp_path / "log.key")
    init_witness_key(tmp_path, "me.example/witness")
    with pytest.raises(ConfigError, match="not 'other'"):
        read_witness_key(tmp_path / PRIVATE_KEY_FILE, "other")
    (tmp_path / "x").mkdir()
    with pytest.raises(ConfigError, match="cannot name a key"):
        init_witness_key(tmp_path / "x", "has space")


def test_a_configured_key_file_that_is_missing_is_not_created(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        open_witness(tmp_path, LOGS, key_path=tmp_path / "elsewhere.key", create_name="me.example/witness")


def test_add_checkpoint_cosigns_and_remembers(witness):
    cosignature = witness.add_checkpoint(req(0, 5))
    assert cosignature.timestamp == 1234
    verify_cosignature(Checkpoint(ORIGIN, 5, TREE.root(5)), cosignature, witness.verifier)
    assert witness.state.get(ORIGIN) == TREE.state(5)
    witness.add_checkpoint(req(5, 12))
    assert witness.state.get(ORIGIN) == TREE.state(12)
    witness.add_checkpoint(req(12, 12, proof=()))  # again: cosigned again
    assert witness.state.get(ORIGIN) == TREE.state(12)


def test_a_refused_request_stores_nothing(witness):
    witness.add_checkpoint(req(0, 5))
    bad = list(TREE.proof(5, 9))
    bad[0] = bytes(32)
    with pytest.raises(ProofError):
        witness.add_checkpoint(req(5, 9, tuple(bad)))
    impostor = Signer.from_seed(ORIGIN, b"I" * 32)
    with pytest.raises(SignatureError):
        witness.add_checkpoint(WitnessRequest(5, TREE.proof(5, 9), TREE.note(9, impostor)))
    assert witness.state.get(ORIGIN) == TREE.state(5)


def test_a_restarted_witness_keeps_its_key_and_state_and_never_cosigns_a_smaller_tree(tmp_path):
    w = open_witness(tmp_path, LOGS, create_name="me.example/witness")
    vkey = w.verifier
    w.add_checkpoint(req(0, 10))
    w.close()
    w = open_witness(tmp_path, LOGS, create_name="ignored/for/an/existing/key")
    try:
        assert w.verifier == vkey
        for old, new in ((0, 8), (0, 10), (4, 8)):
            with pytest.raises(ConflictError) as caught:
                w.add_checkpoint(req(old, new))
            assert caught.value.known_size == 10
        assert w.state.get(ORIGIN) == TREE.state(10)
    finally:
        w.close()


def test_concurrent_identical_submissions_are_cosigned_once_the_rest_learn_the_new_size(witness):
    witness.add_checkpoint(req(0, 5))
    barrier = threading.Barrier(6)
    outcomes: list[object] = []

    def submit() -> None:
        barrier.wait()
        try:
            witness.add_checkpoint(req(5, 9))
            outcomes.append("cosigned")
        except ConflictError as e:
            outcomes.append(e.known_size)

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes, key=str) == [9] * 5 + ["cosigned"]
    assert witness.state.get(ORIGIN) == WitnessState(9, TREE.root(9))


def test_a_witness_refuses_a_log_signer():
    with pytest.raises(ConfigError, match="not a cosigner key"):
        Witness(None, LOG, LOGS)  # type: ignore[arg-type]


def test_a_log_proven_to_equivocate_is_refused_before_its_state_is_read(witness):
    from pypi_witness.core.errors import EquivocationError, ProvenEquivocatorError
    from pypi_witness.rpc.errors import status_for

    witness.add_checkpoint(req(0, 3))
    proven: dict[str, str] = {}
    witness.refuse_equivocators(proven.get)
    witness.add_checkpoint(req(3, 5))  # no evidence yet: cosigned as before
    proven[ORIGIN] = "ab" * 32
    with pytest.raises(ProvenEquivocatorError, match="holds evidence abab") as caught:
        witness.add_checkpoint(req(5, 7))
    assert caught.value.evidence_id == "ab" * 32 and isinstance(caught.value, EquivocationError)
    assert status_for(caught.value).code.name == "ALREADY_EXISTS"
    assert witness.state.get(ORIGIN).size == 5  # nothing stored
    forged = TREE.note(7).replace(TREE.note(7).split(b" ")[-1], b"A" * 95 + b"=\n")  # the log's line, bad signature
    with pytest.raises(SignatureError):  # rules 0-2 still come first
        witness.add_checkpoint(WitnessRequest(5, (), forged))
