/**
 * The environ against gunicorn's: the same raw request, byte for byte, goes
 * over a socket to Debian's gunicorn (sync worker) serving
 * fixtures/environ_echo.py and to serve() serving fixtures/environ_echo.ts,
 * both on TCP, both mounted at `/app`, or both on unix sockets. Both echo the
 * whole environ and the body they read from `wsgi.input`, with every string
 * as its code points, and the two must be identical.
 *
 * Some keys differ between any two servers and are checked for their own
 * shape instead (see `compareServerKeys`). A case where our answer differs
 * on purpose lists the difference, both sides' values, and the sentence of
 * PEP 3333 or the RFC that allows ours; one where Deno.serve leaves no choice
 * lists that limitation instead. The figure printed at the end counts the
 * cases where the environs agree apart from exactly what is listed.
 */
import assert from "node:assert/strict";
import { serve } from "../../server.ts";
import { rawRequest, Spawned } from "../_helpers.ts";
import { reportAgreement, startGunicorn } from "./_reference.ts";
import { environEcho } from "./fixtures/environ_echo.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;

/** An environ value as both echo apps encode it. */
type Encoded =
  | { str: number[] }
  | { object: string }
  | boolean
  | number
  | null
  | Encoded[];

/** What one server answered: its status, and the echo if it ran the app. */
interface Answer {
  status: number;
  environ?: Record<string, Encoded>;
  body?: string;
}

/** A key's value in a listed difference: a string, or absent. */
type Value = string | undefined;

interface Case {
  /** Completes the test name "environ matches gunicorn's for ...". */
  name: string;
  /** The request, one character per byte. */
  request: string;
  /**
   * Which pair of servers it goes to: by default both listen on TCP and
   * serve from the root; `mounted` ones serve from `/app` (gunicorn with
   * SCRIPT_NAME in its environment, serve() with `scriptName`); `unix` ones
   * listen on unix sockets.
   */
  on?: "mounted" | "unix";
  /**
   * Keys whose values differ: `[gunicorn's, ours]`, each checked exactly,
   * then left out of the comparison.
   */
  differs?: Record<string, [Value, Value]>;
  /** `[gunicorn's, ours]` base64 body read from `wsgi.input`, when they differ. */
  body?: [string, string];
  /** `[gunicorn's, ours]` when either side does not answer 200. */
  status?: [number, number];
  /** The sentence of PEP 3333 or the RFC that allows our answer. */
  because?: string;
  /**
   * Why ours cannot be gunicorn's: what Deno.serve does not tell the
   * handler. No rule allows these; they are listed so that they stay known.
   */
  limitation?: string;
}

const HOST_400 = "RFC 9112 §3.2: A server MUST respond with a 400 (Bad " +
  "Request) status code to any HTTP/1.1 request message that lacks a Host " +
  "header field and to any request message that contains more than one " +
  "Host header field line or a Host header field with an invalid field value";
const INVALID_TARGET = "RFC 9112 §3: Recipients of an invalid request-line " +
  "SHOULD respond with either a 400 (Bad Request) error or a 301 (Moved " +
  "Permanently) redirect with the request-target properly encoded " +
  "(RFC 3986 has no raw octet above 0x7F in a URI; Deno.serve answers 400 " +
  "when the octets are not UTF-8)";
const NO_VERSION = "Deno.serve does not tell the handler the request's HTTP " +
  "version (denoland/deno#29873), so SERVER_PROTOCOL is always HTTP/1.1; " +
  "RFC 3875 §4.1.16 wants the request's own";
const NO_VERSION_HOST = "Deno.serve does not tell the handler the " +
  "request's HTTP version (denoland/deno#29873), so HTTP/1.1's rule (" +
  HOST_400 + ") answers HTTP/1.0 too, which may omit Host";
/** Over a unix socket: gunicorn's peer is "", ours loopback (README). */
const UNIX_PEER: Record<string, [Value, Value]> = {
  REMOTE_ADDR: ["", "127.0.0.1"],
  REMOTE_PORT: [undefined, "0"],
};
const UNIX_PEER_RULE = "RFC 3875 §4.1.8: The REMOTE_ADDR variable MUST " +
  "be set to the network address of the client sending the request to the " +
  "server; gunicorn's empty string is no address, and a unix socket's peer " +
  "is on this machine (README, The environ)";
const NO_TARGET = "Deno.serve gives the handler a URL, not the " +
  "request-target as received, so RAW_URI holds the path and query " +
  "(README, The environ); RAW_URI is no CGI or PEP 3333 variable";

/**
 * A request whose head is `line` and `headers` (a Host by default), ending
 * with `Connection: close` on HTTP/1.1 so that the answer ends with the
 * connection.
 */
function request(
  line: string,
  headers: string[] = ["Host: example.test"],
  body = "",
): string {
  const close = line.endsWith("HTTP/1.1") ? ["Connection: close"] : [];
  return [line, ...headers, ...close].join("\r\n") + "\r\n\r\n" + body;
}

/** A GET of `target` with a Host and `headers`. */
function get(target: string, headers: string[] = []): string {
  return request(`GET ${target} HTTP/1.1`, ["Host: example.test", ...headers]);
}

/** A request with a body sized by Content-Length. */
function sized(method: string, body: string, headers: string[] = []): string {
  return request(`${method} /upload HTTP/1.1`, [
    "Host: example.test",
    ...headers,
    `Content-Length: ${body.length}`,
  ], body);
}

/** `body` in chunks of `size` bytes, chunked transfer coding. */
function chunked(body: string, size: number): string {
  let out = "";
  for (let at = 0; at < body.length; at += size) {
    const chunk = body.slice(at, at + size);
    out += `${chunk.length.toString(16)}\r\n${chunk}\r\n`;
  }
  return out + "0\r\n\r\n";
}

/** Every byte value once, as a native string. */
const ALL_BYTES = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i))
  .join("");

const CASES: Case[] = [
  // Paths, with every escape and raw bytes.
  { name: "the root path", request: get("/") },
  { name: "a plain path", request: get("/a/b/c.txt") },
  { name: "a trailing slash", request: get("/dir/") },
  { name: "an escaped space", request: get("/a%20b") },
  { name: "an escaped slash", request: get("/a%2Fb/c") },
  { name: "an escaped percent sign", request: get("/100%25") },
  { name: "UTF-8 escapes", request: get("/caf%C3%A9") },
  { name: "lowercase hex escapes", request: get("/caf%c3%a9") },
  { name: "malformed escapes", request: get("/a%ZZb%4%") },
  { name: "an escaped NUL", request: get("/a%00b") },
  {
    name: "every escape from %00 to %FF",
    request: get(
      "/" +
        Array.from(
          { length: 256 },
          (_, i) => "%" + i.toString(16).padStart(2, "0").toUpperCase(),
        ).join(""),
    ),
  },
  { name: "raw sub-delimiters", request: get("/a;b,c=d@e:f!$&'()*+") },
  { name: "unreserved characters", request: get("/~user/a-b_c.d") },
  { name: "dot segments", request: get("/a/./b/../c") },
  { name: "escaped dot segments", request: get("/a/%2e%2e/b/%2E/c") },
  { name: "repeated slashes", request: get("//a//b/") },
  { name: "an escaped question mark and plus", request: get("/a%3Fb%2Bc") },
  {
    name: "printable characters outside RFC 3986",
    request: get('/a"b{c}|d^e`f\\g<h>?q="x"{y}'),
  },
  {
    name: "a raw Latin-1 byte",
    request: get("/caf\xe9"),
    status: [200, 400],
    because: INVALID_TARGET,
  },
  {
    name: "raw UTF-8 bytes",
    request: get("/\xe2\x98\x95"),
    // gunicorn decodes the line as Latin-1, then its unquote encodes that
    // as UTF-8 again: each byte of the path arrives as two characters.
    differs: { PATH_INFO: ["/\xc3\xa2\xc2\x98\xc2\x95", "/\xe2\x98\x95"] },
    because: 'PEP 3333: all "strings" referred to in this specification ' +
      "must contain only code points representable in ISO-8859-1 encoding; " +
      "ours are the request's bytes as Latin-1, which is what gunicorn " +
      "gives for the same path as %E2%98%95",
  },
  // Queries.
  { name: "an escaped query", request: get("/p?q=caf%C3%A9&x=%20&y=%2F") },
  { name: "an empty query", request: get("/p?") },
  { name: "a query with ? and /", request: get("/p?a=/b?c") },
  { name: "a query with +", request: get("/search?q=a+b&q=c") },
  { name: "a bare percent sign in the query", request: get("/p?q=100%&r=%zz") },
  {
    name: "a raw byte in the query",
    request: get("/p?q=\xe9"),
    status: [200, 400],
    because: INVALID_TARGET,
  },
  // Request lines, methods and versions.
  {
    name: "HEAD",
    request: request("HEAD /head HTTP/1.1"),
  },
  { name: "DELETE", request: request("DELETE /item/1 HTTP/1.1") },
  { name: "OPTIONS of a path", request: request("OPTIONS /p HTTP/1.1") },
  {
    name: "OPTIONS *",
    request: request("OPTIONS * HTTP/1.1"),
    differs: { PATH_INFO: ["*", "/*"], RAW_URI: ["*", "/*"] },
    limitation: "Deno.serve turns the asterisk-form into the path /*, " +
      "the same URL as OPTIONS /* gives (README, The environ)",
  },
  { name: "an extension method", request: request("PURGE /cache HTTP/1.1") },
  {
    name: "a lowercase method",
    request: request("get /lower HTTP/1.1"),
    differs: { REQUEST_METHOD: ["GET", "get"] },
    because: "RFC 9110 §9.1: The method token is case-sensitive because it " +
      "might be used as a gateway to object-based systems with " +
      "case-sensitive method names",
  },
  {
    name: "HTTP/1.0 with a Host",
    request: request("GET /old HTTP/1.0"),
    differs: { SERVER_PROTOCOL: ["HTTP/1.0", "HTTP/1.1"] },
    limitation: NO_VERSION,
  },
  {
    name: "HTTP/1.0 without a Host",
    request: request("GET /old HTTP/1.0", []),
    status: [200, 400],
    limitation: NO_VERSION_HOST,
  },
  {
    name: "an absolute-form target",
    request: get("http://example.test/abs?x=1"),
    differs: { RAW_URI: ["http://example.test/abs?x=1", "/abs?x=1"] },
    limitation: NO_TARGET,
  },
  {
    name: "an absolute-form target naming another host",
    request: get("http://other.test:8080/abs"),
    differs: { RAW_URI: ["http://other.test:8080/abs", "/abs"] },
    limitation: NO_TARGET,
  },
  {
    name: "an absolute-form https target on a plain connection",
    request: get("https://example.test/tls"),
    differs: { RAW_URI: ["https://example.test/tls", "/tls"] },
    limitation: NO_TARGET,
  },
  {
    name: "an absolute-form target without a path",
    request: get("http://example.test"),
    differs: {
      PATH_INFO: ["", "/"],
      RAW_URI: ["http://example.test", "/"],
    },
    because: "RFC 9110 §4.2.3: an empty path component is equivalent to " +
      'an absolute path of "/" (and RAW_URI: ' + NO_TARGET + ")",
  },
  {
    name: "a fragment in the target",
    request: get("/frag#part?x"),
    status: [200, 400],
    because: 'RFC 9112 §3.2.1: origin-form = absolute-path [ "?" query ], ' +
      "with no fragment; " +
      INVALID_TARGET.slice(0, INVALID_TARGET.indexOf(" (")),
  },
  // Host.
  {
    name: "a Host with a port",
    request: request("GET /h HTTP/1.1", ["Host: example.test:8080"]),
  },
  {
    name: "an IPv6 Host",
    request: request("GET /h HTTP/1.1", ["Host: [::1]:9000"]),
  },
  {
    name: "an IPv4 Host",
    request: request("GET /h HTTP/1.1", ["Host: 127.0.0.1"]),
  },
  {
    name: "a Host in capitals",
    request: request("GET /h HTTP/1.1", ["Host: EXAMPLE.Test"]),
  },
  {
    name: "a Host with a trailing dot",
    request: request("GET /h HTTP/1.1", ["Host: example.test."]),
  },
  {
    name: "an empty Host",
    request: request("GET /h HTTP/1.1", ["Host:"]),
  },
  {
    name: "two Host headers",
    request: request("GET /h HTTP/1.1", ["Host: a.test", "Host: b.test"]),
    status: [200, 400],
    because: HOST_400,
  },
  {
    name: "an absolute-form target with userinfo",
    request: get("http://user:pw@example.test/u"),
    status: [200, 400],
    because: "RFC 9110 §4.2.4: A recipient SHOULD parse for userinfo and " +
      "treat its presence as an error",
  },
  {
    name: "an HTTP/1.1 request without Host",
    request: request("GET /h HTTP/1.1", []),
    status: [200, 400],
    because: HOST_400,
  },
  {
    name: "a Host that carries a path",
    request: request("GET /public/x HTTP/1.1", ["Host: h/admin/secret?"]),
    status: [200, 400],
    because: HOST_400,
  },
  // Headers.
  {
    name: "headers in mixed case",
    request: get("/", ["X-Trace-Id: abc", "x-lower: 1", "X-UPPER: 2"]),
  },
  {
    name: "a repeated header",
    request: get("/", ["X-Multi: a", "X-Multi: b", "X-Multi: c"]),
    differs: { HTTP_X_MULTI: ["a,b,c", "a, b, c"] },
    because: "RFC 9110 §5.3: A recipient MAY combine multiple field lines " +
      "... by appending each subsequent field line value to the initial " +
      'field line value in order, separated by a comma (",") and optional ' +
      "whitespace",
  },
  {
    name: "a repeated Cookie header",
    request: get("/", ["Cookie: a=1", "Cookie: b=2"]),
    differs: { HTTP_COOKIE: ["a=1,b=2", "a=1; b=2"] },
    because: "RFC 6265 §5.4: the user agent MUST NOT attach more than one " +
      "Cookie header field; where there are several, RFC 9113 §8.2.3: these " +
      "MUST be concatenated into a single octet string using the two-octet " +
      'delimiter of 0x3b, 0x20 (the ASCII string "; "); gunicorn\'s comma ' +
      "makes b=2 part of a's value",
  },
  {
    name: "a header name with an underscore",
    request: get("/", ["X_Forwarded_Host: evil.test", "X-Ok: 1"]),
    differs: { HTTP_X_FORWARDED_HOST: ["evil.test", undefined] },
    because: "RFC 3875 §4.1.18: The server is not required to create " +
      "meta-variables for all the header fields that it receives; an " +
      "underscore would pass for the dash of X-Forwarded-Host (design §3)",
  },
  {
    name: "a SCRIPT_NAME header",
    request: get("/app/page", ["SCRIPT_NAME: /app"]),
    differs: {
      HTTP_SCRIPT_NAME: ["/app", undefined],
      SCRIPT_NAME: ["/app", ""],
      PATH_INFO: ["/page", "/app/page"],
    },
    because: "RFC 3875 §4.1.13: The SCRIPT_NAME variable MUST be set to a " +
      "URI path ... which could identify the CGI script: the server's " +
      "configuration says where the app is mounted, not a client's header",
  },
  {
    name: "whitespace around a header value",
    request: get("/", ["X-Pad: \t a  b \t "]),
    differs: { HTTP_X_PAD: ["a  b \t ", "a  b"] },
    because: "RFC 9112 §5.1: OWS occurring before the first non-whitespace " +
      "octet of the field line value, or after the last non-whitespace " +
      "octet of the field line value, is excluded by parsers when " +
      "extracting the field line value from a field line",
  },
  {
    name: "an obs-text byte in a header value",
    request: get("/", ["X-Name: caf\xe9"]),
  },
  {
    name: "UTF-8 bytes in a header value",
    request: get("/", ["X-Name: caf\xc3\xa9"]),
  },
  { name: "an empty header value", request: get("/", ["X-Empty:"]) },
  { name: "a tab inside a header value", request: get("/", ["X-Tab: a\tb"]) },
  {
    name: "whitespace between a header name and its colon",
    request: get("/", ["X-Space : 1"]),
    status: [400, 400],
  },
  {
    name: "a Forwarded header",
    request: get("/", [
      "Forwarded: for=192.0.2.60;proto=https;by=203.0.113.43",
    ]),
  },
  { name: "a header value of spaces", request: get("/", ["X-Blank:    "]) },
  {
    name: "hop-by-hop request headers",
    request: get("/", [
      "TE: trailers",
      "Keep-Alive: timeout=5",
      "Proxy-Connection: keep-alive",
      "Upgrade: websocket",
    ]),
  },
  { name: "a GET with Content-Length 0", request: sized("GET", "") },
  {
    name: "a long header value",
    request: get("/", [`X-Long: ${"v".repeat(4000)}`]),
  },
  {
    name: "Content-Type and Content-Length in lowercase",
    request: request("POST /lower HTTP/1.1", [
      "Host: example.test",
      "content-type: text/plain",
      "content-length: 2",
    ], "ok"),
  },
  {
    name: "an unknown expectation",
    request: get("/", ["Expect: something-else"]),
  },
  {
    name: "a colon in a header value",
    request: get("/", ["X-Url: http://a:1/b"]),
  },
  {
    name: "a browser's headers",
    request: get("/page", [
      "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
      "Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8",
      "Accept-Language: en-US,en;q=0.5",
      "Accept-Encoding: gzip, deflate, br",
      "Referer: http://example.test/",
      "Upgrade-Insecure-Requests: 1",
      "Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l",
      'If-None-Match: "abc", W/"def"',
    ]),
  },
  {
    name: "a forwarded scheme from a loopback peer",
    request: get("/", [
      "X-Forwarded-Proto: https",
      "X-Forwarded-For: 10.0.0.1",
    ]),
    differs: { "wsgi.url_scheme": ["https", "http"] },
    because: "RFC 7239 §8.1: The Forwarded HTTP header field cannot be " +
      "relied upon to be correct, as it may be modified ... by every node " +
      "on the way to the server, including the client making the request; " +
      "our server trusts forwarding headers only through proxyFix()",
  },
  {
    name: "an obs-fold continuation line",
    request: get("/", ["X-Folded: a", " b"]),
    status: [200, 400],
    because: "RFC 9112 §5.2: A server that receives an obs-fold in a " +
      "request message ... MUST either reject the message by sending a 400 " +
      "(Bad Request) ... or replace each received obs-fold with one or more " +
      "SP octets",
  },
  // Bodies.
  {
    name: "a sized POST body",
    request: sized("POST", "name=ada&lang=en", [
      "Content-Type: application/x-www-form-urlencoded",
    ]),
  },
  {
    name: "a Content-Type with parameters",
    request: sized("PUT", "{}", [
      "Content-Type: application/json; charset=utf-8",
    ]),
  },
  { name: "Content-Length 0", request: sized("POST", "") },
  {
    name: "an empty Content-Type",
    request: sized("POST", "x", ["Content-Type:"]),
  },
  {
    name: "a Content-Length with leading zeros",
    request: request("POST /upload HTTP/1.1", [
      "Host: example.test",
      "Content-Length: 005",
    ], "12345"),
  },
  {
    name: "an HTTP/1.0 POST",
    request: request("POST /old HTTP/1.0", [
      "Host: example.test",
      "Content-Length: 4",
    ], "body"),
    differs: { SERVER_PROTOCOL: ["HTTP/1.0", "HTTP/1.1"] },
    limitation: NO_VERSION,
  },
  {
    name: "a GET with a body",
    request: sized("GET", "unexpected"),
    body: [btoa("unexpected"), ""],
    because: "RFC 9110 §9.3.1: content received in a GET request has no " +
      "generally defined semantics, cannot alter the meaning or target of " +
      "the request, and might lead some implementations to reject the " +
      "request (Deno.serve gives a GET no body)",
  },
  { name: "a PATCH of every byte value", request: sized("PATCH", ALL_BYTES) },
  {
    name: "a large binary body",
    request: sized("POST", ALL_BYTES.repeat(400), [
      "Content-Type: application/octet-stream",
    ]),
  },
  {
    name: "a chunked body",
    request: request("POST /upload HTTP/1.1", [
      "Host: example.test",
      "Transfer-Encoding: chunked",
    ], chunked("hello chunked world", 5)),
  },
  {
    name: "a capitalised chunked coding",
    request: request("POST /upload HTTP/1.1", [
      "Host: example.test",
      "Transfer-Encoding: Chunked",
    ], chunked("case-insensitive", 7)),
  },
  {
    name: "chunks with extensions and a trailer",
    request: request(
      "PUT /upload HTTP/1.1",
      ["Host: example.test", "Transfer-Encoding: chunked"],
      "A;name=value\r\n0123456789\r\n1f\r\n" + "x".repeat(31) +
        "\r\n0\r\nX-Checksum: 1\r\n\r\n",
    ),
  },
  {
    name: "Expect: 100-continue",
    request: sized("POST", "after the interim answer", [
      "Expect: 100-continue",
    ]),
  },
  {
    name: "Expect: 100-continue on a chunked body",
    request: request("POST /upload HTTP/1.1", [
      "Host: example.test",
      "Expect: 100-continue",
      "Transfer-Encoding: chunked",
    ], chunked("continued", 3)),
  },
  {
    name: "two equal Content-Length headers",
    request: sized("POST", "dup", ["Content-Length: 3"]),
    status: [400, 200],
    because: "RFC 9110 §8.6: a recipient of a Content-Length header field " +
      "value consisting of the same decimal value repeated ... MAY either " +
      "reject the message as invalid or replace that invalid field value " +
      "with a single instance of the decimal value",
  },
  {
    name: "Transfer-Encoding and Content-Length together",
    request: request("POST /upload HTTP/1.1", [
      "Host: example.test",
      "Content-Length: 3",
      "Transfer-Encoding: chunked",
    ], chunked("smuggled?", 4)),
    status: [400, 400],
  },
  {
    name: "two Content-Type headers",
    request: sized("POST", "x", [
      "Content-Type: text/plain",
      "Content-Type: text/html",
    ]),
    status: [200, 400],
    because: "RFC 9110 §5.3: A sender MUST NOT generate multiple field " +
      "lines with the same name in a message ... unless that field's " +
      "definition allows multiple field line values to be recombined as a " +
      "comma-separated list; Content-Type (§8.3) does not",
  },
  // Unix sockets: no peer address, and the server's name from Host.
  {
    name: "a unix socket and a Host",
    on: "unix",
    request: get("/"),
    differs: UNIX_PEER,
    because: UNIX_PEER_RULE,
  },
  {
    name: "a unix socket and a Host with a port",
    on: "unix",
    request: request("GET / HTTP/1.1", ["Host: example.test:8080"]),
    differs: UNIX_PEER,
    because: UNIX_PEER_RULE,
  },
  {
    name: "a unix socket and an IPv6 Host",
    on: "unix",
    request: request("GET / HTTP/1.1", ["Host: [::1]:9000"]),
    // gunicorn splits the Host at its first colon.
    differs: {
      ...UNIX_PEER,
      SERVER_NAME: ["[", "[::1]"],
      SERVER_PORT: ["", "9000"],
    },
    because: "RFC 3986 §3.2.2: A host identified by an Internet Protocol " +
      "literal address, version 6 [RFC3513] or later, is distinguished by " +
      "enclosing the IP literal within square brackets; and " + UNIX_PEER_RULE,
  },
  {
    name: "a unix socket and HTTP/1.0 without a Host",
    on: "unix",
    request: request("GET / HTTP/1.0", []),
    status: [200, 400],
    limitation: NO_VERSION_HOST,
  },
  // A script name from the server's configuration.
  {
    name: "a path under the script name",
    on: "mounted",
    request: get("/app/page"),
  },
  { name: "the script name alone", on: "mounted", request: get("/app") },
  { name: "the script name and a slash", on: "mounted", request: get("/app/") },
  {
    name: "an escaped slash after the script name",
    on: "mounted",
    request: get("/app%2Fpage"),
  },
  {
    name: "an escaped script name",
    on: "mounted",
    request: get("/%61pp/page"),
    // gunicorn looks for the script name in the path before decoding it.
    status: [500, 200],
    because: "RFC 3986 §2.3: URIs that differ in the replacement of an " +
      "unreserved character with its corresponding percent-encoded US-ASCII " +
      "octet are equivalent",
  },
  {
    name: "a path that only starts like the script name",
    on: "mounted",
    request: get("/application"),
    differs: {
      SCRIPT_NAME: ["/app", ""],
      PATH_INFO: ["lication", "/application"],
    },
    because: 'RFC 3875 §4.1.5: PATH_INFO = "" | ( "/" path ), so the ' +
      "script name ends at a segment boundary",
  },
  {
    name: "a path outside the script name",
    on: "mounted",
    request: get("/other"),
    status: [500, 200],
    because: "PEP 3333: SCRIPT_NAME ... may be an empty string, if the " +
      'application corresponds to the "root" of the server; a request ' +
      "outside the mount reaches the app unmounted, not a 500",
  },
  {
    name: "the script name deeper in the path",
    on: "mounted",
    request: get("/x/app/y"),
    differs: { SCRIPT_NAME: ["/app", ""], PATH_INFO: ["/y", "/x/app/y"] },
    because: "PEP 3333: SCRIPT_NAME The initial portion of the request " +
      'URL\'s "path" that corresponds to the application object',
  },
];

/** A native string's code points back as the string, for messages. */
function text(value: Encoded | undefined): Value {
  if (value === undefined) return undefined;
  if (value !== null && typeof value === "object" && "str" in value) {
    return String.fromCodePoint(...value.str);
  }
  return JSON.stringify(value);
}

/** Reads a raw answer: the status after any 1xx, and the echo on a 200. */
function parseAnswer(raw: string): Answer {
  let rest = raw;
  while (/^HTTP\/1\.[01] 1\d\d /.test(rest)) {
    rest = rest.slice(rest.indexOf("\r\n\r\n") + 4);
  }
  const end = rest.indexOf("\r\n\r\n");
  const head = rest.slice(0, end).split("\r\n");
  const status = Number(head[0].split(" ")[1]);
  if (status !== 200) return { status };
  const header = (name: string) =>
    head.find((line) => line.toLowerCase().startsWith(name + ":"))
      ?.slice(name.length + 1).trim();
  const environHeader = header("x-environ");
  const json = environHeader !== undefined
    ? atob(environHeader)
    : rest.slice(end + 4, end + 4 + Number(header("content-length")));
  const report = JSON.parse(json);
  return { status, environ: report.environ, body: report.body };
}

/**
 * Checks the keys that differ between any two servers against what each
 * server should have, then leaves them out of the comparison:
 * - On TCP, `SERVER_PORT` is each server's own port and `REMOTE_PORT` the
 *   client's port on each connection (on a unix socket both are compared).
 * - `SERVER_SOFTWARE` names each server.
 * - `wsgi.multithread`: gunicorn's sync worker runs one request at a time;
 *   ours runs many at once on one thread (PEP 3333: "This value should
 *   evaluate true if the application object may be simultaneously invoked
 *   by another thread in the same process").
 * - `gunicorn.socket` and `deno.*` are each server's own keys (PEP 3333:
 *   "the environ dictionary may also contain server-defined variables. These
 *   variables should be named using only lower-case letters, numbers, dots,
 *   and underscores, and should be prefixed with a name that is unique to
 *   the defining server or gateway").
 * - `REQUEST_URI` is ours only, the same as `RAW_URI` (PEP 3333: "A server
 *   or gateway should attempt to provide as many other CGI variables as are
 *   applicable").
 * - `wsgi.input`, `wsgi.errors` and `wsgi.file_wrapper` are objects of each
 *   language; only their presence is compared.
 */
function compareServerKeys(
  theirs: Record<string, Encoded>,
  ours: Record<string, Encoded>,
  targets: Targets,
): void {
  if (typeof targets.gunicorn === "number") {
    assert.equal(text(theirs.SERVER_PORT), String(targets.gunicorn));
    assert.equal(text(ours.SERVER_PORT), String(targets.ours));
    assert.match(text(theirs.REMOTE_PORT)!, /^\d+$/);
    assert.match(text(ours.REMOTE_PORT)!, /^\d+$/);
    for (const key of ["SERVER_PORT", "REMOTE_PORT"]) {
      delete theirs[key];
      delete ours[key];
    }
  }
  assert.match(text(theirs.SERVER_SOFTWARE)!, /^gunicorn\//);
  assert.equal(text(ours.SERVER_SOFTWARE), "wsgi-deno");
  assert.equal(theirs["wsgi.multithread"], false);
  assert.equal(ours["wsgi.multithread"], true);
  assert.deepEqual(theirs["gunicorn.socket"], { object: "socket" });
  assert.deepEqual(
    Object.keys(ours).filter((key) => key.startsWith("deno.")).sort(),
    ["deno.info", "deno.request", "deno.signal"],
  );
  assert.equal(text(ours.REQUEST_URI), text(ours.RAW_URI));
  for (const key of ["wsgi.input", "wsgi.errors", "wsgi.file_wrapper"]) {
    assert.ok(theirs[key] !== undefined && ours[key] !== undefined, key);
  }
  const serverKeys = [
    "SERVER_SOFTWARE",
    "wsgi.multithread",
    "gunicorn.socket",
    "REQUEST_URI",
    "wsgi.input",
    "wsgi.errors",
    "wsgi.file_wrapper",
  ];
  for (const key of Object.keys(ours)) {
    if (key.startsWith("deno.")) delete ours[key];
  }
  for (const key of serverKeys) {
    delete theirs[key];
    delete ours[key];
  }
}

/** Each environ as key -> readable value, for the comparison and its message. */
function readable(environ: Record<string, Encoded>): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const key of Object.keys(environ).sort()) out[key] = text(environ[key]);
  return out;
}

/** Compares the two answers to `c`, with its listed differences. */
function compare(
  c: Case,
  theirs: Answer,
  ours: Answer,
  targets: Targets,
): void {
  assert.deepEqual(
    [theirs.status, ours.status],
    c.status ?? [200, 200],
    "statuses [gunicorn, ours]",
  );
  if (theirs.environ === undefined || ours.environ === undefined) return;
  compareServerKeys(theirs.environ, ours.environ, targets);
  const gunicorn = readable(theirs.environ);
  const wsgiDeno = readable(ours.environ);
  for (
    const [key, [expectTheirs, expectOurs]] of Object.entries(c.differs ?? {})
  ) {
    assert.deepEqual(
      [gunicorn[key], wsgiDeno[key]],
      [expectTheirs, expectOurs],
      `${key} [gunicorn, ours]`,
    );
    delete gunicorn[key];
    delete wsgiDeno[key];
  }
  assert.deepEqual(wsgiDeno, gunicorn);
  assert.deepEqual(
    [theirs.body, ours.body],
    c.body ?? [theirs.body, theirs.body],
    "the body read from wsgi.input [gunicorn, ours]",
  );
}

/** Where each server listens: a TCP port on 127.0.0.1, or a socket path. */
interface Targets {
  gunicorn: number | string;
  ours: number | string;
}

/** gunicorn and serve() side by side. */
interface Pair {
  targets: Targets;
  stop(): Promise<void>;
}

/** dev.ts, as a developer runs it: a process of its own. */
const DEV = new URL("../../dev.ts", import.meta.url).pathname;

/**
 * Starts a {@linkcode Pair} configured for `on`; for `dev`, our side is a
 * dev.ts process on TCP instead of serve().
 */
async function startPair(on: Case["on"] | "dev"): Promise<Pair> {
  const dir = on === "unix" ? Deno.makeTempDirSync() : undefined;
  const gunicornSocket = `${dir}/gunicorn.sock`;
  const gunicorn = await startGunicorn(
    FIXTURES,
    "environ_echo:app",
    on === "mounted"
      ? ["--env", "SCRIPT_NAME=/app"]
      // A second listener beside the TCP one that startGunicorn waits for.
      : on === "unix"
      ? ["--bind", `unix:${gunicornSocket}`]
      : [],
  ).catch((error) => {
    if (dir !== undefined) Deno.removeSync(dir, { recursive: true });
    throw error;
  });
  if (on === "dev") {
    const dev = new Spawned(Deno.execPath(), [
      "run",
      "-A",
      DEV,
      "--port",
      "0",
      `${FIXTURES}environ_echo.ts`,
    ]);
    const stop = async () => {
      await dev.stop("SIGTERM");
      await gunicorn.process.stop("SIGTERM");
    };
    const listening = await dev.waitFor(
      /Listening on http:\/\/127\.0\.0\.1:(\d+)\//,
      "stdout",
    ).catch(async (error) => {
      await stop();
      throw error;
    });
    return {
      targets: { gunicorn: gunicorn.port, ours: Number(listening[1]) },
      stop,
    };
  }
  const server = serve(environEcho, {
    onListen() {},
    ...(on === "unix" ? { path: `${dir}/ours.sock` } : { port: 0 }),
    scriptName: on === "mounted" ? "/app" : "",
  });
  const targets: Targets = on === "unix"
    ? { gunicorn: gunicornSocket, ours: `${dir}/ours.sock` }
    : { gunicorn: gunicorn.port, ours: (server.addr as Deno.NetAddr).port };
  return {
    targets,
    async stop() {
      await server.shutdown();
      await gunicorn.process.stop("SIGTERM");
      if (dir !== undefined) Deno.removeSync(dir, { recursive: true });
    },
  };
}

/**
 * Runs each case as a step against its pair; returns how many agree. A
 * listed difference must name its rule or limitation.
 */
async function runCases(
  t: Deno.TestContext,
  cases: Case[],
  pairOf: (c: Case) => Pair,
  under = "",
): Promise<number> {
  let agreed = 0;
  for (const c of cases) {
    const ok = await t.step(
      `environ matches gunicorn's for ${c.name}${under}`,
      async () => {
        const listed = c.differs !== undefined || c.body !== undefined ||
          (c.status !== undefined && c.status[0] !== c.status[1]);
        assert.equal(
          listed,
          c.because !== undefined || c.limitation !== undefined,
          "a listed difference, and only one, names its rule or limitation",
        );
        const { targets } = pairOf(c);
        const [theirs, ours] = await Promise.all([
          rawRequest(targets.gunicorn, c.request),
          rawRequest(targets.ours, c.request),
        ]);
        compare(c, parseAnswer(theirs.text), parseAnswer(ours.text), targets);
      },
    );
    if (ok) agreed++;
  }
  return agreed;
}

Deno.test("environ matches gunicorn's for every raw request", async (t) => {
  const pairs: Partial<Record<"plain" | "mounted" | "unix", Pair>> = {};
  let agreed = 0;
  try {
    pairs.plain = await startPair(undefined);
    pairs.mounted = await startPair("mounted");
    pairs.unix = await startPair("unix");
    assert.ok(CASES.length >= 40);
    agreed = await runCases(t, CASES, (c) => pairs[c.on ?? "plain"]!);
  } finally {
    for (const pair of Object.values(pairs)) await pair.stop();
  }
  reportAgreement("environ vs gunicorn", agreed, CASES.length);
  assert.equal(agreed, CASES.length);
});

Deno.test("environ matches gunicorn's for every raw request on TCP under dev.ts", async (t) => {
  // The dev server builds its environ in a Worker from a forwarded request:
  // the same cases must give the same environ there.
  const cases = CASES.filter((c) => c.on === undefined);
  const pair = await startPair("dev");
  let agreed = 0;
  try {
    agreed = await runCases(t, cases, () => pair, " under dev.ts");
  } finally {
    await pair.stop();
  }
  reportAgreement("environ vs gunicorn under dev.ts", agreed, cases.length);
  assert.equal(agreed, cases.length);
});
