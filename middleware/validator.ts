/**
 * `validator`: checks that an app and the server around it both keep the
 * gateway contract, the way Python's `wsgiref.validate`, werkzeug's
 * `LintMiddleware` and Rack's `Lint` do.
 *
 * **When to use it.** In tests and during development. Wrap the app (or the
 * middleware) under test: every middleware test of this project runs its
 * subject inside `validator()`, once on the inside (the app the middleware
 * calls must see a valid environ and be used properly) and once on the
 * outside (the middleware itself must answer like an app). It sits between
 * two layers and checks the calls that cross it in both directions: the
 * environ and streams handed down, and the `startResponse`, `write()` and
 * body handed back.
 *
 * **When not to.** In production. It enumerates the environ, wraps every
 * stream, counts every byte and makes `wsgi.file_wrapper` bodies stream
 * through JavaScript, so it costs throughput; and an error it finds becomes
 * a 500 for the client. (An array body stays an array, so the server still
 * gives it a `Content-Length`.)
 *
 * **Errors and warnings.** A broken rule throws a {@linkcode ValidatorError}
 * whose `rule` names the check (and whose message ends with it, such as
 * `[status-reason]`), out of the call that broke it: the app call,
 * `startResponse`, `write()`, a `wsgi.input` method, or the body's `next()`.
 * The server turns it into a 500 (before the headers went out) or an aborted
 * response (after), and logs it to `wsgi.errors`. `onError` sees every error
 * as it is raised. Errors are what `wsgiref.validate` asserts and what PEP
 * 3333 or RFC 9110 say MUST; warnings are what `wsgiref` only warns about
 * and werkzeug's HTTP advice that RFC 9110 states as a SHOULD or allows
 * outright. A warning changes nothing: it goes to `onWarning`, by default a
 * line `[validator] warning: ...` on `environ["wsgi.errors"]`.
 *
 * Warnings: `query-string` (QUERY_STRING absent: PEP 3333 lets it be),
 * `request-method` (a method RFC 9110 does not define: methods are
 * extensible), `not-modified-headers` (representation headers on a 304),
 * and `location-absolute` (a relative `Location`: RFC 9110 allows it, but
 * werkzeug warns and older clients resolve it differently; filter it out in
 * `onWarning` if relative redirects are intended). Every other rule is an
 * error; {@linkcode ValidatorRule} lists them all.
 *
 * **Where it departs from wsgiref and werkzeug.** A response without
 * content need not have a `Content-Type` (a redirect with an empty body is
 * fine, as RFC 9110 8.3 says); one with content must. Header names are RFC
 * 9110 tokens, where wsgiref wants a letter followed by letters, digits, `-`
 * and `_`. A tab is allowed in header values (RFC 9110 5.5). A 304 may carry
 * `Content-Length` (RFC 9110 8.6) and `Last-Modified` (RFC 9110 15.4.5)
 * without the warning werkzeug gives. An ETag that is not quoted is an
 * error, since RFC 9110 8.8.3 defines its syntax, where werkzeug warns.
 * `wsgi.input.read()` without a size is allowed, as PEP 3333 says a server
 * should (wsgiref keeps WSGI 1.0's rule). The project's reference suite runs
 * the same apps under `wsgiref.validate` and this, and lists every case
 * where the two differ with the rule that says why.
 *
 * **A body that is never closed.** JavaScript has no destructor, so the
 * check has two halves. When the environ has `deno.info.completed` (it has
 * under `serve()` and the test `Client`), a body whose `close()` has not
 * been called when the response completes is reported. Otherwise (an
 * environ from `buildEnviron`, whose `completed` has already settled) a
 * `FinalizationRegistry` reports the body when it is garbage-collected
 * unclosed, which may be late or never. Either way the error cannot be
 * thrown: it goes to `onError` and is written to `wsgi.errors`. As with
 * `wsgiref`, the validator gives every body a `close()`, arrays included,
 * so a middleware must close what its inner app returned, and refuses any
 * read of a body after its `close()` (`body-after-close`), arrays included.
 *
 * **Environ keys.** Reads all of them but the dotted extension keys.
 * Replaces `wsgi.input` and `wsgi.errors` with checking
 * wrappers around the originals; writes nothing else.
 *
 * @example Validating an app under test
 * ```ts
 * import { validator } from "@wsgi/deno/middleware";
 * import type { App } from "@wsgi/deno";
 * import { Client } from "@wsgi/deno/testing";
 * import assert from "node:assert/strict";
 *
 * const hello: App = (_environ, startResponse) => {
 *   startResponse("200 OK", [["Content-Type", "text/plain"]]);
 *   return ["hello"];
 * };
 * const response = await new Client(validator()(hello)).get("/");
 * assert.equal(response.text(), "hello");
 * ```
 *
 * @module
 */
import type {
  Body,
  Chunk,
  Environ,
  ErrorStream,
  InputStream,
  Middleware,
  StartResponse,
  Write,
} from "../_contract/types.ts";
import { describe, escapeControls } from "../_shared/errors.ts";
import {
  HOP_BY_HOP,
  isReasonPhrase,
  isToken,
} from "../_shared/http_grammar.ts";
import { byteLength, isThenable } from "../_shared/body.ts";

/** The name of each check, as {@linkcode ValidatorError.rule} gives it. */
export type ValidatorRule =
  // The call.
  | "app-arguments"
  | "start-response-arguments"
  // The environ.
  | "environ-object"
  | "environ-keys"
  | "environ-content-headers"
  | "environ-strings"
  | "environ-native"
  | "wsgi-version"
  | "url-scheme"
  | "query-string"
  | "request-method"
  | "path-slash"
  | "script-name-root"
  | "path-info-required"
  | "environ-content-length"
  // The streams.
  | "input-methods"
  | "errors-methods"
  | "input-arguments"
  | "input-result"
  | "input-close"
  | "errors-write"
  | "errors-close"
  // startResponse.
  | "status-type"
  | "status-format"
  | "status-reason"
  | "headers-type"
  | "header-name"
  | "header-status"
  | "header-value"
  | "header-latin1"
  | "hop-by-hop"
  | "content-length-value"
  | "content-type"
  | "exc-info"
  | "start-response-twice"
  // write() and the body.
  | "write-chunk"
  | "body-string"
  | "body-iterable"
  | "body-chunk"
  | "start-response-first"
  | "body-after-close"
  | "body-close"
  // HTTP, after werkzeug's lint.
  | "content-length"
  | "null-body"
  | "content-length-forbidden"
  | "not-modified-headers"
  | "etag"
  | "location-absolute";

/**
 * A broken rule of the gateway contract, found by {@linkcode validator}.
 *
 * @example Telling which rule broke
 * ```ts
 * import { validator, ValidatorError } from "@wsgi/deno/middleware";
 * import { buildEnviron } from "@wsgi/deno/testing";
 * import assert from "node:assert/strict";
 *
 * const app = validator()((_environ, startResponse) => {
 *   startResponse("200", [["Content-Type", "text/plain"]]);
 *   return ["no reason phrase"];
 * });
 * assert.throws(
 *   () => app(buildEnviron(), () => () => Promise.resolve()),
 *   (error) => error instanceof ValidatorError && error.rule === "status-format",
 * );
 * ```
 */
export class ValidatorError extends Error {
  /** The check that failed. */
  readonly rule: ValidatorRule;

  /**
   * Makes the error; the message gets the rule appended in brackets.
   *
   * @param rule The check that failed.
   * @param message What is wrong, in "Cannot X: Y" form.
   */
  constructor(rule: ValidatorRule, message: string) {
    super(`${message} [${rule}]`);
    this.name = "ValidatorError";
    this.rule = rule;
  }
}

/**
 * Something {@linkcode validator} advises against without refusing it. It
 * is never thrown; it goes to the `onWarning` option.
 *
 * @example Collecting warnings
 * ```ts
 * import { validator, type ValidatorWarning } from "@wsgi/deno/middleware";
 * import { Client } from "@wsgi/deno/testing";
 * import assert from "node:assert/strict";
 *
 * const warnings: ValidatorWarning[] = [];
 * const app = validator({ onWarning: (warning) => warnings.push(warning) })(
 *   (_environ, startResponse) => {
 *     startResponse("302 Found", [["Location", "/elsewhere"]]);
 *     return [];
 *   },
 * );
 * await new Client(app).get("/");
 * assert.deepEqual(warnings.map((warning) => warning.rule), ["location-absolute"]);
 * ```
 */
export class ValidatorWarning extends Error {
  /** The check that warned. */
  readonly rule: ValidatorRule;

  /**
   * Makes the warning; the message gets the rule appended in brackets.
   *
   * @param rule The check that warned.
   * @param message What is advised against.
   */
  constructor(rule: ValidatorRule, message: string) {
    super(`${message} [${rule}]`);
    this.name = "ValidatorWarning";
    this.rule = rule;
  }
}

/** Options of {@linkcode validator}. */
export interface ValidatorOptions {
  /**
   * Called with every error the validator finds, just before it is thrown,
   * and with those it cannot throw (a body that was never closed). For
   * tests: the server turns a thrown error into a 500 and a log line, while
   * this sees the error itself.
   *
   * @default {undefined}
   */
  onError?: (error: ValidatorError) => void;
  /**
   * Called with every warning and the environ of its request.
   *
   * @default {writes "[validator] warning: <message>" to environ["wsgi.errors"]}
   */
  onWarning?: (warning: ValidatorWarning, environ: Environ) => void;
}

// Control characters other than HTAB, which RFC 9110 5.5 allows in a value.
// deno-lint-ignore no-control-regex
const CONTROL = /[\0-\x08\x0a-\x1f\x7f]/;
const NOT_NATIVE = /[^\0-\xff]/;
// RFC 9110 8.8.3: entity-tag = [ %s"W/" ] DQUOTE *etagc DQUOTE.
const ETAG = /^(W\/)?"[\x21\x23-\x7e\x80-\xff]*"$/;
// The keys that read an array's chunks: its length and its indices.
const READS = /^(length|\d+)$/;
// RFC 9110 9.3, plus PATCH (RFC 5789), as wsgiref lists them.
const METHODS = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "CONNECT",
  "OPTIONS",
  "TRACE",
  "PATCH",
]);
const REQUIRED_KEYS = [
  "REQUEST_METHOD",
  "SERVER_NAME",
  "SERVER_PORT",
  "wsgi.version",
  "wsgi.input",
  "wsgi.errors",
  "wsgi.multithread",
  "wsgi.multiprocess",
  "wsgi.run_once",
];
// werkzeug's entity headers, less Expires and Content-Location (which a 304
// may carry), Content-Length (which RFC 9110 8.6 allows on a 304) and
// Last-Modified (which RFC 9110 15.4.5 names as useful on one).
const NOT_MODIFIED_EXTRA = new Set([
  "allow",
  "content-encoding",
  "content-language",
  "content-md5",
  "content-range",
]);

/** Statuses whose responses have no content (RFC 9110 6.4.1). */
function withoutContent(code: number): boolean {
  return code < 200 || code === 204 || code === 304;
}

/** Quotes a value from the app for a message, escaping control characters. */
function quote(value: string): string {
  const short = value.length > 60 ? value.slice(0, 60) + "..." : value;
  return `"${escapeControls(short)}"`;
}

function isChunk(value: unknown): value is Chunk {
  return typeof value === "string" || value instanceof Uint8Array;
}

/** Resolved options: raises errors and warnings. */
class Reporter {
  readonly #onError: ((error: ValidatorError) => void) | undefined;
  readonly #onWarning: (warning: ValidatorWarning, environ: Environ) => void;

  constructor(options: ValidatorOptions) {
    this.#onError = options.onError;
    this.#onWarning = options.onWarning ?? writeWarning;
  }

  /** Throws the error for a broken rule. */
  fail(rule: ValidatorRule, message: string): never {
    const error = new ValidatorError(rule, message);
    this.#onError?.(error);
    throw error;
  }

  /** Reports an error that cannot be thrown. */
  report(rule: ValidatorRule, message: string, errors: ErrorStream): void {
    const error = new ValidatorError(rule, message);
    this.#onError?.(error);
    try {
      errors.write(`[validator] ${error.message}\n`);
    } catch {
      // The stream is the app's; a report must not fail the process.
    }
  }

  warn(rule: ValidatorRule, message: string, environ: Environ): void {
    this.#onWarning(new ValidatorWarning(rule, message), environ);
  }
}

function writeWarning(warning: ValidatorWarning, environ: Environ): void {
  const errors = environ["wsgi.errors"];
  errors.write(`[validator] warning: ${warning.message}\n`);
}

/**
 * Wraps an app so that every request checks both sides of the gateway
 * contract: the environ and streams the server passes, and the status,
 * headers, `write()` calls and body the app gives back. The module
 * documentation lists what is an error and what a warning.
 *
 * @param options Where errors and warnings go.
 * @returns The middleware.
 *
 * @example A middleware test with the subject validated on both sides
 * ```ts
 * import { validator, type ValidatorError } from "@wsgi/deno/middleware";
 * import type { App, Middleware } from "@wsgi/deno";
 * import { Client } from "@wsgi/deno/testing";
 * import assert from "node:assert/strict";
 *
 * const shout: Middleware = (app) => async (environ, startResponse) => {
 *   const body = await app(environ, startResponse);
 *   const chunks: string[] = [];
 *   try {
 *     for await (const chunk of body) chunks.push(String(chunk).toUpperCase());
 *   } finally {
 *     await body.close?.();
 *   }
 *   return chunks;
 * };
 * const hello: App = (_environ, startResponse) => {
 *   startResponse("200 OK", [["Content-Type", "text/plain"]]);
 *   return ["hello"];
 * };
 * const errors: ValidatorError[] = [];
 * const check = validator({ onError: (error) => errors.push(error) });
 * const client = new Client(check(shout(check(hello))));
 * assert.equal((await client.get("/")).text(), "HELLO");
 * assert.deepEqual(errors, []);
 * ```
 */
export function validator(options: ValidatorOptions = {}): Middleware {
  const reporter: Reporter = new Reporter(options);
  return (app) =>
    function validatorApp(...args: unknown[]): Body | Promise<Body> {
      // PEP 3333: "The application object must accept two positional
      // arguments ... environ and start_response".
      if (args.length !== 2) {
        reporter.fail(
          "app-arguments",
          `Cannot call the app: it takes exactly two arguments (environ, startResponse), got ${args.length}`,
        );
      }
      const [environ, startResponse] = args;
      if (typeof startResponse !== "function") {
        reporter.fail(
          "app-arguments",
          `Cannot call the app: its second argument must be the startResponse function, got ${
            describe(startResponse)
          }`,
        );
      }
      checkEnviron(environ, reporter);
      const lint = new RequestLint(
        environ,
        startResponse as StartResponse,
        reporter,
      );
      environ["wsgi.input"] = checkedInput(environ["wsgi.input"], reporter);
      environ["wsgi.errors"] = checkedErrors(lint.errors, reporter);
      const result: unknown = app(environ, lint.startResponse);
      return isThenable(result)
        ? Promise.resolve(result).then((body) => lint.body(body))
        : lint.body(result);
    };
}

/** Checks the environ a server passes; warnings go to its `wsgi.errors`. */
function checkEnviron(
  environ: unknown,
  r: Reporter,
): asserts environ is Environ {
  // PEP 3333: "The environ parameter is a dictionary object, containing
  // CGI-style environment variables. This object must be a builtin Python
  // dictionary (not a subclass, UserDict or other dictionary emulation)."
  const prototype = environ !== null && typeof environ === "object"
    ? Object.getPrototypeOf(environ)
    : undefined;
  if (
    Array.isArray(environ) ||
    (prototype !== Object.prototype && prototype !== null)
  ) {
    r.fail(
      "environ-object",
      `Cannot use the environ: it must be a plain object, got ${
        describe(environ)
      }`,
    );
  }
  const env = environ as Record<string, unknown>;
  // PEP 3333: REQUEST_METHOD, SERVER_NAME and SERVER_PORT "are required";
  // "The environ dictionary is also required to contain the following
  // WSGI-defined variables".
  for (const key of REQUIRED_KEYS) {
    if (!(key in env)) {
      r.fail(
        "environ-keys",
        `Cannot use the environ: it lacks the required key ${key}`,
      );
    }
  }
  // wsgiref: "Environment should not have the key: HTTP_CONTENT_TYPE (use
  // CONTENT_TYPE instead)"; CGI puts these two headers in their own keys.
  for (const key of ["HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"]) {
    if (key in env) {
      r.fail(
        "environ-content-headers",
        `Cannot use the environ: it has ${key}; the header belongs in ${
          key.slice(5)
        }`,
      );
    }
  }
  for (const key of Object.keys(env)) {
    // wsgiref: keys with a dot are extensions, "we don't care about its
    // type"; the others are CGI variables, which are strings.
    if (key.includes(".")) continue;
    const value = env[key];
    if (typeof value !== "string") {
      r.fail(
        "environ-strings",
        `Cannot use the environ: ${key} must be a string, got ${
          describe(value)
        }`,
      );
    }
    // PEP 3333 ("A Note On String Types"): CGI values are native strings,
    // code points 0-255 standing for bytes read as Latin-1.
    if (NOT_NATIVE.test(value)) {
      r.fail(
        "environ-native",
        `Cannot use the environ: ${key} has a character above U+00FF; environ values are native strings (PEP 3333)`,
      );
    }
  }
  // PEP 3333: wsgi.version is "The tuple (1, 0), representing WSGI version
  // 1.0."
  const version = env["wsgi.version"];
  if (
    !Array.isArray(version) || version.length !== 2 || version[0] !== 1 ||
    version[1] !== 0
  ) {
    r.fail(
      "wsgi-version",
      "Cannot use the environ: wsgi.version must be [1, 0]",
    );
  }
  // PEP 3333: wsgi.url_scheme: "Normally, this will have the value "http"
  // or "https", as appropriate." wsgiref allows only these two.
  const scheme = env["wsgi.url_scheme"];
  if (scheme !== "http" && scheme !== "https") {
    r.fail(
      "url-scheme",
      `Cannot use the environ: wsgi.url_scheme must be "http" or "https", got ${
        typeof scheme === "string" ? quote(scheme) : describe(scheme)
      }`,
    );
  }
  // PEP 3333: "wsgi.input: An input stream (file-like object) from which
  // the HTTP request body bytes can be read."
  const input = env["wsgi.input"] as Record<string | symbol, unknown>;
  for (const method of ["read", "readline", "readlines"] as const) {
    if (typeof input?.[method] !== "function") {
      r.fail(
        "input-methods",
        `Cannot use the environ: wsgi.input has no ${method}() method`,
      );
    }
  }
  if (typeof input[Symbol.asyncIterator] !== "function") {
    r.fail(
      "input-methods",
      "Cannot use the environ: wsgi.input is not async-iterable",
    );
  }
  // PEP 3333: wsgi.errors is "An output stream (file-like object) to which
  // error output can be written"; it has flush(), write() and writelines().
  const errors = env["wsgi.errors"] as Record<string, unknown>;
  for (const method of ["write", "writelines", "flush"] as const) {
    if (typeof errors?.[method] !== "function") {
      r.fail(
        "errors-methods",
        `Cannot use the environ: wsgi.errors has no ${method}() method`,
      );
    }
  }
  const e = environ as Environ;
  // PEP 3333: QUERY_STRING "May be empty or absent"; wsgiref warns when it
  // is absent, since code that reads it then fails more easily.
  if (!("QUERY_STRING" in env)) {
    r.warn(
      "query-string",
      "QUERY_STRING is not in the environ; pass an empty string instead",
      e,
    );
  }
  // RFC 9110 9.1: methods are extensible; wsgiref warns of an unknown one.
  const method = e.REQUEST_METHOD;
  if (!METHODS.has(method)) {
    r.warn(
      "request-method",
      `REQUEST_METHOD ${quote(method)} is not a method RFC 9110 defines`,
      e,
    );
  }
  // PEP 3333: SCRIPT_NAME "may be an empty string, if the application
  // corresponds to the "root" of the server"; PATH_INFO "may be an empty
  // string, if the request URL targets the application root". Otherwise
  // both are paths, which start with "/".
  for (const key of ["SCRIPT_NAME", "PATH_INFO"] as const) {
    const path = e[key];
    if (path && !path.startsWith("/")) {
      r.fail(
        "path-slash",
        `Cannot use the environ: ${key} ${
          quote(path)
        } must be empty or start with "/"`,
      );
    }
  }
  // wsgiref: "SCRIPT_NAME cannot be '/'; it should instead be '', and
  // PATH_INFO should be '/'".
  if (e.SCRIPT_NAME === "/") {
    r.fail(
      "script-name-root",
      'Cannot use the environ: SCRIPT_NAME is "/"; an app at the root has SCRIPT_NAME "" and PATH_INFO "/"',
    );
  }
  // wsgiref: "One of SCRIPT_NAME or PATH_INFO are required (PATH_INFO
  // should at least be '/' if SCRIPT_NAME is empty)".
  if (!e.SCRIPT_NAME && !("PATH_INFO" in env)) {
    r.fail(
      "path-info-required",
      "Cannot use the environ: it has no PATH_INFO and an empty SCRIPT_NAME; one of them is required",
    );
  }
  // PEP 3333: CONTENT_LENGTH "May be empty or absent"; when given, RFC 9110
  // 8.6: Content-Length = 1*DIGIT.
  const length = e.CONTENT_LENGTH;
  if (length && !/^\d+$/.test(length)) {
    r.fail(
      "environ-content-length",
      `Cannot use the environ: CONTENT_LENGTH ${
        quote(length)
      } is not a non-negative integer`,
    );
  }
}

/** Checks a size argument of a `wsgi.input` method. */
function checkSize(name: string, args: unknown[], r: Reporter): void {
  // PEP 3333: read(size), readline(), readline(size), readlines(hint); and
  // "A server should allow read() to be called without an argument".
  if (
    args.length > 1 ||
    (args[0] !== undefined && !Number.isInteger(args[0]))
  ) {
    r.fail(
      "input-arguments",
      `Cannot read wsgi.input: ${name}() takes at most one argument, an integer, got ${
        args.length > 1 ? `${args.length} arguments` : describe(args[0])
      }`,
    );
  }
}

/** Checks that a `wsgi.input` method returned a promise. */
function promised(name: string, result: unknown, r: Reporter): unknown {
  if (!isThenable(result)) {
    r.fail(
      "input-result",
      `Cannot read wsgi.input: ${name}() must return a promise, got ${
        describe(result)
      }`,
    );
  }
  return result;
}

function checkBytes(name: string, value: unknown, r: Reporter): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    r.fail(
      "input-result",
      `Cannot read wsgi.input: ${name} must give Uint8Arrays, got ${
        describe(value)
      }`,
    );
  }
  return value;
}

type Method = (...args: unknown[]) => unknown;

/** `wsgi.input`, checking how the app uses it and what it returns. */
function checkedInput(
  input: InputStream,
  r: Reporter,
): InputStream & { close(): never } {
  const call = (name: "read" | "readline" | "readlines", args: unknown[]) =>
    promised(name, (input[name] as Method).apply(input, args), r);
  return {
    async read(...args: unknown[]): Promise<Uint8Array> {
      checkSize("read", args, r);
      return checkBytes("read()", await call("read", args), r);
    },
    async readline(...args: unknown[]): Promise<Uint8Array> {
      checkSize("readline", args, r);
      return checkBytes("readline()", await call("readline", args), r);
    },
    async readlines(...args: unknown[]): Promise<Uint8Array[]> {
      checkSize("readlines", args, r);
      const lines = await call("readlines", args);
      if (!Array.isArray(lines)) {
        r.fail(
          "input-result",
          `Cannot read wsgi.input: readlines() must give an array, got ${
            describe(lines)
          }`,
        );
      }
      for (const line of lines) checkBytes("readlines()", line, r);
      return lines;
    },
    async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
      for await (const line of input) yield checkBytes("iteration", line, r);
    },
    // PEP 3333: "applications must not attempt to close these streams,
    // even if they possess close() methods."
    close(): never {
      return r.fail(
        "input-close",
        "Cannot close wsgi.input: the server owns it (PEP 3333)",
      );
    },
  };
}

/** `wsgi.errors`, checking that it is given text. */
function checkedErrors(
  errors: ErrorStream,
  r: Reporter,
): ErrorStream & { close(): never } {
  const checked = {
    write(...args: unknown[]): void {
      // PEP 3333: wsgi.errors is a text stream; wsgiref asserts str.
      if (args.length !== 1 || typeof args[0] !== "string") {
        r.fail(
          "errors-write",
          `Cannot write to wsgi.errors: write() takes one string, got ${
            args.length === 1 ? describe(args[0]) : `${args.length} arguments`
          }`,
        );
      }
      errors.write(args[0]);
    },
    writelines(lines: Iterable<string>): void {
      if (
        lines === null || typeof lines !== "object" ||
        typeof lines[Symbol.iterator] !== "function"
      ) {
        r.fail(
          "errors-write",
          `Cannot write to wsgi.errors: writelines() takes an iterable of strings, got ${
            describe(lines)
          }`,
        );
      }
      for (const line of lines) checked.write(line);
    },
    flush(): void {
      errors.flush();
    },
    // PEP 3333: "applications must not attempt to close these streams".
    close(): never {
      return r.fail(
        "errors-close",
        "Cannot close wsgi.errors: the server owns it (PEP 3333)",
      );
    },
  };
  return checked;
}

/** What a body wrapper shares with the checks that outlive it. */
interface BodyState {
  closed: boolean;
  reported: boolean;
  lint: RequestLint;
}

// Bodies garbage-collected without close(); the held state never refers
// to the body, or it could not be collected.
const unclosed = new FinalizationRegistry<BodyState>((state) =>
  state.lint.unclosed(state)
);
const PENDING = Symbol("pending");

type AnyIterator = Iterator<unknown> | AsyncIterator<unknown>;

/** One request's checks of startResponse, write() and the body. */
class RequestLint {
  readonly errors: ErrorStream;
  readonly #environ: Environ;
  readonly #startResponse: StartResponse;
  readonly #r: Reporter;
  readonly #method: string;
  #started = false;
  #code = 0;
  #contentLength = -1;
  #contentType = false;
  #sent = 0;
  // The body was read to its end and closed. A body closed early (the
  // client left, an error) leaves write() to the server, which says why.
  #over = false;

  constructor(environ: Environ, startResponse: StartResponse, r: Reporter) {
    this.#environ = environ;
    this.errors = environ["wsgi.errors"];
    this.#startResponse = startResponse;
    this.#r = r;
    this.#method = environ.REQUEST_METHOD;
  }

  /** The startResponse the app gets. */
  startResponse = (...args: unknown[]): Write => {
    const r: Reporter = this.#r;
    // PEP 3333: "The start_response callable must accept two required
    // positional arguments, and one optional argument".
    if (args.length !== 2 && args.length !== 3) {
      r.fail(
        "start-response-arguments",
        `Cannot start the response: startResponse takes 2 or 3 arguments (status, headers, excInfo?), got ${args.length}`,
      );
    }
    const [status, headers, excInfo] = args;
    // PEP 3333: "The exc_info argument, if supplied, must be a Python
    // sys.exc_info() tuple"; here, the caught Error.
    if (
      excInfo !== undefined && excInfo !== null && !(excInfo instanceof Error)
    ) {
      r.fail(
        "exc-info",
        `Cannot start the response: excInfo must be the caught Error, got ${
          describe(excInfo)
        }`,
      );
    }
    // PEP 3333: "it is a fatal error to call start_response without the
    // exc_info argument if start_response has already been called within
    // the current invocation of the application."
    if (this.#started && (excInfo === undefined || excInfo === null)) {
      r.fail(
        "start-response-twice",
        "Cannot start the response: startResponse() was already called; pass excInfo to replace the status and headers",
      );
    }
    const code = this.#checkStatus(status);
    const { contentLength, contentType } = this.#checkHeaders(code, headers);
    const write = (this.#startResponse as Method)(...args) as Write;
    this.#started = true;
    this.#code = code;
    this.#contentLength = contentLength;
    this.#contentType = contentType;
    return this.#checkedWrite(write);
  };

  /** Checks the status and returns its code. */
  #checkStatus(status: unknown): number {
    const r: Reporter = this.#r;
    // PEP 3333: "The status argument is an HTTP "status" string like "200
    // OK" or "404 Not Found". That is, it is a string consisting of a
    // Status-Code and a Reason-Phrase, in that order and separated by a
    // single space, with no surrounding whitespace or other characters."
    if (typeof status !== "string") {
      r.fail(
        "status-type",
        `Cannot start the response: status must be a string like "200 OK", got ${
          describe(status)
        }`,
      );
    }
    // RFC 9110 15: a status code is three digits, 100 to 599.
    const code = /^\d{3}( |$)/.test(status) ? Number(status.slice(0, 3)) : -1;
    if (code < 100 || code > 599 || status.length < 4) {
      r.fail(
        "status-format",
        `Cannot start the response: status ${
          quote(status)
        } is not a code from 100 to 599, a space and a reason phrase`,
      );
    }
    const reason = status.slice(4);
    // Stricter than the server: a reason is there, without surrounding
    // whitespace.
    if (
      reason === "" || !isReasonPhrase(reason) || reason.trim() !== reason
    ) {
      r.fail(
        "status-reason",
        `Cannot start the response: the reason phrase of status ${
          quote(status)
        } must be text without control characters or surrounding whitespace`,
      );
    }
    return code;
  }

  /** Checks the headers; returns what the body checks need. */
  #checkHeaders(
    code: number,
    headers: unknown,
  ): { contentLength: number; contentType: boolean } {
    const r: Reporter = this.#r;
    // PEP 3333: "response_headers is a list of (header_name, header_value)
    // tuples."
    if (!Array.isArray(headers)) {
      r.fail(
        "headers-type",
        `Cannot start the response: headers must be an array of [name, value] pairs, got ${
          describe(headers)
        }`,
      );
    }
    let contentLength = -1;
    let contentType = false;
    const named = new Map<string, string[]>();
    for (const header of headers) {
      if (
        !Array.isArray(header) || header.length !== 2 ||
        typeof header[0] !== "string" || typeof header[1] !== "string"
      ) {
        r.fail(
          "headers-type",
          `Cannot start the response: each header must be a [name, value] pair of strings, got ${
            describe(header)
          }`,
        );
      }
      const [name, value] = header as [string, string];
      // PEP 3333: "Each header_name must be a valid HTTP header field-name
      // ..., without a trailing colon or other punctuation." wsgiref:
      // "Names may not end in '-' or '_'".
      if (!isToken(name) || name.endsWith("-") || name.endsWith("_")) {
        r.fail(
          "header-name",
          `Cannot start the response: header name ${
            quote(name)
          } is not an RFC 9110 token, or ends in "-" or "_"`,
        );
      }
      const lower = name.toLowerCase();
      // wsgiref: "The Status header cannot be used; it conflicts with CGI
      // script, and HTTP status is not given through headers".
      if (lower === "status") {
        r.fail(
          "header-status",
          "Cannot start the response: a Status header conflicts with CGI; pass the status as the first argument",
        );
      }
      // PEP 3333: "Each header_value must not include any control
      // characters, including carriage returns or linefeeds, either
      // embedded or at the end."
      if (CONTROL.test(value)) {
        r.fail(
          "header-value",
          `Cannot start the response: the value of header ${name} contains a control character`,
        );
      }
      // PEP 3333: header values are native strings, code points 0-255.
      if (NOT_NATIVE.test(value)) {
        r.fail(
          "header-latin1",
          `Cannot start the response: the value of header ${name} has a character above U+00FF; encode it to a native string first`,
        );
      }
      // PEP 3333: "WSGI applications must not generate any "hop-by-hop"
      // headers".
      if (HOP_BY_HOP.has(lower)) {
        r.fail(
          "hop-by-hop",
          `Cannot start the response: ${name} is a hop-by-hop header, which only the server may set (PEP 3333)`,
        );
      }
      // RFC 9110 8.6: Content-Length = 1*DIGIT, one value.
      if (lower === "content-length") {
        const trimmed = value.trim();
        if (
          !/^\d+$/.test(trimmed) ||
          (contentLength >= 0 && Number(trimmed) !== contentLength)
        ) {
          r.fail(
            "content-length-value",
            `Cannot start the response: Content-Length ${
              quote(value)
            } is not one non-negative integer`,
          );
        }
        contentLength = Number(trimmed);
      }
      if (lower === "content-type") contentType = true;
      const values = named.get(lower);
      if (values === undefined) named.set(lower, [value]);
      else values.push(value);
    }
    // wsgiref: "Content-Type header found in a 204 response, which must not
    // return content."
    if (contentType && (code === 204 || code === 304)) {
      r.fail(
        "content-type",
        `Cannot start the response: a ${code} response has no content, so no Content-Type`,
      );
    }
    // RFC 9110 8.6: "A server MUST NOT send a Content-Length header field in
    // any response with a status code of 1xx (Informational) or 204 (No
    // Content)."
    if (contentLength >= 0 && (code < 200 || code === 204)) {
      r.fail(
        "content-length-forbidden",
        `Cannot start the response: a ${code} response must not have a Content-Length`,
      );
    }
    // RFC 9110 15.4.5: on a 304 "the server SHOULD NOT generate
    // representation metadata other than the above listed fields"; werkzeug
    // warns of entity headers.
    if (code === 304) {
      for (const name of named.keys()) {
        if (NOT_MODIFIED_EXTRA.has(name)) {
          this.#r.warn(
            "not-modified-headers",
            `A 304 response has the representation header ${name}, which it should not`,
            this.#environ,
          );
        }
      }
    }
    // RFC 9110 8.8.3: entity-tag = [ weak ] opaque-tag; weak = %s"W/";
    // opaque-tag = DQUOTE *etagc DQUOTE. werkzeug checks the quoting.
    for (const etag of named.get("etag") ?? []) {
      if (!ETAG.test(etag)) {
        r.fail(
          "etag",
          `Cannot start the response: ETag ${
            quote(etag)
          } is not a quoted entity tag like "abc" or W/"abc"`,
        );
      }
    }
    // werkzeug: "Absolute URLs required for location header." RFC 9110
    // 10.2.2 allows a relative reference, so this is only a warning.
    for (const location of named.get("location") ?? []) {
      if (!URL.canParse(location)) {
        this.#r.warn(
          "location-absolute",
          `Location ${quote(location)} is relative; an absolute URL is safer`,
          this.#environ,
        );
      }
    }
    return { contentLength, contentType };
  }

  #checkedWrite(write: Write): Write {
    return (...args: unknown[]): Promise<void> => {
      // PEP 3333: "The write() callable ... takes one positional
      // parameter: a bytestring to be written as part of the HTTP response
      // body"; here a Uint8Array or a string.
      if (args.length !== 1 || !isChunk(args[0])) {
        this.#r.fail(
          "write-chunk",
          `Cannot write: write() takes one Uint8Array or string, got ${
            args.length === 1 ? describe(args[0]) : `${args.length} arguments`
          }`,
        );
      }
      // PEP 3333: the server calls close() "upon completion of the current
      // request"; after it, the request's write() has nowhere to go.
      if (this.#over) {
        this.#r.fail(
          "body-after-close",
          "Cannot write: the response is over, its body already closed",
        );
      }
      this.#content(args[0], "write()");
      return write(args[0]);
    };
  }

  /** Checks `bytes` of content about to be sent from `where`. */
  #content(chunk: Chunk, where: string): void {
    const r: Reporter = this.#r;
    const length = byteLength(chunk);
    if (length === 0) return;
    // RFC 9110 6.4.1: "All 1xx (Informational), 204 (No Content), and 304
    // (Not Modified) responses do not include content."
    if (withoutContent(this.#code)) {
      r.fail(
        "null-body",
        `Cannot send ${where}: a ${this.#code} response has no content`,
      );
    }
    // wsgiref: "No Content-Type header found in headers"; RFC 9110 8.3: "A
    // sender that generates a message containing content SHOULD generate a
    // Content-Type header field".
    if (!this.#contentType) {
      r.fail(
        "content-type",
        `Cannot send ${where}: the response has content but no Content-Type header`,
      );
    }
    this.#sent += length;
    // PEP 3333: "If the application supplies a Content-Length header, the
    // server should not transmit more bytes to the client than the header
    // allows".
    if (this.#contentLength >= 0 && this.#sent > this.#contentLength) {
      r.fail(
        "content-length",
        `Cannot send ${where}: the app sent ${this.#sent} bytes, more than its Content-Length of ${this.#contentLength}`,
      );
    }
  }

  /** The body has ended. */
  #end(): void {
    this.#requireStarted("end");
    // PEP 3333: "if the application does not provide enough data to meet
    // its stated Content-Length, the server should close the connection and
    // log or otherwise report the error." A HEAD response declares the
    // length of the GET one, and a 304 that of the 200.
    if (
      this.#contentLength >= 0 && this.#sent < this.#contentLength &&
      this.#method !== "HEAD" && !withoutContent(this.#code)
    ) {
      this.#r.fail(
        "content-length",
        `Cannot finish the body: the app sent ${this.#sent} bytes, fewer than its Content-Length of ${this.#contentLength}`,
      );
    }
  }

  #requireStarted(event: "yield" | "end"): void {
    // wsgiref: "The application returns and we started iterating over its
    // body, but start_response has not yet been called".
    if (!this.#started) {
      this.#r.fail(
        "start-response-first",
        `Cannot send the body: it ${
          event === "yield" ? "yielded a chunk" : "ended"
        } before the app called startResponse()`,
      );
    }
  }

  /** Checks one chunk of the body. */
  #chunk(value: unknown): void {
    // PEP 3333: the iterable yields "zero or more bytestrings"; here
    // Uint8Arrays or strings.
    if (!isChunk(value)) {
      this.#r.fail(
        "body-chunk",
        `Cannot send the body: chunks must be Uint8Arrays or strings, got ${
          describe(value)
        }`,
      );
    }
    this.#requireStarted("yield");
    this.#content(value, "the body");
  }

  /** Checks what the app returned and wraps it. */
  body(result: unknown): Body {
    const r: Reporter = this.#r;
    // wsgiref: "You should not return a string as your application
    // iterator, instead return a single-item list containing a bytestring."
    if (typeof result === "string" || result instanceof Uint8Array) {
      r.fail(
        "body-string",
        `Cannot send the body: the app returned ${
          describe(result)
        }, not an iterable of chunks; return [body] instead`,
      );
    }
    // PEP 3333: "the application object must return an iterable yielding
    // zero or more bytestrings"; here an iterable or async iterable.
    const source = result as Partial<
      Iterable<unknown> & AsyncIterable<unknown>
    >;
    const isObject = source !== null &&
      (typeof source === "object" || typeof source === "function");
    const isAsync = isObject &&
      typeof source[Symbol.asyncIterator] === "function";
    const isSync = isObject && typeof source[Symbol.iterator] === "function";
    if (!isAsync && !isSync) {
      r.fail(
        "body-iterable",
        `Cannot send the body: the app returned ${
          describe(result)
        }, which is not iterable; return an array, a generator or an async iterable`,
      );
    }
    const body = result as Body;
    const state: BodyState = { closed: false, reported: false, lint: this };
    let iterator: AnyIterator | undefined;
    let done = false;
    let ended = false;
    const close = (): void | Promise<void> => {
      if (state.closed) return;
      state.closed = true;
      this.#over = ended;
      unclosed.unregister(state);
      if (typeof body.close === "function") return body.close();
      if (!done && iterator?.return) {
        const step = iterator.return();
        if (isThenable(step)) return Promise.resolve(step).then(() => {});
      }
    };
    const afterClose = () =>
      r.fail(
        "body-after-close",
        "Cannot iterate the body: it was already closed",
      );
    let checked: Body;
    if (Array.isArray(body)) {
      // An array is checked whole, now, and stays an array, so the server
      // still answers it with a Content-Length.
      try {
        for (const chunk of body) this.#chunk(chunk);
        ended = true;
        this.#end();
      } catch (error) {
        close();
        throw error;
      }
      // wsgiref: "Iterator read after closed". Every way of reading an
      // array (for-of, spread, its methods, an index) reads its length or
      // an index, so a proxy that guards those catches them all, and
      // Array.isArray still sees an array.
      checked = new Proxy(Object.assign(body.slice(), { close }), {
        get(target, key, receiver) {
          if (state.closed && typeof key === "string" && READS.test(key)) {
            afterClose();
          }
          return Reflect.get(target, key, receiver);
        },
      });
    } else {
      const step = (result: IteratorResult<unknown>) => {
        if (result.done) {
          done = ended = true;
          this.#end();
        } else this.#chunk(result.value);
        return result as IteratorResult<Chunk>;
      };
      const finish = (value?: unknown) => {
        done = true;
        return iterator?.return?.(value) ?? { done: true, value };
      };
      checked = { close } as Body;
      if (isAsync) {
        (checked as AsyncIterable<Chunk>)[Symbol.asyncIterator] = () => {
          const inner = (body as AsyncIterable<unknown>)
            [Symbol.asyncIterator]();
          iterator = inner;
          return {
            // PEP 3333: the server "must call that method [close()] upon
            // completion"; nothing may use the body after that.
            next: async () => {
              if (state.closed) afterClose();
              return step(await inner.next());
            },
            return: async (value?: unknown) =>
              (await finish(value)) as IteratorResult<Chunk>,
          };
        };
      }
      if (isSync) {
        (checked as Iterable<Chunk>)[Symbol.iterator] = () => {
          const inner = (body as Iterable<unknown>)[Symbol.iterator]();
          iterator = inner;
          return {
            next: () => {
              if (state.closed) afterClose();
              return step(inner.next());
            },
            return: (value?: unknown) => finish(value) as IteratorResult<Chunk>,
          };
        };
      }
    }
    this.#watch(checked, state);
    return checked;
  }

  /** Arranges for a body never closed to be reported. */
  #watch(body: Body, state: BodyState): void {
    unclosed.register(body, state, state);
    const completed = (this.#environ["deno.info"] as
      | { completed?: unknown }
      | undefined)?.completed;
    if (!(completed instanceof Promise)) return;
    // A completed that settled before the request (buildEnviron's) says
    // nothing about this response; the registry covers that case.
    Promise.race([completed, Promise.resolve(PENDING)]).then((first) => {
      if (first !== PENDING) return;
      const check = () =>
        // Let the server's own handlers of `completed` run first.
        queueMicrotask(() => queueMicrotask(() => this.unclosed(state)));
      completed.then(check, check);
    }, () => {});
  }

  /** Reports a body that was not closed, once. */
  unclosed(state: BodyState): void {
    if (state.closed || state.reported) return;
    state.reported = true;
    // PEP 3333: "If the iterable returned by the application has a close()
    // method, the server or gateway must call that method upon completion
    // of the current request".
    this.#r.report(
      "body-close",
      `Cannot finish ${this.#method} ${
        escapeControls(
          (this.#environ.SCRIPT_NAME ?? "") + (this.#environ.PATH_INFO ?? ""),
        )
      }: the body was never closed; whoever takes a body must call its close()`,
      this.errors,
    );
  }
}
