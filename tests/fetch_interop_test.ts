/**
 * Fetch interop with a real framework (Hono from npm), both ways, through
 * real servers: a Hono app mounted inside a gateway stack with fromFetch(),
 * and a gateway app served as a Hono route with toFetchHandler().
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import type { App } from "../mod.ts";
import { fromFetch, toFetchHandler } from "../server.ts";
import { compose, mount, proxyFix } from "../middleware/mod.ts";
import { withServer } from "./_helpers.ts";

const encoder = new TextEncoder();

/** A Hono app with JSON, echo, streaming and cookie routes. */
function honoApp(): Hono {
  const hono = new Hono();
  hono.get(
    "/users/:id",
    (c) => c.json({ id: c.req.param("id"), q: c.req.query("q") ?? null }),
  );
  hono.post("/echo", async (c) => c.text(`echo: ${await c.req.text()}`));
  hono.get(
    "/stream",
    (c) =>
      c.body(
        ReadableStream.from(["one ", "two ", "three"]).pipeThrough(
          new TextEncoderStream(),
        ),
      ),
  );
  hono.get("/cookies", (c) => {
    c.header("Set-Cookie", "a=1", { append: true });
    c.header("Set-Cookie", "b=2", { append: true });
    return c.text("cookies", 201);
  });
  return hono;
}

const home: App = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return ["gateway home"];
};

Deno.test("fromFetch() mounts a Hono app under /api inside a gateway stack", async () => {
  const stack = compose(
    proxyFix(),
    mount({ "/api": fromFetch(honoApp().fetch) }),
  )(home);
  await withServer(stack, async (server) => {
    const base = server.url;
    const user = await fetch(new URL("/api/users/42?q=x%20y", base));
    assert.deepEqual(await user.json(), { id: "42", q: "x y" });
    assert.equal(
      await (await fetch(new URL("/", base))).text(),
      "gateway home",
    );

    // The request body streams from wsgi.input into Hono.
    const echo = await fetch(new URL("/api/echo", base), {
      method: "POST",
      body: ReadableStream.from([
        encoder.encode("hello "),
        encoder.encode("hono"),
      ]),
    });
    assert.equal(await echo.text(), "echo: hello hono");

    // Hono's streamed response streams back through the gateway.
    const stream = await fetch(new URL("/api/stream", base));
    assert.equal(stream.headers.get("content-length"), null);
    assert.equal(await stream.text(), "one two three");

    const cookies = await fetch(new URL("/api/cookies", base));
    assert.equal(cookies.status, 201);
    assert.deepEqual(cookies.headers.getSetCookie(), ["a=1", "b=2"]);
    await cookies.body?.cancel();

    const missing = await fetch(new URL("/api/nothing", base));
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  });
});

Deno.test("toFetchHandler() serves a gateway app as a Hono route", async () => {
  const gateway: App = async (environ, startResponse) => {
    const body = await environ["wsgi.input"].read();
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return (function* () {
      yield `${environ.REQUEST_METHOD} ${environ.PATH_INFO} `;
      yield `${body.length} bytes`;
    })();
  };
  const handler = toFetchHandler(gateway);
  const hono = new Hono();
  hono.all("/wsgi/*", (c) => handler(c.req.raw));
  hono.get("/", (c) => c.text("hono home"));
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    hono.fetch,
  );
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    const response = await fetch(`${base}/wsgi/items`, {
      method: "POST",
      body: ReadableStream.from([
        encoder.encode("12345"),
        encoder.encode("678"),
      ]),
    });
    assert.equal(await response.text(), "POST /wsgi/items 8 bytes");
    assert.equal(await (await fetch(`${base}/`)).text(), "hono home");
  } finally {
    await server.shutdown();
  }
});
