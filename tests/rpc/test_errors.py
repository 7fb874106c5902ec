"""The one error <-> status table, both ways."""

from __future__ import annotations

import grpc
import pytest

from pypi_witness.core.errors import (
    ConfigError,
    ConflictError,
    EquivocationError,
    MalformedError,
    NoteError,
    NotFoundError,
    OutOfRangeError,
    OverloadedError,
    ProofError,
    RecordError,
    SignatureError,
    StoreError,
    UnavailableError,
    VerificationError,
    WitnessError,
)
from pypi_witness.rpc.errors import (
    INTERNAL_MESSAGE,
    KNOWN_SIZE_KEY,
    MAX_DETAILS,
    RETRY_AFTER_KEY,
    STORE_MESSAGE,
    clean_details,
    error_from_status,
    status_for,
)

Code = grpc.StatusCode


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (MalformedError("m"), Code.INVALID_ARGUMENT),
        (NoteError("m"), Code.INVALID_ARGUMENT),
        (RecordError("m"), Code.INVALID_ARGUMENT),
        (ConfigError("m"), Code.INVALID_ARGUMENT),
        (ProofError("m"), Code.FAILED_PRECONDITION),
        (SignatureError("m"), Code.PERMISSION_DENIED),
        (EquivocationError("m"), Code.ALREADY_EXISTS),
        (VerificationError("m"), Code.INVALID_ARGUMENT),
        (OutOfRangeError("m"), Code.OUT_OF_RANGE),
        (NotFoundError("m"), Code.NOT_FOUND),
        (OverloadedError("m"), Code.RESOURCE_EXHAUSTED),
        (ConflictError("m", known_size=3), Code.ABORTED),
        (UnavailableError("m"), Code.UNAVAILABLE),
    ],
)
def test_request_errors_keep_their_message(error, code):
    status = status_for(error)
    assert (status.code, status.message) == (code, "m")


def test_conflict_carries_the_known_size():
    assert status_for(ConflictError("stale", known_size=42)).trailing_metadata == ((KNOWN_SIZE_KEY, "42"),)
    assert status_for(ConflictError("stale")).trailing_metadata == ()


def test_store_and_unknown_errors_do_not_leak_their_detail():
    store = status_for(StoreError("cannot open store at /srv/secret/log"))
    assert (store.code, store.message) == (Code.UNAVAILABLE, STORE_MESSAGE)
    for error in (RuntimeError("/srv/secret"), KeyError("secret"), WitnessError("secret")):
        status = status_for(error)
        assert (status.code, status.message) == (Code.INTERNAL, INTERNAL_MESSAGE)


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (Code.INVALID_ARGUMENT, MalformedError),
        (Code.OUT_OF_RANGE, OutOfRangeError),
        (Code.NOT_FOUND, NotFoundError),
        (Code.RESOURCE_EXHAUSTED, OverloadedError),
        (Code.ABORTED, ConflictError),
        (Code.UNAVAILABLE, UnavailableError),
        (Code.PERMISSION_DENIED, SignatureError),
        (Code.FAILED_PRECONDITION, ProofError),
        (Code.ALREADY_EXISTS, EquivocationError),
        (Code.INTERNAL, UnavailableError),
        (Code.UNKNOWN, UnavailableError),
        (Code.UNIMPLEMENTED, UnavailableError),
        (Code.DEADLINE_EXCEEDED, UnavailableError),
        (None, UnavailableError),
    ],
)
def test_statuses_become_package_errors(code, cls):
    error = error_from_status(code, "what happened")
    assert type(error) is cls
    assert "what happened" in str(error)


def test_every_server_error_comes_back_as_its_class_or_a_parent():
    for error in (MalformedError("x"), OutOfRangeError("x"), NotFoundError("x"), OverloadedError("x"),
                  ConflictError("x", 7), UnavailableError("x")):  # fmt: skip
        status = status_for(error)
        back = error_from_status(status.code, status.message, status.trailing_metadata)
        assert type(back) is type(error) and str(back) == "x"
    back = error_from_status(Code.ABORTED, "stale", ((KNOWN_SIZE_KEY, "42"),))
    assert isinstance(back, ConflictError) and back.known_size == 42


def test_bad_known_size_metadata_is_ignored():
    for value in ("-1", "x", "9" * 30, b"12"):
        assert error_from_status(Code.ABORTED, "stale", ((KNOWN_SIZE_KEY, value),)).known_size is None


def test_details_from_a_node_are_made_safe_to_print():
    assert clean_details("bad\x1b[31mred\nline") == "bad?[31mred?line"
    long = clean_details("x" * 1000)
    assert len(long) == MAX_DETAILS and long.endswith("...")
    assert clean_details(None) == ""


def test_overloaded_carries_retry_after_both_ways():
    status = status_for(OverloadedError("slow down", retry_after=7))
    assert status.code is Code.RESOURCE_EXHAUSTED
    assert status.trailing_metadata == ((RETRY_AFTER_KEY, "7"),)
    assert status_for(OverloadedError("full")).trailing_metadata == ()
    back = error_from_status(status.code, status.message, status.trailing_metadata)
    assert isinstance(back, OverloadedError) and back.retry_after == 7
    for value in ("-1", "x", "9" * 30, b"3"):
        assert error_from_status(Code.RESOURCE_EXHAUSTED, "m", ((RETRY_AFTER_KEY, value),)).retry_after is None


@pytest.mark.parametrize("text", ["x" * 100_000, "\U0001f600" * 30_000, "\x00" * 50_000])
def test_a_status_message_never_exceeds_max_status_bytes(text):
    from pypi_witness.rpc.errors import MAX_STATUS_BYTES

    message = status_for(MalformedError(f"bad: {text}")).message
    assert len(message.encode()) <= MAX_STATUS_BYTES
    assert message.startswith("bad: ") and message.endswith("...")
    assert status_for(MalformedError("short")).message == "short"


def test_damage_is_data_loss_and_a_full_disk_resource_exhausted_without_their_detail():
    from pypi_witness.core.errors import CorruptionError, RollbackError, StoreFullError
    from pypi_witness.rpc.errors import CORRUPTION_MESSAGE, FULL_MESSAGE

    for error in (CorruptionError("/srv/secret/log/data.mdb is truncated"), RollbackError("/srv/x", 5, 3)):
        assert status_for(error) == status_for(CorruptionError("x"))
        assert (status_for(error).code, status_for(error).message) == (Code.DATA_LOSS, CORRUPTION_MESSAGE)
    full = status_for(StoreFullError("cannot append to the store at /srv/secret: no space left on device"))
    assert (full.code, full.message, full.trailing_metadata) == (Code.RESOURCE_EXHAUSTED, FULL_MESSAGE, ())


def test_data_loss_from_a_node_is_unavailable_saying_so():
    error = error_from_status(Code.DATA_LOSS, "the node's log is damaged")
    assert type(error) is UnavailableError
    assert str(error) == "the node reports its log damaged (DATA_LOSS): the node's log is damaged"


def test_damage_is_alarmed_in_the_nodes_log(caplog):
    import logging

    from pypi_witness.core.errors import CorruptionError
    from pypi_witness.rpc.errors import report

    caplog.set_level(logging.DEBUG, logger="pypi_witness.rpc")
    report(CorruptionError("entry 7 does not parse"), "LookupFilename", "c:1")
    (line,) = caplog.records
    assert line.levelno == logging.CRITICAL
    assert line.getMessage() == "ALARM store-damaged: entry 7 does not parse (client c:1 LookupFilename answered DATA_LOSS)"
