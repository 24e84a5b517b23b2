/**
 * Testing gateway apps in-process: {@linkcode Client} calls an app the way
 * the server does, without sockets, and {@linkcode buildEnviron} makes a
 * valid environ for unit tests of middleware.
 *
 * The client runs requests through the very adapter that {@linkcode serve}
 * uses, so every rule the server enforces (deferred headers, Content-Length,
 * header checks, `close()`) holds under test too.
 *
 * @example
 * ```ts
 * import { Client } from "@wsgi/deno/testing";
 * import assert from "node:assert/strict";
 *
 * const client = new Client((environ, startResponse) => {
 *   startResponse("200 OK", [["Content-Type", "text/plain"]]);
 *   return [`${environ.REQUEST_METHOD} ${environ.QUERY_STRING}`];
 * });
 * const response = await client.get("/", { query: { page: 2 } });
 * assert.equal(response.status, 200);
 * assert.equal(response.text(), "GET page=2");
 * ```
 *
 * @module
 */
import type { AppLike, Environ, ErrorSink } from "./_contract/types.ts";
import { type ClientCookie, CookieJar } from "./_shared/cookie_jar.ts";
import { adapter, environOf, handlerInfo } from "./_request/adapter.ts";
import { REASONS } from "./_shared/status.ts";

export type { ClientCookie };

/** A query string as an object; arrays repeat the key. */
export type Query = Record<
  string,
  string | number | boolean | (string | number | boolean)[]
>;

/** What a request carries, for {@linkcode Client} and {@linkcode buildEnviron}. */
export interface RequestOptions {
  /** Query parameters, appended to any already in the path. */
  query?: Query | URLSearchParams;
  /** Request headers. */
  headers?: HeadersInit;
  /** A raw body. */
  body?: BodyInit;
  /** A body sent as JSON, with `Content-Type: application/json`. */
  json?: unknown;
  /**
   * A body sent as an HTML form (`application/x-www-form-urlencoded`); a
   * `FormData` is sent as `multipart/form-data`, streamed without a
   * Content-Length.
   */
  form?: Record<string, string> | URLSearchParams | FormData;
  /** Follow redirects for this request (overrides the client's setting). */
  followRedirects?: boolean;
}

/** Options of {@linkcode buildEnviron}. */
export interface EnvironOptions
  extends Omit<RequestOptions, "followRedirects"> {
  /**
   * The request method.
   *
   * @default {"GET"}
   */
  method?: string;
  /**
   * The path with optional query, percent-encoded as sent.
   *
   * @default {"/"}
   */
  path?: string;
  /** A full URL instead of `path`, to set the scheme and host too. */
  url?: string;
  /**
   * Prefix to move from `PATH_INFO` to `SCRIPT_NAME`; it starts with "/",
   * as `serve`'s does.
   *
   * @default {""}
   */
  scriptName?: string;
  /**
   * `REMOTE_ADDR`.
   *
   * @default {"127.0.0.1"}
   */
  remoteAddr?: string;
  /** Where `wsgi.errors` writes; stderr by default. */
  errors?: ErrorSink;
}

/** Options of {@linkcode Client}. */
export interface ClientOptions {
  /**
   * The URL requests are made against: its scheme and host become
   * `wsgi.url_scheme`, `HTTP_HOST` and `SERVER_NAME`.
   *
   * @default {"http://localhost/"}
   */
  baseUrl?: string;
  /**
   * Follow redirects (301, 302, 303, 307, 308) by default.
   *
   * @default {false}
   */
  followRedirects?: boolean;
  /** Where `wsgi.errors` and the server's error lines go; stderr by default. */
  errors?: ErrorSink;
  /**
   * Largest request body, as for `serve`: past it, a 413.
   *
   * @default {Infinity}
   */
  maxBodySize?: number;
  /**
   * Milliseconds the app has to start its response, as for `serve`: past
   * them, a 503. No limit by default.
   */
  requestTimeout?: number;
  /**
   * The path prefix given as `SCRIPT_NAME`, as for `serve`.
   *
   * @default {""}
   */
  scriptName?: string;
  /**
   * `REMOTE_ADDR` of every request.
   *
   * @default {"127.0.0.1"}
   */
  remoteAddr?: string;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** A response read to its end. */
export class TestResponse {
  /** The status code, such as 200. */
  readonly status: number;
  /** The reason phrase, such as `OK`. */
  readonly statusText: string;
  /** The response headers. */
  readonly headers: Headers;
  /** The body bytes (empty for HEAD). */
  readonly body: Uint8Array;
  /** The URL that answered, after any redirects. */
  readonly url: string;
  /** The redirect responses followed on the way, oldest first. */
  readonly history: TestResponse[];

  /**
   * Wraps a response that has been read to its end.
   *
   * @param init Status, reason, headers, body bytes and URL.
   * @param history The redirects followed on the way.
   */
  constructor(
    init: {
      status: number;
      statusText: string;
      headers: Headers;
      body: Uint8Array;
      url: string;
    },
    history: TestResponse[] = [],
  ) {
    this.status = init.status;
    this.statusText = init.statusText;
    this.headers = init.headers;
    this.body = init.body;
    this.url = init.url;
    this.history = history;
  }

  /** The status line as an app writes it: `"200 OK"`. */
  get statusLine(): string {
    return `${this.status} ${this.statusText}`;
  }

  /** The body decoded as UTF-8. */
  text(): string {
    return decoder.decode(this.body);
  }

  /** The body parsed as JSON. */
  json<T = unknown>(): T {
    return JSON.parse(this.text());
  }
}

/** Where a cookie is kept, for {@linkcode Client.setCookie} and its kin. */
export interface CookieOptions {
  /**
   * The domain. Without it the cookie is host-only: it goes to the base
   * URL's host and no other, as a `Set-Cookie` without `Domain` would.
   *
   * @default {the base URL's host}
   */
  domain?: string;
  /**
   * The path it is sent under.
   *
   * @default {"/"}
   */
  path?: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 20;
// Headers that describe a body, dropped with it (Fetch's request-body-header
// names, plus the framing ones a client derives from the body).
const BODY_HEADERS = [
  "content-type",
  "content-length",
  "content-encoding",
  "content-language",
  "content-location",
  "transfer-encoding",
];

/**
 * An in-process HTTP client for a gateway app. It keeps cookies across
 * requests as a browser does (RFC 6265: per domain, path and name, with
 * `Domain`, `Path`, `Expires`, `Max-Age` and `Secure`) and follows redirects
 * when asked (RFC 9110 15.4). It follows a redirect only to the host it is
 * on, since every request goes to the one app: a `Location` on another host
 * rejects with an error that names it, and `followRedirects: false` returns
 * the redirect itself for a test to check.
 *
 * @example Cookies and redirects
 * ```ts
 * import { Client } from "@wsgi/deno/testing";
 * import assert from "node:assert/strict";
 *
 * const client = new Client((environ, startResponse) => {
 *   if (environ.PATH_INFO === "/login") {
 *     startResponse("303 See Other", [
 *       ["Location", "/home"],
 *       ["Set-Cookie", "user=ada; Path=/"],
 *     ]);
 *     return [];
 *   }
 *   startResponse("200 OK", [["Content-Type", "text/plain"]]);
 *   return [`cookie: ${environ.HTTP_COOKIE}`];
 * });
 * const response = await client.post("/login", { followRedirects: true });
 * assert.equal(response.text(), "cookie: user=ada");
 * assert.equal(client.getCookie("user")?.value, "ada");
 * ```
 */
export class Client {
  #handle: (
    request: Request,
    info: Deno.ServeHandlerInfo,
  ) => Response | Promise<Response>;
  #base: URL;
  #follow: boolean;
  #remoteAddr: string;
  #jar = new CookieJar();

  /**
   * Makes a client for an app.
   *
   * @param app The app under test.
   * @param options Base URL, redirects, error sink, limits, script name.
   */
  constructor(app: AppLike, options: ClientOptions = {}) {
    // The server's adapter: a request here meets the same checks and
    // limits as one from Deno.serve.
    this.#handle = adapter<Request>(app, {
      errors: options.errors,
      maxBodySize: options.maxBodySize,
      requestTimeout: options.requestTimeout,
      scriptName: options.scriptName,
    }).handle;
    this.#base = new URL(options.baseUrl ?? "http://localhost/");
    this.#follow = options.followRedirects ?? false;
    this.#remoteAddr = options.remoteAddr ?? "127.0.0.1";
  }

  /** Every cookie the client holds now, oldest first. */
  get cookies(): ClientCookie[] {
    return this.#jar.list();
  }

  /**
   * The cookie held under a name, domain and path.
   *
   * @param name The cookie's name.
   * @param options Its domain (the base URL's host) and path (`/`).
   * @returns The cookie, or `undefined` if the client holds none there.
   */
  getCookie(
    name: string,
    options: CookieOptions = {},
  ): ClientCookie | undefined {
    return this.#jar.get(
      options.domain ?? this.#base.hostname,
      options.path ?? "/",
      name,
    );
  }

  /**
   * Sets a session cookie as if the app had set it.
   *
   * @param name The cookie's name.
   * @param value Its value.
   * @param options Its domain (host-only for the base URL's host) and path (`/`).
   */
  setCookie(name: string, value: string, options: CookieOptions = {}): void {
    this.#jar.store({
      name,
      value,
      domain: (options.domain ?? this.#base.hostname).toLowerCase(),
      path: options.path ?? "/",
      hostOnly: options.domain === undefined,
      secure: false,
      httpOnly: false,
      expires: Infinity,
    });
  }

  /**
   * Removes the cookie held under a name, domain and path.
   *
   * @param name The cookie's name.
   * @param options Its domain (the base URL's host) and path (`/`).
   */
  deleteCookie(name: string, options: CookieOptions = {}): void {
    this.#jar.delete(
      options.domain ?? this.#base.hostname,
      options.path ?? "/",
      name,
    );
  }

  /** Sends a GET request. */
  get(path: string, options?: RequestOptions): Promise<TestResponse> {
    return this.request("GET", path, options);
  }
  /** Sends a HEAD request; the response has no body. */
  head(path: string, options?: RequestOptions): Promise<TestResponse> {
    return this.request("HEAD", path, options);
  }
  /** Sends an OPTIONS request. */
  options(path: string, options?: RequestOptions): Promise<TestResponse> {
    return this.request("OPTIONS", path, options);
  }
  /** Sends a DELETE request. */
  delete(path: string, options?: RequestOptions): Promise<TestResponse> {
    return this.request("DELETE", path, options);
  }
  /** Sends a POST request. */
  post(path: string, options?: RequestOptions): Promise<TestResponse> {
    return this.request("POST", path, options);
  }
  /** Sends a PUT request. */
  put(path: string, options?: RequestOptions): Promise<TestResponse> {
    return this.request("PUT", path, options);
  }
  /** Sends a PATCH request. */
  patch(path: string, options?: RequestOptions): Promise<TestResponse> {
    return this.request("PATCH", path, options);
  }

  /**
   * Sends a request with any method and reads the whole response.
   *
   * @param method The HTTP method.
   * @param path A path (with optional query) or a full URL; a fragment is
   *   not sent, as no client sends one.
   * @param options Query, headers, body, redirects.
   * @returns The response, read to its end.
   */
  async request(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<TestResponse> {
    let url = withQuery(resolve(path, this.#base), options.query);
    let sent: RequestOptions = options;
    const follow = options.followRedirects ?? this.#follow;
    const history: TestResponse[] = [];
    const followed = new Set<string>();
    while (true) {
      const request = makeRequest(method, url, sent);
      // Fetch normalises the case of the standard methods.
      method = request.method;
      const response = await this.#send(request);
      const location = response.headers.get("location");
      if (!follow || !REDIRECTS.has(response.status) || location === null) {
        return history.length === 0
          ? response
          : new TestResponse(response, history);
      }
      if (history.length >= MAX_REDIRECTS) {
        throw new Error(
          `Cannot follow redirects: more than ${MAX_REDIRECTS} from ${path}`,
        );
      }
      history.push(response);
      // RFC 9110 10.2.2: a relative Location is resolved against the URL
      // that answered.
      let next: URL;
      try {
        next = resolve(location, url);
      } catch {
        throw new TypeError(
          `Cannot follow the redirect from ${url.href}: its Location ${
            JSON.stringify(location)
          } is not a URL reference`,
        );
      }
      // RFC 9110 15.4: a client should detect cyclical redirections; the
      // same status to the same place again is one, as werkzeug judges.
      const step = `${response.status} ${next.href}`;
      if (followed.has(step)) {
        throw new Error(
          `Cannot follow redirects: a loop, the ${step} redirect was already followed from ${path}`,
        );
      }
      followed.add(step);
      if (next.hostname !== url.hostname) {
        throw new Error(
          `Cannot follow the redirect to ${next.href}: it is on another host than ${url.hostname}, and the client only calls its own app; pass followRedirects: false to get the redirect itself`,
        );
      }
      // RFC 9110 15.4.4: 303 turns any method but HEAD into a GET; 15.4.2-3:
      // 301 and 302 may do so for a POST only. Others repeat the request.
      const status = response.status;
      if (
        (status === 303 && method !== "GET" && method !== "HEAD") ||
        (method === "POST" && (status === 301 || status === 302))
      ) {
        method = "GET";
        sent = { headers: without(sent.headers, BODY_HEADERS) };
      } else if (isStream(sent.body)) {
        throw new TypeError(
          `Cannot repeat the request for a ${status} redirect: its body was a stream, read by the first request; pass the body as bytes or a string`,
        );
      }
      // Host follows the URL, so a redirect to another port says so.
      if (next.host !== url.host) {
        sent = { ...sent, headers: without(sent.headers, ["host"]) };
      }
      url = next;
    }
  }

  async #send(request: Request): Promise<TestResponse> {
    const url = new URL(request.url);
    const cookie = this.#jar.header(url);
    if (cookie !== "" && !request.headers.has("cookie")) {
      request.headers.set("cookie", cookie);
    }
    let done!: () => void;
    const completed = new Promise<void>((resolve) => done = resolve);
    const info = handlerInfo(
      { hostname: this.#remoteAddr, port: 40000 },
      completed,
    );
    try {
      const response = await this.#handle(request, info);
      // RFC 9110 9.3.2: a response to HEAD has no content.
      const body = request.method === "HEAD"
        ? new Uint8Array(0)
        : new Uint8Array(await response.arrayBuffer());
      if (request.method === "HEAD") await response.body?.cancel();
      this.#jar.receive(url, response.headers.getSetCookie());
      return new TestResponse({
        status: response.status,
        // Deno.serve sends the standard reason, so the adapter leaves it out.
        statusText: response.statusText || (REASONS[response.status] ?? ""),
        headers: response.headers,
        body,
        url: request.url,
      });
    } finally {
      done();
    }
  }
}

/** A URL reference resolved against `base`, without its fragment. */
function resolve(reference: string, base: URL): URL {
  const url = new URL(reference, base);
  url.hash = "";
  return url;
}

function without(headers: HeadersInit | undefined, names: string[]): Headers {
  const copy = new Headers(headers);
  for (const name of names) copy.delete(name);
  return copy;
}

function isStream(body: BodyInit | undefined | null): boolean {
  return body instanceof ReadableStream ||
    (typeof body === "object" && body !== null && Symbol.asyncIterator in body);
}

function withQuery(url: URL, query: RequestOptions["query"]): URL {
  if (query === undefined) return url;
  const params = query instanceof URLSearchParams
    ? query
    : new URLSearchParams();
  if (!(query instanceof URLSearchParams)) {
    for (const [key, value] of Object.entries(query)) {
      for (const item of Array.isArray(value) ? value : [value]) {
        params.append(key, String(item));
      }
    }
  }
  const extra = params.toString();
  if (extra !== "") url.search = url.search ? `${url.search}&${extra}` : extra;
  return url;
}

function makeRequest(
  method: string,
  url: URL,
  options: Omit<RequestOptions, "query" | "followRedirects">,
): Request {
  const headers = new Headers(options.headers);
  // Every HTTP/1.1 client sends Host; apps build URLs from HTTP_HOST.
  if (!headers.has("host")) headers.set("host", url.host);
  let body: BodyInit | undefined = options.body;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    if (!headers.has("content-type")) {
      headers.set("content-type", "application/json");
    }
  } else if (options.form !== undefined) {
    body = options.form instanceof FormData ||
        options.form instanceof URLSearchParams
      ? options.form
      : new URLSearchParams(options.form);
  }
  // Like a real client, declare the length of a body whose size is known;
  // streams (and FormData) go without, as a chunked upload would.
  if (typeof body === "string" || body instanceof URLSearchParams) {
    // What a browser's form sends (HTML's form submission algorithm): the
    // type has no charset parameter, the bytes are UTF-8.
    if (body instanceof URLSearchParams && !headers.has("content-type")) {
      headers.set("content-type", "application/x-www-form-urlencoded");
    }
    body = encoder.encode(String(body));
  }
  const size = body instanceof Uint8Array || body instanceof ArrayBuffer
    ? body.byteLength
    : body instanceof Blob
    ? body.size
    : undefined;
  if (size !== undefined && !headers.has("content-length")) {
    headers.set("content-length", String(size));
  }
  return new Request(url, { method, headers, body });
}

/**
 * Builds the environ the server would build for a request: for unit tests
 * of middleware and helpers. The result is a plain object with every key
 * of a real request, including a readable `wsgi.input`.
 *
 * @param options Method, path or URL, headers, body, script name.
 * @returns A complete environ.
 *
 * @example
 * ```ts
 * import { buildEnviron } from "@wsgi/deno/testing";
 * import assert from "node:assert/strict";
 *
 * const environ = buildEnviron({
 *   method: "POST",
 *   path: "/items?sort=name",
 *   json: { name: "ada" },
 * });
 * assert.equal(environ.QUERY_STRING, "sort=name");
 * assert.equal(environ.CONTENT_TYPE, "application/json");
 * const body = await environ["wsgi.input"].read();
 * assert.equal(new TextDecoder().decode(body), '{"name":"ada"}');
 * ```
 */
export function buildEnviron(options: EnvironOptions = {}): Environ {
  const url = withQuery(
    resolve(options.url ?? options.path ?? "/", new URL("http://localhost/")),
    options.query,
  );
  const request = makeRequest(options.method ?? "GET", url, options);
  return environOf(
    request,
    handlerInfo({ hostname: options.remoteAddr ?? "127.0.0.1", port: 40000 }),
    { scriptName: options.scriptName, errors: options.errors },
  );
}
