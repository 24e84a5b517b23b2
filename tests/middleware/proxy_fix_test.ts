/** proxyFix: trusted hop counts for X-Forwarded-*, originals kept. */
import assert from "node:assert/strict";
import { type App, type AppLike, toApp } from "../../mod.ts";
import {
  proxyFix,
  type ProxyFixOptions,
  validator,
} from "../../middleware/mod.ts";
import { Client } from "../../testing.ts";

/** The subject under the validator, which checks both sides of the contract. */
const linted = (app: AppLike) => validator()(toApp(app));

const report: App = (environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "application/json"]]);
  return [JSON.stringify({
    addr: environ.REMOTE_ADDR,
    scheme: environ["wsgi.url_scheme"],
    host: environ.HTTP_HOST,
    name: environ.SERVER_NAME,
    port: environ.SERVER_PORT,
    script: environ.SCRIPT_NAME,
    orig: environ["proxy_fix.orig"],
  })];
};

type Report = Record<string, unknown> & { orig: Record<string, string> };

async function fixed(
  options: ProxyFixOptions | undefined,
  headers: Record<string, string>,
) {
  const client = new Client(linted(proxyFix(options)(report)), {
    remoteAddr: "10.0.0.1",
  });
  return (await client.get("/", { headers })).json<Report>();
}

Deno.test("proxyFix() trusts one X-Forwarded-For and -Proto hop by default", async () => {
  const answer = await fixed(undefined, {
    "X-Forwarded-For": "203.0.113.7",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "evil.test",
  });
  assert.equal(answer.addr, "203.0.113.7");
  assert.equal(answer.scheme, "https");
  // Host is not trusted by default.
  assert.equal(answer.host, "localhost");
  assert.deepEqual(answer.orig, {
    REMOTE_ADDR: "10.0.0.1",
    "wsgi.url_scheme": "http",
    HTTP_HOST: "localhost",
    SERVER_NAME: "localhost",
    SERVER_PORT: "80",
    SCRIPT_NAME: "",
  });
});

Deno.test("proxyFix() ignores values a client added before the trusted hops", async () => {
  // The client sent "1.1.1.1"; proxy one appended the client's real
  // address, proxy two appended proxy one's.
  const header = { "X-Forwarded-For": "1.1.1.1, 203.0.113.7, 10.0.0.9" };
  assert.equal((await fixed({ xFor: 2 }, header)).addr, "203.0.113.7");
  assert.equal((await fixed({ xFor: 1 }, header)).addr, "10.0.0.9");
  // Fewer values than trusted hops: the header cannot be trusted at all.
  assert.equal((await fixed({ xFor: 4 }, header)).addr, "10.0.0.1");
  assert.equal((await fixed({ xFor: 0 }, header)).addr, "10.0.0.1");
});

Deno.test("proxyFix() applies X-Forwarded-Host, -Port and -Prefix when trusted", async () => {
  const answer = await fixed({ xHost: 1, xPort: 1, xPrefix: 1 }, {
    "X-Forwarded-Host": "example.test:8443",
    "X-Forwarded-Port": "443",
    "X-Forwarded-Prefix": "/app/",
  });
  assert.equal(answer.host, "example.test:443");
  assert.equal(answer.name, "example.test");
  assert.equal(answer.port, "443");
  assert.equal(answer.script, "/app");
});

Deno.test("proxyFix() ignores a scheme other than http or https, and a non-numeric port", async () => {
  const answer = await fixed({ xPort: 1 }, {
    "X-Forwarded-Proto": "javascript",
    "X-Forwarded-Port": "80; evil",
  });
  assert.equal(answer.scheme, "http");
  assert.equal(answer.port, "80");
});

Deno.test("proxyFix() ignores an X-Forwarded-Prefix that is not a path", async () => {
  const prefixed = (prefix: string) =>
    fixed({ xPrefix: 1 }, { "X-Forwarded-Prefix": prefix });
  assert.equal((await prefixed("app")).script, "");
  assert.equal((await prefixed("/")).script, "");
  assert.equal((await prefixed("/app//")).script, "/app");
});

Deno.test("proxyFix() refuses a count that is not a whole number", () => {
  assert.throws(() => proxyFix({ xFor: -1 }), /Cannot use proxyFix xFor: -1/);
  assert.throws(
    () => proxyFix({ xHost: 1.5 }),
    /a count of proxies is a whole number/,
  );
});

Deno.test("proxyFix() splits X-Forwarded-For as an RFC 9110 list, minding quoted strings", async () => {
  // The comma inside the quoted string does not separate elements.
  const quoted = { "X-Forwarded-For": '"a, b", 203.0.113.7' };
  assert.equal((await fixed({ xFor: 2 }, quoted)).addr, "a, b");
  assert.equal((await fixed({ xFor: 3 }, quoted)).addr, "10.0.0.1");
  // RFC 9110 5.6.1: empty elements are ignored, not counted.
  const empty = { "X-Forwarded-For": "203.0.113.7, , 10.0.0.9," };
  assert.equal((await fixed({ xFor: 2 }, empty)).addr, "203.0.113.7");
  // A quoted string never closed swallows the values the proxies appended
  // after it: the list is malformed and not trusted at all.
  const open = { "X-Forwarded-For": '"6.6.6.6, 203.0.113.7' };
  assert.equal((await fixed({ xFor: 1 }, open)).addr, "10.0.0.1");
});

Deno.test("proxyFix() does not read the headers of proxies it does not trust", async () => {
  const read: string[] = [];
  const app = proxyFix({ xFor: 1, xProto: 0 })(report);
  const spy: App = (environ, startResponse) =>
    app(
      new Proxy(environ, {
        get(target, key, receiver) {
          if (typeof key === "string" && key.startsWith("HTTP_X_")) {
            read.push(key);
          }
          return Reflect.get(target, key, receiver);
        },
      }),
      startResponse,
    );
  const response = await new Client(linted(spy)).get("/", {
    headers: {
      "X-Forwarded-For": "203.0.113.7",
      "X-Forwarded-Proto": "https",
      "X-Forwarded-Host": "example.test",
    },
  });
  const seen = response.json() as { addr: string; scheme: string };
  assert.equal(seen.addr, "203.0.113.7");
  assert.equal(seen.scheme, "http");
  assert.deepEqual(read, ["HTTP_X_FORWARDED_FOR"]);
});
