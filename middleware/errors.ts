/**
 * `errors`: turns an exception in the app into a plain 500 and writes its
 * traceback to `wsgi.errors`.
 *
 * **When to use it.** In production, inside any middleware that should see
 * the 500 as an ordinary response (an access log, a compressor, a session
 * store that must still save), and to choose the error page's body or where
 * tracebacks go (`report`, for an error tracker).
 *
 * **When not to.** The server already answers a failing app with a bare 500
 * and logs the error, so on its own, outermost, this adds little. In
 * development use the dev server's traceback page instead.
 *
 * **What it catches.** An error thrown by the app, a promise it returned
 * that rejects, and an error thrown by its body before the body produced
 * its first non-empty chunk: it calls `startResponse` with `excInfo` so that
 * a response the app started but that has not gone out is replaced by the
 * 500. An error after data went out cannot become a 500 any more: it is
 * logged and thrown again, and the server aborts the connection so that the
 * client can tell the response is incomplete.
 *
 * A request body the server cannot accept (`wsgi.input` throws a
 * `RequestBodyError`: over the size limit, malformed, or cut short) is not
 * an app error: it is passed on, and the server answers 413 or 400 as it
 * does without this middleware.
 *
 * **Security.** The 500 says nothing about the error: messages and stacks
 * can hold paths, queries and secrets, and they go only to `wsgi.errors`
 * (with control characters escaped, so an error message cannot forge log
 * lines).
 *
 * **Environ keys read:** `wsgi.errors`, `REQUEST_METHOD`, `SCRIPT_NAME`,
 * `PATH_INFO` (for the log line). **Written:** none.
 *
 * @example
 * ```ts
 * import { errors } from "@wsgi/deno/middleware";
 * import { serve } from "@wsgi/deno";
 *
 * const app = errors()(() => {
 *   throw new Error("database is down");
 * });
 * const server = serve(app, { port: 0, onListen() {} });
 * await server.shutdown();
 * ```
 *
 * @module
 */
import type { Body, Chunk, Environ, Middleware } from "../_contract/types.ts";
import { escapeControls, formatError } from "../_shared/errors.ts";
import { FileBody } from "../_shared/file_body.ts";
import { isThenable } from "../_shared/body.ts";
import { wrapBody } from "./_wrap_body.ts";
import { RequestBodyError } from "../_shared/request_body_error.ts";

/** Options of {@linkcode errors}. */
export interface ErrorsOptions {
  /**
   * The body of the 500 response.
   *
   * @default {"Internal Server Error\n"}
   */
  body?: string;
  /**
   * The Content-Type of the 500 response.
   *
   * @default {"text/plain; charset=utf-8"}
   */
  contentType?: string;
  /**
   * Reports an error, once per failed request. By default it writes the
   * method, the path and the error's stack to `environ["wsgi.errors"]`.
   */
  report?: (error: unknown, environ: Environ) => void;
  /**
   * Builds the 500 page for each error, instead of the fixed `body` and
   * `contentType`: how the dev server shows a traceback. If it throws, the
   * fixed page is sent.
   */
  page?: (
    error: unknown,
    environ: Environ,
  ) => { body: string; contentType: string };
}

const encoder = new TextEncoder();

/**
 * Answers an app's exceptions with a plain 500 and logs them.
 *
 * @param options The 500's body and type, and where errors are reported.
 * @returns The middleware.
 *
 * @example A failing generator body becomes a 500
 * ```ts
 * import { errors } from "@wsgi/deno/middleware";
 * import { Client } from "@wsgi/deno/testing";
 * import assert from "node:assert/strict";
 *
 * const reported: unknown[] = [];
 * const app = errors({ report: (error) => reported.push(error) })(
 *   (_environ, startResponse) => {
 *     startResponse("200 OK", [["Content-Type", "text/html"]]);
 *     return (function* () {
 *       throw new Error("template not found");
 *     })();
 *   },
 * );
 * const response = await new Client(app).get("/");
 * assert.equal(response.status, 500);
 * assert.equal(response.text(), "Internal Server Error\n");
 * assert.equal((reported[0] as Error).message, "template not found");
 * ```
 */
export function errors(options: ErrorsOptions = {}): Middleware {
  const body = encoder.encode(options.body ?? "Internal Server Error\n");
  const contentType = options.contentType ?? "text/plain; charset=utf-8";
  const report = options.report ?? writeTraceback;
  const pageFor = (error: unknown, environ: Environ): [string, Uint8Array] => {
    if (options.page !== undefined) {
      try {
        const page = options.page(error, environ);
        return [page.contentType, encoder.encode(page.body)];
      } catch {
        // A broken page builder must not hide the original error.
      }
    }
    return [contentType, body];
  };

  return (app) =>
    function errors(environ, startResponse) {
      /** Reports `error` and answers 500, or throws it again if too late. */
      const fail = (error: unknown): Body => {
        if (error instanceof RequestBodyError) throw error;
        reportSafely(report, error, environ);
        const [type, page] = pageFor(error, environ);
        try {
          // excInfo is an Error by contract; a thrown string is wrapped.
          startResponse(
            "500 Internal Server Error",
            [
              ["Content-Type", type],
              ["Content-Length", String(page.length)],
            ],
            error instanceof Error
              ? error
              : new Error(String(error), { cause: error }),
          );
        } catch {
          // The headers went out: only the server can end this response.
          throw error;
        }
        return [page];
      };
      /** An error after data went out: report it and let the server abort. */
      const late = (error: unknown): never => {
        if (!(error instanceof RequestBodyError)) {
          reportSafely(report, error, environ);
        }
        throw error;
      };

      let result: Body | Promise<Body>;
      try {
        result = app(environ, startResponse);
      } catch (error) {
        return fail(error);
      }
      if (isThenable<Body>(result)) {
        return Promise.resolve(result).then(
          (body) => guarded(body, fail, late),
          fail,
        );
      }
      return guarded(result, fail, late);
    };
}

/**
 * Wraps a streamed body so that an error before its first non-empty chunk
 * turns into the 500; arrays and files cannot fail, so they pass as they are.
 */
function guarded(
  body: Body,
  fail: (error: unknown) => Body,
  late: (error: unknown) => never,
): Body {
  if (Array.isArray(body) || body instanceof FileBody) return body;
  // Whether a non-empty chunk went on: after that, errors are too late.
  let started = false;
  // The 500's chunks, once the body failed in time.
  let replacement: Chunk[] | undefined;
  const replaced = (): IteratorResult<Chunk> => {
    const chunk = replacement!.shift();
    return chunk === undefined
      ? { done: true, value: undefined }
      : { done: false, value: chunk };
  };
  // Not a body: the server names the mistake in its own 500.
  return wrapBody(body, {
    instead: () => replacement === undefined ? undefined : replaced(),
    step(result) {
      if (!result.done && isNonEmpty(result.value)) started = true;
      return result;
    },
    failed(error) {
      if (started) return late(error);
      replacement = [...fail(error) as Chunk[]];
      return replaced();
    },
  }) ?? body;
}

/** The default report: the request and the stack, to `wsgi.errors`. */
function writeTraceback(error: unknown, environ: Environ): void {
  environ["wsgi.errors"].write(
    `[errors] ${environ.REQUEST_METHOD} ${
      escapeControls((environ.SCRIPT_NAME ?? "") + (environ.PATH_INFO ?? ""))
    }: ${formatError(error)}\n`,
  );
}

/** Runs the report; a report that fails is logged, not allowed to mask the 500. */
function reportSafely(
  report: (error: unknown, environ: Environ) => void,
  error: unknown,
  environ: Environ,
): void {
  try {
    report(error, environ);
  } catch (reportError) {
    writeTraceback(error, environ);
    environ["wsgi.errors"].write(
      `[errors] the report function failed: ${formatError(reportError)}\n`,
    );
  }
}

function isNonEmpty(chunk: unknown): boolean {
  return (typeof chunk === "string" || chunk instanceof Uint8Array) &&
    chunk.length > 0;
}
