#!/usr/bin/env python3
"""Local stand-in for Spotify Accounts (accounts.spotify.com) and the Web API (api.spotify.com/v1).
Python 3.11 standard library only.

    python3 infra/standins/spotify.py --host 127.0.0.1 --port 5057 [--client-id local-client]
        [--client-secret local-secret] [--dev-mode] [--access-ttl 3600] [--rate-limit 0] [--quiet]

One server answers both hosts' paths: /authorize and /api/token (Accounts) and /v1/... (Web API), so set
SPOTIFY_ACCOUNTS_URL=http://127.0.0.1:5057 and SPOTIFY_API_URL=http://127.0.0.1:5057/v1.
Admin endpoints live under /_admin/.  See README.md next to this file.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import collections
import hashlib
import html
import json
import math
import os
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from spotify_catalog import CATALOG, RANGES, TYPES, UserSpec, account_id, builtin_users  # noqa: E402

KNOWN_SCOPES = {
    "ugc-image-upload", "user-read-playback-state", "user-modify-playback-state",
    "user-read-currently-playing", "app-remote-control", "streaming", "playlist-read-private",
    "playlist-read-collaborative", "playlist-modify-private", "playlist-modify-public",
    "user-follow-modify", "user-follow-read", "user-read-playback-position", "user-top-read",
    "user-read-recently-played", "user-library-modify", "user-library-read", "user-read-email",
    "user-read-private", "user-soa-link", "user-soa-unlink", "soa-manage-entitlements",
    "soa-manage-partner", "soa-create-partner", "user-personalized",
}
SIX_MONTHS = 183 * 24 * 3600
NOT_REGISTERED = b"User not registered in the Developer Dashboard"


def api_dumps(obj) -> bytes:
    # api.spotify.com answers pretty-printed JSON with `"key" : value` separators.
    return json.dumps(obj, ensure_ascii=False, indent=2, separators=(",", " : ")).encode("utf-8")


def accounts_dumps(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class ApiError(Exception):
    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class TokenError(Exception):
    def __init__(self, status, error, description=None):
        super().__init__(error)
        self.status = status
        self.error = error
        self.description = description


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

    def take(self):
        """Returns None when allowed, else the seconds until a token is available."""
        with self.lock:
            if self.rate <= 0:
                return None
            now = time.monotonic()
            self.tokens = min(self.rate, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return None
            return (1.0 - self.tokens) / self.rate


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.requests = 0
            self.by_path = collections.Counter()
            self.status_counts = collections.Counter()
            self.served_429 = 0
            self.served_5xx_injected = 0
            self.token_exchanges = 0
            self.refreshes = 0
            self.client_credentials = 0
            self.token_errors = collections.Counter()
            self.window = collections.deque()
            self.max_1s = 0
            self.since = time.time()

    def arrival(self, path: str, api: bool):
        now = time.monotonic()
        with self.lock:
            self.requests += 1
            self.by_path[path] += 1
            if api:
                w = self.window
                w.append(now)
                while w and w[0] <= now - 1.0:
                    w.popleft()
                self.max_1s = max(self.max_1s, len(w))

    def answered(self, status: int):
        with self.lock:
            self.status_counts[str(status)] += 1
            if status == 429:
                self.served_429 += 1

    def bump(self, name: str, n: int = 1):
        with self.lock:
            setattr(self, name, getattr(self, name) + n)

    def token_error(self, error: str):
        with self.lock:
            self.token_errors[error] += 1

    def to_json(self):
        with self.lock:
            return {"requests": self.requests, "by_path": dict(self.by_path),
                    "status_counts": dict(self.status_counts), "served_429": self.served_429,
                    "served_5xx_injected": self.served_5xx_injected,
                    "token_exchanges": self.token_exchanges, "refreshes": self.refreshes,
                    "client_credentials": self.client_credentials,
                    "token_errors": dict(self.token_errors),
                    "max_api_requests_in_any_1s": self.max_1s, "since": self.since,
                    "uptime_seconds": round(time.time() - self.since, 3)}


CONFIG_KEYS = ("dev_mode", "access_ttl", "refresh_ttl", "code_ttl", "rotate_refresh", "rate_limit",
               "rate_limit_next", "retry_after", "http5xx_next", "token_http5xx_next", "latency_ms",
               "offset_cutoff", "invalid_client_status", "redirect_uris", "allow_insecure_redirects",
               "dev_allowlist")


class Config:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.bucket = TokenBucket(0)
        self.defaults = {
            "dev_mode": bool(args.dev_mode), "access_ttl": int(args.access_ttl),
            "refresh_ttl": int(args.refresh_ttl), "code_ttl": int(args.code_ttl),
            "rotate_refresh": not args.no_rotate_refresh, "rate_limit": float(args.rate_limit),
            "rate_limit_next": 0, "retry_after": int(args.retry_after), "http5xx_next": 0,
            "token_http5xx_next": 0, "latency_ms": float(args.latency_ms), "offset_cutoff": 50,
            "invalid_client_status": 400, "redirect_uris": list(args.redirect_uri or []),
            "allow_insecure_redirects": bool(args.allow_insecure_redirects), "dev_allowlist": None,
        }
        self.reset()

    def reset(self):
        with self.lock:
            self.values = json.loads(json.dumps(self.defaults))
            self.http5xx_served = 0
        self.bucket.set_rate(self.values["rate_limit"])

    def __getitem__(self, k):
        with self.lock:
            return self.values[k]

    def update(self, body: dict):
        bad = set(body) - set(CONFIG_KEYS)
        if bad:
            raise ValueError("unknown config key(s): %s (known: %s)" % (", ".join(sorted(bad)),
                                                                        ", ".join(CONFIG_KEYS)))
        new = {}
        for k, v in body.items():
            if k in ("dev_mode", "rotate_refresh", "allow_insecure_redirects"):
                if not isinstance(v, bool):
                    raise ValueError("%s must be a boolean" % k)
                new[k] = v
            elif k in ("access_ttl", "refresh_ttl", "code_ttl", "rate_limit_next", "retry_after",
                       "http5xx_next", "token_http5xx_next"):
                n = int(v)
                if n < 0:
                    raise ValueError("%s must be >= 0" % k)
                new[k] = n
            elif k in ("rate_limit", "latency_ms"):
                f = float(v)
                if f < 0:
                    raise ValueError("%s must be >= 0" % k)
                new[k] = f
            elif k == "offset_cutoff":
                new[k] = None if v in (None, 0) else int(v)
                if new[k] is not None and new[k] < 1:
                    raise ValueError("offset_cutoff must be >= 1, 0 or null")
            elif k == "invalid_client_status":
                if int(v) not in (400, 401):
                    raise ValueError("invalid_client_status must be 400 or 401")
                new[k] = int(v)
            elif k == "redirect_uris":
                if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                    raise ValueError("redirect_uris must be a list of strings")
                new[k] = list(v)
            elif k == "dev_allowlist":
                if v is not None and (not isinstance(v, list) or not all(isinstance(x, str) for x in v)):
                    raise ValueError("dev_allowlist must be null or a list of user ids")
                new[k] = None if v is None else list(v)
        with self.lock:
            self.values.update(new)
        if "rate_limit" in new:
            self.bucket.set_rate(new["rate_limit"])

    def take_counter(self, k) -> bool:
        """Decrements a fault counter; True when a fault is due."""
        with self.lock:
            if self.values[k] > 0:
                self.values[k] -= 1
                return True
            return False

    def next_5xx_status(self) -> int:
        with self.lock:
            self.http5xx_served += 1
            return 502 if self.http5xx_served % 2 == 1 else 503

    def to_json(self):
        with self.lock:
            return json.loads(json.dumps(self.values))


class Users:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.specs = {u.id: u for u in builtin_users()}

    def get(self, uid: str, create=False) -> UserSpec | None:
        with self.lock:
            u = self.specs.get(uid)
            if u is None and create:
                u = self.specs[uid] = UserSpec(uid)
            return u

    def put(self, spec: UserSpec):
        with self.lock:
            self.specs[spec.id] = spec

    def list_json(self):
        with self.lock:
            return [u.to_json() for u in self.specs.values()]


class Auth:
    """Clients, authorization codes, refresh tokens and access tokens."""

    def __init__(self, client_id, client_secret):
        self.lock = threading.Lock()
        self.primary = (client_id, client_secret)
        self.reset()

    def reset(self):
        with self.lock:
            self.clients = {self.primary[0]: self.primary[1]}
            self.codes = {}
            self.refresh = {}
            self.access = {}

    @staticmethod
    def _new(prefix, nbytes):
        return prefix + secrets.token_urlsafe(nbytes)

    def issue_code(self, client_id, redirect_uri, user, scope, challenge, ttl):
        code = self._new("AQ", 210)  # real codes are ~300 characters
        with self.lock:
            self.codes[code] = {"client_id": client_id, "redirect_uri": redirect_uri, "user": user,
                                "scope": scope, "challenge": challenge,
                                "expires_at": time.time() + ttl, "used": False}
        return code

    def issue_access(self, client_id, user, scope, ttl):
        tok = self._new("BQ", 190)  # real access tokens are ~250 characters
        with self.lock:
            self.access[tok] = {"client_id": client_id, "user": user, "scope": scope,
                                "expires_at": time.time() + ttl}
        return tok

    def issue_refresh(self, client_id, user, scope, auth_time, pkce):
        tok = self._new("AQ", 98)  # real refresh tokens are ~130 characters
        with self.lock:
            self.refresh[tok] = {"client_id": client_id, "user": user, "scope": scope,
                                 "auth_time": auth_time, "state": "active", "pkce": pkce,
                                 "expired": False}
        return tok


class State:
    def __init__(self, args):
        self.config = Config(args)
        self.stats = Stats()
        self.users = Users()
        self.auth = Auth(args.client_id, args.client_secret)
        self.quiet = args.quiet


# --------------------------------------------------------------------------------------------
# HTTP

def _norm_path(path: str) -> str:
    p = path.rstrip("/") or "/"
    if p in ("/authorize", "/api/token", "/v1/me", "/v1/me/top/artists", "/v1/me/top/tracks"):
        return p
    if p.startswith("/v1/"):
        return "/v1/(other)"
    return "(other)"


def _redirect_with(uri: str, params: dict) -> str:
    sep = "&" if "?" in uri else "?"
    frag = ""
    if "#" in uri:
        uri, frag = uri.split("#", 1)
        frag = "#" + frag
    return uri + sep + urlencode(params, quote_via=quote) + frag


def _error_page(title: str) -> bytes:
    t = html.escape(title)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error</title></head>"
            "<body><div class=\"container\"><h1>Oops! Something went wrong, please try again or check out "
            "our help area.</h1><p class=\"error-message\">%s</p></div></body></html>\n" % t).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State = None  # set on the subclass

    def version_string(self):
        return "spotify-standin/1.0"

    def log_message(self, fmt, *args):
        pass

    def _log(self, status, t0, extra=""):
        if not self.state.quiet:
            sys.stderr.write("%s %s %d %.0fms%s\n" % (self.command, self.path[:160], status,
                                                      (time.perf_counter() - t0) * 1000, extra))

    def _send(self, status, body: bytes, ctype="application/json; charset=utf-8", headers=None):
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
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
        if not raw.strip():
            return {}
        obj = json.loads(raw.decode("utf-8"))
        if not isinstance(obj, dict):
            raise ValueError("body must be a JSON object")
        return obj

    def _base(self) -> str:
        host = self.headers.get("Host")
        if not host:
            h, p = self.server.server_address[:2]
            host = "%s:%d" % (h, p)
        return "http://" + host

    def do_GET(self):
        self._dispatch()

    def do_HEAD(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def _dispatch(self):
        t0 = time.perf_counter()
        self._raw_body = None
        parts = urlsplit(self.path)
        try:
            self._body()  # always drain the request body (keep-alive connections)
            path = parts.path
            if path.startswith("/_admin/"):
                status = self._admin(parts)
                self._log(status, t0)
                return
            norm = _norm_path(path)
            is_api = path == "/v1" or path.startswith("/v1/")
            self.state.stats.arrival(norm, is_api)
            if is_api:
                status = self._api(parts)
            elif norm == "/authorize":
                status = self._authorize(parts)
            elif norm == "/api/token":
                status = self._token(parts)
            else:
                status = 404
                self._send(404, _error_page("Page not found"), "text/html; charset=utf-8")
            self.state.stats.answered(status)
            self._log(status, t0)
        except Exception as e:  # never kill the server thread silently
            if not isinstance(e, (BrokenPipeError, ConnectionResetError)):
                import traceback
                traceback.print_exc()
                try:
                    self._send(500, accounts_dumps({"error": "stand-in internal error: %s" % e}))
                except Exception:
                    pass

    # ---- Accounts: /authorize ---------------------------------------------------------------
    def _authorize(self, parts) -> int:
        st = self.state
        if self.command not in ("GET", "HEAD", "POST"):
            self._send(405, _error_page("Method not allowed"), "text/html; charset=utf-8")
            return 405
        q = dict(parse_qsl(parts.query, keep_blank_values=True))
        client_id = q.get("client_id", "")
        redirect_uri = q.get("redirect_uri", "")
        with st.auth.lock:
            known = client_id in st.auth.clients
        if not known:
            return self._authorize_page("INVALID_CLIENT: Invalid client", "invalid_client", "Invalid client")
        if not redirect_uri:
            return self._authorize_page("INVALID_CLIENT: Invalid redirect URI", "invalid_client",
                                        "Invalid redirect URI")
        registered = st.config["redirect_uris"]
        if registered:
            if redirect_uri not in registered:
                return self._authorize_page("INVALID_CLIENT: Invalid redirect URI", "invalid_client",
                                            "Invalid redirect URI")
        else:
            u = urlsplit(redirect_uri)
            if not u.scheme or (u.scheme in ("http", "https") and not u.hostname):
                return self._authorize_page("INVALID_CLIENT: Invalid redirect URI", "invalid_client",
                                            "Invalid redirect URI")
            if (u.scheme == "http" and u.hostname not in ("127.0.0.1", "::1")
                    and not st.config["allow_insecure_redirects"]):
                return self._authorize_page("INVALID_CLIENT: Insecure redirect URI", "invalid_client",
                                            "Insecure redirect URI")
        state_param = q.get("state")

        def back(params):
            if state_param is not None:
                params["state"] = state_param
            self._send(302, b"", "text/html; charset=utf-8",
                       {"Location": _redirect_with(redirect_uri, params)})
            return 302

        if q.get("response_type") != "code":
            return back({"error": "unsupported_response_type"})
        scopes = []
        for s in q.get("scope", "").replace("+", " ").split():
            if s not in KNOWN_SCOPES:
                return back({"error": "invalid_scope"})
            if s not in scopes:
                scopes.append(s)
        challenge = None
        if q.get("code_challenge"):
            if q.get("code_challenge_method") != "S256":
                return back({"error": "invalid_request"})
            challenge = q["code_challenge"]
        if q.get("standin_deny") not in (None, "", "0", "false"):
            return back({"error": "access_denied"})
        user = q.get("standin_user") or "spotify-demo"
        st.users.get(user, create=True)
        code = st.auth.issue_code(client_id, redirect_uri, user, " ".join(scopes), challenge,
                                  st.config["code_ttl"])
        return back({"code": code})

    def _authorize_page(self, title, error, description) -> int:
        if "application/json" in (self.headers.get("Accept") or ""):
            self._send(400, accounts_dumps({"error": error, "error_description": description}))
        else:
            self._send(400, _error_page(title), "text/html; charset=utf-8")
        return 400

    # ---- Accounts: /api/token ---------------------------------------------------------------
    def _token(self, parts) -> int:
        st = self.state
        if self.command != "POST":
            self._send(405, _error_page("Method not allowed"), "text/html; charset=utf-8")
            return 405
        if st.config.take_counter("token_http5xx_next"):
            st.stats.bump("served_5xx_injected")
            status = st.config.next_5xx_status()
            self._send(status, _error_page("Service temporarily unavailable"), "text/html; charset=utf-8")
            return status
        lat = st.config["latency_ms"]
        if lat > 0:
            time.sleep(lat / 1000.0)
        ctype = (self.headers.get("Content-Type") or "").lower()
        form = {}
        if "application/x-www-form-urlencoded" in ctype:
            form = dict(parse_qsl(self._body().decode("utf-8", "replace"), keep_blank_values=True))
        try:
            status, obj = self._token_grant(form)
        except TokenError as e:
            st.stats.token_error(e.error)
            obj = {"error": e.error}
            if e.description is not None:
                obj["error_description"] = e.description
            status = e.status
        self._send(status, accounts_dumps(obj), "application/json",
                   {"Cache-Control": "no-cache, no-store, max-age=0", "Pragma": "no-cache"})
        return status

    def _client_auth(self, form):
        """Returns (client_id, authenticated_with_secret)."""
        st = self.state
        bad_status = st.config["invalid_client_status"]
        hdr = self.headers.get("Authorization") or ""
        cid = secret = None
        if hdr:
            scheme, _, cred = hdr.partition(" ")
            if scheme.lower() != "basic":
                raise TokenError(bad_status, "invalid_client", "Invalid client")
            try:
                raw = base64.b64decode(cred.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise TokenError(bad_status, "invalid_client", "Invalid client") from None
            cid, sep, secret = raw.partition(":")
            if not sep:
                raise TokenError(bad_status, "invalid_client", "Invalid client")
        elif form.get("client_id"):
            cid = form["client_id"]
            secret = form.get("client_secret")
        if not cid:
            raise TokenError(bad_status, "invalid_client", "Invalid client")
        with st.auth.lock:
            expected = st.auth.clients.get(cid)
        if expected is None:
            raise TokenError(bad_status, "invalid_client", "Invalid client")
        if secret is None:
            return cid, False  # PKCE public client: allowed only where a code_verifier proves it
        if not secrets.compare_digest(secret, expected):
            raise TokenError(bad_status, "invalid_client", "Invalid client secret")
        return cid, True

    def _token_grant(self, form):
        st = self.state
        cfg = st.config
        grant = form.get("grant_type")
        if not grant:
            raise TokenError(400, "unsupported_grant_type", "grant_type parameter is missing")
        if grant not in ("authorization_code", "refresh_token", "client_credentials"):
            raise TokenError(400, "unsupported_grant_type",
                             "grant_type must be client_credentials, authorization_code or refresh_token")
        cid, with_secret = self._client_auth(form)
        now = time.time()
        auth = st.auth
        if grant == "client_credentials":
            if not with_secret:
                raise TokenError(cfg["invalid_client_status"], "invalid_client", "Invalid client")
            ttl = cfg["access_ttl"]
            tok = auth.issue_access(cid, None, "", ttl)
            st.stats.bump("client_credentials")
            return 200, {"access_token": tok, "token_type": "Bearer", "expires_in": ttl}

        if grant == "authorization_code":
            code = form.get("code")
            if not code:
                raise TokenError(400, "invalid_request", "code must be supplied")
            redirect_uri = form.get("redirect_uri", "")
            with auth.lock:
                rec = auth.codes.get(code)
                if rec is None or rec["used"] or rec["client_id"] != cid:
                    raise TokenError(400, "invalid_grant", "Invalid authorization code")
                if rec["expires_at"] <= now:
                    raise TokenError(400, "invalid_grant", "Authorization code expired")
                if redirect_uri != rec["redirect_uri"]:
                    raise TokenError(400, "invalid_grant", "Invalid redirect URI")
                verifier = form.get("code_verifier")
                if rec["challenge"] is not None:
                    if not verifier:
                        raise TokenError(400, "invalid_request", "code_verifier required")
                    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                    if digest.rstrip(b"=").decode() != rec["challenge"]:
                        raise TokenError(400, "invalid_grant", "code_verifier was incorrect")
                elif not with_secret:
                    raise TokenError(cfg["invalid_client_status"], "invalid_client", "Invalid client")
                rec["used"] = True
            ttl = cfg["access_ttl"]
            at = auth.issue_access(cid, rec["user"], rec["scope"], ttl)
            rt = auth.issue_refresh(cid, rec["user"], rec["scope"], now, rec["challenge"] is not None)
            st.stats.bump("token_exchanges")
            return 200, {"access_token": at, "token_type": "Bearer", "expires_in": ttl,
                         "refresh_token": rt, "scope": rec["scope"]}

        # refresh_token
        rt = form.get("refresh_token")
        if not rt:
            raise TokenError(400, "invalid_request", "refresh_token must be supplied")
        with auth.lock:
            rec = auth.refresh.get(rt)
            if rec is None or rec["client_id"] != cid:
                raise TokenError(400, "invalid_grant", "Invalid refresh token")
            if not with_secret and not rec["pkce"]:
                raise TokenError(cfg["invalid_client_status"], "invalid_client", "Invalid client")
            if rec["state"] == "revoked":
                raise TokenError(400, "invalid_grant", "Refresh token revoked")
            if rec["state"] == "rotated":
                raise TokenError(400, "invalid_grant", "Invalid refresh token")
            if rec["expired"] or now >= rec["auth_time"] + cfg["refresh_ttl"]:
                raise TokenError(400, "invalid_grant", "Refresh token expired")
            rotate = cfg["rotate_refresh"]
            if rotate:
                rec["state"] = "rotated"
        ttl = cfg["access_ttl"]
        at = auth.issue_access(cid, rec["user"], rec["scope"], ttl)
        out = {"access_token": at, "token_type": "Bearer", "expires_in": ttl}
        if rotate:
            out["refresh_token"] = auth.issue_refresh(cid, rec["user"], rec["scope"], rec["auth_time"],
                                                      rec["pkce"])
        out["scope"] = rec["scope"]
        st.stats.bump("refreshes")
        return 200, out

    # ---- Web API ------------------------------------------------------------------------------
    def _api(self, parts) -> int:
        st = self.state
        cfg = st.config
        lat = cfg["latency_ms"]
        if lat > 0:
            time.sleep(lat / 1000.0)
        try:
            if cfg.take_counter("rate_limit_next"):
                raise ApiError(429, "API rate limit exceeded", {"Retry-After": str(cfg["retry_after"])})
            wait = cfg.bucket.take()
            if wait is not None:
                raise ApiError(429, "API rate limit exceeded",
                               {"Retry-After": str(max(1, math.ceil(wait)))})
            if cfg.take_counter("http5xx_next"):
                st.stats.bump("served_5xx_injected")
                status = cfg.next_5xx_status()
                raise ApiError(status, "Bad gateway." if status == 502 else "Service unavailable")
            path = parts.path.rstrip("/")
            routes = ("/v1/me", "/v1/me/top/artists", "/v1/me/top/tracks")
            if path not in routes:
                raise ApiError(404, "Service not found")
            if self.command not in ("GET", "HEAD"):
                raise ApiError(405, "Method not allowed")
            tok = self._bearer()
            user = st.users.get(tok["user"]) if tok["user"] else None
            if user is None:
                raise ApiError(401, "Valid user authentication required")
            dev = cfg["dev_mode"]
            allow = cfg["dev_allowlist"]
            if dev and allow is not None and user.id not in allow:
                self._send(403, NOT_REGISTERED, "text/plain; charset=utf-8")
                return 403
            scopes = set(tok["scope"].split())
            api = self._base() + "/v1"
            if path == "/v1/me":
                body = self._me(user, scopes, api, dev)
            else:
                if "user-top-read" not in scopes:
                    raise ApiError(403, "Insufficient client scope")
                typ = path.rsplit("/", 1)[1]
                body = self._top(user, typ, dict(parse_qsl(parts.query, keep_blank_values=True)), api, dev)
            self._send(200, api_dumps(body))
            return 200
        except ApiError as e:
            self._send(e.status, api_dumps({"error": {"status": e.status, "message": e.message}}),
                       headers=e.headers)
            return e.status

    def _bearer(self):
        hdr = self.headers.get("Authorization")
        if not hdr or not hdr.strip():
            raise ApiError(401, "No token provided")
        scheme, _, tok = hdr.strip().partition(" ")
        if scheme.lower() != "bearer" or not tok.strip():
            raise ApiError(400, "Only valid bearer authentication supported")
        auth = self.state.auth
        with auth.lock:
            rec = auth.access.get(tok.strip())
            rec = dict(rec) if rec else None
        if rec is None:
            raise ApiError(401, "Invalid access token", {
                "WWW-Authenticate": 'Bearer realm="spotify", error="invalid_token", '
                                    'error_description="Invalid access token"'})
        if rec["expires_at"] <= time.time():
            raise ApiError(401, "The access token expired", {
                "WWW-Authenticate": 'Bearer realm="spotify", error="invalid_token", '
                                    'error_description="The access token expired"'})
        return rec

    def _me(self, user: UserSpec, scopes, api, dev):
        uid = quote(user.id, safe="")
        images = []
        if user.demo:
            h = hashlib.sha1(user.id.encode()).hexdigest()[:32]
            images = [{"url": "https://i.scdn.co/image/ab67757000003b82" + h, "height": 300, "width": 300},
                      {"url": "https://i.scdn.co/image/ab6775700000ee85" + h, "height": 64, "width": 64}]
        me = {}
        if "user-read-private" in scopes:
            me["country"] = user.country
        me["display_name"] = user.display_name
        if "user-read-email" in scopes:
            me["email"] = user.email
        if "user-read-private" in scopes:
            me["explicit_content"] = {"filter_enabled": False, "filter_locked": False}
        me["external_urls"] = {"spotify": "https://open.spotify.com/user/" + uid}
        me["followers"] = {"href": None, "total": 3 if user.demo else 0}
        me["href"] = api + "/users/" + uid
        me["id"] = user.id
        me["images"] = images
        if "user-read-private" in scopes:
            me["product"] = user.product
        me["type"] = "user"
        me["uri"] = "spotify:user:" + user.id
        me["account_id"] = account_id(user.id)
        if dev:  # February 2026 Development Mode: these user fields are gone
            for k in ("country", "email", "explicit_content", "followers", "product"):
                me.pop(k, None)
        return me

    def _top(self, user: UserSpec, typ, q, api, dev):
        rng = q.get("time_range") or "medium_term"
        if rng not in RANGES:
            raise ApiError(400, "Invalid time range")
        limit = self._int_param(q, "limit", 20, "Invalid limit")
        if not 1 <= limit <= 50:
            raise ApiError(400, "Invalid limit")
        offset = self._int_param(q, "offset", 0, "Invalid offset")
        if offset < 0:
            raise ApiError(400, "Invalid offset")
        base = api + "/me/top/" + typ

        def url(lim, off):
            return "%s?limit=%d&offset=%d&time_range=%s" % (base, lim, off, rng)

        cutoff = self.state.config["offset_cutoff"]
        if cutoff is not None and offset >= cutoff:
            # Real quirk: offset >= 50 answers an empty page with limit 0, total 0 and offset reset to 50.
            href = url(0, cutoff)
            return {"href": href, "items": [], "limit": 0, "next": None, "offset": cutoff,
                    "previous": href, "total": 0}
        keys = user.top(typ, rng)
        total = len(keys)
        page = keys[offset: offset + limit]
        if typ == "artists":
            items = [CATALOG.artist_object(k, api, dev) for k in page]
        else:
            items = [CATALOG.track_object(k, api, dev) for k in page]
        return {"href": url(limit, offset), "items": items, "limit": limit,
                "next": url(limit, offset + limit) if offset + limit < total else None,
                "offset": offset,
                "previous": url(limit, max(0, offset - limit)) if offset > 0 else None,
                "total": total}

    @staticmethod
    def _int_param(q, name, default, message):
        v = q.get(name)
        if v is None or v == "":
            return default
        try:
            return int(v)
        except ValueError:
            raise ApiError(400, message) from None

    # ---- admin --------------------------------------------------------------------------------
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
                st.stats.reset()
                return self._ok(st.stats.to_json())
            if path == "/_admin/config":
                if cmd == "POST":
                    st.config.update(self._json_body())
                elif cmd != "GET":
                    return self._fail(405, "method not allowed")
                return self._ok(st.config.to_json())
            if path == "/_admin/reset" and cmd == "POST":
                st.config.reset()
                st.auth.reset()
                st.users.reset()
                st.stats.reset()
                return self._ok({"ok": True, "config": st.config.to_json()})
            if path == "/_admin/revoke" and cmd == "POST":
                return self._admin_revoke(self._json_body())
            if path == "/_admin/expire" and cmd == "POST":
                return self._admin_expire(self._json_body())
            if path == "/_admin/users":
                if cmd == "GET":
                    return self._ok({"users": st.users.list_json()})
                if cmd == "POST":
                    return self._admin_user(self._json_body())
            if path == "/_admin/top" and cmd == "GET":
                return self._admin_top(q)
            if path == "/_admin/tokens" and cmd == "GET":
                return self._admin_tokens(q.get("user"))
            if path == "/_admin/clients":
                if cmd == "POST":
                    b = self._json_body()
                    cid, sec = str(b.get("client_id") or ""), str(b.get("client_secret") or "")
                    if not cid or not sec:
                        return self._fail(400, "client_id and client_secret are required")
                    with st.auth.lock:
                        st.auth.clients[cid] = sec
                with st.auth.lock:
                    return self._ok({"clients": sorted(st.auth.clients)})
            return self._fail(404, "unknown admin endpoint %s %s" % (cmd, path))
        except (ValueError, KeyError, TypeError) as e:
            return self._fail(400, "bad request: %s" % e)

    def _admin_revoke(self, b) -> int:
        auth = self.state.auth
        rt, user = b.get("refresh_token"), b.get("user")
        if not rt and not user:
            return self._fail(400, "refresh_token or user is required")
        n = 0
        with auth.lock:
            for tok, rec in auth.refresh.items():
                if (rt and tok == rt) or (user and rec["user"] == user):
                    if rec["state"] == "active":
                        n += 1
                    if rec["state"] != "rotated":
                        rec["state"] = "revoked"
        if rt and not n and rt not in auth.refresh:
            return self._fail(404, "unknown refresh token")
        return self._ok({"revoked": n})

    def _admin_expire(self, b) -> int:
        auth = self.state.auth
        user = b.get("user")
        if not user:
            return self._fail(400, "user is required")
        now = time.time()
        na = nr = 0
        with auth.lock:
            for rec in auth.access.values():
                if rec["user"] == user and rec["expires_at"] > now:
                    rec["expires_at"] = now - 1
                    na += 1
            if b.get("refresh"):
                for rec in auth.refresh.values():
                    if rec["user"] == user and rec["state"] == "active" and not rec["expired"]:
                        rec["expired"] = True
                        nr += 1
        return self._ok({"user": user, "expired_access_tokens": na, "expired_refresh_tokens": nr})

    def _admin_user(self, b) -> int:
        uid = str(b.get("id") or "")
        if not uid:
            return self._fail(400, "id is required")
        totals = {}
        for t in TYPES:
            v = b.get(t + "_total")
            if v is not None:
                if isinstance(v, dict):
                    totals[t] = v
                else:
                    totals[t] = int(v)
        spec = UserSpec(uid, b["display_name"] if "display_name" in b else ..., short_term_empty=b.get("short_term_empty", False),
                        totals=totals, duplicates=b.get("duplicates", True),
                        country=b.get("country", "GB"), product=b.get("product", "premium"),
                        email=b.get("email"))
        self.state.users.put(spec)
        return self._ok(spec.to_json())

    def _admin_top(self, q) -> int:
        uid = q.get("user") or "spotify-demo"
        user = self.state.users.get(uid)
        if user is None:
            return self._fail(404, "unknown user")
        typ = q.get("type") or "artists"
        rng = q.get("time_range") or "medium_term"
        if typ not in TYPES or rng not in RANGES:
            return self._fail(400, "type must be artists|tracks and time_range short_term|medium_term|long_term")
        keys = user.top(typ, rng)
        first = {}
        items = []
        for i, k in enumerate(keys):
            if typ == "artists":
                rec = CATALOG.artists[k]
                item = {"rank": i + 1, "id": rec["id"], "name": rec["name"]}
            else:
                rec = CATALOG.tracks[k]
                item = {"rank": i + 1, "id": rec["id"], "name": rec["name"],
                        "artists": [CATALOG.artists[CATALOG.by_name[a]]["name"] for a in rec["artists"]],
                        "artist_ids": [CATALOG.artists[CATALOG.by_name[a]]["id"] for a in rec["artists"]],
                        "album": rec["album"]["name"]}
            item["duplicate_of"] = first.get(k)
            first.setdefault(k, i + 1)
            items.append(item)
        cutoff = self.state.config["offset_cutoff"]
        reachable = len(keys) if cutoff is None else min(len(keys), cutoff - 1 + 50)
        return self._ok({"user": uid, "type": typ, "time_range": rng, "total": len(keys),
                         "distinct": len(first), "reachable": reachable, "items": items})

    def _admin_tokens(self, user) -> int:
        auth = self.state.auth
        now = time.time()
        out = {"access_tokens": collections.Counter(), "refresh_tokens": collections.Counter(),
               "codes": collections.Counter()}
        with auth.lock:
            for rec in auth.access.values():
                if user is None or rec["user"] == user:
                    out["access_tokens"]["valid" if rec["expires_at"] > now else "expired"] += 1
            for rec in auth.refresh.values():
                if user is None or rec["user"] == user:
                    s = rec["state"]
                    if s == "active" and rec["expired"]:
                        s = "expired"
                    out["refresh_tokens"][s] += 1
            for rec in auth.codes.values():
                if user is None or rec["user"] == user:
                    out["codes"]["used" if rec["used"] else
                                 ("expired" if rec["expires_at"] <= now else "unused")] += 1
        return self._ok({"user": user, **{k: dict(v) for k, v in out.items()}})

    def _ok(self, obj) -> int:
        self._send(200, json.dumps(obj, ensure_ascii=False).encode("utf-8"))
        return 200

    def _fail(self, status, msg) -> int:
        self._send(status, json.dumps({"error": msg}).encode())
        return status


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True


def main(argv=None):
    ap = argparse.ArgumentParser(description="Local stand-in for Spotify Accounts + Web API")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5057, help="0 picks a free port")
    ap.add_argument("--client-id", default="local-client")
    ap.add_argument("--client-secret", default="local-secret")
    ap.add_argument("--dev-mode", action="store_true",
                    help="Development Mode: no popularity/genres/followers on artists, no popularity on tracks")
    ap.add_argument("--access-ttl", type=int, default=3600, help="access token lifetime, seconds")
    ap.add_argument("--refresh-ttl", type=int, default=SIX_MONTHS,
                    help="refresh token lifetime from the original authorization, seconds")
    ap.add_argument("--code-ttl", type=int, default=600, help="authorization code lifetime, seconds")
    ap.add_argument("--no-rotate-refresh", action="store_true",
                    help="refresh responses carry no refresh_token; the old one stays valid")
    ap.add_argument("--rate-limit", type=float, default=0.0,
                    help="Web API requests/second for all clients together (token bucket); 0 disables")
    ap.add_argument("--retry-after", type=int, default=1, help="Retry-After seconds of rate_limit_next 429s")
    ap.add_argument("--redirect-uri", action="append",
                    help="registered redirect URI (repeatable); none registered = any secure one is accepted")
    ap.add_argument("--allow-insecure-redirects", action="store_true",
                    help="accept http:// redirect URIs on hosts other than 127.0.0.1 / [::1]")
    ap.add_argument("--latency-ms", type=float, default=0.0)
    ap.add_argument("--quiet", action="store_true", help="no per-request log lines")
    args = ap.parse_args(argv)

    state = State(args)
    handler = type("BoundHandler", (Handler,), {"state": state})
    srv = Server((args.host, args.port), handler)
    host, port = srv.server_address[:2]
    print("spotify stand-in listening on http://%s:%d" % (host, port), flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
