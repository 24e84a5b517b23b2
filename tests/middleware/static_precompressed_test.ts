/**
 * staticFiles' precompressed siblings (`name.br`, `name.gz`, as nginx's
 * brotli_static and gzip_static) and Cache-Control by path (cacheRules).
 */
import assert from "node:assert/strict";
import { brotliCompressSync, gunzipSync, gzipSync } from "node:zlib";
import type { App } from "../../mod.ts";
import { staticFiles } from "../../middleware/static_files.ts";
import { parseRaw, rawRequest, withServer } from "../_helpers.ts";
import { LintedClient as Client } from "../_helpers.ts";

const SECRET = `TOP-SECRET-${crypto.randomUUID()}`;
const PAST = Date.UTC(2020, 1, 3, 4, 5, 6) / 1000;
const CSS = "body { margin: 0; padding: 0 }\n".repeat(50);
const GZ = gzipSync(CSS);
const BR = brotliCompressSync(CSS);

const inner: App = (environ, startResponse) => {
  startResponse("404 Not Found", [["Content-Type", "text/plain"]]);
  return [`fallthrough ${environ.PATH_INFO}`];
};

/** A root with site.css and both siblings, only.js with a .gz, plain.txt with none. */
async function withRoot(
  fn: (root: string, base: string) => Promise<void>,
): Promise<void> {
  const base = await Deno.makeTempDir({ prefix: "static_precompressed_" });
  const root = `${base}/root`;
  try {
    await Deno.mkdir(root);
    await Deno.writeTextFile(`${root}/site.css`, CSS);
    await Deno.writeFile(`${root}/site.css.gz`, GZ);
    await Deno.writeFile(`${root}/site.css.br`, BR);
    await Deno.writeTextFile(`${root}/only.js`, "let a = 1;\n".repeat(30));
    await Deno.writeFile(`${root}/only.js.gz`, gzipSync("let a = 1;\n"));
    await Deno.writeTextFile(`${root}/plain.txt`, "plain\n");
    await Deno.writeTextFile(`${base}/secret.txt.gz`, SECRET);
    await Deno.writeTextFile(`${root}/secret.txt`, "not secret\n");
    await Deno.symlink(`${base}/secret.txt.gz`, `${root}/secret.txt.gz`);
    await Deno.writeTextFile(`${root}/folder.txt`, "folder\n");
    await Deno.mkdir(`${root}/folder.txt.gz`);
    for (const entry of Deno.readDirSync(root)) {
      if (entry.isFile) await Deno.utime(`${root}/${entry.name}`, PAST, PAST);
    }
    await fn(root, base);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
}

const accept = (value: string) => ({ headers: { "Accept-Encoding": value } });

Deno.test("staticFiles() serves name.br or name.gz to a client that accepts it, with the original's type", async () => {
  await withRoot(async (root) => {
    const client = new Client(
      staticFiles(root, { precompressed: true })(inner),
    );
    const gz = await client.get("/site.css", accept("gzip"));
    assert.equal(gz.status, 200);
    assert.equal(gz.headers.get("content-encoding"), "gzip");
    assert.equal(gz.headers.get("content-type"), "text/css; charset=utf-8");
    assert.equal(gz.headers.get("content-length"), String(GZ.length));
    assert.equal(gz.headers.get("vary"), "Accept-Encoding");
    assert.deepEqual(gz.body, new Uint8Array(GZ));
    assert.equal(new TextDecoder().decode(gunzipSync(gz.body)), CSS);

    // Brotli first when both are accepted, whatever the order or q-values.
    for (const value of ["gzip, deflate, br", "br;q=0.1, gzip", "BR"]) {
      const br = await client.get("/site.css", accept(value));
      assert.equal(br.headers.get("content-encoding"), "br", value);
      assert.deepEqual(br.body, new Uint8Array(BR));
    }
    // Refused with q=0, not named, or only through "*": the next one, or
    // the file itself, still saying that it varies.
    for (
      const [value, coding] of [
        ["br;q=0, gzip", "gzip"],
        ["gzip;q=0", null],
        ["br; q=0.000, gzip;q=0", null],
        ["*", null],
        ["deflate, identity", null],
        ["gzip;q=abc", null],
        ["", null],
      ] as const
    ) {
      const response = await client.get("/site.css", accept(value));
      assert.equal(response.headers.get("content-encoding"), coding, value);
      assert.equal(response.headers.get("vary"), "Accept-Encoding", value);
      if (coding === null) assert.equal(response.text(), CSS, value);
    }
    const none = await client.get("/site.css");
    assert.equal(none.text(), CSS);
    assert.equal(none.headers.get("vary"), "Accept-Encoding");

    // Only a .gz: br asked for, gzip sent if taken.
    const js = await client.get("/only.js", accept("br, gzip"));
    assert.equal(js.headers.get("content-encoding"), "gzip");
    assert.equal(
      js.headers.get("content-type"),
      "text/javascript; charset=utf-8",
    );
    // No sibling: no Vary.
    const plain = await client.get("/plain.txt", accept("br, gzip"));
    assert.equal(plain.headers.get("content-encoding"), null);
    assert.equal(plain.headers.get("vary"), null);

    // Only the codings asked for, in their order.
    const gzipFirst = new Client(
      staticFiles(root, { precompressed: ["gzip", "br"] })(inner),
    );
    assert.equal(
      (await gzipFirst.get("/site.css", accept("br, gzip"))).headers.get(
        "content-encoding",
      ),
      "gzip",
    );
    const brOnly = new Client(
      staticFiles(root, { precompressed: ["br"] })(inner),
    );
    const onlyJs = await brOnly.get("/only.js", accept("gzip"));
    assert.equal(onlyJs.headers.get("content-encoding"), null);
    assert.equal(onlyJs.headers.get("vary"), null);
    // Off by default: the file, and the .gz under its own name and type.
    const off = new Client(staticFiles(root)(inner));
    const original = await off.get("/site.css", accept("gzip, br"));
    assert.equal(original.text(), CSS);
    assert.equal(original.headers.get("vary"), null);
    const direct = await off.get("/site.css.gz");
    assert.equal(direct.headers.get("content-type"), "application/gzip");
    assert.equal(direct.headers.get("content-encoding"), null);
  });
});

Deno.test("staticFiles() keeps ETags, conditionals and ranges right for the encoded file", async () => {
  await withRoot(async (root) => {
    const client = new Client(
      staticFiles(root, { precompressed: true })(inner),
    );
    const plain = await client.get("/site.css");
    const gz = await client.get("/site.css", accept("gzip"));
    const br = await client.get("/site.css", accept("br"));
    const tags = [plain, gz, br].map((r) => r.headers.get("etag")!);
    assert.equal(new Set(tags).size, 3, tags.join(" "));
    assert.match(tags[1], /^"[0-9a-f]+-[0-9a-f]+\.gzip"$/);
    assert.match(tags[2], /^"[0-9a-f]+-[0-9a-f]+\.br"$/);

    // Each representation's own ETag answers 304 for it, and only for it.
    const notModified = await client.get("/site.css", {
      headers: { "Accept-Encoding": "gzip", "If-None-Match": tags[1] },
    });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers.get("etag"), tags[1]);
    assert.equal(notModified.headers.get("vary"), "Accept-Encoding");
    const other = await client.get("/site.css", {
      headers: { "Accept-Encoding": "gzip", "If-None-Match": tags[0] },
    });
    assert.equal(other.status, 200);
    assert.equal(other.headers.get("content-encoding"), "gzip");

    // A range is of the encoded bytes, If-Range of the encoded ETag.
    const range = await client.get("/site.css", {
      headers: { "Accept-Encoding": "gzip", Range: "bytes=0-9" },
    });
    assert.equal(range.status, 206);
    assert.equal(range.headers.get("content-range"), `bytes 0-9/${GZ.length}`);
    assert.equal(range.headers.get("content-encoding"), "gzip");
    assert.deepEqual(range.body, new Uint8Array(GZ.subarray(0, 10)));
    const stale = await client.get("/site.css", {
      headers: {
        "Accept-Encoding": "gzip",
        Range: "bytes=0-9",
        "If-Range": tags[0],
      },
    });
    assert.equal(stale.status, 200);
    assert.equal(stale.body.length, GZ.length);
    const past = await client.get("/site.css", {
      headers: { "Accept-Encoding": "br", Range: `bytes=${BR.length}-` },
    });
    assert.equal(past.status, 416);
    assert.equal(past.headers.get("content-range"), `bytes */${BR.length}`);

    // HEAD: the encoded file's headers, no body.
    const head = await client.head("/site.css", accept("br"));
    assert.equal(head.headers.get("content-length"), String(BR.length));
    assert.equal(head.headers.get("content-encoding"), "br");
    assert.equal(head.body.length, 0);

    // Over a real socket, byte for byte.
    await withServer(
      staticFiles(root, { precompressed: true })(inner),
      async (_server, port) => {
        const { text } = await rawRequest(
          port,
          "GET /site.css HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
        );
        const { head, body } = parseRaw(text);
        assert.ok(head.includes("content-encoding: gzip"), head.join("\n"));
        assert.ok(head.includes(`content-length: ${GZ.length}`));
        assert.equal(
          body,
          Array.from(GZ, (b) => String.fromCharCode(b)).join(""),
        );
      },
    );
  });
});

Deno.test("staticFiles() serves no sibling that is a symlink out of the root or no file", async () => {
  await withRoot(async (root) => {
    const client = new Client(
      staticFiles(root, { precompressed: true })(inner),
    );
    const secret = await client.get("/secret.txt", accept("gzip"));
    assert.equal(secret.text(), "not secret\n");
    assert.equal(secret.headers.get("content-encoding"), null);
    const folder = await client.get("/folder.txt", accept("gzip"));
    assert.equal(folder.text(), "folder\n");
    assert.equal(folder.headers.get("content-encoding"), null);
  });
});

Deno.test("staticFiles() sees a sibling come and go after the file was cached", async () => {
  await withRoot(async (root) => {
    await new Promise((resolve) => setTimeout(resolve, 3100)); // settle
    await withServer(
      staticFiles(root, { precompressed: true })(inner),
      async (_server, port) => {
        const encoding = async () => {
          const { text } = await rawRequest(
            port,
            "GET /plain.txt HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
          );
          const { head } = parseRaw(text);
          return head.find((l) => l.startsWith("content-encoding:")) ?? "none";
        };
        assert.equal(await encoding(), "none");
        assert.equal(await encoding(), "none"); // now from the cache
        await Deno.writeFile(`${root}/plain.txt.gz`, gzipSync("plain\n"));
        assert.equal(await encoding(), "content-encoding: gzip");
        await Deno.remove(`${root}/plain.txt.gz`);
        assert.equal(await encoding(), "none");
        // A cached sibling replaced: the new bytes.
        await Deno.writeFile(`${root}/plain.txt.gz`, gzipSync("plain\n"));
        await new Promise((resolve) => setTimeout(resolve, 3100));
        assert.equal(await encoding(), "content-encoding: gzip");
        assert.equal(await encoding(), "content-encoding: gzip");
        const next = gzipSync("plain, but longer now\n");
        await Deno.writeFile(`${root}/plain.txt.gz.new`, next);
        await Deno.rename(`${root}/plain.txt.gz.new`, `${root}/plain.txt.gz`);
        const { text } = await rawRequest(
          port,
          "GET /plain.txt HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
        );
        assert.ok(
          parseRaw(text).head.includes(`content-length: ${next.length}`),
        );
      },
    );
  });
});

Deno.test("staticFiles() checks precompressed", async () => {
  await withRoot((root) => {
    for (const value of ["gz", ["br", "br"], "yes", ["deflate"]]) {
      assert.throws(
        () =>
          staticFiles(root, {
            precompressed: value as unknown as boolean,
          }),
        /Cannot create staticFiles: precompressed must be true, false or a list of "br" and "gzip"/,
      );
    }
    assert.throws(
      () => staticFiles(`${root}/site.css`, { precompressed: true }),
      /Cannot create staticFiles: precompressed needs a directory root/,
    );
    return Promise.resolve();
  });
});

Deno.test("staticFiles() sends Cache-Control by path: first matching rule, else cacheControl", async () => {
  await withRoot(async (root) => {
    await Deno.mkdir(`${root}/assets`);
    await Deno.writeTextFile(`${root}/assets/app.3f9a2c81.js`, "1");
    await Deno.writeTextFile(`${root}/assets/index.html`, "<p>");
    const IMMUTABLE = "public, max-age=31536000, immutable";
    const client = new Client(
      staticFiles(root, {
        maxAge: 60,
        precompressed: true,
        cacheRules: [
          { path: /\.[0-9a-f]{8}\.js$/, cacheControl: IMMUTABLE },
          { path: /^\/assets\/index\.html$/, cacheControl: "no-store" },
          { path: /^\/assets\//, cacheControl: "never reached for these" },
          { path: /\.css$/, cacheControl: "no-cache" },
        ],
      })(inner),
    );
    const cc = async (path: string, headers: Record<string, string> = {}) =>
      (await client.get(path, { headers })).headers.get("cache-control");
    assert.equal(await cc("/assets/app.3f9a2c81.js"), IMMUTABLE);
    assert.equal(await cc("/assets/"), "no-store"); // the index, by its path
    assert.equal(await cc("/site.css"), "no-cache");
    // The encoded file follows its original's rule, 304s carry it.
    assert.equal(
      await cc("/site.css", { "Accept-Encoding": "br" }),
      "no-cache",
    );
    const etag = (await client.get("/site.css")).headers.get("etag")!;
    assert.equal(await cc("/site.css", { "If-None-Match": etag }), "no-cache");
    assert.equal(await cc("/plain.txt"), "public, max-age=60");

    const single = new Client(
      staticFiles(`${root}/plain.txt`, {
        prefix: "/p",
        cacheRules: [{ path: /^\/plain\.txt$/, cacheControl: "no-cache" }],
      })(inner),
    );
    assert.equal(
      (await single.get("/p")).headers.get("cache-control"),
      "no-cache",
    );

    for (
      const rules of [
        [{ path: "/assets/", cacheControl: "x" }],
        [{ path: /x/g, cacheControl: "x" }],
        [{ path: /x/y, cacheControl: "x" }],
        [{ path: /x/, cacheControl: "a\r\nSet-Cookie: x" }],
        [{ path: /x/ }],
      ]
    ) {
      assert.throws(
        () =>
          staticFiles(root, {
            cacheRules: rules as unknown as {
              path: RegExp;
              cacheControl: string;
            }[],
          }),
        /Cannot create staticFiles: cacheRules\[0\]/,
      );
    }
  });
});
