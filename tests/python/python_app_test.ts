/**
 * pythonApp() with Debian's CPython: a plain WSGI app served by serve() and
 * requested over real HTTP (raw sockets where fetch would normalise what is
 * tested), the environ, wsgi.input, the pool's failures and its recovery.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type { App } from "../../mod.ts";
import { mount } from "../../middleware/mount.ts";
import { proxyFix } from "../../middleware/proxy_fix.ts";
import {
  pythonApp,
  type PythonAppOptions,
  PythonLoadError,
} from "../../python.ts";
import {
  dechunk,
  errorLog,
  parseRaw,
  rawRequest,
  withServer,
} from "../_helpers.ts";
import { PY } from "./_python.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
const PLAIN = `${FIXTURES}plain_app.py`;

/** A request over a raw socket; the head lines and the de-chunked body. */
async function send(
  port: number,
  head: string,
  body = "",
): Promise<{ status: number; head: string[]; body: string }> {
  const { text } = await rawRequest(
    port,
    `${head}Host: localhost\r\nConnection: close\r\n\r\n${body}`,
    20_000,
  );
  const parsed = parseRaw(text);
  const chunked = parsed.head.some((line) =>
    /^transfer-encoding:\s*chunked$/i.test(line)
  );
  return {
    status: Number(parsed.head[0].split(" ")[1]),
    head: parsed.head,
    body: chunked ? dechunk(parsed.body) : parsed.body,
  };
}

/** GET over a raw socket, with extra header lines. */
function get(
  port: number,
  target: string,
  headers = "",
): Promise<{ status: number; head: string[]; body: string }> {
  return send(port, `GET ${target} HTTP/1.1\r\n${headers}`);
}

Deno.test("pythonApp() serves a plain WSGI app over HTTP", async () => {
  await using app = pythonApp(PLAIN, PY);
  await app.ready;
  await withServer(app, async (_server, port) => {
    const hello = await fetch(`http://127.0.0.1:${port}/hello`);
    assert.equal(hello.status, 200);
    assert.equal(hello.headers.get("content-length"), "14");
    assert.equal(await hello.text(), "Hello, World!\n");

    // PEP 3333: a one-element list's length is the body's length.
    const listed = await get(port, "/errors");
    assert.ok(listed.head.includes("content-length: 7"));
    assert.equal(listed.body, "logged\n");

    const written = await get(port, "/write");
    assert.ok(written.head.includes("transfer-encoding: chunked"));
    assert.equal(written.body, "written then iterated\n");

    const streamed = await get(port, "/stream");
    assert.ok(streamed.head.includes("transfer-encoding: chunked"));
    assert.equal(
      streamed.body,
      "line 0\nline 1\nline 2\nline 3\nline 4\n",
    );

    const file = await fetch(`http://127.0.0.1:${port}/file`);
    assert.equal(await file.text(), await Deno.readTextFile(PLAIN));

    const head = await send(port, "HEAD /hello HTTP/1.1\r\n");
    assert.ok(head.head.includes("content-length: 14"));
    assert.equal(head.body, "");

    const empty = await get(port, "/empty");
    assert.equal(empty.status, 204);
    assert.equal(empty.body, "");

    const echo = await fetch(`http://127.0.0.1:${port}/echo`, {
      method: "POST",
      body: new Uint8Array(300_000).map((_, i) => i % 251),
    });
    const echoed = new Uint8Array(await echo.arrayBuffer());
    assert.equal(echoed.length, 300_000);
    assert.ok(echoed.every((byte, i) => byte === i % 251));
  });
});

Deno.test("pythonApp() gives Python native strings that round-trip exactly", async () => {
  await using app = pythonApp(PLAIN, PY);
  await withServer(app, async (_server, port) => {
    const { status, body } = await get(
      port,
      "/path/%E2%98%95",
      "X-Latin: caf\xe9 \xff\r\n",
    );
    assert.equal(status, 200);
    const seen = JSON.parse(body);
    assert.deepEqual(seen.latin1, [
      ..."/path/".split("").map((c) => c.charCodeAt(0)),
      0xe2,
      0x98,
      0x95,
    ]);
    assert.equal(seen.utf8, "/path/\u2615");
    assert.deepEqual(
      seen.header,
      [..."caf\xe9 \xff"].map((c) => c.charCodeAt(0)),
    );
  });
});

Deno.test("pythonApp() passes the str keys middleware in front set, and the wsgi.* flags of the pool", async () => {
  await using app = pythonApp(PLAIN, {
    ...PY,
    workers: 2,
    threads: 3,
  });
  const front: App = (environ, startResponse) => {
    environ["myapp.user"] = "alice";
    environ["myapp.object"] = { not: "a string" };
    environ.SCRIPT_NAME = "/mount";
    return app(environ, startResponse);
  };
  await withServer(front, async (_server, port) => {
    const { body } = await get(port, "/environ?a=1", "X-Request-Id: 7\r\n");
    const seen = JSON.parse(body);
    assert.equal(seen["myapp.user"], "alice");
    assert.equal("myapp.object" in seen, false);
    assert.equal(seen.SCRIPT_NAME, "/mount");
    assert.equal(seen.QUERY_STRING, "a=1");
    assert.equal(seen.HTTP_X_REQUEST_ID, "7");
    assert.equal(seen["wsgi.url_scheme"], "http");
    assert.equal(seen.REQUEST_METHOD, "GET");
    assert.equal(seen.SERVER_PROTOCOL, "HTTP/1.1");
    assert.deepEqual(seen.types, {
      version: [1, 0],
      multithread: true,
      multiprocess: true,
      run_once: false,
      file_wrapper: true,
    });
  });
});

Deno.test("pythonApp() sees what proxyFix and mount in front of it set", async () => {
  await using app = pythonApp(PLAIN, PY);
  const notFound: App = (_environ, startResponse) => {
    startResponse("404 Not Found", []);
    return [];
  };
  const stack = proxyFix({ xFor: 1, xProto: 1, xHost: 1 })(
    mount({ "/legacy": app })(notFound),
  );
  await withServer(stack, async (_server, port) => {
    const { status, body } = await get(
      port,
      "/legacy/environ",
      "X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: example.org\r\n",
    );
    assert.equal(status, 200);
    const seen = JSON.parse(body);
    assert.equal(seen.SCRIPT_NAME, "/legacy");
    assert.equal(seen.PATH_INFO, "/environ");
    assert.equal(seen.REMOTE_ADDR, "203.0.113.9");
    assert.equal(seen["wsgi.url_scheme"], "https");
    assert.equal(seen.HTTP_HOST, "example.org");
  });
});

Deno.test("pythonApp() wsgi.input reads lines and never past CONTENT_LENGTH", async () => {
  await using app = pythonApp(PLAIN, PY);
  await withServer(app, async (_server, port) => {
    const body = "one\ntwo\nthree\nfour";
    const { body: seen } = await send(
      port,
      `POST /lines HTTP/1.1\r\nContent-Length: ${body.length}\r\n`,
      `${body}EXTRA`,
    );
    assert.deepEqual(JSON.parse(seen), [
      "one\n",
      "two",
      ["\n", "three\n", "four"],
      "",
    ]);
    const lines = await fetch(`http://127.0.0.1:${port}/iterate`, {
      method: "POST",
      body: "a\nb\nc",
    });
    assert.deepEqual(await lines.json(), ["a\n", "b\n", "c"]);
  });
});

Deno.test("pythonApp() streams wsgi.input: the app answers before the client sent the rest", async () => {
  await using app = pythonApp(PLAIN, PY);
  await withServer(app, async (_server, port) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      const head =
        "POST /pieces HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10000000\r\n\r\n";
      await conn.write(new TextEncoder().encode(head + "0123456789ABCDE"));
      // Only 15 of 10 MB are sent; a runner that read the body whole
      // before calling the app would never answer.
      let got = "";
      const buffer = new Uint8Array(4096);
      const deadline = Date.now() + 15_000;
      while (!got.includes("second ABCDE\n") && Date.now() < deadline) {
        const n = await conn.read(buffer);
        if (n === null) break;
        got += new TextDecoder().decode(buffer.subarray(0, n));
      }
      assert.match(got, /^HTTP\/1\.1 200 /);
      assert.match(got, /first 0123456789\n/);
      assert.match(got, /second ABCDE\n/);
    } finally {
      conn.close();
    }
  });
});

Deno.test("pythonApp() keeps the channel whole when the app prints", async () => {
  await using app = pythonApp(PLAIN, PY);
  await withServer(app, async (_server, port) => {
    for (let i = 0; i < 3; i++) {
      const printed = await get(port, "/print");
      assert.equal(printed.status, 200);
      assert.equal(printed.body, "printed\n");
    }
    assert.equal((await get(port, "/hello")).body, "Hello, World!\n");
  });
});

Deno.test("pythonApp() writes wsgi.errors and app tracebacks to the server's errors sink", async () => {
  await using app = pythonApp(PLAIN, PY);
  const log = errorLog();
  await withServer(app, async (_server, port) => {
    assert.equal((await get(port, "/errors")).body, "logged\n");
    const raised = await get(port, "/raise");
    assert.equal(raised.status, 500);
    assert.doesNotMatch(raised.body, /on purpose/);
  }, { errors: log.sink });
  assert.match(log.text(), /an app error line\n/);
  assert.match(log.text(), /File ".*plain_app\.py", line \d+, in application/);
  assert.match(log.text(), /RuntimeError: the app failed on purpose/);
});

Deno.test("pythonApp() start_response follows BaseHandler: exc_info replaces, a second call fails", async () => {
  await using app = pythonApp(PLAIN, PY);
  const log = errorLog();
  await withServer(app, async (_server, port) => {
    const replaced = await get(port, "/exc-info");
    assert.equal(replaced.status, 500);
    assert.equal(replaced.body, "error page\n");
    assert.deepEqual(
      replaced.head.filter((line) => /^content-type:/i.test(line)),
      ["content-type: text/plain"],
    );
    const twice = await get(port, "/twice");
    assert.equal(twice.status, 500);
  }, { errors: log.sink });
  assert.match(log.text(), /AssertionError: Headers already set!/);
});

Deno.test("pythonApp() puts the app's status and headers through the server's checks", async () => {
  await using app = pythonApp(PLAIN, PY);
  const log = errorLog();
  await withServer(app, async (_server, port) => {
    const bad = await get(port, "/bad-header");
    assert.equal(bad.status, 500);
    assert.equal(bad.head.some((line) => /^set-cookie/i.test(line)), false);
    assert.doesNotMatch(bad.body, /should not be seen/);
    const hop = await get(port, "/hop");
    assert.equal(hop.status, 500);
    // The worker was told to stop and its slot is free again.
    assert.equal((await get(port, "/hello")).body, "Hello, World!\n");
  }, { errors: log.sink });
  assert.match(log.text(), /X-Bad contains CR, LF or NUL/);
  assert.match(log.text(), /Connection/);
});

Deno.test("pythonApp() answers 502 naming why when a worker dies, and replaces it", async () => {
  await using app = pythonApp(PLAIN, PY);
  const log = errorLog();
  await withServer(app, async (_server, port) => {
    const before = (await get(port, "/pid")).body;
    const died = await get(port, "/exit");
    assert.equal(died.status, 502);
    assert.match(died.body, /exited with code 3 during the request/);
    const after = await get(port, "/pid");
    assert.equal(after.status, 200);
    assert.notEqual(after.body, before);
  }, { errors: log.sink });
  assert.match(log.text(), /exited with code 3.*GET \/exit.*502/);
});

/**
 * Sends `path`, which makes the worker end its channels and live 0.5 s
 * more, then /hello 100 ms later: /hello gets its 200, `path` its 502.
 * Returns the error log.
 */
async function helloBehindDying(
  options: PythonAppOptions,
  path: string,
): Promise<string> {
  await using app = pythonApp(PLAIN, options);
  const log = errorLog();
  await withServer(app, async (_server, port) => {
    const dying = get(port, path);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const next = await get(port, "/hello");
    assert.equal(next.status, 200, next.body);
    assert.equal((await dying).status, 502);
  }, { errors: log.sink });
  return log.text();
}

Deno.test("pythonApp() gives a request waiting in line no slot of a worker whose channel closed", async () => {
  // The worker closes its channel, then lives 0.5 s more before it exits:
  // the request queued behind must wait for the replacement, not be
  // given the dead channel and a 502 of its own.
  const log = await helloBehindDying(PY, "/hang-up");
  assert.doesNotMatch(log, /GET \/hello/);
});

Deno.test("pythonApp() with threads runs a request sent to an idle slot of a dying worker on its replacement", async () => {
  // The worker ends both its channels and lives 0.5 s more: its other
  // slot is idle, not read, so nothing has told the pool yet, and the
  // next request is given it. That request never reached the app; it
  // must be run again once the worker is replaced, not answered 502.
  const log = await helloBehindDying({ ...PY, threads: 2 }, "/shut-down");
  assert.match(log, /exited with code 4.*GET \/shut-down.*502/);
  assert.doesNotMatch(log, /GET \/hello/);
});

Deno.test("pythonApp() answers 504 past the timeout, kills the worker and recovers", async () => {
  await using app = pythonApp(PLAIN, { ...PY, timeout: 500 });
  const log = errorLog();
  await withServer(app, async (_server, port) => {
    const before = (await get(port, "/pid")).body;
    const started = Date.now();
    const slow = await get(port, "/sleep?10");
    assert.equal(slow.status, 504);
    assert.match(slow.body, /did not answer within 0\.5 s/);
    assert.ok(Date.now() - started < 5_000);
    const after = await get(port, "/pid");
    assert.equal(after.status, 200);
    assert.notEqual(after.body, before);
  }, { errors: log.sink });
  assert.match(log.text(), /GET \/sleep\?10\); answered 504/);
});

Deno.test("pythonApp() queues requests while every worker is busy", async () => {
  await using app = pythonApp(PLAIN, PY);
  await withServer(app, async (_server, port) => {
    const started = Date.now();
    const answers = await Promise.all(
      [0, 1, 2].map(() => get(port, "/sleep?0.3")),
    );
    assert.deepEqual(answers.map((a) => a.body), Array(3).fill("slept\n"));
    // One worker, one thread: one after another.
    assert.ok(Date.now() - started >= 900);
  });
});

Deno.test("pythonApp() serves requests side by side on threads", async () => {
  await using app = pythonApp(PLAIN, { ...PY, threads: 3 });
  await app.ready;
  await withServer(app, async (_server, port) => {
    const started = Date.now();
    const answers = await Promise.all(
      [0, 1, 2].map(() => get(port, "/sleep?0.5")),
    );
    assert.deepEqual(answers.map((a) => a.body), Array(3).fill("slept\n"));
    assert.ok(Date.now() - started < 1_400);
  });
});

Deno.test("pythonApp() calls close() once when the client leaves mid-body", async () => {
  await using app = pythonApp(PLAIN, PY);
  const dir = await Deno.makeTempDir();
  const record = `${dir}/close.log`;
  try {
    await withServer(app, async (_server, port) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await conn.write(
        new TextEncoder().encode(
          `GET /closing?0.05 HTTP/1.1\r\nHost: localhost\r\nX-Close-Log: ${record}\r\n\r\n`,
        ),
      );
      const buffer = new Uint8Array(65536);
      let got = 0;
      while (got < 100_000) {
        const n = await conn.read(buffer);
        if (n === null) break;
        got += n;
      }
      conn.close();
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        const text = await Deno.readTextFile(record).catch(() => "");
        if (text.includes("closed")) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      // The slot is free again once close() ran.
      assert.equal((await get(port, "/hello")).body, "Hello, World!\n");
    });
    const lines = (await Deno.readTextFile(record)).split("\n");
    assert.equal(lines.filter((line) => line === "closed").length, 1);
    assert.equal(lines.at(-2), "closed");
    // The runner stopped at the next chunk, not at the end of the 64.
    assert.ok(lines.filter((line) => line === "chunk").length < 32);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pythonApp() rejects ready with one line when the app cannot load", async () => {
  const cases: [string, RegExp][] = [
    ["missing.py", /^Cannot load .*missing\.py: no such file$/],
    [
      "broken_import.py",
      /^Cannot load .*broken_import\.py: ModuleNotFoundError: No module named 'no_such_module_here'$/,
    ],
    [
      "no_callable.py",
      /^Cannot load .*no_callable\.py: it has no 'application' or 'app' \(its callables: none\)$/,
    ],
    [
      "plain_app.py:nope",
      /^Cannot load .*plain_app\.py: it has no 'nope' \(its callables: Closing, application, environ_view\)$/,
    ],
    [
      "syntax_error.py",
      /^Cannot load .*syntax_error\.py: SyntaxError: .*\(.*syntax_error\.py, line 1\)$/,
    ],
  ];
  for (const [spec, message] of cases) {
    await using app = pythonApp(`${FIXTURES}${spec}`, PY);
    await assert.rejects(app.ready, (error: Error) => {
      assert.ok(error instanceof PythonLoadError);
      assert.match(error.message, message);
      assert.equal(error.message.includes("\n"), false);
      return true;
    });
  }
});

Deno.test("pythonApp() answers 500 and logs the load error when the app cannot load", async () => {
  await using app = pythonApp(`${FIXTURES}broken_import.py`, PY);
  const log = errorLog();
  await withServer(app, async (_server, port) => {
    assert.equal((await get(port, "/")).status, 500);
  }, { errors: log.sink });
  assert.match(
    log.text(),
    /Cannot load .*broken_import\.py: ModuleNotFoundError/,
  );
  await assert.rejects(app.ready, PythonLoadError);
});

Deno.test("pythonApp() refuses a bad spec, pool size or interpreter with the rule it broke", async () => {
  assert.throws(
    () => pythonApp("app.txt"),
    /Cannot load "app.txt": a Python app is given as "path\/to\/app.py"/,
  );
  assert.throws(
    () => pythonApp(PLAIN, { workers: 0 }),
    /workers must be a whole number of 1 or more, got 0/,
  );
  await using app = pythonApp(PLAIN, { python: "no-such-python-here" });
  await assert.rejects(
    app.ready,
    /Cannot start the Python interpreter "no-such-python-here": not found; pass the path of one as the python option/,
  );
});

Deno.test("pythonApp() close() answers waiting requests 503 and lets the running one finish", async () => {
  const app = pythonApp(PLAIN, PY);
  await app.ready;
  await withServer(app, async (_server, port) => {
    const running = get(port, "/sleep?0.5");
    await new Promise((resolve) => setTimeout(resolve, 150));
    const waiting = get(port, "/hello");
    await new Promise((resolve) => setTimeout(resolve, 150));
    const closed = app.close();
    assert.equal((await running).body, "slept\n");
    const refused = await waiting;
    assert.equal(refused.status, 503);
    assert.match(refused.body, /the Python pool is closed/);
    await closed;
  });
});

Deno.test("pythonApp() holds the app back while the client does not read", async () => {
  await using app = pythonApp(PLAIN, PY);
  const dir = await Deno.makeTempDir();
  const record = `${dir}/close.log`;
  try {
    await withServer(app, async (_server, port) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        await conn.write(
          new TextEncoder().encode(
            `GET /closing?0&512 HTTP/1.1\r\nHost: localhost\r\nX-Close-Log: ${record}\r\n\r\n`,
          ),
        );
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        // 512 chunks are 32 MB; the buffers between the client and the
        // app hold a small part of that.
        const made = (await Deno.readTextFile(record)).split("chunk").length -
          1;
        assert.ok(made > 0 && made < 256, `the app made ${made} chunks`);
      } finally {
        conn.close();
      }
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        if ((await Deno.readTextFile(record)).includes("closed")) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    });
    assert.match(await Deno.readTextFile(record), /closed\n$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
