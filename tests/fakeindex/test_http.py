"""The fake index over real HTTP, read as a follower reads PyPI: changelog, JSON API, Simple API, files."""

from __future__ import annotations

import hashlib
import json
import re
import urllib.request
import xmlrpc.client
from collections import defaultdict

import pytest

from pypi_witness.fakeindex.names import normalize
from tests.fakeindex.support import (
    CAP,
    SIMPLE_JSON,
    changelog,
    get_json,
    request,
    simple_json,
    xmlrpc_call,
)

ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")


def replay(rows):
    """Live files and yanked releases per project, from changelog rows alone."""
    files: dict[str, dict[str, tuple[str, str]]] = defaultdict(dict)  # normalized -> filename -> (version, name)
    yanked: set[tuple[str, str]] = set()
    for name, version, _, action, _ in rows:
        key = normalize(name)
        if m := re.fullmatch(r"add \S+ file (.+)", action):
            files[key][m.group(1)] = version
        elif action.startswith("remove file "):
            del files[key][action[len("remove file ") :]]
        elif action == "remove release":
            files[key] = {f: v for f, v in files[key].items() if v != version}
            yanked.discard((key, version))
        elif action == "remove project":
            files.pop(key)
            yanked = {y for y in yanked if y[0] != key}
        elif action == "yank release":
            yanked.add((key, version))
        elif action == "unyank release":
            yanked.discard((key, version))
    return files, yanked


def test_changelog_pages_at_the_cap_in_order_without_gaps_or_duplicates(server, index):
    last = xmlrpc_call(server.url, "changelog_last_serial")
    assert last == index.last_serial > 3 * CAP
    since, pages, rows = 0, 0, []
    while page := xmlrpc_call(server.url, "changelog_since_serial", since):
        assert len(page) <= CAP
        pages += 1
        rows.extend(page)
        since = page[-1][4]
    assert pages == -(-last // CAP)
    assert [r[4] for r in rows] == list(range(1, last + 1))
    assert [tuple(r) for r in rows] == index.journal
    for name, version, timestamp, action, serial in rows:
        assert isinstance(name, str) and isinstance(action, str) and type(timestamp) is int and type(serial) is int
        assert version is None if action in ("create", "remove project") or action.startswith("add Owner") else isinstance(version, str)
    timestamps = [r[2] for r in rows]
    assert timestamps == sorted(timestamps)


def test_changelog_since_serial_is_exclusive_and_empty_at_the_end(server, index):
    rows = xmlrpc_call(server.url, "changelog_since_serial", 17)
    assert rows[0][4] == 18 and len(rows) == CAP
    assert xmlrpc_call(server.url, "changelog_since_serial", index.last_serial) == []
    assert xmlrpc_call(server.url, "changelog_since_serial", -5)[0][4] == 1


def test_the_changelog_uses_warehouse_action_strings(index, server):
    actions = {re.sub(r" (file|Owner) \S+$", r" \1 X", r[3]) for r in changelog(server.url)}
    assert {"create", "add Owner X", "new release", "add source file X", "add py3 file X"} <= actions
    assert {"remove file X", "yank release", "remove release"} <= actions
    assert all(re.fullmatch(r"add (source|py3|py2\.py3|cp3\d\d) file X", a) for a in actions if a.startswith("add ") and "Owner" not in a)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (xmlrpc.client.dumps((), "no_such_method").encode(), -32601),
        (xmlrpc.client.dumps(("12",), "changelog_since_serial").encode(), -32602),
        (xmlrpc.client.dumps((True,), "changelog_since_serial").encode(), -32602),
        (xmlrpc.client.dumps((1,), "changelog_last_serial").encode(), -32602),
        (b"<methodCall><methodName>changelog", -32700),
        (b"", -32700),
        (xmlrpc.client.dumps((1,), methodresponse=True).encode(), -32700),
    ],
)
def test_xmlrpc_faults_answer_http_200(server, body, code):
    r = request(server.url, "/pypi", method="POST", body=body, headers={"Content-Type": "text/xml"})
    assert r.status == 200
    with pytest.raises(xmlrpc.client.Fault) as e:
        xmlrpc.client.loads(r.body)
    assert e.value.faultCode == code


def test_get_on_the_xmlrpc_endpoint_is_refused(server):
    assert request(server.url, "/pypi").status == 405


def test_serials_agree_across_xmlrpc_json_and_simple(server, index):
    rows = changelog(server.url)
    newest: dict[str, int] = {}
    for name, _, _, _, serial in rows:
        newest[normalize(name)] = serial
    listed = xmlrpc_call(server.url, "list_packages_with_serial")
    assert {normalize(n) for n in listed} == {p.normalized for p in index.projects.values()}
    for name, serial in listed.items():
        assert newest[normalize(name)] == serial
        r = get_json(server.url, f"/pypi/{name}/json") if index.project_view(name).releases else None
        if r is not None:
            assert r.headers["X-PyPI-Last-Serial"] == str(serial) and r.json()["last_serial"] == serial
        s = simple_json(server.url, normalize(name))
        assert s.headers["X-PyPI-Last-Serial"] == str(serial) and s.json()["meta"]["_last-serial"] == serial
    assert request(server.url, "/simple/").headers["X-PyPI-Last-Serial"] == str(index.last_serial)


def test_json_apis_agree_with_each_other_and_with_the_changelog(server, index):
    live, yanked = replay(changelog(server.url))
    assert live  # the generated history has live files
    for key, files in live.items():
        project = get_json(server.url, f"/pypi/{index.projects[key].name}/json").json() if files else None
        simple = simple_json(server.url, key).json()
        simple_files = {f["filename"]: f for f in simple["files"]}
        assert set(simple_files) == set(files)
        if project is None:
            continue
        seen = {}
        for version, entries in project["releases"].items():
            release = get_json(server.url, f"/pypi/{project['info']['name']}/{version}/json").json()
            assert release["urls"] == entries and release["info"]["version"] == version
            assert release["last_serial"] == project["last_serial"]
            for f in entries:
                seen[f["filename"]] = f
                assert files[f["filename"]] == version
                assert f["yanked"] == ((key, version) in yanked) == release["info"]["yanked"]
                s = simple_files[f["filename"]]
                assert s["hashes"] == {"sha256": f["digests"]["sha256"], "blake2b_256": f["digests"]["blake2b_256"]}
                assert (s["size"], s["url"], s["upload-time"]) == (f["size"], f["url"], f["upload_time_iso_8601"])
                assert s["yanked"] == ((f["yanked_reason"] or True) if f["yanked"] else False)
        assert set(seen) == set(files)
        assert set(simple["versions"]) == set(project["releases"])
        assert project["urls"] == project["releases"][project["info"]["version"]]


def test_files_hash_to_their_stated_digests_at_their_blake2b_path(server, index):
    checked = 0
    for project in list(index.projects.values())[:6]:
        for f in simple_json(server.url, project.normalized).json()["files"]:
            b2 = f["hashes"]["blake2b_256"]
            assert f["url"] == f"{server.url}/packages/{b2[:2]}/{b2[2:4]}/{b2[4:]}/{f['filename']}"
            data = urllib.request.urlopen(f["url"], timeout=10).read()
            assert hashlib.sha256(data).hexdigest() == f["hashes"]["sha256"]
            assert hashlib.blake2b(data, digest_size=32).hexdigest() == b2
            assert len(data) == f["size"] and 1024 <= f["size"] <= 65536
            checked += 1
    assert checked > 10


def test_upload_times_look_like_pypi_and_some_have_no_fraction(server, index):
    times = []
    for project in index.projects.values():
        for entries in get_json(server.url, f"/pypi/{project.name}/json").json()["releases"].values():
            for f in entries:
                assert ISO_TIME.match(f["upload_time_iso_8601"]), f
                assert f["upload_time_iso_8601"].startswith(f["upload_time"])
                times.append(f["upload_time_iso_8601"])
    assert any("." in t for t in times) and any("." not in t for t in times)


def test_json_api_fields(server, index):
    project = next(p for p in index.projects.values() if index.project_view(p.name).releases)
    body = get_json(server.url, f"/pypi/{project.name}/json")
    assert body.headers["Content-Type"] == "application/json"
    doc = body.json()
    assert doc["info"]["name"] == project.name and doc["vulnerabilities"] == []
    for f in doc["urls"]:
        assert f["packagetype"] in ("sdist", "bdist_wheel")
        assert (f["packagetype"] == "sdist") == (f["python_version"] == "source")
        assert len(f["digests"]["sha256"]) == 64 and len(f["digests"]["md5"]) == 32 and f["md5_digest"] == f["digests"]["md5"]


def test_unknown_projects_and_versions_answer_404(server, index):
    project = next(iter(index.projects.values()))
    assert request(server.url, "/pypi/no-such-project/json").status == 404
    assert request(server.url, f"/pypi/{project.name}/999.0/json").status == 404
    assert request(server.url, "/simple/no-such-project/").status == 404
    assert request(server.url, "/packages/aa/bb/cc/nothing.whl").status == 404
    assert request(server.url, "/nowhere").status == 404


def test_non_normalized_names_redirect_like_pypi(server, index):
    project = next(p for p in index.projects.values() if p.name != p.normalized and index.project_view(p.name).releases)
    r = request(server.url, f"/simple/{project.name}/")
    assert r.status == 301 and r.headers["Location"] == f"/simple/{project.normalized}/"
    r = request(server.url, f"/simple/{project.normalized}")
    assert r.status == 301 and r.headers["Location"] == f"/simple/{project.normalized}/"
    r = request(server.url, f"/pypi/{project.normalized}/json")
    assert r.status == 301 and r.headers["Location"] == f"/pypi/{project.name}/json"
    followed = urllib.request.urlopen(
        urllib.request.Request(f"{server.url}/simple/{project.name.upper()}", headers={"Accept": SIMPLE_JSON}), timeout=10
    )
    assert followed.url == f"{server.url}/simple/{project.normalized}/"
    assert json.load(followed)["name"] == project.normalized


def test_simple_html_links_carry_sha256_and_yanks(server, index):
    yanked = next(
        (p, r) for p in index.projects.values() for r in p.releases.values()
        if r.removed_serial is None and r.yanks and r.yanks[-1][1] is not None and any(f.removed_serial is None for f in r.files)
    )  # fmt: skip
    project = yanked[0]
    r = request(server.url, f"/simple/{project.normalized}/")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/html")
    links = re.findall(r'<a href="([^"#]+)#sha256=([0-9a-f]{64})"([^>]*)>([^<]+)</a>', r.body.decode())
    files = {f["filename"]: f for f in simple_json(server.url, project.normalized).json()["files"]}
    assert {link[3] for link in links} == set(files)
    for url, sha, attrs, name in links:
        assert (url, sha) == (files[name]["url"], files[name]["hashes"]["sha256"])
        assert ("data-yanked=" in attrs) == (files[name]["yanked"] is not False)
    assert "data-yanked=" in r.body.decode()


def test_simple_index_lists_every_project(server, index):
    doc = get_json(server.url, "/simple/", headers={"Accept": SIMPLE_JSON}).json()
    assert doc["meta"]["api-version"] == "1.1"
    assert {p["name"]: p["_last-serial"] for p in doc["projects"]} == index.packages_with_serial()
    page = request(server.url, "/simple/").body.decode()
    assert set(re.findall(r'href="/simple/([^/]+)/"', page)) == {p.normalized for p in index.projects.values()}


@pytest.mark.parametrize(
    ("accept", "query", "is_json"),
    [
        (SIMPLE_JSON, "", True),
        ("application/vnd.pypi.simple.latest+json", "", True),
        ("text/html;q=0.5, application/vnd.pypi.simple.v1+json", "", True),
        ("application/vnd.pypi.simple.v1+json;q=0.1, text/html", "", False),
        ("application/vnd.pypi.simple.v1+json;q=0", "", False),
        ("*/*", "", False),
        ("text/html", "?format=application/vnd.pypi.simple.v1+json", True),
    ],
)
def test_simple_content_negotiation(server, index, accept, query, is_json):
    project = next(iter(index.projects.values()))
    r = request(server.url, f"/simple/{project.normalized}/{query}", headers={"Accept": accept})
    assert r.status == 200
    assert (r.headers["Content-Type"] == SIMPLE_JSON) == is_json
    assert r.body.startswith(b"{") == is_json


def test_keep_alive_serves_many_requests_on_one_connection(server, index):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    names = [p.normalized for p in index.projects.values()]
    for name in names * 2:
        conn.request("GET", f"/simple/{name}/", headers={"Accept": SIMPLE_JSON})
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read())["name"] == name
    conn.close()
