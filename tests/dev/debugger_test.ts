/** The dev server's traceback pages, from a real app throwing under runDev. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { tempProject, withDev } from "./_helpers.ts";
import { framesOf, tracebackText } from "../../_dev/debugger/traceback.ts";

/** An app whose handler calls lib.ts's `explode`, which throws on line 2. */
function project(): Promise<string> {
  return tempProject({
    "lib.ts":
      "export function explode(what: string): never {\n  throw new Error(`cannot <b>${what}</b>`);\n}\n",
    "app.ts": `import { explode } from "./lib.ts";
export default function handler(environ: { PATH_INFO: string }, startResponse: (s: string, h: [string, string][]) => unknown) {
  if (environ.PATH_INFO === "/boom") explode("compute");
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return ["fine"];
}
`,
  });
}

Deno.test("framesOf() finds each frame's file, line, source and owner", async () => {
  const dir = await project();
  try {
    const { explode } = await import(pathToFileURL(join(dir, "lib.ts")).href);
    let error: unknown;
    try {
      explode("test");
    } catch (caught) {
      error = caught;
    }
    const frames = framesOf(error);
    assert.equal(frames[0].fn, "explode");
    assert.equal(frames[0].url, pathToFileURL(join(dir, "lib.ts")).href);
    assert.equal(frames[0].line, 2);
    assert.equal(frames[0].kind, "app");
    assert.match(
      frames[0].source!.lines[frames[0].line - frames[0].source!.first],
      /throw new Error/,
    );
    assert.match(
      tracebackText(error),
      /Error: cannot <b>test<\/b>\n\nTraceback \(most recent call first\):\n {2}\* at explode/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runDev() answers an exception with a traceback page, HTML or text by Accept", async () => {
  await withDev(await project(), async (dev, dir) => {
    const html = await fetch(new URL("/boom", dev.url), {
      headers: { Accept: "text/html" },
    });
    assert.equal(html.status, 500);
    assert.equal(html.headers.get("content-type"), "text/html; charset=utf-8");
    const page = await html.text();
    // The message is escaped: nothing the app threw becomes markup.
    assert.ok(page.includes("Error: cannot &lt;b&gt;compute&lt;/b&gt;"));
    assert.ok(!page.includes("<b>compute</b>"));
    assert.ok(page.includes(`${pathToFileURL(join(dir, "lib.ts")).href}:2:`));
    assert.ok(page.includes(`${pathToFileURL(join(dir, "app.ts")).href}:3:`));
    assert.match(
      page,
      /<b class="here"><span class="n">2<\/span> {3}throw new Error/,
    );
    assert.match(
      page,
      /<h2>Your code<\/h2>\n<ol class="frames app"><li class="frame app">/,
    );
    assert.match(page, /Library and runtime frames/);

    const text = await fetch(new URL("/boom", dev.url));
    assert.equal(text.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.match(
      await text.text(),
      /^Error: cannot <b>compute<\/b>\n\nTraceback \(most recent call first\):\n {2}\* at explode/,
    );

    assert.equal(await (await fetch(dev.url)).text(), "fine");
  });
});

Deno.test("runDev() shows where a syntax error is, with its source lines", async () => {
  const dir = await project();
  await withDev(dir, async (dev) => {
    await Deno.writeTextFile(
      join(dir, "lib.ts"),
      "export function explode(what: string): never {\n  throw new Error(what;\n}\n",
    );
    const deadline = Date.now() + 10_000;
    let page = "";
    while (Date.now() < deadline) {
      const response = await fetch(dev.url, {
        headers: { Accept: "text/html" },
      });
      page = await response.text();
      if (response.status === 500) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.match(page, /The app failed to load/);
    assert.ok(page.includes(`${pathToFileURL(join(dir, "lib.ts")).href}:2:`));
    assert.match(
      page,
      /<b class="here"><span class="n">2<\/span> {3}throw new Error\(what;<\/b>/,
    );
    const text = await (await fetch(dev.url)).text();
    assert.match(
      text,
      /^The app failed to load[\s\S]*Traceback \(most recent call first\):\n {2}\* at <module> \(file:/,
    );
  });
});
