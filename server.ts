/**
 * The server: gateway apps on `Deno.serve`.
 *
 * - {@linkcode serve} listens and serves an app.
 * - {@linkcode toFetchHandler} turns an app into a fetch handler,
 *   `(Request, info) => Response`, for anything that takes one.
 * - {@linkcode fetchExport} makes the `{ fetch }` default export that
 *   `deno serve` (and `deno serve --parallel`, one isolate per core) runs.
 *
 * Run as a program it is a CLI in the manner of gunicorn:
 *
 * ```sh
 * deno run -A server.ts app.ts[:name] [--host H] [--port P] ...
 * ```
 *
 * @module
 */
import type {
  AppLike,
  Environ,
  ErrorSink,
  FetchHandler,
} from "./_contract/types.ts";
import { toApp } from "./_shared/app_like.ts";
import { listenUrl } from "./_shared/host.ts";
import { type EnvironContext, makeEnviron } from "./_request/environ.ts";
import { errorStream, formatError } from "./_shared/errors.ts";
import { checkRequest, field, innerFields } from "./_request/request_checks.ts";
import {
  Exchange,
  internalError,
  ResponseAborted,
  tooLarge,
} from "./_request/exchange.ts";

/** Options of {@linkcode toFetchHandler}, shared by {@linkcode serve}. */
export interface FetchHandlerOptions {
  /**
   * Where `wsgi.errors` and the server's own error lines go: an
   * `ErrorStream` or a function taking the text. Stderr by default.
   */
  errors?: ErrorSink;
  /**
   * Largest request body in bytes. A request that declares a larger
   * Content-Length gets a 413 without reaching the app; a chunked upload
   * that grows past it makes `wsgi.input` throw, and the client gets a 413
   * if the response has not started.
   *
   * @default {Infinity}
   */
  maxBodySize?: number;
  /**
   * Milliseconds an app has to start its response (to send its headers).
   * Past it the client gets a 503, the app's `deno.signal` aborts with a
   * `TimeoutError`, and the line in `wsgi.errors` says so; whatever the app
   * answers later is dropped, its body closed. A response that has started
   * may take as long as it needs. No limit by default.
   */
  requestTimeout?: number;
  /**
   * A path prefix that belongs to the server, not the app: requests under it
   * get it as `SCRIPT_NAME`, the rest of the path as `PATH_INFO`.
   *
   * @default {""}
   */
  scriptName?: string;
  /**
   * `SERVER_NAME` and `SERVER_PORT`. When omitted they come from the
   * request's Host header, which is right under `deno serve` and other
   * hosts that do not say where they listen.
   */
  serverName?: string;
  /** See {@linkcode FetchHandlerOptions.serverName}. */
  serverPort?: number;
  /**
   * `wsgi.url_scheme`: the scheme of the connection the handler serves.
   * `serve()` knows it (`"https"` with a certificate) and `fetchExport()`
   * serves plain HTTP under `deno serve`. A handler of your own
   * `Deno.serve({ cert, key })` should say `"https"`: when omitted, the scheme
   * is read from the request's URL, where a request in absolute form
   * (`GET https://host/ HTTP/1.1`) can name one of the client's choosing.
   */
  urlScheme?: "http" | "https";
  /**
   * `wsgi.multiprocess`: whether other processes or isolates serve the same
   * app.
   *
   * @default {false}
   */
  multiprocess?: boolean;
}

/** Options of {@linkcode serve}. */
export interface ServeOptions extends FetchHandlerOptions {
  /**
   * The address to listen on.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * The port to listen on; 0 picks a free one.
   *
   * @default {8000}
   */
  port?: number;
  /** Listen on this unix socket instead of TCP. */
  path?: string;
  /** PEM certificate chain, to serve HTTPS (and HTTP/2 by ALPN). */
  cert?: string;
  /** PEM private key of {@linkcode ServeOptions.cert}. */
  key?: string;
  /** Aborting it shuts the server down gracefully. */
  signal?: AbortSignal;
  /**
   * Let other listeners (in other isolates) bind the same port, the kernel
   * spreading connections over them (`SO_REUSEPORT`): how the CLI's
   * `--workers` serves from several isolates. Needs `--unstable-net`.
   *
   * @default {false}
   */
  reusePort?: boolean;
  /**
   * Called once the server listens. By default it prints
   * `Listening on <url>`.
   */
  onListen?: (addr: Deno.NetAddr | Deno.UnixAddr) => void;
}

/** A running server, as {@linkcode serve} returns it. */
export interface Server {
  /** The address it listens on (with the real port when 0 was asked). */
  readonly addr: Deno.NetAddr | Deno.UnixAddr;
  /** Its base URL, such as `http://127.0.0.1:8000/`; for a unix socket, `http+unix://` and the path. */
  readonly url: string;
  /** Settles when the server has closed. */
  readonly finished: Promise<void>;
  /**
   * Stops accepting connections, lets requests in flight finish, and
   * resolves when the server has closed.
   */
  shutdown(): Promise<void>;
}

/** Resolves the options once into what every request needs. */
function context(options: FetchHandlerOptions): EnvironContext {
  const maxBodySize = options.maxBodySize ?? Infinity;
  if (!(maxBodySize >= 0)) {
    throw new RangeError(
      `Cannot use maxBodySize ${maxBodySize}: it must be a number of bytes, 0 or more`,
    );
  }
  const scriptName = (options.scriptName ?? "").replace(/\/+$/, "");
  if (scriptName !== "" && !scriptName.startsWith("/")) {
    throw new TypeError(
      `Cannot use scriptName "${scriptName}": it must start with "/"`,
    );
  }
  return {
    serverName: options.serverName,
    serverPort: options.serverPort === undefined
      ? undefined
      : String(options.serverPort),
    scriptName,
    errors: errorStream(options.errors),
    multiprocess: options.multiprocess ?? false,
    urlScheme: options.urlScheme,
    maxBodySize,
  };
}

/**
 * The handler behind every entry point. `toWire` is for a handler whose
 * responses go straight to `Deno.serve` (`serve()`, `fetchExport()`): see
 * {@linkcode Exchange}.
 */
function handlerFor(
  app: AppLike,
  ctx: EnvironContext,
  timeout: number | undefined,
  toWire: boolean,
): FetchHandler {
  const run = toApp(app);
  const limit = ctx.maxBodySize;
  return function handle(request, info) {
    const rejected = checkRequest(request, info);
    if (rejected !== undefined) return rejected;
    if (limit !== Infinity) {
      const length = field(request, innerFields(request), "content-length");
      if (length !== null && Number(length) > limit) return tooLarge(limit);
    }
    const exchange = new Exchange(toWire);
    const environ: Environ = makeEnviron(request, info, ctx, exchange);
    const response = exchange.run(run, environ);
    if (timeout === undefined || response instanceof Response) return response;
    return timeLimited(response, exchange, timeout);
  };
}

/** `response`, or a 503 if its headers are not ready within `ms`. */
function timeLimited(
  response: Promise<Response>,
  exchange: Exchange,
  ms: number,
): Promise<Response> {
  return new Promise((resolve) => {
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      resolve(exchange.timeOut(ms));
    }, ms);
    response.then((answer) => {
      clearTimeout(timer);
      if (!late) resolve(answer);
      // Nobody will read it: cancelling closes the app's body.
      else answer.body?.cancel().catch(() => {});
    });
  });
}

/**
 * Turns an app into a fetch handler, `(Request, info) => Response`, so that
 * it runs anywhere that takes one: `Deno.serve`, `deno serve`, or another
 * framework's route.
 *
 * @param app The app (or an app class, or an object with `call`).
 * @param options Error sink, body limit, script name, server name.
 * @returns The handler.
 *
 * @example Under `Deno.serve` directly
 * ```ts
 * import { toFetchHandler } from "@wsgi/deno/server";
 * import assert from "node:assert/strict";
 *
 * const handler = toFetchHandler((_environ, startResponse) => {
 *   startResponse("200 OK", [["Content-Type", "text/plain"]]);
 *   return ["hi"];
 * });
 * const response = await handler(new Request("http://localhost/"));
 * assert.equal(await response.text(), "hi");
 * ```
 */
export function toFetchHandler(
  app: AppLike,
  options: FetchHandlerOptions = {},
): FetchHandler {
  return handlerFor(app, context(options), timeLimit(options), false);
}

function timeLimit(options: FetchHandlerOptions): number | undefined {
  const ms = options.requestTimeout;
  if (ms !== undefined && !(ms > 0 && ms <= 2_147_483_647)) {
    throw new RangeError(
      `Cannot use requestTimeout ${ms}: it must be a number of milliseconds, more than 0`,
    );
  }
  return ms;
}

/**
 * Makes the default export that `deno serve` runs:
 * `export default fetchExport(app)`. With `deno serve --parallel` every
 * core runs an isolate of its own; Deno does not tell the isolates, so pass
 * `{ multiprocess: true }` to set `wsgi.multiprocess` for the app.
 *
 * @param app The app.
 * @param options As for {@linkcode toFetchHandler}.
 * @returns An object with a `fetch` method.
 *
 * @example app.ts, run with `deno serve --parallel app.ts`
 * ```ts
 * import { fetchExport } from "@wsgi/deno/server";
 *
 * export default fetchExport((_environ, startResponse) => {
 *   startResponse("200 OK", [["Content-Type", "text/plain"]]);
 *   return ["Hello from every core\n"];
 * }, { multiprocess: true });
 * ```
 */
export function fetchExport(
  app: AppLike,
  options: FetchHandlerOptions = {},
): { fetch: FetchHandler } {
  return {
    fetch: handlerFor(
      app,
      context({ ...options, urlScheme: options.urlScheme ?? "http" }),
      timeLimit(options),
      true,
    ),
  };
}

/**
 * Serves an app on `Deno.serve`, by default on http://127.0.0.1:8000/.
 *
 * @param app The app (or an app class, or an object with `call`).
 * @param options Where to listen, TLS, limits, where errors go.
 * @returns The running server: its address, `finished`, `shutdown()`.
 *
 * @example Serve on a free port and stop again
 * ```ts
 * import { serve } from "@wsgi/deno/server";
 * import assert from "node:assert/strict";
 *
 * const server = serve((environ, startResponse) => {
 *   startResponse("200 OK", [["Content-Type", "text/plain"]]);
 *   return [`You asked for ${environ.PATH_INFO}`];
 * }, { port: 0, onListen() {} });
 * const response = await fetch(new URL("/hello", server.url));
 * assert.equal(await response.text(), "You asked for /hello");
 * await server.shutdown();
 * ```
 */
export function serve(app: AppLike, options: ServeOptions = {}): Server {
  const ctx = context({
    ...options,
    urlScheme: options.cert === undefined ? "http" : "https",
  });
  const handler = handlerFor(app, ctx, timeLimit(options), true);
  const onListen = options.onListen ?? ((addr) => {
    console.log(`Listening on ${listenUrl(addr, options.cert !== undefined)}`);
  });
  const common = {
    signal: options.signal,
    // The adapter answers every app failure itself; what reaches Deno is an
    // aborted stream, already logged, or a fault of the adapter's own.
    onError(error: unknown) {
      if (!(error instanceof ResponseAborted)) {
        ctx.errors.write(`[wsgi] server error: ${formatError(error)}\n`);
      }
      return internalError();
    },
    // Filled in before the first request, from the address bound.
    onListen(addr: Deno.NetAddr | Deno.UnixAddr) {
      if (!("path" in addr)) {
        ctx.serverName = addr.hostname;
        ctx.serverPort = String(addr.port);
      }
      onListen(addr);
    },
  };
  const server = options.path !== undefined
    ? Deno.serve({ ...common, path: options.path }, handler)
    : Deno.serve({
      ...common,
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port ?? 8000,
      reusePort: options.reusePort,
      ...(options.cert !== undefined || options.key !== undefined
        ? { cert: options.cert, key: options.key }
        : {}),
    } as Deno.ServeTcpOptions, handler);
  const addr = server.addr as Deno.NetAddr | Deno.UnixAddr;
  return {
    addr,
    url: listenUrl(addr, options.cert !== undefined),
    finished: server.finished,
    shutdown: () => server.shutdown(),
  };
}

export type { FetchHandler } from "./_contract/types.ts";
export { fromFetch } from "./_request/from_fetch.ts";
export type { FromFetchOptions } from "./_request/from_fetch.ts";

if (import.meta.main) {
  // No top-level await: the app module may import this one, and must find
  // it evaluated. The CLI loads only when run as a program.
  import("./_cli/server_cli.ts")
    .then(({ main }) => main(Deno.args))
    .then((code) => Deno.exit(code));
}
