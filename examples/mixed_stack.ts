/**
 * A mixed stack: a legacy Flask app (`examples/legacy/app.py`) mounted under
 * `/legacy`, beside a TypeScript `Router` under `/api`, behind one
 * `compose(...)` of `proxyFix`, `accessLog` and `compress`. The way a
 * Python team moves to Deno one mount at a time: the Flask app runs
 * unmodified in CPython workers, sees `SCRIPT_NAME=/legacy` (so `url_for`
 * builds `/legacy/...` URLs), the proxy's client address and scheme, and
 * gets its big responses compressed, all by the same middleware as the
 * TypeScript routes.
 *
 * ```sh
 * deno run -A examples/mixed_stack.ts            # PORT=8000, python3 on PATH
 * PYTHON=.venv/bin/python deno run -A examples/mixed_stack.ts
 * ```
 *
 * @module
 */
import { type App, serve } from "../mod.ts";
import {
  accessLog,
  type AccessLogOutput,
  compose,
  compress,
  mount,
  proxyFix,
  Router,
} from "../middleware/mod.ts";
import { type PythonApp, pythonApp } from "../python.ts";

/** What {@linkcode createApp} can be told. */
export interface MixedStackOptions {
  /** The interpreter for the Flask app; `python3` on PATH by default. */
  python?: string;
  /** Environment variables for the Python workers. */
  env?: Record<string, string>;
  /** Where access log lines go; stdout by default. */
  log?: AccessLogOutput;
}

const LEGACY = new URL("./legacy/app.py", import.meta.url).pathname;

/** The new TypeScript routes. */
function api(): Router {
  const router = new Router();
  router.get("/hello", (_environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "application/json"]]);
    return [JSON.stringify({ hello: "from TypeScript" })];
  });
  return router;
}

const home: App = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/html; charset=utf-8"]]);
  return [
    '<a href="/legacy/">the Flask app</a> <a href="/api/hello">the API</a>\n',
  ];
};

/**
 * The stack, read top to bottom: the proxy's headers first (one proxy in
 * front), so that the log and both apps see the client; then the log,
 * compression, and the mounts. It carries the Flask pool's `ready` and
 * `close()`.
 */
export function createApp(options: MixedStackOptions = {}): PythonApp {
  const legacy = pythonApp(LEGACY, {
    python: options.python,
    env: options.env,
    workers: 2,
  });
  const stack = compose(
    proxyFix({ xFor: 1, xProto: 1, xHost: 1 }),
    accessLog({ format: "combined", output: options.log }),
    compress(),
  )(mount({ "/legacy": legacy, "/api": api().app })(home));
  return Object.assign(stack, {
    ready: legacy.ready,
    close: legacy.close,
    [Symbol.asyncDispose]: legacy.close,
  });
}

if (import.meta.main) {
  const app = createApp({ python: Deno.env.get("PYTHON") });
  await app.ready;
  const server = serve(app, { port: Number(Deno.env.get("PORT") ?? 8000) });
  // SIGTERM and SIGINT drain the server, then the Python workers.
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(signal, () => server.shutdown());
  }
  await server.finished;
  await app.close();
  Deno.exit(0);
}
