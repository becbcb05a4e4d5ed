// "Your data": the download holds what the API exports; deleting asks first, then signs out
// and leaves an empty account.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { pageBase, launch, newPage, uid, apiToken, apiCall, signInFromPage, localCredentials } from "./helpers.mjs";

describe("Your data", () => {
  let base, browser;
  before(async () => {
    base = await pageBase();
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await base?.close();
  });

  test("download, a cancelled delete, then a confirmed delete", async () => {
    const userId = uid("fe-data-");
    const token = await apiToken(userId);
    const saved = await apiCall(token, "PUT", "api/me/preferences",
      { decades: ["1990s"], energy: "chill", genres: ["Soul"] });
    assert.equal(saved.status, 200);
    const added = await apiCall(token, "POST", "api/me/artists", { name: "Download Test Artist" });
    assert.ok(added.status < 300, JSON.stringify(added.data));

    const { page, problems, context } = await newPage(browser);
    await signInFromPage(page, base.url, userId);
    await page.locator("#your-data").waitFor({ state: "visible" });

    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.click("#data-download"),
    ]);
    assert.match(download.suggestedFilename(), /^karaoke-sync-my-data-\d{4}-\d\d-\d\d\.json$/);
    const file = JSON.parse(fs.readFileSync(await download.path(), "utf8"));
    assert.equal(file.user_id, (await localCredentials(userId)).email, "the export names the signed-in account");
    const prefs = file.items.find((i) => i.entity === "preferences");
    assert.deepEqual(prefs.genres, ["Soul"]);
    assert.ok(file.items.some((i) => i.entity === "artist" && i.name === "Download Test Artist"));
    await page.waitForFunction(() => /Downloaded \d+ records/.test(document.getElementById("data-status").textContent));

    // Cancelling the confirmation deletes nothing.
    page.once("dialog", (d) => { assert.equal(d.type(), "confirm"); d.dismiss(); });
    await page.click("#data-delete");
    const still = await apiCall(token, "GET", "api/me/export");
    assert.equal(still.data.items.length, file.items.length);

    page.once("dialog", (d) => d.accept());
    await page.click("#data-delete");
    await page.locator("#signin").waitFor({ state: "visible" });
    assert.match(await page.locator("#signin").textContent(), /Your data has been deleted/);
    const after = await apiCall(token, "GET", "api/me/export");
    assert.equal(after.status, 200);
    assert.deepEqual(after.data.items, []);
    assert.deepEqual(problems, []);
    await context.close();
  });
});
