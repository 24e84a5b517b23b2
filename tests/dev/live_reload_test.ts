/** Live reload: the event stream and the script HTML pages get. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempProject, withDev } from "./_helpers.ts";
import { EVENTS_PATH } from "../../_dev/live_reload.ts";

function project(): Promise<string> {
  return tempProject({
    "lib.ts": 'export const title = "one";\n',
    "app.ts": `import { title } from "./lib.ts";
export default (environ: { PATH_INFO: string }, startResponse: (s: string, h: [string, string][]) => unknown) => {
  const html = environ.PATH_INFO !== "/text";
  startResponse("200 OK", [["Content-Type", html ? "text/html" : "text/plain"], ["Content-Length", String(title.length)]]);
  return [title];
};
`,
  });
}

/** Reads an event stream until `event` arrives, for at most 10 s. */
async function waitForEvent(
  body: ReadableStream<Uint8Array>,
  event: string,
): Promise<string> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const timer = setTimeout(() => reader.cancel(), 10_000);
  let seen = "";
  try {
    while (!seen.includes(`event: ${event}\n`)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the stream ended without "${event}": ${seen}`);
      seen += value;
    }
    return seen;
  } finally {
    clearTimeout(timer);
    await reader.cancel();
  }
}

Deno.test("runDev() gives HTML pages the reload script and tells them when a save loaded", async () => {
  await withDev(await project(), async (dev, dir) => {
    const page = await fetch(dev.url);
    assert.equal(page.headers.get("content-length"), null);
    const html = await page.text();
    assert.ok(html.startsWith("one"));
    assert.ok(html.includes(`new EventSource("${EVENTS_PATH}")`));
    // Other types are left as they are.
    const text = await fetch(new URL("/text", dev.url));
    assert.equal(text.headers.get("content-length"), "3");
    assert.equal(await text.text(), "one");

    const events = await fetch(new URL(EVENTS_PATH, dev.url));
    assert.equal(events.headers.get("content-type"), "text/event-stream");
    await Deno.writeTextFile(
      join(dir, "lib.ts"),
      'export const title = "two";\n',
    );
    assert.match(
      await waitForEvent(events.body!, "reload"),
      /event: reload\ndata: \d+\n/,
    );
    assert.ok((await (await fetch(dev.url)).text()).startsWith("two"));
  });
});

Deno.test("runDev() shows browsers a load failure as HTML that reloads when fixed", async () => {
  await withDev(await project(), async (dev, dir) => {
    await Deno.writeTextFile(join(dir, "lib.ts"), "export const title = <;\n");
    const deadline = Date.now() + 10_000;
    let page: Response;
    do {
      page = await fetch(dev.url, { headers: { Accept: "text/html" } });
      if (page.status === 500) break;
      await page.body?.cancel();
      await new Promise((resolve) => setTimeout(resolve, 20));
    } while (Date.now() < deadline);
    assert.equal(page.status, 500);
    const html = await page.text();
    assert.match(html, /The app failed to load/);
    assert.ok(html.includes(`new EventSource("${EVENTS_PATH}")`));
  });
});

Deno.test("runDev({ liveReload: false }) leaves pages alone and serves no event stream", async () => {
  await withDev(await project(), async (dev) => {
    assert.equal(await (await fetch(dev.url)).text(), "one");
    // The dev server's paths stay its own, and say why there is no stream.
    const events = await fetch(new URL(EVENTS_PATH, dev.url));
    assert.equal(events.status, 404);
    assert.match((await events.json()).error, /--no-live-reload/);
  }, { liveReload: false });
});
