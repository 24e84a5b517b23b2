/**
 * One generation of the app, inside its own Worker: its own module graph,
 * so a change anywhere in the app's local modules takes effect in the next
 * generation. The supervisor sends `load` once, then one `request` per
 * request, each body a transferred stream; the Worker answers `ready` or
 * `failed`, then one `response` (or `error`) per request.
 *
 * @module
 */
import type { App } from "../mod.ts";
import { makeEnviron, type RequestParts } from "../_environ.ts";
import { errorStream } from "../_errors.ts";
import { Exchange } from "../_response.ts";
import { appFromExports, type AppSpec, moduleUrl } from "../_load.ts";
import { errors } from "../middleware/errors.ts";
import { debugPage, tracebackHtml } from "./debugger/pages.ts";
import { tracebackText } from "./debugger/traceback.ts";

// An exception before the headers went out gets the traceback page; the
// terminal gets the same traceback.
const debug = errors({
  page: debugPage,
  report: (error) => console.error(tracebackText(error)),
});

/** What the supervisor sends. */
export type ToWorker =
  | { type: "load"; spec: AppSpec }
  | { type: "abort"; id: number }
  | {
    type: "request";
    id: number;
    url: string;
    method: string;
    headers: [string, string][];
    body: ReadableStream<Uint8Array> | null;
    remote: { hostname: string; port: number };
  };

/** What the Worker answers. */
export type FromWorker =
  | { type: "ready" }
  | {
    type: "failed";
    message: string;
    stack: string;
    html: string;
    text: string;
  }
  | {
    type: "response";
    id: number;
    status: number;
    statusText: string;
    headers: [string, string][];
    body: ReadableStream<Uint8Array> | Uint8Array | string | null;
  }
  | { type: "error"; id: number; message: string; stack: string }
  | { type: "watch"; id: number };

const port = self as unknown as {
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
};

let app: App | undefined;
// What the server would know once; SERVER_NAME comes from the Host header.
const context = {
  scriptName: "",
  errors: errorStream(),
  multiprocess: false,
  maxBodySize: Infinity,
};

function describeError(error: unknown): { message: string; stack: string } {
  return error instanceof Error
    ? { message: `${error.name}: ${error.message}`, stack: error.stack ?? "" }
    : { message: String(error), stack: "" };
}

async function load(spec: AppSpec): Promise<void> {
  try {
    const exports = await import(moduleUrl(spec.module).href);
    app = debug(await appFromExports(exports, spec));
    port.postMessage({ type: "ready" });
  } catch (error) {
    // The pages are made here, where the app's files can be read.
    port.postMessage({
      type: "failed",
      ...describeError(error),
      html: tracebackHtml(
        error,
        "The app failed to load; save a fix and it loads again.",
      ),
      text: `The app failed to load; save a fix and it loads again.\n\n${
        tracebackText(error)
      }`,
    });
  }
}

type RequestMessage = Extract<ToWorker, { type: "request" }>;

// The requests whose app reads `deno.signal`, until the supervisor says
// their client left or their exchange ended.
const watched = new Map<number, AbortController>();

/**
 * A request as the supervisor forwarded it. A full `Request` is made only
 * if the app asks for `deno.request`; its signal is asked of the supervisor
 * only if the app reads it.
 */
class ForwardedRequest {
  readonly url: string;
  readonly method: string;
  readonly headers: Headers;
  readonly body: ReadableStream<Uint8Array> | null;
  readonly #id: number;
  #controller: AbortController | undefined;

  constructor(message: RequestMessage) {
    this.url = message.url;
    this.method = message.method;
    this.headers = new Headers(message.headers);
    this.body = message.body;
    this.#id = message.id;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      watched.set(this.#id, this.#controller);
      port.postMessage({ type: "watch", id: this.#id });
    }
    return this.#controller.signal;
  }

  toRequest(): Request {
    return new Request(this.url, {
      method: this.method,
      headers: this.headers,
      // Once wsgi.input has begun reading, the body is its own.
      body: this.body?.locked ? null : this.body,
      signal: this.signal,
      duplex: "half",
    } as RequestInit);
  }
}

async function respond(message: RequestMessage) {
  try {
    const request: RequestParts = new ForwardedRequest(message);
    const info = {
      remoteAddr: { transport: "tcp", ...message.remote },
      completed: Promise.resolve(),
    } as Deno.ServeHandlerInfo;
    // The server's own adapter, so that every rule holds in the dev server.
    const exchange = new Exchange();
    const response = await exchange.run(
      app!,
      makeEnviron(request, info, context, exchange),
    );
    // A body that was whole in memory crosses as a copy, which costs far
    // less than a transferred stream.
    const memory = exchange.memoryBody;
    const body = memory === undefined ? response.body : memory;
    port.postMessage({
      type: "response",
      id: message.id,
      status: response.status,
      statusText: response.statusText,
      headers: [...response.headers],
      body,
    }, body instanceof ReadableStream ? [body] : []);
  } catch (error) {
    port.postMessage({
      type: "error",
      id: message.id,
      ...describeError(error),
    });
  }
}

port.onmessage = (event) => {
  const message = event.data;
  if (message.type === "request") respond(message);
  else if (message.type === "abort") {
    watched.get(message.id)?.abort(
      new DOMException("The client went away", "AbortError"),
    );
    watched.delete(message.id);
  } else load(message.spec);
};
