/**
 * A script that serves itself, in the manner of `wsgiref.simple_server`.
 *
 * The Python original, from the `wsgiref` documentation:
 *
 * ```python
 * from wsgiref.simple_server import make_server
 *
 * def hello_world_app(environ, start_response):
 *     status = '200 OK'
 *     headers = [('Content-type', 'text/plain; charset=utf-8')]
 *     start_response(status, headers)
 *     return [b"Hello World"]
 *
 * with make_server('', 8000, hello_world_app) as httpd:
 *     print("Serving on port 8000...")
 *     httpd.serve_forever()
 * ```
 *
 * Run it directly; it listens on 127.0.0.1 and `$PORT` (8000 when unset,
 * 0 for any free port) and stops cleanly on Ctrl-C or SIGTERM:
 *
 * ```sh
 * PORT=8080 deno run --allow-net --allow-env=PORT examples/make_server.ts
 * ```
 *
 * Importing it runs nothing; the app is exported, so
 * `deno run -A server.ts examples/make_server.ts` serves it too.
 *
 * @module
 */
import { type App, serve } from "../mod.ts";

/** The `wsgiref` hello world. */
export const helloWorldApp: App = (_environ, startResponse) => {
  const status = "200 OK";
  const headers: [string, string][] = [[
    "Content-type",
    "text/plain; charset=utf-8",
  ]];
  startResponse(status, headers);
  return ["Hello World"];
};

export default helloWorldApp;

/** The port from `$PORT`, 8000 when unset; exits with a message when bad. */
function portFromEnv(): number {
  const value = Deno.env.get("PORT") ?? "8000";
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) {
    console.error(`make_server.ts: PORT must be 0 to 65535, not "${value}"`);
    Deno.exit(2);
  }
  return port;
}

if (import.meta.main) {
  // make_server('', port, app): bind and start serving at once.
  const server = serve(helloWorldApp, {
    port: portFromEnv(),
    onListen() {}, // The line below says where, with the real port.
  });
  console.log(`Serving HTTP on ${server.url} ...`);

  // serve_forever(), until a signal asks to stop: then let requests in
  // flight finish and exit with status 0.
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT"]
    : ["SIGINT", "SIGTERM"];
  const stop = () => {
    for (const signal of signals) Deno.removeSignalListener(signal, stop);
    console.log("Shutting down.");
    server.shutdown();
  };
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  await server.finished;
}
