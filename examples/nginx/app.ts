/**
 * The app behind nginx in the seed deployment (see `nginx.conf` next to
 * it): run two instances of it and let nginx balance between them.
 *
 * ```sh
 * INSTANCE=a deno run -A server.ts examples/nginx/app.ts --port 8001 &
 * INSTANCE=b deno run -A server.ts examples/nginx/app.ts --port 8002 &
 * nginx -p "$PWD/run" -c "$PWD/run/nginx.conf"   # the filled-in template
 * curl http://127.0.0.1:8080/
 * ```
 *
 * It is wrapped in `proxyFix`, trusting one proxy for `X-Forwarded-For`,
 * `-Proto` and `-Host`: nginx is that proxy, so the app sees the client's
 * address, the scheme and the host the client used, not nginx's. Serve it
 * this way only behind exactly one proxy that sets those headers; reached
 * directly, a client could claim any address.
 *
 * Routes (every answer carries `X-Instance`, saying which instance made it):
 *
 * - `GET /` — JSON: the instance, `REMOTE_ADDR`, `wsgi.url_scheme`,
 *   `HTTP_HOST`, `SERVER_PORT` as the app sees them, the raw
 *   `X-Forwarded-For`, and what the server itself saw before `proxyFix`.
 * - `POST /upload` — reads `wsgi.input` to its end, hashing as it goes, and
 *   answers its length, SHA-256 and the `CONTENT_LENGTH` it arrived with.
 * - `GET /stream?size=BYTES&chunk=BYTES&delay=MS` — `size` bytes (default
 *   4 MiB) in chunks of `chunk` bytes (default 64 KiB), pausing `delay` ms
 *   between chunks (default 0). Byte `i` of the body is `i % 251`, so a
 *   client can check every byte of it.
 * - `GET /stats` — how many requests this instance served, and how many of
 *   them were for `/static/` (which nginx should have answered itself).
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { App, Chunk, Environ } from "../../mod.ts";
import { proxyFix, type ProxyFixOriginals } from "../../middleware/mod.ts";

/** What `GET /` answers with. */
export interface WhoAmI {
  /** `$INSTANCE`, else `pid <n>`. */
  instance: string;
  /** The client's address, from `X-Forwarded-For` through `proxyFix`. */
  remoteAddr: string;
  /** `wsgi.url_scheme`, from `X-Forwarded-Proto`. */
  scheme: string;
  /** `HTTP_HOST`, from `X-Forwarded-Host`. */
  host: string | null;
  /** `SERVER_PORT`, the port of the forwarded host. */
  serverPort: string;
  /** The `X-Forwarded-For` header as it arrived. */
  forwardedFor: string | null;
  /** What the server saw: nginx's address and this instance's own port. */
  direct: { remoteAddr: string | null; serverPort: string | null };
}

/** What `POST /upload` answers with. */
export interface UploadDigest {
  /** Which instance read it. */
  instance: string;
  /** Bytes read from `wsgi.input`. */
  bytes: number;
  /** Their SHA-256, in hex. */
  sha256: string;
  /** The request's `CONTENT_LENGTH`, null when it had none. */
  contentLength: string | null;
}

/** What `GET /stats` answers with. */
export interface Stats {
  /** Which instance this is. */
  instance: string;
  /** Requests served, this one included. */
  requests: number;
  /** Requests for paths under `/static/`. */
  staticRequests: number;
}

const KIB = 1024;
const MIB = 1024 * KIB;

/** This instance's name, read once. */
const instance = Deno.env.get("INSTANCE") || `pid ${Deno.pid}`;

let requests = 0;
let staticRequests = 0;

/** The app without `proxyFix`, for trying it out with other counts. */
export const app: App = (environ, startResponse) => {
  requests += 1;
  const path = environ.PATH_INFO;
  const method = environ.REQUEST_METHOD;
  const json = (status: string, value: unknown) => {
    startResponse(status, [
      ["Content-Type", "application/json"],
      ["Cache-Control", "no-store"],
      ["X-Instance", instance],
    ]);
    return [JSON.stringify(value) + "\n"];
  };

  if (path.startsWith("/static/")) {
    // nginx serves /static/ from disk; reaching the app means a location
    // block is missing.
    staticRequests += 1;
    return json("404 Not Found", { error: "static files are nginx's job" });
  }
  if (path === "/" && (method === "GET" || method === "HEAD")) {
    return json("200 OK", whoAmI(environ));
  }
  if (path === "/stats" && method === "GET") {
    const stats: Stats = { instance, requests, staticRequests };
    return json("200 OK", stats);
  }
  if (path === "/upload" && method === "POST") {
    return digest(environ).then((result) => json("200 OK", result));
  }
  if (path === "/stream" && method === "GET") {
    const query = new URLSearchParams(environ.QUERY_STRING);
    const size = intParam(query, "size", 4 * MIB, 0, 256 * MIB);
    const chunk = intParam(query, "chunk", 64 * KIB, 1, 4 * MIB);
    const delay = intParam(query, "delay", 0, 0, 10_000);
    startResponse("200 OK", [
      ["Content-Type", "application/octet-stream"],
      ["Content-Length", String(size)],
      ["X-Instance", instance],
      // Behind nginx with proxy_buffering on, this one response is passed
      // on as it arrives instead of being buffered first.
      ["X-Accel-Buffering", "no"],
    ]);
    return pattern(size, chunk, delay, environ["deno.signal"]);
  }
  return json("404 Not Found", { error: "no such route" });
};

function whoAmI(environ: Environ): WhoAmI {
  const orig = environ["proxy_fix.orig"] as ProxyFixOriginals | undefined;
  return {
    instance,
    remoteAddr: environ.REMOTE_ADDR,
    scheme: environ["wsgi.url_scheme"],
    host: environ.HTTP_HOST ?? null,
    serverPort: environ.SERVER_PORT,
    forwardedFor: environ.HTTP_X_FORWARDED_FOR ?? null,
    direct: {
      remoteAddr: orig?.REMOTE_ADDR ?? null,
      serverPort: orig?.SERVER_PORT ?? null,
    },
  };
}

/** Reads the body in 64 KiB pieces, never holding all of it. */
async function digest(environ: Environ): Promise<UploadDigest> {
  const hash = createHash("sha256");
  let bytes = 0;
  while (true) {
    const piece = await environ["wsgi.input"].read(64 * KIB);
    if (piece.length === 0) break;
    hash.update(piece);
    bytes += piece.length;
  }
  return {
    instance,
    bytes,
    sha256: hash.digest("hex"),
    contentLength: environ.CONTENT_LENGTH ?? null,
  };
}

/** `size` bytes of `i % 251`, `chunk` bytes at a time, `delay` ms apart. */
async function* pattern(
  size: number,
  chunk: number,
  delay: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<Chunk> {
  for (let offset = 0; offset < size; offset += chunk) {
    if (offset > 0 && delay > 0) await sleep(delay, signal);
    // A client that went away needs no more.
    if (signal?.aborted) return;
    const bytes = new Uint8Array(Math.min(chunk, size - offset));
    for (let i = 0; i < bytes.length; i++) bytes[i] = (offset + i) % 251;
    yield bytes;
  }
}

/** Waits `ms`, or less if `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done);
  });
}

/** A whole-number query parameter within `[min, max]`, else `fallback`. */
function intParam(
  query: URLSearchParams,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const value = Number(query.get(name) ?? NaN);
  return Number.isInteger(value)
    ? Math.min(max, Math.max(min, value))
    : fallback;
}

/** The app as served: behind one proxy that sets X-Forwarded-For/-Proto/-Host. */
export default proxyFix({ xFor: 1, xProto: 1, xHost: 1 })(app);
