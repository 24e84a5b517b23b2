/**
 * Helpers for native strings and URLs, after Python's `wsgiref.util`.
 *
 * PEP 3333 carries bytes in strings whose code points are 0-255 ("native
 * strings"): `PATH_INFO` of a request for `/café` is `"/cafÃ©"`. These
 * helpers turn such strings back into text and rebuild URLs from an environ.
 *
 * @module
 */
import type { Environ } from "./_contract/types.ts";
import { decodeNative } from "./_shared/native.ts";
import { quoteNative } from "./_shared/percent.ts";

export { decodeNative, encodeNative } from "./_shared/native.ts";
export { quoteNative } from "./_shared/percent.ts";

/**
 * The request path below the app's mount point as text: `PATH_INFO`
 * decoded as UTF-8.
 *
 * @param environ The request's environ.
 * @returns The decoded path, U+FFFD standing for bytes that are not UTF-8.
 *
 * @example
 * ```ts
 * import { buildEnviron, pathInfo } from "@wsgi/deno";
 * import assert from "node:assert/strict";
 *
 * const environ = buildEnviron({ path: "/caf%C3%A9" });
 * assert.equal(environ.PATH_INFO, "/caf\xc3\xa9");
 * assert.equal(pathInfo(environ), "/café");
 * ```
 */
export function pathInfo(environ: Environ): string {
  return decodeNative(environ.PATH_INFO ?? "");
}

/**
 * The URL of the app's root: scheme, host and `SCRIPT_NAME`, like
 * `wsgiref.util.application_uri`.
 *
 * @param environ The request's environ.
 * @returns For example `http://example.com/blog/`.
 *
 * @example
 * ```ts
 * import { applicationUri, buildEnviron } from "@wsgi/deno";
 * import assert from "node:assert/strict";
 *
 * const environ = buildEnviron({ url: "http://example.com/blog/post", scriptName: "/blog" });
 * assert.equal(applicationUri(environ), "http://example.com/blog");
 * ```
 */
export function applicationUri(environ: Environ): string {
  const scheme = environ["wsgi.url_scheme"];
  let url = `${scheme}://`;
  const host = environ.HTTP_HOST;
  if (host) {
    url += host;
  } else {
    url += environ.SERVER_NAME;
    const port = environ.SERVER_PORT;
    if (
      !(scheme === "https" && port === "443") &&
      !(scheme === "http" && port === "80")
    ) url += `:${port}`;
  }
  return url + quoteNative(environ.SCRIPT_NAME || "/", "/;=,");
}

/**
 * The full URL of the request, like `wsgiref.util.request_uri`.
 *
 * @param environ The request's environ.
 * @param includeQuery Append `?` and `QUERY_STRING` when there is one.
 * @returns For example `http://example.com/blog/post?page=2`.
 *
 * @example
 * ```ts
 * import { buildEnviron, requestUri } from "@wsgi/deno";
 * import assert from "node:assert/strict";
 *
 * const environ = buildEnviron({ url: "http://example.com/a%20b?x=1" });
 * assert.equal(requestUri(environ), "http://example.com/a%20b?x=1");
 * ```
 */
export function requestUri(environ: Environ, includeQuery = true): string {
  let url = applicationUri(environ);
  const path = quoteNative(environ.PATH_INFO ?? "", "/;=,");
  url = url.endsWith("/") && path.startsWith("/")
    ? url + path.slice(1)
    : url + path;
  if (includeQuery && environ.QUERY_STRING) url += `?${environ.QUERY_STRING}`;
  return url;
}

/**
 * Moves the first segment of `PATH_INFO` to the end of `SCRIPT_NAME` and
 * returns it, like `wsgiref.util.shift_path_info`: how a dispatcher hands a
 * request to a sub-app that builds its own URLs.
 *
 * @param environ The environ to change.
 * @returns The segment moved, `""` for a trailing slash, or `undefined`
 * when `PATH_INFO` is empty (or the segment was `.`).
 *
 * @example
 * ```ts
 * import { buildEnviron, shiftPathInfo } from "@wsgi/deno";
 * import assert from "node:assert/strict";
 *
 * const environ = buildEnviron({ path: "/blog/2024/post" });
 * assert.equal(shiftPathInfo(environ), "blog");
 * assert.equal(environ.SCRIPT_NAME, "/blog");
 * assert.equal(environ.PATH_INFO, "/2024/post");
 * ```
 */
export function shiftPathInfo(environ: Environ): string | undefined {
  const path = environ.PATH_INFO ?? "";
  if (path === "") return undefined;
  const parts = path.split("/");
  // Empty and "." segments between the first and the last mean nothing.
  const middle = parts.slice(1, -1).filter((p) => p !== "" && p !== ".");
  const rest = [parts[0], ...middle, ...parts.slice(-1)];
  if (parts.length === 1) rest.pop();
  const name = rest[1] ?? "";
  rest.splice(1, 1);
  let script = normalize((environ.SCRIPT_NAME ?? "") + "/" + name);
  if (script.endsWith("/")) script = script.slice(0, -1);
  if (name === "" && !script.endsWith("/")) script += "/";
  environ.SCRIPT_NAME = script;
  environ.PATH_INFO = rest.join("/");
  return name === "." ? undefined : name;
}

/** Collapses `.` and `..` segments and repeated slashes of an absolute path. */
function normalize(path: string): string {
  const out: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") out.pop();
    else out.push(segment);
  }
  return "/" + out.join("/");
}
