/**
 * The dev server's supervisor: holds the listening socket for the whole
 * session and routes each request: to live reload's endpoint, to the
 * debugger's, or to the current generation of the app.
 *
 * A reload loads a new generation beside the current one; only once it has
 * loaded does it take the new requests, while the old one finishes what it
 * had (streamed bodies included) and is then terminated. No connection is
 * dropped and no request fails because of a reload. A generation that fails
 * to load leaves the error to be shown until the next one loads.
 *
 * @module
 */
import type { AppSpec } from "../_cli/load_app.ts";
import type {
  DebugSettings,
  FromWorker,
  ServerLimits,
  ToWorker,
} from "./protocol.ts";
import { escapeHtml } from "./debugger/pages.ts";
import { stripAnsi } from "../_shared/errors.ts";
import { checkRequest } from "../_request/request_checks.ts";
import { DEBUGGER_PATH, type DebuggerConsole } from "./debugger/pin_guard.ts";
import { InFlight, tracked } from "./tracked_body.ts";
import {
  isPythonSpec,
  PythonGeneration,
  type PythonLoadFailure,
  type PythonSettings,
  SpareInterpreter,
} from "./python_generation.ts";
import {
  EVENTS_PATH,
  type LiveReload,
  withReloadScript,
} from "./live_reload.ts";

const WORKER = new URL("./generation_worker.ts", import.meta.url);

/** Why a generation could not load. */
export interface LoadFailure {
  message: string;
  stack: string;
  /** The error page for browsers, and for other clients. */
  html: string;
  text: string;
}

/** One version of the app, in its own Worker. */
export class Generation {
  readonly worker: Worker;
  #next = 0;
  // What waits for each answer; for a request, the request too, for an app
  // that reads `deno.signal` (the Worker asks before it answers).
  #pending = new Map<
    number,
    { answer: (answer: FromWorker) => void; request?: Request }
  >();
  #requests = new InFlight();

  private constructor(
    worker: Worker,
    onTraceback: (request: string, text: string) => void,
  ) {
    this.worker = worker;
    worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const answer = event.data;
      if (answer.type === "watch") this.#watch(answer.id);
      else if (answer.type === "traceback") {
        onTraceback(answer.request, answer.text);
      } else if (
        answer.type === "response" || answer.type === "error" ||
        answer.type === "evaluated"
      ) {
        this.#pending.get(answer.id)?.answer(answer);
        this.#pending.delete(answer.id);
      }
    };
  }

  /** Loads `spec` in a fresh Worker: the generation, or why it failed. */
  static load(
    spec: AppSpec,
    generation: number,
    debug: DebugSettings,
    limits: ServerLimits,
    onTraceback: (request: string, text: string) => void,
  ): Promise<Generation | LoadFailure> {
    const worker = new Worker(WORKER, { type: "module" });
    return new Promise((resolve) => {
      worker.onmessage = (event: MessageEvent<FromWorker>) => {
        const answer = event.data;
        if (answer.type === "ready") {
          resolve(new Generation(worker, onTraceback));
        } else if (answer.type === "failed") {
          worker.terminate();
          // Deno colours some messages (a module not found) whatever the
          // output; the terminal line and the pages get them plain.
          resolve({
            message: stripAnsi(answer.message),
            stack: stripAnsi(answer.stack),
            html: answer.html,
            text: answer.text,
          });
        }
      };
      worker.onerror = (event) => {
        event.preventDefault();
        worker.terminate();
        resolve(plainFailure(stripAnsi(event.message)));
      };
      const load: ToWorker = {
        type: "load",
        spec,
        generation,
        debug,
        limits,
      };
      worker.postMessage(load);
    });
  }

  /** Forwards a request; the response body streams back from the Worker. */
  handle(
    request: Request,
    info: Deno.ServeHandlerInfo,
    server?: { name: string; port: string },
  ): Promise<Response> {
    const id = this.#next++;
    this.#requests.start();
    const remote = info.remoteAddr as Deno.NetAddr;
    const body = request.body;
    const message: ToWorker = {
      type: "request",
      id,
      url: request.url,
      method: request.method,
      headers: [...request.headers],
      body,
      remote: { hostname: remote.hostname, port: remote.port },
      server,
    };
    return new Promise((resolve) => {
      const onAnswer = (answer: FromWorker) => {
        if (answer.type === "error") {
          this.#requests.done();
          resolve(
            new Response(`${answer.message}\n`, {
              status: 500,
              headers: { "content-type": "text/plain; charset=utf-8" },
            }),
          );
          return;
        }
        if (answer.type !== "response") return;
        // The request counts as in flight until its body has gone out, or
        // the client has gone away.
        const body = answer.body instanceof ReadableStream
          ? tracked(answer.body, () => this.#requests.done())
          : answer.body;
        if (!(body instanceof ReadableStream)) this.#requests.done();
        resolve(
          new Response(body as BodyInit | null, {
            status: answer.status,
            statusText: answer.statusText,
            headers: answer.headers,
          }),
        );
      };
      this.#pending.set(id, { answer: onAnswer, request });
      this.worker.postMessage(message, body ? [body] : []);
    });
  }

  /**
   * Runs console input in the Worker; `error` names a traceback page's
   * error, to have it and its environ in scope.
   */
  evaluate(
    source: string,
    error: string | undefined,
  ): Promise<{ ok: boolean; output: string }> {
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#pending.set(id, {
        answer: (answer) => {
          if (answer.type === "evaluated") {
            resolve({ ok: answer.ok, output: answer.output });
          }
        },
      });
      const message: ToWorker = { type: "eval", id, source, error };
      this.worker.postMessage(message);
    });
  }

  /** Tells the Worker when request `id`'s signal aborts. */
  #watch(id: number): void {
    const request = this.#pending.get(id)?.request;
    if (request === undefined) return;
    const abort: ToWorker = { type: "abort", id };
    request.signal.addEventListener(
      "abort",
      () => this.worker.postMessage(abort),
      { once: true },
    );
  }

  /** Waits for the requests in flight, then terminates the Worker. */
  async retire(): Promise<void> {
    await this.#requests.drained();
    this.worker.terminate();
  }
}

/** A failure known only by its message. */
function plainFailure(message: string): LoadFailure {
  const text =
    `The app failed to load; save a fix and it loads again.\n\n${message}\n`;
  return {
    message,
    stack: "",
    text,
    html:
      `<!doctype html><meta charset="utf-8"><title>The app failed to load</title><pre>${
        escapeHtml(text)
      }</pre>\n`,
  };
}

/** The page a request gets while the app cannot load: HTML for browsers. */
function failurePage(failure: LoadFailure, request: Request): Response {
  const html = (request.headers.get("accept") ?? "").includes("text/html");
  return new Response(html ? failure.html : failure.text, {
    status: 500,
    headers: {
      "content-type": `${html ? "text/html" : "text/plain"}; charset=utf-8`,
    },
  });
}

/** What the session's listener serves besides the app, and what it tells. */
export interface SessionRoutes {
  /** The debugger's endpoints; without it, they answer `consoleOff`. */
  console?: DebuggerConsole;
  /** Why the debugger is off, for its endpoints' 404. */
  consoleOff: string;
  /** Live reload; without it, its endpoint is a 404 and pages get no script. */
  live?: LiveReload;
  /** Called once per request answered, for the terminal's access line. */
  onRequest?: (
    method: string,
    path: string,
    status: number,
    ms: number,
  ) => void;
}

/** Where the session listens. */
export interface ListenOptions {
  hostname: string;
  port: number;
  onListen?: (addr: Deno.NetAddr) => void;
}

/**
 * Keeps the current generation and swaps in the next one on reload.
 * {@linkcode Supervisor.listen} opens the session's socket; its `handler`
 * is the app's part of what that socket serves.
 */
export class Supervisor {
  #spec: AppSpec;
  #debug: DebugSettings;
  #limits: ServerLimits;
  #python: PythonSettings;
  #current: Generation | PythonGeneration | LoadFailure | undefined;
  /** The app's own Python files, as the last load of a Python app found them. */
  #pythonFiles: string[] = [];
  /** A Python app's interpreter for the next save, started ahead. */
  #spare: Promise<SpareInterpreter> | undefined;
  /** The site-packages modules the spare imports ahead. */
  #preload: string[] = [];
  #closed = false;
  #generation = 0;
  #address: { name: string; port: string } | undefined;
  #listener: Deno.HttpServer<Deno.NetAddr> | undefined;
  #onTraceback: (request: string, text: string) => void;

  /**
   * `debug` says how each generation shows an exception in the app;
   * `onTraceback` gets each exception's request line and traceback;
   * `limits` are what production applies to each request; `python` says
   * how a `.py` app's pools run.
   */
  constructor(
    spec: AppSpec,
    debug: DebugSettings = { pages: true, console: false, trusted: [] },
    onTraceback: (request: string, text: string) => void = (request, text) =>
      console.error(`${request}: ${text}`),
    limits: ServerLimits = {},
    python: PythonSettings = {
      python: "python3",
      pythonPath: [],
      workers: 1,
      threads: 1,
    },
  ) {
    this.#python = python;
    this.#spec = spec;
    this.#debug = debug;
    this.#limits = limits;
    this.#onTraceback = onTraceback;
  }

  /**
   * Loads a new generation. If it loads, it takes every new request and the
   * old one retires once its requests are done; if not, requests get the
   * failure until the next reload. Resolves with the load time and the
   * failure, if any.
   */
  async reload(): Promise<{ ms: number; failure?: LoadFailure }> {
    const start = performance.now();
    const next = isPythonSpec(this.#spec)
      ? await this.#loadPython()
      : await Generation.load(
        this.#spec,
        ++this.#generation,
        this.#debug,
        this.#limits,
        this.#onTraceback,
      );
    const previous = this.#current;
    this.#current = next;
    if (running(previous)) void previous.retire();
    const ms = performance.now() - start;
    return running(next) ? { ms } : { ms, failure: next };
  }

  async #loadPython(): Promise<PythonGeneration | LoadFailure> {
    const spare = await this.#spare;
    this.#spare = undefined;
    const next: PythonGeneration | PythonLoadFailure = await PythonGeneration
      .load(
        this.#spec,
        this.#python,
        this.#debug,
        this.#limits,
        this.#onTraceback,
        spare,
      );
    if (next instanceof PythonGeneration) this.#preload = next.preload;
    // The next save's interpreter starts now, beside this one's requests.
    if (!this.#closed) {
      this.#spare = SpareInterpreter.start(this.#python, this.#preload);
    }
    // A failed import keeps what was watched: the file to fix is among it.
    this.#pythonFiles = next instanceof PythonGeneration
      ? next.files
      : [...new Set([...this.#pythonFiles, ...next.files])];
    return next;
  }

  /**
   * The Python files the app's last import reached in its own folders
   * (empty for a TypeScript app): what the watcher watches.
   */
  get pythonFiles(): string[] {
    return this.#pythonFiles;
  }

  /**
   * Opens the session's listening socket, held until
   * {@linkcode Supervisor.close}, and routes each request: live reload's
   * endpoint, the debugger's, else the current generation. Throws what
   * `Deno.serve` throws when it cannot listen.
   */
  listen(where: ListenOptions, routes: SessionRoutes): Deno.NetAddr {
    const route = (request: Request, info: Deno.ServeHandlerInfo) =>
      this.#route(request, info, routes);
    const listener = Deno.serve(where, route);
    this.#listener = listener;
    // SERVER_NAME and SERVER_PORT, as `serve()` gives them.
    const addr = listener.addr;
    this.#address = { name: addr.hostname, port: String(addr.port) };
    return addr;
  }

  async #route(
    request: Request,
    info: Deno.ServeHandlerInfo,
    routes: SessionRoutes,
  ): Promise<Response> {
    const start = performance.now();
    // The path as received; cheaper than parsing the URL.
    const path = request.url.slice(request.url.indexOf("/", 8));
    if (path === EVENTS_PATH) {
      return routes.live?.events() ??
        Response.json({ error: "Live reload is off (--no-live-reload)" }, {
          status: 404,
        });
    }
    let response = path.startsWith(DEBUGGER_PATH)
      ? await (routes.console?.handle(request) ??
        Response.json({ error: routes.consoleOff }, { status: 404 }))
      : await this.handler(request, info);
    if (routes.live) response = withReloadScript(response);
    routes.onRequest?.(
      request.method,
      path,
      response.status,
      performance.now() - start,
    );
    return response;
  }

  /** Serves one request from the current generation. */
  handler = (
    request: Request,
    info: Deno.ServeHandlerInfo,
  ): Promise<Response> | Response => {
    const current = this.#current;
    if (current instanceof Generation) {
      return checkRequest(request, info) ??
        current.handle(request, info, this.#address);
    }
    // The adapter in front of the pool makes the request's checks.
    if (current instanceof PythonGeneration) {
      return current.handle(request, info);
    }
    return failurePage(
      current ?? plainFailure("The app has not loaded yet"),
      request,
    );
  };

  /** Runs console input in the current generation. */
  evaluate(
    source: string,
    error: string | undefined,
  ): Promise<{ ok: boolean; output: string }> {
    const current = this.#current;
    if (running(current)) return current.evaluate(source, error);
    return Promise.resolve({
      ok: false,
      output: "The app has not loaded: there is nothing to evaluate in. " +
        "Save a fix and try again",
    });
  }

  /**
   * Closes the listening socket, if it listens, once its requests are
   * answered; then retires the current generation, waiting for them.
   */
  async close(): Promise<void> {
    this.#closed = true;
    const spare = this.#spare;
    this.#spare = undefined;
    await (await spare)?.discard();
    await this.#listener?.shutdown();
    const current = this.#current;
    this.#current = undefined;
    if (running(current)) await current.retire();
  }
}

/** Whether `current` is a generation that loaded, rather than a failure. */
function running(
  current: Generation | PythonGeneration | LoadFailure | undefined,
): current is Generation | PythonGeneration {
  return current instanceof Generation || current instanceof PythonGeneration;
}
