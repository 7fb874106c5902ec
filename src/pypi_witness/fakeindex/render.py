"""Response bodies shaped like warehouse's: the JSON API, PEP 691 Simple JSON, PEP 503 HTML.

Pure functions of a ``ProjectView`` and a presenter (how each file is shown: its
digests, URL, or hidden), so the attack switches change what a file looks like
in one place and every API agrees.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from pypi_witness.fakeindex.names import is_prerelease
from pypi_witness.fakeindex.state import FileRec, ProjectView, ReleaseView

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
SIMPLE_HTML = "application/vnd.pypi.simple.v1+html"
API_VERSION = "1.1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Shown:
    """A file as one client is shown it."""

    rec: FileRec
    url: str
    sha256: str
    blake2b_256: str
    md5: str
    size: int


Presenter = Callable[[FileRec], Shown | None]  # None: the file is hidden from this client


def upload_times(upload_time_us: int) -> tuple[str, str]:
    """``(upload_time, upload_time_iso_8601)`` as warehouse formats them.

    The ISO form is Python's ``isoformat()`` plus ``Z``: no fractional part when the
    microseconds are zero, which is what PyPI serves for such files.
    """
    t = _EPOCH + timedelta(microseconds=upload_time_us)
    return t.strftime("%Y-%m-%dT%H:%M:%S"), t.replace(tzinfo=None).isoformat() + "Z"


def latest(view: ProjectView) -> ReleaseView | None:
    """The release the project JSON describes: newest non-yanked final, else newest non-yanked, else newest."""
    for pick in (
        lambda r: not r.yanked and not is_prerelease(r.version),
        lambda r: not r.yanked,
        lambda r: True,
    ):
        found = [r for r in view.releases if pick(r)]
        if found:
            return found[-1]
    return None


def _shown(files: Iterable[FileRec], present: Presenter) -> list[Shown]:
    return [s for s in map(present, files) if s is not None]


def _json_file(s: Shown, release: ReleaseView) -> dict:
    upload_time, iso = upload_times(s.rec.upload_time_us)
    return {
        "comment_text": "",
        "digests": {"blake2b_256": s.blake2b_256, "md5": s.md5, "sha256": s.sha256},
        "downloads": -1,
        "filename": s.rec.filename,
        "has_sig": False,
        "md5_digest": s.md5,
        "packagetype": s.rec.packagetype,
        "python_version": s.rec.python_version,
        "requires_python": release.requires_python or None,
        "size": s.size,
        "upload_time": upload_time,
        "upload_time_iso_8601": iso,
        "url": s.url,
        "yanked": release.yanked,
        "yanked_reason": release.yanked_reason or None,
    }


def _info(view: ProjectView, release: ReleaseView, base: str) -> dict:
    project_url = f"{base}/project/{view.name}/"
    return {
        "author": "",
        "author_email": "",
        "bugtrack_url": None,
        "classifiers": [],
        "description": "",
        "description_content_type": None,
        "docs_url": None,
        "download_url": "",
        "downloads": {"last_day": -1, "last_month": -1, "last_week": -1},
        "dynamic": None,
        "home_page": "",
        "keywords": "",
        "license": "",
        "license_expression": None,
        "license_files": None,
        "maintainer": "",
        "maintainer_email": "",
        "name": view.name,
        "package_url": project_url,
        "platform": None,
        "project_url": project_url,
        "project_urls": None,
        "provides_extra": None,
        "release_url": f"{project_url}{release.version}/",
        "requires_dist": None,
        "requires_python": release.requires_python,
        "summary": release.summary,
        "version": release.version,
        "yanked": release.yanked,
        "yanked_reason": release.yanked_reason or None,
    }


def project_json(view: ProjectView, present: Presenter, base: str) -> bytes | None:
    """``/pypi/<project>/json``; None when the project has no release (PyPI answers 404)."""
    top = latest(view)
    if top is None:
        return None
    releases = {r.version: [_json_file(s, r) for s in _shown(r.files, present)] for r in view.releases}
    return orjson.dumps(
        {
            "info": _info(view, top, base),
            "last_serial": view.last_serial,
            "releases": releases,
            "urls": releases[top.version],
            "vulnerabilities": [],
        }
    )


def release_json(view: ProjectView, version: str, present: Presenter, base: str) -> bytes | None:
    """``/pypi/<project>/<version>/json``; None when there is no such release."""
    release = next((r for r in view.releases if r.version == version), None)
    if release is None:
        return None
    return orjson.dumps(
        {
            "info": _info(view, release, base),
            "last_serial": view.last_serial,
            "urls": [_json_file(s, release) for s in _shown(release.files, present)],
            "vulnerabilities": [],
        }
    )


def _simple_files(view: ProjectView, present: Presenter) -> list[tuple[Shown, ReleaseView]]:
    out = []
    for r in view.releases:
        out.extend((s, r) for s in sorted(_shown(r.files, present), key=lambda s: s.rec.filename))
    return out


def simple_project_json(view: ProjectView, present: Presenter) -> bytes:
    """PEP 691 ``/simple/<project>/`` as ``application/vnd.pypi.simple.v1+json`` (API version 1.1)."""
    files = []
    for s, r in _simple_files(view, present):
        files.append(
            {
                "core-metadata": False,
                "data-dist-info-metadata": False,
                "filename": s.rec.filename,
                "hashes": {"blake2b_256": s.blake2b_256, "sha256": s.sha256},
                "provenance": None,
                "requires-python": r.requires_python or None,
                "size": s.size,
                "upload-time": upload_times(s.rec.upload_time_us)[1],
                "url": s.url,
                "yanked": (r.yanked_reason or True) if r.yanked else False,
            }
        )
    return orjson.dumps(
        {
            "files": files,
            "meta": {"_last-serial": view.last_serial, "api-version": API_VERSION},
            "name": view.normalized,
            "versions": [r.version for r in view.releases],
        }
    )


def simple_project_html(view: ProjectView, present: Presenter) -> bytes:
    """PEP 503 ``/simple/<project>/`` HTML: one ``<a>`` per file with ``#sha256=`` and ``data-yanked``."""
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">',
        f"    <title>Links for {html.escape(view.normalized)}</title>",
        "  </head>",
        "  <body>",
        f"    <h1>Links for {html.escape(view.normalized)}</h1>",
    ]
    for s, r in _simple_files(view, present):
        attrs = f' href="{html.escape(s.url)}#sha256={s.sha256}"'
        if r.requires_python:
            attrs += f' data-requires-python="{html.escape(r.requires_python)}"'
        if r.yanked:
            attrs += f' data-yanked="{html.escape(r.yanked_reason)}"'
        lines.append(f"    <a{attrs}>{html.escape(s.rec.filename)}</a><br />")
    lines += ["  </body>", "</html>", f"<!--SERIAL {view.last_serial}-->", ""]
    return "\n".join(lines).encode()


def simple_index_json(projects: dict[str, int], last_serial: int) -> bytes:
    """PEP 691 ``/simple/``: every project's name and last serial."""
    rows = [{"_last-serial": serial, "name": name} for name, serial in sorted(projects.items())]
    return orjson.dumps({"meta": {"_last-serial": last_serial, "api-version": API_VERSION}, "projects": rows})


def simple_index_html(projects: dict[str, int], last_serial: int, normalize: Callable[[str], str]) -> bytes:
    """PEP 503 ``/simple/``: one link per project to its normalized page."""
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">',
        "    <title>Simple index</title>",
        "  </head>",
        "  <body>",
    ]
    for name in sorted(projects):
        lines.append(f'    <a href="/simple/{html.escape(normalize(name))}/">{html.escape(name)}</a>')
    lines += ["  </body>", "</html>", f"<!--SERIAL {last_serial}-->", ""]
    return "\n".join(lines).encode()
