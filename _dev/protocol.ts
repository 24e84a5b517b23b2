/**
 * The messages between the dev server's supervisor and a generation's
 * Worker. The supervisor sends `load` once, then one `request` per request,
 * each body a transferred stream; the Worker answers `ready` or `failed`,
 * then one `response` (or `error`) per request. The debugger's console sends
 * `eval`, answered by `evaluated`. An app that reads `deno.signal` makes the
 * Worker send `watch`, and the supervisor sends `abort` when that request's
 * client goes away. Each exception in the app sends `traceback`, for the
 * terminal.
 *
 * @module
 */
import type { AppSpec } from "../_cli/load_app.ts";
import type { ResponseHead } from "../_request/exchange.ts";

/** How a generation shows an exception in the app. */
export interface DebugSettings {
  /** Traceback pages; without them a failing request gets a bare 500. */
  pages: boolean;
  /** The console on HTML traceback pages, for trusted Host values. */
  console: boolean;
  /** Host names trusted besides the loopback ones. */
  trusted: string[];
}

/**
 * The limits production applies, with the meaning of `serve()`'s options of
 * the same names (`--max-body`, `--request-timeout`, `--script-name`).
 */
export interface ServerLimits {
  /** Largest request body in bytes; past it, a 413. */
  maxBodySize?: number;
  /** Milliseconds the app has to start its response; past them, a 503. */
  requestTimeout?: number;
  /** The path prefix given as `SCRIPT_NAME`. */
  scriptName?: string;
}

/** Loads the app: the first message a Worker gets. */
export interface LoadMessage {
  type: "load";
  spec: AppSpec;
  generation: number;
  debug: DebugSettings;
  limits: ServerLimits;
}

/** One request, forwarded; its body is transferred. */
export interface RequestMessage {
  type: "request";
  id: number;
  url: string;
  method: string;
  headers: [string, string][];
  body: ReadableStream<Uint8Array> | null;
  remote: { hostname: string; port: number };
  /** The supervisor's bound address, once it listens. */
  server?: { name: string; port: string };
}

/** Console input, with the error page whose error and environ it sees. */
export interface EvalMessage {
  type: "eval";
  id: number;
  source: string;
  error?: string;
}

/** What the supervisor sends. */
export type ToWorker =
  | LoadMessage
  | EvalMessage
  | { type: "abort"; id: number }
  | RequestMessage;

/** Why the app failed to load, with its pages made inside the Worker. */
export interface FailedMessage {
  type: "failed";
  message: string;
  stack: string;
  html: string;
  text: string;
}

/** What console input gave. */
export interface Evaluated {
  ok: boolean;
  output: string;
}

/** What the Worker answers. */
export type FromWorker =
  | { type: "ready" }
  | FailedMessage
  | {
    type: "response";
    id: number;
    body: ReadableStream<Uint8Array> | Uint8Array | string | null;
  } & ResponseHead
  | { type: "error"; id: number; message: string; stack: string }
  | { type: "evaluated"; id: number } & Evaluated
  | { type: "watch"; id: number }
  | { type: "traceback"; request: string; text: string };
