/**
 * The one adapter: runs an app for one request and gives the `Response`.
 * Every entry point that turns a request into an app call goes through it
 * (`serve()`, `toFetchHandler()`, `fetchExport()`, the dev server's
 * generation Worker, the test `Client`, `runCgi`), so that a rule of the
 * server holds in all of them: the request checks, the body limit and its
 * 413, the time limit and its 503, the script name, and the response rules
 * of the {@linkcode Exchange}.
 *
 * @module
 */
import type { AppLike, Environ, ErrorSink } from "../_contract/types.ts";
import { toApp } from "../_shared/app_like.ts";
import { errorStream } from "../_shared/errors.ts";
import { type EnvironContext, makeEnviron } from "./environ.ts";
import { checkRequest } from "./request_checks.ts";
import { Exchange, tooLarge } from "./exchange.ts";
import {
  field,
  innerFields,
  type RequestHead,
  type RequestParts,
} from "./request_parts.ts";

/** Options of `toFetchHandler`, shared by `serve`. */
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

/** Builds the environ of one request, as `makeEnviron` does. */
export type EnvironBuilder<R extends RequestHead> = (
  request: R,
  info: Deno.ServeHandlerInfo | undefined,
  ctx: EnvironContext,
  exchange: Exchange,
) => Environ;

/** How an entry point differs from the others; each default is `serve()`'s. */
export interface EntrySettings<R extends RequestHead> {
  /**
   * The responses go straight to `Deno.serve` (`serve()`, `fetchExport()`):
   * see {@linkcode Exchange}.
   *
   * @default {false}
   */
  toWire?: boolean;
  /**
   * Run `checkRequest()`. Off only where the request was checked where it
   * arrived: the dev server's supervisor checks the `Request` from
   * `Deno.serve` before it forwards a copy to the generation's Worker.
   *
   * @default {true}
   */
  check?: boolean;
  /**
   * The environ builder. `runCgi` has one of its own: its environ is the
   * CGI variables the host set, not one made from a `Request`.
   *
   * @default {makeEnviron}
   */
  environ?: EnvironBuilder<R>;
}

/**
 * The adapter for one app: {@linkcode Adapter.handle} for `Deno.serve` and
 * every fetch-shaped entry, {@linkcode Adapter.run} for an entry that reads
 * its exchange afterwards.
 */
export interface Adapter<R extends RequestHead> {
  /** What the options resolved to; `serve()` fills in the bound address. */
  readonly context: EnvironContext;
  /** Runs the app for `request`. */
  handle(
    request: R,
    info: Deno.ServeHandlerInfo | undefined,
  ): Response | Promise<Response>;
  /**
   * Runs the app for `request` on `exchange`, for a caller that reads
   * what the exchange kept (the dev Worker: `memoryBody`, `responseInit`).
   */
  run(
    request: R,
    info: Deno.ServeHandlerInfo | undefined,
    exchange: Exchange,
  ): Response | Promise<Response>;
}

/**
 * Resolves the options once into what every request needs.
 *
 * @throws {RangeError} For a `maxBodySize` that is not 0 or more.
 * @throws {TypeError} For a `scriptName` that does not start with "/".
 */
export function resolveContext(options: FetchHandlerOptions): EnvironContext {
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
 * The adapter behind every entry point: the options resolved once, then
 * per request one straight line (checks, size, exchange, environ, run,
 * time limit).
 */
export function adapter<R extends RequestHead = RequestParts>(
  app: AppLike,
  options: FetchHandlerOptions,
  entry: EntrySettings<R> = {},
): Adapter<R> {
  const run = toApp(app);
  const ctx = resolveContext(options);
  const timeout = timeLimit(options);
  const limit = ctx.maxBodySize;
  const toWire = entry.toWire ?? false;
  const check = entry.check ?? true;
  // A request of a narrower type than RequestParts comes with a builder of
  // its own (runCgi's).
  const build = entry.environ ??
    (makeEnviron as unknown as EnvironBuilder<R>);
  function respond(
    request: R,
    info: Deno.ServeHandlerInfo | undefined,
    exchange: Exchange,
  ): Response | Promise<Response> {
    if (check) {
      const rejected = checkRequest(request, info);
      if (rejected !== undefined) return rejected;
    }
    if (limit !== Infinity) {
      const length = field(request, innerFields(request), "content-length");
      if (length !== null && Number(length) > limit) return tooLarge(limit);
    }
    const environ = build(request, info, ctx, exchange);
    const response = exchange.run(run, environ);
    if (timeout === undefined || response instanceof Response) return response;
    return timeLimited(response, exchange, timeout);
  }
  return {
    context: ctx,
    // Small and monomorphic, so V8 inlines `respond` here: serve()'s
    // request pays for no extra call.
    handle: (request, info) => respond(request, info, new Exchange(toWire)),
    run: respond,
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
 * The `Deno.ServeHandlerInfo` of a request that did not come from
 * `Deno.serve` (the test client, the dev Worker, `fromFetch` under an
 * environ of its own): the peer's address, and `completed`, which settles
 * when the response is done.
 */
export function handlerInfo(
  remote: { hostname: string; port: number },
  completed: Promise<void> = Promise.resolve(),
): Deno.ServeHandlerInfo {
  return {
    remoteAddr: { transport: "tcp", ...remote },
    completed,
  } as Deno.ServeHandlerInfo;
}

/**
 * The environ the adapter would build for `request`, every key filled in
 * at once, without running an app: `buildEnviron()` of the test module.
 */
export function environOf(
  request: Request,
  info: Deno.ServeHandlerInfo,
  options: FetchHandlerOptions,
): Environ {
  return makeEnviron(
    request,
    info,
    resolveContext(options),
    undefined,
    true,
  );
}
