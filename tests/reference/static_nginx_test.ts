/**
 * staticFiles vs nginx: one generated folder served by Debian's nginx and by
 * `staticFiles` under `serve()`, and the same requests sent to both over raw
 * sockets: GET, HEAD, ranges and conditional requests. Both must give the
 * same status, body and framing headers (Content-Length, Content-Range,
 * Transfer-Encoding, Accept-Ranges, Last-Modified, ETag's presence, the
 * Location it points to), apart from the differences listed in
 * {@linkcode CASES}, each with the sentence of RFC 9110 that allows it.
 * A second folder holds precompressed siblings (`name.gz`, `name.br`),
 * served by nginx's gzip_static and, when Debian's
 * libnginx-mod-http-brotli-static is installed, brotli_static, against
 * `staticFiles(root, { precompressed })`: the coding, Vary and the type
 * are compared too. Every case runs twice: as looked up, then from
 * staticFiles' cache once the files have settled.
 *
 * How the two are made comparable:
 *
 * - Every file gets the same modification time, a whole second in the
 *   past, so Last-Modified is the same on both (and a strong validator).
 * - The ETags differ in form (nginx counts seconds, staticFiles
 *   milliseconds), so only their presence is compared, and a request that
 *   sends one (`{etag}`) sends each server its own.
 * - nginx runs with `if_modified_since before`, RFC 9110 13.1.3's rule (a
 *   copy at least as new as the file is current); its default, `exact`,
 *   answers 304 only for the very date.
 * - Error bodies are each server's own page: RFC 9110 15.5 says a server
 *   "SHOULD send a representation containing an explanation of the error
 *   situation", not which. For 3xx and 4xx answers the body is not
 *   compared, and Content-Length only for its presence.
 */
import assert from "node:assert/strict";
import type { App } from "../../mod.ts";
import { staticFiles } from "../../middleware/static_files.ts";
import {
  dechunk,
  errorLog,
  freePort,
  parseRaw,
  rawRequest,
  Spawned,
  withServer,
} from "../_helpers.ts";
import { reportAgreement, waitForPort } from "./_reference.ts";

const NGINX = "/usr/sbin/nginx";

/** The modification time of every file, in seconds: a whole one. */
const MTIME = Date.UTC(2020, 1, 3, 4, 5, 6) / 1000;
/** MTIME as an HTTP-date in each of its forms, and a second either side. */
const DATES: Record<string, string> = {
  lastModified: "Mon, 03 Feb 2020 04:05:06 GMT",
  rfc850: "Monday, 03-Feb-20 04:05:06 GMT",
  asctime: "Mon Feb  3 04:05:06 2020",
  earlier: "Mon, 03 Feb 2020 04:05:05 GMT",
  later: "Mon, 03 Feb 2020 04:05:07 GMT",
};

/** Bytes that differ at every offset, so a wrong range cannot pass. */
function pattern(length: number, seed: number): Uint8Array {
  return Uint8Array.from(
    { length },
    (_, i) => (i * 31 + seed + (i >> 8)) & 0xff,
  );
}

/** The folder both serve, path to contents; `link.txt` is a symlink. */
const FILES: Record<string, Uint8Array | string> = {
  "empty.txt": "",
  "one.txt": "1",
  "hello.txt": "Hello, static\n",
  "data.bin": pattern(1024, 7),
  "big.bin": pattern(300 * 1024, 11),
  "index.html": "<h1>root index</h1>\n",
  "sub/index.html": "<h1>sub index</h1>\n",
  "sub/page.css": "p { margin: 0 }\n",
  "nested/deep.txt": "deep\n",
  "with space.txt": "a name with a space\n",
  "café.txt": "a UTF-8 name\n",
};

/** Writes the folder under `dir`, every file modified at MTIME. */
async function makeFolder(dir: string): Promise<void> {
  for (const [path, contents] of Object.entries(FILES)) {
    const file = `${dir}/${path}`;
    await Deno.mkdir(file.slice(0, file.lastIndexOf("/")), {
      recursive: true,
      mode: 0o755,
    });
    if (typeof contents === "string") await Deno.writeTextFile(file, contents);
    else await Deno.writeFile(file, contents);
    await Deno.utime(file, MTIME, MTIME);
  }
  await Deno.symlink("hello.txt", `${dir}/link.txt`);
}

/** One request sent to both; `{name}` in a header value is filled in. */
interface Case {
  method?: "GET" | "HEAD" | "OPTIONS";
  path: string;
  headers?: Record<string, string>;
  /**
   * A listed difference: the status each side must give, and the sentence
   * of RFC 9110 that allows ours.
   */
  differs?: { nginx: number; ours: number; rfc: string };
}

const MULTIPART =
  '14.2: "A server MAY ignore the Range header field." nginx sends multipart/byteranges; we send the whole file';
const INVALID_RANGE =
  '14.2: "A server that supports range requests MAY ignore or reject a Range header field that contains an invalid ranges-specifier": nginx rejects (416), we ignore (200)';

const UNCLOSED =
  '8.8.3: a comma is an etagc, so "a, " is one entity-tag and what follows no list of them; 2.3: "a recipient MAY attempt to recover a usable protocol element from an invalid construct". nginx splits at every comma and recovers; we match nothing';

const CASES: Case[] = [
  // Plain GET and HEAD.
  { path: "/hello.txt" },
  { path: "/data.bin" },
  { path: "/big.bin" },
  { path: "/empty.txt" },
  { path: "/one.txt" },
  { path: "/" },
  { path: "/index.html" },
  { path: "/sub/" },
  { path: "/sub/page.css" },
  { path: "/sub" },
  { path: "/sub?x=1&y=2" },
  { path: "/nested/deep.txt" },
  {
    path: "/nested/",
    differs: {
      nginx: 403,
      ours: 404,
      rfc:
        "15.5.4: \"An origin server that wishes to 'hide' the current existence of a forbidden target resource MAY instead respond with a status code of 404 (Not Found).\" A folder without index falls through to the app",
    },
  },
  { path: "/with%20space.txt" },
  { path: "/caf%C3%A9.txt" },
  { path: "/link.txt" },
  { path: "/missing.txt" },
  { path: "/hello.txt/" },
  { method: "HEAD", path: "/hello.txt" },
  { method: "HEAD", path: "/big.bin" },
  { method: "HEAD", path: "/empty.txt" },
  { method: "HEAD", path: "/" },
  { method: "HEAD", path: "/missing.txt" },
  {
    method: "OPTIONS",
    path: "/hello.txt",
    differs: {
      nginx: 405,
      ours: 200,
      rfc:
        '9.3.7: "A server generating a successful response to OPTIONS SHOULD send any header that might indicate optional features implemented by the server and applicable to the target resource (e.g., Allow)". nginx refuses the method; we answer with Allow: GET, HEAD, OPTIONS',
    },
  },

  // Single ranges: a-b, a-, -n; clamped, whole, last byte.
  { path: "/data.bin", headers: { Range: "bytes=0-0" } },
  { path: "/data.bin", headers: { Range: "bytes=2-5" } },
  { path: "/data.bin", headers: { Range: "bytes=1000-" } },
  { path: "/data.bin", headers: { Range: "bytes=-4" } },
  { path: "/data.bin", headers: { Range: "bytes=1020-99999" } },
  { path: "/data.bin", headers: { Range: "bytes=-5000" } },
  { path: "/data.bin", headers: { Range: "bytes=0-" } },
  { path: "/data.bin", headers: { Range: "bytes=1023-1023" } },
  { path: "/data.bin", headers: { Range: "BYTES=10-19" } },
  { path: "/data.bin", headers: { Range: "bytes=10 - 19" } },
  { path: "/big.bin", headers: { Range: "bytes=100000-200000" } },
  { path: "/big.bin", headers: { Range: "bytes=-70000" } },
  { path: "/big.bin", headers: { Range: "bytes=300000-" } },
  { path: "/one.txt", headers: { Range: "bytes=-1" } },
  { path: "/hello.txt", headers: { Range: "bytes=0-4" } },
  // Unsatisfiable.
  { path: "/data.bin", headers: { Range: "bytes=1024-" } },
  { path: "/data.bin", headers: { Range: "bytes=5000-6000" } },
  { path: "/data.bin", headers: { Range: "bytes=-0" } },
  { path: "/empty.txt", headers: { Range: "bytes=5-" } },
  { path: "/data.bin", headers: { Range: "bytes=99999999999999999999-" } },
  // An empty file: sent whole for a suffix or a range from byte 0.
  { path: "/empty.txt", headers: { Range: "bytes=-5" } },
  { path: "/empty.txt", headers: { Range: "bytes=0-" } },
  { path: "/empty.txt", headers: { Range: "bytes=0-9" } },
  // Ignored by both: overlapping ranges past the size, another unit, "=" spaced.
  { path: "/data.bin", headers: { Range: "bytes=0-0,0-" } },
  { path: "/data.bin", headers: { Range: "items=0-1" } },
  { path: "/data.bin", headers: { Range: "bytes = 10-19" } },
  // Several ranges.
  {
    path: "/data.bin",
    headers: { Range: "bytes=0-1,5-6" },
    differs: { nginx: 206, ours: 200, rfc: MULTIPART },
  },
  {
    path: "/data.bin",
    headers: { Range: "bytes=0-1, -2" },
    differs: { nginx: 206, ours: 200, rfc: MULTIPART },
  },
  // Malformed.
  {
    path: "/data.bin",
    headers: { Range: "bytes=abc" },
    differs: { nginx: 416, ours: 200, rfc: INVALID_RANGE },
  },
  {
    path: "/data.bin",
    headers: { Range: "bytes=-" },
    differs: { nginx: 416, ours: 200, rfc: INVALID_RANGE },
  },
  {
    path: "/data.bin",
    headers: { Range: "bytes=9-3" },
    differs: { nginx: 416, ours: 200, rfc: INVALID_RANGE },
  },
  // A range on HEAD.
  {
    method: "HEAD",
    path: "/data.bin",
    headers: { Range: "bytes=0-9" },
    differs: {
      nginx: 206,
      ours: 200,
      rfc:
        '14.2: "A server MUST ignore a Range header field received with a request method that is unrecognized or for which range handling is not defined. For this specification, GET is the only method for which range handling is defined."',
    },
  },

  // If-None-Match and If-Modified-Since.
  { path: "/hello.txt", headers: { "If-None-Match": "{etag}" } },
  { path: "/hello.txt", headers: { "If-None-Match": "W/{etag}" } },
  { path: "/hello.txt", headers: { "If-None-Match": '"other"' } },
  { path: "/hello.txt", headers: { "If-None-Match": '"other", {etag}' } },
  { path: "/hello.txt", headers: { "If-None-Match": "*" } },
  { path: "/hello.txt", headers: { "If-None-Match": '"a,b", {etag}' } },
  { path: "/hello.txt", headers: { "If-None-Match": '"a,b"' } },
  { path: "/hello.txt", headers: { "If-None-Match": '"a\\", {etag}' } },
  { path: "/hello.txt", headers: { "If-None-Match": "x{etag}" } },
  { path: "/hello.txt", headers: { "If-None-Match": '{etag} "a"' } },
  {
    path: "/hello.txt",
    headers: { "If-None-Match": '"a, {etag}' },
    differs: { nginx: 304, ours: 200, rfc: UNCLOSED },
  },
  { path: "/empty.txt", headers: { "If-None-Match": "{etag}" } },
  {
    method: "HEAD",
    path: "/hello.txt",
    headers: { "If-None-Match": "{etag}" },
  },
  { path: "/hello.txt", headers: { "If-Modified-Since": "{lastModified}" } },
  { path: "/hello.txt", headers: { "If-Modified-Since": "{rfc850}" } },
  { path: "/hello.txt", headers: { "If-Modified-Since": "{asctime}" } },
  { path: "/hello.txt", headers: { "If-Modified-Since": "{earlier}" } },
  { path: "/hello.txt", headers: { "If-Modified-Since": "{later}" } },
  { path: "/hello.txt", headers: { "If-Modified-Since": "2030-01-01" } },
  {
    path: "/hello.txt",
    headers: { "If-Modified-Since": "2030-01-01T00:00:00Z" },
  },
  { path: "/hello.txt", headers: { "If-Modified-Since": "garbage" } },
  {
    path: "/hello.txt",
    headers: { "If-Modified-Since": "Mon, 03 Feb 2020 04:05:06 UTC" },
    differs: {
      nginx: 304,
      ours: 200,
      rfc:
        '13.1.3: "A recipient MUST ignore the If-Modified-Since header field if the received field value is not a valid HTTP-date"; the zone of an HTTP-date is "GMT" (5.6.7), and nginx does not check it',
    },
  },
  {
    path: "/hello.txt",
    headers: { "If-None-Match": '"other"', "If-Modified-Since": "{later}" },
  },
  {
    path: "/hello.txt",
    headers: { "If-None-Match": "{etag}", "If-Modified-Since": "{earlier}" },
    differs: {
      nginx: 200,
      ours: 304,
      rfc:
        '13.1.3: "A recipient MUST ignore If-Modified-Since if the request contains an If-None-Match header field"; nginx needs both to hold',
    },
  },

  // If-Match and If-Unmodified-Since.
  { path: "/hello.txt", headers: { "If-Match": "{etag}" } },
  { path: "/hello.txt", headers: { "If-Match": '"other"' } },
  { path: "/hello.txt", headers: { "If-Match": '"other", {etag}' } },
  { path: "/hello.txt", headers: { "If-Match": "*" } },
  { path: "/hello.txt", headers: { "If-Match": '"a,b", {etag}' } },
  { path: "/hello.txt", headers: { "If-Match": "x{etag}" } },
  {
    path: "/hello.txt",
    headers: { "If-Match": '"a, {etag}' },
    differs: { nginx: 200, ours: 412, rfc: UNCLOSED },
  },
  { path: "/hello.txt", headers: { "If-Match": "W/{etag}" } },
  { path: "/hello.txt", headers: { "If-Unmodified-Since": "{lastModified}" } },
  { path: "/hello.txt", headers: { "If-Unmodified-Since": "{asctime}" } },
  { path: "/hello.txt", headers: { "If-Unmodified-Since": "{earlier}" } },
  { path: "/hello.txt", headers: { "If-Unmodified-Since": "{later}" } },
  {
    path: "/hello.txt",
    headers: { "If-Unmodified-Since": "garbage" },
    differs: {
      nginx: 412,
      ours: 200,
      rfc:
        '13.1.4: "A recipient MUST ignore the If-Unmodified-Since header field if the received field value is not a valid HTTP-date"',
    },
  },
  {
    path: "/hello.txt",
    headers: { "If-Match": "{etag}", "If-Unmodified-Since": "{earlier}" },
    differs: {
      nginx: 412,
      ours: 200,
      rfc:
        '13.1.4: "A recipient MUST ignore If-Unmodified-Since if the request contains an If-Match header field"',
    },
  },
  {
    path: "/hello.txt",
    headers: { "If-Match": '"other"', "If-None-Match": "{etag}" },
  },
  {
    path: "/data.bin",
    headers: { "If-Match": '"other"', Range: "bytes=0-9" },
  },

  // If-Range, with an ETag and with a date.
  { path: "/data.bin", headers: { Range: "bytes=0-9", "If-Range": "{etag}" } },
  {
    path: "/data.bin",
    headers: { Range: "bytes=0-9", "If-Range": '"other"' },
  },
  {
    path: "/data.bin",
    headers: { Range: "bytes=0-9", "If-Range": "W/{etag}" },
  },
  {
    path: "/data.bin",
    headers: { Range: "bytes=0-9", "If-Range": "{lastModified}" },
  },
  {
    path: "/data.bin",
    headers: { Range: "bytes=0-9", "If-Range": "{rfc850}" },
  },
  {
    path: "/data.bin",
    headers: { Range: "bytes=0-9", "If-Range": "{asctime}" },
  },
  {
    path: "/data.bin",
    headers: { Range: "bytes=0-9", "If-Range": "{earlier}" },
  },
  {
    path: "/data.bin",
    headers: { Range: "bytes=0-9", "If-Range": "{later}" },
  },
  {
    path: "/data.bin",
    headers: { Range: "bytes=0-9", "If-Range": "2020-02-03T04:05:06Z" },
  },
  { path: "/data.bin", headers: { "If-Range": "{etag}" } },
  {
    path: "/data.bin",
    headers: { Range: "bytes=0-1,5-6", "If-Range": "{lastModified}" },
    differs: { nginx: 206, ours: 200, rfc: MULTIPART },
  },
];

/** What one server answered, reduced to what is compared. */
interface Answer {
  status: number;
  /** Lower-cased header names to values; repeated names joined by ", ". */
  headers: Map<string, string>;
  /** The body as Latin-1, de-chunked. */
  body: string;
}

/** Sends `request` and reads the answer to its end. */
async function ask(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
): Promise<Answer> {
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
  const { text, aborted } = await rawRequest(
    port,
    `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${
      lines.join("")
    }Connection: close\r\n\r\n`,
  );
  assert.ok(!aborted, `${method} ${path}: the connection was aborted`);
  const { head, body } = parseRaw(text);
  const map = new Map<string, string>();
  for (const line of head.slice(1)) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    map.set(name, map.has(name) ? `${map.get(name)}, ${value}` : value);
  }
  const chunked = /chunked/i.test(map.get("transfer-encoding") ?? "");
  return {
    status: Number(head[0].split(" ")[1]),
    headers: map,
    body: chunked ? dechunk(body) : body,
  };
}

/** Fills `{name}` in a header value: the server's ETag for the path, or a date. */
function fill(value: string, etag: string | undefined): string {
  return value.replace(/\{(\w+)\}/g, (_, name: string) => {
    const filled = name === "etag" ? etag : DATES[name];
    assert.ok(filled !== undefined, `no value for {${name}}`);
    return filled;
  });
}

/** How two answers to one request differ, as readable lines. */
function compare(
  nginx: Answer,
  ours: Answer,
  port: [number, number],
): string[] {
  const differences: string[] = [];
  const differ = (what: string, a: unknown, b: unknown) => {
    if (a !== b) {
      differences.push(
        `${what}: nginx ${JSON.stringify(a)}, ours ${JSON.stringify(b)}`,
      );
    }
  };
  differ("status", nginx.status, ours.status);
  const success = nginx.status < 300 || nginx.status === 304;
  const header = (answer: Answer, name: string) => answer.headers.get(name);
  const present = (answer: Answer, name: string) => answer.headers.has(name);
  for (const name of ["content-range", "transfer-encoding", "accept-ranges"]) {
    differ(name, header(nginx, name), header(ours, name));
  }
  differ(
    "last-modified",
    header(nginx, "last-modified"),
    header(ours, "last-modified"),
  );
  differ("etag present", present(nginx, "etag"), present(ours, "etag"));
  if (success) {
    differ(
      "content-length",
      header(nginx, "content-length"),
      header(ours, "content-length"),
    );
    differ("body", nginx.body, ours.body);
  } else {
    differ(
      "content-length present",
      present(nginx, "content-length"),
      present(ours, "content-length"),
    );
  }
  // Where a redirect leads, whether written absolute or relative.
  const target = (answer: Answer, own: number) => {
    const location = header(answer, "location");
    if (location === undefined) return undefined;
    const url = new URL(location, `http://127.0.0.1:${own}/`);
    return url.host === `127.0.0.1:${own}`
      ? url.pathname + url.search
      : url.href;
  };
  differ("location", target(nginx, port[0]), target(ours, port[1]));
  return differences;
}

/** Whether `answer` is the whole file at `path`, with its length. */
function isWhole(answer: Answer, method: string, path: string): boolean {
  const contents = FILES[path.slice(1)];
  if (contents === undefined) return false;
  const bytes = typeof contents === "string"
    ? new TextEncoder().encode(contents)
    : contents;
  const body = method === "HEAD"
    ? ""
    : Array.from(bytes, (b) => String.fromCharCode(b)).join("");
  return answer.headers.get("content-length") === String(bytes.length) &&
    answer.body === body;
}

/** nginx's configuration: `root` served on `port`, its own files in `dir`. */
function nginxConfig(
  dir: string,
  root: string,
  port: number,
  extra: Extra,
): string {
  return `
${extra.main ?? ""}
worker_processes 1;
master_process off;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
  client_body_temp_path ${dir}/tmp/client_body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  # RFC 9110 13.1.3: not modified when the file is no newer than the date.
  if_modified_since before;
${extra.http ?? ""}
  server {
    listen 127.0.0.1:${port};
    root ${root};
    index index.html;
  }
}
`;
}

/** Lines added to nginx's configuration: at the top, and in `http`. */
interface Extra {
  main?: string;
  http?: string;
}

/** Runs `fn` with nginx serving `root` on a port of its own. */
async function withNginx(
  dir: string,
  root: string,
  fn: (port: number) => Promise<void>,
  extra: Extra = {},
): Promise<void> {
  await Deno.mkdir(`${dir}/tmp`, { mode: 0o755 });
  const port = freePort();
  await Deno.writeTextFile(
    `${dir}/nginx.conf`,
    nginxConfig(dir, root, port, extra),
  );
  const nginx = new Spawned(NGINX, ["-p", dir, "-c", `${dir}/nginx.conf`]);
  try {
    await waitForPort(port, nginx);
    await fn(port);
  } finally {
    await nginx.stop("SIGTERM");
  }
}

/**
 * Every case twice: first as looked up, then once the files have settled
 * (unchanged for over two seconds), from staticFiles' cache.
 */
async function* passes<T>(cases: T[]): AsyncGenerator<[string, T]> {
  for (const item of cases) yield ["looked up", item];
  await new Promise((resolve) => setTimeout(resolve, 3100));
  for (const item of cases) yield ["cached", item];
}

/** The app behind staticFiles: what nginx is without a file. */
const notFound: App = (_environ, startResponse) => {
  startResponse("404 Not Found", [["Content-Type", "text/plain"]]);
  return ["Not Found\n"];
};

Deno.test("staticFiles() answers as nginx does, apart from the listed differences", async () => {
  assert.ok(CASES.length >= 60, `only ${CASES.length} cases`);
  const dir = await Deno.makeTempDir({ prefix: "static_nginx_" });
  try {
    // nginx must be able to read the folder whoever it runs as.
    await Deno.chmod(dir, 0o755);
    const root = `${dir}/root`;
    await Deno.mkdir(root, { mode: 0o755 });
    await makeFolder(root);
    const log = errorLog();
    await withNginx(dir, root, async (nginxPort) => {
      await withServer(
        staticFiles(root)(notFound),
        async (_server, ourPort) => {
          const etags = new Map<
            string,
            [string | undefined, string | undefined]
          >();
          const etagsOf = async (path: string) => {
            if (!etags.has(path)) {
              const [a, b] = await Promise.all(
                [nginxPort, ourPort].map((port) => ask(port, "HEAD", path, {})),
              );
              etags.set(path, [a.headers.get("etag"), b.headers.get("etag")]);
            }
            return etags.get(path)!;
          };
          let agreed = 0;
          let listed = 0;
          const failures: string[] = [];
          for await (const [pass, item] of passes(CASES)) {
            const method = item.method ?? "GET";
            const [nginxTag, ourTag] = await etagsOf(item.path.split("?")[0]);
            const headersFor = (etag: string | undefined) =>
              Object.fromEntries(
                Object.entries(item.headers ?? {}).map((
                  [name, value],
                ) => [name, fill(value, etag)]),
              );
            const nginx = await ask(
              nginxPort,
              method,
              item.path,
              headersFor(nginxTag),
            );
            const ours = await ask(
              ourPort,
              method,
              item.path,
              headersFor(ourTag),
            );
            const what = `${pass}: ${method} ${item.path} ${
              JSON.stringify(item.headers ?? {})
            }`;
            if (item.differs === undefined) {
              const differences = compare(nginx, ours, [nginxPort, ourPort]);
              if (differences.length === 0) agreed++;
              else failures.push(`${what}:\n  ${differences.join("\n  ")}`);
            } else if (
              nginx.status === item.differs.nginx &&
              ours.status === item.differs.ours &&
              (ours.status !== 200 || method === "OPTIONS" ||
                isWhole(ours, method, item.path))
            ) {
              agreed++;
              listed++;
            } else {
              failures.push(
                `${what}: listed as nginx ${item.differs.nginx}, ours ${item.differs.ours}; got nginx ${nginx.status}, ours ${ours.status}`,
              );
            }
          }
          reportAgreement("staticFiles vs nginx", agreed, CASES.length * 2);
          console.log(`staticFiles vs nginx, listed differences: ${listed}`);
          assert.deepEqual(failures, []);
        },
        { errors: log.sink },
      );
    });
    assert.equal(log.text(), "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------
// Precompressed files: nginx's gzip_static and brotli_static against
// staticFiles' precompressed option.

const BROTLI_STATIC = "/usr/lib/nginx/modules/ngx_http_brotli_static_module.so";

/** The CSS both serve, its gzip and brotli files made once. */
const CSS = "body { margin: 0; padding: 0 }\n".repeat(40);

/** The folder of the precompressed cases: with both, with a .gz only, with none. */
async function makeCompressedFolder(dir: string): Promise<void> {
  const { gzipSync, brotliCompressSync } = await import("node:zlib");
  const js = "let answer = 42;\n".repeat(30);
  const files: Record<string, Uint8Array | string> = {
    "site.css": CSS,
    "site.css.gz": gzipSync(CSS),
    "site.css.br": brotliCompressSync(CSS),
    "app.js": js,
    "app.js.gz": gzipSync(js),
    "plain.txt": "no siblings\n",
  };
  for (const [name, contents] of Object.entries(files)) {
    const file = `${dir}/${name}`;
    if (typeof contents === "string") await Deno.writeTextFile(file, contents);
    else await Deno.writeFile(file, contents);
    await Deno.utime(file, MTIME, MTIME);
  }
}

interface CompressedCase {
  method?: "GET" | "HEAD";
  path: string;
  headers?: Record<string, string>;
  /** A listed difference, as in {@linkcode CASES}. */
  differs?: { nginx: number; ours: number; rfc: string };
}

const ENCODED_RANGE =
  '14.2: "A server MAY ignore the Range header field." nginx\'s gzip_static and brotli_static send the whole encoded file; we send the range of its bytes';

const COMPRESSED_CASES: CompressedCase[] = [
  { path: "/site.css" },
  { path: "/site.css", headers: { "Accept-Encoding": "gzip" } },
  { path: "/site.css", headers: { "Accept-Encoding": "br" } },
  { path: "/site.css", headers: { "Accept-Encoding": "gzip, deflate, br" } },
  { path: "/site.css", headers: { "Accept-Encoding": "br;q=0, gzip" } },
  { path: "/site.css", headers: { "Accept-Encoding": "gzip;q=0" } },
  { path: "/site.css", headers: { "Accept-Encoding": "gzip;q=0.5" } },
  { path: "/site.css", headers: { "Accept-Encoding": "GZIP" } },
  { path: "/site.css", headers: { "Accept-Encoding": "identity" } },
  { path: "/site.css", headers: { "Accept-Encoding": "deflate" } },
  { method: "HEAD", path: "/site.css", headers: { "Accept-Encoding": "gzip" } },
  { method: "HEAD", path: "/site.css", headers: { "Accept-Encoding": "br" } },
  { path: "/app.js", headers: { "Accept-Encoding": "gzip, br" } },
  { path: "/app.js", headers: { "Accept-Encoding": "br" } },
  { path: "/app.js" },
  { path: "/plain.txt", headers: { "Accept-Encoding": "gzip, br" } },
  { path: "/site.css.gz" },
  {
    path: "/site.css",
    headers: { "Accept-Encoding": "gzip", Range: "bytes=0-9" },
    differs: { nginx: 200, ours: 206, rfc: ENCODED_RANGE },
  },
  {
    path: "/site.css",
    headers: { "Accept-Encoding": "br", Range: "bytes=-5" },
    differs: { nginx: 200, ours: 206, rfc: ENCODED_RANGE },
  },
  {
    path: "/site.css",
    headers: { "Accept-Encoding": "gzip", Range: "bytes=100000-" },
    differs: { nginx: 200, ours: 416, rfc: ENCODED_RANGE },
  },
  // A range of the file itself, with siblings beside it.
  { path: "/site.css", headers: { Range: "bytes=0-9" } },
  {
    path: "/site.css",
    headers: { "Accept-Encoding": "gzip", "If-None-Match": "{etag}" },
  },
  {
    path: "/site.css",
    headers: { "Accept-Encoding": "br", "If-Modified-Since": "{lastModified}" },
  },
  {
    path: "/site.css",
    headers: {
      "Accept-Encoding": "gzip",
      Range: "bytes=0-9",
      "If-Range": "{etag}",
    },
    differs: { nginx: 200, ours: 206, rfc: ENCODED_RANGE },
  },
];

/**
 * What is compared besides {@linkcode compare}'s fields: the coding, Vary,
 * and that the type is the one of the file itself (each side has its own
 * table of types). nginx sends no Accept-Ranges with an encoded file, as it
 * serves no ranges of it; RFC 9110 14.3 leaves the field to the server
 * ("A server that supports range requests MAY send"), so it is compared
 * for the file itself only.
 */
function compareEncoded(
  nginx: Answer,
  ours: Answer,
  nginxPlain: Answer,
  ourPlain: Answer,
): string[] {
  const differences: string[] = [];
  for (const name of ["content-encoding", "vary"]) {
    const a = nginx.headers.get(name);
    const b = ours.headers.get(name);
    if (a !== b) differences.push(`${name}: nginx ${a}, ours ${b}`);
  }
  const ownType = (answer: Answer, plain: Answer) =>
    answer.headers.get("content-type") === plain.headers.get("content-type");
  if (
    nginx.status < 300 &&
    (!ownType(nginx, nginxPlain) || !ownType(ours, ourPlain))
  ) {
    differences.push(
      `content-type: nginx ${nginx.headers.get("content-type")}, ours ${
        ours.headers.get("content-type")
      }, not the file's`,
    );
  }
  return differences;
}

Deno.test("staticFiles({ precompressed }) answers as nginx's gzip_static and brotli_static do", async () => {
  const brotli = await Deno.stat(BROTLI_STATIC).then(() => true, () => false);
  const dir = await Deno.makeTempDir({ prefix: "static_nginx_gz_" });
  try {
    await Deno.chmod(dir, 0o755);
    const root = `${dir}/root`;
    await Deno.mkdir(root, { mode: 0o755 });
    await makeCompressedFolder(root);
    const log = errorLog();
    // Without the brotli module (libnginx-mod-http-brotli-static), both
    // sides serve gzip only.
    const extra: Extra = {
      main: brotli ? `load_module ${BROTLI_STATIC};` : "",
      http: `gzip_static on;\n  gzip_vary on;\n${
        brotli ? "  brotli_static on;" : ""
      }`,
    };
    await withNginx(dir, root, async (nginxPort) => {
      await withServer(
        staticFiles(root, {
          precompressed: brotli ? ["br", "gzip"] : ["gzip"],
        })(notFound),
        async (_server, ourPort) => {
          let agreed = 0;
          let listed = 0;
          const failures: string[] = [];
          for await (const [pass, item] of passes(COMPRESSED_CASES)) {
            const method = item.method ?? "GET";
            const coding = item.headers?.["Accept-Encoding"] ?? "";
            // Each side's own ETag of the representation asked for.
            const tags = await Promise.all(
              [nginxPort, ourPort].map(async (port) =>
                (await ask(port, "HEAD", item.path, {
                  "Accept-Encoding": coding,
                })).headers.get("etag")
              ),
            );
            const [nginx, ours] = await Promise.all(
              [nginxPort, ourPort].map((port, i) =>
                ask(
                  port,
                  method,
                  item.path,
                  Object.fromEntries(
                    Object.entries(item.headers ?? {}).map((
                      [name, value],
                    ) => [name, fill(value, tags[i] ?? undefined)]),
                  ),
                )
              ),
            );
            const what = `${pass}: ${method} ${item.path} ${
              JSON.stringify(item.headers ?? {})
            }`;
            if (item.differs !== undefined) {
              if (
                nginx.status === item.differs.nginx &&
                ours.status === item.differs.ours
              ) {
                agreed++;
                listed++;
              } else {
                failures.push(
                  `${what}: listed as nginx ${item.differs.nginx}, ours ${item.differs.ours}; got nginx ${nginx.status}, ours ${ours.status}`,
                );
              }
              continue;
            }
            const encoded = nginx.headers.has("content-encoding") ||
              ours.headers.has("content-encoding");
            if (encoded) {
              nginx.headers.delete("accept-ranges");
              ours.headers.delete("accept-ranges");
            }
            const [nginxPlain, ourPlain] = await Promise.all(
              [nginxPort, ourPort].map((port) =>
                ask(port, "HEAD", item.path, {})
              ),
            );
            const differences = [
              ...compare(nginx, ours, [nginxPort, ourPort]),
              ...compareEncoded(nginx, ours, nginxPlain, ourPlain),
            ];
            if (differences.length === 0) agreed++;
            else failures.push(`${what}:\n  ${differences.join("\n  ")}`);
          }
          reportAgreement(
            `staticFiles({ precompressed }) vs nginx${
              brotli ? "" : " (gzip only)"
            }`,
            agreed,
            COMPRESSED_CASES.length * 2,
          );
          console.log(
            `staticFiles({ precompressed }) vs nginx, listed differences: ${listed}`,
          );
          assert.deepEqual(failures, []);
        },
        { errors: log.sink },
      );
    }, extra);
    assert.equal(log.text(), "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
