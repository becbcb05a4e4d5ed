"""Tests for the Spotify stand-in.  Run: python3 -m pytest -q infra/standins/test_spotify.py"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.parse

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "spotify.py")
CID, SECRET = "local-client", "local-secret"
REDIRECT = "http://127.0.0.1:8787/auth/spotify/callback"

# Documented Spotify shapes (full artist, full track, simplified album/artist, paging, current user).
ARTIST_KEYS = {"external_urls", "followers", "genres", "href", "id", "images", "name", "popularity",
               "type", "uri"}
ARTIST_DEV_KEYS = ARTIST_KEYS - {"followers", "genres", "popularity"}
TRACK_KEYS = {"album", "artists", "disc_number", "duration_ms", "explicit", "external_ids",
              "external_urls", "href", "id", "is_local", "name", "popularity", "preview_url",
              "track_number", "type", "uri"}
TRACK_DEV_KEYS = TRACK_KEYS - {"popularity"}
ALBUM_KEYS = {"album_type", "artists", "external_urls", "href", "id", "images", "name", "release_date",
              "release_date_precision", "total_tracks", "type", "uri"}
SIMPLE_ARTIST_KEYS = {"external_urls", "href", "id", "name", "type", "uri"}
PAGING_KEYS = {"href", "items", "limit", "next", "offset", "previous", "total"}
ME_KEYS = {"country", "display_name", "email", "explicit_content", "external_urls", "followers", "href",
           "id", "images", "product", "type", "uri", "account_id"}


# --------------------------------------------------------------------------------------------
# harness

class Srv:
    def __init__(self, *extra):
        self.proc = subprocess.Popen(
            [sys.executable, SERVER, "--host", "127.0.0.1", "--port", "0", "--quiet", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("spotify stand-in listening on http://"), line
        self.base = line.strip().rsplit(" ", 1)[1]
        u = urllib.parse.urlsplit(self.base)
        self.host, self.port = u.hostname, u.port

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def raw(self, method, path, body=None, headers=None, host_header=None):
        c = http.client.HTTPConnection(self.host, self.port, timeout=30)
        h = dict(headers or {})
        if host_header:
            h["Host"] = host_header
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, r.headers, data

    # accounts ------------------------------------------------------------------------------
    def authorize(self, **params):
        p = {"client_id": CID, "response_type": "code", "redirect_uri": REDIRECT,
             "scope": "user-top-read", "state": "st-" + secrets.token_hex(4)}
        p.update(params)
        p = {k: v for k, v in p.items() if v is not None}
        status, headers, body = self.raw("GET", "/authorize?" + urllib.parse.urlencode(p))
        return status, headers, body, p

    def code(self, **params):
        status, headers, _, p = self.authorize(**params)
        assert status == 302
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(headers["Location"]).query))
        assert q.get("state") == p["state"]
        return q["code"]

    def token(self, form, auth=(CID, SECRET), ctype="application/x-www-form-urlencoded"):
        h = {"Content-Type": ctype}
        if auth:
            h["Authorization"] = "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode()
        body = urllib.parse.urlencode(form) if "form" in ctype else json.dumps(form)
        status, headers, raw = self.raw("POST", "/api/token", body=body, headers=h)
        return status, json.loads(raw) if raw.startswith(b"{") else raw

    def login(self, user="spotify-demo", scope="user-top-read"):
        code = self.code(standin_user=user, scope=scope)
        status, tok = self.token({"grant_type": "authorization_code", "code": code,
                                  "redirect_uri": REDIRECT})
        assert status == 200, tok
        return tok

    # web api -------------------------------------------------------------------------------
    def get(self, path, token=None, params=None, headers=None, host_header=None):
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = "Bearer " + token
        if params:
            path += "?" + urllib.parse.urlencode(params)
        status, hdrs, raw = self.raw("GET", path, headers=h, host_header=host_header)
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
        return status, hdrs, body

    def top(self, token, typ="artists", **params):
        status, _, body = self.get("/v1/me/top/" + typ, token, params)
        assert status == 200, body
        return body

    def admin(self, path, body=None, method=None):
        data = None if body is None else json.dumps(body)
        method = method or ("GET" if body is None else "POST")
        status, _, raw = self.raw(method, path, body=data, headers={"Content-Type": "application/json"})
        return status, json.loads(raw)

    def config(self, **kw):
        status, cfg = self.admin("/_admin/config", kw)
        assert status == 200, cfg
        return cfg


@pytest.fixture(scope="module")
def server():
    s = Srv()
    yield s
    s.close()


@pytest.fixture
def srv(server):
    st, _ = server.admin("/_admin/reset", {})
    assert st == 200
    return server


def path_of(url):
    u = urllib.parse.urlsplit(url)
    return u.path + "?" + u.query


def truth(s, user="spotify-demo", typ="artists", rng="medium_term"):
    st, t = s.admin("/_admin/top?" + urllib.parse.urlencode({"user": user, "type": typ, "time_range": rng}))
    assert st == 200, t
    return t


# --------------------------------------------------------------------------------------------
# authorization code flow

def test_full_auth_code_flow(srv):
    status, headers, _, p = srv.authorize(scope="user-top-read user-read-email user-read-private",
                                          state="abc 123/xyz")
    assert status == 302
    loc = urllib.parse.urlsplit(headers["Location"])
    assert loc.scheme + "://" + loc.netloc + loc.path == REDIRECT
    q = dict(urllib.parse.parse_qsl(loc.query))
    assert set(q) == {"code", "state"} and q["state"] == "abc 123/xyz"
    status, tok = srv.token({"grant_type": "authorization_code", "code": q["code"], "redirect_uri": REDIRECT})
    assert status == 200, tok
    assert set(tok) == {"access_token", "token_type", "scope", "expires_in", "refresh_token"}
    assert tok["token_type"] == "Bearer" and tok["expires_in"] == 3600
    assert tok["scope"] == "user-top-read user-read-email user-read-private"
    assert len(tok["access_token"]) > 200 and len(tok["refresh_token"]) > 100
    status, _, me = srv.get("/v1/me", tok["access_token"])
    assert status == 200
    assert set(me) == ME_KEYS
    assert me["id"] == "spotify-demo" and me["type"] == "user" and me["uri"] == "spotify:user:spotify-demo"
    assert me["country"] == "GB" and me["product"] == "premium" and me["email"]
    assert me["followers"]["href"] is None and isinstance(me["followers"]["total"], int)
    st, stats = srv.admin("/_admin/stats")
    assert stats["token_exchanges"] == 1
    assert stats["by_path"]["/authorize"] == 1 and stats["by_path"]["/api/token"] == 1
    assert stats["by_path"]["/v1/me"] == 1
    assert stats["status_counts"]["302"] == 1 and stats["status_counts"]["200"] == 2


def test_me_fields_follow_scopes(srv):
    tok = srv.login(scope="user-top-read")
    _, _, me = srv.get("/v1/me", tok["access_token"])
    assert "email" not in me and "country" not in me and "product" not in me
    assert me["id"] == "spotify-demo" and me["display_name"] == "Demo Singer"


def test_authorize_errors(srv):
    st, _, body, _ = srv.authorize(client_id="nope")
    assert st == 400 and b"INVALID_CLIENT: Invalid client" in body
    st, hdrs, body = srv.raw("GET", "/authorize?client_id=nope&response_type=code&redirect_uri=x",
                             headers={"Accept": "application/json"})
    assert st == 400 and json.loads(body) == {"error": "invalid_client", "error_description": "Invalid client"}
    st, _, body, _ = srv.authorize(redirect_uri=None)
    assert st == 400 and b"INVALID_CLIENT: Invalid redirect URI" in body
    st, _, body, _ = srv.authorize(redirect_uri="http://localhost:8787/cb")
    assert st == 400 and b"Insecure redirect URI" in body
    srv.config(allow_insecure_redirects=True)
    st, _, _, _ = srv.authorize(redirect_uri="http://localhost:8787/cb")
    assert st == 302
    srv.config(redirect_uris=[REDIRECT])
    st, _, body, _ = srv.authorize(redirect_uri=REDIRECT + "/other")
    assert st == 400 and b"INVALID_CLIENT: Invalid redirect URI" in body
    assert srv.authorize()[0] == 302
    for params, err in (({"response_type": "token"}, "unsupported_response_type"),
                        ({"scope": "user-top-read not-a-scope"}, "invalid_scope"),
                        ({"standin_deny": "1"}, "access_denied")):
        st, hdrs, _, p = srv.authorize(**params)
        assert st == 302, params
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(hdrs["Location"]).query))
        assert q == {"error": err, "state": p["state"]}
    # no state sent -> none echoed
    st, hdrs, _, _ = srv.authorize(state=None)
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(hdrs["Location"]).query))
    assert set(q) == {"code"}


def test_code_is_single_use_and_expires(srv):
    code = srv.code()
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    assert srv.token(form)[0] == 200
    assert srv.token(form) == (400, {"error": "invalid_grant", "error_description": "Invalid authorization code"})
    assert srv.token(dict(form, code="AQbogus")) == (
        400, {"error": "invalid_grant", "error_description": "Invalid authorization code"})
    srv.config(code_ttl=0)
    code = srv.code()
    assert srv.token(dict(form, code=code)) == (
        400, {"error": "invalid_grant", "error_description": "Authorization code expired"})


def test_code_bound_to_redirect_uri_and_client(srv):
    code = srv.code()
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT + "x"}
    assert srv.token(form) == (400, {"error": "invalid_grant", "error_description": "Invalid redirect URI"})
    form.pop("redirect_uri")
    assert srv.token(form) == (400, {"error": "invalid_grant", "error_description": "Invalid redirect URI"})
    st, _ = srv.admin("/_admin/clients", {"client_id": "other-client", "client_secret": "other-secret"})
    assert st == 200
    form["redirect_uri"] = REDIRECT
    assert srv.token(form, auth=("other-client", "other-secret")) == (
        400, {"error": "invalid_grant", "error_description": "Invalid authorization code"})
    assert srv.token(form)[0] == 200  # failed attempts did not consume it


def test_client_authentication(srv):
    code = srv.code()
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    assert srv.token(form, auth=(CID, "wrong")) == (
        400, {"error": "invalid_client", "error_description": "Invalid client secret"})
    assert srv.token(form, auth=("unknown", SECRET)) == (
        400, {"error": "invalid_client", "error_description": "Invalid client"})
    assert srv.token(form, auth=None) == (400, {"error": "invalid_client", "error_description": "Invalid client"})
    srv.config(invalid_client_status=401)
    assert srv.token(form, auth=(CID, "wrong"))[0] == 401
    # credentials in the form body work too
    st, tok = srv.token(dict(form, client_id=CID, client_secret=SECRET), auth=None)
    assert st == 200 and tok["refresh_token"]
    st, stats = srv.admin("/_admin/stats")
    assert stats["token_errors"]["invalid_client"] == 4


def test_grant_type_errors(srv):
    assert srv.token({}) == (400, {"error": "unsupported_grant_type",
                                   "error_description": "grant_type parameter is missing"})
    st, body = srv.token({"grant_type": "password"})
    assert st == 400 and body["error"] == "unsupported_grant_type"
    # a JSON body is not read at all, as on the real service
    st, body = srv.token({"grant_type": "refresh_token", "refresh_token": "x"}, ctype="application/json")
    assert st == 400 and body["error_description"] == "grant_type parameter is missing"


def test_pkce_public_client(srv):
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    code = srv.code(code_challenge=challenge, code_challenge_method="S256")
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": CID}
    assert srv.token(dict(form, code_verifier="wrong"), auth=None) == (
        400, {"error": "invalid_grant", "error_description": "code_verifier was incorrect"})
    st, tok = srv.token(dict(form, code_verifier=verifier), auth=None)
    assert st == 200
    st, tok2 = srv.token({"grant_type": "refresh_token", "refresh_token": tok["refresh_token"],
                          "client_id": CID}, auth=None)
    assert st == 200 and tok2["access_token"]


# --------------------------------------------------------------------------------------------
# refresh tokens

def test_refresh_rotates(srv):
    tok = srv.login()
    old = tok["refresh_token"]
    st, new = srv.token({"grant_type": "refresh_token", "refresh_token": old})
    assert st == 200
    assert set(new) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert new["refresh_token"] != old and new["access_token"] != tok["access_token"]
    assert new["scope"] == "user-top-read"
    assert srv.token({"grant_type": "refresh_token", "refresh_token": old}) == (
        400, {"error": "invalid_grant", "error_description": "Invalid refresh token"})
    st, newer = srv.token({"grant_type": "refresh_token", "refresh_token": new["refresh_token"]})
    assert st == 200
    assert srv.get("/v1/me", newer["access_token"])[0] == 200
    assert srv.get("/v1/me", tok["access_token"])[0] == 200  # old access tokens live until they expire
    st, stats = srv.admin("/_admin/stats")
    assert stats["refreshes"] == 2 and stats["token_exchanges"] == 1
    st, t = srv.admin("/_admin/tokens?user=spotify-demo")
    assert t["refresh_tokens"] == {"rotated": 2, "active": 1}


def test_refresh_without_rotation(srv):
    srv.config(rotate_refresh=False)
    tok = srv.login()
    for _ in range(3):
        st, new = srv.token({"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]})
        assert st == 200 and "refresh_token" not in new
        assert set(new) == {"access_token", "token_type", "expires_in", "scope"}
    assert srv.get("/v1/me", new["access_token"])[0] == 200


def test_refresh_token_errors(srv):
    assert srv.token({"grant_type": "refresh_token", "refresh_token": "AQnope"}) == (
        400, {"error": "invalid_grant", "error_description": "Invalid refresh token"})
    st, body = srv.token({"grant_type": "refresh_token"})
    assert st == 400 and body["error"] == "invalid_request"
    tok = srv.login()
    st, _ = srv.admin("/_admin/clients", {"client_id": "other-client", "client_secret": "s2"})
    assert srv.token({"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]},
                     auth=("other-client", "s2"))[1]["error_description"] == "Invalid refresh token"


def test_revoke(srv):
    a = srv.login()
    b = srv.login()
    c = srv.login(user="someone-else")
    st, r = srv.admin("/_admin/revoke", {"refresh_token": a["refresh_token"]})
    assert st == 200 and r == {"revoked": 1}
    assert srv.token({"grant_type": "refresh_token", "refresh_token": a["refresh_token"]}) == (
        400, {"error": "invalid_grant", "error_description": "Refresh token revoked"})
    assert srv.token({"grant_type": "refresh_token", "refresh_token": b["refresh_token"]})[0] == 200
    st, r = srv.admin("/_admin/revoke", {"user": "spotify-demo"})
    assert r == {"revoked": 1}  # b's rotated successor
    st, body = srv.token({"grant_type": "refresh_token", "refresh_token": b["refresh_token"]})
    assert body["error"] == "invalid_grant"
    assert srv.token({"grant_type": "refresh_token", "refresh_token": c["refresh_token"]})[0] == 200


def test_refresh_token_lifetime(srv):
    tok = srv.login()
    st, r = srv.admin("/_admin/expire", {"user": "spotify-demo", "refresh": True})
    assert r == {"user": "spotify-demo", "expired_access_tokens": 1, "expired_refresh_tokens": 1}
    assert srv.token({"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]}) == (
        400, {"error": "invalid_grant", "error_description": "Refresh token expired"})
    srv.config(refresh_ttl=0)
    tok = srv.login()
    st, body = srv.token({"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]})
    assert st == 400 and body["error"] == "invalid_grant"


# --------------------------------------------------------------------------------------------
# access tokens and API auth

def test_access_token_expiry(srv):
    tok = srv.login()
    at = tok["access_token"]
    assert srv.get("/v1/me", at)[0] == 200
    st, r = srv.admin("/_admin/expire", {"user": "spotify-demo"})
    assert r["expired_access_tokens"] == 1
    st, hdrs, body = srv.get("/v1/me", at)
    assert st == 401 and body == {"error": {"status": 401, "message": "The access token expired"}}
    assert 'error="invalid_token"' in hdrs["WWW-Authenticate"]
    st, new = srv.token({"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]})
    assert srv.get("/v1/me", new["access_token"])[0] == 200
    # runtime TTL
    srv.config(access_ttl=1)
    tok = srv.login()
    assert tok["expires_in"] == 1
    assert srv.get("/v1/me", tok["access_token"])[0] == 200
    time.sleep(1.1)
    assert srv.get("/v1/me", tok["access_token"])[2]["error"]["message"] == "The access token expired"


def test_api_auth_errors(srv):
    assert srv.get("/v1/me")[2] == {"error": {"status": 401, "message": "No token provided"}}
    st, _, body = srv.get("/v1/me", headers={"Authorization": "Basic abc"})
    assert st == 400 and body["error"]["message"] == "Only valid bearer authentication supported"
    st, _, body = srv.get("/v1/me", "BQgarbage")
    assert st == 401 and body == {"error": {"status": 401, "message": "Invalid access token"}}
    tok = srv.login(scope="user-read-email")
    assert srv.get("/v1/me", tok["access_token"])[0] == 200
    st, _, body = srv.get("/v1/me/top/artists", tok["access_token"])
    assert st == 403 and body == {"error": {"status": 403, "message": "Insufficient client scope"}}
    st, cc = srv.token({"grant_type": "client_credentials"})
    assert st == 200 and set(cc) == {"access_token", "token_type", "expires_in"}
    assert srv.get("/v1/me", cc["access_token"])[0] == 401
    st, _, body = srv.get("/v1/nothing/here", tok["access_token"])
    assert st == 404 and body["error"]["message"] == "Service not found"


# --------------------------------------------------------------------------------------------
# top items: paging, duplicates, empty lists, validation

def test_paging_follow_next_to_total(srv):
    srv.config(offset_cutoff=None)  # no offset quirk: plain paging up to `total`
    at = srv.login()["access_token"]
    for typ, rng, total in (("artists", "long_term", 99), ("tracks", "long_term", 99),
                            ("artists", "medium_term", 75), ("tracks", "medium_term", 75)):
        page = srv.top(at, typ, time_range=rng, limit=20)
        assert page["total"] == total and page["previous"] is None and page["offset"] == 0
        ids = [i["id"] for i in page["items"]]
        pages = 1
        while page["next"]:
            status, _, page = srv.get(path_of(page["next"]), at)
            assert status == 200
            assert page["previous"] is not None
            ids += [i["id"] for i in page["items"]]
            pages += 1
        assert pages == -(-total // 20) and len(ids) == total
        assert ids == [i["id"] for i in truth(srv, typ=typ, rng=rng)["items"]]
        assert page["next"] is None


def test_paging_urls(srv):
    at = srv.login()["access_token"]
    st, _, page = srv.get("/v1/me/top/tracks", at, {"limit": 10, "offset": 20, "time_range": "long_term"},
                          host_header="spotify.test:9999")
    assert set(page) == PAGING_KEYS
    assert page["href"] == "http://spotify.test:9999/v1/me/top/tracks?limit=10&offset=20&time_range=long_term"
    assert page["next"] == "http://spotify.test:9999/v1/me/top/tracks?limit=10&offset=30&time_range=long_term"
    assert page["previous"] == "http://spotify.test:9999/v1/me/top/tracks?limit=10&offset=10&time_range=long_term"
    assert page["items"][0]["href"].startswith("http://spotify.test:9999/v1/tracks/")
    page = srv.top(at, "tracks", limit=10, offset=5)
    assert page["previous"].endswith("limit=10&offset=0&time_range=medium_term")
    page = srv.top(at)  # defaults
    assert page["limit"] == 20 and page["offset"] == 0 and len(page["items"]) == 20
    assert "time_range=medium_term" in page["href"] and page["total"] == 75


def test_offset_cutoff_quirk_and_offset_49(srv):
    at = srv.login()["access_token"]
    page = srv.top(at, "artists", time_range="long_term", limit=50)
    assert len(page["items"]) == 50 and page["total"] == 99
    assert page["next"].endswith("limit=50&offset=50&time_range=long_term")
    status, _, empty = srv.get(path_of(page["next"]), at)  # following `next` naively ends here
    assert status == 200
    assert empty["items"] == [] and empty["total"] == 0 and empty["limit"] == 0 and empty["offset"] == 50
    assert empty["next"] is None and empty["previous"] == empty["href"]
    assert srv.top(at, "artists", time_range="long_term", offset=70, limit=5)["offset"] == 50
    # the working strategy: offset 0 + offset 49 (one item overlaps)
    second = srv.top(at, "artists", time_range="long_term", limit=50, offset=49)
    assert len(second["items"]) == 50 and second["next"] is None and second["total"] == 99
    assert second["items"][0]["id"] == page["items"][49]["id"]
    ids = [i["id"] for i in page["items"]] + [i["id"] for i in second["items"][1:]]
    t = truth(srv, typ="artists", rng="long_term")
    assert ids == [i["id"] for i in t["items"]] and t["reachable"] == 99
    medium = srv.top(at, "tracks", time_range="medium_term", limit=50, offset=49)
    assert len(medium["items"]) == 26 and medium["next"] is None


def test_duplicates(srv):
    at = srv.login()["access_token"]
    ma = srv.top(at, "artists", time_range="medium_term", limit=50)["items"]
    assert ma[30]["id"] == ma[4]["id"] and ma[4]["name"] == "Ed Sheeran"
    mt = srv.top(at, "tracks", time_range="medium_term", limit=50)["items"]
    assert mt[41]["id"] == mt[3]["id"] and mt[3]["name"] == "Don't Stop Me Now - Remastered 2011"
    lt = srv.top(at, "tracks", time_range="long_term", limit=50)["items"]
    assert lt[24]["id"] == lt[0]["id"] and lt[0]["name"] == "Bohemian Rhapsody"
    la = srv.top(at, "artists", time_range="long_term", limit=50)["items"]
    assert la[17]["id"] == la[1]["id"] and la[1]["name"] == "ABBA"
    for typ, rng, n in (("artists", "medium_term", 1), ("artists", "long_term", 2),
                        ("tracks", "medium_term", 1), ("tracks", "long_term", 2)):
        t = truth(srv, typ=typ, rng=rng)
        dups = [(i["rank"], i["duplicate_of"]) for i in t["items"] if i["duplicate_of"]]
        assert len(dups) == n and all(r > d for r, d in dups)
        assert t["distinct"] == t["total"] - n
    assert (64, 8) in [(i["rank"], i["duplicate_of"]) for i in truth(srv, rng="long_term")["items"]
                       if i["duplicate_of"]]


def test_short_term_empty(srv):
    at = srv.login()["access_token"]
    for typ in ("artists", "tracks"):
        page = srv.top(at, typ, time_range="short_term")
        assert page["items"] == [] and page["total"] == 0
        assert page["next"] is None and page["previous"] is None and page["limit"] == 20
    light = srv.login(user="spotify-light")["access_token"]
    page = srv.top(light, "artists", time_range="short_term", limit=50)
    assert page["total"] == 4 and len(page["items"]) == 4 and page["next"] is None
    empty = srv.login(user="spotify-empty")["access_token"]
    assert srv.top(empty, "tracks", time_range="long_term")["total"] == 0


def test_parameter_validation(srv):
    at = srv.login()["access_token"]
    for limit in (0, 51, -1, "abc", "2.5"):
        st, _, body = srv.get("/v1/me/top/artists", at, {"limit": limit})
        assert st == 400 and body == {"error": {"status": 400, "message": "Invalid limit"}}, limit
    for offset in (-1, "x"):
        st, _, body = srv.get("/v1/me/top/tracks", at, {"offset": offset})
        assert st == 400 and body["error"]["message"] == "Invalid offset"
    st, _, body = srv.get("/v1/me/top/tracks", at, {"time_range": "forever"})
    assert st == 400 and body["error"]["status"] == 400
    assert len(srv.top(at, limit=1)["items"]) == 1 and len(srv.top(at, limit=50)["items"]) == 50


def test_admin_users(srv):
    st, u = srv.admin("/_admin/users", {"id": "karaoke-fan", "display_name": None,
                                        "short_term_empty": False, "artists_total": 60,
                                        "tracks_total": {"short_term": 7, "long_term": 42}})
    assert st == 200 and u["totals"]["artists"] == {"short_term": 60, "medium_term": 60, "long_term": 60}
    assert u["totals"]["tracks"] == {"short_term": 7, "medium_term": 75, "long_term": 42}
    at = srv.login(user="karaoke-fan")["access_token"]
    _, _, me = srv.get("/v1/me", at)
    assert me["id"] == "karaoke-fan" and me["display_name"] is None
    assert srv.top(at, "artists", time_range="short_term")["total"] == 60
    assert srv.top(at, "tracks", time_range="short_term")["total"] == 7
    assert srv.top(at, "tracks", time_range="long_term")["total"] == 42
    st, u = srv.admin("/_admin/users", {"id": "karaoke-fan", "short_term_empty": True})
    assert srv.top(at, "artists", time_range="short_term")["total"] == 0
    # unknown users are created on first authorization, with default lists
    at2 = srv.login(user="fresh-user")["access_token"]
    assert srv.top(at2, "artists", time_range="long_term")["total"] == 99
    st, users = srv.admin("/_admin/users")
    assert {"spotify-demo", "spotify-light", "spotify-empty", "fresh-user"} <= {x["id"] for x in users["users"]}
    assert srv.admin("/_admin/top?user=nobody")[0] == 404


# --------------------------------------------------------------------------------------------
# Development Mode

def test_dev_mode_drops_fields(srv):
    at = srv.login(scope="user-top-read user-read-email user-read-private")["access_token"]
    assert set(srv.top(at, "artists")["items"][0]) == ARTIST_KEYS
    srv.config(dev_mode=True)
    for rng in ("medium_term", "long_term"):
        for a in srv.top(at, "artists", time_range=rng, limit=50)["items"]:
            assert set(a) == ARTIST_DEV_KEYS
        for t in srv.top(at, "tracks", time_range=rng, limit=50)["items"]:
            assert set(t) == TRACK_DEV_KEYS
            assert set(t["album"]) == ALBUM_KEYS
    _, _, me = srv.get("/v1/me", at)
    assert not {"email", "country", "product", "followers", "explicit_content"} & set(me)
    srv.config(dev_mode=False)
    assert "popularity" in srv.top(at, "tracks")["items"][0]


def test_dev_mode_allowlist(srv):
    srv.config(dev_mode=True, dev_allowlist=["spotify-demo"])
    assert srv.get("/v1/me", srv.login()["access_token"])[0] == 200
    st, hdrs, body = srv.get("/v1/me", srv.login(user="stranger")["access_token"])
    assert st == 403 and body == b"User not registered in the Developer Dashboard"
    assert hdrs["Content-Type"].startswith("text/plain")


def test_dev_mode_cli_flag_and_determinism():
    s = Srv("--dev-mode", "--client-id", "cid2", "--client-secret", "sec2", "--access-ttl", "120")
    try:
        code = None
        st, hdrs, _ = s.raw("GET", "/authorize?" + urllib.parse.urlencode(
            {"client_id": "cid2", "response_type": "code", "redirect_uri": REDIRECT, "scope": "user-top-read"}))
        assert st == 302
        code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(hdrs["Location"]).query))["code"]
        st, tok = s.token({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
                          auth=("cid2", "sec2"))
        assert st == 200 and tok["expires_in"] == 120
        a = s.top(tok["access_token"], "artists")["items"][0]
        assert "popularity" not in a and "genres" not in a and "followers" not in a
        st, cfg = s.admin("/_admin/config")
        assert cfg["dev_mode"] is True and cfg["access_ttl"] == 120
        # same ids and order in another process
        t1 = truth(s, typ="tracks", rng="long_term")
    finally:
        s.close()
    s2 = Srv()
    try:
        assert truth(s2, typ="tracks", rng="long_term") == t1
    finally:
        s2.close()


# --------------------------------------------------------------------------------------------
# rate limiting and faults

def test_rate_limit_next_then_success(srv):
    at = srv.login()["access_token"]
    srv.config(rate_limit_next=2, retry_after=3)
    for _ in range(2):
        st, hdrs, body = srv.get("/v1/me/top/artists", at)
        assert st == 429 and hdrs["Retry-After"] == "3"
        assert body == {"error": {"status": 429, "message": "API rate limit exceeded"}}
    assert srv.get("/v1/me/top/artists", at)[0] == 200
    st, stats = srv.admin("/_admin/stats")
    assert stats["served_429"] == 2 and stats["status_counts"]["429"] == 2
    assert srv.config()["rate_limit_next"] == 0


def test_rate_limit_budget(srv):
    at = srv.login()["access_token"]
    srv.config(rate_limit=5)
    results = [srv.get("/v1/me", at) for _ in range(12)]
    codes = [r[0] for r in results]
    assert codes[:5] == [200] * 5 and 429 in codes
    assert all(int(r[1]["Retry-After"]) >= 1 for r in results if r[0] == 429)
    time.sleep(1.0)
    assert srv.get("/v1/me", at)[0] == 200
    srv.config(rate_limit=0)
    assert all(srv.get("/v1/me", at)[0] == 200 for _ in range(20))
    st, stats = srv.admin("/_admin/stats")
    assert stats["served_429"] == codes.count(429)
    # the accounts service is not rate limited by this budget
    srv.config(rate_limit=1)
    assert all(srv.code() for _ in range(5))


def test_http5xx_knobs(srv):
    at = srv.login()["access_token"]
    srv.config(http5xx_next=2)
    st1, _, b1 = srv.get("/v1/me", at)
    st2, _, b2 = srv.get("/v1/me", at)
    assert (st1, st2) == (502, 503)
    assert b1["error"]["status"] == 502 and b2["error"]["status"] == 503
    assert srv.get("/v1/me", at)[0] == 200
    tok = srv.login()
    srv.config(token_http5xx_next=1)
    st, _ = srv.token({"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]})
    assert st in (502, 503)
    assert srv.token({"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]})[0] == 200
    st, stats = srv.admin("/_admin/stats")
    assert stats["served_5xx_injected"] == 3


# --------------------------------------------------------------------------------------------
# shapes and content

def _check_images(images, sizes):
    assert [(i["height"], i["width"]) for i in images] == [(s, s) for s in sizes]
    for i in images:
        assert set(i) == {"url", "height", "width"} and i["url"].startswith("https://i.scdn.co/image/")


def _check_simple_artist(a):
    assert set(a) == SIMPLE_ARTIST_KEYS and a["type"] == "artist"
    assert a["uri"] == "spotify:artist:" + a["id"] and len(a["id"]) == 22
    assert a["external_urls"] == {"spotify": "https://open.spotify.com/artist/" + a["id"]}


def test_shapes(srv):
    at = srv.login()["access_token"]
    page = srv.top(at, "artists", time_range="long_term", limit=50)
    assert set(page) == PAGING_KEYS
    for a in page["items"]:
        assert set(a) == ARTIST_KEYS
        assert a["type"] == "artist" and a["uri"] == "spotify:artist:" + a["id"] and len(a["id"]) == 22
        assert set(a["followers"]) == {"href", "total"} and a["followers"]["href"] is None
        assert isinstance(a["followers"]["total"], int) and 0 <= a["popularity"] <= 100
        assert isinstance(a["genres"], list) and all(isinstance(g, str) for g in a["genres"])
        assert a["external_urls"] == {"spotify": "https://open.spotify.com/artist/" + a["id"]}
        if a["images"]:
            _check_images(a["images"], (640, 320, 160))
    tracks = srv.top(at, "tracks", time_range="long_term", limit=50)["items"]
    tracks += srv.top(at, "tracks", time_range="long_term", limit=50, offset=49)["items"]
    precisions = set()
    for t in tracks:
        assert set(t) == TRACK_KEYS
        assert t["type"] == "track" and t["uri"] == "spotify:track:" + t["id"] and t["is_local"] is False
        assert t["preview_url"] is None and isinstance(t["explicit"], bool)
        assert set(t["external_ids"]) == {"isrc"} and len(t["external_ids"]["isrc"]) == 12
        assert isinstance(t["duration_ms"], int) and t["disc_number"] >= 1 and t["track_number"] >= 1
        assert t["artists"]
        for a in t["artists"]:
            _check_simple_artist(a)
        al = t["album"]
        assert set(al) == ALBUM_KEYS and al["type"] == "album"
        assert al["album_type"] in ("album", "single", "compilation")
        assert 1 <= t["track_number"] <= al["total_tracks"]
        for a in al["artists"]:
            _check_simple_artist(a)
        _check_images(al["images"], (640, 300, 64))
        precisions.add(al["release_date_precision"])
        assert len(al["release_date"]) == {"year": 4, "month": 7, "day": 10}[al["release_date_precision"]]
    assert precisions >= {"day", "year"}


def test_content(srv):
    at = srv.login()["access_token"]
    st, _, raw = srv.raw("GET", "/v1/me/top/artists?time_range=long_term&limit=50",
                         headers={"Authorization": "Bearer " + at})
    assert "Beyoncé".encode() in raw  # UTF-8, not \u-escaped
    names = [a["name"] for a in json.loads(raw)["items"]]
    for n in ("Queen", "ABBA", "Beyoncé", "Taylor Swift", "Adele", "Bon Jovi", "Journey", "Whitney Houston",
              "Oasis", "Toto", "The Killers", "Backstreet Boys", "Spice Girls", "Britney Spears",
              "Elton John", "Lady Gaga"):
        assert n in names, n
    medium = [a["name"] for a in srv.top(at, "artists", limit=50)["items"]]
    assert "Bruno Mars" in medium and "Ed Sheeran" in medium
    titles = [t["name"] for t in srv.top(at, "tracks", time_range="long_term", limit=50)["items"]]
    for t in ("Bohemian Rhapsody", "Dancing Queen", "Don't Stop Believin'", "Livin' On A Prayer",
              "I Will Always Love You", "Wonderwall - Remastered", "Africa", "Mr. Brightside",
              "I Want It That Way", "Wannabe", "...Baby One More Time", "Rolling in the Deep",
              "Shake It Off", "Sweet Caroline", "Don't Stop Me Now - Remastered 2011"):
        assert t in titles, t
    crazy = next(t for t in srv.top(at, "tracks", limit=50)["items"] if t["name"].startswith("Crazy In Love"))
    assert [a["name"] for a in crazy["artists"]] == ["Beyoncé", "JAY-Z"]
    assert [a["name"] for a in crazy["album"]["artists"]] == ["Beyoncé"]
    # two different artists share the name "Nirvana" (different ids), as on Spotify
    t = truth(srv, rng="long_term")
    nirvanas = {i["id"] for i in t["items"] if i["name"] == "Nirvana"}
    assert len(nirvanas) == 2


def test_admin_misc(srv):
    assert srv.admin("/_admin/health") == (200, {"ok": True})
    cfg = srv.config()
    for k in ("dev_mode", "access_ttl", "rotate_refresh", "rate_limit_next", "retry_after", "http5xx_next",
              "rate_limit", "offset_cutoff", "refresh_ttl", "code_ttl"):
        assert k in cfg
    assert cfg["access_ttl"] == 3600 and cfg["rotate_refresh"] is True and cfg["offset_cutoff"] == 50
    st, body = srv.admin("/_admin/config", {"nonsense": 1})
    assert st == 400 and "unknown config key" in body["error"]
    st, body = srv.admin("/_admin/config", {"dev_mode": "yes"})
    assert st == 400
    st, _ = srv.admin("/_admin/revoke", {})
    assert st == 400
    st, s = srv.admin("/_admin/stats/reset", {})
    assert st == 200 and s["requests"] == 0
    assert srv.admin("/_admin/nope")[0] == 404
    st, _, _ = srv.raw("GET", "/somewhere")
    assert st == 404


def test_keep_alive_connection(srv):
    at = srv.login()["access_token"]
    c = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
    for _ in range(5):
        c.request("GET", "/v1/me/top/tracks?limit=3", headers={"Authorization": "Bearer " + at})
        r = c.getresponse()
        assert r.status == 200 and len(json.loads(r.read())["items"]) == 3
    c.close()
