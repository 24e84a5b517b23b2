/**
 * PEP 3333's `AppClass`: the application object is a class, and the body
 * is the instance the server constructs for each request.
 *
 * The Python original:
 *
 * ```python
 * class AppClass:
 *     def __init__(self, environ, start_response):
 *         self.environ = environ
 *         self.start = start_response
 *
 *     def __iter__(self):
 *         status = '200 OK'
 *         response_headers = [('Content-type', 'text/plain')]
 *         self.start(status, response_headers)
 *         yield HELLO_WORLD
 * ```
 *
 * "Calling" the class is `new AppClass(environ, startResponse)`; iterating
 * the instance runs the generator below, which starts the response before it
 * yields the first chunk, exactly as in the Python. `serve()`, the CLI and
 * the test client all accept the class itself (through `toApp()`):
 *
 * ```sh
 * deno run -A server.ts examples/app_class.ts
 * ```
 *
 * @module
 */
import type { Environ, StartResponse } from "../mod.ts";

const HELLO_WORLD = "Hello world!\n";

/** One instance per request; the instance is the response body. */
export class AppClass {
  /** The request, kept as the Python keeps it. */
  environ: Environ;
  /** The request's `startResponse`, called once iteration begins. */
  start: StartResponse;

  constructor(environ: Environ, startResponse: StartResponse) {
    this.environ = environ;
    this.start = startResponse;
  }

  /** Python's `__iter__`: starts the response, then yields the body. */
  *[Symbol.iterator](): Generator<string> {
    const status = "200 OK";
    const responseHeaders: [string, string][] = [[
      "Content-type",
      "text/plain",
    ]];
    this.start(status, responseHeaders);
    yield HELLO_WORLD;
  }
}

export default AppClass;
