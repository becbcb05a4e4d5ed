#!/usr/bin/env python3
"""Local stand-in for the Last.fm API (ws.audioscrobbler.com/2.0/), Python 3.11 standard library only.

    python3 infra/standins/lastfm.py --host 127.0.0.1 --port 5056 [--latency-ms 0] [--rate-limit 5]
        [--seed 1] [--stall-seconds 25] [--faults error8=0.01,stall=0.001] [--quiet]

Implements user.getRecentTracks, user.getInfo, user.getTopArtists and user.getLovedTracks with the
real response shapes and quirks, a global
token-bucket rate limiter (error 29), seeded fault injection, and admin endpoints under /_admin/.
See README.md next to this file.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import random
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lastfm_history import (PERIOD_DAYS, History, UserSpec, _url_part, artist_image_list,  # noqa: E402
                            image_list)

FAULT_NAMES = ("error8", "error11", "error16", "http5xx", "stall", "truncated")
MAX_GEN_SCROBBLES = 5_000_000
TOP_MAX_LIMIT = 1000  # user.getTopArtists / user.getLovedTracks accept up to 1000 per page
# built-in users whose overall top-artists total is exactly N (issue 4's edge cases)
ARTIST_EDGE_USERS = (0, 1, 199, 200, 201, 999, 1000, 1001, 3500)


def artists_user_scrobbles(n_artists: int) -> int:
    return 3 * n_artists + 5 if n_artists else 0

MSG = {
    3: "Invalid Method - No method with that name in this package",
    6: "Invalid parameters - Your request is missing the [user] parameter",
    8: "Operation failed - Most likely the backend service failed. Please try again.",
    10: "Invalid API key - You must be granted a valid key by last.fm",
    11: "Service Offline - This service is temporarily offline. Try again later.",
    16: "There was a temporary error processing your request. Please try again",
    17: "Login: User required to be logged in",
    26: "Suspended API key - Access for your account has been suspended, please contact Last.fm",
    29: "Rate Limit Exceeded - Your IP has made too many requests in a short period",
}

HTML_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
            b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n")


def dumps(obj) -> bytes:
    # Real responses are compact UTF-8 with escaped slashes ("https:\/\/www.last.fm\/...").
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).replace("/", "\\/").encode()


class ApiError(Exception):
    def __init__(self, code, status, message=None):
        super().__init__(code)
        self.code = code
        self.status = status
        self.message = message or MSG[code]


# --------------------------------------------------------------------------------------------
# state

class TokenBucket:
    def __init__(self, rate: float):
        self.lock = threading.Lock()
        self.set_rate(rate)

    def set_rate(self, rate: float):
        with self.lock:
            self.rate = float(rate)
            self.tokens = float(rate)
            self.last = time.monotonic()

    def take(self) -> bool:
        with self.lock:
            if self.rate <= 0:
                return True
            now = time.monotonic()
            self.tokens = min(self.rate, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return True
            return False


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.requests = 0
            self.by_method = collections.Counter()
            self.by_user = collections.Counter()
            self.by_status = collections.Counter()
            self.by_error = collections.Counter()
            self.error29 = 0
            self.injected = {k: 0 for k in FAULT_NAMES}
            self.window = collections.deque()
            self.max_1s = 0
            self.since = time.time()

    def arrival(self, method: str, user: str = ""):
        now = time.monotonic()
        with self.lock:
            self.requests += 1
            self.by_method[method] += 1
            if user:
                self.by_user[user.lower()] += 1
            w = self.window
            w.append(now)
            while w and w[0] <= now - 1.0:
                w.popleft()
            if len(w) > self.max_1s:
                self.max_1s = len(w)

    def answered(self, status: int, error_code: int | None):
        with self.lock:
            self.by_status[str(status)] += 1
            if error_code is not None:
                self.by_error[str(error_code)] += 1
                if error_code == 29:
                    self.error29 += 1

    def inject(self, fault: str):
        with self.lock:
            self.injected[fault] += 1

    def to_json(self):
        with self.lock:
            return {"requests": self.requests, "by_method": dict(self.by_method),
                    "by_user": dict(self.by_user),
                    "by_status": dict(self.by_status), "by_error": dict(self.by_error),
                    "error29": self.error29, "errors_injected": dict(self.injected),
                    "max_requests_in_any_1s": self.max_1s, "since": self.since,
                    "uptime_seconds": round(time.time() - self.since, 3)}


class Config:
    def __init__(self, latency_ms, rate_limit, stall_seconds, fault_seed, faults):
        self.lock = threading.Lock()
        self.latency_ms = float(latency_ms)
        self.rate_limit = float(rate_limit)
        self.stall_seconds = float(stall_seconds)
        self.faults = {k: 0.0 for k in FAULT_NAMES}
        self.faults.update(faults)
        self.fault_seed = int(fault_seed)
        self.rng = random.Random(self.fault_seed)
        self.bucket = TokenBucket(self.rate_limit)
        # user (lowercase) -> pages of user.getRecentTracks that always answer error 8, to model
        # the page of a big history that Last.fm keeps failing on.
        self.failing_pages: dict[str, set[int]] = {}
        self.error29_next = 0  # the next N API requests answer error 29

    def take_error29(self) -> bool:
        with self.lock:
            if self.error29_next > 0:
                self.error29_next -= 1
                return True
            return False

    def page_fails(self, user: str, page: int) -> bool:
        with self.lock:
            return page in self.failing_pages.get(user.lower(), ())

    def update(self, body: dict):
        with self.lock:
            if "failing_pages" in body:
                for user, pages in (body["failing_pages"] or {}).items():
                    if pages:
                        self.failing_pages[user.lower()] = {int(p) for p in pages}
                    else:
                        self.failing_pages.pop(user.lower(), None)
            if "error29_next" in body:
                n = int(body["error29_next"])
                if n < 0:
                    raise ValueError("error29_next must be >= 0")
                self.error29_next = n
            if "latency_ms" in body:
                self.latency_ms = max(0.0, float(body["latency_ms"]))
            if "stall_seconds" in body:
                self.stall_seconds = max(0.0, float(body["stall_seconds"]))
            if "faults" in body:
                f = body["faults"] or {}
                for k, v in f.items():
                    if k not in FAULT_NAMES:
                        raise ValueError("unknown fault %r (known: %s)" % (k, ", ".join(FAULT_NAMES)))
                    v = float(v)
                    if not 0.0 <= v <= 1.0:
                        raise ValueError("fault probability must be within [0, 1]")
                    self.faults[k] = v
            if "fault_seed" in body:
                self.fault_seed = int(body["fault_seed"])
                self.rng = random.Random(self.fault_seed)
            if "rate_limit" in body:
                self.rate_limit = max(0.0, float(body["rate_limit"]))
                self.bucket.set_rate(self.rate_limit)

    def roll_fault(self):
        with self.lock:
            total = sum(self.faults.values())
            if total <= 0:
                return None
            u = self.rng.random()
            acc = 0.0
            for k in FAULT_NAMES:
                acc += self.faults[k]
                if u < acc:
                    return k
            return None

    def to_json(self):
        with self.lock:
            return {"latency_ms": self.latency_ms, "rate_limit": self.rate_limit,
                    "faults": dict(self.faults), "stall_seconds": self.stall_seconds,
                    "fault_seed": self.fault_seed, "error29_next": self.error29_next,
                    "failing_pages": {u: sorted(p) for u, p in self.failing_pages.items()}}


class Users:
    GEN_RE = re.compile(r"^gen_(\d+)_(\d+)$")

    def __init__(self, seed: int):
        self.lock = threading.Lock()
        self.specs: dict[str, UserSpec] = {}  # lowercase name -> spec
        self.histories: dict[str, History] = {}
        self.gen_locks: dict[str, threading.Lock] = {}
        self.gen_seconds: dict[str, float] = {}
        for spec in (UserSpec("demo", 5000, seed),
                     UserSpec("heavy", 219625, seed, extra_playcount=1375),
                     UserSpec("empty", 0, seed, now_playing=False, extra_playcount=0),
                     UserSpec("one", 1, seed, now_playing=False, extra_playcount=0),
                     UserSpec("private", 1000, seed, private=True),
                     *(UserSpec("artists_%d" % a, artists_user_scrobbles(a), seed, artists=a)
                       for a in ARTIST_EDGE_USERS)):
            self.specs[spec.name.lower()] = spec

    def put(self, spec: UserSpec):
        key = spec.name.lower()
        with self.lock:
            self.specs[key] = spec
            self.histories.pop(key, None)

    def delete(self, name: str) -> bool:
        """Forgets a registered user, so Last.fm answers "User not found" from then on."""
        key = name.lower()
        with self.lock:
            self.histories.pop(key, None)
            return self.specs.pop(key, None) is not None

    def spec(self, name: str) -> UserSpec | None:
        key = name.lower()
        with self.lock:
            s = self.specs.get(key)
            if s is not None:
                return s
            m = self.GEN_RE.match(name)
            if m and int(m.group(1)) <= MAX_GEN_SCROBBLES:
                s = UserSpec(name, int(m.group(1)), int(m.group(2)))
                self.specs[key] = s
                return s
        return None

    def history(self, spec: UserSpec) -> History:
        key = spec.name.lower()
        h = self.histories.get(key)
        if h is not None and h.spec is spec:
            return h
        with self.lock:
            gl = self.gen_locks.setdefault(key, threading.Lock())
        with gl:
            h = self.histories.get(key)
            if h is not None and h.spec is spec:
                return h
            t0 = time.perf_counter()
            h = History(spec)
            dt = time.perf_counter() - t0
            with self.lock:
                if self.specs.get(key) is spec:
                    self.histories[key] = h
                    self.gen_seconds[key] = dt
            return h

    def list_json(self):
        with self.lock:
            out = []
            for k, s in self.specs.items():
                d = s.to_json()
                h = self.histories.get(k)
                d["generated"] = h is not None
                if h is not None:
                    d["total_scrobbles"] = h.total()
                    d["generation_seconds"] = round(self.gen_seconds.get(k, 0.0), 4)
                out.append(d)
            return out


# --------------------------------------------------------------------------------------------
# Last.fm methods

def _int_param(params, name, default=None, minimum=None):
    v = params.get(name)
    if v is None or v == "":
        return default
    try:
        n = int(v)
    except ValueError:
        raise ApiError(6, 400, "Invalid parameters - Invalid %s parameter" % name) from None
    if minimum is not None and n < minimum:
        raise ApiError(6, 400, "Invalid parameters - Invalid %s parameter" % name)
    return n


def get_recent_tracks(state, params):
    spec, h = _user(state, params)
    h.recent_request()  # counts the request and applies the scheduled edits that are due
    if spec.private:
        raise ApiError(17, 403)
    limit = _int_param(params, "limit", 50, 1)
    if limit > 200:
        limit = 200
    page = _int_param(params, "page", 1, 0)
    if page == 0:
        page = 1
    if page > 1_000_000:
        raise ApiError(6, 400, "Invalid parameters - page param out of bounds (1-1000000)")
    if state.config.page_fails(spec.name, page):
        raise ApiError(8, 200)
    from_uts = _int_param(params, "from", None)
    to_uts = _int_param(params, "to", None)
    extended = params.get("extended", "0") not in ("0", "", "false")
    neg, sids, lo, hi = h.window(from_uts, to_uts)
    total = hi - lo
    start = lo + (page - 1) * limit
    stop = min(hi, start + limit)
    tracks = []
    if page == 1 and h.now_playing_sid is not None:
        tracks.append(h.item(h.now_playing_sid, None, extended))
    for i in range(start, stop):
        tracks.append(h.item(sids[i], -neg[i], extended))
    if not tracks and spec.legacy_empty and total == 0:
        return 200, {"recenttracks": {"#text": "\n", "user": spec.name, "page": str(page),
                                      "perPage": str(limit), "totalPages": "0", "total": "0"}}
    attr = {"user": spec.name, "totalPages": str(math.ceil(total / limit)), "page": str(page),
            "perPage": str(limit), "total": str(total)}
    return 200, {"recenttracks": {"track": tracks[0] if len(tracks) == 1 else tracks, "@attr": attr}}


def _page_params(params, default_limit=50, max_limit=TOP_MAX_LIMIT):
    limit = min(_int_param(params, "limit", default_limit, 1), max_limit)
    page = _int_param(params, "page", 1, 0) or 1
    if page > 1_000_000:
        raise ApiError(6, 400, "Invalid parameters - page param out of bounds (1-1000000)")
    return limit, page


def _one_or_many(items):
    return items[0] if len(items) == 1 else items


def get_top_artists(state, params):
    spec, h = _user(state, params)
    if spec.private:
        raise ApiError(17, 403)
    period = (params.get("period") or "overall").lower()
    if period not in PERIOD_DAYS:
        raise ApiError(6, 400, "Invalid parameters - Invalid period parameter")
    limit, page = _page_params(params)
    rows = h.top_artists(period)
    total = len(rows)
    if total == 0 and spec.legacy_empty:
        return 200, {"topartists": {"#text": "\n    ", "user": spec.name, "type": period,
                                    "page": str(page), "perPage": str(limit), "totalPages": "0",
                                    "total": "0"}}
    start = (page - 1) * limit
    images = artist_image_list()
    items = []
    for r in rows[start:start + limit]:
        name = r["name"]
        items.append({"name": name, "playcount": str(r["playcount"]), "mbid": r["mbid"],
                      "url": "https://www.last.fm/music/" + _url_part(name), "streamable": "0",
                      "image": images, "@attr": {"rank": str(r["rank"])}})
    attr = {"user": spec.name, "type": period, "page": str(page), "perPage": str(limit),
            "totalPages": str(math.ceil(total / limit)), "total": str(total)}
    return 200, {"topartists": {"artist": _one_or_many(items), "@attr": attr}}


def get_loved_tracks(state, params):
    spec, h = _user(state, params)
    if spec.private:
        raise ApiError(17, 403)
    limit, page = _page_params(params)
    loved = h.loved()
    total = len(loved)
    if total == 0 and spec.legacy_empty:
        return 200, {"lovedtracks": {"#text": "\n", "user": spec.name, "page": str(page),
                                     "perPage": str(limit), "totalPages": "0", "total": "0"}}
    start = (page - 1) * limit
    items = [h.loved_item(cid, uts) for cid, uts in loved[start:start + limit]]
    attr = {"user": spec.name, "page": str(page), "perPage": str(limit),
            "totalPages": str(math.ceil(total / limit)), "total": str(total)}
    return 200, {"lovedtracks": {"track": _one_or_many(items), "@attr": attr}}


def get_info(state, params):
    spec, h = _user(state, params)
    artists, tracks, albums = h.counts()
    return 200, {"user": {
        "name": spec.name, "age": "0", "subscriber": "0", "realname": "", "bootstrap": "0",
        "playcount": str(h.total() + spec.extra_playcount), "artist_count": str(artists),
        "playlists": "0", "track_count": str(tracks), "album_count": str(albums),
        "image": image_list("818148bf682d429dc215c1705eb27b98.png"),
        "registered": {"unixtime": str(h.registered), "#text": h.registered},
        "country": "None", "gender": "n", "url": "https://www.last.fm/user/" + spec.name,
        "type": "user"}}


def _user(state, params):
    name = params.get("user")
    if not name:
        raise ApiError(6, 400)
    spec = state.users.spec(name)
    if spec is None:
        raise ApiError(6, 404, "User not found")
    return spec, state.users.history(spec)


METHODS = {"user.getrecenttracks": get_recent_tracks, "user.getinfo": get_info,
           "user.gettopartists": get_top_artists, "user.getlovedtracks": get_loved_tracks}
FAULTABLE = ("user.getrecenttracks", "user.getinfo", "user.gettopartists", "user.getlovedtracks")


# --------------------------------------------------------------------------------------------
# HTTP

class State:
    def __init__(self, args):
        faults = {}
        for part in (args.faults or "").split(","):
            if part.strip():
                k, _, v = part.partition("=")
                faults[k.strip()] = float(v)
        bad = set(faults) - set(FAULT_NAMES)
        if bad:
            raise SystemExit("unknown faults: %s" % ", ".join(sorted(bad)))
        self.config = Config(args.latency_ms, args.rate_limit, args.stall_seconds, args.seed, faults)
        self.stats = Stats()
        self.users = Users(args.seed)
        self.quiet = args.quiet


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State = None  # set on the subclass

    def version_string(self):
        return "lastfm-standin/1.0"

    # ---- plumbing ------------------------------------------------------------------------
    def log_message(self, fmt, *args):  # default access log disabled; see _log
        pass

    def _log(self, status, t0, extra=""):
        if not self.state.quiet:
            sys.stderr.write("%s %s %d %.0fms%s\n" % (self.command, self.path[:160], status,
                                                      (time.perf_counter() - t0) * 1000, extra))

    def _send(self, status, body: bytes, ctype="application/json; charset=UTF-8"):
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _body(self) -> bytes:
        if self._raw_body is None:
            n = int(self.headers.get("Content-Length") or 0)
            self._raw_body = self.rfile.read(n) if n > 0 else b""
        return self._raw_body

    def _json_body(self):
        raw = self._body()
        if not raw:
            return {}
        return json.loads(raw.decode("utf-8"))

    def do_GET(self):
        self._dispatch()

    def do_HEAD(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def _dispatch(self):
        t0 = time.perf_counter()
        self._raw_body = None
        parts = urlsplit(self.path)
        try:
            self._body()  # always drain the request body (keep-alive connections)
            if parts.path.startswith("/_admin/"):
                status = self._admin(parts)
                self._log(status, t0)
                return
            if parts.path.rstrip("/") in ("/2.0", ""):
                self._api(parts, t0)
                return
            self._send(404, dumps({"error": "not found"}))
            self._log(404, t0)
        except Exception as e:  # never kill the server thread silently
            if not isinstance(e, (BrokenPipeError, ConnectionResetError)):
                import traceback
                traceback.print_exc()
                try:
                    self._send(500, dumps({"error": "stand-in internal error: %s" % e}))
                except Exception:
                    pass

    # ---- Last.fm API ---------------------------------------------------------------------
    def _api(self, parts, t0):
        st = self.state
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        if self.command == "POST":
            ctype = self.headers.get("Content-Type", "")
            raw = self._body()
            if "json" not in ctype:
                params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        method = (params.get("method") or "").lower()
        st.stats.arrival(method if method in METHODS else (method or "(none)"),
                         params.get("user") or "")
        cfg = st.config
        allowed = not cfg.take_error29() and cfg.bucket.take()
        latency = cfg.latency_ms
        if latency > 0:
            time.sleep(latency / 1000.0)
        fault = None
        try:
            if not allowed:
                raise ApiError(29, 429)
            key = params.get("api_key") or ""
            if not key:
                raise ApiError(10, 403)
            if key == "suspended":
                raise ApiError(26, 403)
            if key in ("invalid", "bad", "unknown"):
                raise ApiError(10, 403)
            fn = METHODS.get(method)
            if fn is None:
                raise ApiError(3, 400)
            if method in FAULTABLE:
                fault = cfg.roll_fault()
                if fault is not None:
                    st.stats.inject(fault)
                    if fault == "error8":
                        raise ApiError(8, 200)
                    if fault == "error11":
                        raise ApiError(11, 503)
                    if fault == "error16":
                        raise ApiError(16, 503)
                    if fault == "http5xx":
                        self._send(502, HTML_502, "text/html")
                        st.stats.answered(502, None)
                        self._log(502, t0, " fault=http5xx")
                        return
                    if fault == "stall":
                        time.sleep(cfg.stall_seconds)
            status, obj = fn(st, params)
            body = dumps(obj)
            code = None
        except ApiError as e:
            status, code = e.status, e.code
            body = dumps({"error": e.code, "message": e.message, "links": []})
        if fault == "truncated":
            body = body[: max(1, len(body) // 2)]
        self._send(status, body)
        st.stats.answered(status, code)
        self._log(status, t0, (" fault=%s" % fault if fault else "") + (" error=%d" % code if code else ""))

    # ---- admin ---------------------------------------------------------------------------
    def _admin(self, parts) -> int:
        st = self.state
        path = parts.path.rstrip("/")
        q = dict(parse_qsl(parts.query, keep_blank_values=True))
        cmd = self.command
        try:
            if path == "/_admin/health" and cmd in ("GET", "HEAD"):
                return self._ok({"ok": True})
            if path == "/_admin/stats" and cmd == "GET":
                return self._ok(st.stats.to_json())
            if path == "/_admin/stats/reset" and cmd == "POST":
                self._body()
                st.stats.reset()
                return self._ok(st.stats.to_json())
            if path == "/_admin/config":
                if cmd == "POST":
                    st.config.update(self._json_body())
                elif cmd != "GET":
                    return self._fail(405, "method not allowed")
                return self._ok(st.config.to_json())
            if path == "/_admin/users":
                if cmd == "GET":
                    return self._ok({"users": st.users.list_json()})
                if cmd == "POST":
                    b = self._json_body()
                    name = str(b.get("name") or "")
                    if not name:
                        return self._fail(400, "name is required")
                    artists = b.get("artists")
                    if artists is not None:
                        artists = int(artists)
                    if "scrobbles" in b or artists is None:
                        n = int(b.get("scrobbles", 0))
                    else:
                        n = artists_user_scrobbles(artists)
                    if n < 0 or n > MAX_GEN_SCROBBLES:
                        return self._fail(400, "scrobbles out of range")
                    spec = UserSpec(name, n, int(b.get("seed", 1)), private=b.get("private", False),
                                    legacy_empty=b.get("legacy_empty", False),
                                    now_playing=b.get("now_playing"),
                                    extra_playcount=b.get("extra_playcount"), artists=artists)
                    st.users.put(spec)
                    h = st.users.history(spec)  # generate now so the caller pays the cost
                    d = spec.to_json()
                    d["total_scrobbles"] = h.total()
                    return self._ok(d)
                if cmd == "DELETE":
                    name = str(self._json_body().get("name") or "")
                    if not st.users.delete(name):
                        return self._fail(404, "unknown user")
                    return self._ok({"deleted": name})
            if path == "/_admin/truth" and cmd == "GET":
                spec, h = self._admin_user(q.get("user"))
                if spec is None:
                    return self._fail(404, "unknown user")
                f = int(q["from"]) if q.get("from") else None
                t = int(q["to"]) if q.get("to") else None
                return self._ok(h.truth(f, t))
            if path in ("/_admin/truth/artists", "/_admin/truth/loved") and cmd == "GET":
                spec, h = self._admin_user(q.get("user"))
                if spec is None:
                    return self._fail(404, "unknown user")
                if path.endswith("/loved"):
                    return self._ok(h.loved_truth())
                period = (q.get("period") or "overall").lower()
                if period not in PERIOD_DAYS:
                    return self._fail(400, "unknown period")
                return self._ok(h.artists_truth(period))
            if path == "/_admin/scrobbles" and cmd == "GET":
                spec, h = self._admin_user(q.get("user"))
                if spec is None:
                    return self._fail(404, "unknown user")
                offset = int(q.get("offset") or 0)
                limit = int(q["limit"]) if q.get("limit") else None
                if offset < 0 or (limit is not None and limit < 0):
                    return self._fail(400, "offset and limit must be >= 0")
                total, items = h.list_scrobbles(_opt_int(q, "from"), _opt_int(q, "to"), offset, limit)
                return self._ok({"user": spec.name, "total": total, "scrobbles": items})
            if path == "/_admin/scrobbles" and cmd in ("POST", "DELETE"):
                b = self._json_body()
                spec, h = self._admin_user(b.get("user"))
                if spec is None:
                    return self._fail(404, "unknown user")
                if cmd == "POST":
                    adds = _adds(b.get("scrobbles"))
                    r = h.edit(adds=adds, force=_force(b), now=time.time())
                    return self._ok({"user": spec.name, "added": r["added"], "ignored": r["ignored"],
                                     "total_scrobbles": r["total_scrobbles"]})
                if "scrobbles" in b:
                    r = h.edit(deletes=_deletes(b["scrobbles"]))
                    return self._ok({"user": spec.name, "deleted": r["deleted"],
                                     "missing": r["missing"], "total_scrobbles": r["total_scrobbles"]})
                if not h.edit(deletes=_deletes([b]))["deleted"]:
                    return self._fail(404, "no matching scrobble")
                return self._ok({"user": spec.name, "deleted": 1, "total_scrobbles": h.total()})
            if path == "/_admin/edits":
                if cmd == "GET":
                    spec, h = self._admin_user(q.get("user"))
                elif cmd in ("POST", "DELETE"):
                    b = self._json_body()
                    spec, h = self._admin_user(b.get("user"))
                else:
                    return self._fail(405, "method not allowed")
                if spec is None:
                    return self._fail(404, "unknown user")
                if cmd == "GET":
                    return self._ok(h.edits_json())
                if cmd == "DELETE":
                    return self._ok({"user": spec.name, "cleared": h.clear_edits()})
                n = int(b["after_requests"])
                if n < 0:
                    return self._fail(400, "after_requests must be >= 0")
                adds = _adds(b.get("add"))
                deletes = _deletes(b.get("delete") or [])
                e = h.schedule_edit(n, adds, deletes, _force(b))
                return self._ok({"user": spec.name, **e})
            if path == "/_admin/loved" and cmd in ("POST", "DELETE"):
                b = self._json_body()
                spec, h = self._admin_user(b.get("user"))
                if spec is None:
                    return self._fail(404, "unknown user")
                if not b.get("artist") or not b.get("title"):
                    return self._fail(400, "artist and title are required")
                loved = cmd == "POST"
                uts = int(b.get("uts") or time.time())
                if not h.set_loved(str(b["artist"]), str(b["title"]), loved, uts):
                    return self._fail(404, "no such track")
                return self._ok({"user": spec.name, "loved": loved, "total_loved": len(h.c_loved_uts)})
            return self._fail(404, "unknown admin endpoint %s %s" % (cmd, path))
        except (ValueError, KeyError, TypeError) as e:
            return self._fail(400, "bad request: %s" % e)

    def _admin_user(self, name):
        if not name:
            return None, None
        spec = self.state.users.spec(str(name))
        if spec is None:
            return None, None
        return spec, self.state.users.history(spec)

    def _ok(self, obj) -> int:
        self._send(200, json.dumps(obj, ensure_ascii=False).encode())
        return 200

    def _fail(self, status, msg) -> int:
        self._send(status, json.dumps({"error": msg}).encode())
        return status


def _opt_int(q, name):
    return int(q[name]) if q.get(name) else None


def _force(body):
    f = body.get("force", False)
    if not isinstance(f, bool):
        raise ValueError("force must be true or false")
    return f


def _adds(scrobbles):
    """Validated [(artist, title, album, uts)]; ValueError (400) if one lacks artist, title or uts."""
    out = []
    for x in scrobbles or []:
        if not isinstance(x, dict) or not x.get("artist") or not x.get("title") or "uts" not in x:
            raise ValueError("each scrobble needs artist, title, uts")
        out.append((str(x["artist"]), str(x["title"]), str(x.get("album") or ""), int(x["uts"])))
    return out


def _deletes(scrobbles):
    """Validated [(uts, artist, title)]; ValueError (400) if one lacks uts, artist or title."""
    if not isinstance(scrobbles, list):
        raise ValueError("scrobbles must be a list")
    out = []
    for x in scrobbles:
        if not isinstance(x, dict) or not x.get("artist") or not x.get("title") or "uts" not in x:
            raise ValueError("each scrobble to delete needs uts, artist, title")
        out.append((int(x["uts"]), str(x["artist"]), str(x["title"])))
    return out


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True


def main(argv=None):
    ap = argparse.ArgumentParser(description="Local stand-in for the Last.fm API")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5056, help="0 picks a free port")
    ap.add_argument("--latency-ms", type=float, default=0.0)
    ap.add_argument("--rate-limit", type=float, default=5.0,
                    help="requests/second for all clients together (token bucket); 0 disables")
    ap.add_argument("--seed", type=int, default=1, help="seed of built-in users and fault RNG")
    ap.add_argument("--stall-seconds", type=float, default=25.0)
    ap.add_argument("--faults", default="",
                    help="fault probabilities, e.g. error8=0.01,stall=0.001 (see README)")
    ap.add_argument("--quiet", action="store_true", help="no per-request log lines")
    ap.add_argument("--pregenerate", action="store_true", help="generate built-in users at start")
    args = ap.parse_args(argv)

    state = State(args)
    if args.pregenerate:
        for name in ("demo", "heavy", "empty", "one", "private",
                     *("artists_%d" % a for a in ARTIST_EDGE_USERS)):
            state.users.history(state.users.spec(name))
    handler = type("BoundHandler", (Handler,), {"state": state})
    srv = Server((args.host, args.port), handler)
    host, port = srv.server_address[:2]
    print("lastfm stand-in listening on http://%s:%d" % (host, port), flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
