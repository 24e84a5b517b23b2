/**
 * CGI: one process per request, PEP 3333's `run_with_cgi` for Deno.
 *
 * A CGI host (Apache's mod_cgi, lighttpd's mod_cgi, nginx with fcgiwrap,
 * a shared host's `cgi-bin/`) starts a program for each request, hands it
 * the request as environment variables (RFC 3875) with the body on stdin,
 * and reads the response from its stdout. {@linkcode runCgi} is that
 * program's last line: it builds the environ from the environment, runs
 * the app once, and writes `Status:`, the headers and the body to stdout.
 *
 * Use it where the host only offers CGI, for an app that is called rarely
 * (an admin hook, a form handler), or to put an app behind a web server's
 * authentication and TLS without running a daemon. Do not use it for
 * traffic: every request pays for starting Deno and loading the app, some
 * tens of milliseconds, and nothing survives between requests. Anything
 * that can run `serve()` behind a reverse proxy should.
 *
 * Security: the host, not this module, decides which requests reach the
 * program and sets the variables; `runCgi` trusts them, as CGI does. The
 * same status and header checks as the server apply, so nothing an app
 * sends can add a header, and an app header named `Status`, which a CGI
 * host would take as the status, is refused.
 *
 * The environ: every environment variable (as `wsgiref`'s `CGIHandler`
 * does), as native strings; `SCRIPT_NAME`, `PATH_INFO` and `QUERY_STRING`
 * default to `""`; empty `CONTENT_TYPE` and `CONTENT_LENGTH` are left out;
 * `RAW_URI` copies `REQUEST_URI` when the host sets it.
 * `wsgi.run_once` and `wsgi.multiprocess` are true, `wsgi.multithread`
 * false, and `wsgi.url_scheme` is `https` when `HTTPS` is `on`, `1` or
 * `yes`.
 *
 * @example The program a CGI host runs (`app.cgi`, executable)
 * ```sh
 * #!/bin/sh
 * exec /usr/local/bin/deno run -A /srv/app/cgi_main.ts
 * ```
 *
 * @example cgi_main.ts
 * ```ts ignore
 * import { runCgi } from "@wsgi/deno";
 * import { app } from "./app.ts";
 *
 * await runCgi(app);
 * ```
 *
 * @module
 */
import type {
  AppLike,
  Body,
  Environ,
  ErrorSink,
  ErrorStream,
  FileLike,
} from "./_contract/types.ts";
import { formatError } from "./_shared/errors.ts";
import { FileBody } from "./_shared/file_body.ts";
import { Input } from "./_request/input.ts";
import { internalError, ResponseAborted } from "./_request/exchange.ts";
import { adapter } from "./_request/adapter.ts";
import type { RequestHead } from "./_request/request_parts.ts";
import { REASONS } from "./_shared/status.ts";
import { bytesNative, encodeNative, nativeBytes } from "./_shared/native.ts";

/** Options of {@linkcode runCgi}; each defaults to what the host gave the process. */
export interface CgiOptions {
  /**
   * The CGI variables, as text the way `Deno.env.toObject()` returns it:
   * values that are not ASCII are encoded back to UTF-8 native strings.
   *
   * By default, the process environment. Deno cannot return a variable
   * whose bytes are not UTF-8 (a `PATH_INFO` the host decoded from
   * `%E9`); on Linux such variables are read from `/proc/self/environ`
   * instead, byte for byte, when read permission for it is granted.
   */
  env?: Record<string, string>;
  /**
   * The request body, read only as far as `CONTENT_LENGTH` says.
   *
   * @default {Deno.stdin.readable}
   */
  stdin?: ReadableStream<Uint8Array>;
  /**
   * Where the response goes. It is written to and released, never closed.
   *
   * @default {Deno.stdout.writable}
   */
  stdout?: WritableStream<Uint8Array>;
  /**
   * `wsgi.errors` and the log of app failures: an `ErrorStream` or a
   * function taking the text. Stderr by default, which most hosts put in
   * their error log.
   */
  errors?: ErrorSink;
  /**
   * Largest request body in bytes, as for `serve()`: a request whose
   * `CONTENT_LENGTH` is larger gets a 413 without reaching the app.
   *
   * @default {Infinity}
   */
  maxBodySize?: number;
}

/**
 * Runs an app once as a CGI program (RFC 3875), like PEP 3333's
 * `run_with_cgi`: the environ comes from the environment, `wsgi.input`
 * reads stdin up to `CONTENT_LENGTH`, and the response goes to stdout as
 * `Status: NNN Reason`, the headers, a blank line and the body.
 *
 * The response follows the same rules as under `serve()`: the
 * headers wait for the first non-empty chunk, so `startResponse` with
 * `excInfo` can still replace them; a status or header that breaks a rule
 * makes it a 500; the body's `close()` is called once. An app that fails
 * before the headers went out gets a 500 and its error goes to
 * `wsgi.errors`; after, the error is logged and the output stops short,
 * which the client can only tell when the app had sent a Content-Length.
 * A `HEAD` request gets the headers only.
 *
 * The request meets the checks `serve()` makes before any app runs: a
 * `HTTP_HOST` that is not a host and port, a fragment in `REQUEST_URI`,
 * a `CONTENT_TYPE` that is more than one media type, or a transfer coding
 * other than chunked gets a 400 (501 for the coding), and a body over
 * {@linkcode CgiOptions.maxBodySize} a 413.
 *
 * The promise resolves once the response is written; the program should
 * then end, since the host waits for it.
 *
 * @param app The app (or an app class, or an object with `call`).
 * @param options The environment and streams, for tests or an embedding
 * host; each defaults to the process's own.
 * @returns A promise that resolves when the response has been written.
 * @throws {TypeError} When `REQUEST_METHOD` is not set: the program was not
 * started by a CGI host.
 *
 * @example In-process, as a test would run it
 * ```ts
 * import { runCgi } from "@wsgi/deno";
 * import assert from "node:assert/strict";
 *
 * let output = "";
 * await runCgi((environ, startResponse) => {
 *   startResponse("200 OK", [["Content-Type", "text/plain"]]);
 *   return [`Hello from ${environ.PATH_INFO}`];
 * }, {
 *   env: { REQUEST_METHOD: "GET", SCRIPT_NAME: "/app.cgi", PATH_INFO: "/hi" },
 *   stdout: new WritableStream({
 *     write(chunk) {
 *       output += new TextDecoder().decode(chunk);
 *     },
 *   }),
 * });
 * assert.equal(
 *   output,
 *   "Status: 200 OK\r\ncontent-type: text/plain\r\n\r\nHello from /hi",
 * );
 * ```
 */
export async function runCgi(
  app: AppLike,
  options: CgiOptions = {},
): Promise<void> {
  const vars = options.env === undefined
    ? processEnv()
    : nativeValues(options.env);
  if (vars.REQUEST_METHOD === undefined) {
    throw new TypeError(
      "Cannot run the app as CGI: REQUEST_METHOD is not set; start the " +
        "program from a CGI host, or pass the variables as options.env",
    );
  }
  // The server's adapter, so that a CGI request meets the same checks and
  // limits, and its response the same writer, as one from Deno.serve.
  const { context, handle } = adapter<RequestHead>(app, {
    errors: options.errors,
    maxBodySize: options.maxBodySize,
  }, {
    environ: (_head, _info, ctx) => cgiEnviron(vars, options.stdin, ctx.errors),
  });
  // No connection to tell a missing Host by: CGI/1.1 hosts serve HTTP/1.0.
  const response = await handle(requestHead(vars), undefined);
  await send(
    response,
    vars.REQUEST_METHOD === "HEAD",
    options.stdout ?? Deno.stdout.writable,
    (message) =>
      context.errors.write(
        `[wsgi] ${vars.REQUEST_METHOD} ${vars.SCRIPT_NAME ?? ""}${
          vars.PATH_INFO ?? ""
        }: ${message}\n`,
      ),
  );
}

/**
 * What the request checks read, from the CGI variables: the Host the client
 * sent (a stand-in that passes without one), the request target as received
 * when the host gives it in `REQUEST_URI` (RFC 3875 has no variable for it),
 * and the fields that describe the body.
 */
function requestHead(vars: Record<string, string>): RequestHead {
  const scheme = /^(on|1|yes)$/i.test(vars.HTTPS ?? "") ? "https" : "http";
  const uri = vars.REQUEST_URI ?? "";
  const headers = new Headers();
  const fields: [string, string | undefined][] = [
    ["host", vars.HTTP_HOST],
    ["content-type", vars.CONTENT_TYPE || undefined],
    ["content-length", vars.CONTENT_LENGTH || undefined],
    ["transfer-encoding", vars.HTTP_TRANSFER_ENCODING],
  ];
  for (const [name, value] of fields) {
    if (value !== undefined) headers.set(name, value);
  }
  return {
    url: `${scheme}://${vars.HTTP_HOST ?? "localhost"}${
      uri.startsWith("/") ? uri : "/"
    }`,
    method: vars.REQUEST_METHOD,
    headers,
  };
}

const VERSION = Object.freeze([1, 0] as const);

/** Builds the environ from the CGI variables, already native strings. */
function cgiEnviron(
  vars: Record<string, string>,
  stdin: ReadableStream<Uint8Array> | undefined,
  errors: ErrorStream,
): Environ {
  const environ = { ...vars } as Record<string, unknown>;
  environ.SCRIPT_NAME ??= "";
  environ.PATH_INFO ??= "";
  environ.QUERY_STRING ??= "";
  // RFC 3875 lets a host send these empty; PEP 3333 apps test for presence.
  if (environ.CONTENT_TYPE === "") delete environ.CONTENT_TYPE;
  if (environ.CONTENT_LENGTH === "") delete environ.CONTENT_LENGTH;
  if (vars.REQUEST_URI !== undefined) environ.RAW_URI ??= vars.REQUEST_URI;
  // RFC 3875 4.2: the body is CONTENT_LENGTH bytes; without it there is none.
  const declared = vars.CONTENT_LENGTH ?? "";
  const length = /^\d+$/.test(declared) ? Number(declared) : 0;
  Object.assign(environ, {
    "wsgi.version": VERSION,
    "wsgi.url_scheme": /^(on|1|yes)$/i.test(vars.HTTPS ?? "")
      ? "https"
      : "http",
    "wsgi.input": new Input(
      length > 0 ? stdin ?? Deno.stdin.readable : null,
      length,
    ),
    "wsgi.errors": errors,
    "wsgi.multithread": false,
    "wsgi.multiprocess": true,
    "wsgi.run_once": true,
    "wsgi.input_terminated": true,
    "wsgi.file_wrapper": cgiFileWrapper,
  });
  return environ as Environ;
}

/**
 * `wsgi.file_wrapper` under CGI. Every byte passes through stdout anyway,
 * so the file is an ordinary async body, which the response writer closes
 * once whatever happens.
 */
function cgiFileWrapper(file: FileLike): Body {
  const body = new FileBody(file);
  let iterator: AsyncIterator<Uint8Array> | undefined;
  return {
    [Symbol.asyncIterator]: () => (iterator = body[Symbol.asyncIterator]()),
    async close() {
      // An iteration stopped early still holds the stream; let it go first.
      await iterator?.return?.();
      body.close();
    },
  };
}

/** Writes the response in CGI form; a host that went away ends it quietly. */
async function send(
  response: Response,
  head: boolean,
  stdout: WritableStream<Uint8Array>,
  log: (message: string) => void,
): Promise<void> {
  // RFC 3875 6.3.3: Status is a control field; a host would take the app's
  // own header as the status line.
  if (response.headers.has("status")) {
    await response.body?.cancel();
    log(
      "Cannot start the response: Status is a CGI control field, not a " +
        'header; pass the status as startResponse\'s first argument ("404 Not Found")',
    );
    response = internalError();
  }
  const writer = stdout.getWriter();
  try {
    await writer.write(nativeBytes(cgiHead(response)));
    if (!head && response.body !== null) {
      for await (const chunk of response.body) await writer.write(chunk);
    }
  } catch (error) {
    // An aborted response was logged where it failed.
    if (!(error instanceof ResponseAborted)) {
      log(`cannot write the response: ${formatError(error)}`);
    }
  } finally {
    writer.releaseLock();
    // A body not sent to its end (HEAD, a broken stdout) is cancelled,
    // which closes the app's body; an ended stream ignores this.
    if (response.body !== null && !response.body.locked) {
      await response.body.cancel().catch(() => {});
    }
  }
}

/** The status line and headers, ending with the blank line. */
function cgiHead(response: Response): string {
  const reason = response.statusText || REASONS[response.status] || "";
  let head = `Status: ${response.status} ${reason}\r\n`;
  // Set-Cookie comes out once per cookie; other repeated names are joined
  // with ", " as RFC 9110 5.3 allows.
  for (const [name, value] of response.headers) head += `${name}: ${value}\r\n`;
  return head + "\r\n";
}

/** Values of `vars` as native strings: text that is not ASCII as its UTF-8 bytes. */
function nativeValues(vars: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(vars)) {
    out[name] = encodeNative(value);
  }
  return out;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The process environment as native strings. `Deno.env` leaves out any
 * variable whose bytes are not UTF-8; on Linux those are read from
 * `/proc/self/environ`, if it may be read without a prompt.
 */
function processEnv(): Record<string, string> {
  const vars = nativeValues(Deno.env.toObject());
  const path = "/proc/self/environ";
  if (
    Deno.build.os !== "linux" ||
    Deno.permissions.querySync({ name: "read", path }).state !== "granted"
  ) return vars;
  let raw: Uint8Array;
  try {
    raw = Deno.readFileSync(path);
  } catch {
    return vars;
  }
  let start = 0;
  while (start < raw.length) {
    let end = raw.indexOf(0, start);
    if (end < 0) end = raw.length;
    const entry = raw.subarray(start, end);
    start = end + 1;
    const eq = entry.indexOf(0x3d);
    if (eq <= 0) continue;
    try {
      utf8.decode(entry);
      continue; // Deno.env had this one, or it was deleted since.
    } catch {
      // Not UTF-8: exactly the variables Deno.env cannot return.
    }
    const name = bytesNative(entry.subarray(0, eq));
    vars[name] ??= bytesNative(entry.subarray(eq + 1));
  }
  return vars;
}
