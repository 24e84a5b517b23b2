/**
 * `proxyFix`: trusts the `X-Forwarded-*` headers that a known number of
 * reverse proxies in front of the app set, as werkzeug's `ProxyFix` does.
 *
 * When to use it: behind nginx or a load balancer, so the app sees the
 * client's address and the scheme, host, port and path prefix the client
 * used. Set each count to the number of proxies that set that header.
 *
 * Security: a client can send any `X-Forwarded-*` header it likes. Each
 * trusted proxy appends to `X-Forwarded-For` (and replaces or appends the
 * others), so only the last `n` values, those your `n` proxies added, can be
 * trusted; the middleware takes the value `n` places from the right and
 * ignores the rest. Too high a count lets clients spoof their address; with
 * no proxy in front, do not use this middleware at all. A header with fewer
 * values than its count is ignored, as is a header whose count is 0.
 * Each header is read as an RFC 9110 list: a comma inside a quoted string
 * does not split it, the value taken is unquoted, empty elements do not
 * count, and a quoted string left open makes the header untrusted. A
 * scheme other than `http` or `https`, a port that is not digits and a
 * prefix that does not start with `/` are ignored too: each would put
 * something in the environ that is not a scheme, port or path.
 *
 * Environ keys: reads `HTTP_X_FORWARDED_FOR`, `_PROTO`, `_HOST`, `_PORT`,
 * `_PREFIX`; rewrites `REMOTE_ADDR`, `wsgi.url_scheme`, `HTTP_HOST`,
 * `SERVER_NAME`, `SERVER_PORT` and `SCRIPT_NAME` accordingly, and keeps their
 * original values in `environ["proxy_fix.orig"]`.
 *
 * @example Behind one nginx that sets X-Forwarded-For and -Proto
 * ```ts
 * import { proxyFix } from "@wsgi/deno/middleware";
 * import type { App } from "@wsgi/deno";
 * import { Client } from "@wsgi/deno/testing";
 * import assert from "node:assert/strict";
 *
 * const who: App = (environ, startResponse) => {
 *   startResponse("200 OK", [["Content-Type", "text/plain"]]);
 *   return [`${environ.REMOTE_ADDR} ${environ["wsgi.url_scheme"]}`];
 * };
 * const client = new Client(proxyFix()(who));
 * const response = await client.get("/", {
 *   headers: { "X-Forwarded-For": "6.6.6.6, 203.0.113.7", "X-Forwarded-Proto": "https" },
 * });
 * assert.equal(response.text(), "203.0.113.7 https");
 * ```
 *
 * @module
 */
import type { Environ, Middleware } from "../_contract/types.ts";
import { splitList, unquote } from "../_shared/list.ts";
import { splitHostPort } from "../_shared/host.ts";

/** How many proxies set each header. */
export interface ProxyFixOptions {
  /**
   * Proxies that append to `X-Forwarded-For`.
   *
   * @default {1}
   */
  xFor?: number;
  /**
   * Proxies that set `X-Forwarded-Proto`.
   *
   * @default {1}
   */
  xProto?: number;
  /**
   * Proxies that set `X-Forwarded-Host`.
   *
   * @default {0}
   */
  xHost?: number;
  /**
   * Proxies that set `X-Forwarded-Port`.
   *
   * @default {0}
   */
  xPort?: number;
  /**
   * Proxies that set `X-Forwarded-Prefix`.
   *
   * @default {0}
   */
  xPrefix?: number;
}

/** The values `proxyFix` replaced, as `environ["proxy_fix.orig"]` keeps them. */
export interface ProxyFixOriginals {
  /** The address of the proxy that connected. */
  REMOTE_ADDR: string | undefined;
  /** The scheme the proxy spoke to the app. */
  "wsgi.url_scheme": string | undefined;
  /** The Host header the proxy sent. */
  HTTP_HOST: string | undefined;
  /** The server name before the forwarded host. */
  SERVER_NAME: string | undefined;
  /** The server port before the forwarded host or port. */
  SERVER_PORT: string | undefined;
  /** The script name before the forwarded prefix. */
  SCRIPT_NAME: string | undefined;
}

/**
 * Makes the middleware, trusting the given number of proxies per header.
 *
 * @param options Trusted hop counts; the defaults suit one proxy that sets
 * `X-Forwarded-For` and `X-Forwarded-Proto`.
 * @returns The middleware.
 */
export function proxyFix(options: ProxyFixOptions = {}): Middleware {
  const counts = {
    xFor: count(options.xFor ?? 1, "xFor"),
    xProto: count(options.xProto ?? 1, "xProto"),
    xHost: count(options.xHost ?? 0, "xHost"),
    xPort: count(options.xPort ?? 0, "xPort"),
    xPrefix: count(options.xPrefix ?? 0, "xPrefix"),
  };
  return (app) =>
    function proxyFixed(environ, startResponse) {
      const orig: ProxyFixOriginals = {
        REMOTE_ADDR: environ.REMOTE_ADDR,
        "wsgi.url_scheme": environ["wsgi.url_scheme"],
        HTTP_HOST: environ.HTTP_HOST,
        SERVER_NAME: environ.SERVER_NAME,
        SERVER_PORT: environ.SERVER_PORT,
        SCRIPT_NAME: environ.SCRIPT_NAME,
      };
      environ["proxy_fix.orig"] = orig;
      const forwardedFor = trusted(
        environ,
        "HTTP_X_FORWARDED_FOR",
        counts.xFor,
      );
      if (forwardedFor) environ.REMOTE_ADDR = forwardedFor;
      const proto = trusted(environ, "HTTP_X_FORWARDED_PROTO", counts.xProto)
        ?.toLowerCase();
      if (proto === "http" || proto === "https") {
        environ["wsgi.url_scheme"] = proto;
      }
      const host = trusted(environ, "HTTP_X_FORWARDED_HOST", counts.xHost);
      if (host) {
        environ.HTTP_HOST = host;
        const [name, port] = splitHostPort(host);
        environ.SERVER_NAME = name;
        if (port !== undefined) environ.SERVER_PORT = port;
      }
      const port = trusted(environ, "HTTP_X_FORWARDED_PORT", counts.xPort);
      if (port && /^\d+$/.test(port)) {
        const current = environ.HTTP_HOST;
        if (current) environ.HTTP_HOST = `${splitHostPort(current)[0]}:${port}`;
        environ.SERVER_PORT = port;
      }
      const prefix = trusted(
        environ,
        "HTTP_X_FORWARDED_PREFIX",
        counts.xPrefix,
      );
      // PEP 3333: SCRIPT_NAME is the start of the URL's path, so it is ""
      // or starts with "/", and ends without one (PATH_INFO brings it).
      if (prefix?.startsWith("/")) {
        environ.SCRIPT_NAME = prefix.replace(/\/+$/, "");
      }
      return app(environ, startResponse);
    };
}

function count(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(
      `Cannot use proxyFix ${name}: ${value}: a count of proxies is a whole number, 0 or more`,
    );
  }
  return value;
}

/**
 * The value `n` places from the right of a list header (RFC 9110 5.6.1),
 * unquoted if it is a quoted string.
 */
function trusted(environ: Environ, key: string, n: number): string | undefined {
  // Not trusted: the header is not even read.
  if (n === 0) return undefined;
  const header = environ[key];
  if (typeof header !== "string") return undefined;
  // A quoted string left open would swallow what the proxies appended.
  const values = splitList(header);
  if (values === undefined || values.length < n) return undefined;
  return unquote(values[values.length - n]) || undefined;
}
