import assert from "node:assert/strict";
import type { App, Environ } from "../../mod.ts";
import { httpProxy } from "../../middleware/http_proxy.ts";
import { buildEnviron } from "../../testing.ts";
import { shiftPathInfo } from "../../util.ts";
import {
  errorLog,
  freePort,
  parseRaw,
  rawRequest,
  withServer,
} from "../_helpers.ts";
// Every client here runs its subject under the validator.
import { LintedClient as Client } from "../_helpers.ts";

interface Echo {
  method: string;
  target: string;
  headers: Record<string, string>;
  body: string;
}

/** The request target as the upstream received it, still percent-encoded. */
function target(request: Request): string {
  return request.url.slice(request.url.indexOf("/", 8));
}

const echo = async (request: Request) =>
  Response.json(
    {
      method: request.method,
      target: target(request),
      headers: Object.fromEntries(request.headers),
      body: await request.text(),
    } satisfies Echo,
  );

/** Runs `fn` with an upstream `Deno.serve` on 127.0.0.1, then shuts it down. */
async function withUpstream(
  handler: (request: Request) => Response | Promise<Response>,
  fn: (origin: string) => Promise<void>,
): Promise<void> {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    handler,
  );
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    await server.shutdown();
  }
}

const local: App = (environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [`local ${environ.PATH_INFO}`];
};

Deno.test("httpProxy() maps the path under the prefix and the query, percent-encoding kept", async () => {
  await withUpstream(echo, async (origin) => {
    const client = new Client(httpProxy("/api", `${origin}/v1`)(local));
    const cases: [string, string][] = [
      ["/api/users?page=2", "/v1/users?page=2"],
      ["/api/a%20b/c%2Fd?q=%26x&r", "/v1/a%20b/c%2Fd?q=%26x&r"],
      ["/api/caf%C3%A9", "/v1/caf%C3%A9"],
      ["/api", "/v1"],
      ["/api/", "/v1/"],
    ];
    for (const [path, expected] of cases) {
      const response = await client.get(path);
      assert.equal(response.status, 200, path);
      assert.equal(response.json<Echo>().target, expected, path);
    }
    const root = new Client(httpProxy("/api/", origin)(local));
    assert.equal((await root.get("/api")).json<Echo>().target, "/");
    assert.equal((await root.get("/api/x?y")).json<Echo>().target, "/x?y");
    const everything = new Client(httpProxy("", origin)(local));
    assert.equal(
      (await everything.get("/any/path")).json<Echo>().target,
      "/any/path",
    );
  });
});

Deno.test("httpProxy() passes requests outside the prefix to the wrapped app", async () => {
  await withUpstream(echo, async (origin) => {
    const client = new Client(httpProxy("/api", origin)(local));
    assert.equal((await client.get("/")).text(), "local /");
    assert.equal((await client.get("/apis")).text(), "local /apis");
    assert.equal((await client.get("/other/api")).text(), "local /other/api");
  });
});

Deno.test("httpProxy() forwards the method and headers, and sets X-Forwarded-*", async () => {
  await withUpstream(echo, async (origin) => {
    const client = new Client(httpProxy("/api", origin)(local), {
      baseUrl: "https://shop.example:8443/",
      remoteAddr: "10.1.2.3",
    });
    const response = await client.delete("/api/items/7", {
      headers: {
        "X-Request-Id": "abc",
        "Cookie": "session=1",
        "X-Forwarded-For": "203.0.113.9",
        "User-Agent": "test-agent",
      },
    });
    const seen = response.json<Echo>();
    assert.equal(seen.method, "DELETE");
    assert.equal(seen.headers["x-request-id"], "abc");
    assert.equal(seen.headers["cookie"], "session=1");
    assert.equal(seen.headers["user-agent"], "test-agent");
    assert.equal(seen.headers["x-forwarded-for"], "203.0.113.9, 10.1.2.3");
    assert.equal(seen.headers["x-forwarded-proto"], "https");
    assert.equal(seen.headers["x-forwarded-host"], "shop.example:8443");
    assert.equal(seen.headers["x-forwarded-prefix"], "/api");
    assert.equal(seen.headers["host"], new URL(origin).host);
    assert.equal(seen.headers["accept-encoding"], "identity");
  });
});

Deno.test("httpProxy() puts SCRIPT_NAME in X-Forwarded-Prefix and maps below it", async () => {
  await withUpstream(echo, async (origin) => {
    const proxied = httpProxy("/api", origin)(local);
    const client = new Client((environ: Environ, startResponse) => {
      shiftPathInfo(environ); // mounted at /app
      return proxied(environ, startResponse);
    });
    const seen = (await client.get("/app/api/a%2Fb?x=1")).json<Echo>();
    assert.equal(seen.target, "/a%2Fb?x=1");
    assert.equal(seen.headers["x-forwarded-prefix"], "/app/api");
  });
});

Deno.test("httpProxy() rebuilds the path from PATH_INFO when a middleware rewrote it", async () => {
  await withUpstream(echo, async (origin) => {
    const proxied = httpProxy("/api", origin)(local);
    const client = new Client((environ: Environ, startResponse) => {
      environ.PATH_INFO = "/api/rewritten path/\xe9";
      return proxied(environ, startResponse);
    });
    const seen = (await client.get("/original")).json<Echo>();
    assert.equal(seen.target, "/rewritten%20path/%E9");
  });
});

Deno.test("httpProxy() drops hop-by-hop request headers, including those named in Connection", async () => {
  await withUpstream(echo, async (origin) => {
    const client = new Client(httpProxy("/api", origin)(local));
    const seen = (await client.get("/api", {
      headers: {
        "Connection": "X-Private, keep-alive",
        "X-Private": "secret",
        "Keep-Alive": "timeout=5",
        "Proxy-Authorization": "Basic c2VjcmV0",
        "Proxy-Connection": "keep-alive",
        "TE": "trailers",
        "Upgrade": "websocket",
        "X-Public": "yes",
      },
    })).json<Echo>();
    for (
      const name of [
        "x-private",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "upgrade",
      ]
    ) {
      assert.equal(seen.headers[name], undefined, name);
    }
    assert.notEqual(seen.headers["connection"], "X-Private, keep-alive");
    assert.equal(seen.headers["x-public"], "yes");
  });
});

Deno.test("httpProxy() reads Connection as an RFC 9110 list: a quoted comma does not split it", async () => {
  await withUpstream(echo, async (origin) => {
    const client = new Client(httpProxy("/api", origin)(local));
    const seen = (await client.get("/api", {
      headers: {
        // A quoted string is no connection-option (a token): it names none
        // of the headers inside it.
        "Connection": 'X-Private, "x-a, X-Kept, x-b", , X-Gone',
        "X-Private": "secret",
        "X-Kept": "yes",
        "X-Gone": "gone",
      },
    })).json<Echo>();
    assert.equal(seen.headers["x-private"], undefined);
    assert.equal(seen.headers["x-gone"], undefined);
    assert.equal(seen.headers["x-kept"], "yes");
  });
});

Deno.test("httpProxy() passes the status and response headers back, hop-by-hop ones dropped", async () => {
  await withUpstream(() => {
    const headers = new Headers([
      ["Content-Type", "application/json"],
      ["Connection", "X-Upstream-Private"],
      ["X-Upstream-Private", "internal"],
      ["Keep-Alive", "timeout=5"],
      ["X-Upstream", "yes"],
      ["Set-Cookie", "a=1; Path=/"],
      ["Set-Cookie", "b=2; Path=/"],
    ]);
    return new Response('{"created":true}', {
      status: 201,
      statusText: "Made It",
      headers,
    });
  }, async (origin) => {
    const client = new Client(httpProxy("/api", origin)(local));
    const response = await client.post("/api/things", { json: {} });
    assert.equal(response.status, 201);
    // Deno.serve sends the standard reason whatever the upstream said.
    assert.equal(response.statusText, "Created");
    assert.equal(response.text(), '{"created":true}');
    assert.equal(response.headers.get("x-upstream"), "yes");
    assert.equal(response.headers.get("x-upstream-private"), null);
    assert.equal(response.headers.get("keep-alive"), null);
    assert.deepEqual(response.headers.getSetCookie(), [
      "a=1; Path=/",
      "b=2; Path=/",
    ]);
  });
});

Deno.test("httpProxy() streams a POST body to the upstream as it arrives", async () => {
  let firstChunkSeen!: () => void;
  const upstreamHasFirst = new Promise<void>((resolve) =>
    firstChunkSeen = resolve
  );
  await withUpstream(async (request) => {
    let body = "";
    const decoder = new TextDecoder();
    for await (const chunk of request.body!) {
      body += decoder.decode(chunk, { stream: true });
      firstChunkSeen();
    }
    return Response.json({
      body: body.length > 100
        ? `${body.length} bytes ending ${body.slice(-6)}`
        : body,
      type: request.headers.get("content-type"),
    });
  }, async (origin) => {
    const client = new Client(httpProxy("/api", origin)(local));
    const encoder = new TextEncoder();
    let timer: ReturnType<typeof setTimeout> | undefined;
    // The second chunk waits until the upstream has the first (a block
    // of 64 KiB of it): a proxy that read the whole body before sending
    // would never get it.
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(encoder.encode("f".repeat(100_000)));
        await Promise.race([
          upstreamHasFirst,
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new Error("the upstream never got the first chunk")),
              5000,
            );
          }),
        ]).finally(() => clearTimeout(timer));
        controller.enqueue(encoder.encode("second"));
        controller.close();
      },
    });
    const response = await client.post("/api/upload", {
      body,
      headers: { "Content-Type": "text/csv" },
    });
    assert.deepEqual(response.json(), {
      body: "100006 bytes ending second",
      type: "text/csv",
    });

    const sized = await client.put("/api/upload", { body: "0123456789" });
    assert.deepEqual(sized.json(), { body: "0123456789", type: null });
  });
});

Deno.test("httpProxy() streams the upstream response back as it comes", async () => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  let upstreamDone = false;
  await withUpstream(() => {
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(encoder.encode("first "));
        await released;
        controller.enqueue(encoder.encode("second"));
        controller.close();
        upstreamDone = true;
      },
    });
    return new Response(body, { headers: { "Content-Type": "text/plain" } });
  }, async (origin) => {
    const app = httpProxy("/api", origin)(local);
    let status = "";
    const body = await app(buildEnviron({ path: "/api/stream" }), (s) => {
      status = s;
      return async () => {};
    });
    assert.equal(status, "200 OK");
    const iterator = (body as AsyncIterable<Uint8Array>)
      [Symbol.asyncIterator]();
    const decoder = new TextDecoder();
    const first = await iterator.next();
    assert.equal(decoder.decode(first.value), "first ");
    assert.equal(upstreamDone, false);
    release();
    let rest = "";
    for (
      let step = await iterator.next();
      !step.done;
      step = await iterator.next()
    ) {
      rest += decoder.decode(step.value);
    }
    assert.equal(rest, "second");
    await body.close?.();
  });
});

Deno.test("httpProxy() cancels the upstream response when the client goes away", async () => {
  let cancelled!: () => void;
  const upstreamCancelled = new Promise<void>((resolve) => cancelled = resolve);
  await withUpstream(() => {
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new Uint8Array(1024));
        return new Promise((resolve) => setTimeout(resolve, 1));
      },
      cancel() {
        cancelled();
      },
    });
    return new Response(body);
  }, async (origin) => {
    await withServer(httpProxy("/api", origin)(local), async (server) => {
      const response = await fetch(new URL("/api/endless", server.url));
      const reader = response.body!.getReader();
      await reader.read();
      await reader.cancel();
      await upstreamCancelled;
    });
  });
});

Deno.test("httpProxy() passes redirects back, rewriting upstream locations to the prefix", async () => {
  await withUpstream((request) => {
    const origin = new URL(request.url).origin;
    const to = new URL(request.url).searchParams.get("to")!
      .replace("ORIGIN", origin);
    return new Response(null, { status: 302, headers: { Location: to } });
  }, async (origin) => {
    const client = new Client(httpProxy("/api", `${origin}/v1`)(local));
    const cases: [string, string][] = [
      ["ORIGIN/v1/login?next=%2F", "/api/login?next=%2F"],
      ["ORIGIN/v1", "/api"],
      ["/v1/home", "/api/home"],
      ["/elsewhere", "/elsewhere"],
      ["ORIGIN/v10/x", "ORIGIN/v10/x"],
      ["https://example.com/v1/x", "https://example.com/v1/x"],
    ];
    for (const [location, expected] of cases) {
      const response = await client.get("/api/go", { query: { to: location } });
      assert.equal(response.status, 302);
      assert.equal(
        response.headers.get("location"),
        expected.replace("ORIGIN", origin),
        location,
      );
    }
    const verbatim = new Client(
      httpProxy("/api", `${origin}/v1`, { rewriteLocation: false })(local),
    );
    const response = await verbatim.get("/api/go", {
      query: { to: "/v1/home" },
    });
    assert.equal(response.headers.get("location"), "/v1/home");
  });
});

Deno.test("httpProxy() passes a compressed upstream body through untouched", async () => {
  const text = "compressed ".repeat(100);
  const gzipped = await new Response(
    new Blob([text]).stream().pipeThrough(new CompressionStream("gzip")),
  ).bytes();
  await withUpstream(() =>
    new Response(gzipped, {
      headers: { "Content-Encoding": "gzip", "Content-Type": "text/plain" },
    }), async (origin) => {
    const client = new Client(httpProxy("/api", origin)(local));
    const response = await client.get("/api", {
      headers: { "Accept-Encoding": "gzip" },
    });
    assert.equal(response.headers.get("content-encoding"), "gzip");
    assert.equal(
      response.headers.get("content-length"),
      String(gzipped.length),
    );
    assert.deepEqual(response.body, gzipped);
  });
});

Deno.test("httpProxy() answers 502 with a clear body when the upstream is down", async () => {
  const port = freePort();
  const log = errorLog();
  const client = new Client(
    httpProxy("/api", `http://127.0.0.1:${port}`)(local),
    {
      errors: log.sink,
    },
  );
  const response = await client.get("/api/users");
  assert.equal(response.status, 502);
  assert.equal(
    response.text(),
    `Bad Gateway: the upstream server http://127.0.0.1:${port} did not answer\n`,
  );
  assert.match(
    log.text(),
    /^\[httpProxy\] GET \/api\/users: cannot reach http:\/\/127\.0\.0\.1:\d+: /,
  );
});

Deno.test("httpProxy() refuses a path that climbs out of the upstream path", async () => {
  await withUpstream(echo, async (origin) => {
    await withServer(
      httpProxy("/api", `${origin}/v1`)(local),
      async (_server, port) => {
        for (
          const path of ["/api/../secret", "/api/%2e%2e/secret", "/api/.%2E/x"]
        ) {
          const { text } = await rawRequest(
            port,
            `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`,
          );
          const { head, body } = parseRaw(text);
          assert.equal(head[0], "HTTP/1.1 400 Bad Request", path);
          assert.match(body, /Bad Request: the path leaves the proxied prefix/);
        }
        const { text } = await rawRequest(
          port,
          "GET /api/a/../b HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        );
        assert.match(parseRaw(text).body, /"target":"\/v1\/b"/);
      },
    );
  });
});

Deno.test("httpProxy() leaves a too-large upload to the server's 413", async () => {
  await withUpstream(echo, async (origin) => {
    const log = errorLog();
    const client = new Client(httpProxy("/api", origin)(local), {
      maxBodySize: 4,
      errors: log.sink,
    });
    const response = await client.post("/api", {
      body: ReadableStream.from([new TextEncoder().encode("0123456789")]),
    });
    assert.equal(response.status, 413);
  });
});

Deno.test("httpProxy() answers HEAD with the upstream's headers and no body", async () => {
  await withUpstream(
    () =>
      new Response("twelve bytes", {
        headers: { "Content-Type": "text/plain" },
      }),
    async (origin) => {
      const log = errorLog();
      await withServer(httpProxy("/api", origin)(local), async (server) => {
        const response = await fetch(new URL("/api", server.url), {
          method: "HEAD",
        });
        assert.equal(response.status, 200);
        assert.equal(response.headers.get("content-type"), "text/plain");
        assert.equal(response.headers.get("content-length"), "12");
        assert.equal(await response.text(), "");
      }, { errors: log.sink });
    },
  );
});

Deno.test("httpProxy() refuses a bad prefix or upstream", () => {
  assert.throws(
    () => httpProxy("api", "http://localhost"),
    /the prefix must start with "\/"/,
  );
  assert.throws(
    () => httpProxy("/api", "localhost:3000"),
    /must be an http: or https: URL/,
  );
  assert.throws(() => httpProxy("/api", "not a url"), /it is not a URL/);
  assert.throws(
    () => httpProxy("/api", "http://localhost/?x=1"),
    /must not have a query, fragment or credentials/,
  );
});
