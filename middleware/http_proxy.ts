/**
 * `httpProxy`: forwards the requests under a path prefix to another HTTP
 * server, the way a front-end dev server proxies `/api` to a backend.
 *
 * **When to use it.** In development, to serve an app and the API (or the
 * asset server) it talks to from one origin, so that cookies and CORS
 * behave as they will in production.
 *
 * **When not to.** As a production reverse proxy: it does not limit or pool
 * upstream connections, has no timeouts, and does not proxy WebSockets
 * (the `Upgrade` header is hop-by-hop and dropped). Use nginx, Caddy or
 * HAProxy there.
 *
 * **What is forwarded.** A request for `<prefix>/rest?query` goes to
 * `<upstream>/rest?query`, the rest of the path exactly as the client
 * percent-encoded it (from `RAW_URI`; rebuilt from `PATH_INFO` when another
 * middleware changed the path). The method, the headers and the body go
 * along; the body streams from `wsgi.input` in blocks of 64 KiB as it
 * arrives, never held whole (upstream, it is sent with chunked transfer
 * coding, as `fetch` sends any stream). The
 * response comes back streamed, with its status, reason and headers; a
 * redirect is passed back, not followed, with a `Location` (and
 * `Content-Location`) under the upstream URL rewritten to the prefix.
 *
 * Hop-by-hop headers (`Connection`, `Keep-Alive`, `Proxy-*`, `TE`,
 * `Trailer`, `Transfer-Encoding`, `Upgrade`, and any named in
 * `Connection`, read as an RFC 9110 list of tokens) are dropped both ways. `Host` becomes the upstream's (Deno's
 * `fetch` allows no other); the client's is in `X-Forwarded-Host`.
 * `Accept-Encoding` is sent as `identity`, because Deno's `fetch` would
 * otherwise decode a gzip or brotli body but keep its `Content-Encoding`;
 * put {@linkcode compress} in front to compress for the client. The
 * upstream gets `X-Forwarded-For` (the client's address appended to any
 * list it came with), `X-Forwarded-Proto`, `X-Forwarded-Host` and
 * `X-Forwarded-Prefix` (the path the proxy took off, as sent).
 *
 * If the upstream cannot be reached the client gets a 502 that names the
 * upstream, and the error goes to `wsgi.errors`. Requests outside the
 * prefix go to the wrapped app.
 *
 * **Security.** The upstream trusts `X-Forwarded-*` from this proxy; it
 * appends to a client's `X-Forwarded-For` rather than replacing it, so only
 * its last entry is known to be true. A request whose path would leave the
 * upstream path (`..` and `%2e%2e` segments) gets a 400 instead of reaching
 * another part of the upstream server. The 502 body shows the upstream's
 * origin, which is fine for a dev server and a reason not to run this one
 * in production.
 *
 * **Environ keys read:** `REQUEST_METHOD`, `SCRIPT_NAME`, `PATH_INFO`,
 * `RAW_URI`, `QUERY_STRING`, `CONTENT_TYPE`, `CONTENT_LENGTH`, `HTTP_*`,
 * `REMOTE_ADDR`, `SERVER_NAME`, `SERVER_PORT`, `wsgi.url_scheme`,
 * `wsgi.input`, `wsgi.errors`. **Written:** none.
 *
 * @example Proxying `/api` to a backend on port 3000
 * ```ts
 * import { httpProxy } from "@wsgi/deno/middleware";
 * import { type App, serve } from "@wsgi/deno";
 *
 * const site: App = (_environ, startResponse) => {
 *   startResponse("200 OK", [["Content-Type", "text/html"]]);
 *   return ["<script src=/app.js></script>"];
 * };
 * const app = httpProxy("/api", "http://127.0.0.1:3000")(site);
 * const server = serve(app, { port: 0, onListen() {} });
 * await server.shutdown();
 * ```
 *
 * @module
 */
import type {
  Body,
  Environ,
  Header,
  InputStream,
  Middleware,
  StartResponse,
} from "../_contract/types.ts";
import { escapeControls, formatError } from "../_shared/errors.ts";
import { REASONS } from "../_shared/status.ts";
import {
  HOP_BY_HOP as SERVER_HOP_BY_HOP,
  isReasonPhrase,
  isToken,
} from "../_shared/http_grammar.ts";
import { splitList } from "../_shared/list.ts";
import { PATH_SAFE, quoteNative, unquoteNative } from "../_shared/percent.ts";

/** Options of {@linkcode httpProxy}. */
export interface HttpProxyOptions {
  /**
   * Rewrite a `Location` or `Content-Location` that points into the
   * upstream (an absolute URL under it, or a path under its path) to the
   * same place under the prefix, so that redirects keep the client on the
   * proxy.
   *
   * @default {true}
   */
  rewriteLocation?: boolean;
}

// The server's hop-by-hop headers, and those that proxies also meet: the
// Proxy-Connection of old clients and the singular Trailer.
const HOP_BY_HOP = new Set([
  ...SERVER_HOP_BY_HOP,
  "proxy-connection",
  "trailer",
]);
// Request headers the proxy sets itself: Host is the upstream's, and
// Deno.serve already answered any `Expect: 100-continue`.
const NOT_FORWARDED = new Set(["host", "expect", "accept-encoding"]);
// The size of the blocks a request body is forwarded in.
const BLOCK = 65536;

/**
 * Forwards requests under `prefix` to the `upstream` server and streams
 * its responses back; other requests go to the wrapped app.
 *
 * @param prefix The path prefix to forward, like `"/api"`; `""` forwards
 * everything. It is matched on whole segments: `/api` covers `/api` and
 * `/api/users`, not `/apis`.
 * @param upstream The URL to forward to, like `"http://127.0.0.1:3000"`
 * or `"http://127.0.0.1:3000/v1"`; the rest of the request path is
 * appended to its path.
 * @param options Whether to rewrite redirects.
 * @returns The middleware.
 *
 * @example Forwarding to an upstream server
 * ```ts
 * import { httpProxy } from "@wsgi/deno/middleware";
 * import { Client } from "@wsgi/deno/testing";
 * import assert from "node:assert/strict";
 *
 * const upstream = Deno.serve(
 *   { hostname: "127.0.0.1", port: 0, onListen() {} },
 *   (request) => new Response(`upstream saw ${new URL(request.url).pathname}`),
 * );
 * const app = httpProxy("/api", `http://127.0.0.1:${upstream.addr.port}/v1`)(
 *   (_environ, startResponse) => {
 *     startResponse("404 Not Found", [["Content-Type", "text/plain"]]);
 *     return ["not proxied"];
 *   },
 * );
 * const client = new Client(app);
 * assert.equal((await client.get("/api/users")).text(), "upstream saw /v1/users");
 * assert.equal((await client.get("/other")).text(), "not proxied");
 * await upstream.shutdown();
 * ```
 */
export function httpProxy(
  prefix: string,
  upstream: string | URL,
  options: HttpProxyOptions = {},
): Middleware {
  const mount = prefix.replace(/\/+$/, "");
  if (mount !== "" && !mount.startsWith("/")) {
    throw new TypeError(
      `Cannot proxy "${prefix}": the prefix must start with "/"`,
    );
  }
  let target: URL;
  try {
    target = new URL(upstream);
  } catch {
    throw new TypeError(`Cannot proxy to "${upstream}": it is not a URL`);
  }
  if (target.protocol !== "http:" && target.protocol !== "https:") {
    throw new TypeError(
      `Cannot proxy to "${upstream}": the upstream must be an http: or https: URL`,
    );
  }
  if (target.search !== "" || target.hash !== "" || target.username !== "") {
    throw new TypeError(
      `Cannot proxy to "${upstream}": the upstream URL must not have a query, fragment or credentials`,
    );
  }
  const proxy: Proxy = {
    mount,
    origin: target.origin,
    basePath: target.pathname.replace(/\/+$/, ""),
    rewriteLocation: options.rewriteLocation ?? true,
  };

  return (app) =>
    function httpProxy(environ, startResponse) {
      const path = environ.PATH_INFO;
      if (mount !== "" && path !== mount && !path.startsWith(mount + "/")) {
        return app(environ, startResponse);
      }
      return forward(proxy, environ, startResponse);
    };
}

interface Proxy {
  mount: string;
  origin: string;
  basePath: string;
  rewriteLocation: boolean;
}

/** Sends one request upstream and turns the answer into the response. */
async function forward(
  proxy: Proxy,
  environ: Environ,
  startResponse: StartResponse,
): Promise<Body> {
  const { prefix, rest } = splitPath(environ, proxy.mount);
  const base = proxy.origin + proxy.basePath;
  let url = base + (rest === "" && proxy.basePath === "" ? "/" : rest);
  if (environ.QUERY_STRING) url += `?${environ.QUERY_STRING}`;
  // `..` and `%2e%2e` segments are resolved by URL parsing: refuse a path
  // that would climb out of the upstream's path.
  const resolved = new URL(url).pathname;
  if (
    proxy.basePath !== "" && resolved !== proxy.basePath &&
    !resolved.startsWith(proxy.basePath + "/")
  ) {
    return plain(
      startResponse,
      "400 Bad Request",
      "Bad Request: the path leaves the proxied prefix\n",
    );
  }

  const method = environ.REQUEST_METHOD;
  const init: RequestInit & { duplex?: "half" } = {
    method,
    headers: requestHeaders(environ, prefix),
    redirect: "manual",
  };
  // An error reading the request body is the request's, not the upstream's:
  // the server answers it (413 for a body over its limit).
  let inputError: { error: unknown } | undefined;
  if (method !== "GET" && method !== "HEAD" && hasBody(environ)) {
    init.body = inputStream(environ["wsgi.input"], (error) => {
      inputError = { error };
    });
    init.duplex = "half";
  }
  let response: Response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    if (inputError !== undefined) throw inputError.error;
    environ["wsgi.errors"].write(
      `[httpProxy] ${method} ${
        escapeControls(environ.SCRIPT_NAME + environ.PATH_INFO)
      }: ` +
        `cannot reach ${proxy.origin}: ${formatError(error)}\n`,
    );
    return plain(
      startResponse,
      "502 Bad Gateway",
      `Bad Gateway: the upstream server ${proxy.origin} did not answer\n`,
    );
  }

  const reason = response.statusText && isReasonPhrase(response.statusText)
    ? response.statusText
    : REASONS[response.status] ?? "Unknown";
  try {
    startResponse(
      `${response.status} ${reason}`,
      responseHeaders(response.headers, proxy, base, prefix),
    );
  } catch (error) {
    await response.body?.cancel();
    throw error;
  }
  return response.body === null ? [] : streamed(response.body);
}

/**
 * `wsgi.input` as a stream, in blocks of `BLOCK` bytes: `read(n)` waits for
 * `n` bytes, as Python's does, and iterating it would wait for newlines.
 */
function inputStream(
  input: InputStream,
  failed: (error: unknown) => void,
): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let block: Uint8Array;
      try {
        block = await input.read(BLOCK);
      } catch (error) {
        // fetch() rejects with a copy of this error; keep the original.
        failed(error);
        throw error;
      }
      if (block.length === 0) controller.close();
      else controller.enqueue(block);
    },
  }, { highWaterMark: 0 });
}

/** The upstream body as a gateway body that cancels it when closed early. */
function streamed(stream: ReadableStream<Uint8Array>): Body {
  const reader = stream.getReader();
  let done = false;
  return {
    [Symbol.asyncIterator]: () => ({
      next: async (): Promise<IteratorResult<Uint8Array>> => {
        const result = await reader.read();
        if (result.done) {
          done = true;
          return { done: true, value: undefined };
        }
        return { done: false, value: result.value };
      },
    }),
    close() {
      if (done) return;
      done = true;
      // The client went away, or the server stopped: hang up upstream too.
      return reader.cancel().catch(() => {});
    },
  };
}

/** The headers to send upstream. */
function requestHeaders(environ: Environ, prefix: string): Headers {
  const headers = new Headers();
  const listed = connectionTokens(environ.HTTP_CONNECTION);
  for (const key of Object.keys(environ)) {
    if (!key.startsWith("HTTP_")) continue;
    const value = environ[key];
    if (typeof value !== "string") continue;
    const name = key.slice(5).toLowerCase().replaceAll("_", "-");
    if (HOP_BY_HOP.has(name) || listed.has(name) || NOT_FORWARDED.has(name)) {
      continue;
    }
    headers.append(name, value);
  }
  if (environ.CONTENT_TYPE) headers.set("content-type", environ.CONTENT_TYPE);
  headers.set("accept-encoding", "identity");
  const remote = environ.REMOTE_ADDR;
  const forwardedFor = environ.HTTP_X_FORWARDED_FOR;
  if (remote) {
    headers.set(
      "x-forwarded-for",
      forwardedFor ? `${forwardedFor}, ${remote}` : remote,
    );
  }
  headers.set("x-forwarded-proto", environ["wsgi.url_scheme"]);
  headers.set(
    "x-forwarded-host",
    environ.HTTP_HOST ?? `${environ.SERVER_NAME}:${environ.SERVER_PORT}`,
  );
  if (prefix !== "") headers.set("x-forwarded-prefix", prefix);
  return headers;
}

/** The upstream's response headers, as the client gets them. */
function responseHeaders(
  upstream: Headers,
  proxy: Proxy,
  base: string,
  prefix: string,
): Header[] {
  const listed = connectionTokens(upstream.get("connection") ?? undefined);
  const out: Header[] = [];
  for (const [name, value] of upstream) {
    if (HOP_BY_HOP.has(name) || listed.has(name)) continue;
    if (
      proxy.rewriteLocation &&
      (name === "location" || name === "content-location")
    ) {
      out.push([name, rewriteLocation(value, proxy, base, prefix)]);
    } else out.push([name, value]);
  }
  return out;
}

/** A location under the upstream, moved under the prefix. */
function rewriteLocation(
  location: string,
  proxy: Proxy,
  base: string,
  prefix: string,
): string {
  let rest: string | undefined;
  if (startsWithPath(location, base)) rest = location.slice(base.length);
  else if (
    location.startsWith("/") && !location.startsWith("//") &&
    startsWithPath(location, proxy.basePath)
  ) rest = location.slice(proxy.basePath.length);
  if (rest === undefined) return location;
  const moved = prefix + rest;
  return moved === "" || moved[0] !== "/" ? `/${moved}` : moved;
}

/** Whether `value` is `path` or continues it with `/`, `?` or `#`. */
function startsWithPath(value: string, path: string): boolean {
  if (!value.startsWith(path)) return false;
  const next = value[path.length];
  return next === undefined || next === "/" || next === "?" || next === "#" ||
    path === "";
}

/**
 * The request path split at the end of the prefix (after `SCRIPT_NAME`),
 * both halves percent-encoded as the client sent them.
 */
function splitPath(
  environ: Environ,
  mount: string,
): { prefix: string; rest: string } {
  const script = environ.SCRIPT_NAME ?? "";
  const rawUri = environ.RAW_URI;
  if (typeof rawUri === "string") {
    const q = rawUri.indexOf("?");
    const raw = q < 0 ? rawUri : rawUri.slice(0, q);
    // Only when no middleware rewrote the path does RAW_URI describe it.
    if (unquoteNative(raw) === script + environ.PATH_INFO) {
      const cut = rawIndex(raw, script.length + mount.length);
      return { prefix: raw.slice(0, cut), rest: raw.slice(cut) };
    }
  }
  return {
    prefix: quoteNative(script + mount, PATH_SAFE),
    rest: quoteNative(environ.PATH_INFO.slice(mount.length), PATH_SAFE),
  };
}

/** The index in a percent-encoded path where `decoded` characters end. */
function rawIndex(raw: string, decoded: number): number {
  let i = 0;
  for (let count = 0; count < decoded && i < raw.length; count++) {
    i += raw[i] === "%" && /^[0-9A-Fa-f]{2}$/.test(raw.slice(i + 1, i + 3))
      ? 3
      : 1;
  }
  return i;
}

/**
 * The header names listed in a `Connection` header, lowercase. Only a token
 * is a connection-option (RFC 9110 7.6.1): a quoted string names no header,
 * whatever its commas enclose, and a quote never closed leaves no list.
 */
function connectionTokens(value: string | undefined): Set<string> {
  const tokens = new Set<string>();
  if (value === undefined) return tokens;
  for (const option of splitList(value) ?? []) {
    if (isToken(option)) tokens.add(option.toLowerCase());
  }
  return tokens;
}

/** Whether the request has a body to forward. */
function hasBody(environ: Environ): boolean {
  const length = environ.CONTENT_LENGTH;
  if (length !== undefined) return length.trim() !== "0";
  if (environ.HTTP_TRANSFER_ENCODING !== undefined) return true;
  // A Request made in-process (the test client) has no framing headers.
  const request = environ["deno.request"];
  return request instanceof Request && request.body !== null;
}

function plain(
  startResponse: StartResponse,
  status: string,
  text: string,
): Body {
  const body = new TextEncoder().encode(text);
  startResponse(status, [
    ["Content-Type", "text/plain; charset=utf-8"],
    ["Content-Length", String(body.length)],
  ]);
  return [body];
}
