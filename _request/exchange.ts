/**
 * The response writer: runs an app for one request and turns what it does
 * through `startResponse`, `write()` and its body into a `Response`, while
 * enforcing the rules of PEP 3333 and of HTTP that the server owns.
 *
 * @module
 */
import type {
  App,
  Body,
  Chunk,
  Environ,
  Header,
  Write,
} from "../_contract/types.ts";
import { describe, escapeControls, formatError } from "../_shared/errors.ts";
import {
  BodyTooLargeError,
  RequestBodyError,
} from "../_shared/request_body_error.ts";
import { FileBody } from "../_shared/file_body.ts";
import {
  checkChunk,
  concat,
  isThenable,
  noStart,
  toBytes,
} from "../_shared/body.ts";
import type { RequestParts, SignalSource } from "./request_parts.ts";
import { checkResponseStart, type Start } from "./start_response.ts";

const encoder = new TextEncoder();
const NON_ASCII = /[^\0-\x7f]/;
// Statuses whose responses never have a body (a Response refuses one).
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * What an aborted response's stream fails with. The cause is already in
 * the log, so `serve()` does not report it a second time.
 */
export class ResponseAborted extends Error {
  constructor(cause: unknown) {
    super("The response was aborted after its headers were sent", { cause });
    this.name = "ResponseAborted";
  }
}

function plainResponse(status: number, text: string): Response {
  return new Response(text, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

const INTERNAL_ERROR = "Internal Server Error\n";

function tooLargeText(limit: number): string {
  return `Request body too large: this server accepts at most ${limit} bytes\n`;
}

/** The bare 500 that a failing app gets outside the dev server. */
export function internalError(): Response {
  return plainResponse(500, INTERNAL_ERROR);
}

/** The 413 for a request body over the server's limit. */
export function tooLarge(limit: number): Response {
  return plainResponse(413, tooLargeText(limit));
}

type AnyIterator = Iterator<Chunk> | AsyncIterator<Chunk>;

/** A `ResponseInit` as the adapter makes it: the headers are the app's own. */
export interface ResponseHead {
  status: number;
  statusText?: string;
  /** A record, or pairs when a name repeats. */
  headers: Record<string, string> | Header[];
}

/**
 * One request's response. `startResponse` and `write` are handed to the
 * app; `run()` resolves with the `Response` as soon as the headers go out.
 *
 * With `toWire`, the response goes straight to `Deno.serve`, which gives a
 * body held in memory the Content-Length it has: the app's own, when it
 * matches (it was checked), is left out of the `Response`, which saves Deno
 * parsing it, a quarter of a hello world's time. Other consumers of the
 * `Response` (the test client, another framework's route) get the header.
 */
export class Exchange implements SignalSource {
  readonly #toWire: boolean;
  constructor(toWire = false) {
    this.#toWire = toWire;
  }

  #environ!: Environ;
  #status = 0;
  #statusText = "";
  #headers: Start["headers"] | undefined;
  #contentLength = -1;
  // The first rule the app broke; it wins over anything the app does after.
  #violation: unknown;

  #response: Response | undefined;
  #resolve: ((response: Response) => void) | undefined;

  #body: Body | undefined;
  #iterator: AnyIterator | undefined;
  #bodyClosed = false;
  #iterationDone = false;

  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  #streamDone = false;
  #sent = 0;
  #overflowLogged = false;
  // The body is computing its next chunk: no second next() meanwhile, and
  // return() waits for the step to end (a running generator refuses it).
  #stepping = false;
  #roomWaiters: (() => void)[] | undefined;
  #disconnect: AbortController | undefined;
  #cancelledByClient = false;
  // A HEAD response carries the headers a GET would, and no body.
  #head = false;
  #memoryBody: Uint8Array | string | null | undefined;
  #responseInit: ResponseHead | undefined;

  /**
   * The response's whole body, when it was in memory as the response was
   * made (an array, an error page; `null` for none); `undefined` when the
   * body is a stream still to be read. It may be the app's own chunk: copy
   * it, never transfer it.
   */
  get memoryBody(): Uint8Array | string | null | undefined {
    return this.#memoryBody;
  }

  /**
   * The status and headers the response was made with, as the app gave
   * them (a record, or pairs); `undefined` for a response of the server's
   * own (a 500, 413, 400). Cheaper to hand on than reading the `Response`'s
   * headers back.
   */
  get responseInit(): ResponseHead | undefined {
    return this.#responseInit;
  }

  /** `deno.signal`: aborts if the client leaves before the response is done. */
  signal(request: RequestParts): AbortSignal {
    if (this.#disconnect === undefined) {
      const controller = this.#disconnect = new AbortController();
      // Deno 2.9 also aborts request.signal after a response that went
      // well; an app only wants to hear of a client that left early.
      request.signal.addEventListener("abort", () => {
        if (!this.#streamDone) controller.abort(request.signal.reason);
      }, { once: true });
    }
    return this.#disconnect.signal;
  }

  /**
   * The server's time limit ran out before the headers went out: logs it,
   * aborts `deno.signal` so that the app can stop, and gives the 503 to
   * send instead. The response the app makes later is the caller's to
   * cancel, which closes its body.
   */
  timeOut(ms: number): Response {
    this.#log(
      `the app did not start its response within ${
        ms / 1000
      } s (the server's request time limit); answered 503`,
    );
    (this.#disconnect ??= new AbortController()).abort(
      new DOMException("The request time limit ran out", "TimeoutError"),
    );
    return plainResponse(
      503,
      "Service Unavailable: the server's time limit for a response ran out\n",
    );
  }

  /** Runs `app` on `environ` and yields its response, once the headers are ready. */
  run(app: App, environ: Environ): Response | Promise<Response> {
    this.#environ = environ;
    this.#head = environ.REQUEST_METHOD === "HEAD";
    let result: Body | Promise<Body>;
    try {
      result = app(this.#environ, this.startResponse);
    } catch (error) {
      return this.#fail(error);
    }
    if (!isThenable<Body>(result)) return this.#take(result);
    return new Promise((resolve) => {
      // write() may have sent the headers before the app's first await.
      if (this.#response !== undefined) resolve(this.#response);
      this.#resolve = resolve;
      result.then(
        (body) => resolve(this.#take(body)),
        (error) => resolve(this.#fail(error)),
      );
    });
  }

  /** PEP 3333's `start_response`. */
  startResponse = (
    status: string,
    headers: Header[],
    excInfo?: unknown,
  ): Write => {
    if (excInfo !== undefined && excInfo !== null) {
      // Too late to replace anything: let the error travel up.
      if (this.#response !== undefined) throw excInfo;
    } else if (this.#headers !== undefined) {
      throw this.#broke(
        new TypeError(
          "Cannot start the response: startResponse() was already called; " +
            "pass excInfo to replace the status and headers (PEP 3333)",
        ),
      );
    }
    let start: Start;
    try {
      start = checkResponseStart(status, headers);
    } catch (error) {
      throw this.#broke(error);
    }
    this.#status = start.code;
    this.#statusText = start.reason;
    this.#headers = start.headers;
    this.#contentLength = start.contentLength;
    this.#violation = undefined;
    return this.write;
  };

  /** PEP 3333's `write()`: pushes a chunk ahead of the returned body. */
  write: Write = (chunk: Chunk): Promise<void> => {
    const bytes = toBytes(chunk, "write()");
    // A rule the app broke and caught still decides the response, a 500:
    // sending the headers now would make it an aborted 200 instead.
    if (this.#violation !== undefined && this.#response === undefined) {
      throw this.#violation;
    }
    // A write from close() while a failed response is being replaced by a
    // 500 must not start a second, never-ending response.
    if (this.#response === undefined && !this.#streamDone) this.#commit();
    if (this.#streamDone) {
      // A 204, a 304 or a HEAD response has no body to write into; that is
      // not the app's fault. Nothing pushes back either, so the write waits
      // for a turn of the event loop: an app that writes in a loop would
      // otherwise never let the server run again.
      if (NULL_BODY.has(this.#status) || this.#head) {
        return new Promise((resolve) => setTimeout(resolve, 0));
      }
      throw new Error(
        this.#disconnect?.signal.aborted || this.#cancelledByClient
          ? "Cannot write: the client has gone away"
          : "Cannot write: the response is already finished",
      );
    }
    this.#enqueue(bytes);
    if (this.#controller === undefined || this.#controller.desiredSize! > 0) {
      return Promise.resolve();
    }
    return new Promise((resolve) => (this.#roomWaiters ??= []).push(resolve));
  };

  /** Records a broken rule so that it decides the response. */
  #broke(error: unknown): unknown {
    this.#violation ??= error;
    return error;
  }

  #log(message: string): void {
    const e = this.#environ;
    this.#environ["wsgi.errors"].write(
      `[wsgi] ${e.REQUEST_METHOD} ${
        escapeControls(e.SCRIPT_NAME + e.PATH_INFO)
      }: ${message}\n`,
    );
  }

  /** The app threw or its promise rejected. */
  #fail(error: unknown): Response | Promise<Response> {
    // A rule the app broke, and caught, came first: name it too.
    if (this.#violation !== undefined && error !== this.#violation) {
      this.#log(`the app broke a rule first: ${formatError(this.#violation)}`);
    }
    if (this.#response !== undefined) {
      this.#abort(error);
      return this.#response;
    }
    this.#streamDone = true;
    this.#closeBody();
    // The client's body, not the app, is at fault: no error to log.
    if (error instanceof RequestBodyError) {
      this.#memoryBody = error instanceof BodyTooLargeError
        ? tooLargeText(error.limit)
        : `${error.message}\n`;
      this.#responseInit = undefined;
      return this.#response = plainResponse(error.status, this.#memoryBody);
    }
    this.#log(`error before the response started: ${formatError(error)}`);
    this.#memoryBody = INTERNAL_ERROR;
    this.#responseInit = undefined;
    return this.#response = plainResponse(500, INTERNAL_ERROR);
  }

  /** The app returned its body. */
  #take(body: Body): Response | Promise<Response> {
    this.#body = body;
    if (this.#violation !== undefined) return this.#fail(this.#violation);
    if (this.#response !== undefined) {
      // write() already sent the headers; the body follows its data, unless
      // the response is over (a 204, or a client that left).
      if (this.#streamDone) {
        this.#closeBody();
        return this.#response;
      }
      try {
        this.#iterator = iteratorOf(body);
      } catch (error) {
        this.#abort(error);
        return this.#response;
      }
      // A read may already be waiting for the body's data.
      if (this.#controller!.desiredSize! > 0) this.#advance();
      return this.#response;
    }
    if (Array.isArray(body)) return this.#arrayResponse(body);
    // Deno sends a file's stream without us, so the fast path needs its
    // word (info.completed) on when to close the file.
    if (
      body instanceof FileBody && this.#headers !== undefined &&
      this.#environ["deno.info"]?.completed !== undefined
    ) {
      const remaining = body.remaining();
      if (this.#contentLength < 0 || remaining === this.#contentLength) {
        return this.#fileResponse(body);
      }
    }
    try {
      this.#iterator = iteratorOf(body);
    } catch (error) {
      return this.#fail(error);
    }
    return this.#firstChunk();
  }

  /**
   * Pulls chunks until the first non-empty one or the end of the body, so
   * that the app may still call startResponse (with excInfo) until then.
   */
  #firstChunk(): Response | Promise<Response> {
    const iterator = this.#iterator!;
    while (true) {
      let step: IteratorResult<Chunk> | PromiseLike<IteratorResult<Chunk>>;
      this.#stepping = true;
      try {
        step = iterator.next();
      } catch (error) {
        this.#stepping = false;
        this.#iterationDone = true;
        return this.#fail(error);
      }
      if (isThenable<IteratorResult<Chunk>>(step)) {
        const pending = step;
        return new Promise((resolve) => {
          // A write() in this step sends the headers: the Response must
          // reach its reader then, since the write waits for that reader.
          if (this.#response !== undefined) resolve(this.#response);
          this.#resolve = resolve;
          Promise.resolve(pending).then(
            (result) => {
              this.#stepping = false;
              resolve(this.#afterFirstStep(result) ?? this.#firstChunk());
            },
            (error) => {
              this.#stepping = false;
              this.#iterationDone = true;
              resolve(this.#fail(error));
            },
          );
        });
      }
      this.#stepping = false;
      const response = this.#afterFirstStep(step);
      if (response !== undefined) return response;
    }
  }

  /** Handles one step before the headers; undefined to keep pulling. */
  #afterFirstStep(
    step: IteratorResult<Chunk>,
  ): Response | Promise<Response> | undefined {
    // A write() in this step sent the headers: the body streams from here.
    if (this.#response !== undefined) {
      if (this.#afterStep(step)) this.#advance();
      return this.#response;
    }
    if (this.#violation !== undefined) {
      this.#iterationDone = step.done === true;
      return this.#fail(this.#violation);
    }
    if (step.done) {
      this.#iterationDone = true;
      if (this.#headers === undefined) return this.#fail(noStart());
      return this.#arrayResponse([]);
    }
    let bytes: Uint8Array;
    try {
      bytes = toBytes(step.value, "the body");
      if (this.#headers === undefined) throw noStart();
    } catch (error) {
      return this.#fail(error);
    }
    if (bytes.length === 0) return undefined;
    const response = this.#commit();
    this.#enqueue(bytes);
    return response;
  }

  /** A body held in memory: answered with a plain, length-delimited Response. */
  #arrayResponse(body: Chunk[]): Response | Promise<Response> {
    if (this.#headers === undefined) return this.#fail(noStart());
    let data: Uint8Array | string;
    try {
      data = body.length === 1
        ? checkChunk(body[0], "the body")
        : joinChunks(body);
    } catch (error) {
      return this.#fail(error);
    }
    // Deno labels a string body text/plain; the app's headers must be all
    // that is sent. A string's length is its size in bytes only in ASCII.
    if (
      typeof data === "string" &&
      (!hasContentType(this.#headers) ||
        (this.#contentLength >= 0 && NON_ASCII.test(data)))
    ) data = encoder.encode(data);
    // For HEAD without a length, the data lets Deno.serve compute it.
    if (
      NULL_BODY.has(this.#status) || (this.#head && this.#contentLength >= 0)
    ) {
      return this.#nullBodyResponse();
    }
    if (this.#contentLength >= 0 && data.length !== this.#contentLength) {
      // Let the streaming path truncate or abort, and log why.
      const response = this.#commit();
      this.#enqueue(typeof data === "string" ? encoder.encode(data) : data);
      this.#finish();
      return response;
    }
    let response: Response;
    try {
      response = new Response(data as BodyInit, this.#init(!this.#toWire));
    } catch (error) {
      return this.#fail(error);
    }
    this.#response = response;
    this.#streamDone = true;
    this.#memoryBody = data;
    this.#closeBody();
    return response;
  }

  #fileResponse(body: FileBody): Response | Promise<Response> {
    if (NULL_BODY.has(this.#status) || this.#head) {
      return this.#nullBodyResponse();
    }
    // The file is closed once Deno has sent it, when the request is gone
    // and its headers can no longer be read: read them now, for a close()
    // that logs them (listing the keys fills them all in).
    Object.keys(this.#environ);
    let response: Response;
    try {
      response = new Response(body.send(), this.#init());
    } catch (error) {
      return this.#fail(error);
    }
    this.#response = response;
    this.#streamDone = true;
    this.#environ["deno.info"]!.completed.then(
      () => this.#closeBody(),
      () => this.#closeBody(),
    );
    return response;
  }

  #nullBodyResponse(): Response {
    // A HEAD answer must not say Content-Length: 0 for a body whose length
    // it does not know (RFC 9110 8.6); Deno.serve gives a null body that
    // length, and a stream none.
    const body = this.#head && this.#contentLength < 0 &&
        !NULL_BODY.has(this.#status)
      ? new ReadableStream<Uint8Array>({ start: (c) => c.close() })
      : null;
    const response = new Response(body, this.#init());
    this.#response = response;
    this.#streamDone = true;
    this.#memoryBody = body === null ? null : undefined;
    this.#closeBody();
    return response;
  }

  /** Status and headers for `new Response()`; the app's Content-Length with `withLength`. */
  #init(withLength = true): ResponseHead {
    // Called only once startResponse() has given the headers.
    let headers = this.#headers!;
    if (withLength && this.#contentLength >= 0 && !Array.isArray(headers)) {
      headers = { ...headers, "content-length": String(this.#contentLength) };
    }
    return this.#responseInit = this.#statusText === ""
      ? { status: this.#status, headers }
      : { status: this.#status, statusText: this.#statusText, headers };
  }

  /** Sends the headers: from here on the body streams. */
  #commit(): Response {
    const response = NULL_BODY.has(this.#status) || this.#head
      ? this.#nullBodyResponse()
      : this.#streamResponse();
    this.#resolve?.(response);
    return response;
  }

  #streamResponse(): Response {
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: () => this.#pull(),
      cancel: () => this.#cancelled(),
    });
    let response: Response;
    try {
      response = new Response(stream, this.#init());
    } catch (error) {
      // Only a header changed behind startResponse's back gets here.
      this.#log(`cannot build the response: ${formatError(error)}`);
      response = internalError();
      this.#streamDone = true;
      this.#closeBody();
    }
    return this.#response = response;
  }

  #enqueue(bytes: Uint8Array): void {
    if (this.#streamDone) return;
    if (this.#contentLength >= 0) {
      const room = this.#contentLength - this.#sent;
      if (bytes.length > room) {
        if (!this.#overflowLogged) {
          this.#overflowLogged = true;
          this.#log(
            `the app sent more than its Content-Length of ${this.#contentLength} bytes; ` +
              "the excess was not sent",
          );
        }
        bytes = bytes.subarray(0, room);
      }
    }
    if (bytes.length === 0) return;
    this.#sent += bytes.length;
    this.#controller!.enqueue(bytes);
  }

  /**
   * The stream wants data. The body is stepped apart from this call: a
   * body that awaits write() inside its step needs the stream to pull
   * again, to let that write go on, before its step can end.
   */
  #pull(): void {
    this.#releaseWriters();
    this.#advance();
  }

  /** Asks the body for its next chunk, unless a step is under way. */
  #advance(): void {
    while (!this.#stepping && !this.#streamDone) {
      const iterator = this.#iterator;
      // The app is still running (it called write()); #take goes on.
      if (iterator === undefined) return;
      // Everything Content-Length promised is out: the rest of the body
      // would be dropped, so stop reading it (a ranged file, say).
      if (this.#contentLength >= 0 && this.#sent >= this.#contentLength) {
        this.#finish();
        return;
      }
      let step: IteratorResult<Chunk> | PromiseLike<IteratorResult<Chunk>>;
      this.#stepping = true;
      try {
        step = iterator.next();
      } catch (error) {
        this.#stepping = false;
        this.#iterationDone = true;
        this.#abort(error);
        return;
      }
      if (isThenable<IteratorResult<Chunk>>(step)) {
        Promise.resolve(step).then((result) => {
          this.#stepping = false;
          if (this.#afterStep(result)) this.#advance();
        }, (error) => {
          this.#stepping = false;
          this.#iterationDone = true;
          this.#abort(error);
        });
        return;
      }
      this.#stepping = false;
      if (!this.#afterStep(step)) return;
    }
  }

  /** Handles one step after the headers; true to step again (an empty chunk). */
  #afterStep(step: IteratorResult<Chunk>): boolean {
    if (step.done) this.#iterationDone = true;
    if (this.#streamDone) {
      // A return() held back while the step ran.
      this.#closeBody();
      return false;
    }
    // The body called startResponse() again and caught the refusal.
    if (this.#violation !== undefined) {
      this.#abort(this.#violation);
      return false;
    }
    if (step.done) {
      this.#finish();
      return false;
    }
    let bytes: Uint8Array;
    try {
      bytes = toBytes(step.value, "the body");
    } catch (error) {
      this.#abort(error);
      return false;
    }
    if (bytes.length === 0) return true;
    this.#enqueue(bytes);
    return false;
  }

  /** The body ended: close the stream, or abort it if it fell short. */
  #finish(): void {
    if (this.#streamDone) return;
    if (this.#contentLength >= 0 && this.#sent < this.#contentLength) {
      this.#abort(
        new RangeError(
          `Cannot finish the response: the app sent ${this.#sent} of the ` +
            `${this.#contentLength} bytes its Content-Length promised; the connection was aborted`,
        ),
      );
      return;
    }
    this.#streamDone = true;
    this.#controller?.close();
    this.#closeBody();
  }

  /** Fails a response whose headers went out: the client sees a broken stream. */
  #abort(error: unknown): void {
    this.#log(`error after the response started: ${formatError(error)}`);
    if (!this.#streamDone) {
      this.#streamDone = true;
      this.#controller?.error(new ResponseAborted(error));
    }
    this.#releaseWriters();
    this.#closeBody();
  }

  /** The client went away mid-body. */
  #cancelled(): void {
    this.#cancelledByClient = true;
    this.#disconnect?.abort(
      new DOMException("The client has gone away", "AbortError"),
    );
    this.#streamDone = true;
    this.#releaseWriters();
    this.#closeBody();
  }

  /** Lets every write() waiting for room continue. */
  #releaseWriters(): void {
    const waiters = this.#roomWaiters;
    if (waiters === undefined) return;
    this.#roomWaiters = undefined;
    for (const resolve of waiters) resolve();
  }

  /** Calls the body's close() (or an unfinished iterator's return()) once. */
  #closeBody(): void {
    if (this.#bodyClosed) return;
    const body = this.#body;
    if (
      body === null || typeof body !== "object" && typeof body !== "function"
    ) {
      return;
    }
    // return() waits for the step under way; #afterStep calls again.
    if (typeof body.close !== "function" && this.#stepping) return;
    this.#bodyClosed = true;
    try {
      let closing: unknown;
      if (typeof body.close === "function") closing = body.close();
      else if (!this.#iterationDone) closing = this.#iterator?.return?.();
      if (isThenable(closing)) {
        (closing as Promise<unknown>).then(
          undefined,
          (error) =>
            this.#log(`the body's close() failed: ${formatError(error)}`),
        );
      }
    } catch (error) {
      this.#log(`the body's close() failed: ${formatError(error)}`);
    }
  }
}

function hasContentType(headers: Start["headers"]): boolean {
  return Array.isArray(headers)
    ? headers.some(([name]) => name.toLowerCase() === "content-type")
    : "content-type" in headers;
}

/** Gets the iterator of a body, refusing the common mistakes by name. */
function iteratorOf(body: Body): AnyIterator {
  if (typeof body === "string" || body instanceof Uint8Array) {
    throw new TypeError(
      `Cannot send the body: the app returned ${describe(body)}, not an ` +
        "iterable of chunks; return [body] instead (PEP 3333)",
    );
  }
  const source = body as Partial<AsyncIterable<Chunk> & Iterable<Chunk>>;
  if (
    source !== null && typeof source === "object" ||
    typeof source === "function"
  ) {
    if (typeof source[Symbol.asyncIterator] === "function") {
      return source[Symbol.asyncIterator]!();
    }
    if (typeof source[Symbol.iterator] === "function") {
      return source[Symbol.iterator]!();
    }
  }
  throw new TypeError(
    `Cannot send the body: the app returned ${
      describe(body)
    }, which is not iterable; return an array, a generator or an async iterable (PEP 3333)`,
  );
}

function joinChunks(chunks: Chunk[]): Uint8Array {
  if (chunks.length === 1) return toBytes(chunks[0], "the body");
  return concat(chunks.map((chunk) => toBytes(chunk, "the body")));
}
