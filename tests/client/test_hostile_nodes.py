"""Client exit codes against a node that answers what no honest node would: a real gRPC server on loopback
sending chosen bytes. Anything a node sends that does not parse is a failed verification (exit 3, naming
the node); a node serving another log is named as such."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from pypi_witness.core.tlog.checkpoint import Checkpoint, sign_checkpoint
from pypi_witness.core.tlog.merkle import leaf_hash
from pypi_witness.core.records.format import format_record
from pypi_witness.signing.keys import generate_signer
from pypi_witness.rpc.gen.v1 import log_pb2 as pb
from tests.client.support import one_error_line, requirement, run
from tests.factories import record

LOG = generate_signer("hostile.example/log")
OTHER = generate_signer("other.example/log")
FILE = record(1)


class HostileNode:
    """A LogService on 127.0.0.1 answering every call with the bytes set in ``answers`` (by method)."""

    def __init__(self) -> None:
        self.answers: dict[str, bytes] = {}
        handlers = {
            name: grpc.unary_unary_rpc_method_handler(self._answer(name), request_deserializer=None,
                                                      response_serializer=None)  # fmt: skip
            for name in ("GetCheckpoint", "LookupFilenames", "LookupFilename", "GetConsistencyProof")
        }
        self.server = grpc.server(ThreadPoolExecutor(max_workers=4))
        service = grpc.method_handlers_generic_handler("pypi_witness.v1.LogService", handlers)
        self.server.add_generic_rpc_handlers([service])
        self.address = f"127.0.0.1:{self.server.add_insecure_port('127.0.0.1:0')}"
        self.server.start()

    def _answer(self, name: str):
        return lambda request, context: self.answers[name]


@pytest.fixture
def node():
    hostile = HostileNode()
    yield hostile
    hostile.server.stop(0)


def lookup_answer(note: bytes, results=None) -> bytes:
    """A LookupFilenames answer: ``note`` and one result for FILE, proven in a tree of that one leaf."""
    if results is None:
        entry = pb.ProvenEntry(index=0, leaf=format_record(FILE))
        results = [pb.FilenameResult(filename=FILE.filename, entries=[entry])]
    return pb.LookupFilenamesResponse(checkpoint=note, results=results).SerializeToString()


def good_note(signer=LOG) -> bytes:
    return sign_checkpoint(Checkpoint(signer.name, 1, leaf_hash(format_record(FILE))), signer)


def verify(node, tmp_path, code):
    req = tmp_path / "requirements.txt"
    req.write_text(requirement(FILE))
    return run("verify", "--vkey", LOG.verifier().vkey(), "--node", node.address, "--timeout", "10", req, code=code)


def test_the_hostile_node_answering_honestly_is_believed(node, tmp_path):
    node.answers["LookupFilenames"] = lookup_answer(good_note())
    verify(node, tmp_path, code=0)


@pytest.mark.parametrize(
    "answer, message",
    [
        (b"\xff\xff\xff", "answered LookupFilenames with 3 bytes that are not a LookupFilenamesResponse"),
        (lookup_answer(good_note().replace(b"\n", b"\r\n")), "checkpoint does not parse"),
        (lookup_answer(good_note().replace(b"log\n1\n", b"log\xff\n1\n")), "not valid UTF-8"),
        (lookup_answer(good_note(), results=[]), "asked about 1 filenames, answered 0"),
    ],
    ids=["undecodable-protobuf", "crlf-note", "invalid-utf8-note", "empty-page"],
)
def test_an_answer_that_does_not_parse_fails_verification_naming_the_node(node, tmp_path, answer, message):
    node.answers["LookupFilenames"] = answer
    result = verify(node, tmp_path, code=3)
    (line,) = [x for x in result.out.splitlines() if x.startswith("node ")]
    assert line.startswith(f"node {node.address}: FAILED VERIFICATION: ") and message in line


def test_query_checkpoint_of_a_note_that_does_not_parse_exits_3(node):
    crlf = good_note().replace(b"\n", b"\r\n")
    node.answers["GetCheckpoint"] = pb.GetCheckpointResponse(checkpoint=crlf).SerializeToString()
    result = run("query", "checkpoint", "--node", node.address, "--vkey", LOG.verifier().vkey(), code=3)
    assert "checkpoint is malformed" in result.err
    node.answers["GetCheckpoint"] = b"\x0a\xff"  # a field whose length runs past the end
    result = run("query", "checkpoint", "--node", node.address, "--vkey", LOG.verifier().vkey(), code=3)
    assert "not a GetCheckpointResponse" in result.err


def test_a_node_serving_another_log_is_named_as_such(node, tmp_path):
    node.answers["LookupFilenames"] = lookup_answer(good_note(OTHER))
    result = verify(node, tmp_path, code=1)
    line = one_error_line(result)
    assert f"{node.address} it serves the log 'other.example/log', which neither --policy nor --vkey trusts" in line
    assert "no node of a trusted log answered" in line


def test_a_proof_bundle_from_a_node_whose_note_does_not_parse_exits_3(node, tmp_path):
    node.answers["LookupFilenames"] = lookup_answer(good_note().replace(b"\n", b"\r\n"))
    out = tmp_path / "x.tlog-proof"
    result = run("proof", FILE.filename, "--node", node.address, "--vkey", LOG.verifier().vkey(), "--out", out, code=3)
    assert "checkpoint is malformed" in result.err and not out.exists()
