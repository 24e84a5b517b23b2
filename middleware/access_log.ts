/**
 * `accessLog`: one line per request in Common or Combined Log Format, with
 * the time the request took.
 *
 * **When to use it.** To see what a server does, in a format that every log
 * tool reads (GoAccess, AWStats, `awk`): put it outermost, so that it sees
 * the status the client got after every other middleware had its say.
 *
 * **When not to.** Behind a reverse proxy that already logs requests, it
 * only logs them twice. For structured (JSON) logs, write a middleware of
 * your own; this one writes the fixed Apache formats.
 *
 * **Format.** `combined` (the default) is Apache's
 * `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i" %D`:
 *
 * ```text
 * 127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.1" 200 2326 "http://example.com/" "Mozilla/5.0" 1534
 * ```
 *
 * `common` stops after the byte count (`%b`). The last field, the duration,
 * is in microseconds like Apache's `%D`; `duration: false` leaves it out,
 * which gives the formats exactly as Apache defines them.
 *
 * Any other format is gunicorn's `access_log_format`, so a gunicorn setup
 * carries over: `%(h)s` client address, `%(l)s` `-`, `%(u)s` user, `%(t)s`
 * `[date]`, `%(r)s` request line, `%(m)s` method, `%(U)s` path, `%(q)s`
 * query, `%(H)s` protocol, `%(s)s` status, `%(B)s` bytes, `%(b)s` bytes or
 * `-`, `%(f)s` referer, `%(a)s` user agent, `%(T)s` seconds, `%(M)s`
 * milliseconds, `%(D)s` microseconds, `%(L)s` decimal seconds, `%(p)s`
 * `<pid>`, `%({name}i)s` a request header, `%({name}o)s` a response header,
 * `%({name}e)s` an environment variable, and `%%`. An unknown atom is an
 * error when the middleware is made, not a `-` in every line. The time is the
 * one the request arrived at, in local time (`utc: true` for UTC). The byte
 * count is the body bytes the app sent, counted as they stream; `-` when
 * there were none, as for a HEAD request, a 204 or a 304.
 *
 * **When the line is written.** When the server closes the body: after the
 * last chunk, or when the client went away mid-body (the line then shows
 * what was sent until then). An app that throws before its response started
 * is logged with status 500, which is what the server answers; an app that
 * fails after it sent data is logged with the status that went out, since
 * that is what the client saw before the connection was cut.
 *
 * **Security.** Request lines and headers come from the client. Quotes,
 * backslashes, control characters and bytes outside printable ASCII are
 * written as `\"`, `\\` and `\xHH`, as Apache does, so a request cannot
 * forge a log line or smuggle terminal escapes into someone's terminal.
 *
 * **Environ keys read:** `REQUEST_METHOD`, `RAW_URI` (else `SCRIPT_NAME`,
 * `PATH_INFO`, `QUERY_STRING`), `SERVER_PROTOCOL`, `REMOTE_ADDR`,
 * `REMOTE_USER`, and for `combined` `HTTP_REFERER` and `HTTP_USER_AGENT`.
 * **Written:** none.
 *
 * @example Logging to stdout
 * ```ts
 * import { accessLog } from "@wsgi/deno/middleware";
 * import { serve } from "@wsgi/deno";
 *
 * const app = accessLog()((_environ, startResponse) => {
 *   startResponse("200 OK", [["Content-Type", "text/plain"]]);
 *   return ["Hello\n"];
 * });
 * const server = serve(app, { port: 0, onListen() {} });
 * await server.shutdown();
 * ```
 *
 * @module
 */
import type {
  Body,
  Chunk,
  Environ,
  Header,
  Middleware,
} from "../_contract/types.ts";
import { formatError } from "../_shared/errors.ts";
import { FileBody } from "../_shared/file_body.ts";
import { byteLength, isThenable } from "../_shared/body.ts";
import { wrapArray, wrapBody } from "./_wrap_body.ts";

/**
 * Where log lines go: a function that receives each line (without a
 * trailing newline), or a synchronous writer such as `Deno.stdout`,
 * `Deno.stderr` or an open `Deno.FsFile`, which gets each line UTF-8
 * encoded with `\n` after it.
 */
export type AccessLogOutput =
  | ((line: string) => void)
  | { writeSync(bytes: Uint8Array): number };

/** Options of {@linkcode accessLog}. */
export interface AccessLogOptions {
  /**
   * `"common"` (Common Log Format), `"combined"` (adds the Referer and
   * User-Agent), or a gunicorn format such as
   * {@linkcode GUNICORN_FORMAT} (then `duration` does not apply).
   *
   * @default {"combined"}
   */
  format?: "common" | "combined" | string;
  /**
   * Append the time the request took, in microseconds (Apache's `%D`), as
   * the last field.
   *
   * @default {true}
   */
  duration?: boolean;
  /**
   * Where the lines go.
   *
   * @default {Deno.stdout}
   */
  output?: AccessLogOutput;
  /**
   * Write the timestamp in UTC (`+0000`) instead of local time.
   *
   * @default {false}
   */
  utc?: boolean;
  /**
   * The clock: milliseconds since the epoch, fractions allowed. It dates
   * the request and, read again at the end, times it. Tests pass a fake.
   *
   * @default {() => performance.timeOrigin + performance.now()}
   */
  clock?: () => number;
}

const encoder = new TextEncoder();
const MONTHS = [
  "Jan",
  "Feb",
  "Mar",
  "Apr",
  "May",
  "Jun",
  "Jul",
  "Aug",
  "Sep",
  "Oct",
  "Nov",
  "Dec",
];
// Statuses whose responses carry no body, whatever the app yields.
const NO_BODY = new Set([204, 205, 304]);
// What Apache escapes: quote, backslash, and everything not printable ASCII.
// deno-lint-ignore no-control-regex
const UNSAFE = /["\\\x00-\x1f\x7f-\uffff]/;

/**
 * Logs every request in Common or Combined Log Format, with its duration.
 *
 * @param options Format, output, clock, time zone.
 * @returns The middleware.
 *
 * @example Checking the line that a request produces
 * ```ts
 * import { accessLog } from "@wsgi/deno/middleware";
 * import { Client } from "@wsgi/deno/testing";
 * import assert from "node:assert/strict";
 *
 * const lines: string[] = [];
 * const app = accessLog({
 *   format: "common",
 *   duration: false,
 *   utc: true,
 *   clock: () => Date.UTC(2000, 9, 10, 20, 55, 36),
 *   output: (line) => lines.push(line),
 * })((_environ, startResponse) => {
 *   startResponse("200 OK", [["Content-Type", "text/plain"]]);
 *   return ["Hello"];
 * });
 * await new Client(app).get("/hello?x=1");
 * assert.deepEqual(lines, [
 *   '127.0.0.1 - - [10/Oct/2000:20:55:36 +0000] "GET /hello?x=1 HTTP/1.1" 200 5',
 * ]);
 * ```
 */
export function accessLog(options: AccessLogOptions = {}): Middleware {
  const format = options.format ?? "combined";
  const combined = format === "combined";
  const gunicorn = combined || format === "common"
    ? undefined
    : compileFormat(format);
  const withDuration = options.duration ?? true;
  const utc = options.utc ?? false;
  // The time origin is fixed for the process: read it once, not per request.
  const origin = performance.timeOrigin;
  const clock = options.clock ?? (() => origin + performance.now());
  const emit = lineWriter(options.output);
  // The timestamp changes once a second: requests within it share the text.
  let stampedSecond = NaN;
  let stamp = "";
  const stampOf = (time: number) => {
    const second = Math.floor(time / 1000);
    if (second !== stampedSecond) {
      stamp = `[${timestamp(time, utc)}]`;
      stampedSecond = second;
    }
    return stamp;
  };

  return (app) =>
    function accessLog(environ, startResponse) {
      const started = clock();
      // Read what the client sent now: an inner middleware may rewrite the
      // path, and the lazy keys cannot be read after the response is done.
      const client = escape(String(environ.REMOTE_ADDR ?? "-"));
      const request = escape(requestLine(environ));
      const headers = combined
        ? ` "${escape(environ.HTTP_REFERER || "-")}" "${
          escape(environ.HTTP_USER_AGENT || "-")
        }"`
        : "";
      const fields = gunicorn?.fields(environ);
      let responseHeaders: Header[] = [];
      let code = 0;
      let sent = 0;
      let done = false;

      /** Writes the line once; `failed` marks an app that threw. */
      const finish = (failed: boolean) => {
        if (done) return;
        done = true;
        // Before any data went out, a failure becomes the server's 500.
        const status = (failed && sent === 0) || code === 0 ? 500 : code;
        const bytes = environ.REQUEST_METHOD === "HEAD" || NO_BODY.has(status)
          ? 0
          : sent;
        // An authenticating middleware inside may have set REMOTE_USER.
        const user = environ.REMOTE_USER;
        if (gunicorn) {
          write(gunicorn.line({
            fields: fields!,
            client,
            request,
            user: typeof user === "string" && user !== "" ? escape(user) : "-",
            time: stampOf(started),
            status,
            bytes,
            micros: Math.max(0, Math.round((clock() - started) * 1000)),
            responseHeaders,
          }));
          return;
        }
        let line = `${client} - ${
          typeof user === "string" && user !== "" ? escape(user) : "-"
        } ${stampOf(started)} "${request}" ${status} ${
          bytes === 0 ? "-" : bytes
        }${headers}`;
        if (withDuration) {
          line += ` ${Math.max(0, Math.round((clock() - started) * 1000))}`;
        }
        write(line);
      };
      const write = (line: string) => {
        try {
          emit(line);
        } catch (error) {
          // A broken log must not break the response.
          environ["wsgi.errors"].write(
            `[accessLog] cannot write the log line: ${formatError(error)}\n`,
          );
        }
      };
      const count = (bytes: number) => {
        sent += bytes;
      };

      let result: Body | Promise<Body>;
      try {
        result = app(environ, (status, headers: Header[], excInfo) => {
          const write = startResponse(status, headers, excInfo);
          code = Number(status.slice(0, 3));
          responseHeaders = headers;
          return (chunk: Chunk) => {
            const written = write(chunk);
            count(byteLength(chunk));
            return written;
          };
        });
      } catch (error) {
        finish(true);
        throw error;
      }
      if (isThenable<Body>(result)) {
        return Promise.resolve(result).then(
          (body) => logged(body, count, finish),
          (error) => {
            finish(true);
            throw error;
          },
        );
      }
      return logged(result, count, finish);
    };
}

/** The body, wrapped so that its bytes are counted and its end logged. */
function logged(
  body: Body,
  count: (bytes: number) => void,
  finish: (failed: boolean) => void,
): Body {
  if (Array.isArray(body)) {
    // Keep the array (the server's fast path with a Content-Length): count
    // it now and log when the server closes the copy.
    for (const chunk of body) count(byteLength(chunk));
    return wrapArray(body, () => finish(false));
  }
  if (body instanceof FileBody) {
    // Keep the file fast path: the body stays the FileBody the server knows,
    // with its close() wrapped in place.
    count(body.remaining() ?? 0);
    const close = body.close.bind(body);
    let closed = false;
    body.close = async () => {
      if (closed) return;
      closed = true;
      finish(false);
      await close();
    };
    return body;
  }
  const wrapped = wrapBody(body, {
    step(result) {
      if (result.done) finish(false);
      else count(byteLength(result.value));
      return result;
    },
    failed(error) {
      finish(true);
      throw error;
    },
    closing: () => finish(false),
  });
  // Not a body at all: the server answers 500 and there is nothing to close.
  if (wrapped === undefined) finish(true);
  return wrapped ?? body;
}

/** gunicorn's default `access_log_format`. */
export const GUNICORN_FORMAT =
  '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"';

/** What a gunicorn format's line is made of, once the request is done. */
interface LineValues {
  fields: Record<string, string>;
  client: string;
  request: string;
  user: string;
  time: string;
  status: number;
  bytes: number;
  micros: number;
  responseHeaders: Header[];
}

type Atom = (values: LineValues) => string;

const ATOMS: Record<string, Atom> = {
  h: (v) => v.client,
  l: () => "-",
  u: (v) => v.user,
  t: (v) => v.time,
  r: (v) => v.request,
  s: (v) => String(v.status),
  B: (v) => String(v.bytes),
  b: (v) => v.bytes === 0 ? "-" : String(v.bytes),
  T: (v) => String(Math.floor(v.micros / 1e6)),
  M: (v) => String(Math.floor(v.micros / 1e3)),
  D: (v) => String(v.micros),
  L: (v) => (v.micros / 1e6).toFixed(6),
  p: () => `<${Deno.pid}>`,
};

// Atoms read from the request when it arrives: the environ's lazy keys are
// gone once the response is done.
const REQUEST_ATOMS: Record<string, (environ: Environ) => string> = {
  m: (e) => e.REQUEST_METHOD,
  U: (e) => encodeURI((e.SCRIPT_NAME ?? "") + (e.PATH_INFO ?? "")),
  q: (e) => e.QUERY_STRING ?? "",
  H: (e) => e.SERVER_PROTOCOL,
  f: (e) => e.HTTP_REFERER || "-",
  a: (e) => e.HTTP_USER_AGENT || "-",
};

/**
 * Compiles a gunicorn `access_log_format`: what to read from each request
 * as it arrives, and how to make its line.
 */
function compileFormat(format: string): {
  fields: (environ: Environ) => Record<string, string>;
  line: (values: LineValues) => string;
} {
  const parts: (string | Atom)[] = [];
  const requested: [string, (environ: Environ) => string][] = [];
  const pattern = /%%|%\((\{[^}]*\}[ioe]|[^)]*)\)s|%/g;
  let last = 0;
  for (const match of format.matchAll(pattern)) {
    parts.push(format.slice(last, match.index));
    last = match.index + match[0].length;
    const [whole, name] = match;
    if (whole === "%%") {
      parts.push("%");
      continue;
    }
    if (name === undefined) {
      throw new TypeError(
        `Cannot use access log format ${JSON.stringify(format)}: a "%" at ` +
          `${match.index} starts no atom; atoms look like %(h)s, and "%%" is a "%"`,
      );
    }
    const header = /^\{(.+)\}([ioe])$/.exec(name);
    if (header) {
      const key = header[1].toLowerCase();
      if (header[2] === "o") {
        parts.push((v) =>
          escape(
            v.responseHeaders.find(([n]) => n.toLowerCase() === key)?.[1] ??
              "-",
          )
        );
        continue;
      }
      const read = header[2] === "i"
        ? (e: Environ) =>
          String(e["HTTP_" + key.toUpperCase().replaceAll("-", "_")] ?? "-")
        : () => Deno.env.get(header[1]) ?? "-";
      requested.push([name, read]);
      parts.push((v) => escape(v.fields[name]));
    } else if (name in REQUEST_ATOMS) {
      requested.push([name, REQUEST_ATOMS[name]]);
      parts.push((v) => escape(v.fields[name]));
    } else if (name in ATOMS) {
      parts.push(ATOMS[name]);
    } else {
      throw new TypeError(
        `Cannot use access log format ${JSON.stringify(format)}: unknown ` +
          `atom %(${name})s; use "common", "combined" or gunicorn's atoms ` +
          "(h l u t r m U q H s B b f a T M D L p {header}i {header}o {var}e)",
      );
    }
  }
  parts.push(format.slice(last));
  if (!parts.some((part) => typeof part === "function")) {
    throw new TypeError(
      `Cannot use access log format ${JSON.stringify(format)}: it has no ` +
        'atom; use "common", "combined" or a gunicorn format like %(h)s',
    );
  }
  return {
    fields(environ) {
      const fields: Record<string, string> = {};
      for (const [name, read] of requested) fields[name] = read(environ);
      return fields;
    },
    line(values) {
      let line = "";
      for (const part of parts) {
        line += typeof part === "string" ? part : part(values);
      }
      return line;
    },
  };
}

/** `GET /path?query HTTP/1.1`, the path as the client sent it. */
function requestLine(environ: Environ): string {
  let uri = environ.RAW_URI;
  if (typeof uri !== "string") {
    uri = encodeURI((environ.SCRIPT_NAME ?? "") + (environ.PATH_INFO ?? ""));
    if (environ.QUERY_STRING) uri += `?${environ.QUERY_STRING}`;
  }
  return `${environ.REQUEST_METHOD} ${uri} ${environ.SERVER_PROTOCOL}`;
}

/** `10/Oct/2000:13:55:36 -0700`. */
function timestamp(time: number, utc: boolean): string {
  const date = new Date(Math.floor(time));
  const offset = utc ? 0 : -date.getTimezoneOffset();
  const local = new Date(date.getTime() + offset * 60_000);
  const abs = Math.abs(offset);
  return `${pad(local.getUTCDate())}/${MONTHS[local.getUTCMonth()]}/` +
    `${local.getUTCFullYear()}:${pad(local.getUTCHours())}:` +
    `${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())} ` +
    `${offset < 0 ? "-" : "+"}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`;
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** Escapes a field the way Apache does, so that it cannot forge a line. */
function escape(text: string): string {
  if (!UNSAFE.test(text)) return text;
  let out = "";
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (char === '"' || char === "\\") out += `\\${char}`;
    else if (code >= 0x20 && code < 0x7f) out += char;
    else if (code <= 0xff) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else {
      // Not a native string; log its UTF-8 bytes.
      for (const byte of encoder.encode(char)) {
        out += `\\x${byte.toString(16).padStart(2, "0")}`;
      }
    }
  }
  return out;
}

/** Turns the output option into a function that writes one line. */
function lineWriter(output?: AccessLogOutput): (line: string) => void {
  if (typeof output === "function") return output;
  const writer = output ?? Deno.stdout;
  if (typeof writer?.writeSync !== "function") {
    throw new TypeError(
      "Cannot write the access log: output must be a function or have writeSync(), like Deno.stdout",
    );
  }
  return (line) => {
    const bytes = encoder.encode(line + "\n");
    for (let written = 0; written < bytes.length;) {
      written += writer.writeSync(bytes.subarray(written));
    }
  };
}
