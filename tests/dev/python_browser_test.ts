/**
 * A Python app's traceback page and console in a real browser: Debian's
 * Chromium, driven by playwright-core, against `dev.ts app.py` run as a
 * process from the app's folder, with Debian's interpreter and Flask.
 */
import assert from "node:assert/strict";
import { launchChromium } from "./_helpers.ts";
import { project, withDevPython } from "./_python_dev.ts";

const PIN = "321-654-987";

Deno.test("dev.ts app.py's traceback page shows the view's locals and its console runs Python in a chosen frame", async () => {
  await withDevPython(
    await project(),
    async (url) => {
      const browser = await launchChromium();
      try {
        const page = await browser.newPage();
        const response = await page.goto(`${url}boom`);
        assert.equal(response?.status(), 500);
        assert.equal(
          await page.textContent("h1"),
          "ZeroDivisionError: division by zero",
        );
        const view = page.locator(".frames.app .frame", { hasText: "boom" });
        assert.match(
          await view.locator(".locals").innerText(),
          /secret\s+\{'answer': 42\}/,
        );

        await page.locator("#pin-form input[name=pin]").fill(PIN);
        await page.locator("#pin-form button").click();
        const source = page.locator("#eval-form textarea[name=source]");
        await source.waitFor({ state: "visible", timeout: 5000 });
        await source.fill("secret['answer'] + 1");
        await source.press("Enter");
        await page.locator("#output", { hasText: "43" }).waitFor({
          timeout: 5000,
        });

        // Flask's frames are folded away; open them and pick wsgi_app's.
        await page.locator("details summary").click();
        await page.locator(".frames.other .frame", { hasText: "wsgi_app" })
          .first().getByRole("button", { name: "Console here" }).click();
        await page.getByText("(now in wsgi_app)").waitFor({ timeout: 5000 });
        await source.fill("environ['PATH_INFO']");
        await source.press("Enter");
        await page.locator("#output", { hasText: "'/boom'" }).waitFor({
          timeout: 5000,
        });
      } finally {
        await browser.close();
      }
    },
    [],
    "app.py",
    { WSGI_DEV_PIN: PIN },
  );
});
