import assert from "node:assert/strict";
import type { App, Body, Header } from "../../mod.ts";
import { compress, type CompressOptions } from "../../middleware/compress.ts";
import { errors } from "../../middleware/errors.ts";
import { buildEnviron } from "../../testing.ts";
import { errorLog, withServer } from "../_helpers.ts";
// Every client here runs its subject under the validator.
import { LintedClient as Client } from "../_helpers.ts";

const TEXT = "All work and no play makes Jack a dull boy.\n".repeat(100); // 4400 bytes

async function decompress(
  bytes: Uint8Array,
  coding: "gzip" | "deflate",
): Promise<string> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new DecompressionStream(coding));
  return await new Response(stream).text();
}

/** An app that answers `body` with `headers` (Content-Type text/plain unless given). */
function answer(
  body: () => Body,
  headers: Header[] = [["Content-Type", "text/plain; charset=utf-8"]],
  status = "200 OK",
): App {
  return (_environ, startResponse) => {
    startResponse(status, headers);
    return body();
  };
}

function clientFor(app: App, options?: CompressOptions) {
  const log = errorLog();
  return {
    client: new Client(compress(options)(app), { errors: log.sink }),
    log: log.text,
  };
}

const gzip = { headers: { "Accept-Encoding": "gzip" } };

Deno.test("compress() gzips an array body whole, with a new Content-Length", async () => {
  const { client } = clientFor(answer(() => [TEXT]));
  const response = await client.get("/", gzip);
  assert.equal(response.headers.get("content-encoding"), "gzip");
  assert.equal(response.headers.get("vary"), "Accept-Encoding");
  assert.equal(
    response.headers.get("content-length"),
    String(response.body.length),
  );
  assert.ok(response.body.length < 200);
  assert.equal(await decompress(response.body, "gzip"), TEXT);
});

Deno.test("compress() deflates (zlib format) when the client prefers deflate", async () => {
  const { client } = clientFor(
    answer(() => [TEXT.slice(0, 2000), TEXT.slice(2000)]),
  );
  const response = await client.get("/", {
    headers: { "Accept-Encoding": "gzip;q=0.5, deflate" },
  });
  assert.equal(response.headers.get("content-encoding"), "deflate");
  assert.equal(await decompress(response.body, "deflate"), TEXT);
});

Deno.test("compress() negotiates Accept-Encoding by q-value (RFC 9110 12.5.3)", async () => {
  const { client } = clientFor(answer(() => [TEXT]));
  const table: [string | undefined, string | null][] = [
    [undefined, null],
    ["", null],
    ["gzip", "gzip"],
    ["deflate", "deflate"],
    ["gzip, deflate", "gzip"],
    ["deflate, gzip", "gzip"], // a tie goes to gzip
    ["deflate;q=1.0, gzip;q=0.5", "deflate"],
    ["gzip;q=0", null],
    ["gzip;q=0, deflate", "deflate"],
    ["*", "gzip"],
    ["*;q=0.5, gzip;q=0", "deflate"],
    ["*;q=0", null],
    ["br", null],
    ["br, deflate;q=0.1", "deflate"],
    ["identity", null],
    ["gzip;q=0.5, identity", null], // identity is preferred
    ["gzip;q=0.5, identity;q=0.4", "gzip"],
    ["x-gzip", "gzip"],
    ["GZIP ; Q=0.8 , deflate;q=0.7", "gzip"],
    ["gzip;q=2, deflate;q=0.1", "deflate"], // a malformed q-value counts as absent
    ["gzip;q=0.001", "gzip"],
  ];
  for (const [accept, expected] of table) {
    const response = await client.get("/", {
      headers: accept === undefined ? {} : { "Accept-Encoding": accept },
    });
    assert.equal(
      response.headers.get("content-encoding"),
      expected,
      `Accept-Encoding: ${accept}`,
    );
    assert.equal(response.headers.get("vary"), "Accept-Encoding");
  }
});

Deno.test("compress() reads Accept-Encoding as an RFC 9110 list: a quoted comma does not split it", async () => {
  const { client } = clientFor(answer(() => [TEXT]));
  const table: [string, string | null][] = [
    // One element whose parameter holds ", gzip;q=1": no gzip was asked for.
    ['x;p=", gzip;q=1;y="', null],
    ['x;p="a, b", deflate', "deflate"],
    // Empty elements are ignored (RFC 9110 5.6.1).
    [" , deflate,, gzip;q=0.5 ,", "deflate"],
    // A quote never closed: no list at all, so the body is sent as it is.
    ['gzip, x;p="a', null],
  ];
  for (const [accept, expected] of table) {
    const response = await client.get("/", {
      headers: { "Accept-Encoding": accept },
    });
    assert.equal(
      response.headers.get("content-encoding"),
      expected,
      `Accept-Encoding: ${accept}`,
    );
  }
});

Deno.test("compress() prefers the codings in the order of its encodings option", async () => {
  const { client } = clientFor(answer(() => [TEXT]), {
    encodings: ["deflate", "gzip"],
  });
  const response = await client.get("/", {
    headers: { "Accept-Encoding": "gzip, deflate" },
  });
  assert.equal(response.headers.get("content-encoding"), "deflate");
  const gzipOnly = clientFor(answer(() => [TEXT]), { encodings: ["gzip"] });
  const refused = await gzipOnly.client.get("/", {
    headers: { "Accept-Encoding": "deflate" },
  });
  assert.equal(refused.headers.get("content-encoding"), null);
});

Deno.test("compress() appends Accept-Encoding to an existing Vary once", async () => {
  const cases: [string, string][] = [
    ["Cookie", "Cookie, Accept-Encoding"],
    ["Origin, accept-encoding", "Origin, accept-encoding"],
    ["*", "*"],
  ];
  for (const [vary, expected] of cases) {
    const { client } = clientFor(answer(() => [TEXT], [
      ["Content-Type", "text/plain"],
      ["Vary", vary],
    ]));
    const response = await client.get("/", gzip);
    assert.equal(response.headers.get("content-encoding"), "gzip");
    assert.equal(response.headers.get("vary"), expected);
  }
});

Deno.test("compress() adds Vary to a response it could have compressed for another client", async () => {
  const { client } = clientFor(answer(() => [TEXT]));
  const response = await client.get("/");
  assert.equal(response.headers.get("content-encoding"), null);
  assert.equal(response.headers.get("vary"), "Accept-Encoding");
  assert.equal(response.text(), TEXT);
});

Deno.test("compress() leaves a body under minSize alone, without Vary", async () => {
  const small = "x".repeat(1023);
  const { client } = clientFor(answer(() => [small]));
  const response = await client.get("/", gzip);
  assert.equal(response.headers.get("content-encoding"), null);
  assert.equal(response.headers.get("vary"), null);
  assert.equal(response.text(), small);

  const tiny = clientFor(answer(() => ["x".repeat(20)]), { minSize: 10 });
  const compressed = await tiny.client.get("/", gzip);
  assert.equal(compressed.headers.get("content-encoding"), "gzip");
});

Deno.test("compress() decides by Content-Length when the app sets one", async () => {
  let pulled = 0;
  const { client } = clientFor(answer(
    () =>
      (function* () {
        pulled++;
        yield "small";
      })(),
    [["Content-Type", "text/plain"], ["Content-Length", "5"]],
  ));
  const response = await client.get("/", gzip);
  assert.equal(response.headers.get("content-encoding"), null);
  assert.equal(response.headers.get("content-length"), "5");
  assert.equal(response.text(), "small");
  assert.equal(pulled, 1);

  const large = clientFor(answer(
    () =>
      (function* () {
        yield TEXT.slice(0, 100);
        yield TEXT.slice(100);
      })(),
    [["Content-Type", "text/plain"], ["Content-Length", String(TEXT.length)]],
  ));
  const compressed = await large.client.get("/", gzip);
  assert.equal(compressed.headers.get("content-encoding"), "gzip");
  assert.equal(compressed.headers.get("content-length"), null);
  assert.equal(await decompress(compressed.body, "gzip"), TEXT);
});

Deno.test("compress() holds a body without Content-Length back until minSize bytes tell", async () => {
  const short = clientFor(answer(() =>
    (async function* () {
      yield "a".repeat(500);
      yield "";
      yield "b".repeat(500);
    })()
  ));
  const response = await short.client.get("/", gzip);
  assert.equal(response.headers.get("content-encoding"), null);
  assert.equal(response.headers.get("vary"), null);
  assert.equal(response.text(), "a".repeat(500) + "b".repeat(500));

  const long = clientFor(answer(() =>
    (async function* () {
      for (let i = 0; i < 3; i++) yield "c".repeat(500);
    })()
  ));
  const compressed = await long.client.get("/", gzip);
  assert.equal(compressed.headers.get("content-encoding"), "gzip");
  assert.equal(await decompress(compressed.body, "gzip"), "c".repeat(1500));
});

Deno.test("compress() skips types that are already compressed", async () => {
  const skipped = [
    "image/png",
    "image/jpeg",
    "video/mp4",
    "audio/mpeg",
    "application/zip",
    "application/gzip",
    "font/woff2",
    "text/event-stream",
  ];
  const compressed = [
    "image/svg+xml",
    "text/html; charset=utf-8",
    "application/json",
    "application/javascript",
  ];
  for (const type of [...skipped, ...compressed]) {
    const { client } = clientFor(
      answer(() => [TEXT], [["Content-Type", type]]),
    );
    const response = await client.get("/", gzip);
    assert.equal(
      response.headers.get("content-encoding"),
      skipped.includes(type) ? null : "gzip",
      type,
    );
    if (skipped.includes(type)) {
      assert.equal(response.headers.get("vary"), null);
    }
  }
  const custom = clientFor(
    answer(() => [TEXT], [["Content-Type", "image/png"]]),
    {
      compressible: (type) => type === "image/png",
    },
  );
  const png = await custom.client.get("/", gzip);
  assert.equal(png.headers.get("content-encoding"), "gzip");
});

Deno.test("compress() leaves responses with Content-Encoding, Content-Range or no-transform alone", async () => {
  const cases: Header[][] = [
    [["Content-Type", "text/plain"], ["Content-Encoding", "br"]],
    [["Content-Type", "text/plain"], ["Cache-Control", "public, no-transform"]],
    [["Content-Type", "text/plain"], ["Content-Range", "bytes 0-4399/9000"]],
  ];
  for (const headers of cases) {
    const { client } = clientFor(answer(() => [TEXT], headers));
    const response = await client.get("/", gzip);
    assert.equal(
      response.headers.get("content-encoding"),
      headers[1][0] === "Content-Encoding" ? "br" : null,
    );
    assert.equal(response.headers.get("vary"), null);
    assert.equal(response.text(), TEXT);
  }
});

Deno.test("compress() leaves HEAD requests and 204, 206 and 304 responses alone", async () => {
  const { client } = clientFor((environ, startResponse) => {
    const status = environ.PATH_INFO.slice(1);
    const empty = status === "204" || status === "304";
    startResponse(
      status === "" ? "200 OK" : `${status} Whatever`,
      // 204 and 304 carry no content, so no Content-Type either.
      empty ? [] : [["Content-Type", "text/plain"]],
    );
    return empty ? [] : [TEXT];
  });
  const head = await client.head("/", gzip);
  assert.equal(head.headers.get("content-encoding"), null);
  assert.equal(head.headers.get("vary"), null);
  for (const status of [204, 206, 304]) {
    const response = await client.get(`/${status}`, gzip);
    assert.equal(response.status, status);
    assert.equal(response.headers.get("content-encoding"), null);
  }
});

Deno.test("compress() weakens a strong ETag and drops Accept-Ranges when it compresses", async () => {
  const { client } = clientFor(answer(() => [TEXT], [
    ["Content-Type", "text/plain"],
    ["ETag", '"v1"'],
    ["Accept-Ranges", "bytes"],
    ["Content-Length", String(TEXT.length)],
  ]));
  const response = await client.get("/", gzip);
  assert.equal(response.headers.get("etag"), 'W/"v1"');
  assert.equal(response.headers.get("accept-ranges"), null);
  const plain = await client.get("/");
  assert.equal(plain.headers.get("etag"), '"v1"');
  assert.equal(plain.headers.get("accept-ranges"), "bytes");
});

Deno.test("compress() streams a generator body as its chunks come", async () => {
  const chunks = 64;
  let produced = 0;
  // Random bytes barely compress, so output appears early.
  const noise = () => crypto.getRandomValues(new Uint8Array(16384));
  const sent: Uint8Array[] = [];
  const app = compress()((_environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "application/octet-stream"]]);
    return (async function* () {
      for (let i = 0; i < chunks; i++) {
        const chunk = noise();
        sent.push(chunk);
        produced++;
        yield chunk;
      }
    })();
  });
  await withServer(app, async (server) => {
    const response = await fetch(server.url, {
      headers: { "Accept-Encoding": "gzip" },
    });
    assert.equal(response.headers.get("content-encoding"), "gzip");
    assert.equal(response.headers.get("content-length"), null);
    // Deno's fetch decompresses as it reads.
    const reader = response.body!.getReader();
    const first = await reader.read();
    let received = first.value!.length;
    const all = [first.value!];
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      received += value.length;
      all.push(value);
    }
    assert.equal(received, chunks * 16384);
    const joined = new Uint8Array(received);
    let offset = 0;
    for (const part of all) {
      joined.set(part, offset);
      offset += part.length;
    }
    const expected = new Uint8Array(received);
    sent.forEach((chunk, i) => expected.set(chunk, i * 16384));
    assert.ok(
      joined.every((byte, i) => byte === expected[i]),
      "the bytes arrive as sent",
    );
  });
});

Deno.test("compress() compresses data passed to write() together with the body", async () => {
  const { client } = clientFor(async (_environ, startResponse) => {
    const write = startResponse("200 OK", [["Content-Type", "text/plain"]]);
    await write(TEXT.slice(0, 1000));
    await write(new TextEncoder().encode(TEXT.slice(1000, 2000)));
    return (function* () {
      yield TEXT.slice(2000);
    })();
  });
  const response = await client.get("/", gzip);
  assert.equal(response.headers.get("content-encoding"), "gzip");
  assert.equal(await decompress(response.body, "gzip"), TEXT);

  const arrays = clientFor(async (_environ, startResponse) => {
    const write = startResponse("200 OK", [["Content-Type", "text/plain"]]);
    await write("head ");
    return ["tail"];
  });
  const small = await arrays.client.get("/", gzip);
  assert.equal(small.headers.get("content-encoding"), null);
  assert.equal(small.text(), "head tail");

  const passed = clientFor(async (_environ, startResponse) => {
    const write = startResponse("200 OK", [["Content-Type", "image/png"]]);
    await write("written ");
    return ["returned"];
  });
  assert.equal((await passed.client.get("/", gzip)).text(), "written returned");
});

Deno.test("compress() forwards close() once on every path", async () => {
  let closed = 0;
  const withClose = (body: Body) =>
    Object.assign(body, { close: () => void closed++ });
  const apps: [string, App, Record<string, string>][] = [
    ["array, compressed", answer(() => withClose([TEXT])), gzip.headers],
    ["array, small", answer(() => withClose(["x"])), gzip.headers],
    ["array, not accepted", answer(() => withClose([TEXT])), {}],
    [
      "stream, compressed",
      answer(() =>
        withClose(
          (function* () {
            yield TEXT;
          })(),
        )
      ),
      gzip.headers,
    ],
    [
      "stream, small",
      answer(() =>
        withClose(
          (function* () {
            yield "x";
          })(),
        )
      ),
      gzip.headers,
    ],
  ];
  for (const [name, app, headers] of apps) {
    closed = 0;
    const { client } = clientFor(app);
    await client.get("/", { headers });
    assert.equal(closed, 1, name);
  }
});

Deno.test("compress() pulls the body lazily: output comes after a few chunks, not the whole body", async () => {
  let produced = 0;
  const app = compress()(answer(() =>
    (async function* () {
      for (let i = 0; i < 1000; i++) {
        produced++;
        yield crypto.getRandomValues(new Uint8Array(16384));
      }
    })()
  ));
  const body = await app(
    buildEnviron({ headers: { "Accept-Encoding": "gzip" } }),
    () => async () => {},
  );
  const iterator = (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  const first = await iterator.next();
  assert.ok(first.value!.length > 0);
  assert.ok(produced <= 4, `${produced} chunks read before the first output`);
  await body.close?.();
});

Deno.test("compress() stops a generator early with return() when closed mid-body", async () => {
  let finallyRan = 0;
  const app = compress()(answer(() =>
    (function* () {
      try {
        for (let i = 0; i < 100; i++) yield TEXT;
      } finally {
        finallyRan++;
      }
    })()
  ));
  let started: [string, Header[]] | undefined;
  const body = await app(
    buildEnviron({ headers: { "Accept-Encoding": "gzip" } }),
    (status, headers) => {
      started = [status, headers];
      return async () => {};
    },
  );
  const iterator = (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  await iterator.next();
  assert.deepEqual(started?.[1].find(([name]) => name === "Content-Encoding"), [
    "Content-Encoding",
    "gzip",
  ]);
  await body.close?.();
  await body.close?.();
  assert.equal(finallyRan, 1);
});

Deno.test("compress() lets an error before the first chunk become the server's 500", async () => {
  const { client, log } = clientFor(answer(() =>
    (async function* () {
      yield "";
      throw new Error("before data");
    })()
  ));
  const response = await client.get("/", gzip);
  assert.equal(response.status, 500);
  assert.equal(response.headers.get("content-encoding"), null);
  assert.match(log(), /Error: before data/);

  const late = clientFor(answer(() =>
    (async function* () {
      yield TEXT;
      throw new Error("after data");
    })()
  ));
  await assert.rejects(late.client.get("/", gzip));
  assert.match(late.log(), /Error: after data/);
});

Deno.test("compress() around errors() sends the 500 that replaced a started response", async () => {
  const log = errorLog();
  const app = compress()(
    errors()(answer(
      () =>
        // deno-lint-ignore require-yield
        (function* () {
          throw new Error("template missing");
        })(),
      [["Content-Type", "text/html"], ["Content-Length", String(TEXT.length)]],
    )),
  );
  const response = await new Client(app, { errors: log.sink }).get("/", gzip);
  assert.equal(response.status, 500);
  assert.equal(response.headers.get("content-encoding"), null);
  assert.equal(response.text(), "Internal Server Error\n");
});

Deno.test("compress() works with a generator that calls startResponse itself", async () => {
  const { client } = clientFor((_environ, startResponse) =>
    (function* () {
      startResponse("200 OK", [["Content-Type", "text/plain"]]);
      yield TEXT;
    })()
  );
  const response = await client.get("/", gzip);
  assert.equal(response.headers.get("content-encoding"), "gzip");
  assert.equal(await decompress(response.body, "gzip"), TEXT);
});

Deno.test("compress() keeps a small wsgi.file_wrapper body on the file path and compresses a large one", async () => {
  const path = await Deno.makeTempFile();
  try {
    const app = compress()(async (environ, startResponse) => {
      startResponse("200 OK", [["Content-Type", "text/plain"]]);
      return environ["wsgi.file_wrapper"]!(await Deno.open(path));
    });
    const { client } = { client: new Client(app) };
    await Deno.writeTextFile(path, "small file");
    const small = await client.get("/", gzip);
    assert.equal(small.headers.get("content-encoding"), null);
    assert.equal(small.text(), "small file");
    await Deno.writeTextFile(path, TEXT);
    const large = await client.get("/", gzip);
    assert.equal(large.headers.get("content-encoding"), "gzip");
    assert.equal(await decompress(large.body, "gzip"), TEXT);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("compress() refuses unknown codings and a negative minSize", () => {
  assert.throws(
    () => compress({ encodings: ["br" as "gzip"] }),
    /Cannot compress with "br"/,
  );
  assert.throws(() => compress({ minSize: -1 }), /Cannot use minSize -1/);
});

Deno.test("compress() passes an array body below minSize on as it is, not as a promise", () => {
  const body = ['{"id":1}'];
  const app = compress()((_environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "application/json"]]);
    return body;
  });
  let headers: Header[] = [];
  const result = app(
    buildEnviron({ headers: { "Accept-Encoding": "gzip" } }),
    (_status, h) => {
      headers = h;
      return async () => {};
    },
  );
  assert.equal(result, body);
  assert.deepEqual(headers, [["Content-Type", "application/json"]]);
});
