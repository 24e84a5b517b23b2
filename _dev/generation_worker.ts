/**
 * One generation of the app, inside its own Worker: its own module graph,
 * so a change anywhere in the app's local modules takes effect in the next
 * generation. The messages it takes and answers are in `protocol.ts`.
 *
 * @module
 */
import type { App, Environ } from "../_contract/types.ts";
import { type EnvironContext, makeEnviron } from "../_request/environ.ts";
import type { RequestParts } from "../_request/request_parts.ts";
import { errorStream } from "../_shared/errors.ts";
import { Exchange, tooLarge } from "../_request/exchange.ts";
import { appFromExports, moduleUrl } from "../_cli/load_app.ts";
import { errors } from "../middleware/errors.ts";
import {
  consoleHtml,
  debugPage,
  requestLine,
  tracebackHtml,
} from "./debugger/pages.ts";
import { tracebackText } from "./debugger/traceback.ts";
import { hostTrusted } from "./debugger/console.ts";
import type {
  DebugSettings,
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
// What the console has in scope: the app module's exports and the app.
let exports: Record<string, unknown> = {};
let bare: App | undefined;
let generation = 0;

// The errors of the last traceback pages, for the console to look into.
const KEPT_ERRORS = 50;
const shown = new Map<string, { error: unknown; environ: unknown }>();
let shownCount = 0;

/** Keeps `error` for the console; its key, to be named by the page. */
function keep(error: unknown, environ: unknown): string {
  const key = `${generation}-${++shownCount}`;
  shown.set(key, { error, environ });
  if (shown.size > KEPT_ERRORS) shown.delete(shown.keys().next().value!);
  return key;
}

/** The app wrapped so that an exception gets the page `debug` asks for. */
function withDebugger(inner: App, debug: DebugSettings): App {
  // The terminal gets the traceback either way, through the supervisor.
  const report = (error: unknown, environ: Environ) =>
    port.postMessage({
      type: "traceback",
      request: requestLine(environ),
      text: tracebackText(error),
    });
  if (!debug.pages) return errors({ report })(inner);
  return errors({
    report,
    page: (error, environ) =>
      debugPage(
        error,
        environ,
        debug.console && hostTrusted(environ.HTTP_HOST, debug.trusted)
          ? consoleHtml(keep(error, environ))
          : "",
      ),
  })(inner);
}
// What the server would know once: the limits come with \`load\`, and
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
  generation = message.generation;
  context.maxBodySize = message.limits.maxBodySize ?? Infinity;
  context.scriptName = message.limits.scriptName ?? "";
  requestTimeout = message.limits.requestTimeout;
  try {
    exports = await import(moduleUrl(spec.module).href);
    bare = await appFromExports(exports, spec);
    app = withDebugger(bare, message.debug);
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

// An async function's constructor, to compile what the console is sent
// with `await` allowed.
const AsyncFunction = Object.getPrototypeOf(async () => {})
  .constructor as new (...args: string[]) => (
    ...args: unknown[]
  ) => Promise<unknown>;
const SCOPE = ["exports", "app", "error", "environ"];

/** Compiles console input: an expression if it is one, else statements. */
function compile(source: string) {
  try {
    return new AsyncFunction(...SCOPE, `return (${source}\n);`);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    return new AsyncFunction(...SCOPE, source);
  }
}

/** What console input threw, with its stack down to the console's own frames. */
function thrownText(error: unknown): string {
  if (!(error instanceof Error)) return `Uncaught ${Deno.inspect(error)}`;
  const lines = (error.stack ?? `${error.name}: ${error.message}`).split("\n");
  const own = lines.findIndex((line) =>
    line.includes(import.meta.url) && !line.includes("eval at")
  );
  return `Uncaught ${(own < 0 ? lines : lines.slice(0, own)).join("\n")}`;
}

async function evaluate(message: EvalMessage) {
  let answer: { ok: boolean; output: string };
  const context = message.error === undefined
    ? { error: undefined, environ: undefined }
    : shown.get(message.error);
  if (context === undefined) {
    answer = {
      ok: false,
      output: message.error!.startsWith(`${generation}-`)
        ? "This error is too old: the console keeps the last " +
          `${KEPT_ERRORS} errors' context`
        : "This page is from an earlier version of the app, reloaded since: " +
          "reload the page, or use the console at /__wsgi_dev__/console",
    };
  } else {
    try {
      const value = await compile(message.source)(
        exports,
        bare,
        context.error,
        context.environ,
      );
      answer = {
        ok: true,
        output: Deno.inspect(value, { depth: 4, iterableLimit: 200 }),
      };
    } catch (error) {
      answer = { ok: false, output: thrownText(error) };
    }
  }
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
