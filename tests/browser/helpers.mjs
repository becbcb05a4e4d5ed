// Shared setup for the browser tests: the stack's addresses, Chromium, stand-in users, and the
// page flows (sign in, connect Last.fm, sync) done through the page itself.
import fs from "node:fs";
import { execFileSync } from "node:child_process";
import path from "node:path";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { readStackEnv, REPO } from "./stackenv.mjs";
import { startDevServer, ASSETS_DIR } from "./devserver.mjs";

export const ENV = readStackEnv();
export const API_URL = ENV.API_URL.replace(/\/+$/, "");
export const SHOTS = path.join(REPO, "docs/screenshots");
export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

/** A short unique id: ids from two runs (or two test files) never collide. */
export function uid(prefix = "u") {
  return `${prefix}${Date.now().toString(36).slice(-5)}${Math.random().toString(36).slice(2, 6)}`;
}

/**
 * Where the page is. Default: <API_URL>/ as the `api` function serves it; the function must serve
 * the files on disk (checked, so a stale deployment fails loudly instead of testing old code).
 * PAGE_URL=proxy serves the files from disk through devserver.mjs, forwarding api/ to API_URL.
 */
export async function pageBase() {
  if (process.env.PAGE_URL === "proxy") {
    const dev = await startDevServer({ apiUrl: API_URL });
    return { url: dev.url, close: dev.close };
  }
  const url = process.env.PAGE_URL || `${API_URL}/`;
  for (const [name, rel] of [["app.js", "assets/app.js"], ["style.css", "assets/style.css"], ["index.html", ""]]) {
    const res = await fetch(new URL(rel, url));
    const body = await res.text();
    assert.equal(res.status, 200, `GET ${new URL(rel, url)} answered ${res.status}: the api function does not serve the page`);
    const disk = fs.readFileSync(path.join(ASSETS_DIR, name), "utf8");
    assert.ok(body === disk,
      `${url}${rel} is not functions/api/assets/${name} as on disk: redeploy (make up) or set ASSETS_DIR, or run with PAGE_URL=proxy`);
  }
  return { url, close: async () => {} };
}

export async function launch() {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (tests/browser/run.sh does it)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
}

export const DESKTOP = { width: 1280, height: 900 };
export const MOBILE = { width: 375, height: 812 };

/**
 * A new page in its own context (own sessionStorage). Collects console errors, uncaught
 * exceptions and CSP violations in `problems`. "Failed to load resource ... status of 4xx" lines
 * are the browser noting API answers the page expects and handles (404 "never synced", 401
 * signed out, 422 validation): they are left out; 5xx and network failures are kept.
 */
export async function newPage(browser, { viewport = DESKTOP, locale = "en-US", storage } = {}) {
  const context = await browser.newContext({ viewport, locale, deviceScaleFactor: 1 });
  if (storage) {
    await context.addInitScript((s) => {
      for (const [k, v] of Object.entries(s)) sessionStorage.setItem(k, v);
    }, storage);
  }
  const page = await context.newPage();
  const problems = [];
  page.on("console", (msg) => {
    if (msg.type() !== "error") return;
    const text = msg.text();
    if (/Failed to load resource: the server responded with a status of 4\d\d/.test(text)) return;
    problems.push(`console: ${text}`);
  });
  page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
  page.on("requestfailed", (req) => {
    const f = req.failure()?.errorText || "";
    if (f.includes("ERR_ABORTED")) return; // navigation away / aborted polling
    problems.push(`requestfailed: ${req.url()} ${f}`);
  });
  return { context, page, problems };
}

// ---- the stand-ins and the API, from Node ----------------------------------------------------

export async function lastfmAdmin(method, p, body) {
  const res = await fetch(`${ENV.LASTFM_ADMIN_URL}${p}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json().catch(() => ({}));
  assert.ok(res.ok, `Last.fm stand-in ${method} ${p}: ${res.status} ${JSON.stringify(data)}`);
  return data;
}

export async function createLastfmUser(name, scrobbles, seed = 7) {
  return lastfmAdmin("POST", "/_admin/users", { name, scrobbles, seed });
}

export async function deleteLastfmUser(name) {
  try { await lastfmAdmin("DELETE", "/_admin/users", { name }); } catch { /* already gone */ }
}

/**
 * The local Cognito (the emulator's user pool from template.yaml) through `local-signin`:
 * `--email` creates the user (its Cognito sub = userId) and answers the email and password to
 * type into the hosted sign-in page; without it, an access token the gateway accepts.
 */
function localSignin(args) {
  const bin = path.join(REPO, "target/debug/local-signin");
  const out = execFileSync(bin, args, { env: { ...process.env, ...ENV }, encoding: "utf8" });
  return out.trim();
}

export async function localCredentials(userId) {
  const [email, password] = localSignin(["--email", userId]).split(" ");
  return { email, password };
}

/** A token for the local user named `userId` (the one signInFromPage signs in as). */
export async function apiToken(userId) {
  return localSignin([userId]);
}

export async function apiCall(token, method, p, body) {
  const res = await fetch(`${API_URL}/${p}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let data = null;
  try { data = JSON.parse(text); } catch { data = text; }
  return { status: res.status, data };
}

/** Every page of a list route, as the API gives it. */
export async function apiAll(token, route, limit = 50, maxPages = 1000) {
  const items = [];
  let cursor = null;
  for (let i = 0; i < maxPages; i++) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (cursor) q.set("cursor", cursor);
    const r = await apiCall(token, "GET", `${route}?${q}`);
    assert.equal(r.status, 200, `GET ${route}: ${JSON.stringify(r.data)}`);
    items.push(...r.data.items);
    cursor = r.data.next_cursor;
    if (!cursor) break;
  }
  return items;
}

// ---- flows through the page --------------------------------------------------------------------

/** Signs in as the page does: its Sign in button, the hosted sign-in page, back with a code. */
export async function signInFromPage(page, base, userId) {
  const { email, password } = await localCredentials(userId);
  await page.goto(base);
  await page.locator("#signin-cognito-btn").waitFor({ state: "visible" });
  await page.click("#signin-cognito-btn");
  await page.locator("input[name=username]").waitFor({ state: "visible" });
  await page.fill("input[name=username]", email);
  await page.fill("input[name=password]", password);
  await page.click("button[type=submit]");
  await page.locator("#mydata").waitFor({ state: "visible" });
}

export async function expandServices(page) {
  const toggle = page.locator("#services-toggle");
  if ((await toggle.getAttribute("aria-expanded")) !== "true") await toggle.click();
  await page.locator("#services-body").waitFor({ state: "visible" });
}

export async function collapseServices(page) {
  const toggle = page.locator("#services-toggle");
  if ((await toggle.getAttribute("aria-expanded")) === "true") await toggle.click();
  await page.locator("#services-body").waitFor({ state: "hidden" });
}

export async function connectLastfmFromPage(page, username) {
  await expandServices(page);
  await page.locator("#lastfm-username").waitFor({ state: "visible" });
  await page.fill("#lastfm-username", username);
  await page.click("#lastfm-connect");
  await page.locator("#svc-lastfm .status-connected").waitFor({ state: "visible", timeout: 20_000 });
}

/**
 * Presses "Sync now" and samples the progress bar every 100 ms until the page says the sync is
 * over. Returns {samples, resumed}: the sampled percentages, and (with `reloadAt`) what the page
 * showed right after a reload in the middle of the sync. `screenshotPath` is taken (viewport) at
 * the first sample between `reloadAt`/`screenshotAt` and 99.
 */
export async function syncFromPage(page, { timeoutMs = 180_000, screenshotPath, screenshotAt = 25, reloadAt } = {}) {
  await page.click("#sync-btn");
  const samples = [];
  let shotTaken = !screenshotPath;
  let resumed = null;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await readSync(page);
    if (s.visible) samples.push(s.now);
    const mid = s.visible && s.now < 100;
    if (!shotTaken && mid && s.now >= (reloadAt ?? screenshotAt)) {
      await page.screenshot({ path: screenshotPath, animations: "disabled" });
      shotTaken = true;
    }
    if (reloadAt !== undefined && resumed === null && mid && s.now >= reloadAt) {
      await page.reload();
      await page.locator("#mydata").waitFor({ state: "visible" });
      await page.locator("#sync-progress").waitFor({ state: "visible", timeout: 10_000 });
      resumed = { before: s.now, after: await readSync(page) };
      continue;
    }
    if (s.headline.startsWith("Sync complete")) break;
    if (s.result) throw new Error(`sync did not complete: ${s.headline} ${s.result}`);
    if (Date.now() > deadline) throw new Error(`sync still running after ${timeoutMs} ms: ${s.headline} ${s.now}%`);
    await page.waitForTimeout(100);
  }
  return { samples, resumed };
}

export function readSync(page) {
  return page.evaluate(() => ({
    visible: !document.getElementById("sync-progress").hidden,
    now: Number(document.getElementById("sync-bar").getAttribute("aria-valuenow")),
    headline: document.getElementById("sync-headline").textContent,
    detail: document.getElementById("sync-detail").textContent,
    result: document.getElementById("sync-result").hidden ? "" : document.getElementById("sync-result").textContent,
  }));
}

/** The rendered rows of a list, as data. */
export function readRows(page, listId) {
  return page.$$eval(`#${listId} > li`, (lis) => lis.map((li) => ({
    name: li.dataset.name,
    artist: li.dataset.artist,
    title: li.dataset.title,
    text: li.textContent,
    sources: [...li.querySelectorAll(".badge")].map((b) => b.dataset.source),
    plays: li.querySelector(".pill-plays")?.textContent ?? null,
    pop: li.querySelector(".pill-pop")?.textContent ?? null,
    rank: li.querySelector(".pill-rank")?.textContent ?? null,
    karaoke: Boolean(li.querySelector(".pill-karaoke")),
    loved: Boolean(li.querySelector(".loved")),
    removable: Boolean(li.querySelector(".row-remove")),
  })));
}

/** What the page should show for a number of plays, in en-US. */
export function playsText(n) {
  return `${new Intl.NumberFormat("en-US").format(n)} ${n === 1 ? "play" : "plays"}`;
}

export const PERIODS = { short_term: "last 4 weeks", medium_term: "last 6 months", long_term: "all time" };
export function rankText(rank, range) {
  return PERIODS[range] ? `#${rank} · ${PERIODS[range]}` : `#${rank}`;
}

/** Asserts the page never scrolls sideways at its current width. */
export async function assertNoHorizontalScroll(page, width) {
  const sw = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(sw <= width, `page is ${sw}px wide at a ${width}px viewport (horizontal scroll)`);
}

export function shot(name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  return path.join(SHOTS, name);
}
