"""Loopback-only admin routes, so a test can steer a server running in another process.

``POST /_admin/attack`` with a JSON object: optional ``"reset": true`` (every switch
off first), optional ``"client"`` (a split-view key; absent or null: everybody),
optional ``"allow_filename_reuse"`` / ``"allow_late_files"`` (the index's rule
switches), and any ``Attacks`` field (lists for the filename sets). Answers 200
with the client's switches as JSON.

``GET /_admin/attack[?client=KEY]``: the switches a client key gets.

``POST /_admin/index`` with ``{"op": ..., ...}``: one index mutation, saved to the
state directory at once. Ops and their fields: ``add_file`` (project, version,
filename, optional ``content_b64``, ``upload_time`` ISO 8601 with offset or Z,
``packagetype``), ``remove_file`` (project, version, filename), ``remove_release``
(project, version), ``remove_project`` (project), ``yank_release`` (project,
version, optional reason), ``unyank_release`` (project, version). Answers 200
``{"serial": N}``.

Errors answer ``{"error": "..."}``: 400 malformed, 404 not found, 409 refused by
a rule (``ConflictError``), 405 wrong method, 404 unknown route.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from pypi_witness.core.errors import ConflictError, MalformedError, NotFoundError, quoted

_OPS = {
    "add_file": ("project", "version", "filename"),
    "remove_file": ("project", "version", "filename"),
    "remove_release": ("project", "version"),
    "remove_project": ("project",),
    "yank_release": ("project", "version"),
    "unyank_release": ("project", "version"),
}


def allowed(address: str) -> bool:
    """Whether a client address may use the admin routes: loopback addresses only."""
    try:
        return ipaddress.ip_address(address.removeprefix("::ffff:")).is_loopback
    except ValueError:
        return False


def _error(status: int, message: str) -> tuple[int, bytes]:
    return status, orjson.dumps({"error": message})


def handle(fake: Any, method: str, target: str, body: bytes) -> tuple[int, bytes]:
    """``(status, JSON body)`` for an admin request; never raises for bad input."""
    url = urlsplit(target)
    if url.path not in ("/_admin/attack", "/_admin/index"):
        return _error(404, f"no admin route {url.path}")
    try:
        if url.path == "/_admin/attack" and method == "GET":
            client = parse_qs(url.query).get("client", [None])[0]
            return 200, orjson.dumps(fake.attacks(client).to_json())
        if method != "POST":
            return _error(405, "use POST")
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise MalformedError(f"the body is not JSON: {e}") from None
        if not isinstance(request, dict):
            raise MalformedError("the body is a JSON object")
        if url.path == "/_admin/attack":
            return 200, orjson.dumps(_attack(fake, request).to_json())
        return 200, orjson.dumps({"serial": _mutate(fake, request)})
    except MalformedError as e:
        return _error(400, str(e))
    except NotFoundError as e:
        return _error(404, str(e))
    except ConflictError as e:
        return _error(409, str(e))


def _attack(fake: FakeIndexServer, request: dict[str, Any]) -> Any:
    request = dict(request)
    if request.pop("reset", False):
        fake.reset_attacks()
    client = request.pop("client", None)
    for rule in ("allow_filename_reuse", "allow_late_files"):
        if rule in request:
            value = request.pop(rule)
            if not isinstance(value, bool):
                raise MalformedError(f"{rule} takes true or false")
            setattr(fake.index, rule, value)
    if request:
        return fake.set_attacks(client, **request)
    return fake.attacks(client)


def _mutate(fake: FakeIndexServer, request: dict[str, Any]) -> int:
    request = dict(request)
    op = request.pop("op", None)
    if op not in _OPS:
        raise MalformedError(f"op is one of {', '.join(_OPS)}")
    missing = [name for name in _OPS[op] if not isinstance(request.get(name), str)]
    if missing:
        raise MalformedError(f"{op} needs {missing[0]} (text)")
    args = {name: request.pop(name) for name in _OPS[op]}
    if op == "add_file":
        data = request.pop("content_b64", None)
        if data is not None:
            try:
                args["content"] = base64.b64decode(data, validate=True)
            except (binascii.Error, TypeError, ValueError):
                raise MalformedError("content_b64 is not base64") from None
        when = request.pop("upload_time", None)
        if when is not None:
            try:
                args["upload_time"] = datetime.fromisoformat(when)
            except (TypeError, ValueError):
                raise MalformedError(f"upload_time is not an ISO 8601 time: {quoted(when)}") from None
        args["packagetype"] = request.pop("packagetype", None)
    if op == "yank_release":
        args["reason"] = request.pop("reason", "")
    if request:
        raise MalformedError(f"{op} takes no field {quoted(min(request))}")
    serial = getattr(fake.index, op)(**args)
    if fake.state_dir is not None:
        fake.index.save(fake.state_dir)
    return serial
