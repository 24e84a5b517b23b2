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
import type { AppLike, Environ } from "./mod.ts";
import { toApp } from "./_app.ts";
import { type EnvironContext, makeEnviron } from "./_environ.ts";
import { type ErrorSink, errorStream } from "./_errors.ts";
import { Exchange, tooLarge } from "./_response.ts";
import { parseArgs, parsePort, parseSize, UsageError } from "./_cli.ts";
import { DEFAULT_EXPORTS, loadApp, parseAppSpec } from "./_load.ts";

/** A fetch handler as `Deno.serve` takes it. */
export type FetchHandler = (
  request: Request,
  info?: Deno.ServeHandlerInfo,
) => Response | Promise<Response>;

/** Options of {@linkcode toFetchHandler}, shared by {@linkcode serve}. */
export interface FetchHandlerOptions {
  /**
   * Where `wsgi.errors` and the server's own error lines go: an
   * `ErrorStream` or a function taking the text.
   *
   * @default {writes to stderr}
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
   * Called once the server listens.
   *
   * @default {prints "Listening on <url>"}
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
    maxBodySize,
  };
}

function handlerFor(app: AppLike, ctx: EnvironContext): FetchHandler {
  const run = toApp(app);
  const limit = ctx.maxBodySize;
  return function handle(request, info) {
    if (limit !== Infinity) {
      const length = request.headers.get("content-length");
      if (length !== null && Number(length) > limit) return tooLarge(limit);
    }
    const environ: Environ = makeEnviron(request, info, ctx);
    return new Exchange(environ).run(run);
  };
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
 * import { assertEquals } from "node:assert/strict";
 *
 * const handler = toFetchHandler((_environ, startResponse) => {
 *   startResponse("200 OK", [["Content-Type", "text/plain"]]);
 *   return ["hi"];
 * });
 * const response = await handler(new Request("http://localhost/"));
 * assertEquals(await response.text(), "hi");
 * ```
 */
export function toFetchHandler(
  app: AppLike,
  options: FetchHandlerOptions = {},
): FetchHandler {
  return handlerFor(app, context(options));
}

/**
 * Makes the default export that `deno serve` runs:
 * `export default fetchExport(app)`. With `deno serve --parallel` every
 * core gets an isolate of its own, and `wsgi.multiprocess` is set.
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
 * });
 * ```
 */
export function fetchExport(
  app: AppLike,
  options: FetchHandlerOptions = {},
): { fetch: FetchHandler } {
  // `deno serve --parallel` starts one isolate per core and tells each.
  const parallel = (Deno.env.get("DENO_SERVE_PARALLEL") ?? "") !== "" ||
    (Deno.env.get("DENO_JOBS") ?? "") !== "";
  const handler = toFetchHandler(app, {
    multiprocess: parallel,
    ...options,
  });
  return { fetch: handler };
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
 * import { assertEquals } from "node:assert/strict";
 *
 * const server = serve((environ, startResponse) => {
 *   startResponse("200 OK", [["Content-Type", "text/plain"]]);
 *   return [`You asked for ${environ.PATH_INFO}`];
 * }, { port: 0, onListen() {} });
 * const response = await fetch(new URL("/hello", server.url));
 * assertEquals(await response.text(), "You asked for /hello");
 * await server.shutdown();
 * ```
 */
export function serve(app: AppLike, options: ServeOptions = {}): Server {
  const ctx = context(options);
  const handler = handlerFor(app, ctx);
  const onListen = options.onListen ?? ((addr) => {
    console.log(`Listening on ${baseUrl(addr, options.cert !== undefined)}`);
  });
  const common = {
    signal: options.signal,
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
      ...(options.cert !== undefined || options.key !== undefined
        ? { cert: options.cert, key: options.key }
        : {}),
    } as Deno.ServeTcpOptions, handler);
  const addr = server.addr as Deno.NetAddr | Deno.UnixAddr;
  return {
    addr,
    url: baseUrl(addr, options.cert !== undefined),
    finished: server.finished,
    shutdown: () => server.shutdown(),
  };
}

/** The URL a client uses to reach `addr`. */
function baseUrl(addr: Deno.NetAddr | Deno.UnixAddr, tls: boolean): string {
  if ("path" in addr) return `http+unix://${addr.path}`;
  const host = addr.hostname.includes(":")
    ? `[${addr.hostname}]`
    : addr.hostname;
  return `${tls ? "https" : "http"}://${host}:${addr.port}/`;
}

const HELP = `Serve a gateway (WSGI) app on Deno.serve.

Usage: deno run -A server.ts [options] APP_MODULE[:NAME]

APP_MODULE is a path to a module. NAME is the export to serve; without it
the first of ${
  DEFAULT_EXPORTS.map((n) => `"${n}"`).join(", ")
} is taken. NAME() calls the
export, an app factory, and serves what it returns.

Options:
  -b, --bind ADDRESS    Where to listen: HOST:PORT, [IPV6]:PORT, or unix:PATH
  -H, --host HOST       Host to listen on (default 127.0.0.1)
  -p, --port PORT       Port to listen on, 0 for any (default $PORT, else 8000)
      --unix-socket PATH
                        Listen on a unix socket instead of TCP
      --cert FILE       PEM certificate chain: serve HTTPS (needs --key)
      --key FILE        PEM private key for --cert
      --max-body SIZE   Largest request body, like 10m; larger gets 413
      --script-name PREFIX
                        Path prefix the app is mounted at ($SCRIPT_NAME)
  -h, --help            Show this help and exit

Examples:
  deno run -A server.ts examples/hello.ts
  deno run -A server.ts --port 9000 myapp.ts:api
  deno run -A server.ts -b unix:/run/app.sock myapp.ts:create()
`;

/** What the CLI settles on from its arguments and the environment. */
export interface CliConfig {
  /** The app to load. */
  spec: ReturnType<typeof parseAppSpec>;
  /** The options to serve it with. */
  options: ServeOptions;
}

/**
 * Reads the CLI's arguments (and `PORT`, `SCRIPT_NAME` from `env`) into a
 * configuration, or returns "help". Throws `UsageError` on bad arguments.
 */
export function parseServerArgs(
  args: string[],
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): CliConfig | "help" {
  const { flags, positionals } = parseArgs(args, [
    { name: "bind", short: "b", kind: "string" },
    { name: "host", short: "H", kind: "string" },
    { name: "port", short: "p", kind: "string" },
    { name: "unix-socket", kind: "string" },
    { name: "cert", kind: "string" },
    { name: "key", kind: "string" },
    { name: "max-body", kind: "string" },
    { name: "script-name", kind: "string" },
    { name: "help", short: "h", kind: "boolean" },
  ]);
  if (flags.help) return "help";
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? "missing APP_MODULE: name the module that exports the app"
        : `expected one APP_MODULE, got ${positionals.length}: ${
          positionals.join(" ")
        }`,
    );
  }
  const options: ServeOptions = {};
  let hostname = flags.host as string | undefined;
  let port = flags.port as string | undefined;
  let socket = flags["unix-socket"] as string | undefined;
  const bind = flags.bind as string | undefined;
  if (bind !== undefined) {
    if (hostname !== undefined || port !== undefined || socket !== undefined) {
      throw new UsageError(
        "--bind cannot be combined with --host, --port or --unix-socket",
      );
    }
    if (bind.startsWith("unix:")) {
      socket = bind.slice(5);
    } else {
      const match = /^(\[[^\]]+\]|[^:]*)(?::(\d+))?$/.exec(bind);
      if (match === null) {
        throw new UsageError(
          `--bind must be HOST:PORT, [IPV6]:PORT or unix:PATH, got "${bind}"`,
        );
      }
      hostname = match[1].replace(/^\[|\]$/g, "") || undefined;
      port = match[2];
    }
  }
  if (socket !== undefined) {
    if (socket === "") throw new UsageError("the unix socket path is empty");
    options.path = socket;
  } else {
    if (hostname !== undefined) options.hostname = hostname;
    const envPort = env("PORT");
    if (port !== undefined) options.port = parsePort(port, "--port");
    else if (envPort) options.port = parsePort(envPort, "$PORT");
  }
  const cert = flags.cert as string | undefined;
  const key = flags.key as string | undefined;
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError("--cert and --key must be given together");
  }
  if (cert !== undefined && key !== undefined) {
    options.cert = readPem(cert, "--cert");
    options.key = readPem(key, "--key");
  }
  if (flags["max-body"] !== undefined) {
    options.maxBodySize = parseSize(flags["max-body"] as string, "--max-body");
  }
  const scriptName = (flags["script-name"] as string | undefined) ??
    env("SCRIPT_NAME");
  if (scriptName) {
    if (!scriptName.startsWith("/")) {
      throw new UsageError(
        `the script name must start with "/", got "${scriptName}"`,
      );
    }
    options.scriptName = scriptName;
  }
  return { spec: parseAppSpec(positionals[0]), options };
}

function readPem(path: string, flag: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    throw new UsageError(
      `${flag}: cannot read ${path}: ${(error as Error).message}`,
    );
  }
}

/** Runs the CLI; returns the exit code on failure. */
export async function main(args: string[]): Promise<number | Server> {
  let config: CliConfig | "help";
  try {
    config = parseServerArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(
      `server.ts: error: ${error.message}\nRun with --help for usage.`,
    );
    return 2;
  }
  if (config === "help") {
    console.log(HELP);
    return 0;
  }
  let app;
  try {
    app = await loadApp(config.spec);
  } catch (error) {
    console.error(`server.ts: error: ${(error as Error).message}`);
    return 1;
  }
  try {
    return serve(app, config.options);
  } catch (error) {
    console.error(
      `server.ts: error: cannot listen: ${(error as Error).message}`,
    );
    return 1;
  }
}

if (import.meta.main) {
  const result = await main(Deno.args);
  if (typeof result === "number") Deno.exit(result);
}
