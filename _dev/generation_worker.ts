/**
 * One generation of the app, inside its own Worker: its own module graph,
 * so a change anywhere in the app's local modules takes effect in the next
 * generation. The messages it takes and answers are in `protocol.ts`.
 *
 * @module
 */
import type { App } from "../_contract/types.ts";
import { type EnvironContext, makeEnviron } from "../_request/environ.ts";
import type { RequestParts } from "../_request/request_parts.ts";
import { errorStream } from "../_shared/errors.ts";
import { Exchange, tooLarge } from "../_request/exchange.ts";
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

let app: App | undefined;
let consoleEval = new ConsoleEval(0);

// What the server would know once: the limits come with `load`, and
// SERVER_NAME and SERVER_PORT are the supervisor's address, which each
// request brings.
const context: EnvironContext = {
  scriptName: "",
  // The supervisor listens on plain HTTP.
  urlScheme: "http" as const,
  errors: errorStream(),
  multiprocess: false,
  maxBodySize: Infinity,
};
let requestTimeout: number | undefined;

function describeError(error: unknown): { message: string; stack: string } {
  return error instanceof Error
    ? { message: `${error.name}: ${error.message}`, stack: error.stack ?? "" }
    : { message: String(error), stack: "" };
}

async function load(message: LoadMessage): Promise<void> {
  const spec = message.spec;
  consoleEval = new ConsoleEval(message.generation);
  context.maxBodySize = message.limits.maxBodySize ?? Infinity;
  context.scriptName = message.limits.scriptName ?? "";
  requestTimeout = message.limits.requestTimeout;
  try {
    const exports = await import(moduleUrl(spec.module).href);
    const bare = await appFromExports(exports, spec);
    consoleEval.scope(exports, bare);
    app = withDebugger(
      bare,
      message.debug,
      (request, text) => port.postMessage({ type: "traceback", request, text }),
      consoleEval,
    );
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

/**
 * The answer to `request` under the limits production applies: the app's,
 * with its exchange, or the server's own 413 or 503 without one.
 */
function limited(
  request: RequestParts,
  info: Deno.ServeHandlerInfo,
): Promise<{ response: Response; exchange?: Exchange }> {
  const limit = context.maxBodySize;
  if (limit !== Infinity) {
    const length = request.headers.get("content-length");
    if (length !== null && Number(length) > limit) {
      return Promise.resolve({ response: tooLarge(limit) });
    }
  }
  const exchange = new Exchange();
  const running = exchange.run(
    app!,
    makeEnviron(request, info, context, exchange),
  );
  const ms = requestTimeout;
  if (ms === undefined || running instanceof Response) {
    return Promise.resolve(running).then((response) => ({
      response,
      exchange,
    }));
  }
  return new Promise((resolve, reject) => {
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      resolve({ response: exchange.timeOut(ms) });
    }, ms);
    running.then((response) => {
      clearTimeout(timer);
      if (!late) resolve({ response, exchange });
      // Nobody will read it: cancelling closes the app's body.
      else response.body?.cancel().catch(() => {});
    }, (error) => {
      clearTimeout(timer);
      if (!late) reject(error);
    });
  });
}

async function respond(message: RequestMessage) {
  try {
    const request: RequestParts = new ForwardedRequest(message);
    context.serverName = message.server?.name;
    context.serverPort = message.server?.port;
    const info = {
      remoteAddr: { transport: "tcp", ...message.remote },
      completed: Promise.resolve(),
    } as Deno.ServeHandlerInfo;
    // The server's own exchange, so that every rule holds in the dev server.
    const { response, exchange } = await limited(request, info);
    // A body that was whole in memory crosses as a copy, which costs far
    // less than a transferred stream.
    // The server's own answers are short texts, which keep their length.
    const memory = exchange === undefined
      ? new Uint8Array(await response.arrayBuffer())
      : exchange.memoryBody;
    const body = memory === undefined ? response.body : memory;
    // The app's own status and headers cross as they are; reading them back
    // from the Response would cost more than the app itself.
    const init = exchange?.responseInit ?? {
      status: response.status,
      statusText: response.statusText,
      headers: [...response.headers],
    };
    port.postMessage({
      type: "response",
      id: message.id,
      ...init,
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
