"""HTTP helpers for the fake index tests: raw requests (no redirects followed) from a chosen source address."""

from __future__ import annotations

import http.client
import json
import xmlrpc.client
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

CAP = 40  # changelog rows per call in the tests: small, so paging is exercised
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


class Clock:
    """A settable clock, after every generated upload (which happen in 2022)."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    url: str,
    path: str = "",
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    source: str = "127.0.0.1",
    timeout: float = 10,
) -> Response:
    """One request to ``url + path`` from ``source``; redirects are returned, not followed."""
    u = urlsplit(url + path)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout, source_address=(source, 0))
    try:
        target = u.path + (f"?{u.query}" if u.query else "")
        conn.request(method, target, body=body, headers=headers or {})
        r = conn.getresponse()
        return Response(r.status, r.headers, r.read())
    finally:
        conn.close()


def get_json(url: str, path: str, **kw: Any) -> Response:
    r = request(url, path, **kw)
    assert r.status == 200, (path, r.status, r.body[:200])
    return r


def simple_json(url: str, project: str, **kw: Any) -> Response:
    return get_json(url, f"/simple/{project}/", headers={"Accept": SIMPLE_JSON}, **kw)


def xmlrpc_call(url: str, method: str, *params: Any, source: str = "127.0.0.1") -> Any:
    """Call an XML-RPC method on ``url/pypi``; raises ``xmlrpc.client.Fault`` for a fault."""
    body = xmlrpc.client.dumps(params, method, allow_none=True).encode()
    r = request(url, "/pypi", method="POST", body=body, headers={"Content-Type": "text/xml"}, source=source)
    assert r.status == 200, r.status
    return xmlrpc.client.loads(r.body, use_builtin_types=True)[0][0]


def admin(url: str, route: str, payload: Any) -> Response:
    return request(url, f"/_admin/{route}", method="POST", body=json.dumps(payload).encode(),
                   headers={"Content-Type": "application/json"})  # fmt: skip


def changelog(url: str, since: int = 0) -> list[list[Any]]:
    """Every changelog row after ``since``, page by page."""
    rows: list[list[Any]] = []
    while True:
        page = xmlrpc_call(url, "changelog_since_serial", since)
        if not page:
            return rows
        rows.extend(page)
        since = page[-1][4]
