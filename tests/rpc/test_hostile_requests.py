"""Hostile requests over real gRPC on 127.0.0.1: health checking and reflection, long inputs, held streams.

Every bad request gets its own status with a short message, nothing is logged
with a traceback, and the node keeps answering everyone else.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import queue

import grpc
import pytest
import trio
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from pypi_witness.config.node import PeerConfig
from pypi_witness.rpc.bridge import call_unary
from pypi_witness.rpc.client import LogClient
from pypi_witness.rpc.gen.v1 import log_pb2
from pypi_witness.rpc.gen.v1 import witness_pb2
from pypi_witness.rpc.log_service import SERVICE_NAME as LOG_SERVICE
from pypi_witness.rpc.standard_services import HEALTH_WATCHES
from pypi_witness.rpc.witness_service import SERVICE_NAME as WITNESS_SERVICE
from tests.core.tlog.test_witness import LOG, TREE
from tests.rpc.support import config_for, start_node

Code = grpc.StatusCode
CHECK = "/grpc.health.v1.Health/Check"
WATCH = "/grpc.health.v1.Health/Watch"
INFO = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
LONG = 20_000  # characters: beyond gRPC's 8 KiB metadata limit if echoed whole
# A message quoting LONG characters of input must still be short.
SHORT = 600


@pytest.fixture
async def node(nursery, data_dir, caplog):
    caplog.set_level(logging.DEBUG)
    config = dataclasses.replace(config_for(data_dir), peers=(PeerConfig("t", LOG.verifier()),))
    address = await start_node(nursery, config)
    channel = grpc.insecure_channel(address)
    yield address, channel
    channel.close()


async def unary(channel: grpc.Channel, method: str, request: bytes) -> tuple[Code, str, bytes | None]:
    try:
        with trio.fail_after(10):
            return Code.OK, "", await call_unary(channel.unary_unary(method), request)
    except grpc.RpcError as e:
        return e.code(), e.details() or "", None


def no_tracebacks(caplog) -> None:
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_malformed_health_and_reflection_requests_are_invalid_argument(node, caplog):
    _, channel = node
    code, details, _ = await unary(channel, CHECK, b"\xff\xff")
    assert (code, details.startswith("the request does not parse")) == (Code.INVALID_ARGUMENT, True)

    watch = channel.unary_stream(WATCH)
    with pytest.raises(grpc.RpcError) as caught:
        await trio.to_thread.run_sync(lambda: list(watch(b"\xff\xff", timeout=10)))
    assert caught.value.code() is Code.INVALID_ARGUMENT
    assert caught.value.details().startswith("the request does not parse")

    info = channel.stream_stream(INFO)
    for _ in range(3):
        with pytest.raises(grpc.RpcError) as caught:
            await trio.to_thread.run_sync(lambda: list(info(iter([b"\xff\xff"]), timeout=10)))
        assert caught.value.code() is Code.INVALID_ARGUMENT
        assert caught.value.details().startswith("the request does not parse")
    no_tracebacks(caplog)


async def test_health_answers_known_services_and_names_an_unknown_one(node, caplog):
    _, channel = node
    code, _, raw = await unary(channel, CHECK, health_pb2.HealthCheckRequest(service="").SerializeToString())
    assert code is Code.OK
    assert health_pb2.HealthCheckResponse.FromString(raw).status == health_pb2.HealthCheckResponse.SERVING
    code, _, raw = await unary(channel, CHECK, health_pb2.HealthCheckRequest(service=LOG_SERVICE).SerializeToString())
    assert health_pb2.HealthCheckResponse.FromString(raw).status == health_pb2.HealthCheckResponse.SERVING
    code, details, _ = await unary(channel, CHECK, health_pb2.HealthCheckRequest(service="nope").SerializeToString())
    assert code is Code.NOT_FOUND
    assert details == f"no health status for service 'nope' (known: '', '{LOG_SERVICE}', 'pypi_witness.v1.Writes')"
    code, details, _ = await unary(channel, CHECK, health_pb2.HealthCheckRequest(service="s" * LONG).SerializeToString())
    assert code is Code.NOT_FOUND and len(details) < SHORT
    no_tracebacks(caplog)


async def test_reflection_still_lists_the_services(node):
    _, channel = node
    info = channel.stream_stream(INFO)
    request = reflection_pb2.ServerReflectionRequest(list_services="").SerializeToString()
    (raw,) = await trio.to_thread.run_sync(lambda: list(info(iter([request]), timeout=10)))
    names = {s.name for s in reflection_pb2.ServerReflectionResponse.FromString(raw).list_services_response.service}
    assert {LOG_SERVICE, WITNESS_SERVICE, "grpc.health.v1.Health"} <= names


async def test_health_watches_hold_no_worker_thread_and_are_bounded(node):
    """More watches than grpc_workers (4) leave the log served; one past HEALTH_WATCHES is refused."""
    address, channel = node
    watch = channel.unary_stream(WATCH)
    request = health_pb2.HealthCheckRequest(service="").SerializeToString()
    calls = [watch(request, timeout=30) for _ in range(HEALTH_WATCHES)]
    try:
        for call in calls:  # each has its first answer: every watch is running
            first = await trio.to_thread.run_sync(next, call)
            assert health_pb2.HealthCheckResponse.FromString(first).status == health_pb2.HealthCheckResponse.SERVING
        async with LogClient(address) as client:
            with trio.fail_after(10):  # a guard: with blocked workers this call would wait forever
                assert await client.checkpoint()
        extra = watch(request, timeout=10)
        with pytest.raises(grpc.RpcError) as caught:
            await trio.to_thread.run_sync(next, extra)
        assert caught.value.code() is Code.RESOURCE_EXHAUSTED
        assert "health watches are open already" in caught.value.details()
    finally:
        for call in calls:
            call.cancel()


async def test_an_open_reflection_stream_cannot_take_every_worker(node):
    address, channel = node
    info = channel.stream_stream(INFO)
    held: queue.Queue[bytes | None] = queue.Queue()

    def requests():
        while (item := held.get()) is not None:
            yield item

    request = reflection_pb2.ServerReflectionRequest(list_services="").SerializeToString()
    first = info(requests(), timeout=30)
    held.put(request)
    try:
        await trio.to_thread.run_sync(next, first)  # the stream is open and waits for more
        others = [info(iter([request]), timeout=10) for _ in range(4)]
        for other in others:
            with pytest.raises(grpc.RpcError) as caught:
                await trio.to_thread.run_sync(lambda o=other: list(o))
            assert caught.value.code() is Code.RESOURCE_EXHAUSTED
        async with LogClient(address) as client:
            with trio.fail_after(10):
                assert await client.checkpoint()
    finally:
        held.put(None)
        first.cancel()


async def test_a_long_unknown_filename_is_not_found_with_a_short_message(node):
    _, channel = node
    request = log_pb2.LookupFilenameRequest(filename="f" * LONG).SerializeToString()
    code, details, _ = await unary(channel, f"/{LOG_SERVICE}/LookupFilename", request)
    assert code is Code.NOT_FOUND
    assert details.startswith("'ffff") and f"... ({LONG} characters) is not in the log" in details
    assert len(details) < SHORT


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


SIGNATURE = f"\u2014 someone {_b64(bytes(68))}\n"
ROOT = _b64(bytes(32))
GOOD_BODY = TREE.note(5).decode().partition("\n\n")[0] + "\n"


@pytest.mark.parametrize(
    ("note", "code"),
    [
        ("o" * LONG + f"\n5\n{ROOT}\n\n" + SIGNATURE, Code.NOT_FOUND),  # an unknown origin
        (f"{LOG.name}\n" + "9" * 20 + "x" * LONG + f"\n{ROOT}\n\n" + SIGNATURE, Code.INVALID_ARGUMENT),  # size line
        (GOOD_BODY + "\n" + SIGNATURE + "s" * LONG + "\n", Code.INVALID_ARGUMENT),  # a signature line
        (GOOD_BODY + "e" * LONG + "\n\n" + SIGNATURE, Code.PERMISSION_DENIED),  # an extension line: unsigned
        (GOOD_BODY + f"\n\u2014 {'n' * LONG} {_b64(bytes(68))}\n", Code.PERMISSION_DENIED),  # a signer's name
        (GOOD_BODY + f"\n\u2014 someone {'A' * LONG}!\n", Code.INVALID_ARGUMENT),  # not base64
    ],
    ids=["origin", "size", "signature-line", "extension", "signer-name", "base64"],
)
async def test_a_long_line_in_a_checkpoint_gets_its_status_with_a_short_message(node, note, code, caplog):
    _, channel = node
    request = witness_pb2.AddCheckpointRequest(old_size=0, checkpoint=note.encode()).SerializeToString()
    got, details, _ = await unary(channel, f"/{WITNESS_SERVICE}/AddCheckpoint", request)
    assert (got, len(details) < SHORT) == (code, True), details[:200]
    no_tracebacks(caplog)


async def test_unexpected_errors_are_logged_once_per_interval(nursery, data_dir, caplog, monkeypatch):
    """A client that triggers the same bug again and again cannot flood the node's log."""
    from pypi_witness.rpc import log_service

    class Bug(Exception):
        pass

    def broken(self, request):
        raise Bug("a bug")

    monkeypatch.setattr(log_service.LogServicer, "get_entries", broken)
    address = await start_node(nursery, config_for(data_dir))
    with grpc.insecure_channel(address) as channel:
        request = log_pb2.GetEntriesRequest(start=0, end=1).SerializeToString()
        for _ in range(5):
            code, _, _ = await unary(channel, f"/{LOG_SERVICE}/GetEntries", request)
            assert code is Code.INTERNAL
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(logged) == 1 and logged[0].exc_info is not None


@pytest.mark.parametrize(
    ("sender", "messages", "code"),
    [
        ("p" * LONG, [], Code.NOT_FOUND),  # no such peer
        ("t", [b"x" * LONG], Code.INVALID_ARGUMENT),  # not a gossip message
        ("t", [b"heads\n" + b"h" * LONG + b"\n"] * 100, Code.INVALID_ARGUMENT),
    ],
    ids=["long-sender", "long-message", "many-long-messages"],
)
async def test_hostile_gossip_gets_its_status_with_a_short_message(node, sender, messages, code, caplog):
    from pypi_witness.rpc.gen.v1 import gossip_pb2
    from pypi_witness.rpc.gossip_service import SERVICE_NAME as GOSSIP_SERVICE

    _, channel = node
    request = gossip_pb2.ExchangeRequest(sender=sender, messages=messages, time=1, signature=bytes(64))
    got, details, _ = await unary(channel, f"/{GOSSIP_SERVICE}/Exchange", request.SerializeToString())
    assert (got, len(details) < SHORT) == (code, True), details[:200]
    no_tracebacks(caplog)


async def test_deeply_nested_protobuf_is_invalid_argument_on_every_method(node, caplog):
    """100,000 nested groups of an unknown field: protobuf's depth limit refuses them, on every unary method."""
    from pypi_witness.rpc.gen.v1 import gossip_pb2
    from pypi_witness.rpc.gossip_service import SERVICE_NAME as GOSSIP_SERVICE

    _, channel = node
    deep = b"\x7b" * 100_000 + b"\x7c" * 100_000  # field 15: start group ... end group
    for pb, service in ((log_pb2, LOG_SERVICE), (witness_pb2, WITNESS_SERVICE), (gossip_pb2, GOSSIP_SERVICE)):
        for method in pb.DESCRIPTOR.services_by_name[service.rpartition(".")[2]].methods:
            code, details, _ = await unary(channel, f"/{service}/{method.name}", deep)
            assert (code, details.startswith("the request does not parse")) == (Code.INVALID_ARGUMENT, True)
    code, details, _ = await unary(channel, CHECK, deep)
    assert code is Code.INVALID_ARGUMENT
    no_tracebacks(caplog)
