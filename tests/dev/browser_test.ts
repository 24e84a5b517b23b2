/**
 * Live reload in a real browser: Debian's Chromium, driven by
 * playwright-core, watches a page reload itself after a save, and an error
 * page recover by itself after a fix.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { chromium, type Page } from "playwright-core";
import type { DevServer } from "../../dev.ts";
import { tempProject, withDev } from "./_helpers.ts";

const CHROMIUM = "/usr/bin/chromium";

function project(): Promise<string> {
  return tempProject({
    "lib.ts": 'export const title = "first";\n',
    "app.ts": `import { title } from "./lib.ts";
export default (environ: { PATH_INFO: string }, startResponse: (s: string, h: [string, string][]) => unknown) => {
  if (environ.PATH_INFO === "/boom") throw new Error("boom in " + title);
  startResponse("200 OK", [["Content-Type", "text/html; charset=utf-8"]]);
  return [\`<!doctype html><title>\${title}</title><h1>\${title}</h1>\`];
};
`,
  });
}

// The flags keep Chromium from reaching for the network this machine lacks.
const launch = () =>
  chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });

/** Runs `fn` with a browser page and a dev server on a fresh project. */
async function inBrowser(
  fn: (page: Page, dev: DevServer, dir: string) => Promise<void>,
): Promise<void> {
  await withDev(await project(), async (dev, dir) => {
    const browser = await launch();
    try {
      await fn(await browser.newPage(), dev, dir);
    } finally {
      await browser.close();
    }
  });
}

Deno.test("a page served by dev.ts reloads itself on save and recovers from a broken save", async () => {
  await inBrowser(async (page, dev, dir) => {
    await page.goto(dev.url);
    assert.equal(await page.textContent("h1"), "first");

    await Deno.writeTextFile(
      join(dir, "lib.ts"),
      'export const title = "second";\n',
    );
    await page.locator("h1", { hasText: /^second$/ }).waitFor({
      timeout: 10_000,
    });

    await Deno.writeTextFile(join(dir, "lib.ts"), "export const title = <;\n");
    await page.getByText("The app failed to load").waitFor({ timeout: 10_000 });

    await Deno.writeTextFile(
      join(dir, "lib.ts"),
      'export const title = "third";\n',
    );
    await page.locator("h1", { hasText: /^third$/ }).waitFor({
      timeout: 10_000,
    });
    assert.equal(await page.title(), "third");
  });
});

Deno.test("the traceback page's console takes the PIN, then evaluates in the app", async () => {
  await inBrowser(async (page, dev) => {
    const response = await page.goto(`${dev.url}boom`);
    assert.equal(response?.status(), 500);
    await page.getByText("Error: boom in first").first().waitFor();

    await page.locator("#pin-form input[name=pin]").fill("123-123-123");
    await page.locator("#pin-form button").click();
    await page.getByText("Wrong PIN: 9 tries left").waitFor({ timeout: 5000 });

    await page.locator("#pin-form input[name=pin]").fill(dev.pin!);
    await page.locator("#pin-form button").click();
    const source = page.locator("#eval-form input[name=source]");
    await source.waitFor({ state: "visible", timeout: 5000 });
    await source.fill("typeof exports.default + ' / ' + error.message");
    await source.press("Enter");
    await page.locator("#output", { hasText: '"function / boom in first"' })
      .waitFor({ timeout: 5000 });

    // The cookie keeps the console open on the next page.
    await page.reload();
    await page.locator("#eval-form input[name=source]").waitFor({
      state: "visible",
      timeout: 5000,
    });
  });
});
