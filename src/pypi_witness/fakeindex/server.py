"""``FakeIndexServer``: the fake index over HTTP/1.1 (keep-alive) on a loopback port.

Routes (warehouse's): ``POST /pypi`` XML-RPC; ``GET /pypi/<p>/json`` and
``/pypi/<p>/<v>/json``; ``GET /simple/`` and ``/simple/<p>/`` (PEP 691 JSON or PEP 503
HTML by ``Accept`` or ``?format=``); ``GET /packages/<b2[:2]>/<b2[2:4]>/<b2[4:]>/<file>``;
and the loopback-only admin routes of ``fakeindex.admin``. Rendered bodies are
cached per (route, project, serial, client profile).
"""

from __future__ import annotations

import contextlib
import math
import socket
import sys
import threading
import time
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

from pypi_witness.fakeindex import admin, render, xmlrpc
from pypi_witness.fakeindex.attacks import Attacks, check_client_key
from pypi_witness.fakeindex.content import blob_path, corrupted, wrong_blake2b
from pypi_witness.fakeindex.names import normalize
from pypi_witness.fakeindex.state import FileRec, Index

DEFAULT_CHANGELOG_CAP = 50_000  # rows per changelog_since_serial call, as on PyPI
CACHE_ENTRIES = 8192  # rendered bodies kept
MAX_REQUEST_BODY = 16 * 1024 * 1024
IDLE_TIMEOUT = 60.0  # seconds a keep-alive connection may sit idle
POLL_INTERVAL = 0.05  # seconds between checks for close(); bounds how long close() waits


class FakeIndexServer:
    """A warehouse-shaped index served on ``host:port`` (port 0 picks a free one).

    The socket is bound in the constructor, so ``url`` is known at once. ``start()``
    (or ``with``) serves from a background thread; ``serve_forever()`` serves in the
    caller's thread until ``close()`` or an exception. ``close()`` stops serving,
    ends dripping responses, and saves the index to ``state_dir`` when one is given.
    """

    def __init__(
        self,
        index: Index | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        state_dir: Path | str | None = None,
        changelog_cap: int = DEFAULT_CHANGELOG_CAP,
    ) -> None:
        self.index = index if index is not None else Index()
        self.state_dir = None if state_dir is None else Path(state_dir)
        self.changelog_cap = changelog_cap
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.fake = self
        self.host, self.port = self._httpd.server_address[:2]
        self.url = f"http://{self.host}:{self.port}"
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._attacks: dict[str | None, Attacks] = {None: Attacks()}
        self._stale_left: dict[str | None, int] = {}
        self._rate: dict[str, tuple[float, int]] = {}  # client address -> (window start, count)
        self._cache: OrderedDict[tuple, bytes | None] = OrderedDict()
        self._thread: threading.Thread | None = None

    # --- attack switches -------------------------------------------------------

    def set_attacks(self, client: str | None = None, **switches: Any) -> Attacks:
        """Change switches for everybody (``client=None``) or one split-view client key.

        ``client`` is a source address (``"127.0.0.3"``) or ``"ua:<User-Agent>"``; a
        client with its own profile starts from the default profile's switches.
        Setting ``stale_count`` restarts the stale countdown. Raises ``MalformedError``.
        """
        key = None if client is None else check_client_key(client)
        with self._lock:
            base = self._attacks.get(key) or self._attacks[None]
            self._attacks[key] = updated = base.replace(**switches)
            if "stale_count" in switches:
                self._stale_left[key] = updated.stale_count
            self._cache.clear()
        return updated

    def reset_attacks(self) -> None:
        """Every switch off, split view ended, rule switches of the index off, rate counters cleared."""
        with self._lock:
            self._attacks = {None: Attacks()}
            self._stale_left.clear()
            self._rate.clear()
            self._cache.clear()
        self.index.allow_filename_reuse = False
        self.index.allow_late_files = False

    def attacks(self, client: str | None = None) -> Attacks:
        """The switches a client key gets (the default profile when it has none of its own)."""
        key = None if client is None else check_client_key(client)
        with self._lock:
            return self._attacks.get(key) or self._attacks[None]

    def profile_for(self, address: str, user_agent: str | None) -> str | None:
        """The profile key for a request: its ``ua:`` key, else its address key, else None (default)."""
        if user_agent is not None and f"ua:{user_agent}" in self._attacks:
            return f"ua:{user_agent}"
        return address if address in self._attacks else None

    # --- lifecycle --------------------------------------------------------------

    def start(self) -> Self:
        """Serve from a daemon thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, args=(POLL_INTERVAL,), name="fake-index", daemon=True
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until ``close()`` (from another thread) or an exception such as Ctrl-C."""
        self._httpd.serve_forever(POLL_INTERVAL)

    def close(self) -> None:
        """Stop serving (idempotent) and save the index to ``state_dir`` if there is one."""
        self.stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()
        if self.state_dir is not None:
            self.index.save(self.state_dir)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- what the handler uses ---------------------------------------------------

    def rate_limited(self, address: str, attacks: Attacks) -> int | None:
        """Count a request; the Retry-After seconds when it is over the limit, else None."""
        if attacks.rate_limit <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            start, count = self._rate.get(address, (now, 0))
            if now - start >= attacks.rate_window:
                start, count = now, 0
            self._rate[address] = (start, count + 1)
        if count + 1 > attacks.rate_limit:
            return max(1, math.ceil(start + attacks.rate_window - now))
        return None

    def as_of(self, key: str | None, attacks: Attacks) -> int | None:
        """The serial a JSON answer is rendered at: None (now), or older while the stale switch lasts."""
        if attacks.stale_lag <= 0:
            return None
        with self._lock:
            left = self._stale_left.get(key, 0)
            if left == 0:
                return None
            if left > 0:
                self._stale_left[key] = left - 1
        return max(0, self.index.last_serial - attacks.stale_lag)

    def cached(self, key: tuple, make: Any) -> bytes | None:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        body = make()
        with self._lock:
            self._cache[key] = body
            if len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return body

    def presenter(self, attacks: Attacks) -> render.Presenter:
        """How each file is shown under ``attacks`` (swap, hide, bad path, bad digest lengths)."""
        index, base = self.index, self.url
        short = attacks.hostile == "bad_digest_length"

        def present(rec: FileRec) -> render.Shown | None:
            name = rec.filename
            if name in attacks.hide:
                return None
            d = index.digests(rec, "swap" if name in attacks.swap else None)
            path_b2 = wrong_blake2b(d.blake2b_256) if name in attacks.bad_path else d.blake2b_256
            sha256, b2, md5 = (d.sha256[:-1], d.blake2b_256[:-1], d.md5[:-1]) if short else (d.sha256, d.blake2b_256, d.md5)
            return render.Shown(rec, base + blob_path(path_b2, name), sha256, b2, md5, d.size)

        return present

    def file_body(self, path: str, attacks: Attacks) -> bytes | None:
        """The bytes served at a ``/packages/...`` path for this client, or None (404)."""
        parts = path.split("/")
        if len(parts) != 6 or parts[1] != "packages":
            return None
        rec = self.index.live_file(parts[5])
        if rec is None:
            return None
        shown = self.presenter(attacks.replace(hostile=None))(rec)
        if shown is None or shown.url != self.url + path:
            return None
        data = self.index.content(rec, "swap" if rec.filename in attacks.swap else None)
        return corrupted(data) if rec.filename in attacks.corrupt else data


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeIndexServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, ConnectionError | TimeoutError):
            print(f"fake index: error answering {client_address[0]}: {exc!r}", file=sys.stderr)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-warehouse/1"
    timeout = IDLE_TIMEOUT
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # --- dispatch ----------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        fake = self.server.fake
        url = urlsplit(self.path)
        path = unquote(url.path)
        address = self.client_address[0]
        if path.startswith("/_admin/"):
            if not admin.allowed(address):
                return self._send(403, b"admin is loopback only\n", "text/plain")
            status, body = admin.handle(fake, method, self.path, self._body() if method == "POST" else b"")
            return self._send(status, body, "application/json")
        key = fake.profile_for(address, self.headers.get("User-Agent"))
        attacks = fake.attacks(key) if key is not None else fake.attacks()
        retry = fake.rate_limited(address, attacks)
        if retry is not None:
            return self._send(429, b"Too Many Requests\n", "text/plain", {"Retry-After": str(retry)})
        if path in ("/pypi", "/pypi/", "/RPC2"):
            if method != "POST":
                return self._send(405, b"Method Not Allowed\n", "text/plain", {"Allow": "POST"})
            body = xmlrpc.respond(fake.index, self._body(), fake.changelog_cap)
            return self._send(200, body, "text/xml", kind="xmlrpc", attacks=attacks)
        if method != "GET":
            return self._send(405, b"Method Not Allowed\n", "text/plain", {"Allow": "GET"})
        parts = path.split("/")
        if path.startswith("/pypi/") and path.endswith("/json") and len(parts) in (4, 5):
            return self._json_api(parts[2], parts[3] if len(parts) == 5 else None, key, attacks)
        if path == "/simple/" or path == "/simple":
            return self._simple_index(url.query, key, attacks)
        if path.startswith("/simple/") and len(parts) in (3, 4) and parts[2] and (len(parts) == 3 or not parts[3]):
            return self._simple_project(parts[2], path.endswith("/"), url.query, key, attacks)
        if path.startswith("/packages/"):
            data = fake.file_body(path, attacks)
            if data is None:
                return self._send(404, b"Not Found\n", "text/plain")
            return self._send(200, data, "application/octet-stream", kind="files", attacks=attacks)
        return self._send(404, b"Not Found\n", "text/plain")

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit() or int(length) > MAX_REQUEST_BODY:
            self.close_connection = True
            return b""
        return self.rfile.read(int(length))

    # --- routes --------------------------------------------------------------------

    def _json_api(self, name: str, version: str | None, key: str | None, attacks: Attacks) -> None:
        fake = self.server.fake
        view = fake.index.project_view(name, fake.as_of(key, attacks))
        if view is None:
            return self._send(404, b'{"message": "Not Found"}', "application/json")
        if name != view.name:  # warehouse redirects to the project's own spelling
            target = f"/pypi/{view.name}/{version}/json" if version else f"/pypi/{view.name}/json"
            return self._send(301, b"", "text/plain", {"Location": target})
        present = fake.presenter(attacks)
        if version is None:
            body = fake.cached(("json", view.normalized, None, view.last_serial, key),
                               lambda: render.project_json(view, present, fake.url))  # fmt: skip
        else:
            body = fake.cached(("json", view.normalized, version, view.last_serial, key),
                               lambda: render.release_json(view, version, present, fake.url))  # fmt: skip
        if body is None:
            return self._send(404, b'{"message": "Not Found"}', "application/json")
        headers = {"X-PyPI-Last-Serial": str(view.last_serial)}
        self._send(200, body, "application/json", headers, kind="json", attacks=attacks)

    def _wants_json(self, query: str) -> bool:
        fmt = parse_qs(query).get("format", [None])[0]
        if fmt is not None:  # an unescaped "+" arrives as a space
            return fmt.replace(" ", "+") in (render.SIMPLE_JSON, "application/vnd.pypi.simple.latest+json")
        best_json = best_html = -1.0
        for item in (self.headers.get("Accept") or "text/html").split(","):
            kind, _, params = item.strip().partition(";")
            q = 1.0
            for p in params.split(";"):
                name, _, value = p.strip().partition("=")
                if name == "q":
                    with contextlib.suppress(ValueError):
                        q = float(value)
            kind = kind.strip().lower()
            if kind in (render.SIMPLE_JSON, "application/vnd.pypi.simple.latest+json"):
                best_json = max(best_json, q)
            elif kind in (render.SIMPLE_HTML, "application/vnd.pypi.simple.latest+html", "text/html", "*/*"):
                best_html = max(best_html, q)
        return best_json > 0 and best_json >= best_html

    def _simple_index(self, query: str, key: str | None, attacks: Attacks) -> None:
        fake = self.server.fake
        as_of = fake.as_of(key, attacks)
        serial = fake.index.last_serial if as_of is None else min(as_of, fake.index.last_serial)
        projects = fake.index.packages_with_serial(serial)
        headers = {"X-PyPI-Last-Serial": str(serial)}
        if self._wants_json(query):
            body = render.simple_index_json(projects, serial)
            return self._send(200, body, render.SIMPLE_JSON, headers, kind="simple", attacks=attacks)
        body = render.simple_index_html(projects, serial, normalize)
        self._send(200, body, "text/html; charset=utf-8", headers, kind="simple", attacks=attacks)

    def _simple_project(self, name: str, slash: bool, query: str, key: str | None, attacks: Attacks) -> None:
        fake = self.server.fake
        if name != normalize(name) or not slash:  # PyPI: one canonical URL per project
            target = f"/simple/{normalize(name)}/" + (f"?{query}" if query else "")
            return self._send(301, b"", "text/plain", {"Location": target})
        view = fake.index.project_view(name, fake.as_of(key, attacks))
        if view is None:
            return self._send(404, b"Not Found\n", "text/plain")
        present = fake.presenter(attacks)
        headers = {"X-PyPI-Last-Serial": str(view.last_serial)}
        if self._wants_json(query):
            body = fake.cached(("simple-json", view.normalized, view.last_serial, key),
                               lambda: render.simple_project_json(view, present))  # fmt: skip
            return self._send(200, body, render.SIMPLE_JSON, headers, kind="simple", attacks=attacks)
        body = fake.cached(("simple-html", view.normalized, view.last_serial, key),
                           lambda: render.simple_project_html(view, present))  # fmt: skip
        self._send(200, body, "text/html; charset=utf-8", headers, kind="simple", attacks=attacks)

    # --- writing -----------------------------------------------------------------

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
        *,
        kind: str | None = None,
        attacks: Attacks | None = None,
    ) -> None:
        mode = attacks.hostile if attacks is not None and kind in attacks.hostile_on else None
        length = len(body)
        if mode == "bad_json":
            body = body[: len(body) // 2]
            length = len(body)
        elif mode == "wrong_content_type":
            content_type = "text/html; charset=utf-8"
        elif mode == "huge":
            length = max(attacks.huge_size, len(body))
        elif mode == "short_body":
            body = body[: len(body) // 2]
        elif mode == "deep" and kind == "xmlrpc":
            body = _deepen(body, attacks.deep_depth)
            length = len(body)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if mode in ("short_body", "drip", "huge"):
            self.send_header("Connection", "close")
            self.close_connection = True
        try:
            if mode not in ("drip", "huge"):
                # Headers and body in one write: no Nagle / delayed-ACK stall on keep-alive connections.
                self._headers_buffer.append(b"\r\n" + body)
                self.flush_headers()
                return
            self.end_headers()
            if mode == "drip":
                self._drip(body, attacks)
            elif mode == "huge":
                self.wfile.write(body)
                pad = b" " * 65536
                left = length - len(body)
                while left > 0 and not self.server.fake.stopping.is_set():
                    self.wfile.write(pad[: min(left, len(pad))])
                    left -= len(pad)
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def _drip(self, body: bytes, attacks: Attacks) -> None:
        stopping = self.server.fake.stopping
        for i in range(0, len(body), attacks.drip_bytes):
            self.wfile.write(body[i : i + attacks.drip_bytes])
            self.wfile.flush()
            if stopping.wait(attacks.drip_interval):
                return


def _deepen(body: bytes, depth: int) -> bytes:
    """An XML-RPC answer with its first string wrapped in ``depth`` nested arrays (written out
    as text: xmlrpc's own marshaller recurses once per level)."""
    first = body.find(b"<value><string>")
    if first < 0:
        return body
    end = body.index(b"</value>", first) + len(b"</value>")
    return body[:first] + b"<value><array><data>" * depth + body[first:end] + b"</data></array></value>" * depth + body[end:]
