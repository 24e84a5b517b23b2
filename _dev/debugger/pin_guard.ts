/**
 * The debugger console's guard, in the supervisor: which Host values it
 * answers to, the session's PIN, and the lock after too many wrong ones.
 *
 * The console runs any code it is sent inside the app, so every request to
 * it must pass three checks, each named in its rejection:
 * - its Host is trusted (localhost names, the bound address, `--trust-host`),
 *   against DNS rebinding: a page on another site that resolves its own
 *   name to 127.0.0.1 still sends its own name as Host;
 * - it comes from the dev server's own pages: JSON only, which a page on
 *   another site cannot send without a CORS preflight, and an `Origin`, if
 *   any, naming the same host;
 * - it carries the session cookie, given for the PIN printed on the
 *   terminal. The PIN is the same for the whole session, across reloads;
 *   after {@linkcode MAX_TRIES} wrong ones the console locks until dev.ts
 *   restarts.
 *
 * @module
 */
import { hostNameOf } from "../../_shared/host.ts";

/** Wrong PINs before the console locks for the session. */
export const MAX_TRIES = 10;

/** Where the debugger's endpoints live; no app path starts this way. */
export const DEBUGGER_PATH = "/__wsgi_dev__/";

const COOKIE = "wsgi_dev_console";

/** The host name of a Host header value: no port, no brackets, lowercase. */
export function hostName(host: string): string {
  return hostNameOf(host.trim().toLowerCase());
}

/** Whether `hostname` is a loopback address or name. */
export function isLoopback(hostname: string): boolean {
  const name = hostName(hostname);
  return name === "localhost" || name.endsWith(".localhost") ||
    name === "::1" || /^127\.\d+\.\d+\.\d+$/.test(name);
}

/**
 * Whether a request with this Host header may reach the debugger: loopback
 * names and addresses, and the names in `trusted`.
 */
export function hostTrusted(
  host: string | null | undefined,
  trusted: readonly string[],
): boolean {
  if (!host) return false;
  const name = hostName(host);
  return isLoopback(name) || trusted.includes(name);
}

/**
 * The host names the debugger trusts besides loopback ones: the bound
 * address (every interface's, when bound to all of them) and `extra`.
 */
export function trustedHosts(hostname: string, extra: string[] = []): string[] {
  const names = new Set(extra.map(hostName));
  const bound = hostName(hostname);
  if (bound === "0.0.0.0" || bound === "::") {
    for (const { address } of Deno.networkInterfaces()) {
      names.add(address.toLowerCase());
    }
  } else {
    names.add(bound);
  }
  return [...names];
}

/** A new PIN: nine random digits, as `123-456-789`. */
export function newPin(): string {
  const digits = [...crypto.getRandomValues(new Uint32Array(9))]
    .map((n) => String(n % 10)).join("");
  return `${digits.slice(0, 3)}-${digits.slice(3, 6)}-${digits.slice(6)}`;
}

/** Equal strings, compared in time that does not depend on where they differ. */
function sameText(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ (y[i % y.length] ?? 0);
  return diff === 0;
}

function json(status: number, value: unknown, headers?: HeadersInit): Response {
  const response = Response.json(value, { status, headers });
  response.headers.set("cache-control", "no-store");
  return response;
}

/** Evaluates `source` in the app, with the error page `error`'s context. */
export type Evaluate = (
  source: string,
  error: string | undefined,
) => Promise<{ ok: boolean; output: string }>;

/** Options of {@linkcode DebuggerConsole}. */
export interface ConsoleOptions {
  /** The session's PIN. */
  pin: string;
  /** Host names trusted besides the loopback ones. */
  trusted: readonly string[];
  /** Runs an expression in the current generation. */
  evaluate: Evaluate;
  /** The standalone console page. */
  page: () => string;
}

/** The debugger's endpoints under {@linkcode DEBUGGER_PATH}. */
export class DebuggerConsole {
  readonly pin: string;
  #options: ConsoleOptions;
  // The cookie's value: whoever has it has given the PIN.
  #token = [...crypto.getRandomValues(new Uint8Array(32))]
    .map((byte) => byte.toString(16).padStart(2, "0")).join("");
  #wrong = 0;

  constructor(options: ConsoleOptions) {
    this.pin = options.pin;
    this.#options = options;
  }

  /** Whether the console has locked after too many wrong PINs. */
  get locked(): boolean {
    return this.#wrong >= MAX_TRIES;
  }

  /** Whether a request with this Host header may use the console. */
  trusts(host: string | null | undefined): boolean {
    return hostTrusted(host, this.#options.trusted);
  }

  /** Answers a request under {@linkcode DEBUGGER_PATH}. */
  async handle(request: Request): Promise<Response> {
    const host = request.headers.get("host");
    if (!this.trusts(host)) {
      return json(403, {
        error: `The debugger answers only to trusted Host values ` +
          `(localhost names, the address dev.ts is bound to, --trust-host); ` +
          `this request's Host is ${JSON.stringify(host ?? "")}`,
      });
    }
    const path = new URL(request.url).pathname.slice(DEBUGGER_PATH.length);
    if (path === "console" && request.method === "GET") {
      return new Response(this.#options.page(), {
        headers: {
          "content-type": "text/html; charset=utf-8",
          "cache-control": "no-store",
        },
      });
    }
    if (path === "pin" && request.method === "GET") {
      return json(200, {
        authenticated: this.#authenticated(request),
        locked: this.locked,
        triesLeft: MAX_TRIES - this.#wrong,
      });
    }
    if ((path === "pin" || path === "eval") && request.method === "POST") {
      const refused = this.#foreign(request, host!);
      if (refused) return refused;
      let body: Record<string, unknown>;
      try {
        body = await request.json();
        if (typeof body !== "object" || body === null) throw new TypeError();
      } catch {
        return json(400, { error: "The body must be a JSON object" });
      }
      return path === "pin" ? this.#unlock(body) : this.#eval(request, body);
    }
    return json(404, {
      error: `No debugger endpoint ${request.method} ${DEBUGGER_PATH}${path}`,
    });
  }

  /** A refusal for a POST that did not come from the dev server's pages. */
  #foreign(request: Request, host: string): Response | undefined {
    const type = request.headers.get("content-type") ?? "";
    if (!/^application\/json\s*(;|$)/i.test(type)) {
      return json(415, {
        error: "The debugger takes JSON (Content-Type: application/json), " +
          "which a page on another site cannot send without asking first",
      });
    }
    const origin = request.headers.get("origin");
    if (origin !== null) {
      let originHost: string;
      try {
        originHost = new URL(origin).host;
      } catch {
        originHost = origin;
      }
      if (originHost.toLowerCase() !== host.trim().toLowerCase()) {
        return json(403, {
          error: `The debugger takes requests only from its own pages: ` +
            `Origin ${JSON.stringify(origin)} is not this server's ` +
            `${JSON.stringify(host)}`,
        });
      }
    }
    return undefined;
  }

  #authenticated(request: Request): boolean {
    for (const part of (request.headers.get("cookie") ?? "").split(";")) {
      const [name, value] = part.trim().split("=", 2);
      if (name === COOKIE && value !== undefined) {
        return sameText(value, this.#token);
      }
    }
    return false;
  }

  #unlock(body: Record<string, unknown>): Response {
    if (this.locked) {
      return json(403, {
        error: `The console is locked after ${MAX_TRIES} wrong PINs; ` +
          "restart dev.ts to start a new session",
        locked: true,
      });
    }
    const given = typeof body.pin === "string" ? body.pin : "";
    // Typed with or without the dashes.
    if (sameText(given.replace(/[\s-]/g, ""), this.pin.replaceAll("-", ""))) {
      this.#wrong = 0;
      return json(200, { ok: true }, {
        "set-cookie": `${COOKIE}=${this.#token}; Path=${DEBUGGER_PATH}; ` +
          "HttpOnly; SameSite=Strict",
      });
    }
    this.#wrong++;
    const left = MAX_TRIES - this.#wrong;
    return json(403, {
      error: left > 0
        ? `Wrong PIN: ${left} tries left before the console locks`
        : `Wrong PIN: the console is now locked after ${MAX_TRIES} wrong PINs; ` +
          "restart dev.ts to start a new session",
      triesLeft: left,
      locked: left === 0,
    });
  }

  async #eval(
    request: Request,
    body: Record<string, unknown>,
  ): Promise<Response> {
    if (!this.#authenticated(request)) {
      return json(401, {
        error: this.locked
          ? `The console is locked after ${MAX_TRIES} wrong PINs; ` +
            "restart dev.ts to start a new session"
          : "Enter the debugger PIN first: dev.ts printed it in its terminal",
      });
    }
    if (typeof body.source !== "string") {
      return json(400, { error: "The body needs a source string to evaluate" });
    }
    const error = typeof body.error === "string" ? body.error : undefined;
    return json(200, await this.#options.evaluate(body.source, error));
  }
}
