// Sync results that are not a plain success, as a person sees them: nothing to sync yet, and a
// partial sync (a Last.fm page that keeps failing) with a working Retry.
//
// The partial case takes about 90 s: the worker retries the failing page 5 times with backoff.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  pageBase, launch, newPage, uid, shot, createLastfmUser, deleteLastfmUser, lastfmAdmin,
  signInFromPage, connectLastfmFromPage, collapseServices, readSync,
} from "./helpers.mjs";

describe("sync problems in words", () => {
  let base, browser, ctx, page, problems;
  const lastfmUser = uid("fp");

  before(async () => {
    base = await pageBase();
    browser = await launch();
    await createLastfmUser(lastfmUser, 1000, 3);
    ({ context: ctx, page, problems } = await newPage(browser));
    await signInFromPage(page, base.url, uid("fe-prob-"));
  });

  after(async () => {
    await lastfmAdmin("POST", "/_admin/config", { failing_pages: { [lastfmUser]: [] } }).catch(() => {});
    await ctx?.close();
    await browser?.close();
    await base?.close();
    await deleteLastfmUser(lastfmUser);
  });

  test("Sync now with nothing connected says what to do", async () => {
    await page.waitForFunction(() => /haven't synced/.test(document.getElementById("sync-headline").textContent));
    await page.click("#sync-btn");
    await page.locator("#sync-result").waitFor({ state: "visible" });
    assert.match(await page.locator("#sync-result-text").textContent(), /Connect Last\.fm first/);
    assert.ok(await page.locator("#sync-open-services").isVisible());
    await page.click("#sync-open-services");
    assert.equal(await page.getAttribute("#services-toggle", "aria-expanded"), "true");
    await page.waitForFunction(() => document.activeElement?.id === "lastfm-username");
  });

  test("a partial sync is explained, and Retry finishes it", { timeout: 300_000 }, async () => {
    await lastfmAdmin("POST", "/_admin/config", { failing_pages: { [lastfmUser]: [2] } });
    await connectLastfmFromPage(page, lastfmUser);
    await collapseServices(page);
    await page.click("#sync-btn");
    await page.waitForFunction(() => !document.getElementById("sync-result").hidden, null, { timeout: 240_000, polling: 500 })
      .catch(async (e) => { throw new Error(`no sync result on the page: ${JSON.stringify(await readSync(page))} (${e.message})`); });
    const s = await readSync(page);
    assert.equal(s.headline, "Your last sync finished with gaps.");
    assert.match(s.detail, /1 page of your history couldn't be fetched/);
    assert.match(s.result, /Some of your data may be missing/);
    // Last.fm's page 2 of the history is the job's page 3: its page 1 is the last two weeks.
    assert.match(await page.locator("#sync-errors").textContent(), /Page 3 of 6 of your scrobbles/);
    assert.ok(await page.locator("#sync-retry").isVisible(), "Retry offered");
    await page.locator("#sync").screenshot({ path: shot("sync-partial.png"), animations: "disabled" });

    await lastfmAdmin("POST", "/_admin/config", { failing_pages: { [lastfmUser]: [] } });
    await page.click("#sync-retry");
    await page.waitForFunction(() => document.getElementById("sync-headline").textContent === "Sync complete.", null, { timeout: 120_000, polling: 250 });
    assert.equal(await page.locator("#sync-result").isVisible(), false);
    assert.match(await page.locator("#sync-detail").textContent(), /1,000 scrobbles read/);
  });

  test("no console errors, uncaught exceptions or CSP violations", () => {
    assert.deepEqual(problems, []);
  });
});
