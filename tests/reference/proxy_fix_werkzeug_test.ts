/**
 * proxyFix against werkzeug's ProxyFix (Debian's python3-werkzeug 2.2): the
 * same requests, the environ our server built for each passed through both,
 * and the keys they rewrite compared. Where werkzeug is wrong, the case says
 * why, citing the RFC, and what we give instead.
 */
import assert from "node:assert/strict";
import type { App, Environ } from "../../mod.ts";
import { proxyFix, type ProxyFixOptions } from "../../middleware/mod.ts";
import { Client } from "../../testing.ts";
import { reportAgreement, runPython } from "./_reference.ts";

/** The keys ProxyFix rewrites, which it also keeps as the originals. */
const KEYS = [
  "REMOTE_ADDR",
  "wsgi.url_scheme",
  "HTTP_HOST",
  "SERVER_NAME",
  "SERVER_PORT",
  "SCRIPT_NAME",
] as const;

type Counts = {
  x_for?: number;
  x_proto?: number;
  x_host?: number;
  x_port?: number;
  x_prefix?: number;
};
type Keys = Record<string, string | null>;

interface Case {
  name: string;
  counts?: Counts;
  headers?: [string, string][];
  /** The client's URL: scheme and Host. */
  base?: string;
  remote?: string;
  /** Set when werkzeug is wrong: the rule, and the keys we give instead. */
  differs?: { rule: string; ours: Keys };
}

const xff = (value: string): [string, string][] => [[
  "X-Forwarded-For",
  value,
]];

const CASES: Case[] = [
  { name: "no X-Forwarded headers" },
  { name: "one X-Forwarded-For", headers: xff("203.0.113.7") },
  {
    name: "X-Forwarded-For, one trusted hop of two values",
    headers: xff("1.1.1.1, 203.0.113.7"),
  },
  {
    name: "X-Forwarded-For, two trusted hops",
    counts: { x_for: 2 },
    headers: xff("1.1.1.1, 203.0.113.7"),
  },
  {
    name: "X-Forwarded-For with fewer values than trusted hops",
    counts: { x_for: 3 },
    headers: xff("1.1.1.1, 203.0.113.7"),
  },
  {
    name: "X-Forwarded-For not trusted (x_for 0)",
    counts: { x_for: 0 },
    headers: xff("203.0.113.7"),
  },
  { name: "an IPv6 X-Forwarded-For", headers: xff("2001:db8::7") },
  {
    name: "X-Forwarded-For with spaces and tabs around values",
    counts: { x_for: 2 },
    headers: xff("203.0.113.7 ,\t10.0.0.9"),
  },
  {
    name: "X-Forwarded-For with a comma in a quoted string",
    counts: { x_for: 2 },
    headers: xff('"a, b", 203.0.113.7'),
  },
  {
    name: "X-Forwarded-For with a quoted-pair in a quoted string",
    counts: { x_for: 2 },
    headers: xff('"a\\"b", 203.0.113.7'),
  },
  {
    name: "X-Forwarded-For with quoted-pairs of backslashes",
    counts: { x_for: 2 },
    headers: xff('"a\\\\\\\\b\\c", 203.0.113.7'),
  },
  {
    name: "X-Forwarded-For with a trailing comma",
    headers: xff("203.0.113.7,"),
  },
  {
    name: "X-Forwarded-For with a leading comma, two hops",
    counts: { x_for: 2 },
    headers: xff(", 203.0.113.7"),
  },
  {
    name: "two X-Forwarded-For lines, combined",
    counts: { x_for: 2 },
    headers: [["X-Forwarded-For", "1.1.1.1"], [
      "X-Forwarded-For",
      "203.0.113.7",
    ]],
  },
  { name: "an empty X-Forwarded-For", headers: xff("") },
  { name: "the connection from IPv6 ::1", remote: "::1" },
  {
    name: "X-Forwarded-Proto https",
    headers: [["X-Forwarded-Proto", "https"]],
  },
  {
    name: "X-Forwarded-Proto http behind https",
    base: "https://localhost/",
    headers: [["X-Forwarded-Proto", "http"]],
  },
  {
    name: "X-Forwarded-Proto list, one hop",
    headers: [["X-Forwarded-Proto", "http, https"]],
  },
  {
    name: "X-Forwarded-Proto list, two hops",
    counts: { x_proto: 2 },
    headers: [["X-Forwarded-Proto", "http, https"]],
  },
  {
    name: "X-Forwarded-Host not trusted by default",
    headers: [["X-Forwarded-Host", "evil.test"]],
  },
  {
    name: "X-Forwarded-Host with a name",
    counts: { x_host: 1 },
    headers: [["X-Forwarded-Host", "example.test"]],
  },
  {
    name: "X-Forwarded-Host with a name and port",
    counts: { x_host: 1 },
    headers: [["X-Forwarded-Host", "example.test:8443"]],
  },
  {
    name: "X-Forwarded-Host with a bracketed IPv6 address",
    counts: { x_host: 1 },
    headers: [["X-Forwarded-Host", "[2001:db8::1]"]],
  },
  {
    name: "X-Forwarded-Host with a bracketed IPv6 address and port",
    counts: { x_host: 1 },
    headers: [["X-Forwarded-Host", "[2001:db8::1]:8443"]],
  },
  {
    name: "X-Forwarded-Host list, two hops",
    counts: { x_host: 2 },
    headers: [["X-Forwarded-Host", "a.test, b.test"]],
  },
  {
    name: "X-Forwarded-Host of empty elements only",
    counts: { x_host: 1 },
    headers: [["X-Forwarded-Host", ", "]],
  },
  {
    name: "X-Forwarded-Port",
    counts: { x_port: 1 },
    headers: [["X-Forwarded-Port", "443"]],
  },
  {
    name: "X-Forwarded-Port replaces the port of Host",
    base: "http://localhost:8080/",
    counts: { x_port: 1 },
    headers: [["X-Forwarded-Port", "443"]],
  },
  {
    name: "X-Forwarded-Port with an IPv6 Host",
    base: "http://[::1]:8080/",
    counts: { x_port: 1 },
    headers: [["X-Forwarded-Port", "443"]],
  },
  {
    name: "X-Forwarded-Port after X-Forwarded-Host",
    counts: { x_host: 1, x_port: 1 },
    headers: [["X-Forwarded-Host", "example.test:8443"], [
      "X-Forwarded-Port",
      "443",
    ]],
  },
  {
    name: "X-Forwarded-Port list, one hop",
    counts: { x_port: 1 },
    headers: [["X-Forwarded-Port", "80, 443"]],
  },
  {
    name: "X-Forwarded-Prefix",
    counts: { x_prefix: 1 },
    headers: [["X-Forwarded-Prefix", "/app"]],
  },
  {
    name: "X-Forwarded-Prefix list, two hops",
    counts: { x_prefix: 2 },
    headers: [["X-Forwarded-Prefix", "/outer, /inner"]],
  },
  {
    name: "all five headers behind two proxies",
    counts: { x_for: 2, x_proto: 2, x_host: 2, x_port: 2, x_prefix: 2 },
    headers: [
      ["X-Forwarded-For", "6.6.6.6, 203.0.113.7, 10.0.0.9"],
      ["X-Forwarded-Proto", "https, http"],
      ["X-Forwarded-Host", "example.test, internal.test"],
      ["X-Forwarded-Port", "443, 8080"],
      ["X-Forwarded-Prefix", "/app, /internal"],
    ],
  },
  // Where werkzeug is wrong.
  {
    name: "X-Forwarded-For with an empty element",
    counts: { x_for: 2 },
    headers: xff("203.0.113.7, , 10.0.0.9"),
    differs: {
      rule:
        'RFC 9110 5.6.1: "a recipient MUST parse and ignore a reasonable number of empty list elements"; werkzeug counts the empty one, so the second value from the right is "" and REMOTE_ADDR stays the proxy\'s',
      ours: { REMOTE_ADDR: "203.0.113.7" },
    },
  },
  {
    name: "X-Forwarded-For with a quoted string never closed",
    headers: xff('"6.6.6.6, 203.0.113.7'),
    differs: {
      rule:
        "RFC 9110 5.6.4: quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE; an open quote makes the list malformed, and werkzeug takes the client's text with the address the proxy appended swallowed into it",
      ours: { REMOTE_ADDR: "10.0.0.1" },
    },
  },
  {
    name: "X-Forwarded-For with a quoted string that holds quotes",
    counts: { x_for: 2 },
    headers: xff('"\\"a\\"", 203.0.113.7'),
    differs: {
      rule:
        "RFC 9110 5.6.4: a recipient MUST handle a quoted-pair as if it were replaced by the octet following the backslash, once; werkzeug unquotes twice and drops the quotes the value holds",
      ours: { REMOTE_ADDR: '"a"' },
    },
  },
  {
    name: "X-Forwarded-For ending in a no-break space",
    headers: xff("203.0.113.7\xa0"),
    differs: {
      rule:
        "RFC 9110 5.6.3: OWS = *( SP / HTAB ); U+00A0 is obs-text, part of the value, which Python's str.strip() drops",
      ours: { REMOTE_ADDR: "203.0.113.7\xa0" },
    },
  },
  {
    name: "X-Forwarded-Proto in capitals",
    headers: [["X-Forwarded-Proto", "HTTPS"]],
    differs: {
      rule:
        'RFC 3986 3.1: schemes are case-insensitive and "should only produce lowercase scheme names"; wsgiref.validate accepts only "http" and "https", and werkzeug passes "HTTPS" on',
      ours: { "wsgi.url_scheme": "https" },
    },
  },
  {
    name: "X-Forwarded-Proto of another scheme",
    headers: [["X-Forwarded-Proto", "javascript"]],
    differs: {
      rule:
        'RFC 9110 4.2: the schemes of HTTP are "http" and "https" (PEP 3333: wsgi.url_scheme "will have the value "http" or "https""); werkzeug sets wsgi.url_scheme to "javascript"',
      ours: { "wsgi.url_scheme": "http" },
    },
  },
  {
    name: "X-Forwarded-Port that is not a number",
    counts: { x_port: 1 },
    headers: [["X-Forwarded-Port", "80; evil"]],
    differs: {
      rule:
        'RFC 3986 3.2.3: port = *DIGIT; werkzeug writes "80; evil" into SERVER_PORT and HTTP_HOST',
      ours: { SERVER_PORT: "80", HTTP_HOST: "localhost" },
    },
  },
  {
    name: "X-Forwarded-Prefix with a trailing slash",
    counts: { x_prefix: 1 },
    headers: [["X-Forwarded-Prefix", "/app/"]],
    differs: {
      rule:
        'PEP 3333, URL Reconstruction: the URL is SCRIPT_NAME followed by PATH_INFO, which starts with "/"; werkzeug\'s "/app/" makes it "/app//"',
      ours: { SCRIPT_NAME: "/app" },
    },
  },
  {
    name: "X-Forwarded-Prefix of the root",
    counts: { x_prefix: 1 },
    headers: [["X-Forwarded-Prefix", "/"]],
    differs: {
      rule:
        'PEP 3333: SCRIPT_NAME "may be an empty string, if the application corresponds to the "root" of the server" (wsgiref.validate: "SCRIPT_NAME cannot be \'/\'"); werkzeug sets "/"',
      ours: { SCRIPT_NAME: "" },
    },
  },
  {
    name: "X-Forwarded-Prefix without a leading slash",
    counts: { x_prefix: 1 },
    headers: [["X-Forwarded-Prefix", "app"]],
    differs: {
      rule:
        'PEP 3333: SCRIPT_NAME is "the initial portion of the request URL\'s "path"", and an absolute path starts with "/" (RFC 3986 3.3; wsgiref.validate: "SCRIPT_NAME doesn\'t start with /"); werkzeug sets "app"',
      ours: { SCRIPT_NAME: "" },
    },
  },
];

/** Our options for werkzeug's counts. */
function options(counts: Counts = {}): ProxyFixOptions {
  return {
    xFor: counts.x_for,
    xProto: counts.x_proto,
    xHost: counts.x_host,
    xPort: counts.x_port,
    xPrefix: counts.x_prefix,
  };
}

function pick(source: Record<string, unknown>): Keys {
  const keys: Keys = {};
  for (const key of KEYS) {
    const value = source[key];
    keys[key] = typeof value === "string" ? value : null;
  }
  return keys;
}

interface Result {
  /** The environ proxyFix was given: its string keys. */
  before: Record<string, string>;
  after: Keys;
  orig: Keys;
}

/** Runs one case through our server's environ and proxyFix. */
async function ours(c: Case): Promise<Result> {
  let result: Result | undefined;
  const report: App = (environ, startResponse) => {
    result!.after = pick(environ);
    result!.orig = pick(environ["proxy_fix.orig"] as Record<string, unknown>);
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return [];
  };
  const fixed = proxyFix(options(c.counts))(report);
  const capture: App = (environ: Environ, startResponse) => {
    const before: Record<string, string> = {};
    for (const [key, value] of Object.entries(environ)) {
      if (typeof value === "string") before[key] = value;
    }
    result = { before, after: {}, orig: {} };
    return fixed(environ, startResponse);
  };
  const client = new Client(capture, {
    baseUrl: c.base,
    remoteAddr: c.remote ?? "10.0.0.1",
  });
  const response = await client.get("/", { headers: c.headers });
  assert.equal(response.status, 200, c.name);
  return result!;
}

/** Runs every environ through werkzeug's ProxyFix in one interpreter. */
const WERKZEUG = `
import json, sys
from werkzeug.middleware.proxy_fix import ProxyFix

KEYS = ${JSON.stringify(KEYS)}
out = []
for case in json.load(sys.stdin):
    seen = {}
    def app(environ, start_response):
        seen.update(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return []
    ProxyFix(app, **case["counts"])(case["environ"], lambda *args: None)
    orig = seen["werkzeug.proxy_fix.orig"]
    out.append({
        "after": {key: seen.get(key) for key in KEYS},
        "orig": {key: orig.get(key) for key in KEYS},
    })
json.dump(out, sys.stdout)
`;

Deno.test("proxyFix() rewrites the environ as werkzeug's ProxyFix does", async () => {
  const results: Result[] = [];
  for (const c of CASES) results.push(await ours(c));
  const theirs = await runPython<{ after: Keys; orig: Keys }[]>(
    WERKZEUG,
    CASES.map((c, i) => ({
      counts: { x_for: 1, x_proto: 1, ...c.counts },
      environ: results[i].before,
    })),
  );
  let agreed = 0;
  let compared = 0;
  const differences: string[] = [];
  CASES.forEach((c, i) => {
    const mine = results[i];
    const werkzeug = theirs[i];
    // The originals are what both were given, always comparable.
    assert.deepEqual(mine.orig, werkzeug.orig, `${c.name}: the originals`);
    if (c.differs === undefined) {
      compared++;
      assert.deepEqual(mine.after, werkzeug.after, c.name);
      agreed++;
      return;
    }
    // A listed case must still differ, and exactly where it says.
    const expected = { ...werkzeug.after, ...c.differs.ours };
    assert.deepEqual(mine.after, expected, `${c.name}: ours`);
    assert.notDeepEqual(mine.after, werkzeug.after, `${c.name}: still differs`);
    differences.push(`  ${c.name}: ${c.differs.rule}`);
  });
  reportAgreement("proxyFix vs werkzeug ProxyFix", agreed, compared);
  console.log(
    `listed differences, where werkzeug is wrong: ${differences.length}\n${
      differences.join("\n")
    }`,
  );
  assert.ok(compared >= 30, `only ${compared} comparable cases`);
});
