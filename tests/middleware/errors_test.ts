import assert from "node:assert/strict";
import type { App, Body } from "../../mod.ts";
import { accessLog } from "../../middleware/access_log.ts";
import { errors } from "../../middleware/errors.ts";
import { validator } from "../../middleware/validator.ts";
import { buildEnviron } from "../../testing.ts";
import { errorLog } from "../_helpers.ts";
// Every client here runs its subject under the validator.
import { LintedClient as Client } from "../_helpers.ts";

/** A client for `errors()(app)` whose error output is kept. */
function clientFor(app: App, options: Parameters<typeof errors>[0] = {}) {
  const log = errorLog();
  return {
    client: new Client(errors(options)(app), { errors: log.sink }),
    log: log.text,
  };
}

function assertPlain500(response: {
  status: number;
  text(): string;
  headers: Headers;
}) {
  assert.equal(response.status, 500);
  assert.equal(response.text(), "Internal Server Error\n");
  assert.equal(
    response.headers.get("content-type"),
    "text/plain; charset=utf-8",
  );
}

Deno.test("errors() turns a thrown error into a plain 500 and logs its traceback", async () => {
  const { client, log } = clientFor(() => {
    throw new Error("secret token abc123");
  });
  const response = await client.get("/boom");
  assertPlain500(response);
  assert.doesNotMatch(response.text(), /abc123/);
  assert.match(
    log(),
    /^\[errors\] GET \/boom: Error: secret token abc123\n {4}at /,
  );
  assert.doesNotMatch(log(), /\[wsgi\]/, "the server saw an ordinary response");
});

Deno.test("errors() turns a rejected promise into a 500", async () => {
  const { client, log } = clientFor(async () => {
    await Promise.resolve();
    throw new TypeError("async failure");
  });
  assertPlain500(await client.post("/"));
  assert.match(log(), /TypeError: async failure/);
});

Deno.test("errors() replaces a response the app started before it threw", async () => {
  const { client } = clientFor((_environ, startResponse) => {
    startResponse("201 Created", [
      ["Content-Type", "application/json"],
      ["X-Partial", "yes"],
    ]);
    throw new Error("after start");
  });
  const response = await client.get("/");
  assertPlain500(response);
  assert.equal(response.headers.get("x-partial"), null);
});

Deno.test("errors() turns an error in the body before its first chunk into a 500", async () => {
  const bodies: Record<string, () => Body> = {
    sync: () =>
      // deno-lint-ignore require-yield
      (function* () {
        throw new Error("sync generator");
      })(),
    async: () =>
      // deno-lint-ignore require-yield
      (async function* () {
        await Promise.resolve();
        throw new Error("async generator");
      })(),
    "after empty chunks": () =>
      (async function* () {
        yield "";
        yield new Uint8Array(0);
        throw new Error("after empty chunks");
      })(),
  };
  for (const [name, makeBody] of Object.entries(bodies)) {
    const { client, log } = clientFor((_environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/html"]]);
      return makeBody();
    });
    const response = await client.get("/");
    assertPlain500(response);
    assert.match(log(), new RegExp(`Error: ${name}`), name);
  }
});

Deno.test("errors() covers a generator that calls startResponse itself", async () => {
  const { client } = clientFor((_environ, startResponse) =>
    // deno-lint-ignore require-yield
    (function* () {
      startResponse("200 OK", [["Content-Type", "text/html"]]);
      throw new Error("inside");
    })()
  );
  assertPlain500(await client.get("/"));
});

Deno.test("errors() logs and rethrows an error after data went out, so the server aborts", async () => {
  const { client, log } = clientFor((_environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return (async function* () {
      yield "partial";
      throw new Error("mid-stream");
    })();
  });
  await assert.rejects(client.get("/"));
  assert.match(log(), /\[errors\] GET \/: Error: mid-stream/);
  assert.match(log(), /\[wsgi\] GET \/: error after the response started/);
});

Deno.test("errors() rethrows an error after write() sent the headers", async () => {
  const { client, log } = clientFor(async (_environ, startResponse) => {
    const write = startResponse("200 OK", [["Content-Type", "text/plain"]]);
    await write("sent");
    throw new Error("after write");
  });
  await assert.rejects(client.get("/"));
  assert.match(log(), /\[errors\] GET \/: Error: after write/);
});

Deno.test("errors() forwards close() once, also for a body it replaced", async () => {
  let closed = 0;
  let finallyRan = 0;
  const { client } = clientFor((_environ, startResponse) => {
    startResponse("200 OK", []);
    // deno-lint-ignore require-yield
    const body = (function* () {
      throw new Error("x");
    })();
    return Object.assign(body, { close: () => void closed++ });
  });
  assertPlain500(await client.get("/"));
  assert.equal(closed, 1);

  const app = errors()((_environ, startResponse) => {
    startResponse("200 OK", []);
    return (function* () {
      try {
        yield "a";
        yield "b";
      } finally {
        finallyRan++;
      }
    })();
  });
  const body = await app(buildEnviron(), () => async () => {});
  const iterator = (body as Iterable<string>)[Symbol.iterator]();
  assert.deepEqual(iterator.next(), { done: false, value: "a" });
  body.close?.();
  body.close?.();
  assert.equal(finallyRan, 1);
});

Deno.test("errors() passes a working app through untouched", async () => {
  const chunks = ["Hello"];
  const app = errors()((_environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return chunks;
  });
  const body = await app(buildEnviron(), () => async () => {});
  assert.equal(body, chunks, "an array keeps the server's fast path");
  const streamed = new Client(
    errors()((_environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/plain"]]);
      return (async function* () {
        yield "a";
        yield "b";
      })();
    }),
  );
  assert.equal((await streamed.get("/")).text(), "ab");
});

Deno.test("errors() leaves a body the server cannot accept to the server: 413 too large, 400 cut short", async () => {
  const log = errorLog();
  const app = errors()(async (environ, startResponse) => {
    await environ["wsgi.input"].read();
    startResponse("200 OK", []);
    return [];
  });
  const tooLarge = await new Client(app, { errors: log.sink, maxBodySize: 4 })
    .post("/", {
      body: ReadableStream.from([new TextEncoder().encode("0123456789")]),
    });
  assert.equal(tooLarge.status, 413);
  let sent = false;
  const cutShort = await new Client(app, { errors: log.sink }).post("/", {
    headers: { "Content-Length": "10" },
    body: new ReadableStream({
      pull(controller) {
        if (sent) return controller.error(new Deno.errors.BadResource());
        sent = true;
        controller.enqueue(new TextEncoder().encode("01234"));
      },
    }),
  });
  assert.equal(cutShort.status, 400);
  assert.equal(
    cutShort.text(),
    "Cannot read the request body: the connection ended before the body did\n",
  );
  // Neither is an app error: nothing is reported.
  assert.equal(log.text(), "");
});

Deno.test("errors() takes the body, type and reporter of the 500 from its options", async () => {
  const reported: string[] = [];
  const { client, log } = clientFor(() => {
    throw new Error("custom");
  }, {
    body: "<h1>Sorry</h1>",
    contentType: "text/html; charset=utf-8",
    report: (error, environ) =>
      reported.push(`${environ.PATH_INFO} ${(error as Error).message}`),
  });
  const response = await client.get("/page");
  assert.equal(response.status, 500);
  assert.equal(response.text(), "<h1>Sorry</h1>");
  assert.equal(
    response.headers.get("content-type"),
    "text/html; charset=utf-8",
  );
  assert.deepEqual(reported, ["/page custom"]);
  assert.equal(log(), "");
});

Deno.test("errors() still answers 500 when the reporter fails, and logs both", async () => {
  const { client, log } = clientFor(() => {
    throw new Error("original");
  }, {
    report() {
      throw new Error("reporter down");
    },
  });
  assertPlain500(await client.get("/"));
  assert.match(log(), /Error: original/);
  assert.match(log(), /the report function failed: Error: reporter down/);
});

Deno.test("errors() escapes control characters in the logged path", async () => {
  const { client, log } = clientFor(() => {
    throw new Error("x");
  });
  await client.get("/a%0Ab");
  assert.match(log(), /^\[errors\] GET \/a\\x0ab: /);
});

Deno.test("errors() inside accessLog() lets the log show the 500", async () => {
  const lines: string[] = [];
  const app = accessLog({
    format: "common",
    duration: false,
    output: (line) => lines.push(line),
  })(
    errors({ report() {} })(() => {
      throw new Error("x");
    }),
  );
  const response = await new Client(app).get("/");
  assert.equal(response.status, 500);
  assert.match(lines[0], /"GET \/ HTTP\/1\.1" 500 22$/);
});

Deno.test("errors() passes the validator when the app throws something other than an Error", async () => {
  const log: string[] = [];
  const app = validator()(
    errors()(() => {
      throw "a string";
    }),
  );
  const response = await new Client(app, {
    errors: (text) => void log.push(text),
  }).get("/");
  assert.equal(response.status, 500);
  assert.equal(log.join("").includes("exc-info"), false);
});

Deno.test("errors() passes an array body on as the same array", () => {
  const body = ["fine"];
  const app = errors()((_environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return body;
  });
  assert.equal(app(buildEnviron(), () => async () => {}), body);
});
