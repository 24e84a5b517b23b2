/**
 * The debugger console against a real dev server: the PIN, the lock after
 * ten wrong ones, trusted Host values, and evaluation inside the app's
 * Worker (its exports, its globals, an error page's error and environ).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempProject, withDev } from "./_helpers.ts";
import { consoleRefusal } from "../../dev.ts";
import {
  hostName,
  hostTrusted,
  isLoopback,
  MAX_TRIES,
} from "../../_dev/debugger/pin_guard.ts";
import { rawRequest } from "../_helpers.ts";

const PIN = "314-159-265";

function project(secret = "first secret"): Promise<string> {
  return tempProject({
    "app.ts": `export const secret = ${JSON.stringify(secret)};
let hits = 0;
export default (environ: { PATH_INFO: string }, startResponse: (s: string, h: [string, string][]) => unknown) => {
  (globalThis as Record<string, unknown>).hits = ++hits;
  if (environ.PATH_INFO === "/boom") throw new Error("kaboom");
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return ["ok"];
};
`,
  });
}

/** POSTs JSON to a debugger endpoint, as the console's page does. */
async function post(
  url: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown>; cookie: string }> {
  const response = await fetch(`${url}__wsgi_dev__/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const cookie = (response.headers.get("set-cookie") ?? "").split(";")[0];
  return { status: response.status, json: await response.json(), cookie };
}

Deno.test("console: the PIN is required, and the right one lets an expression read the app's exports and globals", async () => {
  await withDev(await project(), async (dev) => {
    assert.equal(dev.pin, PIN);
    const locked = await post(dev.url, "eval", { source: "exports.secret" });
    assert.equal(locked.status, 401);
    assert.match(String(locked.json.error), /Enter the debugger PIN first/);

    const wrong = await post(dev.url, "pin", { pin: "000-000-000" });
    assert.equal(wrong.status, 403);
    assert.equal(wrong.cookie, "");
    assert.match(String(wrong.json.error), /Wrong PIN: 9 tries left/);

    // The PIN is accepted without its dashes too.
    const right = await post(dev.url, "pin", { pin: PIN.replaceAll("-", "") });
    assert.equal(right.status, 200);
    assert.match(right.cookie, /^wsgi_dev_console=[0-9a-f]{64}$/);
    const cookie = { cookie: right.cookie };

    const secret = await post(dev.url, "eval", {
      source: "exports.secret",
    }, cookie);
    assert.deepEqual(secret.json, { ok: true, output: '"first secret"' });

    await (await fetch(dev.url)).text();
    await (await fetch(dev.url)).text();
    const hits = await post(dev.url, "eval", {
      source: "globalThis.hits",
    }, cookie);
    assert.deepEqual(hits.json, { ok: true, output: "2" });

    // Statements run as a function body; await works.
    const statements = await post(dev.url, "eval", {
      source: "const x = await Promise.resolve(20); return x + 1",
    }, cookie);
    assert.deepEqual(statements.json, { ok: true, output: "21" });

    const thrown = await post(
      dev.url,
      "eval",
      { source: "nothing.here" },
      cookie,
    );
    assert.equal(thrown.json.ok, false);
    assert.match(
      String(thrown.json.output),
      /^Uncaught ReferenceError: nothing is not defined/,
    );
    assert.doesNotMatch(
      String(thrown.json.output),
      /_dev\/(generation_worker|debugger\/console_eval)\.ts:\d+:\d+\)\n/,
    );
  }, { pin: PIN });
});

Deno.test("console: an error page's console sees its error and environ, and the PIN and cookie outlive a reload", async () => {
  await withDev(await project(), async (dev, dir) => {
    const { cookie } = await post(dev.url, "pin", { pin: PIN });
    const page = await (await fetch(`${dev.url}boom`, {
      headers: { accept: "text/html" },
    })).text();
    const key = page.match(/<section id="console" data-error="([^"]+)"/)?.[1];
    assert.ok(key, "the error page has a console");
    const seen = await post(dev.url, "eval", {
      source: "`${error.message} at ${environ.PATH_INFO}`",
      error: key,
    }, { cookie });
    assert.deepEqual(seen.json, { ok: true, output: '"kaboom at /boom"' });

    await Deno.writeTextFile(
      join(dir, "app.ts"),
      (await Deno.readTextFile(join(dir, "app.ts"))).replace(
        "first secret",
        "second secret",
      ),
    );
    const deadline = Date.now() + 10_000;
    let output = "";
    while (output !== '"second secret"') {
      assert.ok(Date.now() < deadline, `never saw the new version: ${output}`);
      await new Promise((resolve) => setTimeout(resolve, 30));
      const answer = await post(dev.url, "eval", {
        source: "exports.secret",
      }, { cookie });
      assert.equal(answer.status, 200, "the cookie outlives the reload");
      output = String(answer.json.output);
    }
    assert.equal(dev.pin, PIN);
    // The old page's error went with its generation, and it says so.
    const stale = await post(dev.url, "eval", {
      source: "error",
      error: key,
    }, { cookie });
    assert.equal(stale.json.ok, false);
    assert.match(String(stale.json.output), /earlier version of the app/);
  }, { pin: PIN });
});

Deno.test(`console: ${MAX_TRIES} wrong PINs lock it for the session, the right one included`, async () => {
  await withDev(await project(), async (dev) => {
    for (let i = 1; i <= MAX_TRIES; i++) {
      const wrong = await post(dev.url, "pin", { pin: `${i}` });
      assert.equal(wrong.status, 403);
      assert.equal(wrong.json.triesLeft, MAX_TRIES - i);
    }
    const right = await post(dev.url, "pin", { pin: PIN });
    assert.equal(right.status, 403);
    assert.equal(right.cookie, "");
    assert.match(String(right.json.error), /locked after 10 wrong PINs/);
    const state = await (await fetch(`${dev.url}__wsgi_dev__/pin`)).json();
    assert.deepEqual(state, {
      authenticated: false,
      locked: true,
      triesLeft: 0,
    });
    const evaluated = await post(dev.url, "eval", { source: "1" });
    assert.equal(evaluated.status, 401);
    assert.match(String(evaluated.json.error), /locked/);
  }, { pin: PIN });
});

Deno.test("console: a foreign Host, a foreign Origin and a form post are refused, each naming its rule", async () => {
  await withDev(await project(), async (dev) => {
    const { cookie } = await post(dev.url, "pin", { pin: PIN });
    // DNS rebinding: a foreign name that resolves to 127.0.0.1 still sends
    // its own name as Host.
    for (const path of ["pin", "eval"]) {
      const { text: raw } = await rawRequest(
        dev.addr.port,
        `POST /__wsgi_dev__/${path} HTTP/1.1\r\nHost: evil.example:${dev.addr.port}\r\n` +
          `Cookie: ${cookie}\r\nContent-Type: application/json\r\nContent-Length: 31\r\nConnection: close\r\n\r\n` +
          `{"pin":"${PIN}","source":"1"}`,
      );
      assert.match(raw, /^HTTP\/1\.1 403 /);
      assert.match(raw, /trusted Host values[^\n]*evil\.example/);
      assert.doesNotMatch(raw, /set-cookie/i);
    }
    const { text: consolePage } = await rawRequest(
      dev.addr.port,
      `GET /__wsgi_dev__/console HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`,
    );
    assert.match(consolePage, /^HTTP\/1\.1 403 /);

    // The traceback page for a foreign Host has no console on it.
    const { text: page } = await rawRequest(
      dev.addr.port,
      `GET /boom HTTP/1.1\r\nHost: evil.example\r\nAccept: text/html\r\nConnection: close\r\n\r\n`,
    );
    assert.match(page, /^HTTP\/1\.1 500 /);
    assert.match(page, /kaboom/);
    assert.doesNotMatch(page, /id="console"/);
    // Trusted names: localhost with its port, the bound address.
    const local = await (await fetch(
      `http://localhost:${dev.addr.port}/boom`,
      { headers: { accept: "text/html" } },
    )).text();
    assert.match(local, /id="console"/);

    const origin = await post(dev.url, "eval", { source: "1" }, {
      cookie,
      origin: "http://evil.example",
    });
    assert.equal(origin.status, 403);
    assert.match(String(origin.json.error), /only from its own pages/);

    const form = await fetch(`${dev.url}__wsgi_dev__/eval`, {
      method: "POST",
      headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
      body: "source=1",
    });
    assert.equal(form.status, 415);
    assert.match((await form.json()).error, /takes JSON/);
  }, { pin: PIN });
});

Deno.test("console: --no-debugger gives a bare 500 and no console", async () => {
  await withDev(await project(), async (dev) => {
    assert.equal(dev.pin, undefined);
    const boom = await fetch(`${dev.url}boom`, {
      headers: { accept: "text/html" },
    });
    assert.equal(boom.status, 500);
    assert.equal(await boom.text(), "Internal Server Error\n");
    const refused = await post(dev.url, "pin", { pin: PIN });
    assert.equal(refused.status, 404);
    assert.match(String(refused.json.error), /--no-debugger/);
  }, { debugger: false, pin: PIN });
});

Deno.test("console: trusted hosts and the refusal to expose it beyond loopback", () => {
  assert.equal(hostName("LocalHost:8000"), "localhost");
  assert.equal(hostName("[::1]:8000"), "::1");
  assert.equal(hostName("::1"), "::1");
  for (
    const host of [
      "localhost",
      "app.localhost:3000",
      "127.0.0.1:1",
      "[::1]:80",
      "127.1.2.3",
    ]
  ) {
    assert.ok(hostTrusted(host, []), host);
  }
  for (
    const host of [
      "evil.example",
      "localhost.evil.example",
      "127.0.0.1.nip.io",
      // An IP-literal ends at its "]"; only ":port" may follow (RFC 3986 3.2.2).
      "[::1]evil.example",
      "",
      null,
    ]
  ) {
    assert.ok(!hostTrusted(host, []), String(host));
  }
  assert.ok(hostTrusted("myapp.test:8000", ["myapp.test"]));
  assert.ok(
    isLoopback("127.0.0.1") && isLoopback("::1") && !isLoopback("0.0.0.0"),
  );
  assert.equal(consoleRefusal("127.0.0.1", false), undefined);
  assert.equal(consoleRefusal("localhost", false), undefined);
  assert.match(
    consoleRefusal("0.0.0.0", false)!,
    /not a loopback address.*--expose-console/,
  );
  assert.match(consoleRefusal("192.168.1.5", false)!, /--expose-console/);
  assert.equal(consoleRefusal("0.0.0.0", true), undefined);
});
