"""A client of C2SP tlog-witness over HTTP: ``add-checkpoint`` on one keep-alive connection (h11, trio).

``HttpWitnessClient(url)`` posts to ``<url>/add-checkpoint``, where ``url``
is the witness's submission prefix (``http://`` or ``https://``). It has the
same ``add_checkpoint`` as the gRPC ``rpc.witness_client.WitnessClient``, so
``runtime.witnessing.push_to_peer`` drives either. Answers become package
errors by the inverse of ``http.errors``'s table: 409 is ConflictError
carrying the size in its ``text/x.tlog.size`` body, 404 NotFoundError, 403
SignatureError, 400 MalformedError, 422 ProofError, 429 and 503
OverloadedError (with Retry-After), anything else UnavailableError. A lost,
refused or malformed connection is UnavailableError, and the next call
connects again. Timeouts are the caller's cancel scopes: cancelling a call
drops its connection.
"""

from __future__ import annotations

import ssl
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import h11
import trio

from pypi_witness.core.tlog.witness_wire import SIZE_CONTENT_TYPE, format_add_checkpoint, parse_size
from pypi_witness.core.errors import (
    ConflictError,
    MalformedError,
    NotFoundError,
    OverloadedError,
    ProofError,
    SignatureError,
    UnavailableError,
    WitnessError,
)
from pypi_witness.rpc.errors import clean_details

# A witness's answer is a few signature lines; anything this large is not one.
MAX_ANSWER_BYTES = 64 << 10
USER_AGENT = "pypi-witness"
_ERRORS: dict[int, type[WitnessError]] = {
    400: MalformedError,
    403: SignatureError,
    404: NotFoundError,
    422: ProofError,
}


def client_ssl_context(ca: Path | None = None, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """A TLS client context: the system's CAs, or ``ca``'s; with ``cert`` and ``key`` for mutual TLS."""
    context = ssl.create_default_context(cafile=None if ca is None else str(ca))
    if cert is not None:
        context.load_cert_chain(str(cert), None if key is None else str(key))
    return context


class HttpWitnessClient:
    """add-checkpoint to the witness at ``url`` (its submission prefix). Use as an async context manager."""

    def __init__(self, url: str, *, ssl_context: ssl.SSLContext | None = None) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise MalformedError(f"not a witness URL: {url!r}")
        self.url = url
        self._host = parsed.hostname
        self._port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self._host_header = parsed.netloc
        self._path = parsed.path + "/add-checkpoint"
        self._tls = parsed.scheme == "https"
        self._ssl = ssl_context if ssl_context is not None else (client_ssl_context() if self._tls else None)
        self._stream: trio.abc.Stream | None = None
        self._connection: h11.Connection | None = None

    async def __aenter__(self) -> HttpWitnessClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        stream, self._stream, self._connection = self._stream, None, None
        if stream is not None:
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(stream)

    async def _connect(self) -> tuple[trio.abc.Stream, h11.Connection]:
        if self._stream is None or self._connection is None:
            try:
                stream: trio.abc.Stream = await trio.open_tcp_stream(self._host, self._port)
                if self._tls:
                    assert self._ssl is not None
                    stream = trio.SSLStream(stream, self._ssl, server_hostname=self._host, https_compatible=True)
                    await stream.do_handshake()
            except (OSError, trio.BrokenResourceError, ssl.SSLError) as e:
                raise UnavailableError(f"cannot connect to the witness at {self.url}: {e}") from None
            self._stream, self._connection = stream, h11.Connection(h11.CLIENT)
        return self._stream, self._connection

    async def add_checkpoint(self, old_size: int, proof: Sequence[bytes], note: bytes) -> bytes:
        """The witness's cosignature lines for ``note``, proven from ``old_size`` by ``proof``.

        Raises the errors of the module docstring.
        """
        body = format_add_checkpoint(old_size, proof, note)
        done = False
        try:
            status, headers, answer = await self._exchange(body)
            done = True
        finally:
            if not done:
                await self.aclose()  # cancelled or failed mid-exchange: the connection is in an unknown state
        if status == 200:
            return answer
        detail = clean_details(answer.decode("utf-8", "replace").strip())
        if status == 409 and headers.get("content-type", "").startswith(SIZE_CONTENT_TYPE):
            try:
                known = parse_size(answer)
            except MalformedError as e:
                raise UnavailableError(f"the witness at {self.url} answered 409 with a bad size: {e}") from None
            raise ConflictError(f"the witness at {self.url} last cosigned size {known}", known_size=known)
        if status in (429, 503):
            retry = headers.get("retry-after", "")
            raise OverloadedError(
                f"the witness at {self.url} is busy ({status}): {detail}",
                retry_after=int(retry) if retry.isdigit() and len(retry) < 9 else None,
            )
        cls = _ERRORS.get(status)
        if cls is not None:
            raise cls(f"the witness at {self.url} refused the checkpoint ({status}): {detail}")
        raise UnavailableError(f"the witness at {self.url} answered {status}: {detail}")

    async def _exchange(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        stream, connection = await self._connect()
        request = h11.Request(
            method="POST",
            target=self._path,
            headers=[
                ("host", self._host_header),
                ("user-agent", USER_AGENT),
                ("content-type", "text/plain; charset=utf-8"),
                ("content-length", str(len(body))),
            ],
        )
        try:
            await stream.send_all(connection.send(request) + connection.send(h11.Data(data=body)) + connection.send(h11.EndOfMessage()))
            status, headers, chunks, size = 0, {}, [], 0
            while True:
                event = connection.next_event()
                if event is h11.NEED_DATA:
                    data = await stream.receive_some(1 << 16)
                    connection.receive_data(data)
                    continue
                if isinstance(event, h11.Response):
                    status = event.status_code
                    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers}
                elif isinstance(event, h11.Data):
                    size += len(event.data)
                    if size > MAX_ANSWER_BYTES:
                        raise UnavailableError(f"the witness at {self.url} answered more than {MAX_ANSWER_BYTES} bytes")
                    chunks.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    raise UnavailableError(f"the witness at {self.url} closed the connection")
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError, ssl.SSLError) as e:
            raise UnavailableError(f"the connection to the witness at {self.url} failed: {e}") from None
        if connection.our_state is h11.DONE and connection.their_state is h11.DONE:
            connection.start_next_cycle()  # keep-alive: the next call reuses the connection
        else:
            await self.aclose()
        return status, headers, b"".join(chunks)
