"""Helpers for the HTTP tests: a small h11 client, a node with its HTTP face, a foreign log."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

import h11
import trio

from pypi_witness.config.node import Config
from pypi_witness.config.http import HttpConfig
from pypi_witness.config.logs import WitnessingConfig
from pypi_witness.core.tlog import merkle
from pypi_witness.core.tlog.checkpoint import Checkpoint, sign_checkpoint
from pypi_witness.core.tlog.note import Signer, Verifier
from pypi_witness.runtime.node import run_node
from tests.rpc.support import config_for, free_port


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


async def request(base: str, method: str, path: str, body: bytes | None = None, headers: tuple = ()) -> Reply:
    """One HTTP/1.1 request to ``base`` (``http://host:port[/prefix]``) on a new connection."""
    netloc, _, prefix = base.removeprefix("http://").partition("/")
    path = f"/{prefix}{path}" if prefix else path
    host, _, port = netloc.rpartition(":")
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        conn = h11.Connection(h11.CLIENT)
        head = [("host", f"{host}:{port}"), *headers]
        if body is not None:
            head.append(("content-length", str(len(body))))
        data = conn.send(h11.Request(method=method, target=path, headers=head))
        if body is not None:
            data += conn.send(h11.Data(data=body))
        data += conn.send(h11.EndOfMessage())
        await stream.send_all(data)
        status, got, chunks = 0, {}, []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(1 << 16))
            elif isinstance(event, h11.Response):
                status = event.status_code
                got = {k.decode(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                return Reply(status, got, b"".join(chunks))


async def raw_exchange(base: str, data: bytes, *, then_wait: float = 5.0) -> bytes:
    """Send ``data`` as is on a new connection; the server's first whole answer (or what came before
    it closed the connection, or ``then_wait`` s passed)."""
    host, _, port = base.removeprefix("http://").rpartition(":")
    stream = await trio.open_tcp_stream(host, int(port))
    out = b""
    async with stream:
        await stream.send_all(data)
        with trio.move_on_after(then_wait):
            while chunk := await stream.receive_some(1 << 16):
                out += chunk
                head, sep, body = out.partition(b"\r\n\r\n")
                lengths = [int(line.split(b":")[1]) for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")]
                if sep and lengths and len(body) >= lengths[0]:
                    break
    return out


def http_config(data_dir: Path, *, origin: str | None = None, witnessing: WitnessingConfig | None = None, **http: object) -> Config:
    """A test node's config (``tests.rpc.support.config_for``) with its HTTP face on a free loopback port."""
    config = config_for(data_dir, origin=origin)
    settings = HttpConfig(listen=f"127.0.0.1:{free_port()}", **http)  # type: ignore[arg-type]
    return dataclasses.replace(config, http=settings, witnessing=witnessing or WitnessingConfig())


async def start_http_node(nursery: trio.Nursery, config: Config) -> tuple[str, str]:
    """Start ``run_node`` in ``nursery``; returns (its gRPC address, its HTTP base URL)."""
    address = await nursery.start(functools.partial(run_node, config))
    assert config.http.listen is not None
    return address, f"http://{config.http.listen}{config.http.prefix}"


class ForeignLog:
    """A log that is none of this project's: leaves ``b"<name> <i>"``, checkpoints signed by ``signer``."""

    def __init__(self, origin: str, name: str = "main", top: int = 64, shared: int = 0, seed: bytes = b"") -> None:
        self.origin = origin
        self.signer = Signer.from_seed(origin, (seed or origin.encode()).ljust(32, b".")[:32])
        leaves = [b"shared %d" % i if i < shared else b"%s %d" % (name.encode(), i) for i in range(top)]
        self.hashes = merkle.hash_reader_for([merkle.leaf_hash(x) for x in leaves])

    @property
    def verifier(self) -> Verifier:
        return self.signer.verifier()

    def root(self, size: int) -> bytes:
        return merkle.tree_root(size, self.hashes)

    def proof(self, old: int, new: int) -> tuple[bytes, ...]:
        return tuple(merkle.consistency_proof(old, new, self.hashes)) if 0 < old < new else ()

    def note(self, size: int, root: bytes | None = None, signer: Signer | None = None) -> bytes:
        return sign_checkpoint(Checkpoint(self.origin, size, self.root(size) if root is None else root), signer or self.signer)
