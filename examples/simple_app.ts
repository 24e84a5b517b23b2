/**
 * PEP 3333's `simple_app`: the simplest possible application object.
 *
 * The Python original:
 *
 * ```python
 * def simple_app(environ, start_response):
 *     """Simplest possible application object"""
 *     status = '200 OK'
 *     response_headers = [('Content-type', 'text/plain')]
 *     start_response(status, response_headers)
 *     return [HELLO_WORLD]
 * ```
 *
 * Here it also says which method the request used, read from the environ.
 * Serve it with:
 *
 * ```sh
 * deno run -A server.ts examples/simple_app.ts
 * ```
 *
 * @module
 */
import type { App } from "../mod.ts";

/** Answers every request with a line naming its `REQUEST_METHOD`. */
export const simpleApp: App = (environ, startResponse) => {
  const status = "200 OK";
  const responseHeaders: [string, string][] = [["Content-type", "text/plain"]];
  startResponse(status, responseHeaders);
  // A one-element array: the server sends it with a Content-Length.
  return [`Hello world! You sent a ${environ.REQUEST_METHOD} request.\n`];
};

export default simpleApp;
