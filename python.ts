/**
 * Python WSGI apps as gateway apps: {@linkcode pythonApp} runs an unmodified
 * Flask app, or any PEP 3333 callable, in a pool of CPython processes, and
 * gives back an {@linkcode App} that `serve()`, middleware and the test
 * client take like any other.
 *
 * The Deno side does the HTTP, the environ and the server's rules; a small
 * runner shipped inside this package does the Python side of PEP 3333, as
 * wsgiref's `BaseHandler` does. The two talk over a unix socket of their
 * own, so `print()` in the app goes to the terminal and cannot get in the
 * way.
 *
 * @example Serving a Flask app
 * ```ts ignore
 * import { serve } from "jsr:@wsgi/deno";
 * import { pythonApp } from "jsr:@wsgi/deno/python";
 *
 * const app = pythonApp("app.py:app", { workers: 2 });
 * await app.ready;
 * serve(app, { port: 8000 });
 * ```
 *
 * @module
 */
import type { App } from "./_contract/types.ts";
import { callPython, PythonError } from "./_python/call.ts";
import { Pool, PythonLoadError } from "./_python/pool.ts";
import { writeRunner } from "./_python/runner_file.ts";

export { PythonError, PythonLoadError };

/** Options of {@linkcode pythonApp}. */
export interface PythonAppOptions {
  /**
   * The interpreter: a name on PATH or a path, such as a virtualenv's
   * `.venv/bin/python`.
   *
   * @default {"python3"}
   */
  python?: string;
  /** Folders added to `sys.path` after the app file's own folder. */
  pythonPath?: string[];
  /**
   * Worker processes. Each imports the app once.
   *
   * @default {1}
   */
  workers?: number;
  /**
   * Threads per worker, each serving one request at a time.
   *
   * @default {1}
   */
  threads?: number;
  /**
   * Milliseconds a worker may keep a request without answering (waiting
   * for the client does not count). Past it the worker is killed and
   * replaced, as gunicorn's `--timeout` does, and the request gets a 504.
   *
   * @default {30000}
   */
  timeout?: number;
  /** Environment variables for the workers, on top of this process's. */
  env?: Record<string, string>;
}

/**
 * The app {@linkcode pythonApp} returns: an {@linkcode App}, plus the pool's
 * life cycle.
 */
export interface PythonApp extends App {
  /**
   * Resolves once every worker imported the app; rejects with a
   * {@linkcode PythonLoadError} whose message is one line (the file and the
   * Python error's last line) when the file is missing, the import fails
   * or the callable is not there. Requests made before wait for it; after
   * a load error they are answered 500 and the line is logged.
   */
  readonly ready: Promise<void>;
  /**
   * Stops the pool: requests still waiting for a worker get a 503, those
   * in progress finish, then the workers exit (killed if still busy after
   * ten seconds). Call it once the server that uses the app is shut down.
   */
  close(): Promise<void>;
  /** Same as {@linkcode PythonApp.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

const SPEC = /^(.+\.py)(?::([A-Za-z_][\w.]*))?$/;

function count(name: string, value: number | undefined): number {
  if (value === undefined) return 1;
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(
      `Cannot start the Python pool: ${name} must be a whole number of 1 or more, got ${value}`,
    );
  }
  return value;
}

/**
 * Serves a Python WSGI callable from `spec`, `"path/to/app.py:name"`, in a
 * pool of CPython worker processes. Without `:name` the callable is
 * `application`, else `app`, as gunicorn and mod_wsgi look for them.
 *
 * Each worker puts the file's folder first on `sys.path` (then
 * `pythonPath`), imports the file as a module named after it, and serves
 * requests on `threads` threads. A file inside packages (folders with an
 * `__init__.py`) is imported by its dotted name from the folder above
 * them: a Django project's `mysite/wsgi.py` as `mysite.wsgi`. The app
 * gets a real PEP 3333 environ: the environ's string values (those middleware in front set too) as `str`,
 * `wsgi.input` read from the request as the app reads, `wsgi.errors` into
 * the server's errors sink. Its status and headers go through the server's
 * `start_response` checks, so a bad header from Python gets the same 500 as
 * one from TypeScript.
 *
 * A worker that dies mid-request is replaced and the request gets a 502
 * naming why; one past `timeout` gets a 504.
 *
 * @param spec The app file, and optionally `:callable`.
 * @param options The interpreter, paths, pool size, timeout and env.
 * @returns An app with `ready` and `close()`.
 *
 * @example A plain WSGI function
 * ```ts ignore
 * import { pythonApp } from "jsr:@wsgi/deno/python";
 * import { Client } from "jsr:@wsgi/deno/testing";
 *
 * // hello.py:
 * //   def application(environ, start_response):
 * //       start_response("200 OK", [("Content-Type", "text/plain")])
 * //       return [b"Hello from Python"]
 * await using app = pythonApp("hello.py", { python: "/usr/bin/python3" });
 * await app.ready;
 * const response = await new Client(app).get("/");
 * console.log(response.text()); // "Hello from Python"
 * ```
 */
export function pythonApp(
  spec: string,
  options: PythonAppOptions = {},
): PythonApp {
  const match = spec.match(SPEC);
  if (!match) {
    throw new TypeError(
      `Cannot load ${
        JSON.stringify(spec)
      }: a Python app is given as "path/to/app.py" or "path/to/app.py:callable"`,
    );
  }
  const workers = count("workers", options.workers);
  const threads = count("threads", options.threads);
  const timeout = options.timeout ?? 30_000;
  if (!(timeout > 0)) {
    throw new RangeError(
      `Cannot start the Python pool: timeout must be a number of milliseconds above 0, got ${timeout}`,
    );
  }
  const starting = (async () => {
    const dir = await Deno.makeTempDir({ prefix: "wsgi-python-" });
    return new Pool({
      python: options.python ?? "python3",
      runner: await writeRunner(dir),
      file: match[1],
      callable: match[2],
      pythonPath: options.pythonPath ?? [],
      workers,
      threads,
      env: options.env ?? {},
      dir,
    });
  })();
  const ready = starting.then((pool) => pool.ready);
  ready.catch(() => {});
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= starting.then((pool) => pool.close(), () => {});
  let pool: Pool | undefined;
  starting.then((started) => pool = started, () => {});
  const app: App = (environ, startResponse) =>
    pool !== undefined
      ? callPython(pool, timeout, environ, startResponse)
      : starting.then((started) =>
        callPython(started, timeout, environ, startResponse)
      );
  return Object.assign(app, {
    ready,
    close,
    [Symbol.asyncDispose]: close,
  });
}
