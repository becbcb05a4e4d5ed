// The page without a session: a clear sign-in screen, inline validation, expired sessions.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  pageBase, launch, newPage, uid, shot, assertNoHorizontalScroll, DESKTOP, MOBILE,
  localCredentials, signInFromPage,
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
    // One way in, the same as in AWS: the hosted sign-in of the stack's Cognito user pool.
    await page.locator("#signin-cognito-btn").waitFor({ state: "visible" });
    assert.equal(await page.locator("#signin-dev").count(), 0, "no developer sign-in");
    assert.deepEqual(problems, []);
    await context.close();
  });

  test("a wrong password stays on the hosted sign-in page and signs nobody in", async () => {
    const { page, problems, context } = await newPage(browser);
    const { email } = await localCredentials(uid("fe-pw-"));
    await page.goto(base.url);
    await page.click("#signin-cognito-btn");
    await page.locator("input[name=username]").waitFor({ state: "visible" });
    await page.fill("input[name=username]", email);
    await page.fill("input[name=password]", "Not-the-password-1");
    await page.click("button[type=submit]");
    await page.getByText(/Incorrect username or password/).waitFor({ state: "visible" });
    assert.equal(await page.evaluate(() => sessionStorage.getItem("karaoke.session")), null);
    assert.deepEqual(problems, []);
    await context.close();
  });

  test("signing in and out", async () => {
    const { page, problems, context } = await newPage(browser);
    await signInFromPage(page, base.url, uid("fe-out-"));
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
