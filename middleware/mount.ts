/**
 * `mount`: sends requests under a path prefix to the app mounted there.
 *
 * When to use it: to put whole apps side by side in one process: an API
 * under `/api`, a Hono app (through `fromFetch`) under `/hono`, static files
 * under `/static`. The prefix moves from `PATH_INFO` to the end of
 * `SCRIPT_NAME`, so a mounted app sees itself at its own root and can still
 * build its full URLs (`applicationUri(environ)` includes the prefix), as
 * werkzeug's `DispatcherMiddleware` does. When not: to route individual URLs
 * to handlers; use `Router`.
 *
 * The longest matching prefix wins; a prefix matches the path equal to it
 * and every path below it (`/api` takes `/api` and `/api/x`, not `/apix`).
 * Requests under no prefix go to the wrapped app.
 *
 * Environ keys: reads and rewrites `SCRIPT_NAME` and `PATH_INFO`.
 *
 * @example
 * ```ts
 * import { mount } from "@wsgi/deno/middleware";
 * import type { App } from "@wsgi/deno";
 * import { Client } from "@wsgi/deno/testing";
 * import assert from "node:assert/strict";
 *
 * const where: App = (environ, startResponse) => {
 *   startResponse("200 OK", [["Content-Type", "text/plain"]]);
 *   return [`${environ.SCRIPT_NAME} ${environ.PATH_INFO}`];
 * };
 * const app = mount({ "/api": where, "/api/v2": where })(where);
 * const client = new Client(app);
 * assert.equal((await client.get("/api/v2/users")).text(), "/api/v2 /users");
 * assert.equal((await client.get("/api/users")).text(), "/api /users");
 * assert.equal((await client.get("/home")).text(), " /home");
 * ```
 *
 * @module
 */
import type { AppLike, Middleware } from "../_contract/types.ts";
import { toApp } from "../_shared/app_like.ts";
import { encodeNative } from "../_shared/native.ts";

/**
 * Mounts apps at path prefixes in front of the wrapped app.
 *
 * @param mounts Apps by prefix, such as `{ "/api": api }`. A prefix starts
 * with `/` and does not end with one; it may hold any text (it is compared
 * with the request path as UTF-8).
 * @returns The middleware; the app it wraps gets everything else.
 */
export function mount(mounts: Record<string, AppLike>): Middleware {
  const entries = Object.entries(mounts).map(([prefix, app]) => {
    if (!prefix.startsWith("/") || prefix.endsWith("/")) {
      throw new TypeError(
        `Cannot mount at "${prefix}": a prefix starts with "/" and does not end with one`,
      );
    }
    // PATH_INFO holds UTF-8 bytes as Latin-1 characters; so must the prefix.
    return { prefix: encodeNative(prefix), app: toApp(app) };
  }).sort((a, b) => b.prefix.length - a.prefix.length);
  return (fallback) =>
    function mounted(environ, startResponse) {
      const path = environ.PATH_INFO ?? "";
      for (const { prefix, app } of entries) {
        if (
          path.startsWith(prefix) &&
          (path.length === prefix.length || path[prefix.length] === "/")
        ) {
          environ.SCRIPT_NAME = (environ.SCRIPT_NAME ?? "") + prefix;
          environ.PATH_INFO = path.slice(prefix.length);
          return app(environ, startResponse);
        }
      }
      return fallback(environ, startResponse);
    };
}
