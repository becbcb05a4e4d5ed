// The My Data page (see docs/FRONTEND.md). Plain ES module, no framework, no build step.
// Every URL is relative: the page lives at <API_URL>/ (behind a stage or emulator prefix).

"use strict";

// ---------------------------------------------------------------------------------------------
// Small helpers

const $ = (id) => document.getElementById(id);

/** Creates an element: h("li", {class: "row", dataset: {key}}, child, "text", ...). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";
/** An inline SVG icon from path data (decorative: hidden from assistive technology). */
function icon(name, cls = "icon") {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", cls);
  for (const d of ICONS[name]) {
    if (d.text) {
      const t = document.createElementNS(SVG_NS, "text");
      for (const [k, v] of Object.entries({ x: "12", y: "16.6", "text-anchor": "middle", "font-size": "11.5", "font-weight": "700", fill: "#fff", "font-family": "system-ui, sans-serif" })) t.setAttribute(k, v);
      t.textContent = d.text;
      svg.append(t);
      continue;
    }
    const p = document.createElementNS(SVG_NS, "path");
    p.setAttribute("d", d.d);
    if (d.fill) p.setAttribute("fill", d.fill);
    if (d.stroke) {
      p.setAttribute("fill", "none");
      p.setAttribute("stroke", d.color || "currentColor");
      p.setAttribute("stroke-width", d.stroke);
      p.setAttribute("stroke-linecap", "round");
      p.setAttribute("stroke-linejoin", "round");
    }
    svg.append(p);
  }
  return svg;
}

const ICONS = {
  heart: [{ d: "M12 21s-7.5-4.6-9.6-9.2C.9 8.4 3 4.5 6.7 4.5c2.1 0 3.6 1.2 4.3 2.5.7-1.3 2.2-2.5 4.3-2.5 3.7 0 5.8 3.9 4.3 7.3C19.5 16.4 12 21 12 21z", fill: "currentColor" }],
  mic: [
    { d: "M12 2a3.5 3.5 0 0 0-3.5 3.5v6a3.5 3.5 0 0 0 7 0v-6A3.5 3.5 0 0 0 12 2z", fill: "currentColor" },
    { d: "M5.5 11a6.5 6.5 0 0 0 13 0M12 17.5V21", stroke: "2" },
  ],
  star: [{ d: "M12 2.8l2.8 5.8 6.3.9-4.6 4.4 1.1 6.3L12 17.2l-5.6 3 1.1-6.3L2.9 9.5l6.3-.9z", fill: "currentColor" }],
  x: [{ d: "M6 6l12 12M18 6L6 18", stroke: "2.2" }],
  alert: [{ d: "M12 3l10 18H2zM12 10v4M12 17.5v.5", stroke: "2" }],
  check: [{ d: "M4 12.5l5 5L20 6.5", stroke: "2.4" }],
  spotify: [
    { d: "M12 1.5a10.5 10.5 0 1 0 0 21 10.5 10.5 0 0 0 0-21z", fill: "currentColor" },
    { d: "M6.5 9.2c3.8-1.1 8-.8 11.2 1M7.2 12.5c3.1-.9 6.5-.6 9.1.9M7.9 15.6c2.5-.6 5-.4 7 .7", stroke: "1.7", color: "#fff" },
  ],
  lastfm: [
    { d: "M4 1.5h16A2.5 2.5 0 0 1 22.5 4v16a2.5 2.5 0 0 1-2.5 2.5H4A2.5 2.5 0 0 1 1.5 20V4A2.5 2.5 0 0 1 4 1.5z", fill: "currentColor" },
    { text: "fm" },
  ],
};

const NF = new Intl.NumberFormat();
const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const DATE = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const RELATIVE = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const PLURAL = new Intl.PluralRules("en");

const fmtNum = (n) => NF.format(n);
const plural = (n, one, many) => `${fmtNum(n)} ${PLURAL.select(n) === "one" ? one : many}`;

function parseDate(s) {
  if (!s) return null;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? null : d;
}
const fmtDateTime = (s) => { const d = parseDate(s); return d ? DATE_TIME.format(d) : ""; };
const fmtDate = (s) => { const d = parseDate(s); return d ? DATE.format(d) : ""; };

/** "5 minutes ago", "yesterday", ... in the browser's language. */
function fmtAgo(s) {
  const d = parseDate(s);
  if (!d) return "";
  const secs = Math.round((d.getTime() - Date.now()) / 1000);
  const abs = Math.abs(secs);
  if (abs < 45) return "just now";
  if (abs < 45 * 60) return RELATIVE.format(Math.round(secs / 60), "minute");
  if (abs < 22 * 3600) return RELATIVE.format(Math.round(secs / 3600), "hour");
  if (abs < 26 * 86400) return RELATIVE.format(Math.round(secs / 86400), "day");
  return DATE.format(d);
}

const UNIT_FORMATS = {};
function fmtUnit(n, unit) {
  UNIT_FORMATS[unit] ??= new Intl.NumberFormat(undefined, { style: "unit", unit, unitDisplay: "long" });
  return UNIT_FORMATS[unit].format(n);
}
/** A duration in seconds as words: "45 seconds", "3 minutes", "1 hour 5 minutes". */
function fmtDuration(total) {
  const s = Math.max(0, Math.round(Number(total) || 0));
  if (s < 60) return fmtUnit(s, "second");
  if (s < 3600) {
    const m = Math.floor(s / 60), r = s % 60;
    return m < 10 && r ? `${fmtUnit(m, "minute")} ${fmtUnit(r, "second")}` : fmtUnit(Math.round(s / 60), "minute");
  }
  const hr = Math.floor(s / 3600), m = Math.round((s % 3600) / 60);
  return m ? `${fmtUnit(hr, "hour")} ${fmtUnit(m, "minute")}` : fmtUnit(hr, "hour");
}

/** API messages are lowercase fragments ("connect Last.fm before syncing"): make them sentences. */
function sentence(msg) {
  let s = String(msg || "").trim();
  if (!s) return "Something went wrong.";
  s = s[0].toUpperCase() + s.slice(1);
  return /[.!?…]["'”’)\]]*$/.test(s) ? s : `${s}.`;
}

/** show(el) shows; show(el, cond) shows when cond is truthy (undefined hides). */
function show(el, ...on) { el.hidden = on.length ? !on[0] : false; }

const SOURCE_LABELS = { spotify: "Spotify", lastfm: "Last.fm", manual: "Manual", quiz: "Quiz" };
const TIME_RANGES = { short_term: "last 4 weeks", medium_term: "last 6 months", long_term: "all time" };
const SERVICE_NAMES = { lastfm: "Last.fm", spotify: "Spotify" };

// ---------------------------------------------------------------------------------------------
// Session (sessionStorage: gone when the tab closes)

const SESSION_KEY = "karaoke.session";
const PKCE_KEY = "karaoke.pkce";

const session = {
  get() {
    try {
      const s = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
      if (!s || typeof s.token !== "string" || !s.token) return null;
      if (s.expires_at && Date.now() > s.expires_at - 30_000) { this.clear(); return null; }
      return s;
    } catch { return null; }
  },
  set(s) { sessionStorage.setItem(SESSION_KEY, JSON.stringify(s)); },
  clear() { sessionStorage.removeItem(SESSION_KEY); },
};

// ---------------------------------------------------------------------------------------------
// API client

class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

let sessionAbort = new AbortController();
const REQUEST_TIMEOUT_MS = 30_000;

function statusMessage(status) {
  if (status === 401) return "Your session has ended. Please sign in again.";
  if (status === 403) return "You are not allowed to do that.";
  if (status === 404) return "Not found.";
  if (status === 429) return "Too many requests. Please wait a moment and try again.";
  if (status >= 500) return "The server had a problem. Please try again in a moment.";
  return `The request failed (HTTP ${status}).`;
}

/**
 * Calls the API. Resolves with the parsed JSON body on 2xx; rejects with an ApiError whose
 * message is the API's own message as a sentence. A 401 on a signed-in call signs the user out.
 */
async function api(method, path, body, { auth = true } = {}) {
  const headers = { Accept: "application/json" };
  const s = auth ? session.get() : null;
  if (auth && !s) {
    // The token ran out (or was removed in another tab): back to the sign-in screen.
    if (state.signedIn) signOut("Your session has ended. Please sign in again.");
    throw new ApiError(401, "aborted", "Signed out.");
  }
  if (s) headers.Authorization = `Bearer ${s.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  const aborted = sessionAbort.signal;
  // A request that hangs ends in an error the person can act on, not an endless spinner.
  const signal = typeof AbortSignal.any === "function" && typeof AbortSignal.timeout === "function"
    ? AbortSignal.any([aborted, AbortSignal.timeout(REQUEST_TIMEOUT_MS)])
    : aborted;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      signal,
    });
  } catch (e) {
    if (aborted.aborted) throw new ApiError(0, "aborted", "Cancelled.");
    if (e && e.name === "TimeoutError") {
      throw new ApiError(0, "timeout", "The server took too long to answer. Please try again.");
    }
    throw new ApiError(0, "network", "We couldn't reach the server. Check your connection and try again.");
  }
  const text = await res.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch { data = null; } }
  if (res.ok) return data ?? {};
  const err = data && typeof data.error === "object" ? data.error : null;
  const code = (err && err.code) || `http_${res.status}`;
  let message = err && err.message ? sentence(err.message) : statusMessage(res.status);
  if (code === "not_found" && /^no route for/i.test(err?.message || "")) {
    message = "This server doesn't offer this yet.";
  }
  const error = new ApiError(res.status, code, message, data);
  if (res.status === 401 && auth) {
    if (state.signedIn) signOut("Your session has ended. Please sign in again.");
    throw new ApiError(401, "aborted", message, data);
  }
  throw error;
}

const isAbort = (e) => e instanceof ApiError && e.code === "aborted";
const isMissingRoute = (e) => e instanceof ApiError && e.status === 404 && /doesn't offer/.test(e.message);

// ---------------------------------------------------------------------------------------------
// Page state

const state = {
  config: null,          // GET api/config (or a fallback when the route is missing)
  services: null,        // {lastfm: {...}, spotify: {...}} or null when unknown
  servicesError: null,
  job: undefined,        // latest sync job view; null = never synced; undefined = not loaded
  summary: null,
  polling: null,         // timer id while following a sync
  followedJob: null,     // job id whose completion we should announce
  signedIn: false,
  justFinished: false,   // the strip shows "Sync complete." until the next sync starts
  lastAnnounced: "",
};

function setNotice(text, kind = "info") {
  const n = $("notice");
  $("notice-text").textContent = text;
  n.className = `notice notice-${kind}`;
  show(n, Boolean(text));
}

/** A loading line, or an error with a Retry button, in a list-state container. */
function renderState(el, { loading, error, empty, retry, action } = {}) {
  el.replaceChildren();
  el.className = "list-state";
  if (loading) {
    el.append(h("span", { class: "spinner", "aria-hidden": "true" }), ` ${loading}`);
    el.classList.add("is-loading");
  } else if (error) {
    el.classList.add("is-error");
    el.append(h("p", { class: "message message-error" }, icon("alert"), h("span", {}, error)));
    if (retry) el.append(h("button", { type: "button", class: "btn btn-small", onclick: retry }, "Try again"));
  } else if (empty) {
    el.classList.add("is-empty");
    el.append(h("p", { class: "empty" }, empty));
    if (action) el.append(action);
  }
}

// ---------------------------------------------------------------------------------------------
// Sign-in

async function loadConfig() {
  try {
    const cfg = await api("GET", "api/config", undefined, { auth: false });
    return { cognito: cfg.cognito || null, known: true };
  } catch (e) {
    return { cognito: null, known: false, error: e };
  }
}

function cognitoBase(domain) {
  const d = String(domain).replace(/\/+$/, "");
  return /^https?:\/\//.test(d) ? d : `https://${d}`;
}
function cognitoRedirectUri() {
  return state.config?.cognito?.redirect_uri || `${location.origin}${location.pathname}`;
}

function b64url(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function jwtClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(Array.from(atob(part), (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`).join(""));
    return JSON.parse(json);
  } catch { return {}; }
}

async function startCognitoSignIn() {
  const c = state.config.cognito;
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  const challenge = b64url(new Uint8Array(digest));
  const st = b64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state: st, at: Date.now() }));
  const url = new URL(`${cognitoBase(c.domain)}/oauth2/authorize`);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: c.client_id,
    redirect_uri: cognitoRedirectUri(),
    scope: c.scopes || "openid email",
    state: st,
    code_challenge: challenge,
    code_challenge_method: "S256",
  }).toString();
  location.assign(url.toString());
}

/** Back from the hosted sign-in with ?code=&state=: exchange the code (PKCE) for tokens. */
async function finishCognitoSignIn(params) {
  const c = state.config.cognito;
  const saved = JSON.parse(sessionStorage.getItem(PKCE_KEY) || "null");
  sessionStorage.removeItem(PKCE_KEY);
  if (!saved || saved.state !== params.get("state")) {
    throw new Error("The sign-in answer didn't match a sign-in started in this tab. Please sign in again.");
  }
  const tokenUrl = c.token_endpoint || `${cognitoBase(c.domain)}/oauth2/token`;
  let res;
  try {
    res = await fetch(tokenUrl, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        client_id: c.client_id,
        code: params.get("code"),
        redirect_uri: cognitoRedirectUri(),
        code_verifier: saved.verifier,
      }),
    });
  } catch {
    throw new Error("We couldn't reach the sign-in service. Please try again.");
  }
  const tok = await res.json().catch(() => ({}));
  if (!res.ok || !(tok.access_token || tok.id_token)) {
    throw new Error(sentence(tok.error_description || tok.error || "The sign-in service refused the sign-in"));
  }
  const claims = jwtClaims(tok.id_token || tok.access_token);
  session.set({
    token: tok.access_token || tok.id_token,
    user_id: claims.email || claims["cognito:username"] || claims.username || claims.sub || "you",
    expires_at: Date.now() + (Number(tok.expires_in) || 3600) * 1000,
    method: "cognito",
  });
}

function showSignIn(message) {
  stopPolling();
  show($("boot"), false);
  show($("mydata"), false);
  show($("account"), false);
  show($("signin"));
  const msg = $("signin-message");
  msg.textContent = message || "";
  show(msg, Boolean(message));
  const cfg = state.config || {};
  const cognito = Boolean(cfg.cognito && cfg.cognito.domain && cfg.cognito.client_id);
  show($("signin-cognito"), cognito);
  if (!cognito) {
    msg.textContent = cfg.known === false
      ? "We couldn't reach the server to start sign-in. Please reload the page."
      : "Sign-in is not set up on this server yet. Please try again later.";
    show(msg);
  }
  document.title = "Sign in · karaoke-sync";
}

function signOut(message) {
  state.signedIn = false;
  state.justFinished = false;
  state.followedJob = null;
  session.clear();
  sessionAbort.abort();
  sessionAbort = new AbortController();
  state.services = null;
  state.job = undefined;
  state.summary = null;
  artistsList?.clear();
  songsList?.clear();
  recsList?.clear();
  sungList?.clear();
  closeSurvey();
  $("artists-added").replaceChildren();
  show($("artists-added-wrap"), false);
  setNotice("");
  showSignIn(message);
}

// ---------------------------------------------------------------------------------------------
// Form errors (inline, tied to inputs with aria-describedby)

function setFieldError(input, errorEl, message) {
  errorEl.textContent = message || "";
  show(errorEl, Boolean(message));
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

function setGroupError(fieldset, errorEl, message) {
  errorEl.textContent = message || "";
  show(errorEl, Boolean(message));
  fieldset.classList.toggle("has-error", Boolean(message));
}

// ---------------------------------------------------------------------------------------------
// Rows: pills and badges

function badges(sources) {
  const list = Array.isArray(sources) ? sources : [];
  return h("span", { class: "badges" },
    list.map((s) => h("span", { class: `badge badge-${s}`, dataset: { source: s } }, SOURCE_LABELS[s] || s)));
}

function playsPill(n) {
  if (typeof n !== "number" || n <= 0) return null;
  return h("span", { class: "pill pill-plays" }, plural(n, "play", "plays"));
}

function rankPill(rank, range) {
  if (typeof rank !== "number") return null;
  const period = TIME_RANGES[range];
  return h("span", { class: "pill pill-rank", title: "Your best rank in Spotify's top list" },
    period ? `#${fmtNum(rank)} · ${period}` : `#${fmtNum(rank)}`);
}

function artistKey(name) {
  return String(name).normalize("NFKC").toLowerCase().replace(/\s+/g, " ").trim();
}

function artistRow(item) {
  const sources = Array.isArray(item.sources) ? item.sources : [];
  const manual = item.manual === true || sources.includes("manual");
  const pills = h("span", { class: "pills" },
    playsPill(item.lastfm_playcount),
    typeof item.spotify_popularity === "number"
      ? h("span", { class: "pill pill-pop", title: "Spotify popularity, 0 to 100" }, `Pop: ${fmtNum(item.spotify_popularity)}`)
      : null,
    rankPill(item.spotify_rank, item.spotify_time_range));
  const li = h("li", { class: "row", dataset: { key: artistKey(item.name), name: item.name } },
    h("div", { class: "row-main" },
      h("span", { class: "row-title" }, item.name),
      badges(sources)),
    pills);
  if (manual) {
    li.append(h("button", {
      type: "button",
      class: "btn btn-small btn-ghost row-remove",
      "aria-label": `Remove ${item.name} (added by you)`,
      onclick: (e) => removeArtist(item, e.currentTarget),
    }, icon("x"), h("span", { class: "remove-label" }, "Remove")));
  }
  li._item = item;
  return li;
}

function songRow(item) {
  const sources = Array.isArray(item.sources) ? item.sources : [];
  const meta = [];
  if (item.album) meta.push(item.album);
  if (item.last_scrobbled_at) meta.push(`Last played ${fmtDate(item.last_scrobbled_at)}`);
  const title = h("span", { class: "row-title" },
    h("span", { class: "song-title" }, item.title),
    h("span", { class: "song-sep" }, " - "),
    h("span", { class: "song-artist" }, item.artist));
  const pills = h("span", { class: "pills" },
    playsPill(item.playcount),
    rankPill(item.spotify_rank, item.spotify_time_range),
    typeof item.times_sung === "number" && item.times_sung > 0
      ? h("span", { class: "pill pill-sung" }, `Sung ${fmtNum(item.times_sung)}×`) : null,
    typeof item.rating === "number"
      ? h("span", { class: "pill pill-rating", title: "Your rating" }, icon("star"), `${fmtNum(item.rating)}/5`) : null,
    item.karaoke_available === true
      ? h("span", { class: "pill pill-karaoke karaoke" }, icon("mic"), "Karaoke available") : null);
  const songId = item.karaoke_song_id || null;
  const li = h("li", { class: "row", dataset: songId ? { artist: item.artist, title: item.title, songId } : { artist: item.artist, title: item.title } },
    h("div", { class: "row-main" },
      title,
      item.loved === true
        ? h("span", { class: "loved", title: "You loved this on Last.fm" }, icon("heart"), h("span", { class: "sr-only" }, "Loved"))
        : null,
      badges(sources)),
    meta.length ? h("p", { class: "row-meta" }, meta.join(" · ")) : null,
    pills,
    item.karaoke_available === true && songId
      ? singButton({ song_id: songId, title: item.title, artist: item.artist }) : null);
  li._item = item;
  return li;
}

// ---------------------------------------------------------------------------------------------
// Paged lists: "Show more" button plus infinite scroll inside the list's own box

class PagedList {
  constructor(o) {
    Object.assign(this, o);
    this.pageSize = o.pageSize || 50;
    this.gen = 0;
    this.count = 0;
    this.keys = new Map(); // key -> li (artists: lets a later page replace a "just added" row)
    this.more.addEventListener("click", () => this.load());
    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting) && this.cursor && !this.loading && !this.failed) this.load();
    }, { root: this.box, rootMargin: "0px 0px 120px 0px" });
    this.observer.observe(this.sentinel);
  }

  clear() {
    this.gen += 1;
    this.cursor = null;
    this.started = false;
    this.done = false;
    this.loading = false;
    this.failed = false;
    this.count = 0;
    this.keys.clear();
    this.list.replaceChildren();
    show(this.box, false);
    show(this.more, false);
    this.shown.textContent = "";
    renderState(this.state);
  }

  reset() {
    this.clear();
    this.started = true;
    return this.load();
  }

  async load() {
    if (this.loading || this.done) return;
    this.loading = true;
    this.failed = false;
    const gen = this.gen;
    const first = this.count === 0;
    this.more.disabled = true;
    renderState(this.state, { loading: first ? `Loading your ${this.noun}…` : `Loading more ${this.noun}…` });
    try {
      const q = new URLSearchParams({ ...(this.params?.() || {}), limit: String(this.pageSize) });
      if (this.cursor) q.set("cursor", this.cursor);
      const data = await api("GET", `${this.path}?${q}`);
      if (gen !== this.gen) return;
      this.onData?.(data);
      const items = Array.isArray(data.items) ? data.items : [];
      for (const item of items) {
        const row = this.render(item);
        if (this.key) {
          const k = this.key(item);
          const pinned = this.pinned?.get(k);
          if (pinned) { pinned.remove(); this.pinned.delete(k); this.onPinnedChange?.(); }
          if (this.keys.has(k)) continue;
          this.keys.set(k, row);
        }
        this.list.append(row);
        this.count += 1;
      }
      this.cursor = data.next_cursor || null;
      this.done = !this.cursor;
      renderState(this.state);
      if (this.count === 0 && this.done) {
        show(this.box, false);
        renderState(this.state, this.empty());
      } else {
        show(this.box);
      }
      this.updateFoot();
      if (!this.done) {
        // If the box is not full yet, the sentinel is still visible: observe again to re-check.
        this.observer.unobserve(this.sentinel);
        this.observer.observe(this.sentinel);
      }
    } catch (e) {
      if (isAbort(e) || gen !== this.gen) return;
      this.failed = true;
      renderState(this.state, {
        error: `We couldn't load your ${this.noun}. ${e.message}`,
        retry: () => this.load(),
      });
      this.updateFoot();
    } finally {
      if (gen === this.gen) {
        this.loading = false;
        this.more.disabled = false;
      }
    }
  }

  updateFoot() {
    show(this.more, !this.done && !this.failed);
    this.shown.textContent = this.count
      ? `Showing ${plural(this.count, this.one, this.noun)}${this.done ? " (all of them)" : ""}`
      : "";
  }
}

let artistsList = null;
let songsList = null;
let recsList = null;
let sungList = null;

function connectAction(label) {
  return h("button", { type: "button", class: "btn btn-small", onclick: () => openServices(true) }, label);
}
function syncAction(label) {
  return h("button", { type: "button", class: "btn btn-small", onclick: () => startSync() }, label);
}

function emptyState(kind) {
  const lastfm = state.services?.lastfm;
  const spotify = state.services?.spotify;
  const connected = Boolean(lastfm?.connected || spotify?.connected);
  if (!connected) {
    return {
      empty: kind === "artists"
        ? "Connect Last.fm to see your artists, or add an artist you know below."
        : "Connect Last.fm to see your songs.",
      action: connectAction(kind === "artists" ? "Connect Last.fm" : "Connect a service"),
    };
  }
  if (isActive(state.job)) return { empty: `Your ${kind} will appear here when the sync finishes.` };
  if (state.job === null) return { empty: `Sync to see your ${kind}.`, action: syncAction("Sync now") };
  return { empty: `We didn't find any ${kind} in your connected services yet.` };
}

// ---------------------------------------------------------------------------------------------
// Artists: manual add and remove

function validateArtistName(raw) {
  const name = raw.trim();
  if (!name) return "Enter an artist name.";
  if ([...name].length > 512) return "An artist name can be at most 512 characters.";
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return "An artist name can't contain control characters.";
  return "";
}

async function addArtist(ev) {
  ev.preventDefault();
  const input = $("artist-name");
  const errorEl = $("artist-name-error");
  const status = $("artist-form-status");
  const problem = validateArtistName(input.value);
  if (problem) {
    setFieldError(input, errorEl, problem);
    status.textContent = "";
    input.focus();
    return;
  }
  setFieldError(input, errorEl, "");
  const name = input.value.trim();
  const btn = $("artist-add");
  btn.disabled = true;
  status.textContent = `Adding ${name}…`;
  try {
    const r = await api("POST", "api/me/artists", { name });
    const item = r && typeof r.name === "string" ? r
      : { name, sources: ["manual"], manual: true };
    if (!Array.isArray(item.sources)) item.sources = ["manual"];
    if (!item.sources.includes("manual")) item.sources = [...item.sources, "manual"];
    item.manual = true;
    placeArtist(item);
    input.value = "";
    status.textContent = `Added ${item.name}.`;
    refreshSummary();
  } catch (e) {
    if (isAbort(e)) return;
    status.textContent = "";
    setFieldError(input, errorEl, e.message);
    input.focus();
  } finally {
    btn.disabled = false;
  }
}

/** Shows an added artist: in place when its row is loaded, otherwise under "Just added". */
function placeArtist(item) {
  const k = artistKey(item.name);
  const existing = artistsList.keys.get(k);
  const row = artistRow(item);
  if (existing) {
    existing.replaceWith(row);
    artistsList.keys.set(k, row);
    return;
  }
  if (artistsList.done && artistsList.started) {
    // The whole list is loaded: manual entries sort last, so the new one goes at the end.
    artistsList.list.append(row);
    artistsList.keys.set(k, row);
    artistsList.count += 1;
    show(artistsList.box);
    renderState(artistsList.state);
    artistsList.updateFoot();
    return;
  }
  const old = artistsList.pinned.get(k);
  if (old) old.replaceWith(row); else $("artists-added").append(row);
  artistsList.pinned.set(k, row);
  updatePinned();
}

function updatePinned() {
  show($("artists-added-wrap"), $("artists-added").children.length > 0);
}

async function removeArtist(item, btn) {
  const status = $("artist-form-status");
  btn.disabled = true;
  status.textContent = `Removing ${item.name}…`;
  try {
    await api("DELETE", `api/me/artists?${new URLSearchParams({ name: item.name })}`);
    const k = artistKey(item.name);
    const row = btn.closest("li");
    const others = (item.sources || []).filter((s) => s !== "manual");
    if (others.length && row && row.parentElement === artistsList.list) {
      // Still known from another source: keep the row without the Manual badge.
      const next = artistRow({ ...item, sources: others, manual: false });
      row.replaceWith(next);
      artistsList.keys.set(k, next);
    } else if (row) {
      row.remove();
      if (artistsList.pinned.get(k) === row) artistsList.pinned.delete(k);
      else if (artistsList.keys.get(k) === row) { artistsList.keys.delete(k); artistsList.count -= 1; artistsList.updateFoot(); }
      updatePinned();
    }
    status.textContent = `Removed ${item.name}.`;
    $("artist-name").focus();
    refreshSummary();
  } catch (e) {
    if (isAbort(e)) return;
    btn.disabled = false;
    status.textContent = `We couldn't remove ${item.name}. ${e.message}`;
  }
}


// ---------------------------------------------------------------------------------------------
// Singing: "Sing it!", the "How was it?" survey, My Favorites and Recommendations

const NOTES_MAX = 500;
const RANGE_WORDS = { comfortable: "Comfortable", too_high: "Too high", too_low: "Too low" };
const CROWD_WORDS = { loved_it: "Crowd loved it", liked_it: "Crowd liked it", neutral: "Crowd neutral", flat: "Fell flat" };

// One id per opened survey: a retry after a lost answer sends the same id, so the performance
// counts once (the API answers 200 "duplicate" instead of recording it again).
const SURVEY = { song: null, requestId: null, opener: null, saving: false };

function newRequestId() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  return b64url(crypto.getRandomValues(new Uint8Array(16)));
}

function singButton(song) {
  return h("button", {
    type: "button",
    class: "btn btn-small btn-sing",
    "aria-label": `Sing it! ${song.title} - ${song.artist}`,
    dataset: { songId: song.song_id },
    onclick: (e) => openSurvey(song, e.currentTarget),
  }, icon("mic"), "Sing it!");
}

function sungPills(s) {
  if (!s || typeof s.times_sung !== "number" || s.times_sung <= 0) return [];
  return [
    h("span", { class: "pill pill-sung" }, `Sung ${fmtNum(s.times_sung)}×`),
    typeof s.rating === "number"
      ? h("span", { class: "pill pill-rating", title: "Your rating" }, icon("star"), `${fmtNum(s.rating)}/5`) : null,
  ];
}

function openSurvey(song, opener) {
  const dlg = $("survey");
  const form = $("survey-form");
  form.reset();
  SURVEY.song = song;
  SURVEY.requestId = newRequestId();
  SURVEY.opener = opener || null;
  SURVEY.saving = false;
  $("survey-song").textContent = `${song.title} - ${song.artist}`;
  $("survey-notes-count").textContent = `0 of ${fmtNum(NOTES_MAX)} characters`;
  setGroupError($("survey-rating"), $("survey-rating-error"), "");
  setFieldError($("survey-notes"), $("survey-notes-error"), "");
  setFieldError($("survey-when"), $("survey-when-error"), "");
  show($("survey-error"), false);
  $("survey-status").textContent = "";
  $("survey-save").disabled = false;
  if (!dlg.open) dlg.showModal();
  form.querySelector('input[name="rating"]').focus();
}

function closeSurvey() {
  const dlg = $("survey");
  if (dlg?.open) dlg.close();
  SURVEY.song = null;
}

function radioValue(name) {
  return $("survey-form").querySelector(`input[name="${name}"]:checked`)?.value ?? "";
}

/** The survey as the API's body, or null with the problems shown at their fields. */
function surveyBody() {
  const body = { song_id: SURVEY.song.song_id, client_request_id: SURVEY.requestId };
  let ok = true;
  const rating = Number(radioValue("rating"));
  if (!rating) {
    setGroupError($("survey-rating"), $("survey-rating-error"), "Choose a rating from 1 to 5 stars.");
    ok = false;
  } else {
    body.rating = rating;
  }
  const again = radioValue("would_sing_again");
  if (again) body.would_sing_again = again === "true";
  for (const name of ["vocal_range", "difficulty", "crowd_response"]) {
    const v = radioValue(name);
    if (v) body[name] = v;
  }
  const notes = $("survey-notes").value.trim();
  if ([...notes].length > NOTES_MAX) {
    setFieldError($("survey-notes"), $("survey-notes-error"), `Notes can be at most ${NOTES_MAX} characters.`);
    ok = false;
  } else if (notes) {
    body.notes = notes;
  }
  const when = $("survey-when").value;
  if (when) {
    const d = new Date(when); // datetime-local: the browser's own time zone
    if (Number.isNaN(d.getTime())) {
      setFieldError($("survey-when"), $("survey-when-error"), "Enter a date and time, or leave it empty for now.");
      ok = false;
    } else if (d.getTime() > Date.now() + 86_400_000) {
      setFieldError($("survey-when"), $("survey-when-error"), "That is in the future.");
      ok = false;
    } else if (d.getFullYear() < 2000) {
      setFieldError($("survey-when"), $("survey-when-error"), "Choose a date from 2000 on.");
      ok = false;
    } else {
      body.sung_at = d.toISOString().replace(/\.\d{3}Z$/, "Z");
    }
  }
  return ok ? body : null;
}

const SURVEY_FIELDS = {
  invalid_rating: () => setGroupError($("survey-rating"), $("survey-rating-error"), "Choose a rating from 1 to 5 stars."),
  invalid_notes: (m) => setFieldError($("survey-notes"), $("survey-notes-error"), m),
  invalid_sung_at: (m) => setFieldError($("survey-when"), $("survey-when-error"), m),
};

async function submitSurvey(ev) {
  ev.preventDefault();
  if (!SURVEY.song || SURVEY.saving) return;
  show($("survey-error"), false);
  const body = surveyBody();
  if (!body) {
    $("survey-form").querySelector('[aria-invalid="true"], .has-error input')?.focus();
    return;
  }
  const song = SURVEY.song;
  SURVEY.saving = true;
  $("survey-save").disabled = true;
  $("survey-status").textContent = "Saving…";
  try {
    const record = await api("POST", "api/me/sung-songs", body);
    closeSurvey();
    setNotice(record.duplicate
      ? `Already saved: ${song.title} - ${song.artist}.`
      : `Saved: ${song.title} - ${song.artist}, sung ${fmtNum(record.times_sung)}×.`, "ok");
    applySung(record);
  } catch (e) {
    if (isAbort(e)) return;
    $("survey-status").textContent = "";
    const field = SURVEY_FIELDS[e.code];
    if (field) {
      field(e.message);
    } else {
      // Network trouble or a server error: the same request id goes with the retry.
      $("survey-error").textContent = `Not saved. ${e.message}`;
      show($("survey-error"));
    }
  } finally {
    SURVEY.saving = false;
    $("survey-save").disabled = false;
  }
}

/** A saved performance: the song's rows say "Sung N×", and the lists that depend on it reload. */
function applySung(record) {
  for (const li of songsList.list.querySelectorAll(":scope > li")) {
    if (li.dataset.songId !== record.song_id || !li._item) continue;
    li.replaceWith(songRow({
      ...li._item,
      times_sung: record.times_sung,
      rating: record.rating,
      would_sing_again: record.would_sing_again,
      favorite: record.favorite,
      last_sung_at: record.last_sung_at,
    }));
  }
  sungList.reset();
  recsList.reset();
}

/** A group of toggle buttons of which exactly one is pressed. */
function pressOne(group, attr, onChange) {
  group.addEventListener("click", (e) => {
    const btn = e.target.closest("button");
    if (!btn || btn.getAttribute("aria-pressed") === "true") return;
    for (const b of group.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b === btn));
    onChange(btn.dataset[attr]);
  });
}

function recRow(item) {
  const reasons = (Array.isArray(item.reasons) ? item.reasons : []).filter((r) => r && r.text);
  // Parts with an effect first (the API orders them); details without points follow, fewer shown.
  const shown = reasons.filter((r) => r.points !== 0).concat(reasons.filter((r) => r.points === 0)).slice(0, 4);
  const title = h("span", { class: "row-title" },
    h("span", { class: "song-title" }, item.title),
    h("span", { class: "song-sep" }, " - "),
    h("span", { class: "song-artist" }, item.artist));
  return h("li", { class: "row rec", dataset: { songId: item.song_id, artist: item.artist, title: item.title } },
    h("div", { class: "row-main" }, title),
    h("span", { class: "pills" },
      sungPills(item.sung),
      item.sung?.favorite ? h("span", { class: "pill pill-fav" }, icon("heart"), "Favourite") : null,
      typeof item.brand_count === "number" && item.brand_count > 0
        ? h("span", { class: "pill pill-karaoke karaoke" }, icon("mic"), plural(item.brand_count, "karaoke brand", "karaoke brands"))
        : null),
    shown.length
      ? h("ul", { class: "reasons", "aria-label": "Why" },
        shown.map((r) => h("li", { class: r.points < 0 ? "reason reason-down" : r.points > 0 ? "reason reason-up" : "reason", dataset: { code: r.code } }, r.text)))
      : null,
    singButton({ song_id: item.song_id, title: item.title, artist: item.artist }));
}

function recsEmpty(filter) {
  switch (filter) {
    case "favorites":
      return { empty: "No favourites here yet. After you sing, press “Sing it!” and rate the song 4 or 5 stars." };
    case "new":
      return { empty: "You have sung every song we would recommend. Sing on!" };
    case "known":
      return { empty: "None of the songs you listen to has a karaoke version among these recommendations yet." };
    default: {
      const connected = Boolean(state.services?.lastfm?.connected || state.services?.spotify?.connected);
      return connected
        ? { empty: "Nothing to recommend yet: sync, or add artists you know, and recommendations appear here." }
        : { empty: "Connect Last.fm or Spotify, or add artists you know, to get recommendations.", action: connectAction("Connect a service") };
    }
  }
}

function sungEmpty(favorites) {
  return favorites
    ? { empty: "No favourites yet. Songs you rate 4 or 5 stars, or would sing again, appear here." }
    : { empty: "Nothing sung yet. After you sing a song, press “Sing it!” next to it." };
}

function sungRow(item) {
  const latest = item.latest || {};
  const title = h("span", { class: "row-title" },
    h("span", { class: "song-title" }, item.title),
    h("span", { class: "song-sep" }, " - "),
    h("span", { class: "song-artist" }, item.artist));
  const meta = [];
  if (item.last_sung_at) meta.push(`Last sung ${fmtDate(item.last_sung_at)}`);
  if (latest.notes) meta.push(`“${latest.notes}”`);
  return h("li", { class: "row", dataset: { songId: item.song_id, artist: item.artist, title: item.title } },
    h("div", { class: "row-main" },
      title,
      item.favorite ? h("span", { class: "loved fav", title: "In My Favorites" }, icon("heart"), h("span", { class: "sr-only" }, "Favourite")) : null),
    meta.length ? h("p", { class: "row-meta" }, meta.join(" · ")) : null,
    h("span", { class: "pills" },
      sungPills(item),
      item.would_sing_again === true ? h("span", { class: "pill pill-again" }, "Would sing again") : null,
      RANGE_WORDS[latest.vocal_range] ? h("span", { class: `pill pill-range range-${latest.vocal_range}` }, RANGE_WORDS[latest.vocal_range]) : null,
      CROWD_WORDS[latest.crowd_response] ? h("span", { class: "pill pill-crowd" }, CROWD_WORDS[latest.crowd_response]) : null),
    singButton({ song_id: item.song_id, title: item.title, artist: item.artist }));
}

// ---------------------------------------------------------------------------------------------
// Summary counts

async function refreshSummary() {
  try {
    state.summary = await api("GET", "api/me/summary");
  } catch (e) {
    if (isAbort(e)) return;
    state.summary = null; // counts are optional decoration: the lists still work
  }
  renderCounts();
}

function renderCounts() {
  const c = state.summary?.counts;
  const line = (group) => {
    if (!group) return "";
    return Object.entries(group)
      .filter(([, n]) => typeof n === "number" && n > 0)
      .map(([src, n]) => `${SOURCE_LABELS[src] || src}: ${fmtNum(n)}`)
      .join(" · ");
  };
  $("artists-counts").textContent = line(c?.artists);
  $("songs-counts").textContent = line(c?.songs);
  if (state.job && !isActive(state.job)) renderSync(); // "You now have N songs and M artists."
}

// ---------------------------------------------------------------------------------------------
// Sync: start, follow, resume

function stopPolling() {
  if (state.polling) clearTimeout(state.polling);
  state.polling = null;
}

async function loadSync() {
  try {
    state.job = await api("GET", "api/me/sync");
  } catch (e) {
    if (isAbort(e)) return;
    if (e.status === 404 && !isMissingRoute(e)) state.job = null; // never synced
    else {
      state.job = undefined;
      $("sync-headline").textContent = "We couldn't check your last sync.";
      $("sync-detail").textContent = e.message;
      return;
    }
  }
  renderSync();
  refreshEmptyStates();
  if (isActive(state.job)) {
    state.followedJob = state.job.job_id;
    schedulePoll();
  }
}

const isActive = (job) => Boolean(job && (job.status === "queued" || job.status === "running"));

function schedulePoll() {
  stopPolling();
  state.polling = setTimeout(poll, 1000);
}

async function poll() {
  state.polling = null;
  try {
    state.job = await api("GET", "api/me/sync");
  } catch (e) {
    if (isAbort(e)) return;
    $("sync-detail").textContent = `Lost touch with the sync for a moment: ${e.message} Retrying…`;
    state.polling = setTimeout(poll, 3000);
    return;
  }
  if (isActive(state.job)) {
    renderSync();
    schedulePoll();
  } else if (state.job && state.followedJob) {
    finishFollowing();
  } else {
    renderSync();
  }
}

function finishFollowing() {
  state.followedJob = null;
  state.justFinished = true;
  state.summary = null; // counts from before the sync would be wrong: wait for fresh ones
  renderSync();
  // Fresh data: reload the lists, the counts and the services' last-sync times.
  artistsList.reset();
  songsList.reset();
  recsList.reset();
  loadServices();
  refreshSummary();
}

async function startSync() {
  state.justFinished = false;
  const btn = $("sync-btn");
  btn.disabled = true;
  show($("sync-result"), false);
  $("sync-headline").textContent = "Starting your sync…";
  $("sync-detail").textContent = "";
  try {
    const r = await api("POST", "api/me/sync");
    state.followedJob = r.job_id;
    announce(r.resumed ? "Sync resumed." : "Sync started.");
  } catch (e) {
    if (isAbort(e)) return;
    if (e.status === 409 && (e.body?.job_id || e.body?.error?.job_id)) {
      state.followedJob = e.body.job_id || e.body.error.job_id;
      announce("A sync is already running. Showing its progress.");
    } else {
      btn.disabled = false;
      renderSync();
      showSyncProblem(
        e.code === "no_service_connected"
          ? "Connect Last.fm first: there is nothing to sync yet."
          : `The sync didn't start. ${e.message}`,
        [], { retry: e.code !== "no_service_connected", services: e.code === "no_service_connected" });
      return;
    }
  }
  await poll();
}

function announce(text) {
  if (text === state.lastAnnounced) return;
  state.lastAnnounced = text;
  $("sync-live").textContent = text;
}

function showSyncProblem(text, errors, { retry = false, services = false, kind = "error" } = {}) {
  const box = $("sync-result");
  box.className = `sync-result sync-result-${kind}`;
  $("sync-result-text").textContent = text;
  const ul = $("sync-errors");
  ul.replaceChildren(...(errors || []).map((m) => h("li", {}, sentence(m))));
  show(ul, Boolean(errors && errors.length));
  show($("sync-retry"), retry);
  show($("sync-open-services"), services);
  show(box);
}

function syncSourceName(job) {
  return job?.lastfm_username ? `Last.fm (${job.lastfm_username})` : "your services";
}

/** Keeps the expanded service cards' sync status in step without re-rendering their forms. */
function updateServiceSyncInfo() {
  for (const id of ["lastfm-sync-status", "spotify-sync-status"]) {
    const el = $(id);
    if (el) el.textContent = jobStatusWords(state.job);
  }
  const btn = $("lastfm-sync");
  if (btn) btn.disabled = isActive(state.job);
}

/** Renders the sync strip from state.job. `justFinished` adds the completion message. */
function renderSync() {
  const justFinished = state.justFinished;
  updateServiceSyncInfo();
  const job = state.job;
  const btn = $("sync-btn");
  const headline = $("sync-headline");
  const detail = $("sync-detail");
  const progress = $("sync-progress");
  show($("sync-result"), false);
  if (job === undefined) return;
  if (job === null) {
    show(progress, false);
    btn.disabled = false;
    const connected = state.services?.lastfm?.connected || state.services?.spotify?.connected;
    headline.textContent = "You haven't synced yet.";
    detail.textContent = connected
      ? "Sync now to bring in your listening history."
      : "Connect Last.fm or Spotify in Connected Services, then sync.";
    return;
  }
  btn.querySelector("span").textContent = isActive(job) ? "Syncing…" : "Sync now";
  if (isActive(job)) {
    btn.disabled = true;
    show(progress);
    const pct = Math.max(0, Math.min(100, Math.round(Number(job.percent) || 0)));
    headline.textContent = job.status === "queued" ? "Your sync is about to start…" : `Syncing ${syncSourceName(job)}…`;
    detail.textContent = job.started_at ? `Started ${fmtAgo(job.started_at)}.` : "";
    setProgress(pct, job);
    const step = Math.floor(pct / 25) * 25;
    announce(`${job.phase || "Syncing"}: ${step}%`);
    return;
  }
  // Finished: done, partial or failed.
  btn.disabled = false;
  const finished = job.finished_at || job.created_at;
  const took = typeof job.duration_seconds === "number" ? ` in ${fmtDuration(job.duration_seconds)}` : "";
  let pages = "";
  if (typeof job.pages_total === "number") {
    pages = typeof job.pages_done === "number" && job.pages_done !== job.pages_total
      ? ` from ${fmtNum(job.pages_done)} of ${plural(job.pages_total, "page", "pages")}`
      : ` from ${plural(job.pages_total, "page", "pages")}`;
  }
  const read = typeof job.scrobbles_done === "number"
    ? `${plural(job.scrobbles_done, "scrobble", "scrobbles")} read${pages}`
    : "";
  if (job.status === "done") {
    show(progress, Boolean(justFinished));
    if (justFinished) setProgress(100, job);
    headline.textContent = justFinished ? "Sync complete." : `Last synced ${fmtAgo(finished)}.`;
    headline.title = fmtDateTime(finished);
    const counts = state.summary?.counts;
    const have = counts && sumCounts(counts.songs) + sumCounts(counts.artists) > 0
      ? ` You now have ${plural(sumCounts(counts.songs), "song", "songs")} and ${plural(sumCounts(counts.artists), "artist", "artists")}.`
      : "";
    detail.textContent = `${read ? `${sentence(read + took)}` : ""}${have}`.trim();
    if (justFinished) announce(`Sync complete. ${detail.textContent}`);
  } else if (job.status === "partial") {
    show(progress, false);
    headline.textContent = "Your last sync finished with gaps.";
    const failed = Array.isArray(job.failed_pages) ? job.failed_pages.length : 0;
    detail.textContent = `${read ? sentence(read + took) : ""} ${failed ? `${plural(failed, "page", "pages")} of your history couldn't be fetched.` : ""}`.trim();
    showSyncProblem("Some of your data may be missing. Retrying picks up where it stopped and only fetches what's missing.",
      job.errors, { retry: true, kind: "warn" });
    if (justFinished) announce("Sync finished with gaps. You can retry.");
  } else if (job.status === "failed") {
    show(progress, false);
    headline.textContent = "Your last sync failed.";
    detail.textContent = finished ? `It stopped ${fmtAgo(finished)}.` : "";
    showSyncProblem("Nothing is lost: your earlier data is still here. You can try again now.",
      job.errors && job.errors.length ? job.errors : ["The sync service didn't say why."], { retry: true });
    if (justFinished) announce("Sync failed. You can retry.");
  } else {
    show(progress, false);
    headline.textContent = `Sync status: ${job.status}.`;
    detail.textContent = "";
  }
}

function sumCounts(group) {
  return Object.values(group || {}).reduce((a, n) => a + (typeof n === "number" ? n : 0), 0);
}

function setProgress(pct, job) {
  const bar = $("sync-bar");
  bar.setAttribute("aria-valuenow", String(pct));
  bar.setAttribute("aria-valuetext", `${pct}%${job.phase ? `, ${job.phase}` : ""}`);
  $("sync-fill").style.width = `${pct}%`; // CSSOM: allowed under style-src 'self'
  $("sync-percent").textContent = new Intl.NumberFormat(undefined, { style: "percent" }).format(pct / 100);
  $("sync-pages").textContent = typeof job.pages_total === "number"
    ? `${fmtNum(job.pages_done || 0)} of ${fmtNum(job.pages_total)}` : "counting…";
  $("sync-scrobbles").textContent = typeof job.scrobbles_total === "number" && job.scrobbles_total > 0
    ? `${fmtNum(job.scrobbles_done || 0)} of ${fmtNum(job.scrobbles_total)}` : "counting…";
  $("sync-eta").textContent = pct >= 100 ? "done"
    : typeof job.eta_seconds === "number" ? `about ${fmtDuration(job.eta_seconds)}` : "estimating…";
  $("sync-phase").textContent = pct >= 100 && job.status === "done" ? "All done." : (job.phase ? `${job.phase}…` : "");
}

// ---------------------------------------------------------------------------------------------
// Connected Services

function openServices(focusConnect = false) {
  setServicesExpanded(true);
  $("services").scrollIntoView({ behavior: "smooth", block: "start" });
  if (focusConnect) {
    const input = $("lastfm-username");
    if (input) input.focus({ preventScroll: true });
    else $("services-toggle").focus({ preventScroll: true });
  }
}

function setServicesExpanded(on) {
  $("services-toggle").setAttribute("aria-expanded", String(on));
  show($("services-body"), on);
  $("services").classList.toggle("is-expanded", on);
}

function normaliseServices(list) {
  const out = {
    lastfm: { service: "lastfm", connected: false, status: "not_connected" },
    spotify: { service: "spotify", connected: false, status: "not_connected" },
  };
  for (const s of Array.isArray(list) ? list : []) {
    if (!s || !s.service) continue;
    const connected = s.connected ?? (s.status ? s.status !== "not_connected" : true);
    out[s.service] = { ...s, connected, status: s.status || (connected ? "connected" : "not_connected") };
  }
  return out;
}

async function loadServices() {
  renderState($("services-state"), { loading: "Loading your services…" });
  try {
    const r = await api("GET", "api/me/services");
    state.services = normaliseServices(r.services);
    state.servicesError = null;
    renderState($("services-state"));
  } catch (e) {
    if (isAbort(e)) return;
    state.servicesError = e;
    state.services ??= null;
    renderState($("services-state"), {
      error: `We couldn't load your connected services. ${e.message}`,
      retry: () => loadServices(),
    });
  }
  renderServices();
}

function serviceMark(name, on) {
  return h("span", { class: `mark mark-${name}${on ? "" : " is-off"}`, title: SERVICE_NAMES[name] }, icon(name, "mark-icon"));
}

function renderServices() {
  const s = state.services;
  const marks = $("service-marks");
  const summary = $("services-summary");
  const lf = s?.lastfm;
  const sp = s?.spotify;
  marks.replaceChildren(serviceMark("spotify", Boolean(sp?.connected)), serviceMark("lastfm", Boolean(lf?.connected)));
  if (!s) {
    summary.textContent = state.servicesError ? "Status unavailable" : "Checking…";
  } else {
    const on = [sp?.connected && "Spotify", lf?.connected && "Last.fm"].filter(Boolean);
    const attention = [sp, lf].filter((x) => x?.status === "needs_reconnect").map((x) => SERVICE_NAMES[x.service]);
    summary.textContent = on.length ? `${on.join(", ")} connected` : "No services connected";
    if (attention.length) summary.textContent += ` · ${attention.join(", ")} needs reconnecting`;
  }
  const cards = $("services-cards");
  const focusedId = document.activeElement?.id;
  cards.replaceChildren(lastfmCard(lf), spotifyCard(sp));
  if (focusedId && $(focusedId) && cards.contains($(focusedId))) $(focusedId).focus();
  refreshEmptyStates();
  if (state.job === null) renderSync();
}

/** Empty lists say what to do next, which depends on the services and the last sync. */
function refreshEmptyStates() {
  for (const list of [artistsList, songsList]) {
    if (list && list.done && list.count === 0 && !list.failed) renderState(list.state, list.empty());
  }
}

function statusBadge(svc) {
  const st = svc?.status || (svc?.connected ? "connected" : "not_connected");
  const label = { connected: "Connected", needs_reconnect: "Needs reconnecting", not_connected: "Not connected" }[st] || st;
  return h("span", { class: `status-badge status-${st}` }, label);
}

function detailList(rows) {
  return h("dl", { class: "service-details" },
    rows.filter(Boolean).map(([k, v, id]) => h("div", {}, h("dt", {}, k), h("dd", { id }, v))));
}

function jobStatusWords(job) {
  if (job === undefined) return "Checking…";
  if (!job) return "Never synced";
  if (isActive(job)) return `Syncing (${fmtNum(Math.round(job.percent || 0))}%)`;
  return { done: "Up to date", partial: "Finished with gaps", failed: "Failed" }[job.status] || job.status;
}

function lastfmCard(svc) {
  const connected = Boolean(svc?.connected);
  const card = h("article", { class: "service-card", id: "svc-lastfm", "aria-labelledby": "svc-lastfm-title" },
    h("div", { class: "service-head" },
      serviceMark("lastfm", connected),
      h("h3", { id: "svc-lastfm-title" }, "Last.fm"),
      svc ? statusBadge(svc) : null));
  if (connected) {
    const job = state.job;
    card.append(detailList([
      ["Account", svc.username || "—"],
      svc.connected_at ? ["Connected", fmtDateTime(svc.connected_at)] : null,
      ["Last sync", svc.last_sync_at ? fmtDateTime(svc.last_sync_at) : (job?.finished_at ? fmtDateTime(job.finished_at) : "Never")],
      ["Sync status", jobStatusWords(job), "lastfm-sync-status"],
    ]));
    card.append(h("p", { class: "hint" }, "We read your public scrobbles, top artists and loved tracks. No password is stored."));
    card.append(h("div", { class: "actions" },
      h("button", { type: "button", class: "btn", id: "lastfm-sync", onclick: () => startSync(), disabled: isActive(state.job) }, "Sync now"),
      h("button", { type: "button", class: "btn btn-danger", id: "lastfm-disconnect", onclick: (e) => disconnect("lastfm", e.currentTarget) }, "Disconnect")));
  } else {
    if (svc?.status === "needs_reconnect") {
      card.append(h("p", { class: "message message-warn" }, "Last.fm stopped answering for this account. Connect it again to keep syncing."));
    }
    const form = h("form", { class: "stack", id: "lastfm-form", novalidate: true, onsubmit: connectLastfm },
      h("label", { for: "lastfm-username" }, "Last.fm username"),
      h("div", { class: "inline-form" },
        h("input", {
          id: "lastfm-username", name: "username", type: "text", autocomplete: "off", spellcheck: "false",
          autocapitalize: "off", "aria-describedby": "lastfm-username-hint lastfm-username-error",
        }),
        h("button", { type: "submit", class: "btn btn-primary", id: "lastfm-connect" }, "Connect")),
      h("p", { class: "hint", id: "lastfm-username-hint" }, "Your public Last.fm username. We read your scrobbles; no password needed."),
      h("p", { class: "field-error", id: "lastfm-username-error", hidden: true }),
      h("p", { class: "status-line", id: "lastfm-status", role: "status" }));
    card.append(form);
  }
  card.append(h("p", { class: "status-line", id: "lastfm-card-status", role: "status" }));
  return card;
}

function spotifyCard(svc) {
  const connected = Boolean(svc?.connected);
  const needs = svc?.status === "needs_reconnect";
  const card = h("article", { class: "service-card", id: "svc-spotify", "aria-labelledby": "svc-spotify-title" },
    h("div", { class: "service-head" },
      serviceMark("spotify", connected),
      h("h3", { id: "svc-spotify-title" }, "Spotify"),
      svc ? statusBadge(svc) : null));
  if (connected || needs) {
    card.append(detailList([
      ["Account", svc.display_name || svc.username || "—"],
      svc.connected_at ? ["Connected", fmtDateTime(svc.connected_at)] : null,
      ["Last sync", svc.last_sync_at ? fmtDateTime(svc.last_sync_at) : "Never"],
      ["Sync status", needs ? "Needs reconnecting" : jobStatusWords(state.job), needs ? undefined : "spotify-sync-status"],
    ]));
  }
  if (needs) {
    card.append(h("p", { class: "message message-warn" },
      "Spotify no longer accepts our access to your account (it may have been revoked). Reconnect to keep your top lists fresh."));
  }
  card.append(h("p", { class: "hint" },
    "Spotify shares your top artists and top tracks only (about 50 each for the last 4 weeks, the last 6 months and all time), not your full listening history."));
  const actions = h("div", { class: "actions" });
  if (!connected || needs) {
    actions.append(h("button", { type: "button", class: "btn btn-primary", id: "spotify-connect", onclick: (e) => connectSpotify(e.currentTarget) },
      needs ? "Reconnect Spotify" : "Connect Spotify"));
  }
  if (connected || needs) {
    actions.append(h("button", { type: "button", class: "btn btn-danger", id: "spotify-disconnect", onclick: (e) => disconnect("spotify", e.currentTarget) }, "Disconnect"));
  }
  card.append(actions);
  card.append(h("p", { class: "status-line", id: "spotify-status", role: "status" }));
  return card;
}

function validLastfmName(v) {
  return /^[A-Za-z][A-Za-z0-9_-]{1,14}$/.test(v);
}

async function connectLastfm(ev) {
  ev.preventDefault();
  const input = $("lastfm-username");
  const errorEl = $("lastfm-username-error");
  const name = input.value.trim();
  if (!validLastfmName(name)) {
    setFieldError(input, errorEl, name
      ? "A Last.fm username is 2 to 15 characters: a letter first, then letters, digits, '_' or '-'."
      : "Enter your Last.fm username.");
    input.focus();
    return;
  }
  setFieldError(input, errorEl, "");
  const btn = $("lastfm-connect");
  btn.disabled = true;
  $("lastfm-status").textContent = `Checking ${name} on Last.fm…`;
  try {
    const r = await api("PUT", "api/me/services/lastfm", { username: name });
    state.services = state.services || normaliseServices([]);
    state.services.lastfm = { ...state.services.lastfm, ...r, service: "lastfm", connected: true, status: "connected" };
    renderServices();
    const plays = typeof r.profile_playcount === "number" ? ` Last.fm counts ${plural(r.profile_playcount, "scrobble", "scrobbles")} on this profile.` : "";
    $("lastfm-card-status").textContent = `Connected as ${r.username || name}.${plays} Press “Sync now” to bring them in.`;
    renderSync();
    refreshSummary();
  } catch (e) {
    if (isAbort(e)) return;
    $("lastfm-status").textContent = "";
    setFieldError(input, errorEl, e.status === 404 && !isMissingRoute(e)
      ? `Last.fm has no user named “${name}”. Check the spelling.`
      : e.message);
    input.focus();
  } finally {
    if (btn.isConnected) btn.disabled = false;
  }
}

async function connectSpotify(btn) {
  btn.disabled = true;
  const status = $("spotify-status");
  status.textContent = "Opening Spotify…";
  try {
    const r = await api("GET", "api/me/services/spotify/connect");
    if (!r.authorize_url) throw new ApiError(500, "bad_response", "The server didn't give us a Spotify sign-in address.");
    location.assign(r.authorize_url);
  } catch (e) {
    if (isAbort(e)) return;
    btn.disabled = false;
    status.textContent = `We couldn't start connecting Spotify. ${e.message}`;
  }
}

/**
 * Back from Spotify's sign-in: the callback handed us its code and state in the address's
 * fragment, and only a signed-in page may finish it. The API links the account only when the
 * sign-in was started from this same account. Resolves false when the session turned out to
 * be gone (then the person signs in and connects again); the outcome is shown as a notice.
 */
async function completeSpotify({ code, state: st }) {
  state.openServicesOnLoad = true;
  if (!code || !st) {
    setNotice(SPOTIFY_REASONS[st ? "missing_code" : "missing_state"], "error");
    return true;
  }
  $("boot").replaceChildren(h("span", { class: "spinner", "aria-hidden": "true" }), " Connecting Spotify…");
  try {
    const r = await api("POST", "api/me/services/spotify/complete", { code, state: st });
    const who = r.display_name || r.username;
    setNotice(`Spotify is connected${who ? ` as ${who}` : ""}. Press “Sync now” to bring in your top artists and top tracks.`, "ok");
  } catch (e) {
    if (e.status === 401) {
      session.clear();
      return false;
    }
    const known = SPOTIFY_REASONS[e.code];
    setNotice(known || (e.status === 502 ? e.message : `Spotify couldn't be connected. ${e.message}`), "error");
  }
  return true;
}

async function disconnect(service, btn) {
  btn.disabled = true;
  const statusId = service === "lastfm" ? "lastfm-card-status" : "spotify-status";
  $(statusId).textContent = `Disconnecting ${SERVICE_NAMES[service]}…`;
  try {
    await api("DELETE", `api/me/services/${service}`);
    state.services = state.services || normaliseServices([]);
    state.services[service] = { service, connected: false, status: "not_connected" };
    renderServices();
    $(statusId).textContent = `${SERVICE_NAMES[service]} disconnected. Future syncs stop; the data already synced stays until you delete it.`;
    loadServices();
  } catch (e) {
    if (isAbort(e)) return;
    btn.disabled = false;
    $(statusId).textContent = `We couldn't disconnect ${SERVICE_NAMES[service]}. ${e.message}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Preferences

const PREF = { genres: [] };

function prefInputs(name) {
  return Array.from(document.querySelectorAll(`#pref-form input[name="${name}"]`));
}

function fillPreferences(p) {
  const decades = new Set(Array.isArray(p?.decades) ? p.decades : []);
  for (const i of prefInputs("decade")) i.checked = decades.has(i.value);
  const energy = p?.energy || "";
  for (const i of prefInputs("energy")) i.checked = i.value === energy;
  PREF.genres = Array.isArray(p?.genres) ? [...p.genres] : [];
  renderGenres();
}

function renderGenres() {
  const ul = $("genre-list");
  ul.replaceChildren(...PREF.genres.map((g, i) => h("li", { class: "genre-chip" },
    h("span", {}, g),
    h("button", {
      type: "button", class: "chip-remove", "aria-label": `Remove genre ${g}`,
      onclick: () => { PREF.genres.splice(i, 1); renderGenres(); $("genre-input").focus(); markPrefDirty(); },
    }, icon("x")))));
  if (!PREF.genres.length) ul.append(h("li", { class: "genre-none" }, "No genres yet."));
}

function addGenre() {
  const input = $("genre-input");
  const g = input.value.trim().replace(/\s+/g, " ");
  const errorEl = $("pref-genres-error");
  if (!g) { setFieldError(input, errorEl, "Type a genre first."); $("pref-genres").classList.add("has-error"); return; }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(g) || [...g].length > 100) {
    setFieldError(input, errorEl, "A genre is up to 100 characters, without control characters.");
    $("pref-genres").classList.add("has-error");
    return;
  }
  setFieldError(input, errorEl, "");
  $("pref-genres").classList.remove("has-error");
  if (!PREF.genres.some((x) => x.toLowerCase() === g.toLowerCase())) PREF.genres.push(g);
  input.value = "";
  renderGenres();
  markPrefDirty();
}

function markPrefDirty() {
  $("pref-status").textContent = "";
  $("pref-status").className = "save-status";
}

async function loadPreferences() {
  renderState($("pref-state"), { loading: "Loading your preferences…" });
  show($("pref-form"), false);
  try {
    const p = await api("GET", "api/me/preferences");
    fillPreferences(p);
    renderState($("pref-state"));
    show($("pref-form"));
  } catch (e) {
    if (isAbort(e)) return;
    renderState($("pref-state"), {
      error: `We couldn't load your preferences. ${e.message}`,
      retry: () => loadPreferences(),
    });
  }
}

async function savePreferences(ev) {
  ev.preventDefault();
  if ($("genre-input").value.trim()) addGenre();
  const body = {
    decades: prefInputs("decade").filter((i) => i.checked).map((i) => i.value),
    energy: prefInputs("energy").find((i) => i.checked)?.value || null,
    genres: [...PREF.genres],
  };
  const groups = { decades: "pref-decades", energy: "pref-energy", genres: "pref-genres" };
  for (const [, id] of Object.entries(groups)) setGroupError($(id), $(`${id}-error`), "");
  const status = $("pref-status");
  const btn = $("pref-save");
  btn.disabled = true;
  status.className = "save-status";
  status.textContent = "Saving…";
  try {
    const saved = await api("PUT", "api/me/preferences", body);
    if (saved && (saved.decades || saved.genres || "energy" in saved)) fillPreferences(saved);
    status.className = "save-status is-ok";
    status.textContent = `Saved ${DATE_TIME.format(new Date())}.`;
  } catch (e) {
    if (isAbort(e)) return;
    status.className = "save-status is-error";
    status.textContent = `Not saved. ${e.message}`;
    const field = e.body?.error?.field || Object.keys(groups).find((f) => new RegExp(`\\b${f}\\b`, "i").test(e.message));
    if (field && groups[field]) setGroupError($(groups[field]), $(`${groups[field]}-error`), e.message);
  } finally {
    btn.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Entering the signed-in page

// ---------------------------------------------------------------------------------------------
// Your data: download all of it, or delete all of it

const DELETED_MESSAGE = "Your data has been deleted. Signing in again starts with an empty account.";

function setDataStatus(text, kind = "info") {
  const el = $("data-status");
  el.textContent = text || "";
  el.className = kind === "error" ? "list-state is-error" : "list-state";
  show(el, Boolean(text));
}

function setDataButtons(enabled) {
  $("data-download").disabled = !enabled;
  $("data-delete").disabled = !enabled;
}

async function downloadMyData() {
  setDataButtons(false);
  const items = [];
  try {
    let cursor = null;
    do {
      setDataStatus(`Preparing your download… ${items.length.toLocaleString()} records so far.`);
      const query = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const page = await api("GET", `api/me/export?limit=1000${query}`);
      items.push(...(page.items || []));
      cursor = page.next_cursor || null;
    } while (cursor);
    const file = { exported_at: new Date().toISOString(), user_id: session.get()?.user_id, items };
    const url = URL.createObjectURL(new Blob([JSON.stringify(file, null, 2)], { type: "application/json" }));
    const link = h("a", { href: url, download: `karaoke-sync-my-data-${file.exported_at.slice(0, 10)}.json` });
    document.body.append(link);
    link.click();
    link.remove();
    // The browser reads the blob after click() returns; free it once the save has surely started.
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    setDataStatus(`Downloaded ${items.length.toLocaleString()} records.`);
  } catch (e) {
    if (!isAbort(e)) setDataStatus(e.message, "error");
  } finally {
    setDataButtons(true);
  }
}

/** Shows a background deletion's progress until it ends, then signs out. */
async function followDeletion(status) {
  setDataButtons(false);
  let current = status;
  while (state.signedIn) {
    if (current.status !== "deleting") {
      signOut(DELETED_MESSAGE);
      return;
    }
    const n = Number(current.items_deleted || 0);
    setDataStatus(`Deleting your data… ${n.toLocaleString()} records removed so far. You can close this page.`);
    setNotice("Your data is being deleted.", "info");
    await new Promise((resolve) => setTimeout(resolve, 2000));
    try {
      current = await api("GET", "api/me");
    } catch (e) {
      if (isAbort(e)) return;
      // A failed poll is no reason to stop following; try again on the next tick.
    }
  }
}

async function deleteMyData() {
  const sure = window.confirm(
    "Delete all your data?\n\nYour songs, artists, preferences, sync history and service connections "
    + "will be removed for good. This cannot be undone.");
  if (!sure) return;
  setDataButtons(false);
  setDataStatus("Deleting your data…");
  try {
    const result = await api("DELETE", "api/me");
    if (result.status === "deleted") {
      signOut(DELETED_MESSAGE);
      return;
    }
    await followDeletion(result);
  } catch (e) {
    if (isAbort(e)) return;
    setDataStatus(e.message, "error");
    setDataButtons(true);
  }
}

/** A deletion started earlier (in another tab, or before a reload) is shown, not hidden. */
async function checkDeletion() {
  try {
    const me = await api("GET", "api/me");
    if (me.status === "deleting") await followDeletion(me);
  } catch (e) {
    if (!isAbort(e) && !isMissingRoute(e)) setDataStatus(e.message, "error");
  }
}

function enterMyData() {
  const s = session.get();
  if (!s) { showSignIn(); return; }
  state.signedIn = true;
  show($("boot"), false);
  show($("signin"), false);
  show($("mydata"));
  show($("account"));
  $("account-name").textContent = s.user_id || "you";
  document.title = "My Data · karaoke-sync";
  setServicesExpanded(state.openServicesOnLoad === true);
  state.openServicesOnLoad = false;
  renderServices();
  loadPreferences();
  artistsList.reset();
  songsList.reset();
  recsList.reset();
  sungList.reset();
  refreshSummary();
  // Services first, then the sync status (its wording depends on whether anything is connected).
  loadServices().then(() => loadSync());
  setDataStatus("");
  setDataButtons(true);
  checkDeletion();
}

/**
 * Spotify's code and state, which the sign-in callback hands the page in the fragment
 * (`#spotify_code=…&spotify_state=…`). Removed from the address bar at once, whatever happens
 * next; null when they are not there.
 */
function takeSpotifyReturn() {
  const hash = new URLSearchParams(location.hash.replace(/^#/, ""));
  if (!hash.has("spotify_code") && !hash.has("spotify_state")) return null;
  const ret = { code: hash.get("spotify_code") || "", state: hash.get("spotify_state") || "" };
  hash.delete("spotify_code");
  hash.delete("spotify_state");
  const rest = hash.toString();
  history.replaceState(null, "", `${location.pathname}${location.search}${rest ? `#${rest}` : ""}`);
  return ret;
}

const SPOTIFY_SIGN_IN_FIRST = "Please sign in, then press “Connect Spotify” again: a Spotify sign-in can only be finished by a signed-in account.";

/** Query parameters we understand on arrival; they are removed from the address bar afterwards. */
function takeReturnParams() {
  const params = new URLSearchParams(location.search);
  const seen = ["spotify", "reason", "code", "state", "error", "error_description"].some((k) => params.has(k));
  if (seen) history.replaceState(null, "", `${location.pathname}${location.hash}`);
  return params;
}

const SPOTIFY_REASONS = {
  access_denied: "You cancelled on Spotify, so nothing was connected.",
  denied: "You cancelled on Spotify, so nothing was connected.",
  expired_state: "The Spotify sign-in took too long. Please try again.",
  state_expired: "The Spotify sign-in took too long. Please try again.",
  invalid_state: "That Spotify sign-in link was already used or is not valid. Please try again.",
  reused_state: "That Spotify sign-in link was already used. Please try again.",
  exchange_failed: "Spotify didn't complete the connection. Please try again.",
  refused: "Spotify refused the connection. Please try again.",
  missing_state: "Spotify's answer was incomplete. Please try again.",
  missing_code: "Spotify's answer was incomplete. Please try again.",
  invalid_code: "Spotify's answer was not valid. Please try again.",
  other_account: "This Spotify sign-in was started from another account, so nothing was linked. "
    + "To connect your own Spotify, press “Connect Spotify” here.",
};

async function boot() {
  const spotifyReturn = takeSpotifyReturn();
  $("signin-cognito-btn").addEventListener("click", () => startCognitoSignIn().catch((e) => showSignIn(e.message)));
  $("sign-out").addEventListener("click", () => signOut("You have signed out."));
  $("notice-close").addEventListener("click", () => setNotice(""));
  $("sync-btn").addEventListener("click", () => startSync());
  $("sync-retry").addEventListener("click", () => startSync());
  $("sync-open-services").addEventListener("click", () => openServices(true));
  $("services-toggle").addEventListener("click", () => {
    setServicesExpanded($("services-toggle").getAttribute("aria-expanded") !== "true");
  });
  $("artist-form").addEventListener("submit", addArtist);
  $("artist-name").addEventListener("input", () => {
    if ($("artist-name").getAttribute("aria-invalid")) setFieldError($("artist-name"), $("artist-name-error"), "");
  });
  $("pref-form").addEventListener("submit", savePreferences);
  $("pref-form").addEventListener("change", markPrefDirty);
  $("genre-add").addEventListener("click", addGenre);
  $("data-download").addEventListener("click", downloadMyData);
  $("data-delete").addEventListener("click", deleteMyData);
  $("genre-input").addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); addGenre(); }
  });

  artistsList = new PagedList({
    path: "api/me/artists", noun: "artists", one: "artist",
    list: $("artists-list"), box: $("artists-box"), sentinel: $("artists-sentinel"),
    more: $("artists-more"), state: $("artists-state"), shown: $("artists-shown"),
    render: artistRow, key: (item) => artistKey(item.name),
    pinned: new Map(), onPinnedChange: updatePinned,
    empty: () => emptyState("artists"),
  });
  songsList = new PagedList({
    path: "api/me/songs", noun: "songs", one: "song",
    list: $("songs-list"), box: $("songs-box"), sentinel: $("songs-sentinel"),
    more: $("songs-more"), state: $("songs-state"), shown: $("songs-shown"),
    render: songRow,
    empty: () => emptyState("songs"),
  });

  recsList = new PagedList({
    path: "api/me/recommendations", noun: "recommendations", one: "recommendation",
    list: $("recs-list"), box: $("recs-box"), sentinel: $("recs-sentinel"),
    more: $("recs-more"), state: $("recs-state"), shown: $("recs-shown"),
    render: recRow, filter: "all",
    params() { return { filter: this.filter }; },
    onData: (data) => {
      $("recs-counts").textContent = typeof data.total === "number" ? plural(data.total, "song", "songs") : "";
    },
    empty: () => recsEmpty(recsList.filter),
  });
  sungList = new PagedList({
    path: "api/me/sung-songs", noun: "songs", one: "song",
    list: $("sung-list"), box: $("sung-box"), sentinel: $("sung-sentinel"),
    more: $("sung-more"), state: $("sung-state"), shown: $("sung-shown"),
    render: sungRow, favorites: true,
    params() { return this.favorites ? { favorites: "true" } : {}; },
    empty: () => sungEmpty(sungList.favorites),
  });
  pressOne($("recs-filters"), "filter", (f) => { recsList.filter = f; recsList.reset(); });
  pressOne($("sung-views"), "view", (v) => {
    sungList.favorites = v === "favorites";
    $("sung-title").textContent = sungList.favorites ? "My Favorites" : "Songs You've Sung";
    sungList.reset();
  });
  $("survey-form").addEventListener("submit", submitSurvey);
  $("survey-cancel").addEventListener("click", () => closeSurvey());
  $("survey").addEventListener("close", () => SURVEY.opener?.isConnected && SURVEY.opener.focus());
  $("survey-notes").addEventListener("input", () => {
    const n = [...$("survey-notes").value].length;
    $("survey-notes-count").textContent = `${fmtNum(n)} of ${fmtNum(NOTES_MAX)} characters`;
    if ($("survey-notes").getAttribute("aria-invalid")) setFieldError($("survey-notes"), $("survey-notes-error"), "");
  });
  $("survey-rating").addEventListener("change", () => setGroupError($("survey-rating"), $("survey-rating-error"), ""));
  $("survey-when").addEventListener("input", () => setFieldError($("survey-when"), $("survey-when-error"), ""));

  const params = takeReturnParams();
  state.config = await loadConfig();

  if (params.get("spotify") === "connected") {
    setNotice("Spotify is connected. Press “Sync now” to bring in your top artists and top tracks.", "ok");
    state.openServicesOnLoad = true;
  } else if (params.get("spotify") === "error") {
    const reason = params.get("reason") || "";
    setNotice(SPOTIFY_REASONS[reason] || `Spotify couldn't be connected${reason ? ` (${reason.replace(/_/g, " ")})` : ""}. Please try again.`, "error");
    state.openServicesOnLoad = true;
  }

  if (params.has("code") && params.has("state") && state.config.cognito) {
    try {
      await finishCognitoSignIn(params);
    } catch (e) {
      showSignIn(e.message);
      return;
    }
  } else if (params.has("error") && state.config.cognito) {
    showSignIn(sentence(params.get("error_description") || "The sign-in was cancelled"));
    return;
  }

  if (!session.get()) {
    // Not signed in: the code is dropped (only a signed-in account may finish a Spotify sign-in);
    // connecting again starts a new one.
    showSignIn(spotifyReturn ? SPOTIFY_SIGN_IN_FIRST : undefined);
    return;
  }
  if (spotifyReturn && !(await completeSpotify(spotifyReturn))) {
    showSignIn(SPOTIFY_SIGN_IN_FIRST);
    return;
  }
  enterMyData();
}

boot().catch((e) => {
  // Last resort: never leave a blank page.
  show($("boot"), false);
  showSignIn(`The page failed to start: ${e.message}`);
});
