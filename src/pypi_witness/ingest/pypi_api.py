"""PyPI's APIs as the follower uses them: the XML-RPC changelog and the JSON API.

Everything an index sends is checked before it is used: a field of the wrong
type, a digest of the wrong length, an impossible time or a reply of the wrong
content type raises ``IndexResponseError`` naming what is wrong. Facts relied
on (PyPI's documented behaviour):

- ``changelog_since_serial(s)`` returns rows ``[name, version, timestamp,
  action, serial]`` with serial > s, ordered by serial, at most 50,000 a call.
- ``/pypi/<project>/<version>/json`` lists the release's files in ``urls``
  with ``digests`` (sha256, blake2b_256), ``size``, ``upload_time_iso_8601``;
  its ``last_serial`` (also the ``X-PyPI-Last-Serial`` header) may lag the
  changelog when served from a cache: such a response is stale.
"""

from __future__ import annotations

import re
import xmlrpc.client
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import quote

import orjson

from pypi_witness.core.records.values import canonical_time, is_hex64
from pypi_witness.core.errors import IndexResponseError, RecordError, quoted
from pypi_witness.ingest.http import HttpClient, Response



class Action(Enum):
    """What a changelog row says happened (rows about anything else are OTHER)."""

    ADD_FILE = "add file"
    REMOVE_FILE = "remove file"
    REMOVE_RELEASE = "remove release"
    REMOVE_PROJECT = "remove project"
    YANK = "yank release"
    UNYANK = "unyank release"
    OTHER = "other"


_ADD_FILE = re.compile(r"add (?:\S+ )?file (\S+)")
_REMOVE_FILE = re.compile(r"remove file (\S+)")
_WHOLE = {
    "remove release": Action.REMOVE_RELEASE,
    "remove project": Action.REMOVE_PROJECT,
    "yank release": Action.YANK,
    "unyank release": Action.UNYANK,
}


@dataclass(frozen=True, slots=True)
class ChangelogRow:
    """One changelog row; ``filename`` is set for file actions."""

    project: str
    version: str | None
    timestamp: int
    action: Action
    filename: str | None
    serial: int


def parse_action(text: str) -> tuple[Action, str | None]:
    """The action and filename (for file actions) of a changelog action string."""
    match = _ADD_FILE.fullmatch(text)
    if match:
        return Action.ADD_FILE, match[1]
    match = _REMOVE_FILE.fullmatch(text)
    if match:
        return Action.REMOVE_FILE, match[1]
    return _WHOLE.get(text, Action.OTHER), None


def parse_changelog(rows: object) -> list[ChangelogRow]:
    """Check and convert what ``changelog_since_serial`` returned. IndexResponseError if malformed."""
    if not isinstance(rows, list):
        raise IndexResponseError(f"changelog is not a list but {type(rows).__name__}")
    out = []
    previous = -1
    for position, row in enumerate(rows):
        if not (isinstance(row, (list, tuple)) and len(row) == 5):
            raise IndexResponseError(f"changelog row {position} is not [name, version, time, action, serial]")
        name, version, timestamp, action_text, serial = row
        if not (
            isinstance(name, str) and name
            and (version is None or isinstance(version, str))
            and type(timestamp) is int and 0 <= timestamp < 2**40
            and isinstance(action_text, str)
            and type(serial) is int and 0 <= serial < 2**63
        ):  # fmt: skip
            fields = ", ".join(quoted(field) for field in row)
            raise IndexResponseError(f"changelog row {position} has a field of the wrong type: [{fields}]")
        if serial <= previous:
            raise IndexResponseError(f"changelog row {position} is out of serial order ({serial} after {previous})")
        previous = serial
        action, filename = parse_action(action_text)
        if action is not Action.OTHER and action is not Action.REMOVE_PROJECT and not version:
            raise IndexResponseError(f"changelog row {position} ({quoted(action_text)}) has no version")
        out.append(ChangelogRow(name, version or None, timestamp, action, filename, serial))
    return out


@dataclass(frozen=True, slots=True)
class FileFacts:
    """What the index states about one file of a release."""

    filename: str
    sha256: str
    blake2b_256: str
    size: int
    upload_time: str  # canonical
    url: str
    yanked: bool


@dataclass(frozen=True, slots=True)
class ReleaseView:
    """A release as the JSON API served it, at index serial ``last_serial``."""

    project: str
    version: str
    last_serial: int
    files: Mapping[str, FileFacts]


def _field(entry: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = entry.get(key)
    if type(value) is not kind:
        raise IndexResponseError(f"{where}: {key!r} is {type(value).__name__}, not {kind.__name__}")
    return value


def _content_type(response: Response) -> str:
    return response.headers.get("content-type", "").split(";")[0].strip().lower()


def parse_release(project: str, version: str, response: Response) -> ReleaseView:
    """Check and convert a ``/pypi/<project>/<version>/json`` response."""
    where = f"release {quoted(project)} {quoted(version)}"
    content_type = _content_type(response)
    if content_type != "application/json":
        raise IndexResponseError(f"{where}: content type {quoted(content_type)}, not application/json")
    try:
        data = orjson.loads(response.body)
    except orjson.JSONDecodeError as e:
        raise IndexResponseError(f"{where}: not JSON ({e})"[:300]) from None
    if not isinstance(data, dict):
        raise IndexResponseError(f"{where}: the JSON is not an object")
    serial = data.get("last_serial")
    header = response.headers.get("x-pypi-last-serial")
    if type(serial) is not int and header is not None and header.isdigit():
        serial = int(header)
    if type(serial) is not int or serial < 0:
        raise IndexResponseError(f"{where}: no last_serial")
    urls = data.get("urls")
    if not isinstance(urls, list):
        raise IndexResponseError(f"{where}: 'urls' is not a list")
    files: dict[str, FileFacts] = {}
    for position, entry in enumerate(urls):
        at = f"{where}, file {position}"
        if not isinstance(entry, dict):
            raise IndexResponseError(f"{at}: not an object")
        filename = _field(entry, "filename", str, at)
        digests = entry.get("digests")
        if not isinstance(digests, dict):
            raise IndexResponseError(f"{at}: 'digests' is not an object")
        sha256, blake2b = digests.get("sha256"), digests.get("blake2b_256")
        for name, value in (("sha256", sha256), ("blake2b_256", blake2b)):
            if not isinstance(value, str) or not is_hex64(value):
                raise IndexResponseError(f"{at}: digest {name} is not 64 lowercase hex digits: {quoted(value)}")
        size = _field(entry, "size", int, at)
        if size < 0:
            raise IndexResponseError(f"{at}: negative size")
        url = _field(entry, "url", str, at)
        raw_time = entry.get("upload_time_iso_8601", entry.get("upload_time"))
        try:
            upload_time = canonical_time(raw_time)  # type: ignore[arg-type]
        except RecordError as e:
            raise IndexResponseError(f"{at}: {e}") from None
        if filename in files:
            raise IndexResponseError(f"{at}: {quoted(filename)} listed twice")
        files[filename] = FileFacts(filename, sha256, blake2b, size, upload_time, url, entry.get("yanked") is True)  # type: ignore[arg-type]
    return ReleaseView(project, version, serial, files)


class PyPIClient:
    """The calls the follower makes, over an ``HttpClient`` (blocking; run in threads)."""

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def _xmlrpc(self, method: str, *params: object) -> object:
        body = xmlrpc.client.dumps(params, method, allow_none=False).encode()
        response = self.http.request("POST", "/pypi", body=body, headers={"Content-Type": "text/xml"})
        if response.status != 200:
            raise IndexResponseError(f"XML-RPC {method}: HTTP {response.status}")
        content_type = _content_type(response)
        if content_type not in ("text/xml", "application/xml"):
            raise IndexResponseError(f"XML-RPC {method}: content type {quoted(content_type)}, not text/xml")
        try:
            (result,), _ = xmlrpc.client.loads(response.body, use_builtin_types=True)
        except xmlrpc.client.Fault as e:
            raise IndexResponseError(f"XML-RPC {method} failed: {quoted(e.faultString)}") from None
        except Exception as e:  # expat and xmlrpc raise many types for a malformed body
            raise IndexResponseError(f"XML-RPC {method}: malformed reply ({type(e).__name__})") from None
        return result

    def last_serial(self) -> int:
        """``changelog_last_serial()``."""
        serial = self._xmlrpc("changelog_last_serial")
        if type(serial) is not int or serial < 0:
            raise IndexResponseError(f"changelog_last_serial returned {quoted(serial)}")
        return serial

    def changelog_since(self, serial: int) -> list[ChangelogRow]:
        """``changelog_since_serial(serial)``: rows after ``serial``, checked."""
        rows = parse_changelog(self._xmlrpc("changelog_since_serial", serial))
        if rows and rows[0].serial <= serial:
            raise IndexResponseError(f"changelog_since_serial({serial}) returned serial {rows[0].serial}")
        return rows

    def release(self, project: str, version: str) -> ReleaseView | None:
        """The release's files, or None if the index has no such release (404)."""
        path = f"/pypi/{quote(project, safe='')}/{quote(version, safe='')}/json"
        response = self.http.request("GET", path, headers={"Accept": "application/json"})
        if response.status == 404:
            return None
        if response.status != 200:
            raise IndexResponseError(f"release {quoted(project)} {quoted(version)}: HTTP {response.status}")
        return parse_release(project, version, response)
