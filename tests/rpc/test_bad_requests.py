"""Bad requests and failing stores get the right status and a useful message; the node keeps serving."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest
import trio
from google.protobuf.message import DecodeError
from grpc_health.v1 import health

from pypi_witness.core.errors import (
    MalformedError,
    NotFoundError,
    OutOfRangeError,
    OverloadedError,
    StoreError,
    UnavailableError,
)
from pypi_witness.signing.keys import read_verifier
from pypi_witness.signing.log import STORE_DIR, VERIFIER_KEY_FILE, Log
from pypi_witness.rpc.bridge import call_unary
from pypi_witness.rpc.client import LogClient
from pypi_witness.rpc.errors import INTERNAL_MESSAGE, STORE_MESSAGE
from pypi_witness.rpc.gen.v1 import log_pb2 as pb
from pypi_witness.rpc.gen.v1.log_pb2_grpc import LogServiceStub
from pypi_witness.rpc.log_service import LOOKUP_CHUNK, SERVICE_NAME
from pypi_witness.runtime.node import serve_grpc
from pypi_witness.store.lmdb_store import LmdbStore
from tests.rpc.support import config_for, sample_leaves, start_node

SIZE = len(sample_leaves())
MAX_LOOKUP = 50
U64 = (1 << 64) - 1


@pytest.fixture
async def node(nursery, data_dir):
    return await start_node(nursery, config_for(data_dir, max_lookup_filenames=MAX_LOOKUP))


BAD_CALLS = [
    ("entries-backwards", lambda c: c.entries(5, 3), MalformedError, "start 5 is after end 3"),
    ("entries-end-past", lambda c: c.entries(0, SIZE + 1), OutOfRangeError, f"not in a log of size {SIZE}"),
    ("entries-start-past", lambda c: c.entries(SIZE + 1, SIZE + 2), OutOfRangeError, f"log of size {SIZE}"),
    ("entries-u64", lambda c: c.entries(U64 - 1, U64), OutOfRangeError, f"log of size {SIZE}"),
    ("inclusion-index-eq-size", lambda c: c.inclusion_proof(10, 10), OutOfRangeError, "index 10 is not in a tree of size 10"),
    ("inclusion-size-0", lambda c: c.inclusion_proof(0, 0), OutOfRangeError, "tree of size 0"),
    ("inclusion-size-past", lambda c: c.inclusion_proof(0, SIZE + 1), OutOfRangeError, f"size {SIZE + 1} is not in a log of size {SIZE}"),
    ("inclusion-u64", lambda c: c.inclusion_proof(U64, U64), OutOfRangeError, f"log of size {SIZE}"),
    ("consistency-backwards", lambda c: c.consistency_proof(10, 5), OutOfRangeError, "old size 10"),
    ("consistency-new-past", lambda c: c.consistency_proof(5, SIZE + 1), OutOfRangeError, f"log of size {SIZE}"),
    ("lookup-unknown", lambda c: c.lookup("nope-1.0.tar.gz"), NotFoundError, f"'nope-1.0.tar.gz' is not in the log (checked up to size {SIZE})"),
    ("lookup-empty", lambda c: c.lookup(""), MalformedError, "filename is empty"),
    ("lookup-many-empty-name", lambda c: c.lookup_many(["a.whl", ""]), MalformedError, "filenames[1] is empty"),
    ("lookup-many-too-many", lambda c: c.lookup_many(["a.whl"] * (MAX_LOOKUP + 1)), MalformedError, f"at most {MAX_LOOKUP}"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "message"), [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS])
async def test_bad_request_gets_its_status_and_message(node, call, error, message):
    async with LogClient(node) as client:
        with pytest.raises(error) as caught:
            await call(client)
        assert type(caught.value) is error
        assert message in str(caught.value)
        assert await client.checkpoint()  # still serving


async def test_garbage_bytes_get_invalid_argument_on_every_method(node):
    channel = grpc.insecure_channel(node)
    try:
        for method in pb.DESCRIPTOR.services_by_name["LogService"].methods:
            raw = channel.unary_unary(f"/{SERVICE_NAME}/{method.name}")  # bytes in, bytes out
            # Not protobuf at all; a truncated tag; a string field holding bad UTF-8.
            for garbage in (b"\xff\xff\xff\xff", b"garbage!", b"\x0a\x02\xff\xfe"):
                try:
                    getattr(pb, method.input_type.name).FromString(garbage)
                except DecodeError:
                    pass
                else:
                    continue  # valid wire format for this request type (an unknown field)
                with pytest.raises(grpc.RpcError) as caught:
                    await call_unary(raw, garbage)
                assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT, (method.name, garbage)
                assert "the request does not parse" in caught.value.details()
    finally:
        channel.close()
    async with LogClient(node) as client:
        assert (await client.inclusion_proof(1, 2)).index == 1


async def test_unknown_fields_are_ignored(node):
    channel = grpc.insecure_channel(node)
    try:
        raw = channel.unary_unary(f"/{SERVICE_NAME}/GetCheckpoint")
        reply = pb.GetCheckpointResponse.FromString(await call_unary(raw, b"\x0a\x02\xff\xfe"))
        assert reply.checkpoint.startswith(b"test.pypi-witness.invalid/log\n")
    finally:
        channel.close()


async def test_unknown_method_is_unimplemented(node):
    channel = grpc.insecure_channel(node)
    try:
        with pytest.raises(grpc.RpcError) as caught:
            await call_unary(channel.unary_unary(f"/{SERVICE_NAME}/DropTables"), b"")
        assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED
    finally:
        channel.close()


async def test_a_request_over_the_message_limit_is_refused(nursery, data_dir):
    address = await start_node(nursery, config_for(data_dir, max_message_bytes=16 << 10))
    async with LogClient(address) as client:
        with pytest.raises(OverloadedError):  # RESOURCE_EXHAUSTED, from gRPC itself
            await client.lookup_many([f"{'x' * 60}-{i}.whl" for i in range(400)])
        assert await client.checkpoint()


async def test_an_unreachable_node_is_unavailable():
    with trio.socket.socket() as sock:  # a port with nothing listening
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with LogClient(f"127.0.0.1:{port}") as client:
        with pytest.raises(UnavailableError):
            await client.checkpoint()


async def test_arguments_that_cannot_be_sent_are_refused_locally():
    async with LogClient("127.0.0.1:9") as client:
        for call in (lambda: client.entries(-1, 3), lambda: client.inclusion_proof(0, 1 << 64)):
            with pytest.raises(MalformedError):
                await call()


# --- a node over a store that misbehaves -------------------------------------------------


class StoreWrapper:
    """Delegates to a real store; tests override what should misbehave."""

    def __init__(self, inner: LmdbStore) -> None:
        self.inner = inner

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def open_wrapped(data_dir: Path, wrapper: type[StoreWrapper], **kwargs) -> Log:
    store = wrapper(LmdbStore(data_dir / STORE_DIR, readonly=True), **kwargs)
    return Log(store, read_verifier(str(data_dir / VERIFIER_KEY_FILE)))  # type: ignore[arg-type]


@asynccontextmanager
async def serving(log: Log, data_dir: Path, **limits) -> AsyncIterator[str]:
    """A gRPC server for ``log`` (no writer: these logs are read-only) until the block ends."""
    try:
        async with trio.open_nursery() as nursery:
            address = await nursery.start(serve_grpc, config_for(data_dir, **limits), log, health.HealthServicer())
            yield address
            nursery.cancel_scope.cancel()
    finally:
        log.close()


class FailingStore(StoreWrapper):
    def leaves(self, start, end):
        raise RuntimeError("boom at /srv/secret/path")

    def read_hashes(self, ids):
        raise StoreError("cannot read /srv/secret/log: I/O error")


async def test_unexpected_errors_are_internal_with_a_generic_message_and_logged(data_dir, caplog):
    caplog.set_level(logging.DEBUG, logger="pypi_witness")
    async with serving(open_wrapped(data_dir, FailingStore), data_dir) as address, LogClient(address) as client:
        with pytest.raises(UnavailableError) as caught:
            await client.entries(0, 3)
        assert str(caught.value) == f"the node answered INTERNAL: {INTERNAL_MESSAGE}"
        with pytest.raises(UnavailableError) as caught:
            await client.consistency_proof(3, 5)
        assert str(caught.value) == STORE_MESSAGE
        assert await client.checkpoint()  # still serving
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == "pypi_witness.rpc"]
    assert len(errors) == 2
    assert errors[0].exc_info is not None and "boom at /srv/secret/path" in caplog.text
    assert "cannot read /srv/secret/log" in errors[1].getMessage()


async def test_log_lines_tell_clients_apart_without_their_address(data_dir, caplog):
    caplog.set_level(logging.DEBUG)
    async with serving(open_wrapped(data_dir, StoreWrapper), data_dir) as address, LogClient(address) as client:
        for _ in range(2):
            with pytest.raises(OutOfRangeError):
                await client.inclusion_proof(5, 5)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("pypi_witness.rpc")]
    assert len(lines) == 2
    tags = {re.match(r"client (c:[0-9a-f]{32}) GetInclusionProof -> OUT_OF_RANGE", line).group(1) for line in lines}
    assert len(tags) == 1  # one client, one tag
    assert "127.0.0.1" not in caplog.text and "ipv4" not in caplog.text


# --- deadlines cancel the server's work ---------------------------------------------------


class BlockingStore(StoreWrapper):
    """The first lookup blocks until ``release`` is set; counts lookups."""

    def __init__(self, inner: LmdbStore, release: threading.Event) -> None:
        super().__init__(inner)
        self.release = release
        self.lookups = 0

    def lookup(self, filename):
        self.lookups += 1
        if self.lookups == 1:
            self.release.wait(10)
        return self.inner.lookup(filename)


@pytest.mark.parametrize("deadline_from", ["trio", "grpc"])
async def test_a_client_deadline_cancels_the_handler(data_dir, caplog, deadline_from):
    caplog.set_level(logging.DEBUG, logger="pypi_witness.rpc")
    release = threading.Event()
    log = open_wrapped(data_dir, BlockingStore, release=release)
    names = [f"missing-{i}.whl" for i in range(MAX_LOOKUP)]
    async with serving(log, data_dir, max_lookup_filenames=MAX_LOOKUP) as address:
        if deadline_from == "trio":
            async with LogClient(address) as client:
                with pytest.raises(trio.TooSlowError), trio.fail_after(0.3):
                    await client.lookup_many(names)
        else:  # a plain gRPC client's timeout
            channel = grpc.insecure_channel(address)
            future = LogServiceStub(channel).LookupFilenames.future(
                pb.LookupFilenamesRequest(filenames=names), timeout=0.3
            )
            with trio.fail_after(10):
                error = await trio.to_thread.run_sync(future.exception)
            assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
            channel.close()
        await trio.sleep(0.2)  # the server's scope is cancelled by now; let the blocked lookup go
        release.set()
        with trio.fail_after(10):
            while "LookupFilenames cancelled" not in caplog.text:
                await trio.sleep(0.01)
        await trio.sleep(0.1)
        # The handler stopped at the first chunk boundary instead of looking up all the names.
        assert f"LookupFilenames cancelled after {LOOKUP_CHUNK} of {MAX_LOOKUP} filenames" in caplog.text
        assert log.store.lookups == LOOKUP_CHUNK


class HoldingStore(StoreWrapper):
    """Every lookup waits for ``release``."""

    def __init__(self, inner: LmdbStore, release: threading.Event) -> None:
        super().__init__(inner)
        self.release = release
        self.waiting = 0

    def lookup(self, filename):
        self.waiting += 1
        self.release.wait(10)
        return self.inner.lookup(filename)


async def test_calls_over_the_concurrency_limit_are_overloaded_and_the_node_recovers(data_dir):
    release = threading.Event()
    log = open_wrapped(data_dir, HoldingStore, release=release)
    async with serving(log, data_dir, max_concurrent_rpcs=2) as address, LogClient(address) as client:
        async with trio.open_nursery() as nursery:
            for name in ("a.whl", "b.whl"):
                nursery.start_soon(client.lookup_many, [name])  # both held in the store
            with trio.fail_after(10):
                while log.store.waiting < 2:
                    await trio.sleep(0.01)
            with pytest.raises(OverloadedError):
                await client.checkpoint()
            release.set()
        assert await client.checkpoint()
