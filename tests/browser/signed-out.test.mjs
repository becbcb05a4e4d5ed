// The page without a session: a clear sign-in screen, inline validation, expired sessions.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  pageBase, launch, newPage, uid, shot, assertNoHorizontalScroll, DESKTOP, MOBILE,
} from "./helpers.mjs";

describe("signed out", () => {
  let base, browser;
  before(async () => {
    base = await pageBase();
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await base?.close();
  });

  test("shows a sign-in screen, not a broken page", async () => {
    const { page, problems, context } = await newPage(browser);
    await page.goto(base.url);
    await page.locator("#signin").waitFor({ state: "visible" });
    assert.equal(await page.locator("#mydata").isVisible(), false, "My Data stays hidden");
    assert.equal(await page.locator("#account").isVisible(), false, "no account menu");
    assert.equal(await page.locator("#boot").isVisible(), false, "no endless loading line");
    assert.match(await page.locator("#signin-title").textContent(), /Sign in/);
    // Locally the server offers dev sign-in (GET api/config says so, or the form is the fallback).
    assert.ok(await page.locator("#signin-dev").isVisible(), "dev sign-in form shown");
    assert.deepEqual(problems, []);
    await context.close();
  });

  test("the user id is validated inline, tied to its input", async () => {
    const { page, problems, context } = await newPage(browser);
    await page.goto(base.url);
    await page.locator("#signin-dev").waitFor({ state: "visible" });
    await page.click("#dev-signin-btn");
    const err = page.locator("#dev-user-error");
    await err.waitFor({ state: "visible" });
    assert.match(await err.textContent(), /Enter a user id/);
    assert.equal(await page.getAttribute("#dev-user", "aria-invalid"), "true");
    assert.ok((await page.getAttribute("#dev-user", "aria-describedby")).split(" ").includes("dev-user-error"));
    await page.fill("#dev-user", "not valid!");
    await page.click("#dev-signin-btn");
    await page.waitForFunction(() => /1 to 128/.test(document.getElementById("dev-user-error").textContent));
    assert.equal(await page.locator("#mydata").isVisible(), false);
    assert.deepEqual(problems, []);
    await context.close();
  });

  test("signing in and out", async () => {
    const { page, problems, context } = await newPage(browser);
    await page.goto(base.url);
    await page.fill("#dev-user", uid("fe-out-"));
    await page.press("#dev-user", "Enter");
    await page.locator("#mydata").waitFor({ state: "visible" });
    assert.ok(await page.locator("#account").isVisible());
    assert.ok(await page.evaluate(() => sessionStorage.getItem("karaoke.session")), "token kept in sessionStorage");
    await page.click("#sign-out");
    await page.locator("#signin").waitFor({ state: "visible" });
    assert.equal(await page.locator("#mydata").isVisible(), false);
    assert.match(await page.locator("#signin-message").textContent(), /signed out/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem("karaoke.session")), null);
    assert.deepEqual(problems, []);
    await context.close();
  });

  test("a rejected token (401) returns to the sign-in screen with a reason", async () => {
    const bogus = JSON.stringify({ token: "not-a-real-token", user_id: "ghost", expires_at: Date.now() + 3_600_000 });
    const { page, problems, context } = await newPage(browser, { storage: { "karaoke.session": bogus } });
    await page.goto(base.url);
    await page.locator("#signin").waitFor({ state: "visible" });
    await page.locator("#signin-message").waitFor({ state: "visible" });
    assert.match(await page.locator("#signin-message").textContent(), /session has ended/);
    assert.equal(await page.locator("#mydata").isVisible(), false);
    assert.deepEqual(problems, []);
    await context.close();
  });

  test("sign-in screen fits 375 px and a desktop", async () => {
    for (const viewport of [MOBILE, DESKTOP]) {
      const { page, problems, context } = await newPage(browser, { viewport });
      await page.goto(base.url);
      await page.locator("#signin").waitFor({ state: "visible" });
      await assertNoHorizontalScroll(page, viewport.width);
      if (viewport === MOBILE) await page.screenshot({ path: shot("mobile-signin.png"), fullPage: true, animations: "disabled" });
      assert.deepEqual(problems, []);
      await context.close();
    }
  });
});
