// Spotify on the page (issue 4): connect through Spotify's sign-in (the stand-in consents at once),
// back to the page with the code and state in the fragment, completed by the signed-in page; a
// sign-in started from another account is refused and links nothing; then sync, and rows for
// Spotify-only and merged (Last.fm + Spotify) artists and songs.
//
// These need GET api/me/services/spotify/connect, the callback, POST
// api/me/services/spotify/complete and the Spotify sync. Until they are deployed, the connect
// tests fail and the others fail after them.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  pageBase, launch, newPage, uid, shot, apiToken, apiCall, apiAll, createLastfmUser, deleteLastfmUser, lastfmAdmin,
  signInFromPage, connectLastfmFromPage, expandServices, collapseServices, syncFromPage, readRows,
  playsText, rankText, assertNoHorizontalScroll, MOBILE,
} from "./helpers.mjs";

/** Presses "Show more" until `done(rows)` holds or the list is complete. */
async function loadUntil(page, listId, moreId, done) {
  for (let i = 0; i < 200; i++) {
    const rows = await readRows(page, listId);
    if (done(rows)) return rows;
    if (!(await page.locator(`#${moreId}`).isVisible())) return rows;
    const n = rows.length;
    await page.click(`#${moreId}`);
    await page.waitForFunction(([id, k]) => document.querySelectorAll(`#${id} > li`).length > k
      || document.getElementById(id.replace("-list", "-more")).hidden, [listId, n]);
  }
  return readRows(page, listId);
}

/** Every rendered artist row agrees with the API item of the same name. */
function checkArtistRows(rows, byName) {
  for (const row of rows) {
    const item = byName.get(row.name);
    assert.ok(item, `${row.name} is not in the API's list`);
    assert.deepEqual(row.sources, item.sources, `${row.name}: badges`);
    assert.equal(row.plays, item.lastfm_playcount > 0 ? playsText(item.lastfm_playcount) : null, `${row.name}: plays`);
    assert.equal(row.pop, typeof item.spotify_popularity === "number" ? `Pop: ${item.spotify_popularity}` : null,
      `${row.name}: a Pop pill only when Spotify sent a popularity`);
    assert.equal(row.rank, typeof item.spotify_rank === "number" ? rankText(item.spotify_rank, item.spotify_time_range) : null,
      `${row.name}: rank pill`);
    assert.equal(row.removable, item.manual === true, `${row.name}: removable only when added by hand`);
  }
}

describe("Spotify-only and merged rows", () => {
  let base, browser, ctx, page, problems, token;
  const userId = uid("fe-spot-");
  const lastfmUser = uid("fs");

  before(async () => {
    base = await pageBase();
    browser = await launch();
    // A small Last.fm history, plus Queen (also in the Spotify stand-in's top lists) for a merged artist.
    await createLastfmUser(lastfmUser, 600, 5);
    const uts = 1_780_000_000;
    // `force`: set up as history; a live upload this old would be ignored, as Last.fm does.
    await lastfmAdmin("POST", "/_admin/scrobbles", {
      user: lastfmUser,
      force: true,
      scrobbles: Array.from({ length: 40 }, (_, i) => ({
        artist: "Queen", title: "Bohemian Rhapsody", album: "A Night At The Opera", uts: uts + i * 600,
      })),
    });
    ({ context: ctx, page, problems } = await newPage(browser));
    await signInFromPage(page, base.url, userId);
    token = await apiToken(userId);
    await connectLastfmFromPage(page, lastfmUser);
  });

  after(async () => {
    await ctx?.close();
    await browser?.close();
    await base?.close();
    await deleteLastfmUser(lastfmUser);
  });

  test("a Spotify sign-in started from another account is refused and links nothing", async () => {
    // Someone else asks for an authorize URL and gets this person to open it; Spotify (the app
    // approved before, so no prompt) sends this browser back with a code for this person's Spotify.
    const attackerToken = await apiToken(uid("fe-attacker-"));
    const r = await apiCall(attackerToken, "GET", "api/me/services/spotify/connect");
    assert.equal(r.status, 200, JSON.stringify(r.data));
    await page.goto(`${r.data.authorize_url}&standin_user=${uid("victim-sp-")}`);
    await page.waitForFunction(() => !document.getElementById("notice")?.hidden, null, { timeout: 30_000 });
    assert.match(await page.locator("#notice-text").textContent(), /started from another account, so nothing was linked/);
    assert.equal(new URL(page.url()).hash, "", "the code and state are gone from the address bar");
    assert.equal(await page.getAttribute("#services-toggle", "aria-expanded"), "true", "services opened");
    await page.waitForFunction(() => document.getElementById("services-summary").textContent === "Last.fm connected");
    for (const t of [token, attackerToken]) {
      const services = (await apiCall(t, "GET", "api/me/services")).data.services;
      assert.equal(services.find((x) => x.service === "spotify").connected, false, "nothing linked");
    }
    await page.click("#notice-close");
  });

  test("Connect Spotify goes through Spotify's sign-in and comes back connected", async () => {
    await expandServices(page);
    await page.click("#spotify-connect");
    // Either we leave for Spotify and come back with ?spotify=connected, or the page says why not.
    await page.waitForFunction(() => !document.getElementById("notice")?.hidden
      || /couldn't/.test(document.getElementById("spotify-status")?.textContent || ""), null, { timeout: 30_000 });
    const refused = await page.evaluate(() => document.getElementById("spotify-status")?.textContent || "");
    assert.ok(!/couldn't/.test(refused), `the page could not start the Spotify sign-in: ${refused}`);
    assert.match(await page.locator("#notice-text").textContent(), /Spotify is connected/);
    assert.equal(new URL(page.url()).hash, "", "the code and state are gone from the address bar");
    await page.waitForFunction(() => document.getElementById("services-summary").textContent === "Spotify, Last.fm connected");
    assert.equal(await page.locator("#service-marks .is-off").count(), 0, "both marks in colour");
    await page.locator("#svc-spotify .status-connected").waitFor();
    assert.match(await page.locator("#svc-spotify").textContent(), /Demo Singer/);
  });

  test("back from Spotify while signed out: sign in and connect again, the code is dropped", async () => {
    const d = await newPage(browser);
    await d.page.goto(`${base.url}#spotify_code=c0de&spotify_state=5tate`);
    await d.page.locator("#signin").waitFor({ state: "visible" });
    assert.match(await d.page.locator("#signin-message").textContent(), /sign in, then press “Connect Spotify” again/i);
    assert.equal(new URL(d.page.url()).hash, "", "the code and state are gone from the address bar");
    assert.equal(await d.page.evaluate(() => JSON.stringify(sessionStorage)), "{}", "nothing kept");
    assert.deepEqual(d.problems, []);
    await d.context.close();
  });

  test("one sync brings Last.fm and Spotify data, with its progress shown", async () => {
    await collapseServices(page);
    const { samples } = await syncFromPage(page);
    assert.equal(samples.at(-1), 100);
  });

  test("artist rows: Spotify-only, Last.fm-only and merged rows carry the right pills", async () => {
    const all = await apiAll(token, "api/me/artists", 200);
    const byName = new Map(all.map((a) => [a.name, a]));
    const spotifyOnly = all.find((a) => a.sources.length === 1 && a.sources[0] === "spotify");
    const merged = all.find((a) => a.sources.includes("spotify") && a.sources.includes("lastfm"));
    assert.ok(spotifyOnly, "the API has a Spotify-only artist");
    assert.ok(merged, "the API has an artist from both Last.fm and Spotify");
    await page.locator("#artists-list > li").first().waitFor();
    const rows = await loadUntil(page, "artists-list", "artists-more",
      (rs) => rs.some((r) => r.name === spotifyOnly.name) && rs.some((r) => r.name === merged.name));
    checkArtistRows(rows, byName);
    const so = rows.find((r) => r.name === spotifyOnly.name);
    assert.deepEqual(so.sources, ["spotify"]);
    assert.equal(so.plays, null, "no plays pill without Last.fm");
    assert.ok(so.rank, "Spotify-only artist shows its rank and period");
    const m = rows.find((r) => r.name === merged.name);
    assert.ok(m.sources.includes("lastfm") && m.sources.includes("spotify"), "both badges");
    assert.ok(m.plays && m.rank, "plays and rank on a merged artist");
    // Last.fm-only rows, when there are any, have no Spotify pills.
    for (const r of rows.filter((x) => x.sources.length === 1 && x.sources[0] === "lastfm")) {
      assert.equal(r.pop, null);
      assert.equal(r.rank, null);
    }
    await page.locator("#artists").screenshot({ path: shot("artists-merged.png"), animations: "disabled" });
    await page.evaluate((n) => [...document.querySelectorAll("#artists-list > li")]
      .find((li) => li.dataset.name === n)?.scrollIntoView({ block: "center" }), spotifyOnly.name);
    await page.locator("#artists").screenshot({ path: shot("artists-spotify-only.png"), animations: "disabled" });
  });

  test("song rows: Spotify top tracks show their rank, merged songs their plays too", async () => {
    const all = await apiAll(token, "api/me/songs", 200);
    const top = all.find((s) => s.sources.includes("spotify") && typeof s.spotify_rank === "number");
    assert.ok(top, "the API has a Spotify top track among the songs");
    await page.locator("#songs-list > li").first().waitFor();
    const rows = await loadUntil(page, "songs-list", "songs-more",
      (rs) => rs.some((r) => r.title === top.title && r.artist === top.artist));
    const byKey = new Map(all.map((i) => [`${i.artist}\u0000${i.title}`, i]));
    for (const r of rows) {
      const item = byKey.get(`${r.artist}\u0000${r.title}`);
      assert.ok(item, `${r.title} - ${r.artist} is not in the API's list`);
      assert.deepEqual(r.sources, item.sources);
      assert.equal(r.karaoke, item.karaoke_available === true, `${r.title}: karaoke pill as the API says`);
      assert.equal(r.rank, typeof item.spotify_rank === "number" ? rankText(item.spotify_rank, item.spotify_time_range) : null);
    }
    const row = rows.find((r) => r.title === top.title && r.artist === top.artist);
    assert.deepEqual(row.sources, top.sources);
    assert.equal(row.rank, rankText(top.spotify_rank, top.spotify_time_range));
    assert.equal(row.plays, top.playcount > 0 ? playsText(top.playcount) : null);
    const mergedSong = all.find((s) => s.sources.includes("spotify") && s.sources.includes("lastfm"));
    if (mergedSong) {
      const rs = await loadUntil(page, "songs-list", "songs-more",
        (x) => x.some((r) => r.title === mergedSong.title && r.artist === mergedSong.artist));
      const r = rs.find((x) => x.title === mergedSong.title && x.artist === mergedSong.artist);
      assert.ok(r.plays && r.rank, "a song from both sources shows plays and rank");
    }
  });

  test("375 px with Spotify data: no horizontal scroll", async () => {
    const storage = { "karaoke.session": await page.evaluate(() => sessionStorage.getItem("karaoke.session")) };
    const m = await newPage(browser, { viewport: MOBILE, storage });
    await m.page.goto(base.url);
    await m.page.locator("#artists-list > li").first().waitFor();
    await expandServices(m.page);
    await assertNoHorizontalScroll(m.page, MOBILE.width);
    assert.deepEqual(m.problems, []);
    await m.context.close();
  });

  test("disconnect Spotify", async () => {
    await expandServices(page);
    await page.click("#spotify-disconnect");
    await page.waitForFunction(() => document.getElementById("services-summary").textContent === "Last.fm connected");
    assert.ok(await page.locator("#spotify-connect").isVisible());
  });

  test("no console errors, uncaught exceptions or CSP violations", () => {
    assert.deepEqual(problems, []);
  });
});
