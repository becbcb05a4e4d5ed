// "Sing it!", the "How was it?" survey, My Favorites and Recommendations on the My Data page.
//
// The user has no service connected: Queen added as an artist and three catalog songs added by
// hand (so Songs You Know has rows with karaoke versions) are enough for recommendations.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  pageBase, launch, newPage, uid, shot, apiToken, apiCall, apiAll, signInFromPage,
  assertNoHorizontalScroll, MOBILE,
} from "./helpers.mjs";

const KNOWN = ["KS0001", "KS0017", "KS0010"]; // Bohemian Rhapsody, Don't Stop Believin', Dancing Queen

/** The rows of a list as data: song id, text, pills, reasons. */
function readSongRows(page, listId) {
  return page.$$eval(`#${listId} > li`, (lis) => lis.map((li) => ({
    songId: li.dataset.songId ?? null,
    title: li.dataset.title,
    artist: li.dataset.artist,
    text: li.textContent,
    sung: li.querySelector(".pill-sung")?.textContent ?? null,
    rating: li.querySelector(".pill-rating")?.textContent ?? null,
    reasons: [...li.querySelectorAll(".reason")].map((r) => r.textContent),
    sing: Boolean(li.querySelector(".btn-sing")),
  })));
}

async function waitForList(page, id) {
  await page.waitForFunction((listId) => {
    const list = document.getElementById(listId);
    const st = document.getElementById(listId.replace(/-list$/, "-state"));
    return (list.children.length > 0 || st.querySelector(".empty, .is-error"))
      && !st.classList.contains("is-loading");
  }, id, { timeout: 20_000 });
}

describe("Singing: the survey, My Favorites and Recommendations", () => {
  let base, browser, ctx, page, problems, token;
  const userId = uid("fe-sung-");
  const posted = [];

  before(async () => {
    base = await pageBase();
    browser = await launch();
    token = await apiToken(userId);
    // The catalog is loaded by the Rust tests or `make demo`; check rather than assume.
    for (const id of KNOWN) {
      const r = await apiCall(token, "POST", "api/me/known-songs", { song_id: id });
      assert.ok([200, 201].includes(r.status),
        `adding ${id}: ${r.status} ${JSON.stringify(r.data)} (load the sample catalog: cargo run -p karaoke-cli -- import-catalog infra/catalog/sample.csv)`);
    }
    assert.equal((await apiCall(token, "POST", "api/me/artists", { name: "Queen" })).status, 201);
    ({ context: ctx, page, problems } = await newPage(browser));
    page.on("request", (req) => {
      if (req.method() === "POST" && req.url().endsWith("/api/me/sung-songs")) posted.push(JSON.parse(req.postData()));
    });
    await signInFromPage(page, base.url, userId);
  });

  after(async () => {
    await ctx?.close();
    await browser?.close();
    await base?.close();
  });

  test("the new sections are empty with a next step, and every karaoke song has Sing it!", async () => {
    await waitForList(page, "sung-list");
    assert.match(await page.locator("#sung-state").textContent(), /No favourites yet/);
    await waitForList(page, "songs-list");
    const rows = await readSongRows(page, "songs-list");
    assert.deepEqual(rows.map((r) => r.songId).sort(), [...KNOWN].sort());
    assert.ok(rows.every((r) => r.sing && r.sung === null), "Sing it! on each, nothing sung yet");
  });

  test("Sing it! opens “How was it?”: the rating is required, the rest optional; saving shows Sung 1×", async () => {
    const row = page.locator('#songs-list > li[data-song-id="KS0001"]');
    await row.locator(".btn-sing").click();
    const dlg = page.locator("#survey");
    await dlg.waitFor({ state: "visible" });
    assert.equal(await page.locator("#survey-title").textContent(), "How was it?");
    assert.equal(await page.locator("#survey-song").textContent(), "Bohemian Rhapsody - Queen");
    assert.equal(await page.evaluate(() => document.activeElement?.name), "rating", "focus starts at the rating");

    await page.click("#survey-save");
    const err = page.locator("#survey-rating-error");
    await err.waitFor({ state: "visible" });
    assert.match(await err.textContent(), /Choose a rating/);
    assert.equal(posted.length, 0, "nothing sent without a rating");
    const when = page.locator("#survey-when");
    await when.fill("2999-01-01T20:00");
    await page.locator('#survey-rating label:has(input[value="5"])').click();
    assert.equal(await err.isVisible(), false, "choosing a rating clears its error");
    await page.click("#survey-save");
    await page.locator("#survey-when-error").waitFor({ state: "visible" });
    assert.match(await page.locator("#survey-when-error").textContent(), /future/);
    assert.equal(await when.getAttribute("aria-invalid"), "true");
    assert.equal(posted.length, 0);
    await when.fill("");
    assert.equal(await page.locator("#survey-when-error").isVisible(), false, "editing the date clears its error");

    await page.locator('label:has(input[name="would_sing_again"][value="true"])').click();
    await page.locator('label:has(input[name="vocal_range"][value="comfortable"])').click();
    await page.locator('label:has(input[name="crowd_response"][value="loved_it"])').click();
    await page.fill("#survey-notes", "Nailed the high note");
    assert.equal(await page.locator("#survey-notes-count").textContent(), "20 of 500 characters");
    await page.locator("#survey").screenshot({ path: shot("survey.png"), animations: "disabled" });

    await page.click("#survey-save");
    await dlg.waitFor({ state: "hidden" });
    await page.waitForFunction(() => /Saved: Bohemian Rhapsody - Queen, sung 1×/.test(document.getElementById("notice-text").textContent));
    assert.equal(posted.length, 1);
    assert.deepEqual(Object.keys(posted[0]).sort(),
      ["client_request_id", "crowd_response", "notes", "rating", "song_id", "vocal_range", "would_sing_again"],
      "unanswered questions are left out");
    const saved = await page.locator('#songs-list > li[data-song-id="KS0001"]');
    assert.equal(await saved.locator(".pill-sung").textContent(), "Sung 1×");
    assert.equal(await saved.locator(".pill-rating").textContent(), "5/5");

    const api = (await apiCall(token, "GET", "api/me/sung-songs")).data.items;
    assert.equal(api.length, 1);
    assert.equal(api[0].song_id, "KS0001");
    assert.equal(api[0].times_sung, 1);
    assert.deepEqual(
      [api[0].latest.rating, api[0].latest.would_sing_again, api[0].latest.vocal_range, api[0].latest.crowd_response, api[0].latest.difficulty, api[0].latest.notes],
      [5, true, "comfortable", "loved_it", null, "Nailed the high note"]);
  });

  test("a save whose answer is lost is retried with the same request id and counts once", async () => {
    const row = page.locator('#songs-list > li[data-song-id="KS0017"]');
    await row.locator(".btn-sing").click();
    await page.locator("#survey").waitFor({ state: "visible" });
    await page.locator('#survey-rating label:has(input[value="2"])').click();
    await page.locator('label:has(input[name="vocal_range"][value="too_high"])').click();
    // The request reaches the API, but its answer never reaches the page.
    let lost = 0;
    await page.route("**/api/me/sung-songs", async (route) => {
      if (route.request().method() !== "POST" || lost > 0) return route.fallback();
      lost += 1;
      await route.fetch();
      await route.abort("aborted");
    });
    await page.click("#survey-save");
    await page.locator("#survey-error").waitFor({ state: "visible" });
    assert.match(await page.locator("#survey-error").textContent(), /Not saved\. We couldn't reach the server/);
    assert.ok(await page.locator("#survey").isVisible(), "the survey stays open for a retry");
    await page.click("#survey-save");
    await page.locator("#survey").waitFor({ state: "hidden" });
    await page.unroute("**/api/me/sung-songs");
    await page.waitForFunction(() => /Already saved: Don't Stop Believin' - Journey/.test(document.getElementById("notice-text").textContent));
    const [first, retry] = posted.slice(-2);
    assert.equal(first.client_request_id, retry.client_request_id);
    const api = (await apiCall(token, "GET", "api/me/sung-songs")).data.items;
    assert.equal(api.find((s) => s.song_id === "KS0017").times_sung, 1, "the retry did not count twice");
    // A new survey of the same song is a new performance.
    await page.locator('#songs-list > li[data-song-id="KS0017"] .btn-sing').click();
    await page.locator('#survey-rating label:has(input[value="3"])').click();
    await page.click("#survey-save");
    await page.waitForFunction(() => /sung 2×/.test(document.getElementById("notice-text").textContent));
    assert.notEqual(posted.at(-1).client_request_id, first.client_request_id);
    assert.equal(await page.locator('#songs-list > li[data-song-id="KS0017"] .pill-sung').textContent(), "Sung 2×");
  });

  test("My Favorites lists the songs rated 4-5 (or to sing again); the other view lists every song sung", async () => {
    await page.waitForFunction(() => document.querySelectorAll("#sung-list > li").length === 1);
    let rows = await readSongRows(page, "sung-list");
    assert.deepEqual(rows.map((r) => r.songId), ["KS0001"], "KS0017 was rated 2 then 3: not a favourite");
    assert.match(rows[0].text, /Would sing again/);
    assert.match(rows[0].text, /Nailed the high note/);
    assert.equal(rows[0].sung, "Sung 1×");
    const favApi = await apiAll(token, "api/me/sung-songs", 50);
    assert.equal(favApi.length, 2, "the API's full list has both");
    await page.locator("#sung").screenshot({ path: shot("favorites.png"), animations: "disabled" });

    await page.click('#sung-views button[data-view="all"]');
    assert.equal(await page.locator('#sung-views button[data-view="all"]').getAttribute("aria-pressed"), "true");
    await page.waitForFunction(() => document.querySelectorAll("#sung-list > li").length === 2);
    assert.equal(await page.locator("#sung-title").textContent(), "Songs You've Sung");
    rows = await readSongRows(page, "sung-list");
    assert.deepEqual(rows.map((r) => r.songId), ["KS0017", "KS0001"], "most recently sung first");
    assert.equal(rows[0].sung, "Sung 2×");
    await page.click('#sung-views button[data-view="favorites"]');
    await page.waitForFunction(() => document.querySelectorAll("#sung-list > li").length === 1);
    assert.equal(await page.locator("#sung-title").textContent(), "My Favorites");
  });

  test("Recommendations: reasons in words, the three filters match the API, Sing it! from a recommendation", async () => {
    await waitForList(page, "recs-list");
    for (const filter of ["all", "favorites", "new", "known"]) {
      await page.click(`#recs-filters button[data-filter="${filter}"]`);
      assert.equal(await page.locator(`#recs-filters button[data-filter="${filter}"]`).getAttribute("aria-pressed"), "true");
      const api = (await apiCall(token, "GET", `api/me/recommendations?filter=${filter}&limit=50`)).data;
      await page.waitForFunction((n) => document.querySelectorAll("#recs-list > li").length === n
        && !document.getElementById("recs-state").classList.contains("is-loading"), api.items.length);
      const rows = await readSongRows(page, "recs-list");
      assert.deepEqual(rows.map((r) => r.songId), api.items.map((i) => i.song_id), `filter ${filter}`);
      rows.forEach((row, i) => {
        const want = api.items[i].reasons.filter((r) => r.points !== 0).map((r) => r.text);
        assert.deepEqual(row.reasons.slice(0, Math.min(want.length, 4)), want.slice(0, 4), `${row.title}: reasons`);
        assert.ok(row.sing, "Sing it! on every recommendation");
      });
      assert.equal(await page.locator("#recs-counts").textContent(), `${api.total} ${api.total === 1 ? "song" : "songs"}`);
      if (filter === "all") {
        assert.ok(rows.length >= 8);
        assert.equal(rows[0].artist, "Queen", "a Queen fan gets Queen first");
        assert.ok(rows[0].reasons.includes("You added Queen to your artists"), rows[0].reasons.join(" | "));
        await page.locator("#recs").screenshot({ path: shot("recommendations.png"), animations: "disabled" });
      }
      if (filter === "favorites") assert.deepEqual(rows.map((r) => r.songId), ["KS0001"]);
      if (filter === "new") assert.ok(rows.every((r) => !["KS0001", "KS0017"].includes(r.songId)));
      if (filter === "known") assert.deepEqual(rows.map((r) => r.songId).sort(), [...KNOWN].sort());
    }

    await page.click('#recs-filters button[data-filter="new"]');
    await waitForList(page, "recs-list");
    const target = (await readSongRows(page, "recs-list"))[0];
    await page.locator(`#recs-list > li[data-song-id="${target.songId}"] .btn-sing`).click();
    assert.equal(await page.locator("#survey-song").textContent(), `${target.title} - ${target.artist}`);
    await page.locator('#survey-rating label:has(input[value="4"])').click();
    await page.click("#survey-save");
    await page.locator("#survey").waitFor({ state: "hidden" });
    await page.waitForFunction((id) => ![...document.querySelectorAll("#recs-list > li")].some((li) => li.dataset.songId === id)
      && document.querySelectorAll("#recs-list > li").length > 0, target.songId);
    await page.waitForFunction((id) => [...document.querySelectorAll("#sung-list > li")].some((li) => li.dataset.songId === id),
      target.songId);
  });

  test("Cancel and Escape close the survey without saving; focus returns to the button", async () => {
    const before = posted.length;
    const btn = page.locator('#songs-list > li[data-song-id="KS0010"] .btn-sing');
    await btn.click();
    await page.locator('#survey-rating label:has(input[value="1"])').click();
    await page.click("#survey-cancel");
    await page.locator("#survey").waitFor({ state: "hidden" });
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.songId), "KS0010");
    await btn.click();
    assert.equal(await page.locator('#survey input[name="rating"]:checked').count(), 0, "a fresh survey each time");
    await page.keyboard.press("Escape");
    await page.locator("#survey").waitFor({ state: "hidden" });
    assert.equal(posted.length, before);
  });

  test("375 px: the survey and the new sections fit without horizontal scroll", async () => {
    const m = await newPage(browser, { viewport: MOBILE, storage: await page.evaluate(() => ({ "karaoke.session": sessionStorage.getItem("karaoke.session") })) });
    try {
      await m.page.goto(base.url);
      await m.page.locator("#mydata").waitFor({ state: "visible" });
      await waitForList(m.page, "recs-list");
      await waitForList(m.page, "sung-list");
      await assertNoHorizontalScroll(m.page, MOBILE.width);
      await m.page.locator('#songs-list > li[data-song-id="KS0010"] .btn-sing').click();
      await m.page.locator("#survey").waitFor({ state: "visible" });
      await m.page.locator('#survey-rating label:has(input[value="4"])').click();
      await assertNoHorizontalScroll(m.page, MOBILE.width);
      const box = await m.page.locator("#survey").boundingBox();
      assert.ok(box.x >= 0 && box.x + box.width <= MOBILE.width, `survey at ${box.x}..${box.x + box.width}`);
      await m.page.screenshot({ path: shot("mobile-survey.png"), animations: "disabled" });
      await m.page.keyboard.press("Escape");
      assert.deepEqual(m.problems, []);
    } finally {
      await m.context.close();
    }
  });

  test("no console errors, uncaught exceptions or failed requests", () => {
    // The one request aborted on purpose above is reported as ERR_ABORTED, which helpers ignore.
    assert.deepEqual(problems, []);
  });
});
