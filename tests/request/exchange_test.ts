/**
 * The rules the server enforces on the response (design section 3), each
 * through the in-process client, which runs the server's own adapter.
 * Behaviour only visible on the wire is in tests/server_test.ts.
 */
import assert from "node:assert/strict";
import type { App, Body, Chunk, Header } from "../../mod.ts";
import { toFetchHandler } from "../../server.ts";
import { Client } from "../../testing.ts";
import {
  dechunk,
  errorLog,
  parseRaw,
  rawRequest,
  withServer,
} from "../_helpers.ts";

const text: Header[] = [["Content-Type", "text/plain"]];

/** A client whose error log the test can read. */
function client(app: App): { client: Client; log: () => string } {
  const log = errorLog();
  return { client: new Client(app, { errors: log.sink }), log: log.text };
}

/** A body that records how often close() was called. */
function closable(chunks: Chunk[] | (() => Iterable<Chunk>)) {
  const body = {
    closed: 0,
    *[Symbol.iterator]() {
      yield* typeof chunks === "function" ? chunks() : chunks;
    },
    close() {
      body.closed++;
    },
  };
  return body;
}

Deno.test("startResponse() headers wait for the first non-empty chunk", async () => {
  // Until a non-empty chunk, excInfo may still replace the status: proof
  // that nothing was sent.
  const { client: c } = client((_environ, startResponse) =>
    (function* () {
      startResponse("200 OK", text);
      yield "";
      yield new Uint8Array(0);
      startResponse("503 Service Unavailable", text, new Error("late"));
      yield "replaced";
    })()
  );
  const response = await c.get("/");
  assert.equal(response.status, 503);
  assert.equal(response.text(), "replaced");
});

Deno.test("startResponse() may be called from inside a generator body", async () => {
  const { client: c } = client((_environ, startResponse) =>
    (function* () {
      startResponse("201 Created", text);
      yield "made";
    })()
  );
  const response = await c.get("/");
  assert.equal(response.statusLine, "201 Created");
  assert.equal(response.text(), "made");
});

Deno.test("startResponse() headers go out at the end of an empty body", async () => {
  const { client: c } = client((_environ, startResponse) =>
    // An empty body is the point: the generator ends without yielding.
    // deno-lint-ignore require-yield
    (function* (): Generator<Chunk> {
      startResponse("202 Accepted", [["X-Empty", "yes"]]);
    })()
  );
  const response = await c.get("/");
  assert.equal(response.status, 202);
  assert.equal(response.headers.get("x-empty"), "yes");
  assert.equal(response.body.length, 0);
});

Deno.test("startResponse() called twice without excInfo is a 500 naming the rule", async () => {
  const { client: c, log } = client((_environ, startResponse) => {
    startResponse("200 OK", text);
    startResponse("404 Not Found", text);
    return ["never"];
  });
  const response = await c.get("/twice");
  assert.equal(response.status, 500);
  assert.equal(response.text(), "Internal Server Error\n");
  assert.match(log(), /already called; pass excInfo/);
  assert.match(log(), /GET \/twice/);
});

Deno.test("a broken rule that the app caught is named when the app then fails", async () => {
  const { client: c, log } = client((_environ, startResponse) => {
    try {
      startResponse("200", text);
    } catch {
      // Carries on as if nothing happened.
    }
    throw new Error("later trouble");
  });
  assert.equal((await c.get("/")).status, 500);
  assert.match(
    log(),
    /the app broke a rule first: TypeError: Cannot start the response: status "200" is not a three-digit code/,
  );
  assert.match(
    log(),
    /error before the response started: Error: later trouble/,
  );
});

Deno.test("write() after a broken rule the app caught throws it again, and the client gets the 500", async () => {
  let thrown: unknown;
  const { client: c, log } = client((_environ, startResponse) => {
    const write = startResponse("200 OK", text);
    try {
      startResponse("404 Not Found", text);
    } catch {
      // Carries on as if nothing happened.
    }
    try {
      write("data");
    } catch (error) {
      thrown = error;
    }
    return ["body"];
  });
  const response = await c.get("/");
  assert.equal(response.status, 500);
  assert.equal(response.text(), "Internal Server Error\n");
  assert.match(String(thrown), /startResponse\(\) was already called/);
  assert.match(
    log(),
    /error before the response started: TypeError: Cannot start the response: startResponse\(\) was already called/,
  );
});

Deno.test("a body that calls startResponse() again after the headers and catches the refusal is aborted", async () => {
  const { client: c, log } = client((_environ, startResponse) =>
    (function* () {
      startResponse("200 OK", text);
      yield "sent";
      try {
        startResponse("404 Not Found", text);
      } catch {
        // Carries on as if nothing happened.
      }
      yield "more";
    })()
  );
  await assert.rejects(() => c.get("/"));
  assert.match(
    log(),
    /error after the response started: TypeError: Cannot start the response: startResponse\(\) was already called/,
  );
});

Deno.test("startResponse() with excInfo before the headers replaces status and headers", async () => {
  const { client: c } = client((_environ, startResponse) => {
    startResponse("200 OK", [["X-First", "1"]]);
    startResponse(
      "500 Internal Server Error",
      [["X-Second", "2"]],
      new Error("boom"),
    );
    return ["error page"];
  });
  const response = await c.get("/");
  assert.equal(response.status, 500);
  assert.equal(response.headers.get("x-first"), null);
  assert.equal(response.headers.get("x-second"), "2");
  assert.equal(response.text(), "error page");
});

Deno.test("startResponse() with excInfo after the headers went out rethrows it", async () => {
  const excInfo = new Error("original failure");
  let caught: unknown;
  const { client: c, log } = client((_environ, startResponse) =>
    (function* () {
      startResponse("200 OK", text);
      yield "partial";
      try {
        startResponse("500 Internal Server Error", text, excInfo);
      } catch (error) {
        caught = error;
        throw error;
      }
    })()
  );
  await assert.rejects(() => c.get("/"));
  assert.equal(caught, excInfo);
  assert.match(
    log(),
    /error after the response started: Error: original failure/,
  );
});

Deno.test("write() data goes out before the returned body's data", async () => {
  const { client: c } = client(async (_environ, startResponse) => {
    const write = startResponse("200 OK", text);
    await write("one ");
    await write(new TextEncoder().encode("two "));
    return ["three ", "four"];
  });
  assert.equal((await c.get("/")).text(), "one two three four");
});

/** Fails, instead of hanging the suite, when `promise` takes over `ms`. */
async function within<T>(
  promise: T | Promise<T>,
  what: string,
  ms = 3000,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return await Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${what} hung for ${ms} ms`)),
        ms,
      );
    }),
  ]).finally(() => clearTimeout(timer));
}

/** An async generator body that writes between its own chunks. */
function writingBody(write: (chunk: Chunk) => Promise<void>) {
  return (async function* () {
    yield "a";
    await write("b");
    yield "c";
    await write("d");
  })();
}

Deno.test("write() from inside an async generator body goes out in order with its chunks", async () => {
  const { client: c } = client((_environ, startResponse) =>
    writingBody(startResponse("200 OK", text))
  );
  assert.equal((await within(c.get("/"), "GET")).text(), "abcd");
  const head = await within(c.head("/"), "HEAD");
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
});

Deno.test("write() before an async generator body's first chunk sends the headers", async () => {
  const apps: App[] = [
    (_environ, startResponse) => {
      const write = startResponse("200 OK", text);
      return (async function* () {
        await write("1");
        await write("2");
        yield "3";
        await write("4");
      })();
    },
    async (_environ, startResponse) => {
      const write = startResponse("200 OK", text);
      await write("1");
      return (async function* () {
        await write("2");
        yield "3";
        await write("4");
      })();
    },
  ];
  for (const app of apps) {
    const { client: c } = client(app);
    assert.equal((await within(c.get("/"), "GET")).text(), "1234");
    assert.equal((await within(c.head("/"), "HEAD")).body.length, 0);
  }
});

Deno.test("write() from inside a sync generator body keeps the order", async () => {
  const { client: c, log } = client((_environ, startResponse) => {
    const write = startResponse("200 OK", text);
    return (function* () {
      void write("a");
      yield "b";
      void write("c");
      yield "d";
    })();
  });
  assert.equal((await within(c.get("/"), "GET")).text(), "abcd");
  assert.equal((await within(c.head("/"), "HEAD")).body.length, 0);
  assert.equal(log(), "");
});

Deno.test("write() from inside a body goes out in order on the wire, for GET and HEAD", async () => {
  const log = errorLog();
  await withServer(
    (_environ, startResponse) => writingBody(startResponse("200 OK", text)),
    async (_server, port) => {
      const get = await rawRequest(
        port,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        3000,
      );
      const { head, body } = parseRaw(get.text);
      assert.equal(head[0], "HTTP/1.1 200 OK");
      assert.ok(head.includes("transfer-encoding: chunked"), head.join("\n"));
      assert.equal(dechunk(body), "abcd");
      const headed = await rawRequest(
        port,
        "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        3000,
      );
      assert.equal(parseRaw(headed.text).head[0], "HTTP/1.1 200 OK");
      assert.equal(parseRaw(headed.text).body, "");
      // The GET has no length to tell, so neither has the HEAD: not 0
      // (RFC 9110 8.6).
      const lengths = parseRaw(headed.text).head.filter((line) =>
        line.startsWith("content-length")
      );
      assert.deepEqual(lengths, []);
    },
    { errors: log.sink },
  );
  assert.equal(log.text(), "");
});

Deno.test("write() from inside a body waits while nobody reads (backpressure)", async () => {
  let written = 0;
  const handler = toFetchHandler((_environ, startResponse) => {
    const write = startResponse("200 OK", []);
    return (async function* () {
      for (let i = 0; i < 100; i++) {
        await write("x".repeat(1000));
        written++;
        yield "y";
      }
    })();
  });
  const response = await within(
    handler(new Request("http://localhost/")),
    "the response",
  );
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(
    written <= 2,
    `the body ran ahead of the reader: ${written} writes`,
  );
  const body = await within(response.text(), "the body");
  assert.equal(body, ("x".repeat(1000) + "y").repeat(100));
  assert.equal(written, 100);
});

Deno.test("write() from inside a body stops, and the generator is finished, when the client leaves", async () => {
  let writes = 0;
  const { promise: finished, resolve } = Promise.withResolvers<void>();
  const app: App = (_environ, startResponse) => {
    const write = startResponse("200 OK", text);
    return (async function* () {
      try {
        for (let i = 0; i < 2000; i++) {
          await write("w".repeat(65536));
          writes++;
          yield "y";
        }
      } finally {
        resolve();
      }
    })();
  };
  const log = errorLog();
  // With requestTimeout a response that never starts gets a 503, so that
  // a hang fails the test instead of stalling the server's shutdown.
  await withServer(app, async (_server, port) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(
        new TextEncoder().encode("GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
      );
      const read = conn.read(new Uint8Array(1024)).catch(() => null);
      assert.ok((await within(read, "the headers"))! > 0);
    } finally {
      conn.close();
    }
    await within(finished, "finishing the generator");
  }, { errors: log.sink, requestTimeout: 2000 });
  // The socket's buffers take some megabytes, not the 128 MiB the body has.
  assert.ok(writes < 500, `the body ran ahead of the client: ${writes} writes`);
  assert.equal(log.text(), "");
});

Deno.test("write() from inside a generator body of a 204 or 304 sends nothing and ends", async () => {
  for (const status of ["204 No Content", "304 Not Modified"]) {
    const body = closable(() => []);
    const { client: c, log } = client((_environ, startResponse) => {
      const write = startResponse(status, []);
      return Object.assign(
        (async function* () {
          await write("dropped");
          yield "dropped too";
        })(),
        { close: body.close },
      );
    });
    const response = await within(c.get("/"), status);
    assert.equal(response.statusLine, status);
    assert.equal(response.body.length, 0);
    assert.equal(body.closed, 1);
    assert.equal(log(), "");
  }
});

Deno.test("write() refuses chunks that are not strings or Uint8Arrays", async () => {
  const { client: c, log } = client((_environ, startResponse) => {
    const write = startResponse("200 OK", text);
    write(42 as unknown as Chunk);
    return [];
  });
  assert.equal((await c.get("/")).status, 500);
  assert.match(
    log(),
    /Cannot send write\(\): chunks must be strings or Uint8Arrays, got a number/,
  );
});

Deno.test("write() after the response finished throws instead of losing data", async () => {
  let later: Promise<unknown> | undefined;
  const { client: c } = client((_environ, startResponse) => {
    const write = startResponse("200 OK", text);
    later = Promise.resolve().then(() => write("too late"));
    return ["done"];
  });
  assert.equal((await c.get("/")).text(), "done");
  await assert.rejects(
    () => later!,
    /Cannot write: the response is already finished/,
  );
});

Deno.test("the body's close() is called exactly once after success", async () => {
  const body = closable(["a", "b"]);
  const { client: c } = client((_environ, startResponse) => {
    startResponse("200 OK", text);
    return body;
  });
  assert.equal((await c.get("/")).text(), "ab");
  assert.equal(body.closed, 1);
});

Deno.test("an array body's close() is called exactly once", async () => {
  const body = Object.assign(["whole"], {
    closed: 0,
    close() {
      body.closed++;
    },
  });
  const { client: c } = client((_environ, startResponse) => {
    startResponse("200 OK", text);
    return body;
  });
  assert.equal((await c.get("/")).text(), "whole");
  assert.equal(body.closed, 1);
});

Deno.test("the body's close() is called exactly once when the body throws mid-way", async () => {
  const body = closable(function* () {
    yield "first";
    throw new Error("mid-body failure");
  });
  const { client: c, log } = client((_environ, startResponse) => {
    startResponse("200 OK", text);
    return body;
  });
  await assert.rejects(() => c.get("/"));
  assert.equal(body.closed, 1);
  assert.match(log(), /mid-body failure/);
});

Deno.test("the body's close() is called exactly once when the body throws before its first chunk", async () => {
  // deno-lint-ignore require-yield
  const body = closable(function* () {
    throw new Error("early failure");
  });
  const { client: c, log } = client((_environ, startResponse) => {
    startResponse("200 OK", text);
    return body;
  });
  assert.equal((await c.get("/")).status, 500);
  assert.equal(body.closed, 1);
  assert.match(
    log(),
    /error before the response started: Error: early failure/,
  );
});

Deno.test("a generator body without close() is finished by return() when the response fails", async () => {
  let finallyRan = 0;
  const { client: c } = client((_environ, startResponse) => {
    startResponse("200 OK", [["Content-Length", "3"]]);
    return (function* () {
      try {
        yield "abc";
        yield "more than promised";
      } finally {
        finallyRan++;
      }
    })();
  });
  assert.equal((await c.get("/")).text(), "abc");
  assert.equal(finallyRan, 1);
});

Deno.test("Content-Length is never exceeded: the excess is dropped and logged", async () => {
  for (const body of [["0123456789"], ["01234", "56789"]]) {
    const { client: c, log } = client((_environ, startResponse) => {
      startResponse("200 OK", [["Content-Length", "4"]]);
      return body;
    });
    const response = await c.get("/");
    assert.equal(response.text(), "0123");
    assert.match(log(), /more than its Content-Length of 4 bytes/);
  }
});

Deno.test("a body shorter than its Content-Length aborts the response and is logged", async () => {
  const { client: c, log } = client((_environ, startResponse) => {
    startResponse("200 OK", [["Content-Length", "10"]]);
    return (function* () {
      yield "short";
    })();
  });
  await assert.rejects(() => c.get("/"));
  assert.match(log(), /sent 5 of the 10 bytes its Content-Length promised/);
});

Deno.test("startResponse() refuses malformed statuses with a 500 naming the rule", async () => {
  for (
    const [status, rule] of [
      ["200", /not a three-digit code/],
      ["OK 200", /not a three-digit code/],
      ["2000 Big", /not a three-digit code/],
      ["200\r\nX-Injected: 1", /not a three-digit code/],
      ["199 Informational", /outside 200-599/],
      ["600 Beyond", /outside 200-599/],
    ] as const
  ) {
    const { client: c, log } = client((_environ, startResponse) => {
      startResponse(status, text);
      return ["x"];
    });
    const response = await c.get("/");
    assert.equal(response.status, 500, status);
    assert.equal(response.headers.get("x-injected"), null);
    assert.match(log(), rule);
  }
});

Deno.test("startResponse() accepts a custom reason phrase", async () => {
  const { client: c } = client((_environ, startResponse) => {
    startResponse("200 Fine Thanks", text);
    return ["x"];
  });
  assert.equal((await c.get("/")).statusLine, "200 Fine Thanks");
});

Deno.test("startResponse() refuses header names that are not tokens", async () => {
  for (const name of ["Bad Name", "X:Y", "", "X\r\nY", "Ünicode"]) {
    const { client: c, log } = client((_environ, startResponse) => {
      startResponse("200 OK", [[name, "v"]]);
      return ["x"];
    });
    assert.equal((await c.get("/")).status, 500, JSON.stringify(name));
    assert.match(log(), /is not an RFC 9110 token/);
  }
});

Deno.test("startResponse() refuses CR, LF and NUL in header values (no response splitting)", async () => {
  for (const value of ["a\r\nSet-Cookie: evil=1", "a\nb", "a\rb", "a\0b"]) {
    const { client: c, log } = client((_environ, startResponse) => {
      startResponse("200 OK", [["X-Value", value]]);
      return ["x"];
    });
    const response = await c.get("/");
    assert.equal(response.status, 500);
    assert.equal(response.headers.get("set-cookie"), null);
    assert.equal(response.headers.get("x-value"), null);
    assert.match(
      log(),
      /contains CR, LF or NUL, which would split the response/,
    );
  }
});

Deno.test("startResponse() refuses header values above U+00FF", async () => {
  const { client: c, log } = client((_environ, startResponse) => {
    startResponse("200 OK", [["X-Name", "café ☕"]]);
    return ["x"];
  });
  assert.equal((await c.get("/")).status, 500);
  assert.match(log(), /above U\+00FF; encode it to a native string first/);
});

Deno.test("startResponse() refuses hop-by-hop headers", async () => {
  for (
    const name of [
      "Connection",
      "keep-alive",
      "Proxy-Authenticate",
      "Proxy-Authorization",
      "TE",
      "Trailers",
      "Transfer-Encoding",
      "Upgrade",
    ]
  ) {
    const { client: c, log } = client((_environ, startResponse) => {
      startResponse("200 OK", [[name, "x"]]);
      return ["x"];
    });
    assert.equal((await c.get("/")).status, 500, name);
    assert.match(log(), new RegExp(`${name} is a hop-by-hop header`));
  }
});

Deno.test("startResponse() refuses a malformed header list and Content-Length", async () => {
  for (
    const [headers, rule] of [
      [
        { "Content-Type": "text/plain" },
        /must be an array of \[name, value\] pairs/,
      ],
      [[["Content-Type"]], /each header must be a \[name, value\] pair/],
      [[["X-Number", 5]], /each header must be a \[name, value\] pair/],
      [[["Content-Length", "-1"]], /is not a non-negative integer/],
      [[["Content-Length", "12abc"]], /is not a non-negative integer/],
    ] as const
  ) {
    const { client: c, log } = client((_environ, startResponse) => {
      startResponse("200 OK", headers as unknown as Header[]);
      return ["x"];
    });
    assert.equal((await c.get("/")).status, 500);
    assert.match(log(), rule);
  }
});

Deno.test("startResponse() refuses two different Content-Length values", async () => {
  const { client: c, log } = client((_environ, startResponse) => {
    startResponse("200 OK", [["Content-Length", "5"], ["Content-Length", "7"]]);
    return ["hello"];
  });
  assert.equal((await c.get("/")).status, 500);
  assert.match(log(), /Content-Length is given twice, as 5 and 7/);
  // The same value twice says nothing new: it is sent once.
  const { client: same } = client((_environ, startResponse) => {
    startResponse("200 OK", [["Content-Length", "5"], ["content-length", "5"]]);
    return ["hello"];
  });
  assert.equal((await same.get("/")).text(), "hello");
});

Deno.test("repeated headers such as Set-Cookie are all sent", async () => {
  const { client: c } = client((_environ, startResponse) => {
    startResponse("200 OK", [["Set-Cookie", "a=1"], ["Set-Cookie", "b=2"], [
      "X-One",
      "1",
    ]]);
    return ["x"];
  });
  const response = await c.get("/");
  assert.deepEqual(response.headers.getSetCookie(), ["a=1", "b=2"]);
  assert.equal(response.headers.get("x-one"), "1");
});

Deno.test("an app that throws before the headers gets a bare 500 and a log line", async () => {
  const apps: App[] = [
    () => {
      throw new Error("sync secret detail");
    },
    () => Promise.reject(new Error("async secret detail")),
    async (_environ, startResponse) => {
      startResponse("200 OK", text);
      await Promise.resolve();
      throw new Error("after start secret detail");
    },
    () => {
      throw "a string, not an Error";
    },
  ];
  for (const app of apps) {
    const { client: c, log } = client(app);
    const response = await c.get("/");
    assert.equal(response.status, 500);
    assert.equal(response.text(), "Internal Server Error\n");
    assert.ok(!response.text().includes("secret"));
    assert.match(log(), /error before the response started/);
  }
});

Deno.test("the body must be iterable, not a bare string or bytes", async () => {
  for (
    const [body, rule] of [
      [
        "oops",
        /returned a string, not an iterable of chunks; return \[body\] instead/,
      ],
      [new Uint8Array(3), /returned a Uint8Array, not an iterable of chunks/],
      [42, /which is not iterable/],
      [null, /which is not iterable/],
    ] as const
  ) {
    const { client: c, log } = client((_environ, startResponse) => {
      startResponse("200 OK", text);
      return body as unknown as Body;
    });
    assert.equal((await c.get("/")).status, 500);
    assert.match(log(), rule);
  }
});

Deno.test("chunks must be strings or Uint8Arrays", async () => {
  const { client: c, log } = client((_environ, startResponse) => {
    startResponse("200 OK", text);
    return [42] as unknown as Body;
  });
  assert.equal((await c.get("/")).status, 500);
  assert.match(log(), /chunks must be strings or Uint8Arrays, got a number/);
});

Deno.test("a body that yields before startResponse() is a 500", async () => {
  const { client: c, log } = client(() =>
    (function* () {
      yield "too soon";
    })()
  );
  assert.equal((await c.get("/")).status, 500);
  assert.match(log(), /did not call startResponse\(\) before its body yielded/);
});

Deno.test("sync iterables, generators, async generators and promises of bodies all work", async () => {
  const bodies: (() => Body | Promise<Body>)[] = [
    () => ["a", "b", "c"],
    () => new Set(["a", "b", "c"]),
    () =>
      (function* () {
        yield "a";
        yield "b";
        yield "c";
      })(),
    () =>
      (async function* () {
        yield "a";
        await new Promise((resolve) => setTimeout(resolve, 1));
        yield new TextEncoder().encode("b");
        yield "c";
      })(),
    () => Promise.resolve(["abc"]),
    () => ReadableStream.from(["a", "b", "c"]),
  ];
  for (const make of bodies) {
    const { client: c } = client(async (_environ, startResponse) => {
      startResponse("200 OK", text);
      return await make();
    });
    const response = await c.get("/");
    assert.equal(response.status, 200);
    assert.equal(response.text(), "abc");
  }
});

Deno.test("strings are sent UTF-8 encoded", async () => {
  const { client: c } = client((_environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "text/plain; charset=utf-8"]]);
    return ["café ☕"];
  });
  const response = await c.get("/");
  assert.equal(response.text(), "café ☕");
  assert.equal(response.body.length, 9);
});

Deno.test("a one-string body gets no Content-Type the app did not set", async () => {
  const { client: c } = client((_environ, startResponse) => {
    startResponse("200 OK", []);
    return ["plain"];
  });
  const response = await c.get("/");
  assert.equal(response.headers.get("content-type"), null);
  assert.equal(response.text(), "plain");
});

Deno.test("write() from close() while the app's failure becomes a 500 throws, and the 500 is sent", async () => {
  let late: unknown;
  const { client: c, log } = client(async (_environ, startResponse) => {
    const write = startResponse("200 OK", text);
    await Promise.resolve();
    return Object.assign([42] as unknown as Chunk[], {
      close() {
        try {
          write("late");
        } catch (error) {
          late = error;
        }
      },
    });
  });
  // Before the fix the write started a second response that never ended.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const response = await Promise.race([
    c.get("/"),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("the response hung")), 2000);
    }),
  ]).finally(() => clearTimeout(timer));
  assert.equal(response.status, 500);
  assert.match(String(late), /Cannot write: the response is already finished/);
  assert.match(log(), /chunks must be strings or Uint8Arrays, got a number/);
});

Deno.test("204 and 304 responses carry no body", async () => {
  for (const status of ["204 No Content", "304 Not Modified"]) {
    const body = closable(["ignored"]);
    const { client: c } = client((_environ, startResponse) => {
      startResponse(status, []);
      return body;
    });
    const response = await c.get("/");
    assert.equal(response.statusLine, status);
    assert.equal(response.body.length, 0);
    assert.equal(body.closed, 1);
  }
});

Deno.test("a request body over maxBodySize gets a 413, by Content-Length or while reading", async () => {
  const app: App = async (environ, startResponse) => {
    const body = await environ["wsgi.input"].read();
    startResponse("200 OK", text);
    return [`${body.length}`];
  };
  const c = new Client(app, { maxBodySize: 8 });
  assert.equal((await c.post("/", { body: "12345678" })).text(), "8");
  const declared = await c.post("/", { body: "123456789" });
  assert.equal(declared.status, 413);
  assert.match(declared.text(), /at most 8 bytes/);
  const streamed = await c.post("/", {
    body: ReadableStream.from([
      new TextEncoder().encode("12345"),
      new TextEncoder().encode("67890"),
    ]),
  });
  assert.equal(streamed.status, 413);
});
