/**
 * pythonApp() with Debian's Flask: an unmodified Flask app served by
 * serve() and requested with fetch over real HTTP.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { pythonApp } from "../../python.ts";
import { withServer } from "../_helpers.ts";
import { PY } from "./_python.ts";

const FLASK = fileURLToPath(
  new URL("./fixtures/flask_app.py:app", import.meta.url),
);

Deno.test("pythonApp() serves a Flask app: routes, JSON, form, upload, cookies, session, redirect, stream, error handlers", async () => {
  await using app = pythonApp(FLASK, { ...PY, threads: 2 });
  await app.ready;
  await withServer(app, async (_server, port) => {
    const base = `http://127.0.0.1:${port}`;

    const index = await fetch(`${base}/`);
    assert.equal(index.status, 200);
    assert.equal(index.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(await index.text(), "Hello from Flask");

    const json = await fetch(`${base}/json`);
    assert.equal(json.headers.get("content-type"), "application/json");
    assert.deepEqual(await json.json(), { answer: 42, items: [1, 2, 3] });
    const posted = await fetch(`${base}/json`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ a: "\u2615" }),
    });
    assert.deepEqual(await posted.json(), {
      received: { a: "\u2615" },
      method: "POST",
    });

    const form = await fetch(`${base}/form`, {
      method: "POST",
      body: new URLSearchParams([["name", "Zo\u00eb"], ["tag", "a"], [
        "tag",
        "b",
      ]]),
    });
    assert.deepEqual(await form.json(), { name: "Zo\u00eb", tags: ["a", "b"] });

    const data = new FormData();
    const bytes = new Uint8Array(200_000).map((_, i) => 65 + (i % 26));
    data.append("file", new Blob([bytes]), "letters.txt");
    data.append("note", "big");
    const upload = await fetch(`${base}/upload`, {
      method: "POST",
      body: data,
    });
    assert.deepEqual(await upload.json(), {
      filename: "letters.txt",
      size: 200_000,
      first: "ABCDEFGHIJKLMNOP",
      note: "big",
    });

    const set = await fetch(`${base}/cookie/set`);
    await set.body?.cancel();
    const cookie = set.headers.get("set-cookie") ?? "";
    assert.match(cookie, /^flavour=oatmeal; HttpOnly; Path=\/$/);
    const back = await fetch(`${base}/cookie/get`, {
      headers: { Cookie: "flavour=oatmeal" },
    });
    assert.equal(await back.text(), "oatmeal");

    let session = "";
    for (const expected of ["1", "2", "3"]) {
      const added = await fetch(`${base}/session/add`, {
        headers: session ? { Cookie: session } : {},
      });
      assert.equal(await added.text(), expected);
      session = (added.headers.get("set-cookie") ?? "").split(";")[0];
      assert.match(session, /^session=/);
    }

    const moved = await fetch(`${base}/redirect`, { redirect: "manual" });
    await moved.body?.cancel();
    assert.equal(moved.status, 302);
    assert.equal(moved.headers.get("location"), "/");

    const stream = await fetch(`${base}/stream`);
    assert.equal(stream.headers.get("content-length"), null);
    assert.equal(await stream.text(), "part 0\npart 1\npart 2\npart 3\n");

    const teapot = await fetch(`${base}/teapot`);
    assert.equal(teapot.status, 418);
    assert.deepEqual(await teapot.json(), { error: "I am a teapot" });
    const missing = await fetch(`${base}/nowhere`);
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), {
      error: "no such page",
      path: "/nowhere",
    });
  });
});
