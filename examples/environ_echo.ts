/**
 * Echoes the CGI part of the environ as JSON: every uppercase key with a
 * string value (`REQUEST_METHOD`, `PATH_INFO`, `SERVER_NAME`, ...,
 * `CONTENT_TYPE`/`CONTENT_LENGTH` when the request has them, and one
 * `HTTP_*` key per request header), plus `wsgi.url_scheme`.
 *
 * Handy to see what an app receives for a request:
 *
 * ```sh
 * deno run -A server.ts examples/environ_echo.ts &
 * curl -H 'X-Trace: 1' 'http://127.0.0.1:8000/caf%C3%A9?q=1'
 * ```
 *
 * The values are native strings (PEP 3333's Latin-1 "bytes as text"), so
 * `PATH_INFO` for `/caf%C3%A9` is `"/cafÃ©"`, as in Python; `pathInfo()`
 * from `mod.ts` turns it back into `"/café"`. JSON carries each code point
 * as it is, so a client that parses the answer gets the native strings
 * back unchanged.
 *
 * @module
 */
import type { App, Environ } from "../mod.ts";

/** CGI variables and `HTTP_*` keys: uppercase by convention. */
const CGI_KEY = /^[A-Z][A-Z0-9_]*$/;

/** The CGI keys of `environ` and `wsgi.url_scheme`, sorted by name. */
export function cgiKeys(environ: Environ): Record<string, string> {
  const out: Record<string, string> = {};
  // Object.keys sees the headers too: the environ fills them in first.
  for (const key of Object.keys(environ).sort()) {
    const value = environ[key];
    if (typeof value === "string" && CGI_KEY.test(key)) out[key] = value;
  }
  out["wsgi.url_scheme"] = environ["wsgi.url_scheme"];
  return out;
}

/** Answers with {@linkcode cgiKeys} as pretty-printed JSON. */
export const environEcho: App = (environ, startResponse) => {
  startResponse("200 OK", [
    ["Content-Type", "application/json"],
    ["Cache-Control", "no-store"],
  ]);
  return [JSON.stringify(cgiKeys(environ), null, 2) + "\n"];
};

export default environEcho;
