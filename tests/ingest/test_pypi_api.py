"""The index API parser against hostile values: deep, huge or of the wrong type, each an IndexResponseError
with a short message (never a RecursionError, never a message that holds the whole value)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest

from pypi_witness.core.errors import IndexResponseError
from pypi_witness.ingest.http import HttpClient, Response
from pypi_witness.ingest.pypi_api import PyPIClient, parse_changelog, parse_release

SHORT = 1000


def deep(levels: int, inner: object = "x") -> object:
    for _ in range(levels):
        inner = [inner]
    return inner


def xml_deep(levels: int, inner: str = "<string>x</string>") -> str:
    return "<value><array><data>" * levels + f"<value>{inner}</value>" + "</data></array></value>" * levels


@pytest.mark.parametrize(
    "rows",
    [
        [[deep(5000), None, 1, "create", 1]],
        [["a", "1", 1, deep(5000), 1]],
        [["x" * 1_000_000, "1", 1, 5, 1]],
        [["a", "1", 1, "add source file " + "f" * 1_000_000, 1]],  # a long action with no version is fine here
        [["a", None, 1, "remove file " + "f" * 1_000_000, 1]],
        [["a", "1", 10**5000, "create", 1]],
    ],
    ids=["deep-name", "deep-action", "huge-name", "huge-filename", "no-version", "huge-int"],
)
def test_a_hostile_changelog_row_is_refused_with_a_short_message(rows):
    try:
        parse_changelog(rows)
    except IndexResponseError as e:
        assert len(str(e)) < SHORT
    else:
        assert rows[0][1] == "1"  # only a well-typed row with a version may pass


def response(data: object, content_type: str = "application/json") -> Response:
    body = data if isinstance(data, bytes) else orjson.dumps(data)
    return Response(200, {"content-type": content_type}, body, "http://127.0.0.1/")


def release(**entry: object) -> dict:
    good = {
        "filename": "a-1.tar.gz", "digests": {"sha256": "0" * 64, "blake2b_256": "1" * 64}, "size": 1,
        "url": "http://127.0.0.1/packages/a-1.tar.gz", "upload_time_iso_8601": "2024-01-01T00:00:00.000000Z",
    }  # fmt: skip
    return {"last_serial": 5, "urls": [{**good, **entry}]}


@pytest.mark.parametrize(
    "data",
    [
        release(digests={"sha256": deep(200), "blake2b_256": "1" * 64}),
        release(digests={"sha256": "a" * 1_000_000, "blake2b_256": "1" * 64}),
        release(upload_time_iso_8601=deep(200)),
        release(upload_time_iso_8601="9" * 1_000_000),
        release(size=deep(200)),
        release(filename=deep(200)),
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["deep-digest", "huge-digest", "deep-time", "huge-time", "deep-size", "deep-filename", "too-deep-json"],
)
def test_a_hostile_release_is_refused_with_a_short_message(data):
    with pytest.raises(IndexResponseError) as caught:
        parse_release("a" * 100_000, "1" * 100_000, response(data))
    assert len(str(caught.value)) < SHORT


@pytest.fixture
def xmlrpc_server():
    """A real HTTP server on 127.0.0.1 answering every POST with the XML body set in ``bodies[0]``."""
    bodies: list[bytes] = [b""]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(bodies[0])))
            self.end_headers()
            self.wfile.write(bodies[0])

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    client = PyPIClient(HttpClient(f"http://127.0.0.1:{server.server_address[1]}", timeout=10, max_body_bytes=1 << 24, user_agent="t"))
    yield bodies, client
    server.shutdown()
    server.server_close()


# A changelog of one row [name, nil, 1, "create", 1] whose name is 1,000 arrays deep.
CHANGELOG_DEEP_ROW = (
    "<value><array><data><value><array><data>"
    + xml_deep(1000)
    + "<value><nil/></value><value><int>1</int></value><value><string>create</string></value><value><int>1</int></value>"
    + "</data></array></value></data></array></value>"
)


def method_response(value: str) -> bytes:
    return f"<?xml version='1.0'?><methodResponse><params><param>{value}</param></params></methodResponse>".encode()


def fault(code: str, string: str) -> bytes:
    members = f"<member><name>faultCode</name>{code}</member><member><name>faultString</name>{string}</member>"
    return f"<?xml version='1.0'?><methodResponse><fault><value><struct>{members}</struct></value></fault></methodResponse>".encode()


@pytest.mark.parametrize(
    ("body", "call"),
    [
        (method_response(xml_deep(3000, "<int>5</int>")), "last_serial"),
        (method_response("<value><string>" + "9" * 1_000_000 + "</string></value>"), "last_serial"),
        (method_response(CHANGELOG_DEEP_ROW), "changelog_since"),
        (fault("<value><int>1</int></value>", xml_deep(3000)), "last_serial"),
        (fault("<value><int>1</int></value>", "<value><string>" + "f" * 1_000_000 + "</string></value>"), "last_serial"),
        (method_response(xml_deep(100_000)), "changelog_since"),
    ],
    ids=["deep-serial", "huge-serial", "deep-changelog", "deep-fault", "huge-fault", "very-deep"],
)
def test_a_hostile_xmlrpc_answer_is_refused_with_a_short_message(xmlrpc_server, body, call):
    bodies, client = xmlrpc_server
    bodies[0] = body
    with pytest.raises(IndexResponseError) as caught:
        client.last_serial() if call == "last_serial" else client.changelog_since(0)
    assert len(str(caught.value)) < SHORT
