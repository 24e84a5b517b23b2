/**
 * staticFiles' cache and small-file path: what a hit costs, the bound, and
 * the root check after the tree changes between requests (a symlink swapped
 * in, a file replaced, deleted or turned into a directory, the root itself
 * swapped), each through a real server.
 *
 * The cache keeps only files that have not changed for two seconds, so
 * every tree here is written with its times in the past and then left to
 * settle for that long before the first request.
 */
import assert from "node:assert/strict";
import type { App } from "../../mod.ts";
import { staticFiles } from "../../middleware/static_files.ts";
import { buildEnviron } from "../../testing.ts";
import { FileBody } from "../../_shared/file_body.ts";
import { errorLog, withServer } from "../_helpers.ts";
import { LintedClient as Client } from "../_helpers.ts";

const SECRET = `TOP-SECRET-${crypto.randomUUID()}`;
const PAST = Date.UTC(2020, 1, 3, 4, 5, 6) / 1000;

const inner: App = (environ, startResponse) => {
  startResponse("404 Not Found", [["Content-Type", "text/plain"]]);
  return [`fallthrough ${environ.PATH_INFO}`];
};

/** Counts the file system calls the middleware makes, by name. */
class Calls {
  readonly counts: Record<string, number> = {};
  readonly #restore: (() => void)[] = [];

  constructor() {
    const deno = Deno as unknown as Record<
      string,
      (...a: unknown[]) => unknown
    >;
    for (const name of ["openSync", "realPathSync", "lstatSync", "statSync"]) {
      const original = deno[name];
      deno[name] = (...args: unknown[]) => {
        this.counts[name] = (this.counts[name] ?? 0) + 1;
        return original(...args);
      };
      this.#restore.push(() => deno[name] = original);
    }
  }

  /** The counts of what `fn` did. */
  async during(fn: () => Promise<unknown>): Promise<Record<string, number>> {
    for (const name of Object.keys(this.counts)) delete this.counts[name];
    await fn();
    return { ...this.counts };
  }

  restore(): void {
    for (const restore of this.#restore) restore();
  }
}

/** Writes `files` under a new temp dir's `root/`, times in the past, and waits for them to settle. */
async function settledTree(
  files: Record<string, string | Uint8Array>,
  prepare?: (base: string, root: string) => Promise<void>,
): Promise<{ base: string; root: string; cleanup: () => Promise<void> }> {
  const base = await Deno.makeTempDir({ prefix: "static_cache_test_" });
  const root = `${base}/root`;
  await Deno.mkdir(`${base}/outside`, { recursive: true });
  await Deno.writeTextFile(`${base}/outside/a.txt`, SECRET);
  await Deno.writeTextFile(`${base}/secret.txt`, SECRET);
  for (const [path, contents] of Object.entries(files)) {
    const file = `${root}/${path}`;
    await Deno.mkdir(file.slice(0, file.lastIndexOf("/")), { recursive: true });
    if (typeof contents === "string") await Deno.writeTextFile(file, contents);
    else await Deno.writeFile(file, contents);
    await Deno.utime(file, PAST, PAST);
  }
  await prepare?.(base, root);
  await settle();
  return {
    base,
    root,
    cleanup: () => Deno.remove(base, { recursive: true }),
  };
}

/**
 * Serves `tree` through staticFiles() on a real server, counting the file
 * system calls, then puts the calls back and removes the tree.
 */
async function serveCounted(
  tree: { root: string; cleanup: () => Promise<void> },
  fn: (port: number, calls: Calls) => Promise<void>,
): Promise<void> {
  const calls = new Calls();
  try {
    await withServer(
      staticFiles(tree.root)(inner),
      (_server, port) => fn(port, calls),
    );
  } finally {
    calls.restore();
    await tree.cleanup();
  }
}

/** Waits past the cache's two seconds (ctime is reported in whole seconds). */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 3100));
}

/**
 * Asserts that two lstats found the same file, unchanged: what the file's
 * own lstat on a hit compares, so that only a directory's lstat can tell a
 * swap apart.
 */
function assertSameFile(info: Deno.FileInfo, before: Deno.FileInfo): void {
  const of = (i: Deno.FileInfo) => [
    i.isFile,
    i.dev,
    i.ino,
    i.size,
    i.mtime?.getTime(),
    i.ctime?.getTime(),
  ];
  assert.deepEqual(of(info), of(before));
}

/** GET over a real socket: status and text. */
async function get(
  port: number,
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; text: string; headers: Headers }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    redirect: "manual",
    ...init,
  });
  return {
    status: response.status,
    text: await response.text(),
    headers: response.headers,
  };
}

Deno.test("staticFiles() answers a cached small file with lstat alone, from the root down", async () => {
  const tree = await settledTree({
    "a.txt": "alpha",
    "sub/deep/b.txt": "bravo",
    "big.bin": new Uint8Array(2_000_000),
  });
  await serveCounted(tree, async (port, calls) => {
    assert.equal((await get(port, "/a.txt")).text, "alpha");
    const hit = await calls.during(async () => {
      assert.equal((await get(port, "/a.txt")).text, "alpha");
    });
    // The root and the file: no realpath, no open, no read.
    assert.deepEqual(hit, { lstatSync: 2 });

    assert.equal((await get(port, "/sub/deep/b.txt")).text, "bravo");
    const deep = await calls.during(() => get(port, "/sub/deep/b.txt"));
    assert.deepEqual(deep, { lstatSync: 4 });

    // A large file keeps its metadata, and is opened to be streamed.
    assert.equal((await get(port, "/big.bin")).text.length, 2_000_000);
    const big = await calls.during(() => get(port, "/big.bin"));
    assert.deepEqual(big, { lstatSync: 2, openSync: 1 });
  });
});

Deno.test("staticFiles() re-checks the root on every hit: symlinks swapped in after the first request never leak", async () => {
  const tree = await settledTree({
    "a.txt": "alpha",
    "sub/a.txt": "sub alpha",
    "deep/er/a.txt": "deeper alpha",
  });
  const { base, root } = tree;
  const log = errorLog();
  try {
    await withServer(staticFiles(root)(inner), async (_server, port) => {
      const calls = new Calls();
      try {
        for (const path of ["/a.txt", "/sub/a.txt", "/deep/er/a.txt"]) {
          await get(port, path);
          const hit = await calls.during(async () => {
            assert.notEqual((await get(port, path)).text, SECRET);
          });
          assert.equal(hit.realPathSync, undefined, `${path} was not cached`);
        }
      } finally {
        calls.restore();
      }
      // The file itself becomes a symlink out of the root.
      await Deno.remove(`${root}/a.txt`);
      await Deno.symlink(`${base}/secret.txt`, `${root}/a.txt`);
      assert.deepEqual(
        [(await get(port, "/a.txt")).text],
        ["fallthrough /a.txt"],
      );
      // A directory on the way becomes one, to a folder with the same names.
      await Deno.rename(`${root}/sub`, `${base}/old-sub`);
      await Deno.symlink(`${base}/outside`, `${root}/sub`);
      assert.equal(
        (await get(port, "/sub/a.txt")).text,
        "fallthrough /sub/a.txt",
      );
      // A deeper one, to the very directory moved out of the root. The
      // path now leads to the cached file itself, its inode and times
      // untouched by the move: one lstat of the file would take it for a
      // hit, only the directory's own lstat sees the symlink.
      const before = await Deno.lstat(`${root}/deep/er/a.txt`);
      await Deno.rename(`${root}/deep/er`, `${base}/er`);
      await Deno.symlink(`${base}/er`, `${root}/deep/er`);
      assertSameFile(await Deno.lstat(`${root}/deep/er/a.txt`), before);
      assert.equal(
        (await get(port, "/deep/er/a.txt")).text,
        "fallthrough /deep/er/a.txt",
      );
      // And again, now that the misses are what a lookup found.
      for (const path of ["/a.txt", "/sub/a.txt", "/deep/er/a.txt"]) {
        assert.equal((await get(port, path)).text, `fallthrough ${path}`);
      }
    }, { errors: log.sink });
    assert.equal(log.text(), "");
  } finally {
    await tree.cleanup();
  }
});

Deno.test("staticFiles() re-checks the root itself: a root swapped for a symlink out of it never leaks", async () => {
  // A hard link made before the file settles: the same inode, the same
  // times, outside the root.
  const tree = await settledTree({ "a.txt": "alpha" }, async (base, root) => {
    await Deno.mkdir(`${base}/elsewhere`);
    await Deno.link(`${root}/a.txt`, `${base}/elsewhere/a.txt`);
  });
  const { base, root } = tree;
  try {
    await withServer(staticFiles(root)(inner), async (_server, port) => {
      await get(port, "/a.txt");
      const calls = new Calls();
      try {
        const hit = await calls.during(async () => {
          assert.equal((await get(port, "/a.txt")).text, "alpha");
        });
        assert.deepEqual(hit, { lstatSync: 2 });
      } finally {
        calls.restore();
      }
      // The root moves away and a symlink to a folder outside it takes its
      // place, where a.txt is the very file that was cached (inode, size and
      // times): only the check of the root itself can tell.
      const before = await Deno.lstat(`${root}/a.txt`);
      await Deno.rename(root, `${base}/old-root`);
      await Deno.symlink(`${base}/elsewhere`, root);
      assertSameFile(await Deno.lstat(`${root}/a.txt`), before);
      assert.equal((await get(port, "/a.txt")).text, "fallthrough /a.txt");
    });
  } finally {
    await tree.cleanup();
  }
});

Deno.test("staticFiles() never serves a cached file stale: replaced, rewritten in place, deleted, turned into a directory", async () => {
  const tree = await settledTree({
    "renamed.txt": "old text",
    "in-place.txt": "old text",
    "deleted.txt": "old text",
    "dir.txt": "old text",
    "grown.txt": "old text",
  });
  const { root } = tree;
  await serveCounted(tree, async (port, calls) => {
    const paths = [
      "/renamed.txt",
      "/in-place.txt",
      "/deleted.txt",
      "/dir.txt",
      "/grown.txt",
    ];
    for (const path of paths) {
      await get(port, path);
      const hit = await calls.during(async () => {
        assert.equal((await get(port, path)).text, "old text");
      });
      assert.equal(hit.openSync, undefined, `${path} was not cached`);
    }
    // Replaced by rename with a file of the same size and mtime: a new inode.
    await Deno.writeTextFile(`${root}/renamed.new`, "NEW TEXT");
    await Deno.utime(`${root}/renamed.new`, PAST, PAST);
    await Deno.rename(`${root}/renamed.new`, `${root}/renamed.txt`);
    // Rewritten in place with the same size, its mtime put back: the
    // ctime moves.
    await Deno.writeTextFile(`${root}/in-place.txt`, "NEW TEXT");
    await Deno.utime(`${root}/in-place.txt`, PAST, PAST);
    await Deno.remove(`${root}/deleted.txt`);
    await Deno.remove(`${root}/dir.txt`);
    await Deno.mkdir(`${root}/dir.txt`);
    await Deno.writeTextFile(`${root}/grown.txt`, "old text, and more");

    assert.equal((await get(port, "/renamed.txt")).text, "NEW TEXT");
    assert.equal((await get(port, "/in-place.txt")).text, "NEW TEXT");
    assert.equal(
      (await get(port, "/deleted.txt")).text,
      "fallthrough /deleted.txt",
    );
    const dir = await get(port, "/dir.txt");
    assert.equal(dir.status, 301);
    assert.equal(dir.headers.get("location"), "/dir.txt/");
    const grown = await get(port, "/grown.txt");
    assert.equal(grown.text, "old text, and more");
    assert.equal(grown.headers.get("content-length"), "18");
  });
});

Deno.test("staticFiles() keeps the cache within cacheSize, least recently used out first", async () => {
  const kib = (n: number) => new Uint8Array(1024).fill(n);
  const tree = await settledTree({
    "a": kib(1),
    "b": kib(2),
    "c": kib(3),
    "big": new Uint8Array(4096),
  });
  const calls = new Calls();
  try {
    // Room for two 1 KiB files and their metadata, not three.
    const app = staticFiles(tree.root, { cacheSize: 2 * (1024 + 512 + 1) })(
      inner,
    );
    const opens = async (path: string) =>
      (await calls.during(async () => {
        const response = await new Client(app).get(path);
        assert.equal(response.body.length, 1024);
      })).openSync ?? 0;
    assert.equal(await opens("/a"), 1);
    assert.equal(await opens("/b"), 1);
    assert.equal(await opens("/a"), 0);
    assert.equal(await opens("/c"), 1); // b, the least recently used, goes.
    assert.equal(await opens("/a"), 0);
    assert.equal(await opens("/b"), 1);

    // A file larger than the whole cache does not push the others out.
    const small = staticFiles(tree.root, { cacheSize: 1024 + 512 + 1 })(
      inner,
    );
    const smallOpens = async (path: string) =>
      (await calls.during(() => new Client(small).get(path))).openSync ?? 0;
    assert.equal(await smallOpens("/a"), 1);
    assert.equal(await smallOpens("/a"), 0);
    assert.equal(await smallOpens("/big"), 1);
    assert.equal(await smallOpens("/a"), 0);

    const off = staticFiles(tree.root, { cacheSize: 0 })(inner);
    for (let i = 0; i < 3; i++) {
      const counts = await calls.during(() => new Client(off).get("/a"));
      assert.equal(counts.openSync, 1);
      assert.equal(counts.realPathSync, 1);
    }
  } finally {
    calls.restore();
    await tree.cleanup();
  }
});

Deno.test("staticFiles() sends a small file as one in-memory chunk and a larger one as the file", async () => {
  const tree = await settledTree({
    "small.bin": new Uint8Array(100).fill(7),
    "edge.bin": new Uint8Array(1 << 20).fill(8),
    "large.bin": new Uint8Array((1 << 20) + 1).fill(9),
  });
  try {
    const app = staticFiles(tree.root)(inner);
    const bodyOf = (path: string, headers: Record<string, string> = {}) => {
      const environ = buildEnviron({ path, headers });
      return app(environ, () => () => Promise.resolve());
    };
    for (const path of ["/small.bin", "/edge.bin"]) {
      for (let i = 0; i < 2; i++) { // uncached, then cached
        const body = await bodyOf(path);
        assert.ok(Array.isArray(body) && body.length === 1, path);
        assert.ok(body[0] instanceof Uint8Array);
      }
    }
    const ranged = await bodyOf("/small.bin", { Range: "bytes=10-19" });
    assert.ok(Array.isArray(ranged));
    assert.deepEqual(ranged[0], new Uint8Array(10).fill(7));
    const large = await bodyOf("/large.bin");
    assert.ok(large instanceof FileBody);
    await large.close();

    const tiny = staticFiles(tree.root, { smallFileSize: 50 })(inner);
    const streamed = await tiny(
      buildEnviron({ path: "/small.bin" }),
      () => () => Promise.resolve(),
    );
    assert.ok(streamed instanceof FileBody);
    await streamed.close();

    // The cached bytes go out whole, every time, over a real socket.
    await withServer(app, async (_server, port) => {
      for (let i = 0; i < 3; i++) {
        const response = await fetch(`http://127.0.0.1:${port}/edge.bin`);
        const bytes = new Uint8Array(await response.arrayBuffer());
        assert.equal(bytes.length, 1 << 20);
        assert.ok(bytes.every((b) => b === 8));
      }
    });
  } finally {
    await tree.cleanup();
  }
});

Deno.test("staticFiles() answers HEAD and OPTIONS without opening the file", async () => {
  const tree = await settledTree({
    "a.txt": "alpha",
    "big.bin": new Uint8Array(2_000_000),
    "sub/index.html": "<p>",
  });
  const calls = new Calls();
  try {
    const client = new Client(staticFiles(tree.root, { cacheSize: 0 })(inner));
    for (const path of ["/a.txt", "/big.bin"]) {
      let head: Awaited<ReturnType<Client["head"]>> | undefined;
      const counts = await calls.during(async () => {
        head = await client.head(path);
      });
      assert.equal(head!.status, 200);
      assert.equal(head!.body.length, 0);
      assert.equal(
        head!.headers.get("content-length"),
        path === "/a.txt" ? "5" : "2000000",
      );
      assert.equal(counts.openSync, undefined, path);

      let options: Awaited<ReturnType<Client["options"]>> | undefined;
      const optionCounts = await calls.during(async () => {
        options = await client.options(path);
      });
      assert.equal(options!.status, 200);
      assert.equal(options!.headers.get("allow"), "GET, HEAD, OPTIONS");
      assert.equal(options!.headers.get("content-length"), "0");
      assert.equal(options!.headers.get("etag"), null);
      assert.equal(options!.body.length, 0);
      assert.equal(optionCounts.openSync, undefined, path);
    }
    assert.equal((await client.options("/sub/")).status, 200);
    // No file, or a directory asked for without its slash: the app's.
    for (const path of ["/missing.txt", "/sub"]) {
      const response = await client.options(path);
      assert.equal(response.text(), `fallthrough ${path}`);
    }
    // Over a real socket too.
    await withServer(staticFiles(tree.root)(inner), async (_server, port) => {
      const response = await fetch(`http://127.0.0.1:${port}/a.txt`, {
        method: "OPTIONS",
      });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("allow"), "GET, HEAD, OPTIONS");
      assert.equal(await response.text(), "");
    });
  } finally {
    calls.restore();
    await tree.cleanup();
  }
});

Deno.test("staticFiles() checks smallFileSize and cacheSize", () => {
  for (
    const options of [
      { smallFileSize: -1 },
      { smallFileSize: 1.5 },
      { cacheSize: Number.NaN },
      { cacheSize: "1" as unknown as number },
    ]
  ) {
    assert.throws(
      () => staticFiles(".", options),
      /Cannot create staticFiles: (smallFileSize|cacheSize) must be a whole number of bytes/,
    );
  }
});

Deno.test("staticFiles() gives every hit a list of headers of its own: an app above that edits it changes no later answer", async () => {
  const tree = await settledTree({ "a.txt": "alpha" });
  try {
    const files = staticFiles(tree.root, { cacheControl: "no-cache" })(inner);
    // Adds a header to the list it is given, then drops Cache-Control from
    // it in place, as a middleware may.
    let round = 0;
    const editing: App = (environ, startResponse) =>
      files(environ, (status, headers, excInfo) => {
        headers.push(["X-Round", String(++round)]);
        const at = headers.findIndex(([name]) => name === "Cache-Control");
        if (at >= 0) headers.splice(at, 1);
        return startResponse(status, headers, excInfo);
      });
    const plain = new Client(files);
    const first = await plain.get("/a.txt");
    const client = new Client(editing);
    for (let i = 1; i <= 3; i++) {
      const edited = await client.get("/a.txt");
      assert.equal(edited.headers.get("x-round"), String(i));
      assert.equal(edited.headers.get("cache-control"), null);
    }
    // The cached file's own answer, whole and as a 304, is what it was.
    const again = await plain.get("/a.txt");
    assert.deepEqual([...again.headers], [...first.headers]);
    assert.equal(again.headers.get("cache-control"), "no-cache");
    assert.equal(again.headers.get("x-round"), null);
    const notModified = await plain.get("/a.txt", {
      headers: { "If-None-Match": first.headers.get("etag")! },
    });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers.get("cache-control"), "no-cache");
    assert.equal(notModified.headers.get("x-round"), null);
  } finally {
    await tree.cleanup();
  }
});

/** What `fn` cost in calls, with `calls` counting them. */
async function costOf(
  calls: Calls,
  port: number,
  path: string,
  text: string,
): Promise<Record<string, number>> {
  return await calls.during(async () => {
    assert.equal((await get(port, path)).text, text, path);
  });
}

Deno.test("staticFiles() answers a path cached as missing without realpath: one lstat per directory down to the deepest that exists", async () => {
  const tree = await settledTree({ "a.txt": "alpha", "sub/deep/b.txt": "b" });
  const { root } = tree;
  const calls = new Calls();
  try {
    await withServer(staticFiles(root)(inner), async (_server, port) => {
      const cases: [string, number][] = [
        ["/none.txt", 1], // the root
        ["/sub/deep/none/x.txt", 3], // root, sub, sub/deep
        ["/sub/", 2], // no index.html in sub
        ["/nodir/", 1],
      ];
      for (const [path, lstats] of cases) {
        // The first one finds the missing segment by lstat too.
        const first = await costOf(calls, port, path, `fallthrough ${path}`);
        assert.deepEqual(first, { lstatSync: lstats + 1 }, path);
        for (let i = 0; i < 2; i++) {
          assert.deepEqual(
            await costOf(calls, port, path, `fallthrough ${path}`),
            { lstatSync: lstats },
            path,
          );
        }
      }
      // Misses decided from the text touch no file, as before.
      for (const path of ["/.env", "/sub/.git/config", "/a%5Cb.txt"]) {
        const text = `fallthrough ${decodeURIComponent(path)}`;
        assert.deepEqual(await costOf(calls, port, path, text), {}, path);
      }
      // A directory changed less than two seconds ago is not trusted yet
      // (its times may not show the next change): the walk goes down to
      // the missing name every time.
      await Deno.mkdir(`${root}/fresh`);
      for (let i = 0; i < 2; i++) {
        const fresh = await costOf(
          calls,
          port,
          "/fresh/x.txt",
          "fallthrough /fresh/x.txt",
        );
        assert.deepEqual(fresh, { lstatSync: 3 });
      }
    });
    // With the cache off, every miss is looked up to the missing name.
    await withServer(
      staticFiles(root, { cacheSize: 0 })(inner),
      async (_server, port) => {
        for (let i = 0; i < 2; i++) {
          const off = await costOf(
            calls,
            port,
            "/none.txt",
            "fallthrough /none.txt",
          );
          assert.deepEqual(off, { lstatSync: 2 });
        }
      },
    );
  } finally {
    calls.restore();
    await tree.cleanup();
  }
});

/**
 * Requests each path twice, asserting the second was a cached miss: no
 * realpath, and no lstat of the missing name, only of the directories.
 */
async function cacheMisses(
  calls: Calls,
  port: number,
  paths: string[],
): Promise<void> {
  for (const path of paths) {
    const first = await costOf(calls, port, path, `fallthrough ${path}`);
    const cost = await costOf(calls, port, path, `fallthrough ${path}`);
    assert.deepEqual(
      cost,
      { lstatSync: first.lstatSync - 1 },
      `${path} was not cached`,
    );
  }
}

Deno.test("staticFiles() serves a path cached as missing once it exists: created, under a new directory, renamed into place, an index", async () => {
  const tree = await settledTree({
    "a.txt": "alpha",
    "sub/deep/b.txt": "b",
    "sub2/c.txt": "c",
  }, async (base) => {
    await Deno.writeTextFile(`${base}/staged.txt`, "renamed in");
    await Deno.mkdir(`${base}/staged-dir`);
    await Deno.writeTextFile(`${base}/staged-dir/x.txt`, "dir renamed in");
  });
  const { base, root } = tree;
  await serveCounted(tree, async (port, calls) => {
    const paths = [
      "/new.txt",
      "/sub/deep/new.txt",
      "/newdir/x.txt",
      "/sub/made/on/the/way.txt",
      "/sub2/renamed.txt",
      "/moved/x.txt",
      "/sub2/",
    ];
    await cacheMisses(calls, port, paths);
    await Deno.writeTextFile(`${root}/new.txt`, "new");
    await Deno.writeTextFile(`${root}/sub/deep/new.txt`, "deep new");
    await Deno.mkdir(`${root}/newdir`);
    await Deno.writeTextFile(`${root}/newdir/x.txt`, "in a new dir");
    // Only the deepest directory (sub/made/on/the) is new; sub's times
    // change, the root's do not.
    await Deno.mkdir(`${root}/sub/made/on/the`, { recursive: true });
    await Deno.writeTextFile(`${root}/sub/made/on/the/way.txt`, "way");
    await Deno.rename(`${base}/staged.txt`, `${root}/sub2/renamed.txt`);
    await Deno.rename(`${base}/staged-dir`, `${root}/moved`);
    await Deno.writeTextFile(`${root}/sub2/index.html`, "<p>index");
    const expected = [
      "new",
      "deep new",
      "in a new dir",
      "way",
      "renamed in",
      "dir renamed in",
      "<p>index",
    ];
    for (const [i, path] of paths.entries()) {
      assert.equal((await get(port, path)).text, expected[i], path);
    }
  });
});

Deno.test("staticFiles() serves a path cached as missing once it exists, when the tree settles before or after", async () => {
  const tree = await settledTree({ "sub/a.txt": "alpha" });
  const { root } = tree;
  await serveCounted(tree, async (port, calls) => {
    const paths = ["/later.txt", "/sub/later.txt", "/sub/soon.txt"];
    await cacheMisses(calls, port, paths);
    // Settled since it was cached, still a cached miss.
    await settle();
    for (const path of paths) {
      const cost = await costOf(calls, port, path, `fallthrough ${path}`);
      assert.equal(cost.realPathSync, undefined, path);
      assert.equal(cost.lstatSync, path === "/later.txt" ? 1 : 2, path);
    }
    await Deno.writeTextFile(`${root}/sub/soon.txt`, "soon");
    assert.equal((await get(port, "/sub/soon.txt")).text, "soon");
    // Made, then left to settle before the next request: the directory's
    // times are old again, but not the ones the cache kept.
    await Deno.writeTextFile(`${root}/later.txt`, "later");
    await Deno.writeTextFile(`${root}/sub/later.txt`, "sub later");
    await Deno.utime(`${root}/sub`, PAST, PAST);
    await settle();
    assert.equal((await get(port, "/later.txt")).text, "later");
    assert.equal((await get(port, "/sub/later.txt")).text, "sub later");
  });
});

Deno.test("staticFiles() re-checks a cached miss: a symlink made there is served if it points inside the root, never if outside", async () => {
  const tree = await settledTree({
    "a.txt": "alpha",
    "sub/a.txt": "sub alpha",
  }, async (base, root) => {
    // Dangling until sub/later.txt exists: a change to sub, not to the root.
    await Deno.symlink(`${root}/sub/later.txt`, `${root}/dangling.txt`);
    await Deno.symlink(`${base}/later.txt`, `${root}/dangling-out.txt`);
  });
  const { base, root } = tree;
  const log = errorLog();
  try {
    await withServer(staticFiles(root)(inner), async (_server, port) => {
      const calls = new Calls();
      try {
        await cacheMisses(calls, port, [
          "/in.txt",
          "/out.txt",
          "/indir/a.txt",
          "/outdir/a.txt",
          "/sub/in.txt",
          "/sub/out.txt",
        ]);
        // A dangling symlink is missing for another reason: never kept.
        for (const path of ["/dangling.txt", "/dangling-out.txt"]) {
          await get(port, path);
          const cost = await costOf(calls, port, path, `fallthrough ${path}`);
          assert.equal(cost.realPathSync, 1, path);
        }
      } finally {
        calls.restore();
      }
      await Deno.symlink(`${root}/a.txt`, `${root}/in.txt`);
      await Deno.symlink(`${base}/secret.txt`, `${root}/out.txt`);
      await Deno.symlink(`${root}/sub`, `${root}/indir`);
      await Deno.symlink(`${base}/outside`, `${root}/outdir`);
      await Deno.symlink(`../a.txt`, `${root}/sub/in.txt`);
      await Deno.symlink(`../../secret.txt`, `${root}/sub/out.txt`);
      await Deno.writeTextFile(`${root}/sub/later.txt`, "later");
      await Deno.writeTextFile(`${base}/later.txt`, SECRET);
      for (let i = 0; i < 2; i++) {
        assert.equal((await get(port, "/in.txt")).text, "alpha");
        assert.equal((await get(port, "/indir/a.txt")).text, "sub alpha");
        assert.equal((await get(port, "/sub/in.txt")).text, "alpha");
        assert.equal((await get(port, "/dangling.txt")).text, "later");
        for (
          const path of [
            "/out.txt",
            "/outdir/a.txt",
            "/sub/out.txt",
            "/dangling-out.txt",
          ]
        ) {
          assert.equal((await get(port, path)).text, `fallthrough ${path}`);
        }
      }
    }, { errors: log.sink });
    assert.equal(log.text(), "");
  } finally {
    await tree.cleanup();
  }
});

Deno.test("staticFiles() keeps at most 1024 missing paths, least recently used out first, and none too long", async () => {
  // Seven directories of 127-character names: a path missing in the last
  // one is 1024 characters with a 128-character name, 1025 with 129.
  const dirs = Array(7).fill("k".repeat(127)).join("/");
  const tree = await settledTree({ "a.txt": "alpha", [`${dirs}/f`]: "f" });
  await serveCounted(tree, async (port, calls) => {
    // A cached miss at the root costs its lstat; one not cached, the
    // lstat of the missing name too.
    const lstats = async (path: string) =>
      (await costOf(calls, port, path, `fallthrough ${path}`)).lstatSync;
    for (let i = 0; i < 1024; i++) await get(port, `/m${i}`);
    assert.equal(await lstats("/m0"), 1); // now the most recent
    assert.equal(await lstats("/m1024"), 2); // m1, the oldest, goes
    assert.equal(await lstats("/m0"), 1);
    assert.equal(await lstats("/m1024"), 1);
    assert.equal(await lstats("/m2"), 1);
    assert.equal(await lstats("/m1"), 2);
    const kept = `/${dirs}/${"k".repeat(128)}`;
    const long = `/${dirs}/${"k".repeat(129)}`;
    assert.deepEqual([kept.length, long.length], [1025, 1026]);
    await get(port, kept);
    assert.equal(await lstats(kept), 8);
    await get(port, long);
    assert.equal(await lstats(long), 9);
  });
});

Deno.test("staticFiles() keeps one miss for every path under a missing name: /api/users/1, /api/users/2", async () => {
  const tree = await settledTree({ "sub/a.txt": "alpha" });
  const { root } = tree;
  await serveCounted(tree, async (port, calls) => {
    await get(port, "/api/users/1");
    for (const path of ["/api/users/2", "/api/", "/api", "/api/x/y/z/"]) {
      assert.deepEqual(
        await costOf(calls, port, path, `fallthrough ${path}`),
        { lstatSync: 1 },
        path,
      );
    }
    await get(port, "/sub/none/1");
    assert.deepEqual(
      await costOf(calls, port, "/sub/none/2", "fallthrough /sub/none/2"),
      { lstatSync: 2 },
    );
    // Not a sibling name, nor a name that begins with it.
    assert.deepEqual(
      await costOf(calls, port, "/apis/1", "fallthrough /apis/1"),
      { lstatSync: 2 },
    );
    assert.equal((await get(port, "/sub/a.txt")).text, "alpha");
    // Once it exists, everything under it is looked up.
    await Deno.mkdir(`${root}/api/users`, { recursive: true });
    await Deno.writeTextFile(`${root}/api/users/2`, "two");
    assert.equal((await get(port, "/api/users/2")).text, "two");
    assert.equal(
      (await get(port, "/api/users/1")).text,
      "fallthrough /api/users/1",
    );
  });
});
