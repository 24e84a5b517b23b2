/**
 * serve() on a real socket: what only shows on the wire, checked with fetch
 * and with a raw TCP client for what fetch hides (raw paths, repeated
 * headers, chunked uploads, disconnects, aborted responses).
 */
import assert from "node:assert/strict";
import type { App, Chunk, Environ } from "../mod.ts";
import { serve, toFetchHandler } from "../server.ts";
import { decodeNative } from "../util.ts";
import {
  dechunk,
  errorLog,
  parseRaw,
  rawRequest,
  withServer,
} from "./_helpers.ts";

/** An app that answers with the environ's string values as JSON. */
const echo: App = (environ, startResponse) => {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(environ)) {
    if (typeof value === "string") out[key] = value;
  }
  startResponse("200 OK", [["Content-Type", "application/json"]]);
  return [JSON.stringify(out)];
};

/** Sends `head` raw and parses the echoed environ (JSON sent as UTF-8). */
async function rawEcho(
  port: number,
  head: string,
): Promise<Record<string, string>> {
  const { text } = await rawRequest(port, head);
  return JSON.parse(decodeNative(parseRaw(text).body));
}

Deno.test("serve() keeps raw and percent-encoded paths as PEP 3333 says", async () => {
  await withServer(echo, async (_server, port) => {
    const environ = await rawEcho(
      port,
      "GET /a%20b/%2e%2e/c%2Fd/caf%C3%A9?x=%20y&z HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n",
    );
    assert.equal(environ.RAW_URI, "/a%20b/%2e%2e/c%2Fd/caf%C3%A9?x=%20y&z");
    assert.equal(environ.REQUEST_URI, environ.RAW_URI);
    // Decoded byte by byte as Latin-1; dot segments are not resolved.
    assert.equal(environ.PATH_INFO, "/a b/../c/d/caf\xc3\xa9");
    assert.equal(environ.QUERY_STRING, "x=%20y&z");
    assert.equal(environ.SCRIPT_NAME, "");
  });
});

Deno.test("serve() fills the CGI keys from the bound address and the peer", async () => {
  await withServer(echo, async (_server, port) => {
    const environ = await rawEcho(
      port,
      "POST /p HTTP/1.1\r\nHost: other.test:99\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert.equal(environ.REQUEST_METHOD, "POST");
    assert.equal(environ.SERVER_NAME, "127.0.0.1");
    assert.equal(environ.SERVER_PORT, String(port));
    assert.equal(environ.HTTP_HOST, "other.test:99");
    assert.equal(environ.SERVER_PROTOCOL, "HTTP/1.1");
    assert.equal(environ.REMOTE_ADDR, "127.0.0.1");
    assert.match(environ.REMOTE_PORT, /^\d+$/);
    assert.notEqual(environ.REMOTE_PORT, String(port));
    assert.equal(environ["wsgi.url_scheme"], "http");
    assert.equal(environ.CONTENT_LENGTH, "0");
  });
});

Deno.test("serve() joins repeated headers and drops names with underscores", async () => {
  await withServer(echo, async (_server, port) => {
    const environ = await rawEcho(
      port,
      "GET / HTTP/1.1\r\nHost: h\r\nX-Multi: one\r\nX-Multi: two\r\n" +
        "Cookie: a=1\r\nCookie: b=2\r\nX_Sneaky: spoof\r\nX-Sneaky: real\r\n" +
        "Content-Type: text/plain\r\nConnection: close\r\n\r\n",
    );
    assert.equal(environ.HTTP_X_MULTI, "one, two");
    assert.equal(environ.HTTP_COOKIE, "a=1; b=2");
    // X_Sneaky would land on the same key as X-Sneaky: it is dropped.
    assert.equal(environ.HTTP_X_SNEAKY, "real");
    assert.equal(environ.CONTENT_TYPE, "text/plain");
    assert.equal(environ.HTTP_CONTENT_TYPE, undefined);
    assert.equal(environ.HTTP_CONTENT_LENGTH, undefined);
  });
});

Deno.test("serve() reads a chunked upload to its end through wsgi.input", async () => {
  const app: App = async (environ, startResponse) => {
    const lines: string[] = [];
    for await (const line of environ["wsgi.input"]) {
      lines.push(new TextDecoder().decode(line));
    }
    startResponse("200 OK", [["Content-Type", "application/json"]]);
    return [JSON.stringify({ lines, length: environ.CONTENT_LENGTH ?? null })];
  };
  await withServer(app, async (_server, port) => {
    const { text } = await rawRequest(
      port,
      "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
        "6\r\nfirst\n\r\n" + "3\r\nsec\r\n" + "8\r\nond\nlast\r\n" +
        "0\r\n\r\n",
    );
    assert.deepEqual(JSON.parse(parseRaw(text).body), {
      lines: ["first\n", "second\n", "last"],
      length: null,
    });
  });
});

Deno.test("serve() sets Content-Length for a one-chunk body and streams others chunked", async () => {
  const app: App = (environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return environ.PATH_INFO === "/one" ? ["café"] : (function* () {
      yield "str";
      yield "eamed";
    })();
  };
  await withServer(app, async (_server, port) => {
    const one = parseRaw(
      (await rawRequest(
        port,
        "GET /one HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
      )).text,
    );
    assert.ok(one.head.includes("content-length: 5"), one.head.join("\n"));
    assert.equal(one.body, "caf\xc3\xa9");
    const streamed = parseRaw(
      (await rawRequest(
        port,
        "GET /gen HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
      )).text,
    );
    assert.ok(streamed.head.includes("transfer-encoding: chunked"));
    assert.equal(dechunk(streamed.body), "streamed");
  });
});

Deno.test("serve() sends the app's Content-Length once, for strings, UTF-8 and bytes; toFetchHandler() keeps it on the Response", async () => {
  const bodies: Record<string, [Chunk, string]> = {
    "/ascii": ["Hello", "5"],
    "/utf8": ["café", "5"],
    "/bytes": [new Uint8Array([104, 105, 33]), "3"],
    "/padded": ["Hi", " 2 "],
  };
  const app: App = (environ, startResponse) => {
    const [body, length] = bodies[environ.PATH_INFO];
    startResponse("200 OK", [
      ["Content-Type", "text/plain"],
      ["Content-Length", length],
    ]);
    return [body];
  };
  const wire: Record<string, string> = {
    "/ascii": "Hello",
    "/utf8": "caf\xc3\xa9",
    "/bytes": "hi!",
    "/padded": "Hi",
  };
  await withServer(app, async (_server, port) => {
    for (const [path, [, length]] of Object.entries(bodies)) {
      const { head, body } = parseRaw(
        (await rawRequest(
          port,
          `GET ${path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`,
        )).text,
      );
      assert.deepEqual(
        head.filter((line) => line.startsWith("content-length:")),
        [`content-length: ${length.trim()}`],
        path,
      );
      assert.equal(body, wire[path], path);
    }
  });
  const handler = toFetchHandler(app);
  for (const [path, [, length]] of Object.entries(bodies)) {
    const response = await handler(new Request(`http://h${path}`));
    assert.equal(response.headers.get("content-length"), length.trim(), path);
    await response.body?.cancel();
  }
});

Deno.test("serve() never lets a header value split the response on the wire", async () => {
  const log = errorLog();
  const app: App = (_environ, startResponse) => {
    startResponse("200 OK", [[
      "X-Evil",
      "a\r\nSet-Cookie: session=stolen\r\n\r\n<script>",
    ]]);
    return ["body"];
  };
  await withServer(app, async (_server, port) => {
    const { text } = await rawRequest(
      port,
      "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    const { head, body } = parseRaw(text);
    assert.equal(head[0], "HTTP/1.1 500 Internal Server Error");
    assert.ok(!text.toLowerCase().includes("set-cookie"));
    assert.ok(!text.includes("<script>"));
    assert.equal(body, "Internal Server Error\n");
  }, { errors: log.sink });
  assert.match(log.text(), /X-Evil contains CR, LF or NUL/);
});

Deno.test("serve() aborts the connection when a body falls short of its Content-Length", async () => {
  const log = errorLog();
  const app: App = (_environ, startResponse) => {
    startResponse("200 OK", [["Content-Length", "100"]]);
    return (async function* () {
      yield "only this much";
    })();
  };
  await withServer(app, async (_server, port) => {
    const { text } = await rawRequest(
      port,
      "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    const { head, body } = parseRaw(text);
    assert.ok(head.includes("content-length: 100"));
    // The connection closed before the promised bytes: the client can tell.
    assert.ok(body.length < 100);
    await assert.rejects(async () => {
      const response = await fetch(`http://127.0.0.1:${port}/`);
      await response.arrayBuffer();
    });
  }, { errors: log.sink });
  assert.match(
    log.text(),
    /sent 14 of the 100 bytes its Content-Length promised/,
  );
});

Deno.test("serve() aborts the connection when the app fails after the headers went out", async () => {
  const log = errorLog();
  const app: App = (_environ, startResponse) =>
    (async function* () {
      startResponse("200 OK", [["Content-Type", "text/plain"]]);
      yield "partial ";
      throw new Error("database went away");
    })();
  await withServer(app, async (_server, port) => {
    const response = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(response.status, 200);
    await assert.rejects(() => response.text());
  }, { errors: log.sink });
  assert.match(
    log.text(),
    /error after the response started: Error: database went away/,
  );
});

Deno.test("serve() calls close() exactly once when the client disconnects mid-body", async () => {
  let closed = 0;
  let signalled = false;
  const { promise: closedOnce, resolve } = Promise.withResolvers<void>();
  const app: App = (environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    const signal = environ["deno.signal"]!;
    signal.addEventListener("abort", () => signalled = true);
    const endless = (async function* () {
      while (true) {
        yield "tick\n";
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    return Object.assign(endless, {
      close() {
        closed++;
        resolve();
      },
    });
  };
  await withServer(app, async (_server, port) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(
      new TextEncoder().encode("GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
    );
    const buffer = new Uint8Array(1024);
    assert.ok((await conn.read(buffer))! > 0);
    conn.close();
    await closedOnce;
    // Give a second close() a chance to happen, if the server had one.
    await new Promise((r) => setTimeout(r, 20));
  });
  assert.equal(closed, 1);
  assert.ok(signalled);
});

Deno.test("serve() answers 413 for a body over maxBodySize, declared or chunked", async () => {
  const app: App = async (environ, startResponse) => {
    const body = await environ["wsgi.input"].read();
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return [String(body.length)];
  };
  await withServer(app, async (_server, port) => {
    const url = `http://127.0.0.1:${port}/`;
    const ok = await fetch(url, { method: "POST", body: "x".repeat(16) });
    assert.equal(await ok.text(), "16");
    const declared = await fetch(url, { method: "POST", body: "x".repeat(17) });
    assert.equal(declared.status, 413);
    assert.match(await declared.text(), /at most 16 bytes/);
    const chunked = await fetch(url, {
      method: "POST",
      body: ReadableStream.from(["x".repeat(10), "x".repeat(10)]).pipeThrough(
        new TextEncoderStream(),
      ),
    });
    assert.equal(chunked.status, 413);
    await chunked.body?.cancel();
  }, { maxBodySize: 16 });
});

Deno.test("serve() sends wsgi.file_wrapper bodies from the file and closes the file", async () => {
  const path = await Deno.makeTempFile();
  const data = new Uint8Array(300_000).map((_, i) => i % 251);
  await Deno.writeFile(path, data);
  let file: Deno.FsFile | undefined;
  const app: App = async (environ, startResponse) => {
    file = await Deno.open(path);
    startResponse("200 OK", [
      ["Content-Type", "application/octet-stream"],
      ["Content-Length", String(data.length)],
    ]);
    return environ["wsgi.file_wrapper"]!(file);
  };
  try {
    await withServer(app, async (_server, port) => {
      const response = await fetch(`http://127.0.0.1:${port}/`);
      assert.equal(response.headers.get("content-length"), String(data.length));
      assert.deepEqual(new Uint8Array(await response.arrayBuffer()), data);
    });
    // The file's resource is gone: reading it again fails.
    assert.throws(
      () => file!.readSync(new Uint8Array(1)),
      Deno.errors.BadResource,
    );
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("toFetchHandler() without connection info still closes a file_wrapper body", async () => {
  let closed = 0;
  const handler = toFetchHandler((environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return environ["wsgi.file_wrapper"]!({
      readable: ReadableStream.from([new TextEncoder().encode("data")]),
      close: () => void closed++,
    });
  });
  const response = await handler(new Request("http://localhost/"));
  assert.equal(await response.text(), "data");
  assert.equal(closed, 1);
});

Deno.test("serve() streams write() output in order", async () => {
  const app: App = async (_environ, startResponse) => {
    const write = startResponse("200 OK", [["Content-Type", "text/plain"]]);
    for (let i = 0; i < 50; i++) await write(`${i},`);
    return ["end"];
  };
  await withServer(app, async (_server, port) => {
    const body = await (await fetch(`http://127.0.0.1:${port}/`)).text();
    assert.equal(
      body,
      Array.from({ length: 50 }, (_, i) => `${i},`).join("") + "end",
    );
  });
});

Deno.test("toFetchHandler() write() waits while nobody reads (backpressure)", async () => {
  let written = 0;
  const handler = toFetchHandler(async (_environ, startResponse) => {
    const write = startResponse("200 OK", []);
    for (let i = 0; i < 100; i++) {
      await write("x".repeat(1000));
      written++;
    }
    return [];
  });
  const response = await handler(new Request("http://localhost/"));
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(written <= 2, `the app ran ahead of the reader: ${written} writes`);
  assert.equal((await response.text()).length, 100_000);
  assert.equal(written, 100);
});

Deno.test("serve() gives apps a body iterated lazily, one chunk per read", async () => {
  let pulled = 0;
  const app: App = (_environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return (function* (): Generator<Chunk> {
      for (let i = 0; i < 1000; i++) {
        pulled++;
        yield "y".repeat(1000);
      }
    })();
  };
  const response = await toFetchHandler(app)(new Request("http://localhost/"));
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(pulled <= 3, `the body was read ahead: ${pulled} chunks`);
  await response.body!.cancel();
  assert.ok(pulled < 1000);
});

Deno.test("serve() reports the bound address and stops on shutdown()", async () => {
  const seen: Environ[] = [];
  await withServer((environ, startResponse) => {
    seen.push(environ);
    startResponse("200 OK", []);
    return [];
  }, async (server, port) => {
    assert.equal(server.url, `http://127.0.0.1:${port}/`);
    await (await fetch(server.url)).body?.cancel();
  });
  assert.equal(seen.length, 1);
});

Deno.test("serve() answers HEAD with the headers a GET would get, and no body", async () => {
  const log = errorLog();
  let closed = 0;
  const app: App = (environ, startResponse) => {
    const write = startResponse("200 OK", [
      ["Content-Type", "text/plain"],
      ["Content-Length", "10"],
    ]);
    if (environ.PATH_INFO === "/write") write("0123456789");
    const body = environ.PATH_INFO === "/empty" ? [] : (function* () {
      yield "0123456789";
    })();
    return Object.assign(body, { close: () => void closed++ });
  };
  await withServer(app, async (_server, port) => {
    for (const path of ["/empty", "/stream", "/write"]) {
      const { text } = await rawRequest(
        port,
        `HEAD ${path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`,
      );
      const { head, body } = parseRaw(text);
      assert.equal(head[0], "HTTP/1.1 200 OK", path);
      assert.ok(
        head.includes("content-length: 10"),
        `${path}: ${head.join(" | ")}`,
      );
      assert.equal(body, "");
    }
  }, { errors: log.sink });
  assert.equal(closed, 3);
  assert.equal(log.text(), "");
});

Deno.test("serve(): write() in a loop on HEAD, 204 and 304 lets the event loop run", async () => {
  // Nothing pushes back on a response without a body; if write() resolved
  // at once, an app writing in a loop would starve every timer and socket.
  const writes: Record<string, number> = {};
  // The response is over before the app's loop is: wait for all three.
  let finished = 0;
  const { promise: allFinished, resolve } = Promise.withResolvers<void>();
  const app: App = async (environ, startResponse) => {
    const status = environ.PATH_INFO === "/204"
      ? "204 No Content"
      : environ.PATH_INFO === "/304"
      ? "304 Not Modified"
      : "200 OK";
    const write = startResponse(status, [["Content-Type", "text/plain"]]);
    let ticked = false;
    const timer = setTimeout(() => ticked = true, 0);
    let n = 0;
    while (!ticked && n < 100_000) {
      await write("x");
      n++;
    }
    clearTimeout(timer);
    writes[`${environ.REQUEST_METHOD} ${environ.PATH_INFO}`] = n;
    if (++finished === 3) resolve();
    return [];
  };
  await withServer(app, async (_server, port) => {
    for (
      const [method, path] of [["HEAD", "/"], ["GET", "/204"], ["GET", "/304"]]
    ) {
      const { text } = await rawRequest(
        port,
        `${method} ${path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`,
      );
      assert.equal(parseRaw(text).body, "");
    }
    await allFinished;
  });
  for (const [request, n] of Object.entries(writes)) {
    assert.ok(n < 100, `${request}: the timer ran after ${n} writes`);
  }
  assert.deepEqual(Object.keys(writes).sort(), [
    "GET /204",
    "GET /304",
    "HEAD /",
  ]);
});

Deno.test("serve() lets a file body's close() read the environ after the file was sent", async () => {
  const path = await Deno.makeTempFile();
  await Deno.writeTextFile(path, "0123456789");
  const seen: string[] = [];
  const { promise: closed, resolve } = Promise.withResolvers<void>();
  const app: App = async (environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "text/plain"], [
      "Content-Length",
      "10",
    ]]);
    const body = environ["wsgi.file_wrapper"]!(await Deno.open(path));
    const close = body.close!.bind(body);
    body.close = () => {
      close();
      seen.push(`${environ.REMOTE_ADDR} ${environ.HTTP_X_TRACE}`);
      resolve();
    };
    return body;
  };
  try {
    await withServer(app, async (server) => {
      const response = await fetch(server.url, {
        headers: { "X-Trace": "t-1" },
      });
      assert.equal(await response.text(), "0123456789");
      await closed;
    });
    assert.deepEqual(seen, ["127.0.0.1 t-1"]);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("serve() explains a header read from an environ kept past its request", async () => {
  let kept: Environ | undefined;
  await withServer((environ, startResponse) => {
    kept = environ;
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return ["done"];
  }, async (server) => {
    assert.equal(await (await fetch(server.url)).text(), "done");
  });
  assert.throws(
    () => kept!.HTTP_HOST,
    /Cannot read HTTP_HOST from the environ: the request is over/,
  );
  // What was filled in while the request ran stays readable.
  assert.equal(kept!.PATH_INFO, "/");
});

Deno.test("serve() stops reading a body once its Content-Length is sent, and closes it", async () => {
  const log = errorLog();
  let pulled = 0;
  let closed = 0;
  const app: App = (_environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "text/plain"], [
      "Content-Length",
      "5",
    ]]);
    const body = (function* () {
      for (let i = 0; i < 1000; i++) {
        pulled++;
        yield "01234";
      }
    })();
    return Object.assign(body, { close: () => void closed++ });
  };
  await withServer(app, async (server) => {
    assert.equal(await (await fetch(server.url)).text(), "01234");
  }, { errors: log.sink });
  assert.ok(pulled <= 2, `read ${pulled} chunks for 5 bytes`);
  assert.equal(closed, 1);
  assert.equal(log.text(), "");
});

Deno.test("requestTimeout: a late app gets a 503, its deno.signal aborts, and its late body is closed", async () => {
  const log = errorLog();
  let aborted: unknown;
  let closed = false;
  const handler = toFetchHandler(async (environ, startResponse) => {
    const signal = environ["deno.signal"]!;
    await new Promise((resolve) => setTimeout(resolve, 200));
    aborted = signal.aborted && (signal.reason as Error).name;
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return Object.assign(
      (function* () {
        yield "too late";
      })(),
      { close: () => closed = true },
    );
  }, { requestTimeout: 50, errors: log.sink });
  const response = await handler(new Request("http://localhost/slow"));
  assert.equal(response.status, 503);
  assert.match(await response.text(), /time limit/);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(aborted, "TimeoutError");
  assert.equal(closed, true);
  assert.match(
    log.text(),
    /GET \/slow: the app did not start its response within 0\.05 s/,
  );
});

Deno.test("requestTimeout must be a positive number of milliseconds", () => {
  assert.throws(
    () => toFetchHandler(() => [], { requestTimeout: 0 }),
    /requestTimeout 0: it must be a number of milliseconds/,
  );
});

/** Sends `head` raw and returns the status line and the body. */
async function rawStatus(
  port: number,
  head: string,
): Promise<{ status: string; body: string }> {
  const { text } = await rawRequest(port, head);
  const { head: lines, body } = parseRaw(text);
  return { status: lines[0], body };
}

/** An app that must not run: it counts the calls that reach it. */
function counted(): { app: App; calls: () => number } {
  let calls = 0;
  return {
    app: (_environ, startResponse) => {
      calls++;
      startResponse("200 OK", [["Content-Type", "text/plain"]]);
      return ["app ran"];
    },
    calls: () => calls,
  };
}

Deno.test("serve() reads the path from the request target alone, never from the Host header", async () => {
  await withServer(echo, async (_server, port) => {
    const { status, body } = await rawStatus(
      port,
      "GET /public/x HTTP/1.1\r\nHost: h/admin/secret?\r\nConnection: close\r\n\r\n",
    );
    assert.equal(status, "HTTP/1.1 400 Bad Request");
    assert.match(body, /Host header .*RFC 9112 section 3\.2/);
    assert.doesNotMatch(body, /admin|secret/);
    // Sound hosts, IPv6 and an empty port included, keep the target's path.
    for (const host of ["h", "h:8080", "[::1]:80", "h:", "xn--caf-dma.test"]) {
      const environ = await rawEcho(
        port,
        `GET /public/x?q HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      );
      assert.equal(environ.PATH_INFO, "/public/x", host);
      assert.equal(environ.QUERY_STRING, "q", host);
      assert.equal(environ.HTTP_HOST, host);
    }
  });
});

Deno.test("serve() answers 400 to a Host that is not a host and an optional port", async () => {
  const { app, calls } = counted();
  await withServer(app, async (_server, port) => {
    for (
      const host of [
        "h/x",
        "h?x",
        "h#x",
        "user@h",
        "h h",
        "h\\x",
        "h:8x",
        "[::1",
        "[zz::1]",
        "h%4",
        "H\xe9",
      ]
    ) {
      const { status, body } = await rawStatus(
        port,
        `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      );
      assert.equal(status, "HTTP/1.1 400 Bad Request", host);
      assert.match(body, /Host header/, host);
    }
  });
  assert.equal(calls(), 0);
});

Deno.test("serve() answers 400 to an HTTP/1.1 request without Host", async () => {
  const { app, calls } = counted();
  await withServer(app, async (_server, port) => {
    const { status, body } = await rawStatus(
      port,
      "GET /x HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert.equal(status, "HTTP/1.1 400 Bad Request");
    assert.match(body, /no Host header.*RFC 9112 section 3\.2/);
    // An empty Host is what RFC 9110 7.2 asks for when there is no authority.
    const empty = await rawStatus(
      port,
      "GET /x HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n",
    );
    assert.equal(empty.status, "HTTP/1.1 200 OK");
  });
  assert.equal(calls(), 1);
});

Deno.test("serve() gives raw bytes in the target as Latin-1, as their %XX form", async () => {
  await withServer(echo, async (_server, port) => {
    const raw = await rawEcho(
      port,
      "GET /\xe2\x98\x95/caf\xc3\xa9?q=\xc3\xa9 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    const encoded = await rawEcho(
      port,
      "GET /%E2%98%95/caf%C3%A9?q=%C3%A9 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert.equal(raw.PATH_INFO, "/\xe2\x98\x95/caf\xc3\xa9");
    assert.equal(raw.PATH_INFO, encoded.PATH_INFO);
    assert.equal(raw.QUERY_STRING, "q=\xc3\xa9");
    assert.equal(raw.RAW_URI, "/\xe2\x98\x95/caf\xc3\xa9?q=\xc3\xa9");
  });
  // pathInfo() and the Router read it as text, not a 500.
  const { pathInfo } = await import("../util.ts");
  const { Router } = await import("../middleware/router.ts");
  const router = new Router();
  router.get("/:drink", (environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "text/plain; charset=utf-8"]]);
    return [
      `${pathInfo(environ)} ${JSON.stringify(environ["wsgiorg.routing_args"])}`,
    ];
  });
  await withServer(router, async (_server, port) => {
    const { status, body } = await rawStatus(
      port,
      "GET /\xe2\x98\x95 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert.equal(status, "HTTP/1.1 200 OK");
    assert.match(decodeNative(body), /^\/☕ /);
  });
});

Deno.test("serve() takes wsgi.url_scheme from the connection, not from an absolute-form target", async () => {
  await withServer(echo, async (_server, port) => {
    const environ = await rawEcho(
      port,
      "GET https://example.test/s?q HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n",
    );
    assert.equal(environ["wsgi.url_scheme"], "http");
    assert.equal(environ.PATH_INFO, "/s");
    assert.equal(environ.QUERY_STRING, "q");
    // Absolute form with no path is the path "/" (RFC 9112 3.2.1).
    const bare = await rawEcho(
      port,
      "GET http://example.test?q HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n",
    );
    assert.equal(bare.PATH_INFO, "/");
    assert.equal(bare.QUERY_STRING, "q");
  });
});

Deno.test("serve() answers 400 to a target with a fragment or userinfo", async () => {
  const { app, calls } = counted();
  await withServer(app, async (_server, port) => {
    for (
      const [target, rule] of [
        ["/frag#part?x", /fragment.*RFC 9112 section 3\.2/],
        ["/a?b#c", /fragment/],
        ["http://h/c#d", /fragment/],
        ["http://a#b/c", /authority of the request target/],
        ["http://user:pw@h/s", /authority of the request target.*4\.2\.4/],
      ] as const
    ) {
      const { status, body } = await rawStatus(
        port,
        `GET ${target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`,
      );
      assert.equal(status, "HTTP/1.1 400 Bad Request", target);
      assert.match(body, rule, target);
      assert.doesNotMatch(body, /part|user|pw/, target);
    }
  });
  assert.equal(calls(), 0);
});

Deno.test("serve() answers 400 to two Content-Type fields, and keeps one with a quoted comma", async () => {
  await withServer(echo, async (_server, port) => {
    const { status, body } = await rawStatus(
      port,
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Type: text/html\r\n" +
        "Content-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert.equal(status, "HTTP/1.1 400 Bad Request");
    assert.match(
      body,
      /Content-Type .*singleton.*RFC 9110 sections 5\.3 and 8\.3/,
    );
    const environ = await rawEcho(
      port,
      'POST / HTTP/1.1\r\nHost: h\r\nContent-Type: multipart/form-data; boundary="a,b"\r\n' +
        "Content-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert.equal(environ.CONTENT_TYPE, 'multipart/form-data; boundary="a,b"');
  });
});

Deno.test("toFetchHandler() and fetchExport() check a request as serve() does", async () => {
  const { app, calls } = counted();
  const { fetchExport } = await import("../server.ts");
  for (const handler of [toFetchHandler(app), fetchExport(app).fetch]) {
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      handler,
    );
    try {
      for (
        const head of [
          "GET /public HTTP/1.1\r\nHost: h/admin\r\n",
          "GET /public HTTP/1.1\r\n",
          "GET /a#b HTTP/1.1\r\nHost: h\r\n",
          "POST / HTTP/1.1\r\nHost: h\r\nContent-Type: a/b\r\nContent-Type: c/d\r\n" +
          "Content-Length: 0\r\n",
        ]
      ) {
        const { status } = await rawStatus(
          server.addr.port,
          `${head}Connection: close\r\n\r\n`,
        );
        assert.equal(status, "HTTP/1.1 400 Bad Request", head);
      }
    } finally {
      await server.shutdown();
    }
  }
  assert.equal(calls(), 0);
});

Deno.test("serve() answers 501 to a transfer coding other than chunked, which Deno.serve would pass on undecoded", async () => {
  await withServer(echo, async (_server, port) => {
    const { status, body } = await rawStatus(
      port,
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n" +
        "Connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    assert.equal(status, "HTTP/1.1 501 Not Implemented");
    assert.match(body, /chunked \(RFC 9112 section 6\.1\)/);
    // Names are case-insensitive (RFC 9112 7).
    const environ = await rawEcho(
      port,
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n" +
        "Connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    assert.equal(environ.HTTP_TRANSFER_ENCODING, "Chunked");
  });
});

Deno.test("toFetchHandler() checks a Request made by hand as one from Deno.serve", async () => {
  const { app, calls } = counted();
  const handler = toFetchHandler(app);
  for (
    const [url, headers, status] of [
      ["http://h/public", { host: "h/admin" }, 400],
      ["http://h/a", { host: "h", "content-type": "a/b, c/d" }, 400],
      ["http://h/a", { host: "h", "transfer-encoding": "gzip, chunked" }, 501],
      ["http://h/a", { host: "h" }, 200],
    ] as const
  ) {
    const response = await handler(
      new Request(url, { method: "POST", headers }),
    );
    await response.body?.cancel();
    assert.equal(response.status, status, JSON.stringify(headers));
  }
  assert.equal(calls(), 1);
});

Deno.test("serve() on a unix socket answers 400 to a request without Host", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wsgi_unix_host_" });
  const path = `${dir}/s.sock`;
  const server = serve(echo, { path, onListen() {} });
  try {
    const statuses: string[] = [];
    for (const head of ["", "Host: h\r\n"]) {
      const { text } = await rawRequest(
        path,
        `GET /u HTTP/1.1\r\n${head}Connection: close\r\n\r\n`,
      );
      statuses.push(parseRaw(text).head[0]);
    }
    assert.deepEqual(statuses, [
      "HTTP/1.1 400 Bad Request",
      "HTTP/1.1 200 OK",
    ]);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
