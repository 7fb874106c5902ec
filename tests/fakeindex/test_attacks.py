"""Each attack switch does what the package docstring says, over real HTTP."""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import xmlrpc.client
from xml.parsers.expat import ExpatError

import pytest

from pypi_witness.core.errors import MalformedError
from pypi_witness.fakeindex import admin as admin_routes
from pypi_witness.fakeindex.state import LATE_FILE_SECONDS
from tests.fakeindex.support import (
    admin,
    changelog,
    get_json,
    request,
    simple_json,
    xmlrpc_call,
)


def a_file(server, index):
    """(project display name, version, JSON API file entry) of some live file."""
    for project in index.projects.values():
        for version, entries in get_json(server.url, f"/pypi/{project.name}/json").json()["releases"].items():
            if entries:
                return project.name, version, entries[0]
    raise AssertionError("no live file")


def stated(server, name, version, filename, **kw):
    entry = next(f for f in get_json(server.url, f"/pypi/{name}/{version}/json", **kw).json()["urls"] if f["filename"] == filename)
    return entry


def download(url, **kw):
    r = request(url, **kw)
    return r.status, r.body


def test_swap_shows_other_bytes_and_digests_at_their_own_path(server, index):
    name, version, before = a_file(server, index)
    rows = changelog(server.url)
    server.set_attacks(swap=[before["filename"]])
    after = stated(server, name, version, before["filename"])
    assert after["digests"]["sha256"] != before["digests"]["sha256"]
    assert after["digests"]["blake2b_256"] != before["digests"]["blake2b_256"]
    b2 = after["digests"]["blake2b_256"]
    assert after["url"].endswith(f"/packages/{b2[:2]}/{b2[2:4]}/{b2[4:]}/{before['filename']}")
    status, data = download(after["url"])
    assert status == 200 and hashlib.sha256(data).hexdigest() == after["digests"]["sha256"] and len(data) == after["size"]
    assert download(before["url"])[0] == 404
    simple = {f["filename"]: f for f in simple_json(server.url, name.lower()).json()["files"]}
    assert simple[before["filename"]]["hashes"]["sha256"] == after["digests"]["sha256"]
    assert changelog(server.url) == rows
    server.reset_attacks()
    assert stated(server, name, version, before["filename"]) == before


def test_resurrect_gives_a_removed_filename_other_content(server, index):
    name, version, before = a_file(server, index)
    index.remove_file(name, version, before["filename"])
    refused = admin(server.url, "index", {"op": "add_file", "project": name, "version": version, "filename": before["filename"]})
    assert refused.status == 409
    index.allow_late_files = True  # generated releases are old
    assert admin(server.url, "attack", {"allow_filename_reuse": True}).status == 200
    added = admin(server.url, "index", {"op": "add_file", "project": name, "version": version, "filename": before["filename"]})
    assert added.status == 200 and added.json()["serial"] == index.last_serial
    assert changelog(server.url)[-1][3].endswith(f"file {before['filename']}")
    after = stated(server, name, version, before["filename"])
    assert after["digests"]["sha256"] != before["digests"]["sha256"]
    assert hashlib.sha256(download(after["url"])[1]).hexdigest() == after["digests"]["sha256"]


def test_late_files_are_refused_until_the_switch_is_on(server, index, clock):
    name, version, _ = a_file(server, index)
    new = {"op": "add_file", "project": name, "version": version, "filename": "late-1.0-py3-none-any.whl"}
    r = admin(server.url, "index", new)
    assert r.status == 409 and "14 days" in r.json()["error"]
    assert admin(server.url, "attack", {"allow_late_files": True}).status == 200
    assert admin(server.url, "index", new).status == 200
    assert stated(server, name, version, "late-1.0-py3-none-any.whl")["size"] > 0
    created = index.projects[name.lower().replace("_", "-").replace(".", "-")].releases[version].created
    assert clock.now - created > LATE_FILE_SECONDS


def test_bad_path_states_right_digests_under_a_wrong_blake2b_path(server, index):
    name, version, before = a_file(server, index)
    server.set_attacks(bad_path=[before["filename"]])
    after = stated(server, name, version, before["filename"])
    assert after["digests"] == before["digests"]
    b2 = after["digests"]["blake2b_256"]
    path_b2 = "".join(after["url"].split("/")[-4:-1])
    assert len(path_b2) == 64 and path_b2 != b2
    status, data = download(after["url"])
    assert status == 200 and hashlib.blake2b(data, digest_size=32).hexdigest() == b2


def test_bytes_mismatch_serves_other_bytes_than_stated(server, index):
    name, version, before = a_file(server, index)
    server.set_attacks(corrupt=[before["filename"]])
    assert stated(server, name, version, before["filename"]) == before
    status, data = download(before["url"])
    assert status == 200 and len(data) == before["size"]
    assert hashlib.sha256(data).hexdigest() != before["digests"]["sha256"]


def test_stale_answers_show_an_older_serial_then_catch_up(server, index, clock):
    name, version, _ = a_file(server, index)
    index.allow_late_files = True
    serial = index.add_file(name, version, "fresh-1.0-py3-none-any.whl")
    admin(server.url, "attack", {"stale_lag": 1, "stale_count": 3})
    for route in (f"/pypi/{name}/json", f"/pypi/{name}/{version}/json"):
        r = get_json(server.url, route)
        assert int(r.headers["X-PyPI-Last-Serial"]) == r.json()["last_serial"] < serial
        assert "fresh-1.0-py3-none-any.whl" not in r.body.decode()
    s = simple_json(server.url, name.lower().replace("_", "-").replace(".", "-"))
    assert int(s.headers["X-PyPI-Last-Serial"]) < serial
    r = get_json(server.url, f"/pypi/{name}/json")
    assert int(r.headers["X-PyPI-Last-Serial"]) == r.json()["last_serial"] == serial
    assert xmlrpc_call(server.url, "changelog_last_serial") == serial


def test_stale_until_switched_off_hides_projects_created_since(server, index):
    serial = index.add_file("Brand-New", "1.0", "brand_new-1.0.tar.gz")
    server.set_attacks(stale_lag=4, stale_count=-1)  # create, add Owner, new release, add file
    for _ in range(3):
        assert request(server.url, "/pypi/Brand-New/json").status == 404
        assert request(server.url, "/simple/brand-new/").status == 404
        assert int(request(server.url, "/simple/").headers["X-PyPI-Last-Serial"]) == serial - 4
    server.set_attacks(stale_count=0)
    assert get_json(server.url, "/pypi/Brand-New/json").json()["last_serial"] == serial


def test_rate_limiting_answers_429_with_retry_after_per_client(server, index):
    server.set_attacks(rate_limit=3, rate_window=60)
    for _ in range(3):
        assert request(server.url, "/simple/").status == 200
    r = request(server.url, "/simple/")
    assert r.status == 429 and 1 <= int(r.headers["Retry-After"]) <= 60
    assert request(server.url, "/simple/", source="127.0.0.2").status == 200
    assert admin(server.url, "attack", {"reset": True}).status == 200
    assert request(server.url, "/simple/").status == 200


def test_split_view_answers_by_source_address_and_user_agent(server, index):
    name, version, before = a_file(server, index)
    server.set_attacks("127.0.0.3", swap=[before["filename"]])
    server.set_attacks("ua:victim/1.0", hide=[before["filename"]])
    honest = stated(server, name, version, before["filename"], source="127.0.0.2")
    swapped = stated(server, name, version, before["filename"], source="127.0.0.3")
    assert honest == before and swapped["digests"]["sha256"] != before["digests"]["sha256"]
    assert download(swapped["url"], source="127.0.0.3")[0] == 200
    assert download(swapped["url"], source="127.0.0.2")[0] == 404
    urls = get_json(server.url, f"/pypi/{name}/{version}/json", headers={"User-Agent": "victim/1.0"}).json()["urls"]
    assert before["filename"] not in {f["filename"] for f in urls}
    assert download(before["url"], headers={"User-Agent": "victim/1.0"})[0] == 404
    assert xmlrpc_call(server.url, "changelog_last_serial", source="127.0.0.3") == index.last_serial


def test_split_view_switches_can_be_set_from_outside(server, index):
    _, _, before = a_file(server, index)
    r = admin(server.url, "attack", {"client": "127.0.0.3", "corrupt": [before["filename"]]})
    assert r.status == 200 and r.json()["corrupt"] == [before["filename"]]
    got = request(server.url, "/_admin/attack?client=127.0.0.3").json()
    assert got["corrupt"] == [before["filename"]] and request(server.url, "/_admin/attack").json()["corrupt"] == []
    assert hashlib.sha256(download(before["url"], source="127.0.0.3")[1]).hexdigest() != before["digests"]["sha256"]
    assert hashlib.sha256(download(before["url"])[1]).hexdigest() == before["digests"]["sha256"]


@pytest.mark.parametrize("route", ["json", "simple", "xmlrpc"])
def test_hostile_bad_json_cuts_the_body(server, index, route):
    server.set_attacks(hostile="bad_json")
    body = _fetch(server, index, route).body
    if route == "xmlrpc":
        with pytest.raises(ExpatError):
            xmlrpc.client.loads(body)
    else:
        with pytest.raises(json.JSONDecodeError):
            json.loads(body)


def test_hostile_wrong_content_type(server, index):
    server.set_attacks(hostile="wrong_content_type")
    for route in ("json", "simple", "xmlrpc"):
        r = _fetch(server, index, route)
        assert r.headers["Content-Type"] == "text/html; charset=utf-8"
        assert r.body.startswith((b"{", b"<?xml"))


def test_hostile_bad_digest_length(server, index):
    name, version, before = a_file(server, index)
    server.set_attacks(hostile="bad_digest_length")
    after = stated(server, name, version, before["filename"])
    assert [len(after["digests"][k]) for k in ("sha256", "blake2b_256", "md5")] == [63, 63, 31]
    f = simple_json(server.url, name.lower().replace("_", "-").replace(".", "-")).json()["files"][0]
    assert len(f["hashes"]["sha256"]) == 63


def test_hostile_huge_body_is_padded_valid_json(server, index):
    server.set_attacks(hostile="huge", huge_size=3 * 1024 * 1024)
    r = _fetch(server, index, "json")
    assert len(r.body) == 3 * 1024 * 1024 and int(r.headers["Content-Length"]) == len(r.body)
    assert json.loads(r.body)["info"]


def test_hostile_short_body_closes_early(server, index):
    server.set_attacks(hostile="short_body")
    with pytest.raises(http.client.IncompleteRead):
        _fetch(server, index, "json")


def test_hostile_drip_sends_slowly_and_stops_on_close(server, index):
    server.set_attacks(hostile="drip", drip_bytes=4, drip_interval=30)
    with pytest.raises((TimeoutError, socket.timeout)):
        _fetch(server, index, "xmlrpc", timeout=0.5)
    server.close()  # must not wait for the drip to finish


def test_hostile_deep_nests_the_first_string_of_an_xmlrpc_answer(server, index):
    plain = xmlrpc_call(server.url, "changelog_since_serial", 0)
    server.set_attacks(hostile="deep", deep_depth=1000)
    (first, *rest), *others = xmlrpc_call(server.url, "changelog_since_serial", 0)
    for _ in range(1000):
        (first,) = first
    assert [first, *rest] == plain[0] and others == plain[1:]
    assert xmlrpc_call(server.url, "changelog_last_serial") == index.last_serial  # no string: as it was
    assert get_json(server.url, f"/pypi/{a_file(server, index)[0]}/json").status == 200  # JSON: as it was


def test_hostile_can_target_files(server, index):
    _, _, before = a_file(server, index)
    server.set_attacks(hostile="bad_json", hostile_on=["files"])
    status, data = download(before["url"])
    assert status == 200 and len(data) == before["size"] // 2
    assert request(server.url, "/simple/").body.endswith(b"-->\n")


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"swap": "not-a-list"}, 400),
        ({"no_such_switch": 1}, 400),
        ({"hostile": "explode"}, 400),
        ({"rate_limit": -1}, 400),
        ({"client": "not an address", "swap": []}, 400),
        ({"allow_late_files": "yes"}, 400),
        ([1, 2], 400),
    ],
)
def test_bad_attack_requests_are_refused(server, payload, status):
    r = admin(server.url, "attack", payload)
    assert r.status == status and "error" in r.json()


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"op": "explode"}, 400),
        ({"op": "add_file", "project": "p"}, 400),
        ({"op": "add_file", "project": "p", "version": "1", "filename": "p-1.tar.gz", "content_b64": "%%"}, 400),
        ({"op": "add_file", "project": "p", "version": "1", "filename": "p-1.tar.gz", "upload_time": "soon"}, 400),
        ({"op": "remove_project", "project": "no-such-thing"}, 404),
        ({"op": "remove_project", "project": "x", "extra": 1}, 400),
    ],
)
def test_bad_index_requests_are_refused(server, payload, status):
    r = admin(server.url, "index", payload)
    assert r.status == status and "error" in r.json()


def test_admin_rejects_non_json_and_unknown_routes(server):
    assert request(server.url, "/_admin/attack", method="POST", body=b"{oops").status == 400
    assert request(server.url, "/_admin/nothing").status == 404
    assert request(server.url, "/_admin/index").status == 405


@pytest.mark.parametrize(
    ("address", "ok"),
    [("127.0.0.1", True), ("127.0.0.3", True), ("::1", True), ("::ffff:127.0.0.1", True),
     ("192.0.2.2", False), ("10.0.0.1", False), ("::ffff:192.0.2.2", False), ("", False)],
)  # fmt: skip
def test_admin_is_for_loopback_clients_only(address, ok):
    assert admin_routes.allowed(address) is ok


def test_attack_values_are_checked_in_process(server):
    with pytest.raises(MalformedError):
        server.set_attacks(swap="a-string")
    with pytest.raises(MalformedError):
        server.set_attacks(drip_interval=0)
    with pytest.raises(MalformedError):
        server.set_attacks("ua", swap=[])


def _fetch(server, index, route, timeout=10):
    project = next(p for p in index.projects.values() if index.project_view(p.name).releases)
    if route == "json":
        return request(server.url, f"/pypi/{project.name}/json", timeout=timeout)
    if route == "simple":
        return request(server.url, f"/simple/{project.normalized}/",
                       headers={"Accept": "application/vnd.pypi.simple.v1+json"}, timeout=timeout)  # fmt: skip
    body = xmlrpc.client.dumps((), "changelog_last_serial").encode()
    return request(server.url, "/pypi", method="POST", body=body, timeout=timeout)
