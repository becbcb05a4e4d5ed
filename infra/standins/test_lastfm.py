"""Tests for the Last.fm stand-in.  Run: python3 -m pytest infra/standins -q"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from lastfm_history import normalise  # noqa: E402

SERVER = os.path.join(HERE, "lastfm.py")
FIXTURES = os.path.join(HERE, "..", "..", "tests", "fixtures", "lastfm")


# --------------------------------------------------------------------------------------------
# harness

class Srv:
    def __init__(self, *extra):
        self.proc = subprocess.Popen(
            [sys.executable, SERVER, "--host", "127.0.0.1", "--port", "0", "--quiet", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("lastfm stand-in listening on http://"), line
        self.base = line.strip().rsplit(" ", 1)[1]

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def raw(self, params=None, path="/2.0/", method="GET", data=None, timeout=30, headers=None):
        url = self.base + path
        if params is not None:
            url += "?" + urllib.parse.urlencode(params)
        req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def api(self, **params):
        p = {"format": "json", "api_key": "testkey"}
        p.update({k: v for k, v in params.items() if v is not None})
        status, _, body = self.raw(p)
        return status, json.loads(body)

    def recent(self, user, **params):
        status, body = self.api(method="user.getrecenttracks", user=user, **params)
        assert status == 200, body
        return body

    def admin(self, path, body=None, method=None):
        data = None if body is None else json.dumps(body).encode()
        method = method or ("GET" if body is None else "POST")
        status, _, raw = self.raw(path=path, method=method, data=data,
                                  headers={"Content-Type": "application/json"})
        return status, json.loads(raw)


@pytest.fixture(scope="module")
def srv():
    s = Srv("--rate-limit", "0", "--seed", "1")
    yield s
    s.close()


def capture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8-sig") as f:
        return json.load(f)


def shape(x):
    """Recursive key/type structure; a list becomes the set of its elements' shapes."""
    if isinstance(x, dict):
        return {k: shape(v) for k, v in sorted(x.items())}
    if isinstance(x, list):
        uniq = {json.dumps(shape(v), sort_keys=True) for v in x}
        return ["list"] + sorted(uniq)
    return type(x).__name__


def tracks_of(body):
    t = body["recenttracks"].get("track", [])
    return [t] if isinstance(t, dict) else t


def all_pages(s, user, limit=200, **params):
    first = s.recent(user, limit=limit, page=1, **params)
    pages = int(first["recenttracks"]["@attr"]["totalPages"])
    items = tracks_of(first)
    for p in range(2, pages + 1):
        items += tracks_of(s.recent(user, limit=limit, page=p, **params))
    return first, [t for t in items if "date" in t]


# --------------------------------------------------------------------------------------------
# (1) shapes against the real captures

def test_shape_multiple(srv):
    cap = capture("inflatablefriends-UserGetRecentTracksMultiple.json")
    ours = srv.recent("demo", limit=20, page=2)  # page 2: no now-playing item
    assert isinstance(ours["recenttracks"]["track"], list)
    assert len(ours["recenttracks"]["track"]) == 20
    assert shape(ours) == shape(cap)


def test_shape_single(srv):
    cap = capture("inflatablefriends-UserGetRecentTracksSingle.json")
    ours = srv.recent("one")
    assert isinstance(ours["recenttracks"]["track"], dict)
    assert shape(ours) == shape(cap)
    # (3) a one-item page of a bigger history is an object too
    ours2 = srv.recent("demo", limit=1, page=3)
    assert isinstance(ours2["recenttracks"]["track"], dict)
    assert shape(ours2) == shape(cap)


def test_shape_extended(srv):
    cap = capture("inflatablefriends-UserGetRecentTracksExtended.json")
    ours = srv.recent("one", extended=1)
    assert shape(ours["recenttracks"]["track"]) == shape(cap["recenttracks"]["track"])
    art = ours["recenttracks"]["track"]["artist"]
    assert set(art) == {"name", "mbid", "url", "image"}
    assert ours["recenttracks"]["track"]["loved"] in ("0", "1")


def test_shape_lmammino_page_with_now_playing(srv):
    cap = capture("lmammino-recent_tracks_page.json")
    ours = srv.recent("demo", limit=200, page=1, extended=1)
    tr = ours["recenttracks"]["track"]
    assert len(tr) == 201
    assert tr[0]["@attr"] == {"nowplaying": "true"} and "date" not in tr[0]
    assert all("date" in t and "@attr" not in t for t in tr[1:])
    assert shape(ours) == shape(cap)
    np_cap = capture("lmammino-now_playing_track.json")
    assert shape(tr[0]) == shape(np_cap)
    assert ours["recenttracks"]["@attr"]["perPage"] == "200"


def test_shape_empty_modern_and_legacy(srv):
    ours = srv.recent("empty")
    assert ours == {"recenttracks": {"track": [], "@attr": {
        "user": "empty", "totalPages": "0", "page": "1", "perPage": "50", "total": "0"}}}
    st, _ = srv.admin("/_admin/users", {"name": "legacy", "scrobbles": 0, "seed": 1,
                                        "legacy_empty": True, "now_playing": False})
    assert st == 200
    cap = capture("inflatablefriends-UserGetRecentTracksEmpty.json")
    legacy = srv.recent("legacy", limit=20)
    assert shape(legacy) == shape(cap)
    assert legacy["recenttracks"]["total"] == "0" and "track" not in legacy["recenttracks"]


def test_shape_error(srv):
    cap = capture("inflatablefriends-UserGetRecentTracksError.json")
    status, body = srv.api(method="user.getrecenttracks")
    assert status == 400
    assert body == cap
    status, body = srv.api(method="user.getrecenttracks", user="nobody_here")
    assert status == 404 and shape(body) == shape(cap) and body["error"] == 6


def test_all_numbers_are_strings_and_json_escaping(srv):
    status, headers, raw = srv.raw({"method": "user.getrecenttracks", "user": "demo",
                                    "api_key": "k", "format": "json", "limit": 5})
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert b"https:\\/\\/" in raw  # escaped slashes like the real service
    body = json.loads(raw)
    for k, v in body["recenttracks"]["@attr"].items():
        assert isinstance(v, str), k
    for t in tracks_of(body):
        assert t["streamable"] == "0" and isinstance(t["mbid"], str)
        assert len(t["image"]) == 4
        if "date" in t:
            assert t["date"]["uts"].isdigit()


def test_getinfo(srv):
    status, body = srv.api(method="user.getInfo", user="heavy")
    assert status == 200
    u = body["user"]
    for k in ("name", "realname", "url", "country", "age", "gender", "subscriber", "playcount",
              "playlists", "bootstrap", "type"):
        assert isinstance(u[k], str), k
    assert isinstance(u["registered"]["#text"], int)
    assert u["registered"]["unixtime"] == str(u["registered"]["#text"])
    assert time.gmtime(int(u["registered"]["unixtime"])).tm_year == 2008
    _, truth = srv.admin("/_admin/truth?user=heavy")
    assert int(u["playcount"]) == truth["total_scrobbles"] + truth["extra_playcount"]
    assert int(u["playcount"]) > truth["total_scrobbles"]  # untimestamped old imports


# --------------------------------------------------------------------------------------------
# (2) from inclusive / to exclusive, (4) now playing

def test_from_inclusive_to_exclusive(srv):
    _, items = all_pages(srv, "demo")
    uts = [int(t["date"]["uts"]) for t in items]
    assert uts == sorted(uts, reverse=True)
    counts = collections.Counter(uts)
    shared = [u for u, c in counts.items() if c >= 2]
    x = shared[len(shared) // 2]  # a second holding >= 2 scrobbles
    y = uts[len(uts) // 10]
    lo, hi = min(x, y), max(x, y)
    body = srv.recent("demo", limit=200, **{"from": x})
    assert int(body["recenttracks"]["@attr"]["total"]) == sum(1 for u in uts if u >= x)
    body = srv.recent("demo", limit=200, to=x)
    assert int(body["recenttracks"]["@attr"]["total"]) == sum(1 for u in uts if u < x)
    first, win = all_pages(srv, "demo", limit=50, **{"from": lo, "to": hi})
    expect = [u for u in uts if lo <= u < hi]
    assert [int(t["date"]["uts"]) for t in win] == expect
    assert int(first["recenttracks"]["@attr"]["total"]) == len(expect)
    assert int(first["recenttracks"]["@attr"]["totalPages"]) == -(-len(expect) // 50)
    # from == to: empty window
    body = srv.recent("demo", **{"from": x, "to": x})
    assert body["recenttracks"]["@attr"]["total"] == "0"


def test_now_playing_injected_even_outside_window(srv):
    # window far in the past: no scrobbles, but page 1 still carries the now-playing item
    body = srv.recent("demo", **{"from": 1000, "to": 2000})
    t = body["recenttracks"]["track"]
    assert isinstance(t, dict) and t["@attr"]["nowplaying"] == "true" and "date" not in t
    assert body["recenttracks"]["@attr"]["total"] == "0"
    # window with content: page 1 holds limit + 1 items, page 2 holds no now-playing item
    _, items = all_pages(srv, "demo")
    hi = int(items[100]["date"]["uts"])
    lo = int(items[3000]["date"]["uts"])
    p1 = srv.recent("demo", limit=10, page=1, **{"from": lo, "to": hi})
    assert len(p1["recenttracks"]["track"]) == 11
    assert "date" not in p1["recenttracks"]["track"][0]
    p2 = srv.recent("demo", limit=10, page=2, **{"from": lo, "to": hi})
    assert len(p2["recenttracks"]["track"]) == 10
    assert all("date" in x for x in p2["recenttracks"]["track"])
    # users without now playing
    assert all("date" in x for x in tracks_of(srv.recent("one")))


# --------------------------------------------------------------------------------------------
# (5) pagination vs truth

def test_pagination_matches_truth(srv):
    first, items = all_pages(srv, "gen_2000_7", limit=200)
    attr = first["recenttracks"]["@attr"]
    assert attr["total"] == "2000" and attr["totalPages"] == "10" and attr["page"] == "1"
    _, truth = srv.admin("/_admin/truth?user=gen_2000_7")
    assert truth["total_scrobbles"] == 2000 == len(items)
    got = collections.Counter((normalise(t["artist"]["#text"]), normalise(t["name"])) for t in items)
    want = {(normalise(t["artist"]), normalise(t["title"])): t["playcount"] for t in truth["tracks"]}
    assert len(want) == len(truth["tracks"])  # no two canonical tracks fold together
    assert dict(got) == want
    # spelling variants exist: more exact spellings than canonical tracks
    exact = {(t["artist"]["#text"], t["name"]) for t in items}
    assert len(exact) > len(want)
    # truth spelling = the most recent scrobble's spelling
    latest = {}
    for t in items:  # newest first
        latest.setdefault((normalise(t["artist"]["#text"]), normalise(t["name"])),
                          (t["artist"]["#text"], t["name"], t["album"]["#text"], int(t["date"]["uts"])))
    for t in truth["tracks"]:
        a, n, al, u = latest[(normalise(t["artist"]), normalise(t["title"]))]
        assert (a, n, al, u) == (t["artist"], t["title"], t["album"], t["last_uts"])
    # past the end: empty array with the requested page
    past = srv.recent("gen_2000_7", limit=200, page=11)
    assert past["recenttracks"]["track"] == [] and past["recenttracks"]["@attr"]["page"] == "11"
    # limit clamps to 200, page 0 is page 1
    clamp = srv.recent("gen_2000_7", limit=500, page=0)
    assert clamp["recenttracks"]["@attr"]["perPage"] == "200"
    assert clamp["recenttracks"]["@attr"]["page"] == "1"
    assert len(clamp["recenttracks"]["track"]) == 201
    # default limit 50
    assert srv.recent("gen_2000_7")["recenttracks"]["@attr"]["perPage"] == "50"
    # truth window
    lo, hi = int(items[1500]["date"]["uts"]), int(items[500]["date"]["uts"])
    _, tw = srv.admin("/_admin/truth?user=gen_2000_7&from=%d&to=%d" % (lo, hi))
    assert tw["total_scrobbles"] == sum(1 for t in items if lo <= int(t["date"]["uts"]) < hi)


def test_catalogue_content(srv):
    _, truth = srv.admin("/_admin/truth?user=heavy")
    tracks = truth["tracks"]
    assert 0.15 * 219625 < len(tracks) < 0.3 * 219625
    assert tracks[0]["playcount"] >= 200
    assert sum(1 for t in tracks if t["playcount"] == 1) > len(tracks) * 0.2
    artists = {t["artist"] for t in tracks}
    for a in ("Beyoncé", "Sigur Rós", "Motörhead", "宇多田ヒカル", "Мумий Тролль", "AC/DC",
              "Guns N' Roses"):
        assert any(normalise(x) == normalise(a) for x in artists), a
    titles = [t["title"] for t in tracks]
    assert any("(feat. " in t for t in titles) and any(" feat. " in t and "(" not in t for t in titles)
    assert any(t["album"] == "" for t in tracks)


def test_post_form_and_case_insensitive_method(srv):
    data = urllib.parse.urlencode({"method": "USER.GETRECENTTRACKS", "user": "demo",
                                   "api_key": "k", "format": "json", "limit": "3"}).encode()
    status, _, raw = srv.raw(path="/2.0/", method="POST", data=data,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200
    assert json.loads(raw)["recenttracks"]["@attr"]["perPage"] == "3"


# --------------------------------------------------------------------------------------------
# (6) determinism, (7) same-second scrobbles

def test_determinism_across_processes(srv):
    other = Srv("--rate-limit", "0", "--seed", "1")
    try:
        for user, page in (("gen_3000_5", 3), ("demo", 7), ("heavy", 731)):
            p = {"method": "user.getrecenttracks", "user": user, "api_key": "k",
                 "format": "json", "limit": 200, "page": page, "extended": 1}
            a = srv.raw(p)[2]
            b = other.raw(p)[2]
            assert a == b, user
        assert srv.admin("/_admin/truth?user=gen_3000_5") == other.admin("/_admin/truth?user=gen_3000_5")
    finally:
        other.close()
    third = Srv("--rate-limit", "0", "--seed", "2")
    try:
        p = {"method": "user.getrecenttracks", "user": "demo", "api_key": "k", "format": "json"}
        assert srv.raw(p)[2] != third.raw(p)[2]  # --seed changes the built-in users
    finally:
        third.close()


def test_same_second_scrobbles(srv):
    _, items = all_pages(srv, "demo")
    by_second = collections.defaultdict(list)
    for t in items:
        by_second[t["date"]["uts"]].append((normalise(t["artist"]["#text"]), normalise(t["name"])))
    sharing = sum(len(v) for v in by_second.values() if len(v) > 1)
    assert sharing >= 0.01 * len(items)
    for v in by_second.values():
        assert len(v) == len(set(v))  # different tracks in the same second
    # history spans ~ N * 36 min, ends just before 1790000000
    newest = int(items[0]["date"]["uts"])
    assert 1790000000 - 3600 < newest < 1790000000


# --------------------------------------------------------------------------------------------
# (8) rate limiter

def test_rate_limiter():
    s = Srv("--rate-limit", "5")
    try:
        p = {"method": "user.getrecenttracks", "user": "one", "api_key": "k", "format": "json"}
        t0 = time.monotonic()
        with cf.ThreadPoolExecutor(10) as ex:
            res = list(ex.map(lambda _: s.raw(p), range(30)))
        elapsed = time.monotonic() - t0
        limited = [r for r in res if r[0] == 429]
        allowed = 30 - len(limited)
        assert len(limited) > 0 and all(r[0] in (200, 429) for r in res)
        assert allowed <= 5 + 5 * elapsed + 1  # capacity 5, refill 5/s
        for st, _, body in limited:
            assert json.loads(body) == {
                "error": 29, "links": [],
                "message": "Rate Limit Exceeded - Your IP has made too many requests in a short period"}
        _, stats = s.admin("/_admin/stats")
        assert stats["error29"] == len(limited)
        assert stats["max_requests_in_any_1s"] >= 30
        s.admin("/_admin/stats/reset", {})
        time.sleep(1.2)  # bucket refills
        t0 = time.monotonic()
        for i in range(20):  # spaced exactly at the rate (5/s)
            while time.monotonic() < t0 + i * 0.2:
                time.sleep(0.005)
            st, _, body = s.raw(p)
            assert st == 200, body
        _, stats = s.admin("/_admin/stats")
        assert stats["error29"] == 0 and stats["requests"] == 20
        # runtime change: disable
        _, cfg = s.admin("/_admin/config", {"rate_limit": 0})
        assert cfg["rate_limit"] == 0
        assert all(s.raw(p)[0] == 200 for _ in range(30))
    finally:
        s.close()


# --------------------------------------------------------------------------------------------
# (9) faults

@pytest.fixture()
def faulty(srv):
    yield srv
    srv.admin("/_admin/config", {"faults": {k: 0 for k in ("error8", "error11", "error16",
                                                          "http5xx", "stall", "truncated")},
                                 "latency_ms": 0, "stall_seconds": 25, "fault_seed": 1})


def _p(user="demo"):
    return {"method": "user.getrecenttracks", "user": user, "api_key": "k", "format": "json",
            "limit": 200}


def test_fault_error_codes(faulty):
    s = faulty
    _, before = s.admin("/_admin/stats")
    for fault, status, code, msg in (
            ("error8", 200, 8, "Operation failed - Most likely the backend service failed. Please try again."),
            ("error11", 503, 11, "Service Offline - This service is temporarily offline. Try again later."),
            ("error16", 503, 16, "There was a temporary error processing your request. Please try again")):
        s.admin("/_admin/config", {"faults": {fault: 1.0}})
        st, _, raw = s.raw(_p())
        assert st == status
        assert json.loads(raw) == {"error": code, "message": msg, "links": []}
        st, _, raw = s.raw({"method": "user.getinfo", "user": "demo", "api_key": "k"})
        assert json.loads(raw)["error"] == code
        s.admin("/_admin/config", {"faults": {fault: 0.0}})
    _, after = s.admin("/_admin/stats")
    for f in ("error8", "error11", "error16"):
        assert after["errors_injected"][f] - before["errors_injected"][f] == 2


def test_fault_http5xx_and_truncated(faulty):
    s = faulty
    s.admin("/_admin/config", {"faults": {"http5xx": 1.0}})
    st, headers, raw = s.raw(_p())
    assert st == 502 and headers["Content-Type"].startswith("text/html") and b"<html>" in raw
    s.admin("/_admin/config", {"faults": {"http5xx": 0.0, "truncated": 1.0}})
    st, _, raw = s.raw(_p())
    assert st == 200
    full = s.raw(_p())[2]
    s.admin("/_admin/config", {"faults": {"truncated": 0.0}})
    full = s.raw(_p())[2]
    assert 0.4 * len(full) < len(raw) < 0.6 * len(full) and full.startswith(raw)
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)


def test_fault_stall(faulty):
    s = faulty
    s.admin("/_admin/config", {"faults": {"stall": 1.0}, "stall_seconds": 1.5})
    t0 = time.monotonic()
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        s.raw(_p(), timeout=0.5)
    # a patient client gets a normal answer after the stall
    t0 = time.monotonic()
    st, _, raw = s.raw(_p(), timeout=10)
    assert st == 200 and time.monotonic() - t0 >= 1.4 and "recenttracks" in json.loads(raw)


def test_fault_probabilities_are_seeded(faulty):
    s = faulty

    def run():
        s.admin("/_admin/config", {"faults": {"error8": 0.3, "error16": 0.1}, "fault_seed": 42})
        return [json.loads(s.raw(_p("one"))[2]).get("error", 0) for _ in range(40)]

    a, b = run(), run()
    assert a == b
    assert 3 <= a.count(8) <= 25 and 0 in a
    _, cfg = s.admin("/_admin/config")
    assert cfg["faults"]["error8"] == 0.3 and cfg["fault_seed"] == 42


def test_latency(faulty):
    s = faulty
    s.admin("/_admin/config", {"latency_ms": 300})
    t0 = time.monotonic()
    with cf.ThreadPoolExecutor(5) as ex:
        res = list(ex.map(lambda _: s.raw(_p("one"))[0], range(5)))
    dt = time.monotonic() - t0
    assert res == [200] * 5
    assert 0.3 <= dt < 1.2  # concurrent sleeps do not serialise


# --------------------------------------------------------------------------------------------
# (10) error codes

def test_error_codes(srv):
    cases = [
        (dict(method="user.getrecenttracks", user="demo", api_key=""), 403, 10),
        (dict(method="user.getrecenttracks", user="demo", api_key="invalid"), 403, 10),
        (dict(method="user.getrecenttracks", user="demo", api_key="suspended"), 403, 26),
        (dict(method="user.getrecenttracks", user="private", api_key="k"), 403, 17),
        (dict(method="user.getrecenttracks", user="nobody_x", api_key="k"), 404, 6),
        (dict(method="user.getrecenttracks", api_key="k"), 400, 6),
        (dict(method="user.getrecenttracks", user="demo", api_key="k", page="x"), 400, 6),
        (dict(method="user.getrecenttracks", user="demo", api_key="k", page="-1"), 400, 6),
        (dict(method="user.getrecenttracks", user="demo", api_key="k", limit="0"), 400, 6),
        (dict(method="user.getrecenttracks", user="demo", api_key="k", limit="abc"), 400, 6),
        (dict(method="user.nosuchthing", user="demo", api_key="k"), 400, 3),
        (dict(user="demo", api_key="k"), 400, 3),
    ]
    for params, status, code in cases:
        params["format"] = "json"
        st, _, raw = srv.raw({k: v for k, v in params.items()})
        body = json.loads(raw)
        assert (st, body["error"]) == (status, code), params
        assert isinstance(body["message"], str) and body["links"] == []
    st, body = srv.api(method="user.getrecenttracks", user="private")
    assert body["message"] == "Login: User required to be logged in"
    # usernames are case-insensitive; @attr carries the stored spelling
    assert srv.recent("DEMO", limit=1)["recenttracks"]["@attr"]["user"] == "demo"


# --------------------------------------------------------------------------------------------
# (11) heavy user

def test_heavy_user(srv):
    t0 = time.perf_counter()
    body = srv.recent("heavy", limit=200, page=1)
    first = time.perf_counter() - t0
    _, users = srv.admin("/_admin/users")
    gen = [u for u in users["users"] if u["name"] == "heavy"][0]
    print("\nheavy user: first request %.2fs, generation %.2fs" % (first, gen["generation_seconds"]))
    assert body["recenttracks"]["@attr"]["total"] == "219625"
    assert body["recenttracks"]["@attr"]["totalPages"] == "1099"
    assert gen["generation_seconds"] < 6
    last = srv.recent("heavy", limit=200, page=1099)
    assert len(last["recenttracks"]["track"]) == 219625 - 1098 * 200
    oldest = int(tracks_of(last)[-1]["date"]["uts"])
    assert 2010 <= time.gmtime(oldest).tm_year <= 2012  # ~15 years of history
    # throughput: 100 pages of 200 items, 10 concurrent clients
    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(10) as ex:
        res = list(ex.map(lambda pg: srv.raw({**_p("heavy"), "page": pg})[0], range(1, 101)))
    dt = time.perf_counter() - t0
    print("heavy user: 100 pages of 200 in %.2fs (%.0f req/s)" % (dt, 100 / dt))
    assert res == [200] * 100 and dt < 20


# --------------------------------------------------------------------------------------------
# (12) admin edits

def test_admin_scrobble_add_delete(srv):
    st, u = srv.admin("/_admin/users", {"name": "editor", "scrobbles": 300, "seed": 3,
                                        "extra_playcount": 7})
    assert st == 200 and u["total_scrobbles"] == 300
    _, truth0 = srv.admin("/_admin/truth?user=editor")
    top = truth0["tracks"][0]
    _, items0 = all_pages(srv, "editor")
    mid_uts = int(items0[150]["date"]["uts"])
    late = mid_uts  # a late scrobble sharing a second with an existing one
    new = {"artist": "Brand New Artist", "title": "Brand New Song", "album": "", "uts": 1789999990}
    st, res = srv.admin("/_admin/scrobbles", {"user": "editor", "force": True, "scrobbles": [
        {"artist": top["artist"], "title": top["title"], "album": top["album"], "uts": late}, new]})
    assert st == 200 and res == {"user": "editor", "added": 2, "ignored": 0, "total_scrobbles": 302}
    _, truth1 = srv.admin("/_admin/truth?user=editor")
    assert truth1["total_scrobbles"] == 302
    t1 = {(t["artist"], t["title"]): t for t in truth1["tracks"]}
    assert t1[(top["artist"], top["title"])]["playcount"] == top["playcount"] + 1
    assert t1[("Brand New Artist", "Brand New Song")]["playcount"] == 1
    first, items1 = all_pages(srv, "editor")
    assert first["recenttracks"]["@attr"]["total"] == "302"
    uts1 = [int(t["date"]["uts"]) for t in items1]
    assert uts1 == sorted(uts1, reverse=True)
    assert items1[0]["name"] == "Brand New Song"
    # stable for ties: the late scrobble goes after existing scrobbles of that second
    same = [t for t in items1 if int(t["date"]["uts"]) == late]
    assert same[-1]["name"] == top["title"]
    st, info = srv.api(method="user.getinfo", user="editor")
    assert info["user"]["playcount"] == str(302 + 7)
    # delete
    st, res = srv.admin("/_admin/scrobbles", {"user": "editor", "uts": late, "artist": top["artist"],
                                              "title": top["title"]}, method="DELETE")
    assert st == 200 and res["total_scrobbles"] == 301
    st, _ = srv.admin("/_admin/scrobbles", {"user": "editor", "uts": 5, "artist": "x", "title": "y"},
                      method="DELETE")
    assert st == 404
    _, truth2 = srv.admin("/_admin/truth?user=editor")
    t2 = {(t["artist"], t["title"]): t for t in truth2["tracks"]}
    assert t2[(top["artist"], top["title"])]["playcount"] == top["playcount"]
    assert srv.recent("editor")["recenttracks"]["@attr"]["total"] == "301"
    # recreating the user discards edits
    srv.admin("/_admin/users", {"name": "editor", "scrobbles": 300, "seed": 3})
    assert srv.admin("/_admin/truth?user=editor")[1]["tracks"] == truth0["tracks"]


def test_admin_love_and_unlove(srv):
    srv.admin("/_admin/users", {"name": "lover", "scrobbles": 400, "seed": 4})
    _, loved0 = srv.admin("/_admin/truth/loved?user=lover")
    _, truth = srv.admin("/_admin/truth?user=lover")
    unloved = next(t for t in truth["tracks"]
                   if (t["artist"], t["title"]) not in {(x["artist"], x["title"]) for x in loved0["tracks"]})
    st, res = srv.admin("/_admin/loved", {"user": "lover", "artist": unloved["artist"],
                                          "title": unloved["title"], "uts": 1790000000})
    assert st == 200 and res == {"user": "lover", "loved": True, "total_loved": loved0["total"] + 1}
    _, loved1 = srv.admin("/_admin/truth/loved?user=lover")
    assert (loved1["tracks"][0]["artist"], loved1["tracks"][0]["title"]) == (unloved["artist"], unloved["title"])
    st, page = srv.api(method="user.getlovedtracks", user="lover")
    assert page["lovedtracks"]["track"][0]["name"] == unloved["title"]
    gone = loved0["tracks"][-1]
    st, res = srv.admin("/_admin/loved", {"user": "lover", "artist": gone["artist"], "title": gone["title"]},
                        method="DELETE")
    assert st == 200 and res["total_loved"] == loved0["total"]
    _, loved2 = srv.admin("/_admin/truth/loved?user=lover")
    assert (gone["artist"], gone["title"]) not in {(x["artist"], x["title"]) for x in loved2["tracks"]}
    st, _ = srv.admin("/_admin/loved", {"user": "lover", "artist": "No One", "title": "Nothing"},
                      method="DELETE")
    assert st == 404
    st, _ = srv.admin("/_admin/loved", {"user": "lover", "artist": "", "title": "x"})
    assert st == 400


def test_admin_misc(srv):
    assert srv.admin("/_admin/health") == (200, {"ok": True})
    st, cfg = srv.admin("/_admin/config")
    assert st == 200 and set(cfg) == {"latency_ms", "rate_limit", "faults", "stall_seconds",
                                      "fault_seed", "failing_pages", "error29_next"}
    st, err = srv.admin("/_admin/config", {"faults": {"nope": 1}})
    assert st == 400
    st, stats = srv.admin("/_admin/stats")
    for k in ("requests", "by_method", "error29", "errors_injected", "max_requests_in_any_1s", "since"):
        assert k in stats
    assert stats["by_method"].get("user.getrecenttracks", 0) > 0
    st, stats = srv.admin("/_admin/stats/reset", {})
    assert stats["requests"] == 0
    st, u = srv.admin("/_admin/users", {"name": "priv2", "scrobbles": 10, "seed": 1, "private": True})
    assert srv.api(method="user.getrecenttracks", user="priv2")[1]["error"] == 17


def test_keep_alive_connection(srv):
    import http.client
    host, port = srv.base.split("//")[1].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        for i in range(3):
            c.request("POST", "/_admin/nope", body=b'{"x": 1}', headers={"Content-Type": "application/json"})
            r = c.getresponse()
            assert r.status == 404
            r.read()
            c.request("GET", "/2.0/?method=user.getrecenttracks&user=one&api_key=k&format=json")
            r = c.getresponse()
            assert r.status == 200 and json.loads(r.read())["recenttracks"]["@attr"]["total"] == "1"
    finally:
        c.close()


def test_failing_pages_and_deleted_users(srv):
    srv.admin("/_admin/users", {"name": "flaky", "scrobbles": 450, "seed": 3})
    srv.admin("/_admin/config", {"failing_pages": {"flaky": [2]}})
    assert srv.api(method="user.getrecenttracks", user="flaky", limit="200", page="2")[1]["error"] == 8
    assert "recenttracks" in srv.api(method="user.getrecenttracks", user="flaky", limit="200", page="3")[1]
    srv.admin("/_admin/config", {"failing_pages": {"flaky": []}})
    assert "recenttracks" in srv.api(method="user.getrecenttracks", user="flaky", limit="200", page="2")[1]
    st, _ = srv.admin("/_admin/users", {"name": "flaky"}, method="DELETE")
    assert st == 200
    assert srv.api(method="user.getrecenttracks", user="flaky")[1]["error"] == 6


# --------------------------------------------------------------------------------------------
# (13) user.getTopArtists

def top(s, user, **params):
    status, body = s.api(method="user.gettopartists", user=user, **params)
    assert status == 200, body
    return body


def artists_of(body):
    a = body["topartists"].get("artist", [])
    return [a] if isinstance(a, dict) else a


def all_top_pages(s, user, limit=200, **params):
    first = top(s, user, limit=limit, page=1, **params)
    pages = int(first["topartists"]["@attr"]["totalPages"])
    items = artists_of(first)
    for p in range(2, pages + 1):
        body = top(s, user, limit=limit, page=p, **params)
        assert body["topartists"]["@attr"]["page"] == str(p)
        items += artists_of(body)
    return first, items


def test_top_artists_shapes(srv):
    cap = capture("inflatablefriends-UserGetTopArtistsMultiple.json")
    ours = top(srv, "demo", limit=2, page=3)
    assert isinstance(ours["topartists"]["artist"], list) and len(ours["topartists"]["artist"]) == 2
    assert shape(ours) == shape(cap)
    a = ours["topartists"]["artist"][0]
    assert [i["size"] for i in a["image"]] == ["small", "medium", "large", "extralarge", "mega"]
    assert a["streamable"] == "0" and a["@attr"] == {"rank": "5"}
    assert a["url"].startswith("https://www.last.fm/music/")
    assert ours["topartists"]["@attr"] == {"user": "demo", "type": "overall", "page": "3",
                                           "perPage": "2", "totalPages": "101", "total": "202"}
    cap1 = capture("inflatablefriends-UserGetTopArtistsSingle.json")
    for user, params in (("artists_1", {}), ("one", {}), ("demo", {"limit": 1, "page": 9})):
        ours = top(srv, user, **params)
        assert isinstance(ours["topartists"]["artist"], dict), user
        assert shape(ours) == shape(cap1), user
    # empty: the modern shape; legacy_empty users get the old inline shape of the capture
    assert top(srv, "artists_0") == {"topartists": {"artist": [], "@attr": {
        "user": "artists_0", "type": "overall", "page": "1", "perPage": "50", "totalPages": "0",
        "total": "0"}}}
    assert top(srv, "empty")["topartists"]["artist"] == []
    st, _ = srv.admin("/_admin/users", {"name": "legacy_ta", "scrobbles": 0, "seed": 1,
                                        "legacy_empty": True})
    assert st == 200
    cap0 = capture("inflatablefriends-UserGetTopArtistsEmpty.json")
    legacy = top(srv, "legacy_ta")
    assert shape(legacy) == shape(cap0) and legacy["topartists"]["total"] == "0"
    # a page past the end: [] with the requested page
    past = top(srv, "demo", limit=200, page=3)
    assert past["topartists"]["artist"] == [] and past["topartists"]["@attr"]["page"] == "3"


@pytest.mark.parametrize("n,pages", [(0, 0), (1, 1), (199, 1), (200, 1), (201, 2), (3500, 18)])
def test_top_artists_edge_users_paging(srv, n, pages):
    user = "artists_%d" % n
    first, items = all_top_pages(srv, user, limit=200)
    attr = first["topartists"]["@attr"]
    assert attr == {"user": user, "type": "overall", "page": "1", "perPage": "200",
                    "totalPages": str(pages), "total": str(n)}
    assert len(items) == n
    assert [int(a["@attr"]["rank"]) for a in items] == list(range(1, n + 1))
    pcs = [int(a["playcount"]) for a in items]
    assert pcs == sorted(pcs, reverse=True) and all(p >= 1 for p in pcs)
    assert len({normalise(a["name"]) for a in items}) == n
    _, truth = srv.admin("/_admin/truth/artists?user=" + user)
    assert truth["total"] == n
    assert [(a["name"], a["playcount"], a["rank"]) for a in truth["artists"]] == \
        [(a["name"], int(a["playcount"]), int(a["@attr"]["rank"])) for a in items]
    # playcounts are the scrobbles grouped by artist (plus the artist's share of extra plays)
    _, tt = srv.admin("/_admin/truth?user=" + user)
    by_artist = collections.Counter()
    for t in tt["tracks"]:
        by_artist[normalise(t["artist"])] += t["playcount"]
    assert {normalise(a["name"]): a["scrobbles"] for a in truth["artists"]} == dict(by_artist)
    assert sum(a["extra"] for a in truth["artists"]) == (tt["extra_playcount"] if n else 0)
    assert all(a["playcount"] == a["scrobbles"] + a["extra"] for a in truth["artists"])
    # modest, skewed histories
    assert tt["total_scrobbles"] == (3 * n + 5 if n else 0)
    if n >= 199:
        assert pcs[0] >= 5 * pcs[-1]
    # getInfo agrees
    _, info = srv.api(method="user.getinfo", user=user)
    assert info["user"]["artist_count"] == str(n)


def test_top_artists_canonical_names_and_extras(srv):
    # heavy: more than 1,000 artists, extra (untimestamped) plays spread over the artists
    first, items = all_top_pages(srv, "heavy", limit=1000)
    attr = first["topartists"]["@attr"]
    total = int(attr["total"])
    assert total > 1000 and attr["perPage"] == "1000" and len(items) == total
    assert attr["totalPages"] == str(-(-total // 1000))
    _, truth = srv.admin("/_admin/truth/artists?user=heavy")
    assert [a["name"] for a in truth["artists"]] == [a["name"] for a in items]
    _, tt = srv.admin("/_admin/truth?user=heavy")
    assert truth["extra_playcount"] == tt["extra_playcount"] == 1375
    assert sum(int(a["playcount"]) for a in items) == tt["total_scrobbles"] + 1375
    assert sum(a["scrobbles"] for a in truth["artists"]) == tt["total_scrobbles"]
    assert int(items[0]["playcount"]) > truth["artists"][0]["scrobbles"]
    # proportional shares (largest remainder)
    for a in truth["artists"]:
        share = 1375 * a["scrobbles"] / tt["total_scrobbles"]
        assert int(share) <= a["extra"] <= int(share) + 1
    # display names are the canonical spellings, never a variant spelling
    names = {a["name"] for a in items}
    assert "Beyoncé" in names and "BEYONCÉ" not in names and "Beyonce" not in names
    _, recent = all_pages(srv, "demo")
    spellings = collections.defaultdict(collections.Counter)
    for t in recent:
        spellings[normalise(t["artist"]["#text"])][t["artist"]["#text"]] += 1
    _, demo_items = all_top_pages(srv, "demo", limit=1000)
    assert any(len(v) > 1 for v in spellings.values())  # variants exist in the scrobbles
    for a in demo_items:
        assert a["name"] == spellings[normalise(a["name"])].most_common(1)[0][0]
    # limits: default 50, clamp at 1000
    assert top(srv, "heavy")["topartists"]["@attr"]["perPage"] == "50"
    assert len(artists_of(top(srv, "heavy"))) == 50
    big = top(srv, "heavy", limit=5000, page=0)
    assert big["topartists"]["@attr"]["perPage"] == "1000" and len(artists_of(big)) == 1000
    assert big["topartists"]["@attr"]["page"] == "1"
    # an explicit extra_playcount on a created user
    srv.admin("/_admin/users", {"name": "extras", "scrobbles": 1000, "seed": 4, "extra_playcount": 333})
    _, tx = srv.admin("/_admin/truth/artists?user=extras")
    assert sum(a["extra"] for a in tx["artists"]) == 333
    assert sum(a["playcount"] for a in tx["artists"]) == 1333


def test_top_artists_periods(srv):
    _, overall = srv.admin("/_admin/truth/artists?user=heavy")
    totals = []
    for period in ("7day", "1month", "3month", "6month", "12month"):
        body = top(srv, "heavy", period=period, limit=1000)
        attr = body["topartists"]["@attr"]
        assert attr["type"] == period
        _, tr = srv.admin("/_admin/truth/artists?user=heavy&period=" + period)
        assert int(attr["total"]) == tr["total"] and tr["extra_playcount"] == 0
        assert [(a["name"], int(a["playcount"])) for a in artists_of(body)] == \
            [(a["name"], a["playcount"]) for a in tr["artists"][:1000]]
        totals.append(tr["total"])
    assert 0 < totals[0] < totals[1] < totals[2] < totals[3] < totals[4] < overall["total"]
    # the 7-day window ends at the newest scrobble
    _, recent = srv.api(method="user.getrecenttracks", user="heavy", limit=200)
    newest = int(tracks_of(recent)[1]["date"]["uts"])
    _, win = srv.admin("/_admin/truth?user=heavy&from=%d&to=%d" % (newest - 7 * 86400, newest + 1))
    _, week = srv.admin("/_admin/truth/artists?user=heavy&period=7day")
    assert sum(a["playcount"] for a in week["artists"]) == win["total_scrobbles"]
    assert top(srv, "demo", period="OVERALL")["topartists"]["@attr"]["total"] == "202"
    st, body = srv.api(method="user.gettopartists", user="demo", period="2week")
    assert st == 400 and body["error"] == 6 and body["message"].startswith("Invalid parameters")


# --------------------------------------------------------------------------------------------
# (14) user.getLovedTracks

def loved(s, user, **params):
    status, body = s.api(method="user.getlovedtracks", user=user, **params)
    assert status == 200, body
    return body


def loved_of(body):
    t = body["lovedtracks"].get("track", [])
    return [t] if isinstance(t, dict) else t


def all_loved_pages(s, user, limit=50):
    first = loved(s, user, limit=limit, page=1)
    items = loved_of(first)
    for p in range(2, int(first["lovedtracks"]["@attr"]["totalPages"]) + 1):
        items += loved_of(loved(s, user, limit=limit, page=p))
    return first, items


def test_loved_tracks_shapes(srv):
    cap = capture("inflatablefriends-UserGetLovedTracksMultiple.json")
    ours = loved(srv, "demo", limit=20, page=2)
    assert isinstance(ours["lovedtracks"]["track"], list) and len(ours["lovedtracks"]["track"]) == 20
    assert shape(ours) == shape(cap)
    t = ours["lovedtracks"]["track"][0]
    assert set(t["artist"]) == {"#text", "mbid"} and t["streamable"] == "0"
    assert len(t["image"]) == 4 and t["date"]["uts"].isdigit()
    assert ours["lovedtracks"]["@attr"] == {"user": "demo", "page": "2", "perPage": "20",
                                            "totalPages": "4", "total": "67"}
    cap1 = capture("inflatablefriends-UserGetLovedTracksSingle.json")
    one = loved(srv, "demo", limit=1, page=5)
    assert isinstance(one["lovedtracks"]["track"], dict)
    assert shape(one) == shape(cap1)
    assert loved(srv, "empty") == {"lovedtracks": {"track": [], "@attr": {
        "user": "empty", "page": "1", "perPage": "50", "totalPages": "0", "total": "0"}}}
    srv.admin("/_admin/users", {"name": "legacy_lv", "scrobbles": 0, "seed": 1, "legacy_empty": True})
    legacy = loved(srv, "legacy_lv")
    assert "track" not in legacy["lovedtracks"] and legacy["lovedtracks"]["total"] == "0"
    # limits: default 50, clamp at 1000
    assert loved(srv, "demo")["lovedtracks"]["@attr"]["perPage"] == "50"
    big = loved(srv, "heavy", limit=5000)
    assert big["lovedtracks"]["@attr"]["perPage"] == "1000" and len(loved_of(big)) == 1000


@pytest.mark.parametrize("user", ["demo", "gen_2000_7", "artists_200"])
def test_loved_tracks_content(srv, user):
    first, items = all_loved_pages(srv, user, limit=20)
    _, truth = srv.admin("/_admin/truth/loved?user=" + user)
    assert int(first["lovedtracks"]["@attr"]["total"]) == truth["total"] == len(items)
    assert [(t["artist"]["#text"], t["name"], int(t["date"]["uts"])) for t in items] == \
        [(t["artist"], t["title"], t["loved_uts"]) for t in truth["tracks"]]
    uts = [int(t["date"]["uts"]) for t in items]
    assert uts == sorted(uts, reverse=True)  # newest loved first
    # never-scrobbled loved tracks are in the list (about 1 per 500 scrobbles, at least 1)
    _, recent = all_pages(srv, user, extended=1)
    n = len(recent)
    unscrobbled = [t for t in truth["tracks"] if not t["scrobbled"]]
    assert len(unscrobbled) == max(1, n // 500)
    played = {(normalise(t["artist"]["name"]), normalise(t["name"])) for t in recent}
    for t in truth["tracks"]:
        assert ((normalise(t["artist"]), normalise(t["title"])) in played) == t["scrobbled"]
    # the extended `loved` flag agrees with the list
    loved_keys = {(normalise(t["artist"]), normalise(t["title"])) for t in truth["tracks"]}
    flagged = {(normalise(t["artist"]["name"]), normalise(t["name"])) for t in recent
               if t["loved"] == "1"}
    assert flagged == {k for k in loved_keys if k in played}
    for t in recent:
        assert (t["loved"] == "1") == ((normalise(t["artist"]["name"]), normalise(t["name"])) in loved_keys)
    # about 5% of the scrobbled tracks are loved
    distinct = len(played)
    assert 0.02 * distinct < len(flagged) < 0.1 * distinct


def test_loved_small_users(srv):
    srv.admin("/_admin/users", {"name": "lv100", "scrobbles": 100, "seed": 9})
    _, truth = srv.admin("/_admin/truth/loved?user=lv100")
    assert sum(1 for t in truth["tracks"] if not t["scrobbled"]) == 1
    srv.admin("/_admin/users", {"name": "lv99", "scrobbles": 99, "seed": 9})
    _, truth = srv.admin("/_admin/truth/loved?user=lv99")
    assert all(t["scrobbled"] for t in truth["tracks"])
    _, truth = srv.admin("/_admin/truth/loved?user=empty")
    assert truth == {"user": "empty", "total": 0, "tracks": []}
    # scrobbling a never-scrobbled loved track (exact spelling) makes it scrobbled and flagged
    _, truth = srv.admin("/_admin/truth/loved?user=lv100")
    t = [x for x in truth["tracks"] if not x["scrobbled"]][0]
    srv.admin("/_admin/scrobbles", {"user": "lv100", "force": True, "scrobbles": [
        {"artist": t["artist"], "title": t["title"], "album": t["album"], "uts": 1789999999}]})
    _, truth2 = srv.admin("/_admin/truth/loved?user=lv100")
    assert all(x["scrobbled"] for x in truth2["tracks"])
    item = tracks_of(srv.recent("lv100", extended=1, limit=2))[1]
    assert (item["name"], item["loved"]) == (t["title"], "1")


# --------------------------------------------------------------------------------------------
# (15) errors, admin, faults and determinism for the new methods

def test_new_methods_errors(srv):
    for method in ("user.getTopArtists", "user.getLovedTracks"):
        for params, status, code in (
                (dict(user="nobody_x"), 404, 6), (dict(user="private"), 403, 17), ({}, 400, 6),
                (dict(user="demo", limit="0"), 400, 6), (dict(user="demo", limit="x"), 400, 6),
                (dict(user="demo", page="-2"), 400, 6), (dict(user="demo", api_key="suspended"), 403, 26)):
            p = {"method": method, "api_key": "k", "format": "json", **params}
            st, _, raw = srv.raw(p)
            body = json.loads(raw)
            assert (st, body["error"]) == (status, code), (method, params)
            assert isinstance(body["message"], str) and body["links"] == []
        st, body = srv.api(method=method, user="private")
        assert body["message"] == "Login: User required to be logged in"
    st, _ = srv.admin("/_admin/truth/artists?user=nobody_x")
    assert st == 404
    st, _ = srv.admin("/_admin/truth/loved?user=nobody_x")
    assert st == 404
    st, _ = srv.admin("/_admin/truth/artists?user=demo&period=never")
    assert st == 400


def test_admin_forced_artists(srv):
    st, u = srv.admin("/_admin/users", {"name": "forced", "artists": 750, "seed": 2})
    assert st == 200 and u["artists"] == 750 and u["total_scrobbles"] == 3 * 750 + 5
    assert top(srv, "forced", limit=1)["topartists"]["@attr"]["total"] == "750"
    st, u = srv.admin("/_admin/users", {"name": "forced", "scrobbles": 20000, "artists": 40, "seed": 2})
    assert st == 200 and u["total_scrobbles"] == 20000
    _, tr = srv.admin("/_admin/truth/artists?user=forced")
    assert tr["total"] == 40 and sum(a["scrobbles"] for a in tr["artists"]) == 20000
    for bad in ({"scrobbles": 10, "artists": 11}, {"scrobbles": 10, "artists": 0},
                {"scrobbles": 10, "artists": -1}):
        st, _ = srv.admin("/_admin/users", {"name": "forced_bad", **bad})
        assert st == 400, bad
    st, u = srv.admin("/_admin/users", {"name": "forced0", "artists": 0})
    assert st == 200 and u["total_scrobbles"] == 0
    _, users = srv.admin("/_admin/users")
    built_in = {x["name"]: x for x in users["users"]}
    for n in (0, 1, 199, 200, 201, 999, 1000, 1001, 3500):
        assert built_in["artists_%d" % n]["artists"] == n
    srv.admin("/_admin/users", {"name": "forced"}, method="DELETE")


def test_new_methods_stats_and_faults(faulty):
    s = faulty
    s.admin("/_admin/stats/reset", {})
    top(s, "demo")
    loved(s, "demo")
    _, stats = s.admin("/_admin/stats")
    assert stats["by_method"] == {"user.gettopartists": 1, "user.getlovedtracks": 1}
    for method in ("user.gettopartists", "user.getlovedtracks"):
        s.admin("/_admin/config", {"faults": {"error8": 1.0}})
        st, body = s.api(method=method, user="demo")
        assert st == 200 and body["error"] == 8
        s.admin("/_admin/config", {"faults": {"error8": 0.0, "http5xx": 1.0}})
        assert s.raw({"method": method, "user": "demo", "api_key": "k"})[0] == 502
        s.admin("/_admin/config", {"faults": {"http5xx": 0.0}})
    _, stats = s.admin("/_admin/stats")
    assert stats["errors_injected"]["error8"] == 2 and stats["errors_injected"]["http5xx"] == 2
    # failing_pages is for recent tracks only
    s.admin("/_admin/config", {"failing_pages": {"demo": [1]}})
    try:
        assert "topartists" in top(s, "demo") and "lovedtracks" in loved(s, "demo")
    finally:
        s.admin("/_admin/config", {"failing_pages": {"demo": []}})


def test_new_methods_rate_limited():
    s = Srv("--rate-limit", "3")
    try:
        for method in ("user.gettopartists", "user.getlovedtracks"):
            time.sleep(1.1)  # refill
            p = {"method": method, "user": "one", "api_key": "k", "format": "json"}
            with cf.ThreadPoolExecutor(8) as ex:
                res = list(ex.map(lambda _: s.raw(p), range(16)))
            limited = [r for r in res if r[0] == 429]
            assert limited and all(json.loads(r[2])["error"] == 29 for r in limited)
    finally:
        s.close()


def test_new_methods_determinism_across_processes(srv):
    other = Srv("--rate-limit", "0", "--seed", "1")
    try:
        for params in ({"method": "user.gettopartists", "user": "artists_3500", "limit": 200, "page": 7},
                       {"method": "user.gettopartists", "user": "heavy", "limit": 1000, "page": 2},
                       {"method": "user.gettopartists", "user": "demo", "period": "1month"},
                       {"method": "user.getlovedtracks", "user": "heavy", "limit": 1000, "page": 3},
                       {"method": "user.getlovedtracks", "user": "demo"}):
            p = {"api_key": "k", "format": "json", **params}
            assert srv.raw(p)[2] == other.raw(p)[2], params
        for path in ("/_admin/truth/artists?user=artists_201", "/_admin/truth/loved?user=heavy",
                     "/_admin/truth/artists?user=heavy"):
            assert srv.admin(path) == other.admin(path), path
    finally:
        other.close()


# --------------------------------------------------------------------------------------------
# (16) live history: the 14-day scrobble window, raw scrobbles, batch deletes, scheduled edits,
# error29_next

DAY14 = 14 * 86400


def raw_scrobbles(s, user, **q):
    st, body = s.admin("/_admin/scrobbles?" + urllib.parse.urlencode({"user": user, **q}))
    assert st == 200, body
    return body


def api_rows(items):
    return [{"artist": t["artist"]["#text"], "title": t["name"], "album": t["album"]["#text"],
             "uts": int(t["date"]["uts"])} for t in items]


def test_live_scrobbles_14_day_window(srv):
    srv.admin("/_admin/users", {"name": "live", "scrobbles": 50, "seed": 2})
    now = int(time.time())
    sc = [{"artist": "Live Artist", "title": "Now", "uts": now - 100},
          {"artist": "Live Artist", "title": "Thirteen Days", "album": "L", "uts": now - DAY14 + 120},
          {"artist": "Live Artist", "title": "Soon", "uts": now + 200},
          {"artist": "Live Artist", "title": "Fifteen Days", "uts": now - DAY14 - 120},
          {"artist": "Live Artist", "title": "Far Future", "uts": now + 600},
          {"artist": "Live Artist", "title": "Sep 2026", "uts": 1789999990}]
    st, res = srv.admin("/_admin/scrobbles", {"user": "live", "scrobbles": sc})
    assert st == 200 and res == {"user": "live", "added": 3, "ignored": 3, "total_scrobbles": 53}
    titles = [x["title"] for x in raw_scrobbles(srv, "live", limit=3)["scrobbles"]]
    assert titles == ["Soon", "Now", "Thirteen Days"]
    assert {x["title"] for x in raw_scrobbles(srv, "live")["scrobbles"]}.isdisjoint(
        {"Fifteen Days", "Far Future", "Sep 2026"})
    # force: any uts is accepted (test setup, never Last.fm's behaviour)
    st, res = srv.admin("/_admin/scrobbles", {"user": "live", "scrobbles": sc[3:], "force": True})
    assert st == 200 and res == {"user": "live", "added": 3, "ignored": 0, "total_scrobbles": 56}
    assert srv.recent("live", limit=1)["recenttracks"]["@attr"]["total"] == "56"
    # validation happens before anything is added
    for bad in ({"artist": "A", "title": "T"}, {"artist": "", "title": "T", "uts": now},
                {"artist": "A", "uts": now}, {"artist": "A", "title": "T", "uts": "soon"}):
        st, _ = srv.admin("/_admin/scrobbles", {"user": "live", "scrobbles": [sc[0], bad]})
        assert st == 400, bad
    st, _ = srv.admin("/_admin/scrobbles", {"user": "live", "scrobbles": sc[3:], "force": "false"})
    assert st == 400
    assert raw_scrobbles(srv, "live")["total"] == 56
    st, _ = srv.admin("/_admin/scrobbles", {"user": "nobody_x", "scrobbles": [sc[0]]})
    assert st == 404


def test_admin_list_scrobbles_is_the_api_order(srv):
    srv.admin("/_admin/users", {"name": "lister", "scrobbles": 1500, "seed": 8})
    srv.admin("/_admin/stats/reset", {})
    raw = raw_scrobbles(srv, "lister")
    _, stats = srv.admin("/_admin/stats")
    assert stats["requests"] == 0  # admin reads are not API requests
    assert raw["user"] == "lister" and raw["total"] == 1500 and len(raw["scrobbles"]) == 1500
    _, items = all_pages(srv, "lister")
    assert raw["scrobbles"] == api_rows(items)
    # exact spellings: the variants are there, unfolded
    _, truth = srv.admin("/_admin/truth?user=lister")
    assert len({(x["artist"], x["title"]) for x in raw["scrobbles"]}) > truth["distinct_tracks"]
    # same from (inclusive) / to (exclusive) window as the API, paged by offset/limit
    f, t = raw["scrobbles"][900]["uts"], raw["scrobbles"][100]["uts"]
    _, win = all_pages(srv, "lister", **{"from": f, "to": t})
    w = raw_scrobbles(srv, "lister", **{"from": f, "to": t})
    assert w["total"] == len(win) and w["scrobbles"] == api_rows(win)
    assert all(f <= x["uts"] < t for x in w["scrobbles"])
    part = raw_scrobbles(srv, "lister", **{"from": f, "to": t, "offset": 7, "limit": 20})
    assert part["total"] == w["total"] and part["scrobbles"] == w["scrobbles"][7:27]
    assert raw_scrobbles(srv, "lister", offset=1499)["scrobbles"] == raw["scrobbles"][1499:]
    assert raw_scrobbles(srv, "lister", offset=5000)["scrobbles"] == []
    assert raw_scrobbles(srv, "lister", limit=0)["scrobbles"] == []
    assert raw_scrobbles(srv, "empty") == {"user": "empty", "total": 0, "scrobbles": []}
    for q in ("user=nobody_x", ""):
        assert srv.admin("/_admin/scrobbles?" + q)[0] == 404
    for q in ("offset=-1", "limit=-5", "limit=x", "from=abc"):
        assert srv.admin("/_admin/scrobbles?user=lister&" + q)[0] == 400, q


def test_admin_delete_many(srv):
    srv.admin("/_admin/users", {"name": "pruner", "scrobbles": 2000, "seed": 4})
    before = raw_scrobbles(srv, "pruner")["scrobbles"]
    # a same-second pair: delete exactly the second one
    i = next(k for k in range(1, len(before)) if before[k]["uts"] == before[k - 1]["uts"])
    pair = before[i]
    gone = [before[0], pair, before[500]]
    body = [{k: x[k] for k in ("uts", "artist", "title")} for x in gone]
    body += [body[0], {"uts": 5, "artist": "x", "title": "y"}]  # a repeat and an unknown one
    st, res = srv.admin("/_admin/scrobbles", {"user": "pruner", "scrobbles": body}, method="DELETE")
    assert st == 200 and res == {"user": "pruner", "deleted": 3, "missing": 2, "total_scrobbles": 1997}
    after = raw_scrobbles(srv, "pruner")["scrobbles"]
    expect = [x for k, x in enumerate(before) if k not in (0, i, 500)]
    assert after == expect and before[i - 1] in after
    assert srv.recent("pruner", limit=1)["recenttracks"]["@attr"]["total"] == "1997"
    st, res = srv.admin("/_admin/scrobbles", {"user": "pruner", "scrobbles": body[-2:]}, method="DELETE")
    assert st == 200 and (res["deleted"], res["missing"]) == (0, 2)
    st, _ = srv.admin("/_admin/scrobbles", {"user": "pruner", "scrobbles": [{"uts": 5, "artist": "x"}]},
                      method="DELETE")
    assert st == 400
    st, _ = srv.admin("/_admin/scrobbles", {"user": "pruner", "scrobbles": {"uts": 5}}, method="DELETE")
    assert st == 400
    # the one-scrobble form is unchanged
    one = {k: after[3][k] for k in ("uts", "artist", "title")}
    st, res = srv.admin("/_admin/scrobbles", {"user": "pruner", **one}, method="DELETE")
    assert st == 200 and res == {"user": "pruner", "deleted": 1, "total_scrobbles": 1996}
    st, _ = srv.admin("/_admin/scrobbles", {"user": "pruner", **one}, method="DELETE")
    assert st == 404


def edits(s, user):
    st, body = s.admin("/_admin/edits?user=" + user)
    assert st == 200, body
    return body


def test_scheduled_edit_during_a_sync(srv):
    srv.admin("/_admin/users", {"name": "moving", "scrobbles": 450, "seed": 6})
    base = raw_scrobbles(srv, "moving")["scrobbles"]
    now = int(time.time())
    fresh = [{"artist": "Live Band", "title": "Song %d" % k, "uts": now - 60 + k} for k in range(3)]
    old = {"artist": "Live Band", "title": "Too Old", "uts": now - DAY14 - 3600}
    doomed = [{k: base[1][k] for k in ("uts", "artist", "title")},
              {"uts": 7, "artist": "nobody", "title": "nothing"}]
    st, e = srv.admin("/_admin/edits", {"user": "moving", "after_requests": 1, "add": fresh + [old],
                                        "delete": doomed})
    assert st == 200 and e == {"user": "moving", "id": 1, "remaining": 1, "adds": 4, "deletes": 2}
    assert edits(srv, "moving")["pending"] == [{"id": 1, "remaining": 1, "adds": 4, "deletes": 2}]
    # a sync reads page 1: the edit is still pending
    p1 = srv.recent("moving", limit=200, page=1)
    assert p1["recenttracks"]["@attr"]["total"] == "450"
    assert edits(srv, "moving")["pending"][0]["remaining"] == 0
    # error 29 answers do not count
    srv.admin("/_admin/config", {"error29_next": 2})
    for _ in range(2):
        st, body = srv.api(method="user.getrecenttracks", user="moving", limit=200, page=2)
        assert st == 429 and body["error"] == 29
    assert edits(srv, "moving")["pending"][0]["remaining"] == 0
    # page 2 is served from the edited history
    p2 = srv.recent("moving", limit=200, page=2)
    assert p2["recenttracks"]["@attr"]["total"] == "452"  # +3 fresh, 1 too old, -1 deleted
    ed = edits(srv, "moving")
    assert ed["pending"] == [] and ed["recent_tracks_requests"] == 2
    assert ed["applied"] == [{"id": 1, "at_request": 2, "added": 3, "ignored": 1, "deleted": 1,
                              "missing": 1}]
    expect = [dict(x, album="") for x in reversed(fresh)] + [base[0]] + base[2:]
    assert raw_scrobbles(srv, "moving")["scrobbles"] == expect
    # page 2 shows the shift: the items that moved there from page 1
    assert api_rows(tracks_of(p2)[:2]) == expect[200:202]
    # the next request applies nothing more
    srv.recent("moving", limit=200, page=3)
    assert len(edits(srv, "moving")["applied"]) == 1
    assert raw_scrobbles(srv, "moving")["total"] == 452


def test_scheduled_edits_countdowns_force_and_clear(srv):
    srv.admin("/_admin/users", {"name": "queue", "scrobbles": 100, "seed": 7})
    old = {"artist": "Old Band", "title": "Back-dated", "uts": 1780000000}
    st, a = srv.admin("/_admin/edits", {"user": "queue", "after_requests": 2, "add": [old]})
    assert a["id"] == 1
    srv.recent("queue")  # a: 2 -> 1
    st, b = srv.admin("/_admin/edits", {"user": "queue", "after_requests": 0, "add": [old],
                                        "force": True})
    assert b == {"user": "queue", "id": 2, "remaining": 0, "adds": 1, "deletes": 0}
    assert [p["remaining"] for p in edits(srv, "queue")["pending"]] == [1, 0]
    # other methods and other users do not count
    srv.api(method="user.getinfo", user="queue")
    srv.recent("demo", limit=1)
    assert [p["remaining"] for p in edits(srv, "queue")["pending"]] == [1, 0]
    assert srv.recent("queue")["recenttracks"]["@attr"]["total"] == "101"  # b applied (forced)
    assert srv.recent("queue")["recenttracks"]["@attr"]["total"] == "101"  # a applied, ignored
    ed = edits(srv, "queue")
    assert ed["pending"] == []
    assert ed["applied"] == [
        {"id": 2, "at_request": 2, "added": 1, "ignored": 0, "deleted": 0, "missing": 0},
        {"id": 1, "at_request": 3, "added": 0, "ignored": 1, "deleted": 0, "missing": 0}]
    # requests that reach the method count even when they answer an error (here error 6)
    srv.admin("/_admin/edits", {"user": "queue", "after_requests": 1, "add": [old], "force": True})
    srv.api(method="user.getrecenttracks", user="queue", limit="0")
    assert edits(srv, "queue")["pending"][0]["remaining"] == 0
    # clearing
    srv.admin("/_admin/edits", {"user": "queue", "after_requests": 5})
    st, res = srv.admin("/_admin/edits", {"user": "queue"}, method="DELETE")
    assert st == 200 and res == {"user": "queue", "cleared": 2}
    for _ in range(7):
        srv.recent("queue")
    ed = edits(srv, "queue")
    assert ed["pending"] == [] and len(ed["applied"]) == 2
    assert raw_scrobbles(srv, "queue")["total"] == 101
    # replacing the user discards its edits
    srv.admin("/_admin/edits", {"user": "queue", "after_requests": 0, "add": [old]})
    srv.admin("/_admin/users", {"name": "queue", "scrobbles": 100, "seed": 7})
    assert edits(srv, "queue") == {"user": "queue", "recent_tracks_requests": 0, "pending": [],
                                   "applied": []}
    # errors
    for bad in ({"user": "queue"}, {"user": "queue", "after_requests": -1},
                {"user": "queue", "after_requests": "x"},
                {"user": "queue", "after_requests": 0, "add": [{"artist": "A", "title": "T"}]},
                {"user": "queue", "after_requests": 0, "delete": [{"uts": 1, "title": "T"}]}):
        assert srv.admin("/_admin/edits", bad)[0] == 400, bad
    assert edits(srv, "queue")["pending"] == []
    assert srv.admin("/_admin/edits?user=nobody_x")[0] == 404
    assert srv.admin("/_admin/edits", {"user": "nobody_x", "after_requests": 0})[0] == 404


def test_scheduled_edits_concurrent_requests(srv):
    srv.admin("/_admin/users", {"name": "racer", "scrobbles": 3000, "seed": 11})
    base = raw_scrobbles(srv, "racer")["scrobbles"]
    now = int(time.time())
    for k in range(8):
        srv.admin("/_admin/edits", {
            "user": "racer", "after_requests": k,
            "add": [{"artist": "Racer", "title": "Edit %d" % k, "uts": now - 1000 + k}],
            "delete": [{k2: base[k][k2] for k2 in ("uts", "artist", "title")}]})
    p = {"method": "user.getrecenttracks", "user": "racer", "api_key": "k", "format": "json",
         "limit": 200, "page": 3}
    with cf.ThreadPoolExecutor(12) as ex:
        res = list(ex.map(lambda _: srv.raw(p), range(40)))
    assert all(r[0] == 200 for r in res)
    ed = edits(srv, "racer")
    assert ed["pending"] == [] and ed["recent_tracks_requests"] == 40
    # each edit applied exactly once, before the (k+1)-th request
    assert sorted((a["id"], a["at_request"]) for a in ed["applied"]) == [(k + 1, k + 1) for k in range(8)]
    assert all((a["added"], a["deleted"], a["missing"]) == (1, 1, 0) for a in ed["applied"])
    after = raw_scrobbles(srv, "racer")["scrobbles"]
    assert after == [{"artist": "Racer", "title": "Edit %d" % k, "album": "", "uts": now - 1000 + k}
                     for k in range(7, -1, -1)] + base[8:]
    totals = {json.loads(r[2])["recenttracks"]["@attr"]["total"] for r in res}
    assert totals == {"3000"}


def test_error29_next(srv):
    srv.admin("/_admin/stats/reset", {})
    st, cfg = srv.admin("/_admin/config", {"error29_next": 3})
    assert st == 200 and cfg["error29_next"] == 3
    answers = [srv.raw({"method": m, "user": "one", "api_key": "k", "format": "json"})
               for m in ("user.getinfo", "user.getrecenttracks", "no.such", "user.getrecenttracks")]
    for st, _, raw in answers[:3]:
        assert st == 429 and json.loads(raw) == {
            "error": 29, "links": [],
            "message": "Rate Limit Exceeded - Your IP has made too many requests in a short period"}
    assert answers[3][0] == 200
    assert srv.admin("/_admin/config")[1]["error29_next"] == 0
    _, stats = srv.admin("/_admin/stats")
    assert stats["requests"] == 4 and stats["error29"] == 3
    assert stats["by_error"] == {"29": 3} and stats["by_status"] == {"429": 3, "200": 1}
    assert stats["by_user"] == {"one": 4}
    assert srv.admin("/_admin/config", {"error29_next": -1})[0] == 400
    assert srv.admin("/_admin/config", {"error29_next": "many"})[0] == 400
