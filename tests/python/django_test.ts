/**
 * A minimal Django project (tests/python/fixtures/django_project: DEBUG
 * off, no database) under `server.ts mysite/wsgi.py`, run as its user
 * would: from the project's folder and from the folder above it, with
 * Debian's Django.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  FIXTURES,
  inTempDir,
  listening,
  serveCli,
  TIMEOUT_MS,
} from "./_cli.ts";
import { dechunk, parseRaw, rawRequest } from "../_helpers.ts";

/** Copies the fixture project into `dir/name`. */
async function copyProject(dir: string, name: string): Promise<string> {
  const from = join(FIXTURES, "django_project");
  const to = join(dir, name);
  for (const sub of ["", "mysite"]) {
    await Deno.mkdir(join(to, sub), { recursive: true });
    for await (const entry of Deno.readDir(join(from, sub))) {
      if (entry.isFile) {
        await Deno.copyFile(
          join(from, sub, entry.name),
          join(to, sub, entry.name),
        );
      }
    }
  }
  return to;
}

/** What the project answers, checked the same from any working folder. */
async function checkProject(url: string): Promise<void> {
  const port = Number(new URL(url).port);
  const json = await (await fetch(new URL("/json/?a=1&a=2", url))).json();
  assert.deepEqual(json, {
    method: "GET",
    path: "/json/",
    path_info: "/json/",
    script_name: "",
    full_url: `${url}json/?a=1&a=2`,
    query: { a: ["1", "2"] },
    secure: false,
  });
  const hello = await fetch(new URL("/hello/?name=Django", url));
  assert.equal(await hello.text(), "Hello, Django!\n");
  // CommonMiddleware's APPEND_SLASH.
  const slash = await fetch(new URL("/hello", url), { redirect: "manual" });
  assert.equal(slash.status, 301);
  assert.equal(slash.headers.get("location"), "/hello/");
  await slash.body?.cancel();
  // CsrfViewMiddleware refuses a POST without its token.
  const guarded = await fetch(new URL("/guarded/", url), { method: "POST" });
  assert.equal(guarded.status, 403);
  await guarded.body?.cancel();
  const form = await fetch(new URL("/form/", url), {
    method: "POST",
    body: new URLSearchParams([["tag", "a"], ["tag", "b"]]),
  });
  assert.deepEqual(await form.json(), { tag: ["a", "b"] });
  // DEBUG off: Django answers the view's exception with its own 500 page.
  const failed = await fetch(new URL("/raise/", url));
  assert.equal(failed.status, 500);
  assert.match(await failed.text(), /Server Error \(500\)/);
  const missing = await fetch(new URL("/nowhere/", url));
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
  // FileResponse goes through wsgi.file_wrapper.
  const file = await fetch(new URL("/file/", url));
  assert.match(await file.text(), /^"""A minimal Django project/);
  const { text } = await rawRequest(
    port,
    "GET /stream/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    TIMEOUT_MS,
  );
  const streamed = parseRaw(text);
  assert.ok(streamed.head.includes("transfer-encoding: chunked"));
  assert.equal(
    dechunk(streamed.body),
    "part 0\npart 1\npart 2\npart 3\npart 4\n",
  );
}

Deno.test("server.ts mysite/wsgi.py serves a Django project, run from the project's folder", async () => {
  await inTempDir(async (dir) => {
    const project = await copyProject(dir, "proj");
    const child = serveCli(project, "mysite/wsgi.py", ["--workers", "2"]);
    try {
      await checkProject(await listening(child));
    } finally {
      await child.stop("SIGTERM", TIMEOUT_MS);
    }
    assert.equal((await child.done).code, 0, child.output());
  });
});

Deno.test("server.ts proj/mysite/wsgi.py:application serves a Django project, run from the folder above it", async () => {
  await inTempDir(async (dir) => {
    await copyProject(dir, "proj");
    const child = serveCli(dir, "proj/mysite/wsgi.py:application");
    try {
      await checkProject(await listening(child));
    } finally {
      await child.stop("SIGTERM", TIMEOUT_MS);
    }
    assert.equal((await child.done).code, 0, child.output());
  });
});
