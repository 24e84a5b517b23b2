/** examples/stack.ts, the whole middleware stack, through a real server. */
import assert from "node:assert/strict";
import { createApp } from "../examples/stack.ts";
import { withServer } from "./_helpers.ts";

Deno.test("examples/stack.ts serves its API, Hono app, static files and home page", async () => {
  const lines: string[] = [];
  const app = createApp({ log: (line) => void lines.push(line) });
  await withServer(app, async (server) => {
    const at = (path: string) => new URL(path, server.url);

    // The home page, compressed for a client that accepts gzip.
    const home = await fetch(at("/"), {
      headers: { "Accept-Encoding": "gzip" },
    });
    assert.equal(home.headers.get("content-encoding"), "gzip");
    assert.match(home.headers.get("vary") ?? "", /Accept-Encoding/);
    assert.match(await home.text(), /The stack example/);

    // The notes API on the Router.
    const created = await fetch(at("/api/notes"), {
      method: "POST",
      body: JSON.stringify({ text: "buy milk" }),
    });
    assert.equal(created.status, 201);
    const note = await created.json();
    assert.deepEqual(
      await (await fetch(at(`/api/notes/${note.id}`))).json(),
      note,
    );
    assert.deepEqual(await (await fetch(at("/api/notes"))).json(), [note]);
    const bad = await fetch(at("/api/notes"), { method: "POST", body: "nope" });
    assert.equal(bad.status, 400);
    await bad.body?.cancel();
    const wrong = await fetch(at("/api/notes"), { method: "PUT" });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get("allow"), "GET, HEAD, OPTIONS, POST");
    await wrong.body?.cancel();
    const removed = await fetch(at(`/api/notes/${note.id}`), {
      method: "DELETE",
    });
    assert.equal(removed.status, 204);
    await removed.body?.cancel();

    // The Hono app, mounted through fromFetch.
    assert.deepEqual(await (await fetch(at("/hono/hello/deno"))).json(), {
      hello: "deno",
    });

    // Static files with validators and ranges.
    const file = await fetch(at("/static/hello.txt"));
    const etag = file.headers.get("etag");
    const text = await file.text();
    assert.ok(etag);
    const again = await fetch(at("/static/hello.txt"), {
      headers: { "If-None-Match": etag },
    });
    assert.equal(again.status, 304);
    await again.body?.cancel();
    const range = await fetch(at("/static/hello.txt"), {
      headers: { Range: "bytes=0-4" },
    });
    assert.equal(range.status, 206);
    assert.equal(await range.text(), text.slice(0, 5));
  });
  // One access log line per request, in Combined Log Format.
  assert.equal(lines.length, 11);
  assert.match(
    lines[0],
    /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/ HTTP\/1\.1" 200 \d+ "-" "[^"]*"/,
  );
  assert.ok(
    lines.some((line) => line.includes('"POST /api/notes HTTP/1.1" 201')),
  );
});
