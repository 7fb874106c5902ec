"""A damaged entry is DATA_LOSS with an alarm, never NOT_FOUND or "try again later"; the node keeps serving."""

from __future__ import annotations

import logging
from pathlib import Path

import grpc
import pytest

from pypi_witness.core.records.format import parse_record
from pypi_witness.core.errors import UnavailableError
from pypi_witness.signing.log import STORE_DIR
from pypi_witness.rpc.bridge import call_unary
from pypi_witness.rpc.client import LogClient
from pypi_witness.rpc.errors import CORRUPTION_MESSAGE
from pypi_witness.rpc.gen.v1 import log_pb2 as pb
from pypi_witness.rpc.gen.v1.log_pb2_grpc import LogServiceStub
from tests.rpc.support import config_for, sample_leaves, start_node

LEAVES = sample_leaves()
SIZE = len(LEAVES)


def flip(data_dir: Path, needle: str, offset: int) -> None:
    """Flip one bit of the one occurrence of ``needle`` in the store's data file."""
    path = data_dir / STORE_DIR / "data.mdb"
    content = bytearray(path.read_bytes())
    at = content.find(needle.encode())
    assert at >= 0 and content.find(needle.encode(), at + 1) < 0
    content[at + offset] ^= 0x02
    path.write_bytes(bytes(content))


@pytest.mark.parametrize(("index", "field"), [(51, "sha256"), (120, "filename")])
async def test_a_damaged_entry_is_data_loss_and_an_alarm(nursery, data_dir, caplog, index, field):
    caplog.set_level(logging.WARNING, logger="pypi_witness")
    record = parse_record(LEAVES[index])
    flip(data_dir, getattr(record, field), offset=5)
    address = await start_node(nursery, config_for(data_dir))
    channel = grpc.insecure_channel(address)
    try:
        stub = LogServiceStub(channel)
        for call, request in [
            (stub.LookupFilename, pb.LookupFilenameRequest(filename=record.filename)),
            (stub.LookupFilenames, pb.LookupFilenamesRequest(filenames=[record.filename])),
            (stub.GetInclusionProof, pb.GetInclusionProofRequest(index=index, size=SIZE)),
        ]:
            with pytest.raises(grpc.RpcError) as caught:
                await call_unary(call, request)
            assert (caught.value.code(), caught.value.details()) == (grpc.StatusCode.DATA_LOSS, CORRUPTION_MESSAGE)
        async with LogClient(address) as client:
            with pytest.raises(UnavailableError, match="the node reports its log damaged \\(DATA_LOSS\\)"):
                await client.lookup(record.filename)
            other = parse_record(LEAVES[10])
            (result,) = (await client.lookup(other.filename)).results
            assert [e.index for e in result.entries] == [10]  # still serving
    finally:
        channel.close()
    alarms = [r for r in caplog.records if r.getMessage().startswith("ALARM store-damaged")]
    assert alarms and all(r.levelno == logging.CRITICAL for r in alarms)
    assert any(f"entries {index & ~1} and {index | 1} do not match" in r.getMessage() for r in alarms)
