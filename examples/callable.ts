/**
 * An application object that is an instance with a method the server calls:
 * the TypeScript form of a Python instance with `__call__`, which PEP 3333
 * names as the third kind of application object.
 *
 * In Python:
 *
 * ```python
 * class Greeter:
 *     def __init__(self, greeting):
 *         self.greeting = greeting
 *
 *     def __call__(self, environ, start_response):
 *         start_response('200 OK', [('Content-type', 'text/plain')])
 *         return [f"{self.greeting}, {environ['PATH_INFO']}!\n".encode()]
 *
 * application = Greeter("Hello")
 * ```
 *
 * JavaScript has no `__call__`, so the method is named `call`. Unlike the
 * class in `app_class.ts`, the instance is made once and serves every
 * request, so it is the place for configuration and shared state.
 *
 * ```sh
 * deno run -A server.ts examples/callable.ts
 * ```
 *
 * @module
 */
import {
  type Body,
  type CallableApp,
  type Environ,
  pathInfo,
  type StartResponse,
} from "../mod.ts";

/** Greets whoever asks, and counts the requests it has served. */
export class Greeter implements CallableApp {
  /** The word to greet with. */
  readonly greeting: string;
  /** Requests served so far, shared by every request to this instance. */
  count = 0;

  constructor(greeting: string) {
    this.greeting = greeting;
  }

  /** Python's `__call__`: handles one request. */
  call(environ: Environ, startResponse: StartResponse): Body {
    this.count += 1;
    startResponse("200 OK", [
      ["Content-type", "text/plain; charset=utf-8"],
      ["X-Request-Count", String(this.count)],
    ]);
    // pathInfo() decodes PATH_INFO (a Latin-1 native string) as UTF-8 text.
    const who = pathInfo(environ).slice(1) || "world";
    return [`${this.greeting}, ${who}!\n`];
  }
}

/** The application: one instance, called once per request. */
export const application: Greeter = new Greeter("Hello");

export default application;
