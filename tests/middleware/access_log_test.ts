import assert from "node:assert/strict";
import type { App, Body, Environ } from "../../mod.ts";
import {
  accessLog,
  type AccessLogOptions,
  GUNICORN_FORMAT,
} from "../../middleware/access_log.ts";
import { buildEnviron } from "../../testing.ts";
import { errorLog, withServer } from "../_helpers.ts";
// Every client here runs its subject under the validator.
import { LintedClient as Client } from "../_helpers.ts";

// 10 Oct 2000 20:55:36 UTC, the day of Apache's own example.
const T0 = Date.UTC(2000, 9, 10, 20, 55, 36);

/** A fake clock: the first reading is T0, each later one `step` ms on. */
function fakeClock(step = 1.5): () => number {
  let now = T0 - step;
  return () => (now += step);
}

function logged(options: AccessLogOptions = {}) {
  const lines: string[] = [];
  const middleware = accessLog({
    utc: true,
    clock: fakeClock(),
    output: (line) => lines.push(line),
    ...options,
  });
  return { lines, middleware };
}

const hello: App = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return ["Hello, World!"];
};

const quiet = () => ({ errors: errorLog().sink });

/** Resolves once `check` holds, polling the event loop. */
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.ok(check(), "the condition did not come true in time");
}

Deno.test("accessLog() writes the Common Log Format exactly", async () => {
  const { lines, middleware } = logged({ format: "common", duration: false });
  const client = new Client(middleware(hello));
  await client.get("/a%20b/c?x=1&y=%22");
  assert.deepEqual(lines, [
    '127.0.0.1 - - [10/Oct/2000:20:55:36 +0000] "GET /a%20b/c?x=1&y=%22 HTTP/1.1" 200 13',
  ]);
});

Deno.test("accessLog() writes the Combined Log Format with the duration in microseconds", async () => {
  const { lines, middleware } = logged();
  const client = new Client(middleware(hello), { remoteAddr: "10.0.0.7" });
  await client.get("/page", {
    headers: {
      referer: "http://example.com/start",
      "user-agent": "Mozilla/5.0 (X11)",
    },
  });
  assert.deepEqual(lines, [
    '10.0.0.7 - - [10/Oct/2000:20:55:36 +0000] "GET /page HTTP/1.1" 200 13 ' +
    '"http://example.com/start" "Mozilla/5.0 (X11)" 1500',
  ]);
});

Deno.test("accessLog() writes - for a missing Referer and User-Agent, and REMOTE_USER", async () => {
  const { lines, middleware } = logged({ duration: false });
  const app = middleware(hello);
  const client = new Client((environ: Environ, startResponse) => {
    environ.REMOTE_USER = "frank";
    return app(environ, startResponse);
  });
  await client.post("/login");
  assert.deepEqual(lines, [
    '127.0.0.1 - frank [10/Oct/2000:20:55:36 +0000] "POST /login HTTP/1.1" 200 13 "-" "-"',
  ]);
});

Deno.test("accessLog() dates the request in local time with its offset by default", async () => {
  const lines: string[] = [];
  const app = accessLog({
    format: "common",
    duration: false,
    clock: () => T0,
    output: (line) => lines.push(line),
  })(hello);
  await new Client(app).get("/");
  const date = new Date(T0);
  const offset = -date.getTimezoneOffset();
  const local = new Date(T0 + offset * 60_000);
  const pad = (n: number) => String(n).padStart(2, "0");
  const zone = `${offset < 0 ? "-" : "+"}${
    pad(Math.floor(Math.abs(offset) / 60))
  }${pad(Math.abs(offset) % 60)}`;
  const stamp =
    `${pad(local.getUTCDate())}/Oct/2000:${pad(local.getUTCHours())}:` +
    `${pad(local.getUTCMinutes())}:36 ${zone}`;
  assert.equal(lines[0], `127.0.0.1 - - [${stamp}] "GET / HTTP/1.1" 200 13`);
});

Deno.test("accessLog() counts the bytes of a streamed body as they go, UTF-8 encoded", async () => {
  const { lines, middleware } = logged({ format: "common", duration: false });
  const seen: number[] = [];
  const app = middleware((_environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "text/plain; charset=utf-8"]]);
    return (async function* () {
      for (let i = 0; i < 5; i++) {
        yield new Uint8Array(1000);
        seen.push(lines.length);
      }
      yield "";
      yield "café 😀"; // 3 + 2 + 1 + 4 bytes
    })();
  });
  const response = await new Client(app).get("/stream");
  assert.equal(response.body.length, 5010);
  assert.deepEqual(seen, [0, 0, 0, 0, 0], "nothing is logged before the end");
  assert.match(lines[0], / 200 5010$/);
});

Deno.test("accessLog() counts data passed to write()", async () => {
  const { lines, middleware } = logged({ format: "common", duration: false });
  const app = middleware(async (_environ, startResponse) => {
    const write = startResponse("200 OK", [["Content-Type", "text/plain"]]);
    await write("abc");
    await write(new Uint8Array(7));
    return ["!"];
  });
  const response = await new Client(app).get("/");
  assert.equal(response.body.length, 11);
  assert.match(lines[0], / 200 11$/);
});

Deno.test("accessLog() writes - when no body bytes were sent (empty, HEAD, 204, 304)", async () => {
  const { lines, middleware } = logged({ format: "common", duration: false });
  const client = new Client(middleware((environ, startResponse) => {
    const status = environ.PATH_INFO === "/204"
      ? "204 No Content"
      : environ.PATH_INFO === "/304"
      ? "304 Not Modified"
      : "200 OK";
    // 204 and 304 carry no content, so no Content-Type either.
    startResponse(
      status,
      status === "200 OK" ? [["Content-Type", "text/plain"]] : [],
    );
    return environ.PATH_INFO === "/empty" || status !== "200 OK"
      ? []
      : ["body"];
  }));
  await client.get("/empty");
  await client.head("/head");
  await client.get("/204");
  await client.get("/304");
  assert.deepEqual(lines.map((line) => line.split('" ')[1]), [
    "200 -",
    "200 -",
    "204 -",
    "304 -",
  ]);
});

Deno.test("accessLog() logs a 500 when the app throws or rejects, and rethrows", async () => {
  const { lines, middleware } = logged({ format: "common", duration: false });
  const client = new Client(
    middleware((environ) => {
      if (environ.PATH_INFO === "/sync") throw new Error("sync");
      return Promise.reject(new Error("async"));
    }),
    quiet(),
  );
  assert.equal((await client.get("/sync")).status, 500);
  assert.equal((await client.get("/async")).status, 500);
  assert.deepEqual(lines.map((line) => line.split('" ')[1]), [
    "500 -",
    "500 -",
  ]);
});

Deno.test("accessLog() logs a 500 when the body fails before its first chunk", async () => {
  const { lines, middleware } = logged({ format: "common", duration: false });
  const client = new Client(
    middleware((_environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/plain"]]);
      return (function* () {
        yield "";
        throw new Error("late");
      })();
    }),
    quiet(),
  );
  const response = await client.get("/");
  assert.equal(response.status, 500);
  assert.equal(lines.length, 1);
  assert.match(lines[0], / 500 -$/);
});

Deno.test("accessLog() logs the status that went out when the body fails mid-stream", async () => {
  const { lines, middleware } = logged({ format: "common", duration: false });
  const client = new Client(
    middleware((_environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/plain"]]);
      return (async function* () {
        yield "partial";
        throw new Error("mid-stream");
      })();
    }),
    quiet(),
  );
  await assert.rejects(client.get("/"));
  assert.equal(lines.length, 1);
  assert.match(lines[0], / 200 7$/);
});

Deno.test("accessLog() logs a client that goes away, with the bytes sent so far", async () => {
  const { lines, middleware } = logged({ format: "common", duration: false });
  let closed = 0;
  let release!: () => void;
  const stalled = new Promise<void>((resolve) => release = resolve);
  const app = middleware((_environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    const body = (async function* () {
      yield "x".repeat(100);
      await stalled;
      yield "never sent";
    })();
    return Object.assign(body, {
      close() {
        closed++;
        release();
        return body.return(undefined).then(() => {});
      },
    });
  });
  await withServer(app, async (server) => {
    const response = await fetch(server.url);
    const reader = response.body!.getReader();
    const first = await reader.read();
    assert.equal(first.value?.length, 100);
    await reader.cancel();
    await until(() => lines.length === 1);
  });
  assert.equal(closed, 1);
  assert.match(lines[0], / 200 100$/);
});

Deno.test("accessLog() forwards close() once, and return() to a generator stopped early", async () => {
  const { lines, middleware } = logged({ format: "common", duration: false });
  let closed = 0;
  let finallyRan = 0;
  const withClose = middleware((_environ, startResponse) => {
    startResponse("200 OK", []);
    return Object.assign(["a", "b"], { close: () => void closed++ });
  });
  const body = await withClose(buildEnviron(), () => async () => {});
  await body.close?.();
  await body.close?.();
  assert.equal(closed, 1);

  const generator = middleware((_environ, startResponse) => {
    startResponse("200 OK", []);
    return (function* () {
      try {
        yield "first";
        yield "second";
      } finally {
        finallyRan++;
      }
    })();
  });
  const streamed = await generator(buildEnviron(), () => async () => {});
  const iterator = (streamed as Iterable<string>)[Symbol.iterator]();
  assert.deepEqual(iterator.next(), { done: false, value: "first" });
  streamed.close?.();
  streamed.close?.();
  assert.equal(finallyRan, 1);
  assert.equal(lines.length, 2);
  assert.match(lines[1], / 200 5$/);
});

Deno.test("accessLog() keeps a one-chunk array on the server's fast path", async () => {
  const { lines, middleware } = logged();
  await withServer(middleware(hello), async (server) => {
    const response = await fetch(server.url);
    assert.equal(await response.text(), "Hello, World!");
    assert.equal(response.headers.get("content-length"), "13");
  });
  assert.equal(lines.length, 1);
});

Deno.test("accessLog() keeps wsgi.file_wrapper bodies on the file path and logs their size", async () => {
  const path = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(path, "0123456789");
    const { lines, middleware } = logged({ format: "common", duration: false });
    const app = middleware(async (environ, startResponse) => {
      startResponse("200 OK", [
        ["Content-Type", "text/plain"],
        ["Content-Length", "10"],
      ]);
      return environ["wsgi.file_wrapper"]!(await Deno.open(path));
    });
    await withServer(app, async (server) => {
      const response = await fetch(server.url);
      assert.equal(await response.text(), "0123456789");
      assert.equal(response.headers.get("content-length"), "10");
      await until(() => lines.length === 1);
    });
    assert.match(lines[0], / 200 10$/);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("accessLog() escapes quotes, backslashes, control and non-ASCII characters", async () => {
  const { lines, middleware } = logged({ duration: false });
  const app = middleware(hello);
  const client = new Client((environ: Environ, startResponse) => {
    environ.REMOTE_USER = "eve\n127.0.0.1 - admin";
    return app(environ, startResponse);
  });
  await client.get("/", {
    headers: { "user-agent": 'a" "b\\c\td\xe9', referer: "\x7f" },
  });
  assert.deepEqual(lines, [
    '127.0.0.1 - eve\\x0a127.0.0.1 - admin [10/Oct/2000:20:55:36 +0000] "GET / HTTP/1.1" 200 13 ' +
    '"\\x7f" "a\\" \\"b\\\\c\\x09d\\xe9"',
  ]);
});

Deno.test("accessLog() writes lines with a newline to a writer like Deno.stdout", async () => {
  const chunks: Uint8Array[] = [];
  const app = accessLog({
    format: "common",
    output: {
      writeSync(bytes) {
        // Take at most 10 bytes a call, as a pipe may.
        chunks.push(bytes.slice(0, 10));
        return Math.min(10, bytes.length);
      },
    },
  })(hello);
  await new Client(app).get("/");
  const text = new TextDecoder().decode(
    new Uint8Array(chunks.flatMap((chunk) => [...chunk])),
  );
  assert.match(
    text,
    /^127\.0\.0\.1 - - \[.*\] "GET \/ HTTP\/1\.1" 200 13 \d+\n$/,
  );
});

Deno.test("accessLog() logs a body that is not iterable as the server's 500", async () => {
  const { lines, middleware } = logged({ format: "common", duration: false });
  const app = middleware((_environ, startResponse) => {
    startResponse("200 OK", []);
    return "oops" as unknown as Body;
  });
  assert.equal((await new Client(app, quiet()).get("/")).status, 500);
  assert.match(lines[0], / 500 -$/);
});

Deno.test("accessLog() reports an output that fails to wsgi.errors and still answers", async () => {
  const log = errorLog();
  const app = accessLog({
    output() {
      throw new Error("disk full");
    },
  })(hello);
  const response = await new Client(app, { errors: log.sink }).get("/");
  assert.equal(response.text(), "Hello, World!");
  assert.match(
    log.text(),
    /\[accessLog\] cannot write the log line: Error: disk full/,
  );
});

Deno.test("accessLog() refuses an unknown format", () => {
  assert.throws(
    () => accessLog({ format: "json" as "common" }),
    /Cannot use access log format "json"/,
  );
});

Deno.test("accessLog() writes gunicorn's default format, atom for atom", async () => {
  const { lines, middleware } = logged({ format: GUNICORN_FORMAT });
  await new Client(middleware(hello)).get("/a b?x=1", {
    headers: { referer: "http://example.com/", "user-agent": "curl/8" },
  });
  assert.deepEqual(lines, [
    '127.0.0.1 - - [10/Oct/2000:20:55:36 +0000] "GET /a%20b?x=1 HTTP/1.1" 200 13 "http://example.com/" "curl/8"',
  ]);
});

Deno.test("accessLog() fills in every gunicorn atom, with headers, durations and escapes", async () => {
  Deno.env.set("WSGI_TEST_ATOM", "env-value");
  try {
    const { lines, middleware } = logged({
      format:
        "%(m)s|%(U)s|%(q)s|%(H)s|%(s)s|%(B)s|%(b)s|%(T)s|%(M)s|%(D)s|%(L)s|%(p)s|" +
        "%({X-Trace}i)s|%({content-type}o)s|%({WSGI_TEST_ATOM}e)s|%({missing}i)s|100%%",
    });
    await new Client(middleware(hello)).get("/p?q=1", {
      headers: { "x-trace": 'a"b\tc' },
    });
    // The fake clock moves 1.5 ms a reading: the request took 1.5 ms.
    assert.deepEqual(lines, [
      `GET|/p|q=1|HTTP/1.1|200|13|13|0|1|1500|0.001500|<${Deno.pid}>|` +
      'a\\"b\\x09c|text/plain|env-value|-|100%',
    ]);
  } finally {
    Deno.env.delete("WSGI_TEST_ATOM");
  }
});

Deno.test("accessLog() refuses an unknown gunicorn atom or a stray %, naming it", () => {
  assert.throws(
    () => accessLog({ format: "%(h)s %(zz)s" }),
    /unknown atom %\(zz\)s/,
  );
  assert.throws(() => accessLog({ format: "50% off" }), /starts no atom/);
});

Deno.test("accessLog() returns an array body as an array copy, the app's own left as it was", async () => {
  const { lines, middleware } = logged({ format: "common", duration: false });
  const shared = ["Hello, ", "World!"];
  const app = middleware((_environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return shared;
  });
  for (let i = 0; i < 2; i++) {
    const body: Body = await app(buildEnviron(), () => async () => {});
    assert.ok(Array.isArray(body));
    assert.deepEqual([...body as string[]], shared);
    assert.notEqual(body, shared);
    await (body as Body).close?.();
  }
  assert.equal("close" in shared, false);
  assert.equal(lines.length, 2);
  assert.match(lines[1], / 200 13$/);
});

Deno.test("accessLog() writes a new timestamp once the second changes", async () => {
  const lines: string[] = [];
  let now = T0;
  const app = accessLog({
    format: "common",
    duration: false,
    utc: true,
    clock: () => now,
    output: (line) => lines.push(line),
  })(hello);
  const client = new Client(app);
  // Two requests in one second, then one at the start of the next.
  for (const at of [T0 + 10, T0 + 999.5, T0 + 1000]) {
    now = at;
    await client.get("/");
  }
  assert.deepEqual(lines.map((line) => line.split(" ")[3]), [
    "[10/Oct/2000:20:55:36",
    "[10/Oct/2000:20:55:36",
    "[10/Oct/2000:20:55:37",
  ]);
});
