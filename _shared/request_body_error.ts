/**
 * The errors `wsgi.input` throws when the client's body cannot be read: the
 * server and the middleware answer them with the status they carry.
 *
 * @module
 */

/**
 * Thrown by `wsgi.input` when the request body cannot be read as the client
 * sent it: the client's fault, not the app's. An app that lets it go gets
 * the client answered with {@linkcode RequestBodyError.status} (if the
 * response has not started) instead of a 500, and no error is logged.
 */
export class RequestBodyError extends Error {
  /** The status the client gets: 400, or 413 for a body over the limit. */
  readonly status: 400 | 413;
  /** An error answered with `status`; `options.cause` keeps Deno's own error. */
  constructor(message: string, status: 400 | 413, options?: ErrorOptions) {
    super(message, options);
    this.name = "RequestBodyError";
    this.status = status;
  }
}

/** Thrown by `wsgi.input` when the body is longer than the server allows. */
export class BodyTooLargeError extends RequestBodyError {
  /** The limit in bytes. */
  readonly limit: number;
  /** The error for a body past `limit` bytes. */
  constructor(limit: number) {
    super(
      `Cannot read the request body: it is larger than ${limit} bytes`,
      413,
    );
    this.name = "BodyTooLargeError";
    this.limit = limit;
  }
}
