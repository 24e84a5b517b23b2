/**
 * staticFiles: validators, conditional and range requests, HEAD, types,
 * index and redirect, caching, fall-through, single-file mode, and every
 * way out of the root we could think of, over a real socket.
 */
import assert from "node:assert/strict";
import type { App, Body } from "../../mod.ts";
import { staticFiles } from "../../middleware/static_files.ts";
import { validator } from "../../middleware/validator.ts";
import { buildEnviron } from "../../testing.ts";
import { errorLog, parseRaw, rawRequest, withServer } from "../_helpers.ts";
// Every client here runs its subject under the validator.
import { LintedClient as Client } from "../_helpers.ts";

const SECRET = `TOP-SECRET-${crypto.randomUUID()}`;

/** The app behind the middleware: says it was reached, and with what path. */
const inner: App = (environ, startResponse) => {
  startResponse("404 Not Found", [["Content-Type", "text/plain"]]);
  return [`fallthrough ${JSON.stringify(environ.PATH_INFO)}`];
};

/** A modification time well in the past, in seconds. */
const PAST = Date.UTC(2020, 1, 3, 4, 5, 6) / 1000;

/** 1 KiB of bytes 0-255 repeated: every byte value, position-dependent. */
const DATA = Uint8Array.from({ length: 1024 }, (_, i) => (i * 7 + 3) & 0xff);

interface Tree {
  /** The temp dir holding the root and, beside it, the secret. */
  base: string;
  root: string;
  secretFile: string;
  cleanup(): Promise<void>;
}

/**
 * A temp dir:
 *
 * ```
 * base/secret.txt             the secret, outside the root
 * base/outside/secret.txt     the secret again, in a directory
 * base/root/                  the root
 *   hello.txt index.html data.bin style.css app.js data.json pic.png
 *   noext  UPPER.HTML  weird.xyz  café.txt  .env  %2e%2e (a file)
 *   sub/index.html  sub/page.css  empty/
 *   link-in -> hello.txt   link-out -> ../secret.txt
 *   dir-link-out -> ../outside   abs-link -> base/secret.txt
 * ```
 */
async function makeTree(): Promise<Tree> {
  const base = await Deno.makeTempDir({ prefix: "static_files_test_" });
  const root = `${base}/root`;
  const write = (path: string, text: string) =>
    Deno.writeTextFile(`${root}/${path}`, text);
  await Deno.mkdir(`${root}/sub`, { recursive: true });
  await Deno.mkdir(`${root}/empty`);
  await Deno.mkdir(`${base}/outside`);
  await Deno.writeTextFile(`${base}/secret.txt`, SECRET);
  await Deno.writeTextFile(`${base}/outside/secret.txt`, SECRET);
  await write("hello.txt", "Hello, static\n");
  await write("index.html", "<h1>root index</h1>");
  await write("sub/index.html", "<h1>sub index</h1>");
  await write("sub/page.css", "body{}");
  await write("style.css", "p{}");
  await write("app.js", "1");
  await write("data.json", "{}");
  await write("pic.png", "png");
  await write("noext", "x");
  await write("UPPER.HTML", "<p>");
  await write("weird.xyz", "?");
  await write("café.txt", "utf-8 name");
  await write(".env", "DOTFILE");
  await write("%2e%2e", "a file literally named %2e%2e");
  await Deno.writeFile(`${root}/data.bin`, DATA);
  await Deno.symlink("hello.txt", `${root}/link-in`);
  await Deno.symlink("../secret.txt", `${root}/link-out`);
  await Deno.symlink("../outside", `${root}/dir-link-out`);
  await Deno.symlink(`${base}/secret.txt`, `${root}/abs-link`);
  return {
    base,
    root,
    secretFile: `${base}/secret.txt`,
    cleanup: () => Deno.remove(base, { recursive: true }),
  };
}

/** Runs `fn` with a fresh tree, removed afterwards. */
async function withTree(fn: (tree: Tree) => Promise<void>): Promise<void> {
  const tree = await makeTree();
  try {
    await fn(tree);
  } finally {
    await tree.cleanup();
  }
}

/** A raw GET (or other method) with `Connection: close`, split up. */
async function raw(
  port: number,
  target: string,
  headers: Record<string, string> = {},
  method = "GET",
): Promise<{ status: number; head: string[]; body: string; text: string }> {
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
  const { text } = await rawRequest(
    port,
    `${method} ${target} HTTP/1.1\r\nHost: localhost\r\n${
      lines.join("")
    }Connection: close\r\n\r\n`,
  );
  const { head, body } = parseRaw(text);
  return { status: Number(head[0].split(" ")[1]), head, body, text };
}

function header(head: string[], name: string): string | undefined {
  const prefix = name.toLowerCase() + ":";
  const line = head.find((l) => l.toLowerCase().startsWith(prefix));
  return line?.slice(prefix.length).trim();
}

Deno.test("staticFiles() serves a file with its type, length and validators", async () => {
  await withTree(async ({ root }) => {
    const client = new Client(staticFiles(root)(inner));
    const response = await client.get("/hello.txt");
    assert.equal(response.status, 200);
    assert.equal(response.text(), "Hello, static\n");
    const h = response.headers;
    assert.equal(h.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(h.get("content-length"), "14");
    assert.equal(h.get("accept-ranges"), "bytes");
    assert.equal(h.get("cache-control"), null);
    const info = await Deno.stat(`${root}/hello.txt`);
    const mtime = info.mtime!.getTime();
    assert.equal(h.get("etag"), `"${mtime.toString(16)}-e"`);
    assert.equal(
      h.get("last-modified"),
      new Date(Math.floor(mtime / 1000) * 1000).toUTCString(),
    );
  });
});

Deno.test("staticFiles() returns an app named staticFiles and throws early on bad set-up", async () => {
  await withTree(({ root, base }) => {
    assert.equal(staticFiles(root)(inner).name, "staticFiles");
    assert.throws(() => staticFiles(`${base}/nope`), Deno.errors.NotFound);
    assert.throws(() => staticFiles(""), TypeError);
    assert.throws(
      () => staticFiles(root, { maxAge: 60, cacheControl: "no-cache" }),
      /maxAge or cacheControl, not both/,
    );
    assert.throws(() => staticFiles(root, { maxAge: -1 }), TypeError);
    assert.throws(
      () => staticFiles(root, { cacheControl: "a\r\nb" }),
      TypeError,
    );
    assert.throws(() => staticFiles(root, { index: "../x" }), TypeError);
    assert.throws(() => staticFiles(root, { prefix: "static" }), TypeError);
    assert.throws(() => staticFiles(root, { prefix: "/a/../b" }), TypeError);
    assert.throws(
      // deno-lint-ignore no-explicit-any
      () => staticFiles(root, { etag: "maybe" as any }),
      TypeError,
    );
    return Promise.resolve();
  });
});

Deno.test("staticFiles() answers If-None-Match with 304: exact, weak, listed and *", async () => {
  await withTree(async ({ root }) => {
    const client = new Client(staticFiles(root, { maxAge: 60 })(inner));
    const first = await client.get("/hello.txt");
    const etag = first.headers.get("etag")!;
    for (
      const value of [etag, `W/${etag}`, `"nope", ${etag}`, "*"]
    ) {
      const response = await client.get("/hello.txt", {
        headers: { "If-None-Match": value },
      });
      assert.equal(response.status, 304, value);
      assert.equal(response.body.length, 0);
      assert.equal(response.headers.get("etag"), etag);
      assert.equal(response.headers.get("cache-control"), "public, max-age=60");
      assert.equal(response.headers.get("content-type"), null);
    }
    const changed = await client.get("/hello.txt", {
      headers: { "If-None-Match": '"other"' },
    });
    assert.equal(changed.status, 200);
    assert.equal(changed.text(), "Hello, static\n");
  });
});

Deno.test("staticFiles() answers If-Modified-Since with 304, and If-None-Match wins over it", async () => {
  await withTree(async ({ root }) => {
    const client = new Client(staticFiles(root)(inner));
    const lastModified = (await client.get("/hello.txt")).headers.get(
      "last-modified",
    )!;
    const ims = (value: string, extra: Record<string, string> = {}) =>
      client.get("/hello.txt", {
        headers: { "If-Modified-Since": value, ...extra },
      });
    assert.equal((await ims(lastModified)).status, 304);
    const later = new Date(Date.parse(lastModified) + 3600_000).toUTCString();
    assert.equal((await ims(later)).status, 304);
    const earlier = new Date(Date.parse(lastModified) - 1000).toUTCString();
    assert.equal((await ims(earlier)).status, 200);
    assert.equal((await ims("not a date")).status, 200);
    // A stale ETag means a changed file, whatever the date says.
    assert.equal(
      (await ims(later, { "If-None-Match": '"stale"' })).status,
      200,
    );
  });
});

Deno.test("staticFiles() serves single ranges with 206: a-b, a- and -n", async () => {
  await withTree(async ({ root }) => {
    const client = new Client(staticFiles(root)(inner));
    const range = (value: string) =>
      client.get("/data.bin", { headers: { Range: value } });
    const cases: [string, number, number][] = [
      ["bytes=2-5", 2, 5],
      ["bytes=1000-", 1000, 1023],
      ["bytes=-4", 1020, 1023],
      ["bytes=0-0", 0, 0],
      ["bytes=1020-99999", 1020, 1023],
      ["bytes=-5000", 0, 1023],
      ["BYTES=10 - 19", 10, 19],
    ];
    for (const [value, start, end] of cases) {
      const response = await range(value);
      assert.equal(response.status, 206, value);
      assert.equal(
        response.headers.get("content-range"),
        `bytes ${start}-${end}/1024`,
      );
      assert.equal(
        response.headers.get("content-length"),
        String(end - start + 1),
      );
      assert.deepEqual(response.body, DATA.subarray(start, end + 1), value);
      assert.equal(
        response.headers.get("content-type"),
        "application/octet-stream",
      );
    }
  });
});

Deno.test("staticFiles() answers unsatisfiable ranges with 416 and ignores the rest", async () => {
  await withTree(async ({ root }) => {
    const client = new Client(staticFiles(root)(inner));
    const range = (value: string) =>
      client.get("/data.bin", { headers: { Range: value } });
    for (const value of ["bytes=1024-", "bytes=5000-6000", "bytes=-0"]) {
      const response = await range(value);
      assert.equal(response.status, 416, value);
      assert.equal(response.headers.get("content-range"), "bytes */1024");
    }
    // Several ranges, another unit, nonsense, last < first: the whole file.
    for (
      const value of [
        "bytes=0-1,5-6",
        "bytes=0-1, -2",
        "items=0-1",
        "bytes=abc",
        "bytes=-",
        "bytes=9-3",
        // No whitespace around "=" (RFC 9110 14.1); nginx ignores it too.
        "bytes = 10-19",
      ]
    ) {
      const response = await range(value);
      assert.equal(response.status, 200, value);
      assert.equal(response.headers.get("content-range"), null);
      assert.deepEqual(response.body, DATA, value);
    }
  });
});

Deno.test("staticFiles() honours If-Range with a strong ETag or the exact date", async () => {
  await withTree(async ({ root }) => {
    // Modified long ago, so that its date is a strong validator.
    await Deno.utime(`${root}/data.bin`, PAST, PAST);
    const client = new Client(staticFiles(root)(inner));
    const first = await client.get("/data.bin");
    const etag = first.headers.get("etag")!;
    const date = first.headers.get("last-modified")!;
    const get = (ifRange: string) =>
      client.get("/data.bin", {
        headers: { Range: "bytes=0-9", "If-Range": ifRange },
      });
    assert.equal((await get(etag)).status, 206);
    assert.equal((await get(date)).status, 206);
    assert.equal((await get('"changed"')).status, 200);
    assert.equal((await get(`W/${etag}`)).status, 200);
    assert.equal(
      (await get(new Date(Date.parse(date) - 1000).toUTCString())).status,
      200,
    );
    // A weak ETag never satisfies If-Range.
    const weak = new Client(staticFiles(root, { etag: "weak" })(inner));
    const weakTag = (await weak.get("/data.bin")).headers.get("etag")!;
    assert.match(weakTag, /^W\/"/);
    const response = await weak.get("/data.bin", {
      headers: { Range: "bytes=0-9", "If-Range": weakTag },
    });
    assert.equal(response.status, 200);
    // No ETag at all.
    const none = new Client(staticFiles(root, { etag: false })(inner));
    assert.equal((await none.get("/data.bin")).headers.get("etag"), null);
  });
});

/** Last-Modified of a file whose mtime is {@linkcode PAST}, in each HTTP-date form. */
const PAST_DATES = {
  imf: "Mon, 03 Feb 2020 04:05:06 GMT",
  rfc850: "Monday, 03-Feb-20 04:05:06 GMT",
  asctime: "Mon Feb  3 04:05:06 2020",
};

Deno.test("staticFiles() reads the three HTTP-date forms and ignores anything else", async () => {
  await withTree(async ({ root }) => {
    await Deno.utime(`${root}/data.bin`, PAST, PAST);
    const client = new Client(staticFiles(root)(inner));
    const get = (headers: Record<string, string>) =>
      client.get("/data.bin", { headers });
    const first = await get({});
    assert.equal(first.headers.get("last-modified"), PAST_DATES.imf);
    for (const date of Object.values(PAST_DATES)) {
      assert.equal(
        (await get({ "If-Modified-Since": date })).status,
        304,
        date,
      );
      const ranged = await get({ Range: "bytes=0-9", "If-Range": date });
      assert.equal(ranged.status, 206, date);
    }
    // Ten years after the file, in forms that are no HTTP-date: RFC 9110
    // 13.1.3 says to ignore them, so the file is sent.
    for (
      const value of [
        "2030-01-01",
        "2030-01-01T00:00:00Z",
        "Tue, 01 Jan 2030 00:00:00 UTC",
        "Tue, 01 Jan 2030 00:00:00",
        "tue, 01 jan 2030 00:00:00 gmt",
        "Tue, 1 Jan 2030 00:00:00 GMT",
        "Tue, 01 Jan 2030 00:00:00 GMT, Tue, 01 Jan 2030 00:00:00 GMT",
        "Tuesday, 01 Jan 2030 00:00:00 GMT",
        "Tue, 31 Feb 2030 00:00:00 GMT",
        "Tue, 01 Jan 2030 24:00:00 GMT",
        "1893456000",
      ]
    ) {
      const response = await get({ "If-Modified-Since": value });
      assert.equal(response.status, 200, value);
      assert.deepEqual(response.body, DATA, value);
    }
    // The file's own date, but not as an HTTP-date: no range.
    for (const value of ["2020-02-03T04:05:06Z", "2020-02-03T04:05:06.000Z"]) {
      const response = await get({ Range: "bytes=0-9", "If-Range": value });
      assert.equal(response.status, 200, value);
    }
  });
});

Deno.test("staticFiles() reads HTTP-dates as UTC whatever the time zone", async () => {
  // Date.parse reads the asctime form in local time, and a process's time
  // zone is fixed when it starts: so each zone gets a process of its own.
  const module = (path: string) => JSON.stringify(import.meta.resolve(path));
  const cases: Record<string, string>[] = [
    // An hour before the file changed: a stale copy.
    { "If-Modified-Since": "Mon Feb  3 03:05:06 2020" },
    { "If-Modified-Since": PAST_DATES.asctime },
    { "If-Range": PAST_DATES.asctime, Range: "bytes=0-1" },
    { "If-Unmodified-Since": "Mon Feb  3 03:05:06 2020" },
    { "If-Unmodified-Since": PAST_DATES.asctime },
  ];
  const code = `
    import { staticFiles } from ${module("../../middleware/static_files.ts")};
    import { Client } from ${module("../../testing.ts")};
    const root = await Deno.makeTempDir({ prefix: "static_files_tz_" });
    try {
      await Deno.writeTextFile(root + "/f.txt", "0123456789");
      await Deno.utime(root + "/f.txt", ${PAST}, ${PAST});
      const client = new Client(staticFiles(root)((_environ, startResponse) => {
        startResponse("404 Not Found", []);
        return [];
      }));
      const statuses = [];
      for (const headers of ${JSON.stringify(cases)}) {
        statuses.push((await client.get("/f.txt", { headers })).status);
      }
      const offset = new Date(Date.UTC(2020, 1, 3)).getTimezoneOffset();
      console.log(JSON.stringify({ offset, statuses }));
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  `;
  for (
    const [zone, offset] of [
      ["America/New_York", 300],
      ["Asia/Kolkata", -330],
    ] as const
  ) {
    const { code: exit, stdout, stderr } = await new Deno.Command(
      Deno.execPath(),
      {
        args: ["eval", "--ext=ts", code],
        env: { TZ: zone },
        stdout: "piped",
        stderr: "piped",
      },
    ).output();
    const err = new TextDecoder().decode(stderr);
    assert.equal(exit, 0, err);
    const result = JSON.parse(new TextDecoder().decode(stdout));
    // The child really runs in that zone.
    assert.equal(result.offset, offset, zone);
    assert.deepEqual(result.statuses, [200, 304, 206, 412, 200], zone);
  }
});

Deno.test("staticFiles() answers failed If-Match and If-Unmodified-Since with 412", async () => {
  await withTree(async ({ root }) => {
    await Deno.utime(`${root}/data.bin`, PAST, PAST);
    const client = new Client(staticFiles(root, { maxAge: 60 })(inner));
    const etag = (await client.get("/data.bin")).headers.get("etag")!;
    const status = async (headers: Record<string, string>) =>
      (await client.get("/data.bin", { headers })).status;
    const before = "Mon, 03 Feb 2020 04:05:05 GMT";
    const cases: [Record<string, string>, number][] = [
      [{ "If-Match": etag }, 200],
      [{ "If-Match": "*" }, 200],
      [{ "If-Match": `"other", ${etag}` }, 200],
      [{ "If-Match": '"other"' }, 412],
      // If-Match compares strongly (RFC 9110 13.1.1).
      [{ "If-Match": `W/${etag}` }, 412],
      [{ "If-Unmodified-Since": PAST_DATES.imf }, 200],
      [{ "If-Unmodified-Since": "Tue, 01 Jan 2030 00:00:00 GMT" }, 200],
      [{ "If-Unmodified-Since": before }, 412],
      // Not an HTTP-date: ignored (13.1.4).
      [{ "If-Unmodified-Since": "2019-01-01" }, 200],
      // If-Match wins over If-Unmodified-Since (13.1.4).
      [{ "If-Match": etag, "If-Unmodified-Since": before }, 200],
      // Preconditions in RFC 9110 13.2.2's order: 412 before 304.
      [{ "If-Match": '"other"', "If-None-Match": etag }, 412],
      [{ "If-Match": etag, "If-None-Match": etag }, 304],
      [{ "If-Unmodified-Since": before, "If-None-Match": etag }, 412],
      [{ "If-Match": '"other"', Range: "bytes=0-1" }, 412],
    ];
    for (const [headers, expected] of cases) {
      assert.equal(await status(headers), expected, JSON.stringify(headers));
    }
    const failed = await client.get("/data.bin", {
      headers: { "If-Match": '"other"' },
    });
    assert.equal(failed.text(), "Precondition Failed\n");
    // An error says nothing about the file, and is not to be cached.
    for (const name of ["etag", "last-modified", "cache-control"]) {
      assert.equal(failed.headers.get(name), null, name);
    }
    // Without an ETag, only * matches.
    const none = new Client(staticFiles(root, { etag: false })(inner));
    const get = (value: string) =>
      none.get("/data.bin", { headers: { "If-Match": value } });
    assert.equal((await get("*")).status, 200);
    assert.equal((await get(etag)).status, 412);
  });
});

Deno.test("staticFiles() reads If-None-Match and If-Match as lists of entity-tags", async () => {
  await withTree(async ({ root }) => {
    const client = new Client(staticFiles(root)(inner));
    const etag = (await client.get("/hello.txt")).headers.get("etag")!;
    const status = async (name: string, value: string) =>
      (await client.get("/hello.txt", { headers: { [name]: value } })).status;
    // [value, If-None-Match status, If-Match status]
    const cases: [string, number, number][] = [
      // A comma inside a quoted tag does not end it (RFC 9110 8.8.3).
      [`"a,b", ${etag}`, 304, 200],
      [`${etag}, "a,b"`, 304, 200],
      [`"a,b"`, 200, 412],
      [`W/"a, b",${etag}`, 304, 200],
      // A backslash is an etagc like any other: no quoted-pair in a tag.
      [`"a\\", ${etag}`, 304, 200],
      // Empty elements are ignored (RFC 9110 5.6.1).
      [` , ,${etag} ,`, 304, 200],
      // An element that is no entity-tag matches nothing, even with our
      // tag inside it.
      [`x${etag}`, 200, 412],
      [`${etag}x`, 200, 412],
      [`${etag} "a"`, 200, 412],
      [`"a" ${etag}`, 200, 412],
      // A quote never closed: no list of entity-tags at all.
      [`"a, ${etag}`, 200, 412],
      [`${etag}, "a`, 200, 412],
    ];
    for (const [value, noneMatch, match] of cases) {
      assert.equal(await status("If-None-Match", value), noneMatch, value);
      assert.equal(await status("If-Match", value), match, value);
    }
  });
});

Deno.test("staticFiles() takes a date in If-Range only once its second is over", async () => {
  await withTree(async ({ root }) => {
    // Changed "now" (a minute ahead, so that the test cannot race the
    // clock): another change within the same second would keep the date.
    const soon = Math.floor(Date.now() / 1000) + 60;
    await Deno.utime(`${root}/data.bin`, soon, soon);
    const client = new Client(staticFiles(root)(inner));
    const first = await client.get("/data.bin");
    const date = first.headers.get("last-modified")!;
    assert.equal(date, new Date(soon * 1000).toUTCString());
    const get = (ifRange: string) =>
      client.get("/data.bin", {
        headers: { Range: "bytes=0-9", "If-Range": ifRange },
      });
    assert.equal((await get(date)).status, 200);
    // The ETag, which knows the millisecond, still works.
    assert.equal((await get(first.headers.get("etag")!)).status, 206);
  });
});

Deno.test("staticFiles() sends an empty file whole for a range from its first byte", async () => {
  await withTree(async ({ root }) => {
    await Deno.writeFile(`${root}/empty.bin`, new Uint8Array());
    const client = new Client(staticFiles(root)(inner));
    const range = (value: string) =>
      client.get("/empty.bin", { headers: { Range: value } });
    // RFC 9110 14.1.2: a suffix longer than the file means all of it; there
    // is no 206 for zero bytes, so it is a 200, as nginx answers.
    for (const value of ["bytes=-5", "bytes=-0", "bytes=0-", "bytes=0-9"]) {
      const response = await range(value);
      assert.equal(response.status, 200, value);
      assert.equal(response.headers.get("content-length"), "0", value);
      assert.equal(response.headers.get("content-range"), null, value);
      assert.equal(response.body.length, 0, value);
    }
    const past = await range("bytes=5-");
    assert.equal(past.status, 416);
    assert.equal(past.headers.get("content-range"), "bytes */0");
  });
});

Deno.test("staticFiles() sends Accept-Ranges with the whole file only, and nothing cacheable with a 416", async () => {
  await withTree(async ({ root }) => {
    const client = new Client(staticFiles(root, { maxAge: 60 })(inner));
    const whole = await client.get("/data.bin");
    assert.equal(whole.headers.get("accept-ranges"), "bytes");
    const part = await client.get("/data.bin", {
      headers: { Range: "bytes=0-9" },
    });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get("accept-ranges"), null);
    assert.ok(part.headers.get("etag"));
    const bad = await client.get("/data.bin", {
      headers: { Range: "bytes=5000-" },
    });
    assert.equal(bad.status, 416);
    for (const name of ["etag", "last-modified", "cache-control"]) {
      assert.equal(bad.headers.get(name), null, name);
    }
  });
});

Deno.test("staticFiles() answers HEAD with the headers and no body", async () => {
  await withTree(async ({ root }) => {
    const client = new Client(staticFiles(root)(inner));
    const response = await client.head("/hello.txt");
    assert.equal(response.status, 200);
    assert.equal(response.body.length, 0);
    assert.equal(response.headers.get("content-length"), "14");
    assert.ok(response.headers.get("etag"));
    // Range is defined for GET only.
    const ranged = await client.head("/data.bin", {
      headers: { Range: "bytes=0-9" },
    });
    assert.equal(ranged.status, 200);
    assert.equal(ranged.headers.get("content-length"), "1024");

    const log = errorLog();
    await withServer(staticFiles(root)(inner), async (_server, port) => {
      const { status, head, body } = await raw(port, "/hello.txt", {}, "HEAD");
      assert.equal(status, 200);
      assert.equal(header(head, "content-length"), "14");
      assert.equal(header(head, "content-type"), "text/plain; charset=utf-8");
      assert.equal(body, "");
    }, { errors: log.sink });
    assert.equal(log.text(), "");
  });
});

Deno.test("staticFiles() picks the content type by extension", async () => {
  await withTree(async ({ root }) => {
    const client = new Client(
      staticFiles(root, { contentTypes: { xyz: "application/x-weird" } })(
        inner,
      ),
    );
    const cases: Record<string, string> = {
      "/index.html": "text/html; charset=utf-8",
      "/UPPER.HTML": "text/html; charset=utf-8",
      "/style.css": "text/css; charset=utf-8",
      "/app.js": "text/javascript; charset=utf-8",
      "/data.json": "application/json; charset=utf-8",
      "/pic.png": "image/png",
      "/data.bin": "application/octet-stream",
      "/noext": "application/octet-stream",
      "/weird.xyz": "application/x-weird",
    };
    for (const [path, type] of Object.entries(cases)) {
      const response = await client.get(path);
      assert.equal(response.status, 200, path);
      assert.equal(response.headers.get("content-type"), type, path);
    }
  });
});

/**
 * Asserts that the log holds nothing but the validator's warning about a
 * relative Location: the redirects are relative on purpose (RFC 9110 allows
 * it, and they do not depend on a Host header).
 */
function assertOnlyRelativeLocations(text: string): void {
  for (const line of text.split("\n").filter((l) => l !== "")) {
    assert.match(line, /\[location-absolute\]$/);
  }
}

Deno.test("staticFiles() serves a directory's index and redirects to the slash form", async () => {
  await withTree(async ({ root }) => {
    const log = errorLog();
    const client = new Client(staticFiles(root)(inner), { errors: log.sink });
    assert.equal((await client.get("/")).text(), "<h1>root index</h1>");
    assert.equal((await client.get("/sub/")).text(), "<h1>sub index</h1>");
    assert.equal((await client.get("/sub//")).text(), "<h1>sub index</h1>");
    const redirect = await client.get("/sub?x=1&y=%20");
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.get("location"), "/sub/?x=1&y=%20");
    const followed = await client.get("/sub", { followRedirects: true });
    assert.equal(followed.text(), "<h1>sub index</h1>");
    // Built from the normalised path, so a `//host` never comes out of it.
    await withServer(staticFiles(root)(inner), async (_server, port) => {
      const odd = await raw(port, "//sub/./");
      assert.equal(odd.body, "<h1>sub index</h1>");
      const slashes = await raw(port, "//sub");
      assert.equal(header(slashes.head, "location"), "/sub/");
      const dots = await raw(port, "/empty/../sub");
      assert.equal(header(dots.head, "location"), "/sub/");
    });
    // No index: falls through; no listing.
    const empty = await client.get("/empty/");
    assert.equal(empty.status, 404);
    assert.match(empty.text(), /^fallthrough/);
    // A file with a trailing slash names nothing.
    assert.match((await client.get("/hello.txt/")).text(), /^fallthrough/);
    const noIndex = new Client(staticFiles(root, { index: false })(inner));
    assert.match((await noIndex.get("/sub/")).text(), /^fallthrough/);
    const other = new Client(staticFiles(root, { index: "page.css" })(inner));
    assert.equal((await other.get("/sub/")).text(), "body{}");
    assert.match(log.text(), /location-absolute/);
    assertOnlyRelativeLocations(log.text());
  });
});

Deno.test("staticFiles() redirects under SCRIPT_NAME and percent-encodes the Location", async () => {
  await withTree(async ({ root }) => {
    await Deno.mkdir(`${root}/a b?#`);
    const app = staticFiles(root)(inner);
    await withServer(app, async (_server, port) => {
      const sub = await raw(port, "/static/sub");
      assert.equal(sub.status, 301);
      assert.equal(header(sub.head, "location"), "/static/sub/");
      const odd = await raw(port, "/static/a%20b%3F%23");
      assert.equal(header(odd.head, "location"), "/static/a%20b%3F%23/");
      const top = await raw(port, "/static");
      assert.equal(header(top.head, "location"), "/static/");
      const file = await raw(port, "/static/hello.txt");
      assert.equal(file.body, "Hello, static\n");
    }, { scriptName: "/static" });
  });
});

Deno.test("staticFiles() sends Cache-Control from maxAge or a string", async () => {
  await withTree(async ({ root }) => {
    const maxAge = new Client(staticFiles(root, { maxAge: 600 })(inner));
    assert.equal(
      (await maxAge.get("/hello.txt")).headers.get("cache-control"),
      "public, max-age=600",
    );
    const string = new Client(
      staticFiles(root, { cacheControl: "no-cache" })(inner),
    );
    const response = await string.get("/data.bin", {
      headers: { Range: "bytes=0-1" },
    });
    assert.equal(response.status, 206);
    assert.equal(response.headers.get("cache-control"), "no-cache");
  });
});

Deno.test("staticFiles() falls through on a miss and for methods other than GET, HEAD and OPTIONS", async () => {
  await withTree(async ({ root }) => {
    // Validated on the inside too: the app it falls through to is used properly.
    const client = new Client(staticFiles(root)(validator()(inner)));
    const miss = await client.get("/missing.txt");
    assert.equal(miss.status, 404);
    assert.equal(miss.text(), 'fallthrough "/missing.txt"');
    for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
      const response = await client.request(method, "/hello.txt");
      assert.equal(response.text(), 'fallthrough "/hello.txt"', method);
    }
    assert.match(
      (await client.get("/sub/missing/deeper")).text(),
      /^fallthrough/,
    );
    assert.match((await client.get("/hello.txt/more")).text(), /^fallthrough/);
  });
});

Deno.test("staticFiles() treats names too long and paths too deep as misses, not errors", async () => {
  await withTree(async ({ root }) => {
    const log = errorLog();
    const client = new Client(staticFiles(root)(inner), { errors: log.sink });
    for (
      const path of [
        "/" + "a".repeat(300),
        "/" + "sub/".repeat(2000) + "x",
        "/hello.txt/" + "b".repeat(5000),
      ]
    ) {
      const response = await client.get(path);
      assert.equal(response.status, 404, path.slice(0, 20));
      assert.match(response.text(), /^fallthrough/);
    }
    assert.equal(log.text(), "");
  });
});

Deno.test("staticFiles() answers 416 and 206 over a real socket with exact lengths", async () => {
  await withTree(async ({ root }) => {
    await withServer(staticFiles(root)(inner), async (_server, port) => {
      const bad = await raw(port, "/data.bin", { Range: "bytes=4096-" });
      assert.equal(bad.status, 416);
      assert.equal(header(bad.head, "content-range"), "bytes */1024");
      const good = await raw(port, "/data.bin", { Range: "bytes=1-2" });
      assert.equal(good.status, 206);
      assert.equal(header(good.head, "content-length"), "2");
      assert.equal(good.body, String.fromCharCode(DATA[1], DATA[2]));
    });
  });
});

Deno.test("staticFiles() serves only under its prefix", async () => {
  await withTree(async ({ root }) => {
    const log = errorLog();
    const client = new Client(
      staticFiles(root, { prefix: "/assets/" })(inner),
      { errors: log.sink },
    );
    assert.equal(
      (await client.get("/assets/hello.txt")).text(),
      "Hello, static\n",
    );
    assert.match((await client.get("/hello.txt")).text(), /^fallthrough/);
    assert.match(
      (await client.get("/assetsx/hello.txt")).text(),
      /^fallthrough/,
    );
    const top = await client.get("/assets");
    assert.equal(top.headers.get("location"), "/assets/");
    assert.equal((await client.get("/assets/")).text(), "<h1>root index</h1>");
    // `..` back out of the prefix leaves the path to the app.
    const out = await client.get("/assets/..%2Fhello.txt");
    assert.match(out.text(), /^fallthrough/);
    assertOnlyRelativeLocations(log.text());
  });
});

Deno.test("staticFiles() serves a single file at its name, or at a prefix", async () => {
  await withTree(async ({ root }) => {
    const file = new Client(staticFiles(`${root}/hello.txt`)(inner));
    assert.equal((await file.get("/hello.txt")).text(), "Hello, static\n");
    for (const path of ["/", "/hello.txt/", "/other.txt", "/hello.txt/x"]) {
      assert.match((await file.get(path)).text(), /^fallthrough/, path);
    }
    const ranged = await file.get("/hello.txt", {
      headers: { Range: "bytes=-7" },
    });
    assert.equal(ranged.text(), "static\n");

    const renamed = new Client(
      staticFiles(`${root}/data.bin`, { prefix: "/download/file" })(inner),
    );
    assert.deepEqual((await renamed.get("/download/file")).body, DATA);
    assert.match((await renamed.get("/data.bin")).text(), /^fallthrough/);

    // Prefix "": the file is the whole (mounted) app.
    const whole = new Client(
      staticFiles(`${root}/hello.txt`, { prefix: "" })(inner),
    );
    assert.equal((await whole.get("/")).text(), "Hello, static\n");
    assert.match((await whole.get("/x")).text(), /^fallthrough/);
    const environ = buildEnviron({ path: "/h", scriptName: "/h" });
    assert.equal(environ.PATH_INFO, "");
    const body = await staticFiles(`${root}/hello.txt`, { prefix: "" })(inner)(
      environ,
      () => () => Promise.resolve(),
    );
    assert.equal(await collect(body), "Hello, static\n");

    // A file reached through a symlink is resolved once; the link is fine.
    await Deno.symlink(`${root}/hello.txt`, `${root}/../hello-link.txt`);
    const linked = new Client(staticFiles(`${root}/../hello-link.txt`)(inner));
    assert.equal((await linked.get("/hello.txt")).text(), "Hello, static\n");
  });
});

/** Reads a body to its end as text, closing it. */
async function collect(body: Body): Promise<string> {
  const parts: Uint8Array[] = [];
  try {
    for await (const chunk of body as AsyncIterable<Uint8Array>) {
      parts.push(
        typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk,
      );
    }
  } finally {
    await body.close?.();
  }
  return new TextDecoder().decode(
    parts.reduce((a, b) => {
      const out = new Uint8Array(a.length + b.length);
      out.set(a);
      out.set(b, a.length);
      return out;
    }, new Uint8Array()),
  );
}

Deno.test("staticFiles() works without wsgi.file_wrapper", async () => {
  await withTree(async ({ root }) => {
    const app = staticFiles(root)(inner);
    for (
      const [range, expected] of [[undefined, "Hello, static\n"], [
        "bytes=7-12",
        "static",
      ], ["bytes=7-", "static\n"]]
    ) {
      const environ = buildEnviron({
        path: "/hello.txt",
        headers: range ? { Range: range } : {},
      });
      delete environ["wsgi.file_wrapper"];
      let status = "";
      const body = await app(environ, (s) => {
        status = s;
        return () => Promise.resolve();
      });
      assert.equal(await collect(body), expected);
      assert.equal(status, range ? "206 Partial Content" : "200 OK");
    }
  });
});

Deno.test("staticFiles() serves UTF-8 names, dotfiles only when asked, and %25 literally", async () => {
  await withTree(async ({ root }) => {
    const client = new Client(staticFiles(root)(inner));
    assert.equal((await client.get("/caf%C3%A9.txt")).text(), "utf-8 name");
    assert.match((await client.get("/.env")).text(), /^fallthrough/);
    assert.match((await client.get("/sub/../.env")).text(), /^fallthrough/);
    const dot = new Client(staticFiles(root, { dotfiles: true })(inner));
    assert.equal((await dot.get("/.env")).text(), "DOTFILE");
    // Decoded once: %252e%252e is the file named "%2e%2e", not "..".
    assert.equal(
      (await client.get("/%252e%252e")).text(),
      "a file literally named %2e%2e",
    );
    assert.equal((await client.get("/link-in")).text(), "Hello, static\n");
    assert.equal(
      (await client.get("/sub/../hello.txt")).text(),
      "Hello, static\n",
    );
  });
});

// Every request target here is sent byte for byte over TCP: fetch and URL
// would resolve the dot segments before the server ever saw them.
const ATTACKS = [
  "/../secret.txt",
  "/../../../../../../../../etc/passwd",
  "/%2e%2e/secret.txt",
  "/%2E%2E/secret.txt",
  "/%2E%2E%2Fsecret.txt",
  "/..%2fsecret.txt",
  "/..%2Fsecret.txt",
  "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
  "/.%2e/secret.txt",
  "/%2e./secret.txt",
  "/sub/../../secret.txt",
  "/sub/%2e%2e/%2e%2e/secret.txt",
  "/./../secret.txt",
  "/%252e%252e/secret.txt",
  "/%252e%252e%252fsecret.txt",
  "/..\\secret.txt",
  "/..%5csecret.txt",
  "/..%5Csecret.txt",
  "/%5c..%5csecret.txt",
  "/sub\\..\\..\\secret.txt",
  "/hello.txt%00",
  "/hello.txt%00.png",
  "/%00/../secret.txt",
  "/..%00/secret.txt",
  "/%c0%ae%c0%ae/secret.txt",
  "/%c0%ae%c0%ae%c0%afsecret.txt",
  "/%e0%80%ae%e0%80%ae/secret.txt",
  "/%c0%2e%c0%2e/secret.txt",
  "/%ef%bc%8e%ef%bc%8e/secret.txt",
  "/..;/secret.txt",
  "//etc/passwd",
  "/link-out",
  "/abs-link",
  "/dir-link-out/secret.txt",
  "/dir-link-out/",
  "/sub/..%2f..%2fsecret.txt",
  "/assets/../secret.txt",
  "http://localhost/../secret.txt",
];

Deno.test("staticFiles() never serves outside the root, whatever the request target", async () => {
  await withTree(async ({ root, base }) => {
    const targets = [
      ...ATTACKS,
      // Absolute paths of the secret, plain and encoded.
      `${base}/secret.txt`,
      `/${base}/secret.txt`,
      `/${encodeURIComponent(`${base}/secret.txt`)}`,
      `/..${base}/secret.txt`,
    ];
    const log = errorLog();
    await withServer(staticFiles(root)(inner), async (_server, port) => {
      // The raw client gets dot segments through: the app sees them as sent.
      const probe = await raw(port, "/../secret.txt");
      assert.equal(probe.body, 'fallthrough "/../secret.txt"');
      for (const target of targets) {
        const { status, text } = await raw(port, target);
        assert.ok(!text.includes(SECRET), `${target} leaked the secret`);
        assert.ok(!text.includes("root:x:0:0"), `${target} leaked /etc/passwd`);
        assert.ok(status === 404 || status === 400, `${target}: ${status}`);
      }
    }, { errors: log.sink });
    assert.equal(log.text(), "");
    // The secret is where the attacks aimed, and readable.
    assert.equal(await Deno.readTextFile(`${base}/secret.txt`), SECRET);
  });
});

Deno.test("staticFiles() never serves outside the root through Client either", async () => {
  await withTree(async ({ root }) => {
    // Only the paths that URL leaves alone: an encoded slash or backslash
    // inside a segment, NUL, overlong UTF-8, double encoding, symlinks.
    const client = new Client(staticFiles(root)(inner));
    for (
      const path of [
        "/..%2fsecret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/sub/..%2f..%2fsecret.txt",
        "/..%5csecret.txt",
        "/hello.txt%00",
        "/%c0%ae%c0%ae%2fsecret.txt",
        "/%252e%252e%252fsecret.txt",
        "/link-out",
        "/abs-link",
        "/dir-link-out/secret.txt",
      ]
    ) {
      const response = await client.get(path);
      assert.equal(response.status, 404, path);
      assert.ok(!response.text().includes(SECRET), path);
      // Nor through a range or HEAD.
      const ranged = await client.get(path, { headers: { Range: "bytes=0-" } });
      assert.ok(!ranged.text().includes(SECRET), path);
    }
  });
});

Deno.test("staticFiles() refuses a symlink out of the root but follows one inside it", async () => {
  await withTree(async ({ root, base }) => {
    // The root itself may be a symlink: it is resolved once.
    await Deno.symlink(root, `${base}/root-link`);
    const client = new Client(staticFiles(`${base}/root-link`)(inner));
    assert.equal((await client.get("/link-in")).text(), "Hello, static\n");
    assert.match((await client.get("/link-out")).text(), /^fallthrough/);
    assert.match((await client.get("/abs-link")).text(), /^fallthrough/);
    // An index that is a symlink out of the root is refused as well.
    await Deno.mkdir(`${root}/trap`);
    await Deno.symlink(`${base}/secret.txt`, `${root}/trap/index.html`);
    const trap = await client.get("/trap/");
    assert.equal(trap.status, 404);
    assert.ok(!trap.text().includes(SECRET));
    // A link loop is a miss, not an error.
    await Deno.symlink("loop-b", `${root}/loop-a`);
    await Deno.symlink("loop-a", `${root}/loop-b`);
    assert.match((await client.get("/loop-a")).text(), /^fallthrough/);
  });
});

Deno.test("staticFiles() sends 1 MiB byte-identical through a real server, whole and in ranges, from memory and from the file", async () => {
  await withTree(async ({ root }) => {
    const big = new Uint8Array(1 << 20);
    crypto.getRandomValues(big.subarray(0, 65536));
    for (let i = 65536; i < big.length; i += 65536) {
      big.set(big.subarray(0, 65536), i);
      big[i] = i >> 16; // each block differs from the others
    }
    await Deno.writeFile(`${root}/big.bin`, big);
    const log = errorLog();
    // smallFileSize 0 sends it from the file's stream.
    for (const smallFileSize of [undefined, 0]) {
      await withServer(
        staticFiles(root, { smallFileSize })(inner),
        async (_server, port) => {
          const url = `http://127.0.0.1:${port}/big.bin`;
          const whole = await fetch(url);
          assert.equal(whole.status, 200);
          assert.equal(whole.headers.get("content-length"), String(big.length));
          assert.deepEqual(new Uint8Array(await whole.arrayBuffer()), big);
          for (
            const [range, start, end] of [
              ["bytes=100000-900000", 100000, 900000],
              ["bytes=524288-", 524288, big.length - 1],
              ["bytes=-70000", big.length - 70000, big.length - 1],
            ] as const
          ) {
            const response = await fetch(url, { headers: { Range: range } });
            assert.equal(response.status, 206, range);
            assert.deepEqual(
              new Uint8Array(await response.arrayBuffer()),
              big.subarray(start, end + 1),
              range,
            );
          }
          // A tiny range of a big file reads only that much: no overflow logged.
          const tiny = await fetch(url, { headers: { Range: "bytes=10-19" } });
          assert.deepEqual(
            new Uint8Array(await tiny.arrayBuffer()),
            big.subarray(10, 20),
          );
        },
        { errors: log.sink },
      );
    }
    assert.equal(log.text(), "");
  });
});

Deno.test("staticFiles() survives a client that leaves mid-file", async () => {
  await withTree(async ({ root }) => {
    await Deno.writeFile(`${root}/big.bin`, new Uint8Array(4 << 20));
    const log = errorLog();
    await withServer(staticFiles(root)(inner), async (_server, port) => {
      for (const range of [undefined, "bytes=1-3000000"]) {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        await conn.write(new TextEncoder().encode(
          `GET /big.bin HTTP/1.1\r\nHost: x\r\n${
            range ? `Range: ${range}\r\n` : ""
          }\r\n`,
        ));
        await conn.read(new Uint8Array(1024));
        conn.close();
      }
      // The server still answers afterwards.
      const response = await fetch(`http://127.0.0.1:${port}/hello.txt`);
      assert.equal(await response.text(), "Hello, static\n");
    }, { errors: log.sink });
  });
});
