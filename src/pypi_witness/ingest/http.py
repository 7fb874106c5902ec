"""A small, defensive HTTP/1.1 client for talking to a package index.

Blocking, meant to run in worker threads (the follower calls it through
``trio.to_thread``). Each thread keeps one keep-alive connection per origin, so
a catch-up makes thousands of requests without a TCP handshake each.

Every answer is bounded: a body larger than ``max_body_bytes`` is refused, and
the whole exchange (connect, send, headers, body) must finish within
``timeout`` seconds, so an index that drips one byte a second cannot hold a
thread. Redirects are followed (at most ``MAX_REDIRECTS``) only within the
index's own origin.

Errors: ``UnavailableError`` (cannot connect, connection lost, timed out, 5xx),
``RateLimitedError`` (429, with the ``Retry-After`` seconds when given),
``IndexResponseError`` (a body too large, a redirect elsewhere, a malformed
response). Other statuses (404...) are returned for the caller to judge.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pypi_witness.core.errors import IndexResponseError, RateLimitedError, UnavailableError, quoted

MAX_REDIRECTS = 3
_CHUNK = 1 << 16
# A Retry-After beyond this is treated as this (an index must not park us for days).
MAX_RETRY_AFTER = 3600.0


@dataclass(frozen=True, slots=True)
class Response:
    """A complete answer: ``headers`` keys are lowercase."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # an HTTP date: not worth trusting the index's clock; back off instead
    if seconds != seconds or seconds < 0:
        return None
    return min(seconds, MAX_RETRY_AFTER)


class HttpClient:
    """Requests to one origin (``base_url``), bounded in size and time.

    ``user_agent`` identifies the witness to the index, as PyPI asks of
    mirrors and bots.
    """

    def __init__(self, base_url: str, *, timeout: float, max_body_bytes: int, user_agent: str) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise IndexResponseError(f"index URL must be http(s)://host[:port]/..., got {quoted(base_url)}")
        self.base_url = base_url.rstrip("/")
        self._scheme = parsed.scheme
        self._host = parsed.hostname
        self._port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self._prefix = parsed.path.rstrip("/")
        self.timeout = timeout
        self.max_body_bytes = max_body_bytes
        self.user_agent = user_agent
        self._local = threading.local()

    # -- connections ------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
            conn = cls(self._host, self._port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` (absolute paths are under the index URL's path)."""
        return f"{self._scheme}://{self._host}:{self._port}{self._prefix}{path}"

    def _target(self, path_or_url: str) -> str:
        """The request target for a path under the index or a same-origin URL."""
        if path_or_url.startswith("/"):
            return self._prefix + path_or_url
        parsed = urllib.parse.urlsplit(path_or_url)
        if (parsed.scheme, parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)) != (
            self._scheme,
            self._host,
            self._port,
        ):
            raise IndexResponseError(f"refusing to leave the index's origin for {quoted(path_or_url)}")
        return parsed.path + (f"?{parsed.query}" if parsed.query else "")

    # -- requests ---------------------------------------------------------------

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        sink: Callable[[bytes], None] | None = None,
    ) -> Response:
        """One request, following same-origin redirects; see the module docstring.

        With ``sink``, the body is passed to it chunk by chunk (any size, for
        hashing a download) and ``Response.body`` is empty.
        """
        deadline = time.monotonic() + self.timeout
        target = self._target(path_or_url)
        for _ in range(MAX_REDIRECTS + 1):
            response = self._exchange(method, target, body, headers or {}, deadline, sink)
            if response.status in (301, 302, 303, 307, 308):
                location = response.headers.get("location")
                if not location:
                    raise IndexResponseError(f"redirect {response.status} without a Location from {quoted(target)}")
                target = self._target(urllib.parse.urljoin(self.url(target), location))
                if response.status == 303:
                    method, body = "GET", None
                continue
            if response.status == 429:
                raise RateLimitedError(
                    f"the index is rate limiting us ({quoted(target)})", _retry_after(response.headers.get("retry-after"))
                )
            if response.status >= 500:
                raise UnavailableError(f"the index answered {response.status} for {quoted(target)}")
            return response
        raise IndexResponseError(f"more than {MAX_REDIRECTS} redirects from {quoted(path_or_url)}")

    def _exchange(
        self,
        method: str,
        target: str,
        body: bytes | None,
        headers: Mapping[str, str],
        deadline: float,
        sink: Callable[[bytes], None] | None,
    ) -> Response:
        all_headers = {"User-Agent": self.user_agent, "Accept-Encoding": "identity", **headers}
        for attempt in (1, 2):
            conn = self._connection()
            reused = conn.sock is not None
            try:
                conn.timeout = _remaining(deadline, target)
                if conn.sock is not None:
                    conn.sock.settimeout(conn.timeout)
                conn.request(method, target, body=body, headers=all_headers)
                sock = conn.sock  # getresponse() forgets it when the index will close
                raw = conn.getresponse()
                return self._read(raw, sock, target, deadline, sink)
            except (ConnectionError, http.client.RemoteDisconnected, http.client.CannotSendRequest) as e:
                self._drop_connection()
                if reused and attempt == 1:
                    continue  # the index closed an idle keep-alive connection: once more, fresh
                raise UnavailableError(f"cannot reach the index for {quoted(target)}: {e}") from None
            except (TimeoutError, socket.timeout):
                self._drop_connection()
                raise UnavailableError(f"the index took longer than {self.timeout:g} s for {quoted(target)}") from None
            except (http.client.HTTPException, OSError) as e:
                self._drop_connection()
                if isinstance(e, http.client.HTTPException):
                    raise IndexResponseError(f"malformed HTTP response for {quoted(target)}: {type(e).__name__} {quoted(str(e))}") from None
                raise UnavailableError(f"cannot reach the index for {quoted(target)}: {e}") from None
            except BaseException:
                self._drop_connection()
                raise
        raise AssertionError("unreachable")

    def _read(
        self,
        raw: http.client.HTTPResponse,
        sock: socket.socket | None,
        target: str,
        deadline: float,
        sink: Callable[[bytes], None] | None,
    ) -> Response:
        headers = {k.lower(): v for k, v in raw.getheaders()}
        length = headers.get("content-length")
        if sink is None and length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            raise IndexResponseError(f"response for {quoted(target)} is {length} bytes; the limit is {self.max_body_bytes}")
        chunks: list[bytes] = []
        total = 0
        while True:
            if sock is not None:
                sock.settimeout(_remaining(deadline, target))  # each read gets what is left
            chunk = raw.read1(_CHUNK)
            if not chunk:
                break
            total += len(chunk)
            if sink is not None:
                sink(chunk)
                continue
            if total > self.max_body_bytes:
                raise IndexResponseError(f"response for {quoted(target)} exceeds the limit of {self.max_body_bytes} bytes")
            chunks.append(chunk)
        raw.close()  # read whole: the connection is ready for the next request
        if raw.will_close:
            self._drop_connection()
        return Response(raw.status, headers, b"".join(chunks), self.url(target))


def _remaining(deadline: float, target: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError(target)
    return left
