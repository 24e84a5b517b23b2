/**
 * One generation of the app, inside its own Worker: its own module graph,
 * so a change anywhere in the app's local modules takes effect in the next
 * generation. The messages it takes and answers are in `protocol.ts`.
 *
 * @module
 */
import type { RequestParts } from "../_request/request_parts.ts";
import { Exchange } from "../_request/exchange.ts";
import { type Adapter, adapter, handlerInfo } from "../_request/adapter.ts";
import { appFromExports, moduleUrl } from "../_cli/load_app.ts";
import { tracebackHtml } from "./debugger/pages.ts";
import { tracebackText } from "./debugger/traceback.ts";
import { ConsoleEval } from "./debugger/console_eval.ts";
import { withDebugger } from "./debugger/with_debugger.ts";
import type {
  EvalMessage,
  FromWorker,
  LoadMessage,
  RequestMessage,
  ToWorker,
} from "./protocol.ts";

const port = self as unknown as {
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
};

// The server's adapter for the app, made once the app has loaded.
let server: Adapter<RequestParts> | undefined;
let consoleEval = new ConsoleEval(0);

function describeError(error: unknown): { message: string; stack: string } {
  return error instanceof Error
    ? { message: `${error.name}: ${error.message}`, stack: error.stack ?? "" }
    : { message: String(error), stack: "" };
}

async function load(message: LoadMessage): Promise<void> {
  const spec = message.spec;
  consoleEval = new ConsoleEval(message.generation);
  try {
    const exports = await import(moduleUrl(spec.module).href);
    const bare = await appFromExports(exports, spec);
    consoleEval.scope(exports, bare);
    const app = withDebugger(
      bare,
      message.debug,
      (request, text) => port.postMessage({ type: "traceback", request, text }),
      consoleEval,
    );
    // Production's limits; SERVER_NAME and SERVER_PORT are the supervisor's
    // address, which each request brings.
    server = adapter(app, {
      ...message.limits,
      // The supervisor listens on plain HTTP.
      urlScheme: "http",
    }, {
      // The supervisor checked the Request that Deno.serve gave it.
      check: false,
    });
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
  readonly body: ReadableStream<Uint8Array> | null;
  readonly #id: number;
  #pairs: [string, string][];
  #headers: Headers | undefined;
  #controller: AbortController | undefined;

  constructor(message: RequestMessage) {
    this.url = message.url;
    this.method = message.method;
    this.body = message.body;
    this.#id = message.id;
    this.#pairs = message.headers;
  }

  /** Made on first use: an app that reads no header pays nothing for them. */
  get headers(): Headers {
    return this.#headers ??= new Headers(this.#pairs);
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
    server!.context.serverName = message.server?.name;
    server!.context.serverPort = message.server?.port;
    // The server's own adapter, so that every rule holds in the dev server;
    // the exchange is kept to read what it made the response from.
    const exchange = new Exchange();
    const response = await server!.run(
      new ForwardedRequest(message),
      handlerInfo(message.remote),
      exchange,
    );
    // Read before anything else can run: an app that answers after its 503
    // gives the exchange a response that is not this one.
    const init = exchange.responseInit;
    let memory = exchange.memoryBody;
    // A response the exchange kept nothing of is one of the server's short
    // texts (the 413 for a declared length, the 503): it crosses whole, and
    // keeps its length.
    if (init === undefined && memory === undefined) {
      memory = new Uint8Array(await response.arrayBuffer());
    }
    // A body that was whole in memory crosses as a copy, which costs far
    // less than a transferred stream.
    const body = memory === undefined ? response.body : memory;
    // The app's own status and headers cross as they are; reading them back
    // from the Response would cost more than the app itself.
    const head = init ?? {
      status: response.status,
      statusText: response.statusText,
      headers: [...response.headers],
    };
    port.postMessage({
      type: "response",
      id: message.id,
      ...head,
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

async function evaluate(message: EvalMessage) {
  const answer = await consoleEval.evaluate(message.source, message.error);
  port.postMessage({ type: "evaluated", id: message.id, ...answer });
}

port.onmessage = (event) => {
  const message = event.data;
  if (message.type === "request") respond(message);
  else if (message.type === "eval") evaluate(message);
  else if (message.type === "abort") {
    watched.get(message.id)?.abort(
      new DOMException("The client went away", "AbortError"),
    );
    watched.delete(message.id);
  } else load(message);
};
