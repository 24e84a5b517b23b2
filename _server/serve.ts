/**
 * `serve()`, `toFetchHandler()` and `fetchExport()`: gateway apps on
 * `Deno.serve`, through the one adapter. `server.ts` publishes them; the
 * CLI imports them from here, so that `server.ts` is free to load the CLI.
 *
 * @module
 */
import type { AppLike, FetchHandler } from "../_contract/types.ts";
import { listenUrl } from "../_shared/host.ts";
import { formatError } from "../_shared/errors.ts";
import { adapter, type FetchHandlerOptions } from "../_request/adapter.ts";
import { internalError, ResponseAborted } from "../_request/exchange.ts";

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
  const { handle } = adapter<Request>(app, options);
  return handle;
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
  const { handle } = adapter<Request>(
    app,
    { ...options, urlScheme: options.urlScheme ?? "http" },
    { toWire: true },
  );
  return { fetch: handle };
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
  const { context: ctx, handle: handler } = adapter<Request>(app, {
    ...options,
    urlScheme: options.cert === undefined ? "http" : "https",
  }, { toWire: true });
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
