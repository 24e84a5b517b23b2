/**
 * pythonApp() against Debian's gunicorn 20.1: the same raw requests to the
 * same Python apps (a plain WSGI function and a Flask app, with Debian's
 * /usr/bin/python3) under both servers, and the answers compared: status,
 * headers and de-framed body.
 *
 * Not compared, each for its rule:
 * - `Date`, `Server`: the server's own (RFC 9110 6.6.1, 10.2.4).
 * - `Connection`, `Transfer-Encoding`: framing, the server's to choose for
 *   its connection (RFC 9112 6.1, 9.6); bodies are compared de-chunked.
 * - A `Content-Length` we send, true to the body, where gunicorn chunks:
 *   for a body in one piece (a one-element list) PEP 3333 says "the server
 *   can automatically determine Content-Length by taking the length of the
 *   first bytestring yielded by the iterable", as wsgiref does.
 * - The body of a 500 the server makes when the app fails: PEP 3333 leaves
 *   it to the server ("the server or gateway may ... send an error
 *   message"), and ours names nothing of the app.
 * - Environ keys that name the server or its socket (`SERVER_SOFTWARE`,
 *   `SERVER_NAME`, `SERVER_PORT`, `REMOTE_PORT`, `gunicorn.*`): PEP 3333
 *   (CGI variables) lets each server fill them from where it listens.
 * - The reason phrase: Deno.serve sends the standard one for the code
 *   (Flask's "302 FOUND" goes out as "302 Found"); RFC 9112 4: "A client
 *   SHOULD ignore the reason-phrase content".
 * - `REQUEST_URI`, which we add beside `RAW_URI`: PEP 3333 (environ
 *   variables) asks servers to "provide as many other CGI variables as are
 *   applicable".
 * - The signature inside Flask's session cookie carries the time it was
 *   made; the cookie is compared with its signature masked. The order of
 *   Flask's `Allow` comes from a Python set, whose order changes with each
 *   process's hash seed; its methods are compared sorted.
 *
 * Listed differences, where gunicorn breaks a rule (the case carries it):
 * our answer is checked by tests/python/python_app_test.ts, and the case
 * is left out of the figure, as the other suites do.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { pythonApp } from "../../python.ts";
import { dechunk, parseRaw, rawRequest, withServer } from "../_helpers.ts";
import { reportAgreement, startGunicorn } from "./_reference.ts";
import { PY } from "../python/_python.ts";

const FIXTURES = fileURLToPath(new URL("../python/fixtures/", import.meta.url));
const DJANGO = `${FIXTURES}django_project`;

const SKIPPED = new Set(["date", "server", "connection", "transfer-encoding"]);
const SERVER_KEYS =
  /^(SERVER_SOFTWARE|SERVER_NAME|SERVER_PORT|REMOTE_PORT|REQUEST_URI|gunicorn\..*)$/;

interface Case {
  name: string;
  request: string;
  /** Compare the status only: the body is the server's own error page. */
  statusOnly?: boolean;
  /** Where gunicorn departs from a rule: the rule, quoted. */
  listed?: string;
}

/** A request with the head lines given, then Host and Connection: close. */
function request(head: string, body = ""): string {
  const length = body ? `Content-Length: ${body.length}\r\n` : "";
  return `${head}\r\nHost: localhost\r\n${length}Connection: close\r\n\r\n${body}`;
}

function multipart(target = "/upload"): string {
  const boundary = "XyZzY";
  const content = "ABCDEFGHIJKLMNOPQRSTUVWXYZ".repeat(2000);
  const body = `--${boundary}\r\n` +
    `Content-Disposition: form-data; name="file"; filename="letters.txt"\r\n` +
    `Content-Type: text/plain\r\n\r\n${content}\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nbig\r\n` +
    `--${boundary}--\r\n`;
  return request(
    `POST ${target} HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=${boundary}`,
    body,
  );
}

const PLAIN_CASES: Case[] = [
  { name: "hello", request: request("GET /hello HTTP/1.1") },
  { name: "write() then iterable", request: request("GET /write HTTP/1.1") },
  { name: "generator", request: request("GET /stream HTTP/1.1") },
  { name: "file_wrapper", request: request("GET /file HTTP/1.1") },
  { name: "204", request: request("GET /empty HTTP/1.1") },
  { name: "404", request: request("GET /nowhere HTTP/1.1") },
  {
    name: "HEAD",
    request: request("HEAD /hello HTTP/1.1"),
    listed:
      'gunicorn sends the body; RFC 9110 9.3.2: "the server MUST NOT send content in the response" to HEAD',
  },
  {
    name: "UTF-8 path and Latin-1 header",
    request: request("GET /path/%E2%98%95 HTTP/1.1\r\nX-Latin: caf\xe9 \xff"),
  },
  {
    name: "environ",
    request: request(
      "GET /environ?a=1&b=%20 HTTP/1.1\r\nX-Request-Id: 7\r\nAccept: */*",
    ),
  },
  {
    name: "POST environ",
    request: request(
      "POST /environ HTTP/1.1\r\nContent-Type: text/plain",
      "body",
    ),
  },
  {
    name: "echo",
    request: request("POST /echo HTTP/1.1", "x".repeat(100_000)),
  },
  {
    name: "readline and readlines",
    request: request("POST /lines HTTP/1.1", "one\ntwo\nthree\nfour"),
  },
  {
    name: "iteration over wsgi.input",
    request: request("POST /iterate HTTP/1.1", "a\nb\nc"),
  },
  {
    name: "exc_info replaces",
    request: request("GET /exc-info HTTP/1.1"),
    listed:
      'gunicorn keeps the first headers beside the new ones (two Content-Types); PEP 3333: "start_response should replace the currently-stored HTTP response headers with the newly-supplied ones"',
  },
  {
    name: "app raises",
    request: request("GET /raise HTTP/1.1"),
    statusOnly: true,
  },
  {
    name: "start_response twice",
    request: request("GET /twice HTTP/1.1"),
    statusOnly: true,
  },
];

const FLASK_CASES: Case[] = [
  { name: "index", request: request("GET / HTTP/1.1") },
  { name: "HEAD index", request: request("HEAD / HTTP/1.1") },
  { name: "JSON", request: request("GET /json HTTP/1.1") },
  {
    name: "JSON POST",
    request: request(
      "POST /json HTTP/1.1\r\nContent-Type: application/json",
      '{"a": [1, 2]}',
    ),
  },
  {
    name: "form POST",
    request: request(
      "POST /form HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded",
      "name=Zo%C3%AB&tag=a&tag=b",
    ),
  },
  { name: "multipart upload", request: multipart() },
  { name: "set cookie", request: request("GET /cookie/set HTTP/1.1") },
  {
    name: "read cookie",
    request: request("GET /cookie/get HTTP/1.1\r\nCookie: flavour=oatmeal"),
  },
  { name: "session", request: request("GET /session/add HTTP/1.1") },
  { name: "redirect", request: request("GET /redirect HTTP/1.1") },
  { name: "streamed", request: request("GET /stream HTTP/1.1") },
  { name: "error handler", request: request("GET /teapot HTTP/1.1") },
  { name: "404 handler", request: request("GET /nowhere HTTP/1.1") },
  {
    name: "405",
    request: request("DELETE /json HTTP/1.1"),
  },
];

const DJANGO_CASES: Case[] = [
  { name: "index", request: request("GET / HTTP/1.1") },
  {
    name: "HEAD index",
    request: request("HEAD / HTTP/1.1"),
    listed:
      'gunicorn sends the body; RFC 9110 9.3.2: "the server MUST NOT send content in the response" to HEAD',
  },
  { name: "query", request: request("GET /hello/?name=Zo%C3%AB HTTP/1.1") },
  { name: "APPEND_SLASH", request: request("GET /hello?name=x HTTP/1.1") },
  { name: "JSON", request: request("GET /json/?a=1&a=2&b= HTTP/1.1") },
  {
    name: "environ",
    request: request(
      "GET /environ/?q=1 HTTP/1.1\r\nX-Request-Id: 7\r\nCookie: a=b",
    ),
  },
  {
    name: "form POST",
    request: request(
      "POST /form/ HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded",
      "tag=a&tag=b&name=Zo%C3%AB",
    ),
  },
  {
    name: "CSRF refusal",
    request: request(
      "POST /guarded/ HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded",
      "a=1",
    ),
  },
  { name: "multipart upload", request: multipart("/upload/") },
  {
    name: "cookie",
    request: request("GET /cookie/ HTTP/1.1\r\nCookie: flavour=oatmeal"),
  },
  { name: "redirect", request: request("GET /redirect/ HTTP/1.1") },
  { name: "streamed", request: request("GET /stream/ HTTP/1.1") },
  { name: "FileResponse", request: request("GET /file/ HTTP/1.1") },
  { name: "view raises", request: request("GET /raise/ HTTP/1.1") },
  { name: "404", request: request("GET /nowhere/ HTTP/1.1") },
  {
    name: "disallowed host",
    request:
      "GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
  },
];

/** A response reduced to what both servers must agree on. */
function normalise(
  text: string,
  statusOnly: boolean,
  framing: boolean,
): string {
  const { head, body } = parseRaw(text);
  const status = head[0].split(" ")[1];
  if (statusOnly) return status;
  const chunked = head.some((line) =>
    /^transfer-encoding:\s*chunked$/i.test(line)
  );
  const headers = head.slice(1).map((line) => {
    const colon = line.indexOf(":");
    return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
  }).filter(([name]) =>
    !SKIPPED.has(name) && !(framing && name === "content-length")
  ).map(([name, value]) =>
    name === "allow"
      ? `${name}: ${value.split(/,\s*/).sort().join(", ")}`
      : name === "set-cookie"
      ? `${name}: ${
        value.replace(/^session=[^.;]+\.[^.;]+\.[^;]+/, "session=<signed>")
      }`
      : `${name}: ${value}`
  ).sort();
  let content = chunked ? dechunk(body) : body;
  if (
    content.startsWith("{") &&
    headers.includes("content-type: application/json")
  ) {
    const parsed = JSON.parse(content);
    const masked = Object.keys(parsed).some((key) => SERVER_KEYS.test(key));
    for (const key of Object.keys(parsed)) {
      if (SERVER_KEYS.test(key)) delete parsed[key];
    }
    content = JSON.stringify(parsed, null, 1);
    // A masked body's length says nothing.
    if (masked) {
      const at = headers.findIndex((line) =>
        line.startsWith("content-length:")
      );
      if (at >= 0) headers.splice(at, 1);
    }
  }
  return [status, ...headers, "", content].join("\n");
}

/**
 * Whether we sent a Content-Length, true to the body, where gunicorn
 * chunked the same body: then the header is framing, not compared.
 */
function lengthForChunks(ours: string, theirs: string): boolean {
  const { head, body } = parseRaw(ours);
  const length = head.find((line) => /^content-length:/i.test(line));
  const chunked = parseRaw(theirs).head.some((line) =>
    /^transfer-encoding:\s*chunked$/i.test(line)
  );
  return chunked && length !== undefined &&
    Number(length.split(":")[1]) === body.length;
}

async function compare(
  label: string,
  spec: string,
  gunicornSpec: string,
  cases: Case[],
  dir = FIXTURES,
): Promise<void> {
  const { process, port: gunicorn } = await startGunicorn(dir, gunicornSpec);
  await using app = pythonApp(`${dir}/${spec}`, PY);
  let agreed = 0;
  const differences: string[] = [];
  const listed: string[] = [];
  try {
    await app.ready;
    await withServer(app, async (_server, port) => {
      for (const { name, request, statusOnly = false, listed: rule } of cases) {
        const ourText = (await rawRequest(port, request, 20_000)).text;
        const theirText = (await rawRequest(gunicorn, request, 20_000)).text;
        const framing = lengthForChunks(ourText, theirText);
        const ours = normalise(ourText, statusOnly, framing);
        const theirs = normalise(theirText, statusOnly, framing);
        if (ours === theirs) agreed++;
        else if (rule) listed.push(`${name}: ${rule}`);
        else {
          differences.push(
            `${name}:\n--- ours\n${ours}\n--- gunicorn\n${theirs}`,
          );
        }
      }
    }, { errors: () => {} });
  } finally {
    await process.stop("SIGTERM");
  }
  reportAgreement(label, agreed, cases.length - listed.length);
  for (const line of listed) console.log(`  listed: ${line}`);
  assert.deepEqual(differences, []);
}

Deno.test("pythonApp() answers a plain WSGI app as gunicorn does", async () => {
  await compare(
    "pythonApp plain app vs gunicorn",
    "plain_app.py",
    "plain_app:application",
    PLAIN_CASES,
  );
});

Deno.test("pythonApp() answers a minimal Django project as gunicorn does", async () => {
  await compare(
    "pythonApp Django project vs gunicorn",
    "mysite/wsgi.py:application",
    "mysite.wsgi:application",
    DJANGO_CASES,
    DJANGO,
  );
});

Deno.test("pythonApp() answers a Flask app as gunicorn does", async () => {
  await compare(
    "pythonApp Flask app vs gunicorn",
    "flask_app.py:app",
    "flask_app:app",
    FLASK_CASES,
  );
});
