/**
 * `fromFetch`: any fetch-style handler as a gateway app.
 *
 * @module
 */
import type {
  App,
  Body,
  Environ,
  FetchHandler,
  Header,
} from "../_contract/types.ts";
import { REASONS } from "../_shared/status.ts";
import { PATH_SAFE, quoteNative } from "../_shared/percent.ts";
import { HOP_BY_HOP } from "../_shared/http_grammar.ts";
import { handlerInfo } from "./adapter.ts";

/** Options of {@linkcode fromFetch}. */
export interface FromFetchOptions {
  /**
   * Give the handler the full path, `SCRIPT_NAME` included. By default it
   * sees only `PATH_INFO`, so an app mounted at `/api` routes `/users` for
   * `/api/users`, as a gateway app would.
   *
   * @default {false}
   */
  fullPath?: boolean;
}

const READ_SIZE = 65536;

/**
 * Turns a fetch-style handler into a gateway app, so that middleware can
 * wrap it and `mount` can place it beside other apps.
 *
 * The handler gets a `Request` rebuilt from the environ: the URL from
 * `wsgi.url_scheme`, `HTTP_HOST`, `PATH_INFO` (see
 * {@linkcode FromFetchOptions.fullPath}) and `QUERY_STRING`; the headers from
 * the `HTTP_*` and content keys; the body streamed from `wsgi.input`. Its
 * `Response` is streamed back as the body; closing the body cancels it.
 *
 * @param handler The fetch handler: Hono's `app.fetch`, Oak's `app.handle`, ...
 * @param options Which path the handler sees.
 * @returns The app.
 *
 * @example A Hono-style handler mounted in a gateway stack
 * ```ts
 * import { fromFetch } from "@wsgi/deno/server";
 * import { mount } from "@wsgi/deno/middleware";
 * import { Client } from "@wsgi/deno/testing";
 * import assert from "node:assert/strict";
 *
 * const api = fromFetch((request) =>
 *   Response.json({ path: new URL(request.url).pathname })
 * );
 * const app = mount({ "/api": api })((_environ, startResponse) => {
 *   startResponse("404 Not Found", [["Content-Type", "text/plain"]]);
 *   return ["no"];
 * });
 * assert.deepEqual((await new Client(app).get("/api/users")).json(), { path: "/users" });
 * ```
 */
export function fromFetch(
  handler: FetchHandler,
  options: FromFetchOptions = {},
): App {
  const fullPath = options.fullPath ?? false;
  return async function fetchApp(environ, startResponse) {
    const response = await handler(
      toRequest(environ, fullPath),
      environ["deno.info"] ?? infoOf(environ),
    );
    const headers: Header[] = [];
    for (const [name, value] of response.headers) {
      if (name !== "set-cookie" && !HOP_BY_HOP.has(name)) {
        headers.push([name, value]);
      }
    }
    for (const cookie of response.headers.getSetCookie()) {
      headers.push(["set-cookie", cookie]);
    }
    const reason = response.statusText || REASONS[response.status] || "Unknown";
    startResponse(`${response.status} ${reason}`, headers);
    return bodyOf(response);
  };
}

function toRequest(environ: Environ, fullPath: boolean): Request {
  const scheme = environ["wsgi.url_scheme"] || "http";
  const host = environ.HTTP_HOST ||
    `${environ.SERVER_NAME}:${environ.SERVER_PORT}`;
  const path = (fullPath ? environ.SCRIPT_NAME ?? "" : "") +
    (environ.PATH_INFO || "/");
  const query = environ.QUERY_STRING ? `?${environ.QUERY_STRING}` : "";
  const url = `${scheme}://${host}${quoteNative(path, PATH_SAFE)}${query}`;
  const headers = new Headers();
  // Keys first: reading every value would make deno.signal.
  for (const key of Object.keys(environ)) {
    const name = key.startsWith("HTTP_")
      ? key.slice(5).toLowerCase().replaceAll("_", "-")
      : key === "CONTENT_TYPE" || key === "CONTENT_LENGTH"
      ? key.toLowerCase().replace("_", "-")
      : undefined;
    const value = name === undefined ? undefined : environ[key];
    if (typeof value === "string") headers.append(name!, value);
  }
  const method = environ.REQUEST_METHOD;
  const hasBody = method !== "GET" && method !== "HEAD";
  return new Request(url, {
    method,
    headers,
    body: hasBody ? inputStream(environ) : undefined,
    ...(hasBody ? { duplex: "half" } : {}),
  } as RequestInit);
}

/** `wsgi.input` as a byte stream. */
function inputStream(environ: Environ): ReadableStream<Uint8Array> {
  const input = environ["wsgi.input"];
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const chunk = await input.read(READ_SIZE);
      if (chunk.length === 0) controller.close();
      else controller.enqueue(chunk);
    },
  });
}

/** Connection information for a handler, when the server gave none. */
function infoOf(environ: Environ): Deno.ServeHandlerInfo {
  return handlerInfo({
    hostname: environ.REMOTE_ADDR ?? "127.0.0.1",
    port: Number(environ.REMOTE_PORT ?? 0),
  });
}

/** A response's body as a gateway body; close() cancels what is unread. */
function bodyOf(response: Response): Body {
  const stream = response.body;
  if (stream === null) return [];
  const iterator = stream[Symbol.asyncIterator]();
  return {
    [Symbol.asyncIterator]: () => iterator,
    async close() {
      await iterator.return?.();
    },
  };
}
