/**
 * The PEP 3333 contract in TypeScript: the types every other part of the
 * module is written against. It imports nothing, so that every layer can
 * import it; `mod.ts` publishes it.
 *
 * @module
 */

/**
 * One piece of a response body. Strings are sent UTF-8 encoded; a
 * `Uint8Array` is sent as it is.
 */
export type Chunk = Uint8Array | string;

/**
 * What an app returns: an iterable (or async iterable) of chunks.
 *
 * Arrays, generators, async generators and any object with
 * `[Symbol.iterator]` or `[Symbol.asyncIterator]` qualify. If the body has a
 * `close()` method the server calls it exactly once when it is done with the
 * body: after the last chunk, when the app fails while the body is being
 * read, and when the client goes away mid-body. A body without `close()`
 * that is an iterator gets its `return()` called instead where the iteration
 * stops early, so a generator's `finally` blocks run.
 *
 * A one-element array is the fast path: the server answers with a plain
 * response and sets `Content-Length` itself.
 */
export type Body =
  & (Iterable<Chunk> | AsyncIterable<Chunk>)
  & { close?: () => void | Promise<void> };

/**
 * The `write()` callable that {@linkcode StartResponse} returns, kept for
 * apps ported from frameworks that push data instead of returning it.
 *
 * The promise resolves once the chunk is accepted, which is how the server
 * applies backpressure: `await` it before writing more. Data written goes
 * out before the data of the iterable the app still has to return.
 */
export type Write = (chunk: Chunk) => Promise<void>;

/** A response header: `[name, value]`, both native strings. */
export type Header = [name: string, value: string];

/**
 * Begins the response: `startResponse("200 OK", [["Content-Type",
 * "text/plain"]])`.
 *
 * The status is `"NNN Reason"`. Header names must be RFC 9110 tokens,
 * values must not contain CR, LF or NUL, every character must be in the
 * range 0-255 ("native strings"), and hop-by-hop headers (`Connection`,
 * `Transfer-Encoding`, ...) are refused because the server owns the
 * connection. A violation throws a `TypeError` that names the rule and the
 * request is answered with a 500; nothing an app passes here can split a
 * response.
 *
 * Headers are not sent until the first non-empty body chunk, the first
 * `write()`, or the end of the body. Calling `startResponse` a second time
 * is an error unless `excInfo` is given: then, before the headers went out,
 * the new status and headers replace the old ones (the way an error handler
 * turns a half-built response into an error page); after they went out,
 * `excInfo` is thrown again, since nothing can be taken back.
 */
export type StartResponse = (
  status: string,
  headers: Header[],
  excInfo?: unknown,
) => Write;

/**
 * A gateway application: the server calls it once per request.
 *
 * The app must call `startResponse` before its body yields the first chunk
 * (a generator may call it from inside itself) and return a {@linkcode Body}
 * or a promise of one. It may read `environ` and `environ["wsgi.input"]`
 * until its body is finished; it must not keep either afterwards.
 *
 * If the app throws (or its promise rejects) before the headers went out,
 * the client gets a bare 500 and the error is written to `wsgi.errors`; the
 * dev server shows a traceback page instead. If it throws after the headers
 * went out, the connection is aborted, so the client can tell the response
 * is incomplete, and the error is logged.
 *
 * @example An app that reads its request
 * ```ts
 * import type { App } from "@wsgi/deno";
 *
 * export const echo: App = async (environ, startResponse) => {
 *   const body = await environ["wsgi.input"].read();
 *   startResponse("200 OK", [["Content-Type", "application/octet-stream"]]);
 *   return [body];
 * };
 * ```
 */
export type App = (
  environ: Environ,
  startResponse: StartResponse,
) => Body | Promise<Body>;

/**
 * A function that wraps an app in another app: the unit of composition.
 *
 * @example A middleware that adds a header
 * ```ts
 * import type { Middleware } from "@wsgi/deno";
 *
 * export const poweredBy: Middleware = (app) => (environ, startResponse) =>
 *   app(environ, (status, headers, excInfo) =>
 *     startResponse(status, [...headers, ["X-Powered-By", "wsgi"]], excInfo));
 * ```
 */
export type Middleware = (app: App) => App;

/**
 * A class whose instances are the response body, as in PEP 3333's
 * `AppClass`: the server constructs one per request.
 */
export type AppClass = new (
  environ: Environ,
  startResponse: StartResponse,
) => Body;

/**
 * An object with a `call` method, the TypeScript form of a Python instance
 * with `__call__`.
 */
export interface CallableApp {
  /** Handles one request, exactly like an {@linkcode App}. */
  call(environ: Environ, startResponse: StartResponse): Body | Promise<Body>;
}

/**
 * Anything {@linkcode toApp} turns into an {@linkcode App}: an app function,
 * an {@linkcode AppClass}, or a {@linkcode CallableApp}.
 */
export type AppLike = App | AppClass | CallableApp;

/**
 * `environ["wsgi.input"]`: the request body.
 *
 * Asynchronous because Deno request bodies are streams. It never yields
 * bytes past `CONTENT_LENGTH`; a chunked upload is read to its end. Once the
 * body is exhausted every read returns an empty `Uint8Array`.
 */
export interface InputStream extends AsyncIterable<Uint8Array> {
  /** Reads up to `size` bytes, or everything left when `size` is omitted or negative. */
  read(size?: number): Promise<Uint8Array>;
  /** Reads one line including its `\n`, at most `size` bytes when given. */
  readline(size?: number): Promise<Uint8Array>;
  /** Reads lines until the end, or until their total length reaches `hint`. */
  readlines(hint?: number): Promise<Uint8Array[]>;
}

/** `environ["wsgi.errors"]`: a text stream for error output. */
export interface ErrorStream {
  /** Writes text as it is; add your own `\n`. */
  write(text: string): void;
  /** Writes each string in turn. */
  writelines(lines: Iterable<string>): void;
  /** Flushes buffered output, if the sink buffers. */
  flush(): void;
}

/**
 * Where error text goes, as servers and the test client take it: an
 * {@linkcode ErrorStream} or a plain function that receives the text.
 */
export type ErrorSink = ErrorStream | ((text: string) => void);

/**
 * Something {@linkcode FileWrapper} can send: an open `Deno.FsFile` or any
 * object with a `readable` byte stream (and optionally `close()`), or a
 * `ReadableStream<Uint8Array>` itself.
 */
export type FileLike =
  | { readonly readable: ReadableStream<Uint8Array>; close?(): void }
  | ReadableStream<Uint8Array>;

/**
 * `environ["wsgi.file_wrapper"]`: wraps a file as a response body that the
 * server sends from the file's own stream, without copying it through
 * JavaScript chunk by chunk. `blockSize` is accepted for PEP 3333
 * compatibility; the file's stream picks its own chunk size.
 */
export type FileWrapper = (file: FileLike, blockSize?: number) => Body;

/**
 * The request, as a plain object of CGI variables and `wsgi.*` keys.
 *
 * Every string is a "native string": code points 0-255, bytes read as
 * Latin-1, as PEP 3333 says. `PATH_INFO` is percent-decoded that way, so a
 * UTF-8 path arrives as Latin-1 mojibake exactly as in Python; use
 * {@linkcode pathInfo} to get the decoded text back.
 *
 * Request headers appear as `HTTP_*` keys (`X-Request-Id` becomes
 * `HTTP_X_REQUEST_ID`), except `Content-Type` and `Content-Length`, which are
 * `CONTENT_TYPE` and `CONTENT_LENGTH`, present only when the request has
 * them. Header names containing `_` are dropped, since they would collide
 * with `-` in these keys.
 */
export interface Environ {
  /** `GET`, `POST`, ... */
  REQUEST_METHOD: string;
  /** The part of the path the app is mounted at; `""` at the root. */
  SCRIPT_NAME: string;
  /** The rest of the path, percent-decoded as Latin-1. */
  PATH_INFO: string;
  /** The query string as received, without `?`; `""` when absent. */
  QUERY_STRING: string;
  /** The request's `Content-Type`, when it has one. */
  CONTENT_TYPE?: string;
  /** The request's `Content-Length`, when it has one (not for chunked uploads). */
  CONTENT_LENGTH?: string;
  /** The bound host name (the `Host` header's on a unix socket or under `deno serve`). */
  SERVER_NAME: string;
  /** The bound port, as a string. */
  SERVER_PORT: string;
  /** `HTTP/1.1`. */
  SERVER_PROTOCOL: string;
  /** The client's address. */
  REMOTE_ADDR: string;
  /** The client's port, as a string. */
  REMOTE_PORT: string;
  /** The path and query exactly as received, still percent-encoded. */
  RAW_URI: string;
  /** Same as `RAW_URI`, under the name Apache and others use. */
  REQUEST_URI: string;
  /** `[1, 0]`. */
  "wsgi.version": readonly [1, 0];
  /** `"http"` or `"https"`. */
  "wsgi.url_scheme": string;
  /** The request body. */
  "wsgi.input": InputStream;
  /** Where apps write errors. */
  "wsgi.errors": ErrorStream;
  /** True: requests of one process interleave at every `await`. */
  "wsgi.multithread": boolean;
  /** True when several processes or isolates serve the same app. */
  "wsgi.multiprocess": boolean;
  /** True only under CGI. */
  "wsgi.run_once": boolean;
  /** True: `wsgi.input` signals its end, so apps may read until empty. */
  "wsgi.input_terminated": boolean;
  /** Wraps a file as an efficiently sent body. */
  "wsgi.file_wrapper"?: FileWrapper;
  /** The original request, under servers built on `Deno.serve`. */
  "deno.request"?: Request;
  /** Connection information from `Deno.serve`. */
  "deno.info"?: Deno.ServeHandlerInfo;
  /** Aborted when the client goes away. */
  "deno.signal"?: AbortSignal;
  /** Request headers. */
  [header: `HTTP_${string}`]: string | undefined;
  /** Keys added by servers and middleware, lowercase and dotted by convention. */
  [key: string]: unknown;
}

/** A fetch handler as `Deno.serve` takes it, and as `fromFetch()` wraps one. */
export type FetchHandler = (
  request: Request,
  info?: Deno.ServeHandlerInfo,
) => Response | Promise<Response>;
