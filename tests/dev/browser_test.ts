/**
 * Live reload in a real browser: Debian's Chromium, driven by
 * playwright-core, watches a page reload itself after a save, and an error
 * page recover by itself after a fix.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Page } from "playwright-core";
import type { DevServer } from "../../dev.ts";
import { launchChromium, tempProject, withDev } from "./_helpers.ts";

// Set WSGI_SCREENSHOTS to a directory to keep the pages' screenshots there.
const SCREENSHOTS = Deno.env.get("WSGI_SCREENSHOTS");

function project(): Promise<string> {
  return tempProject({
    "lib.ts": 'export const title = "first";\n',
    "app.ts": `import { title } from "./lib.ts";
async function step(): Promise<never> {
  await null;
  throw new Error("step failed in " + title);
}
export default async (environ: { PATH_INFO: string }, startResponse: (s: string, h: [string, string][]) => unknown) => {
  if (environ.PATH_INFO === "/boom") throw new Error("boom in " + title);
  if (environ.PATH_INFO === "/async") await (async () => { await step(); })();
  startResponse("200 OK", [["Content-Type", "text/html; charset=utf-8"]]);
  return [\`<!doctype html><title>\${title}</title><h1>\${title}</h1>\`];
};
`,
  });
}

/** Runs `fn` with a browser page and a dev server on a fresh project. */
async function inBrowser(
  fn: (page: Page, dev: DevServer, dir: string) => Promise<void>,
): Promise<void> {
  await withDev(await project(), async (dev, dir) => {
    const browser = await launchChromium();
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
    const source = page.locator("#eval-form [name=source]");
    await source.waitFor({ state: "visible", timeout: 5000 });
    await source.fill("typeof exports.default + ' / ' + error.message");
    await source.press("Enter");
    await page.locator("#output", { hasText: '"function / boom in first"' })
      .waitFor({ timeout: 5000 });

    // The cookie keeps the console open on the next page.
    await page.reload();
    await page.locator("#eval-form [name=source]").waitFor({
      state: "visible",
      timeout: 5000,
    });
  });
});

/**
 * The pixel tops of each source line's number in each frame's source, to
 * see that they are evenly spaced.
 */
function lineTops(page: Page): Promise<number[][]> {
  return page.$$eval(
    "ol.frames.app pre.source",
    (pres) =>
      pres.map((pre) =>
        [...pre.querySelectorAll(".n")].map((n) =>
          n.getBoundingClientRect().top
        )
      ),
  );
}

/** Takes a screenshot of the page, kept if WSGI_SCREENSHOTS says where. */
async function screenshot(page: Page, name: string): Promise<void> {
  const png = await page.screenshot({ fullPage: true });
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
  if (SCREENSHOTS) await Deno.writeFile(join(SCREENSHOTS, `${name}.png`), png);
}

Deno.test("a traceback page shows an async handler's frames as the app's, each source line once, the query string kept", async () => {
  await inBrowser(async (page, dev) => {
    const response = await page.goto(`${dev.url}async?user=7&q=a%20b`);
    assert.equal(response?.status(), 500);
    assert.equal(
      await page.textContent("p.request"),
      "GET /async?user=7&q=a%20b",
    );
    const app = await page.$$eval(
      "ol.frames.app code.fn",
      (codes) => codes.map((code) => code.textContent),
    );
    assert.deepEqual(app, ["step", "<anonymous>", "default"]);
    assert.equal(await page.locator("details").getAttribute("open"), null);

    const tops = await lineTops(page);
    assert.equal(tops.length, 3);
    const step = tops[0][1] - tops[0][0];
    assert.ok(step > 10, `a line is ${step}px high`);
    for (const lines of tops) {
      for (let i = 1; i < lines.length; i++) {
        assert.ok(
          Math.abs(lines[i] - lines[i - 1] - step) < 1,
          `line ${i} of ${lines.length} starts ${
            lines[i] - lines[i - 1]
          }px below the one before, not ${step}px`,
        );
      }
    }
    // The highlighted line is the frame's.
    assert.match(
      await page.locator("ol.frames.app .here").first().textContent() ?? "",
      /^4 {3}throw new Error\("step failed in " \+ title\);\n$/,
    );
    await screenshot(page, "traceback");
  });
});

Deno.test("a failed import's page shows the import line as the app's, without colour codes", async () => {
  await inBrowser(async (page, dev, dir) => {
    await page.goto(dev.url);
    await Deno.writeTextFile(
      join(dir, "lib.ts"),
      'import { gone } from "./gone.ts";\nexport const title = gone;\n',
    );
    await page.getByText("The app failed to load").waitFor({ timeout: 10_000 });
    const heading = await page.textContent("h1") ?? "";
    assert.match(
      heading,
      /^TypeError: Module not found "file:\S+\/gone\.ts"\.$/,
    );
    const content = await page.content();
    assert.ok(!content.includes("\x1b") && !content.includes("[0m"));
    assert.deepEqual(
      await page.$$eval(
        "ol.frames.app li",
        (items) =>
          items.map((item) =>
            `${item.querySelector(".fn")?.textContent} ${
              item.querySelector(".here")?.textContent
            }`
          ),
      ),
      ['<module> 1 import { gone } from "./gone.ts";\n'],
    );
    assert.equal(
      await page.getByText("No frame of the app's own code").count(),
      0,
    );
    await screenshot(page, "failed_import");
  });
});

Deno.test("the console keeps its input history on up and down, and Shift+Enter starts a new line", async () => {
  await inBrowser(async (page, dev) => {
    await page.goto(`${dev.url}boom`);
    await page.locator("#pin-form input[name=pin]").fill(dev.pin!);
    await page.locator("#pin-form button").click();
    const source = page.locator("#eval-form [name=source]");
    await source.waitFor({ state: "visible", timeout: 5000 });
    const output = page.locator("#output");
    const keyboard = page.keyboard;

    await source.focus();
    await keyboard.type("40 + 2");
    await keyboard.press("Enter");
    await output.filter({ hasText: /> 40 \+ 2\n42\n$/ }).waitFor({
      timeout: 5000,
    });
    await keyboard.type("const a = 'multi';");
    await keyboard.press("Shift+Enter");
    await keyboard.type("return a + '-line';");
    assert.equal(
      await source.inputValue(),
      "const a = 'multi';\nreturn a + '-line';",
    );
    assert.equal(await source.getAttribute("rows"), "2");
    await keyboard.press("Enter");
    await output.filter({ hasText: /"multi-line"\n$/ }).waitFor({
      timeout: 5000,
    });
    assert.match(
      await output.textContent() ?? "",
      /> const a = 'multi';\n {2}return a \+ '-line';\n"multi-line"\n$/,
    );
    assert.equal(await source.inputValue(), "");

    await keyboard.type("draft");
    await keyboard.press("ArrowUp");
    assert.equal(
      await source.inputValue(),
      "const a = 'multi';\nreturn a + '-line';",
    );
    // From the last line of an entry the arrow moves up a line first.
    await keyboard.press("ArrowUp");
    assert.equal(
      await source.inputValue(),
      "const a = 'multi';\nreturn a + '-line';",
    );
    await keyboard.press("ArrowUp");
    assert.equal(await source.inputValue(), "40 + 2");
    await keyboard.press("ArrowUp");
    assert.equal(await source.inputValue(), "40 + 2");
    await keyboard.press("ArrowDown");
    assert.equal(
      await source.inputValue(),
      "const a = 'multi';\nreturn a + '-line';",
    );
    await keyboard.press("ArrowDown");
    assert.equal(await source.inputValue(), "draft");

    // A recalled entry runs again with Enter.
    await keyboard.press("ArrowUp");
    await keyboard.press("ArrowUp");
    await keyboard.press("ArrowUp");
    assert.equal(await source.inputValue(), "40 + 2");
    await keyboard.press("Enter");
    await output.filter({ hasText: /> 40 \+ 2\n42\n[\s\S]*> 40 \+ 2\n42\n$/ })
      .waitFor({ timeout: 5000 });
    await screenshot(page, "console");
  });
});
