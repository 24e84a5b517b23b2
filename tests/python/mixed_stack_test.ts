/**
 * examples/mixed_stack.ts through a real server: the Flask app of
 * examples/legacy/app.py under /legacy (Debian's Flask) and a TypeScript
 * Router under /api, behind proxyFix, accessLog and compress in one
 * compose(...).
 */
import assert from "node:assert/strict";
import { createApp } from "../../examples/mixed_stack.ts";
import { parseRaw, rawRequest, Spawned, withServer } from "../_helpers.ts";
import { PY } from "./_python.ts";
import { alive, childPids } from "./_cli.ts";

/** A GET over a raw socket with extra header lines; head lines and body. */
async function get(
  port: number,
  target: string,
  headers = "",
): Promise<{ head: string[]; body: string }> {
  const { text } = await rawRequest(
    port,
    `GET ${target} HTTP/1.1\r\nHost: localhost\r\n${headers}Connection: close\r\n\r\n`,
    20_000,
  );
  return parseRaw(text);
}

function header(head: string[], name: string): string | undefined {
  const line = head.find((line) =>
    line.toLowerCase().startsWith(`${name.toLowerCase()}:`)
  );
  return line?.slice(line.indexOf(":") + 1).trim();
}

const FORWARDED = "X-Forwarded-For: 203.0.113.7\r\n" +
  "X-Forwarded-Proto: https\r\nX-Forwarded-Host: shop.example\r\n";

Deno.test("mixed_stack createApp() mounts Flask under /legacy beside a TypeScript Router, behind proxyFix, accessLog and compress", async () => {
  const lines: string[] = [];
  await using app = createApp({
    python: PY.python,
    env: PY.env,
    log: (line) => void lines.push(line),
  });
  await app.ready;
  await withServer(app, async (_server, port) => {
    // Flask sees the mount as SCRIPT_NAME, and url_for builds on it.
    const index = await get(port, "/legacy/");
    assert.match(index.body, /href="\/legacy\/report"/);
    assert.match(index.body, /href="\/legacy\/whoami"/);
    const moved = await get(port, "/legacy/old");
    assert.match(moved.head[0], /^HTTP\/1\.1 302 /);
    assert.equal(header(moved.head, "location"), "/legacy/");

    // What proxyFix took from the proxy's headers reaches Flask.
    const who = JSON.parse((await get(port, "/legacy/whoami", FORWARDED)).body);
    assert.deepEqual(who, {
      script_name: "/legacy",
      path: "/whoami",
      url: "https://shop.example/legacy/whoami",
      report: "https://shop.example/legacy/report",
      remote_addr: "203.0.113.7",
      scheme: "https",
      host: "shop.example",
    });

    // compress compresses Flask's big response, and only when asked.
    const plain = await get(port, "/legacy/report");
    assert.equal(header(plain.head, "content-encoding"), undefined);
    assert.ok(plain.body.length > 10_000);
    const response = await fetch(`http://127.0.0.1:${port}/legacy/report`, {
      headers: { "accept-encoding": "gzip" },
    });
    // fetch decodes the body; the wire size is the Content-Length.
    assert.equal(response.headers.get("content-encoding"), "gzip");
    assert.match(response.headers.get("vary") ?? "", /Accept-Encoding/);
    assert.ok(
      Number(response.headers.get("content-length")) < plain.body.length / 5,
    );
    assert.equal(await response.text(), plain.body);

    // The TypeScript routes under /api, the home page outside both.
    const hello = await get(port, "/api/hello");
    assert.deepEqual(JSON.parse(hello.body), { hello: "from TypeScript" });
    assert.match((await get(port, "/")).body, /href="\/legacy\/"/);
    const missing = await get(port, "/api/nowhere");
    assert.match(missing.head[0], /^HTTP\/1\.1 404 /);
  }, { errors: () => {} });
  // The log names the client proxyFix found, for Flask's routes and ours.
  assert.ok(
    lines.some((line) =>
      line.startsWith("203.0.113.7 - - ") &&
      line.includes('"GET /legacy/whoami HTTP/1.1" 200')
    ),
    lines.join(""),
  );
  assert.ok(
    lines.some((line) => line.includes('"GET /api/hello HTTP/1.1" 200')),
  );
});

Deno.test("mixed_stack.ts run as a program serves the stack, and drains and closes the pool on SIGTERM", async () => {
  const child = new Spawned(Deno.execPath(), [
    "run",
    "-A",
    new URL("../../examples/mixed_stack.ts", import.meta.url).pathname,
  ], { PORT: "0", PYTHON: PY.python!, ...PY.env });
  const url = (await child.waitFor(/Listening on (\S+)\n/, "stdout"))[1];
  try {
    const pids = childPids(child.child.pid);
    assert.equal(pids.length, 2);
    const page = await fetch(new URL("/legacy/", url));
    assert.match(await page.text(), /href="\/legacy\/report"/);
    child.child.kill("SIGTERM");
    assert.equal((await child.stop(undefined, 30_000)).code, 0);
    for (const pid of pids) assert.equal(alive(pid), false);
  } finally {
    await child.stop("SIGKILL");
  }
});
