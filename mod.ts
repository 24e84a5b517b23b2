/**
 * WSGI for Deno: the Python Web Server Gateway Interface (PEP 3333) in
 * TypeScript.
 *
 * A gateway app is a function of two arguments. The server calls
 * `app(environ, startResponse)`; the app calls `startResponse(status, headers)`
 * and returns an iterable of body chunks. Anything that speaks this contract
 * runs on {@linkcode serve}, under `deno serve` through {@linkcode fetchExport},
 * in-process through the test {@linkcode Client}, and inside any middleware,
 * which is just an app that wraps an app.
 *
 * The names follow PEP 3333 so that Python knowledge and middleware port
 * directly. The only deliberate departures besides JavaScript types are that
 * `wsgi.input` is asynchronous (its methods return promises) and that a body
 * may be an async iterable.
 *
 * @example Hello world
 * ```ts
 * import { type App, serve } from "@wsgi/deno";
 *
 * const app: App = (environ, startResponse) => {
 *   startResponse("200 OK", [["Content-Type", "text/plain"]]);
 *   return [`Hello from ${environ.PATH_INFO}\n`];
 * };
 *
 * const server = serve(app, { port: 0, onListen() {} });
 * await server.shutdown();
 * ```
 *
 * @module
 */

export type {
  App,
  AppClass,
  AppLike,
  Body,
  CallableApp,
  Chunk,
  Environ,
  ErrorSink,
  ErrorStream,
  FetchHandler,
  FileLike,
  FileWrapper,
  Header,
  InputStream,
  Middleware,
  StartResponse,
  Write,
} from "./_contract/types.ts";
export { fetchExport, fromFetch, serve, toFetchHandler } from "./server.ts";
export type {
  FetchHandlerOptions,
  FromFetchOptions,
  ServeOptions,
  Server,
} from "./server.ts";
export { toApp } from "./_shared/app_like.ts";
export { runCgi } from "./cgi.ts";
export type { CgiOptions } from "./cgi.ts";
export { buildEnviron, Client } from "./testing.ts";
export type {
  ClientOptions,
  EnvironOptions,
  Query,
  RequestOptions,
  TestResponse,
} from "./testing.ts";
export {
  applicationUri,
  decodeNative,
  encodeNative,
  pathInfo,
  requestUri,
  shiftPathInfo,
} from "./util.ts";
export {
  BodyTooLargeError,
  RequestBodyError,
} from "./_shared/request_body_error.ts";
