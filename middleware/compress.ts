/**
 * `compress`: gzip or deflate response bodies for clients that accept it.
 *
 * **When to use it.** When the app serves text (HTML, JSON, CSS,
 * JavaScript, SVG) straight to clients, with no reverse proxy or CDN in
 * front that compresses already.
 *
 * **When not to.** Behind nginx, Caddy or a CDN that compresses (they do it
 * better, with brotli and caches). For server-sent events and other streams
 * that must reach the client chunk by chunk: the compressor does not flush
 * per chunk, so small events would wait in its buffer (`text/event-stream`
 * is skipped by default for that reason).
 *
 * **How it decides.** The coding comes from the request's
 * `Accept-Encoding`: the highest q-value wins, `q=0` refuses a coding, `*`
 * stands for any coding not named, ties go to gzip (the order of the
 * `encodings` option), and an `identity` with a higher q-value than every
 * coding keeps the body as it is. No `Accept-Encoding` at all means no
 * compression. The header is read as an RFC 9110 list: a comma inside a
 * quoted string does not split it, an element holding a quoted string names
 * no coding, and a quote never closed leaves the body as it is. The response is left alone for HEAD requests, for statuses
 * 1xx, 204, 205, 206 and 304, when it already has a `Content-Encoding` or a
 * `Content-Range`, when its `Cache-Control` says `no-transform`, when its
 * type is already compressed (images other than SVG, BMP and icons, audio,
 * video, archives, woff fonts), and when its body is shorter than `minSize`.
 * A body without `Content-Length` is held back until `minSize` bytes arrived
 * (or it ended) to tell.
 *
 * A compressed response gets `Content-Encoding`, `Vary: Accept-Encoding`
 * (appended to an existing `Vary`), a weak `ETag` in place of a strong one
 * (the compressed bytes are a different representation), and loses
 * `Content-Length` and `Accept-Ranges`; a body that was an array is
 * compressed whole and gets a new `Content-Length`. A response that could
 * have been compressed but was not, because the client did not accept it,
 * gets `Vary: Accept-Encoding` too, so that caches keep both.
 *
 * Streamed bodies are compressed as their chunks come, without reading the
 * whole body first. Data passed to `write()` before the decision is held
 * back with the body and compressed with it.
 *
 * **Security.** Compressing a response that holds both a secret (a CSRF
 * token) and text the attacker controls (a reflected query) can leak the
 * secret through the compressed size (BREACH). Leave such responses
 * uncompressed: `Cache-Control: no-transform` on them, or `compressible`.
 *
 * **Environ keys read:** `REQUEST_METHOD`, `HTTP_ACCEPT_ENCODING`.
 * **Written:** none.
 *
 * @example
 * ```ts
 * import { compress } from "@wsgi/deno/middleware";
 * import { serve } from "@wsgi/deno";
 *
 * const app = compress()((_environ, startResponse) => {
 *   startResponse("200 OK", [["Content-Type", "text/html; charset=utf-8"]]);
 *   return ["<p>Hello</p>".repeat(1000)];
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
  Header,
  Middleware,
  StartResponse,
  Write,
} from "../_contract/types.ts";
import { FileBody } from "../_shared/file_body.ts";
import {
  byteLength,
  concat,
  isThenable,
  noStart,
  toBytes,
} from "../_shared/body.ts";
import { splitList } from "../_shared/list.ts";

/** A content coding that {@linkcode compress} can produce. */
export type Coding = "gzip" | "deflate";

/** Options of {@linkcode compress}. */
export interface CompressOptions {
  /**
   * Bodies shorter than this many bytes are sent as they are: compressing
   * them saves little and costs a little.
   *
   * @default {1024}
   */
  minSize?: number;
  /**
   * The codings to offer, most preferred first; the first wins when the
   * client accepts several equally.
   *
   * @default {["gzip", "deflate"]}
   */
  encodings?: Coding[];
  /**
   * Whether a response of this media type (lowercase, without parameters;
   * `""` when the response has no Content-Type) is worth compressing. The
   * default says no to images except SVG, BMP and icons, to audio and
   * video, to archives (zip, gzip, bzip2, xz, 7z, rar, zstd, brotli), to
   * woff fonts, and to `text/event-stream` and `multipart/x-mixed-replace`,
   * which must not wait in a buffer; yes to everything else.
   */
  compressible?: (mediaType: string) => boolean;
}

// Statuses whose body must not be touched: no body, or a byte range of
// the uncompressed representation.
const UNTOUCHED_STATUS = new Set([204, 205, 206, 304]);
const COMPRESSIBLE_IMAGES = new Set([
  "image/svg+xml",
  "image/bmp",
  "image/x-ms-bmp",
  "image/x-icon",
  "image/vnd.microsoft.icon",
]);
const INCOMPRESSIBLE = new Set([
  "application/zip",
  "application/gzip",
  "application/x-gzip",
  "application/x-bzip2",
  "application/x-xz",
  "application/x-7z-compressed",
  "application/x-rar-compressed",
  "application/vnd.rar",
  "application/zstd",
  "application/x-zstd",
  "application/x-brotli",
  "font/woff",
  "font/woff2",
  "application/font-woff",
  "application/font-woff2",
  "text/event-stream",
  "multipart/x-mixed-replace",
]);
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/** The default of {@linkcode CompressOptions.compressible}. */
function defaultCompressible(mediaType: string): boolean {
  if (mediaType.startsWith("image/")) {
    return COMPRESSIBLE_IMAGES.has(mediaType);
  }
  if (mediaType.startsWith("video/") || mediaType.startsWith("audio/")) {
    return false;
  }
  return !INCOMPRESSIBLE.has(mediaType);
}

/**
 * Compresses response bodies with gzip or deflate, as the client's
 * `Accept-Encoding` allows.
 *
 * @param options Minimum size, codings offered, which types to compress.
 * @returns The middleware.
 *
 * @example A large text response is gzipped
 * ```ts
 * import { compress } from "@wsgi/deno/middleware";
 * import { Client } from "@wsgi/deno/testing";
 * import assert from "node:assert/strict";
 *
 * const text = "All work and no play makes Jack a dull boy. ".repeat(100);
 * const app = compress()((_environ, startResponse) => {
 *   startResponse("200 OK", [["Content-Type", "text/plain"]]);
 *   return [text];
 * });
 * const response = await new Client(app).get("/", {
 *   headers: { "Accept-Encoding": "gzip, deflate" },
 * });
 * assert.equal(response.headers.get("content-encoding"), "gzip");
 * assert.equal(response.headers.get("vary"), "Accept-Encoding");
 * assert.ok(response.body.length < text.length / 10);
 * const plain = new Response(
 *   new Blob([response.body.slice()]).stream()
 *     .pipeThrough(new DecompressionStream("gzip")),
 * );
 * assert.equal(await plain.text(), text);
 * ```
 */
export function compress(options: CompressOptions = {}): Middleware {
  const minSize = options.minSize ?? 1024;
  if (!(minSize >= 0)) {
    throw new RangeError(
      `Cannot use minSize ${minSize}: it must be a number of bytes, 0 or more`,
    );
  }
  const encodings = options.encodings ?? ["gzip", "deflate"];
  for (const coding of encodings) {
    if (coding !== "gzip" && coding !== "deflate") {
      throw new TypeError(
        `Cannot compress with "${coding}": the codings offered are "gzip" and "deflate"`,
      );
    }
  }
  const settings: Settings = {
    minSize,
    compressible: options.compressible ?? defaultCompressible,
  };

  // Clients send a few Accept-Encoding values over and over: the last one
  // read is negotiated once.
  let lastAccept: string | undefined;
  let lastCoding: Coding | undefined;

  return (app) =>
    function compress(environ, startResponse) {
      if (environ.REQUEST_METHOD === "HEAD") {
        return app(environ, startResponse);
      }
      const accept = environ.HTTP_ACCEPT_ENCODING;
      if (accept !== lastAccept) {
        lastCoding = negotiate(accept, encodings);
        lastAccept = accept;
      }
      const coding = lastCoding;
      const response = new Negotiation(startResponse, coding, settings);
      const result = app(environ, response.startResponse);
      return isThenable<Body>(result)
        ? Promise.resolve(result).then((body) => response.body(body))
        : response.body(result);
    };
}

interface Settings {
  minSize: number;
  compressible: (mediaType: string) => boolean;
}

/**
 * The coding to use for a request's `Accept-Encoding` (RFC 9110 12.5.3),
 * or undefined to send the body as it is.
 */
function negotiate(
  header: string | undefined,
  encodings: readonly Coding[],
): Coding | undefined {
  if (header === undefined) return undefined;
  const parts = splitList(header);
  // A quote never closed leaves no list to read: send the body as it is.
  if (parts === undefined) return undefined;
  const weights = new Map<string, number>();
  for (const part of parts) {
    // Codings and weights are tokens: an element with a quoted string in
    // it is none of them.
    if (part.includes('"')) continue;
    const [name, ...params] = part.split(";");
    let coding = name.trim().toLowerCase();
    if (coding === "") continue;
    if (coding === "x-gzip") coding = "gzip";
    let q = 1;
    for (const param of params) {
      const eq = param.indexOf("=");
      if (param.slice(0, eq).trim().toLowerCase() !== "q") continue;
      const value = param.slice(eq + 1).trim();
      q = QVALUE.test(value) ? Number(value) : NaN;
    }
    // A malformed q-value makes the entry mean nothing.
    if (!Number.isNaN(q)) weights.set(coding, q);
  }
  const any = weights.get("*");
  let best: Coding | undefined;
  let bestQ = 0;
  for (const coding of encodings) {
    const q = weights.get(coding) ?? any ?? 0;
    if (q > bestQ) {
      best = coding;
      bestQ = q;
    }
  }
  const identity = weights.get("identity");
  if (best === undefined || (identity !== undefined && identity > bestQ)) {
    return undefined;
  }
  return best;
}

type Decision = "pending" | "identity" | "compress";

/**
 * One response on its way through the compressor: holds back the start of
 * the response until it is known whether the body gets compressed.
 */
class Negotiation {
  #startResponse: StartResponse;
  #coding: Coding | undefined;
  #settings: Settings;

  status: string | undefined;
  #headers: Header[] = [];
  // The excInfo of the latest replacement, passed on with the real start.
  #excInfo: unknown;
  decision: Decision = "pending";
  // Whether the response would be compressed for a client that accepts it.
  #varies = false;
  #contentLength = -1;
  // The real write(), once the response started as it is.
  #write: Write | undefined;
  // Whether the real startResponse has been called (maybe to be replaced).
  #started = false;
  // Whether the app started (or replaced) a response not yet passed on.
  #needsStart = false;
  // Whether a non-empty chunk came from the app: from here on the server
  // would have sent the headers, so excInfo can no longer replace them.
  dataSeen = false;
  // Data from write() held back until the decision.
  held: Uint8Array[] = [];
  heldSize = 0;
  // Set once the body is returned unwrapped: nothing can be compressed.
  #bodyUnwrapped = false;

  constructor(
    startResponse: StartResponse,
    coding: Coding | undefined,
    settings: Settings,
  ) {
    this.#startResponse = startResponse;
    this.#coding = coding;
    this.#settings = settings;
  }

  /** The startResponse handed to the app. */
  startResponse = (
    status: string,
    headers: Header[],
    excInfo?: unknown,
  ): Write => {
    const replacing = excInfo !== undefined && excInfo !== null;
    if (replacing) {
      if (this.dataSeen) throw excInfo;
      this.#excInfo = excInfo;
      this.#write = undefined;
    } else if (this.status !== undefined) {
      throw new TypeError(
        "Cannot start the response: startResponse() was already called; " +
          "pass excInfo to replace the status and headers (PEP 3333)",
      );
    }
    this.status = status;
    this.#headers = headers;
    this.#needsStart = true;
    this.#decide();
    if (this.decision === "identity") this.start();
    return this.#appWrite;
  };

  /** What the app's write() does: pass the data on, or hold it back. */
  #appWrite = (chunk: Chunk): Promise<void> => {
    if (this.#write !== undefined) {
      if (chunk.length > 0) this.dataSeen = true;
      return this.#write(chunk);
    }
    const bytes = toBytes(chunk, "write()");
    if (bytes.length > 0) {
      this.dataSeen = true;
      this.held.push(bytes);
      this.heldSize += bytes.length;
    }
    return Promise.resolve();
  };

  /** Decides what it can from the status and headers alone. */
  #decide(): void {
    this.#varies = false;
    this.#contentLength = -1;
    this.decision = "identity";
    // Anything malformed is started as it is, for the server to refuse.
    if (
      this.#bodyUnwrapped || typeof this.status !== "string" ||
      !Array.isArray(this.#headers)
    ) return;
    const code = Number(this.status.slice(0, 3));
    if (!(code >= 200) || UNTOUCHED_STATUS.has(code)) return;
    let mediaType = "";
    for (const header of this.#headers) {
      if (!Array.isArray(header) || typeof header[1] !== "string") return;
      const name = String(header[0]).toLowerCase();
      const value = header[1];
      if (name === "content-encoding" || name === "content-range") return;
      if (
        name === "cache-control" &&
        /(?:^|,)\s*no-transform\s*(?:,|$)/i.test(value)
      ) {
        return;
      }
      if (name === "content-type") {
        mediaType = value.split(";")[0].trim().toLowerCase();
      }
      if (name === "content-length" && /^\d+$/.test(value.trim())) {
        this.#contentLength = Number(value);
      }
    }
    if (!this.#settings.compressible(mediaType)) return;
    if (
      this.#contentLength >= 0 && this.#contentLength < this.#settings.minSize
    ) return;
    this.#varies = true;
    if (this.#coding === undefined) return;
    this.decision = this.#contentLength >= 0 ? "compress" : "pending";
  }

  /** Ends a pending decision once the body's size is known. */
  settle(size: number): void {
    if (this.decision !== "pending") return;
    if (size >= this.#settings.minSize) this.decision = "compress";
    else {
      this.decision = "identity";
      this.#varies = false;
    }
  }

  /**
   * Starts the real response: as it is, or compressed. `length` is the
   * compressed size when the whole body is known.
   */
  start(length?: number): void {
    if (!this.#needsStart) return;
    this.#needsStart = false;
    let headers = this.#headers;
    if (this.decision === "compress") {
      headers = compressedHeaders(headers, this.#coding!, length);
    } else if (this.#varies) headers = withVary(headers);
    const write = this.#startResponse(
      this.status!,
      headers,
      this.#started ? this.#excInfo : undefined,
    );
    this.#started = true;
    this.#excInfo = undefined;
    if (this.decision === "identity") this.#write = write;
  }

  /** Takes the app's body and returns the one to send. */
  body(body: Body): Body | Promise<Body> {
    if (this.status === undefined) {
      // The body calls startResponse itself, later; only a stream can.
      if (Array.isArray(body) || !isIterable(body)) return body;
      return new CompressingBody(this, body, this.#settings.minSize);
    }
    if (
      this.decision === "pending" && body instanceof FileBody &&
      this.held.length === 0
    ) {
      // A file that knows its size keeps the server's file path if small.
      const size = body.remaining();
      if (size !== undefined) this.settle(size);
    }
    if (this.decision === "identity") {
      // Nothing is held back here: write() passed its data on.
      this.start();
      this.#bodyUnwrapped = true;
      return body;
    }
    if (Array.isArray(body)) {
      // Below minSize an array passes as it is, without a promise or a copy.
      if (this.decision === "pending" && this.held.length === 0) {
        const size = arraySize(body);
        if (size !== undefined && size < this.#settings.minSize) {
          this.settle(size);
          this.start();
          return body;
        }
      }
      return this.#array(body);
    }
    if (!isIterable(body)) {
      // Not a body: let the server name the mistake.
      this.decision = "identity";
      this.start();
      return body;
    }
    return new CompressingBody(this, body, this.#settings.minSize);
  }

  /** A body held in memory: compressed whole, with a Content-Length. */
  async #array(chunks: unknown[]): Promise<Body> {
    const parts = [...this.held];
    for (const chunk of chunks) {
      if (typeof chunk !== "string" && !(chunk instanceof Uint8Array)) {
        // The server refuses such a body; let it say why.
        this.decision = "identity";
        this.start();
        return chunks as Body;
      }
      parts.push(toBytes(chunk, "the body"));
    }
    const data = concat(parts);
    this.settle(data.length);
    if (data.length === 0) this.decision = "identity";
    const inner = chunks as Body;
    let out: Uint8Array;
    if (this.decision === "identity") {
      this.start();
      if (this.held.length === 0) return inner;
      out = data;
    } else {
      try {
        out = await compressBytes(data, this.#coding!);
      } catch (error) {
        await inner.close?.();
        throw error;
      }
      this.start(out.length);
    }
    return typeof inner.close === "function"
      ? Object.assign([out], { close: once(() => inner.close!()) })
      : [out];
  }

  /** Discards what write() held back and returns it. */
  takeHeld(): Uint8Array[] {
    const held = this.held;
    this.held = [];
    this.heldSize = 0;
    return held;
  }

  /** The coding decided on. */
  get coding(): Coding {
    return this.#coding!;
  }
}

/**
 * A streamed body: held back until the decision, then passed through or
 * compressed as its chunks come.
 */
class CompressingBody implements AsyncIterable<Uint8Array> {
  #negotiation: Negotiation;
  #inner: Body;
  #iterator: Iterator<Chunk> | AsyncIterator<Chunk> | undefined;
  #minSize: number;
  #innerDone = false;
  #closed = false;
  // What is sent once decided: the body as it is, or compressed.
  #output: { next(): Promise<IteratorResult<Uint8Array>> } | undefined;
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;

  constructor(negotiation: Negotiation, inner: Body, minSize: number) {
    this.#negotiation = negotiation;
    this.#inner = inner;
    this.#minSize = minSize;
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    const source = this.#inner as Partial<
      AsyncIterable<Chunk> & Iterable<Chunk>
    >;
    this.#iterator = typeof source[Symbol.asyncIterator] === "function"
      ? source[Symbol.asyncIterator]!()
      : source[Symbol.iterator]!();
    return { next: () => this.#next() };
  }

  async #next(): Promise<IteratorResult<Uint8Array>> {
    if (this.#output === undefined) await this.#decide();
    return this.#output!.next();
  }

  /** The next non-empty chunk of the app's body, or undefined at its end. */
  async #pull(): Promise<Uint8Array | undefined> {
    while (!this.#innerDone) {
      let step: IteratorResult<Chunk>;
      try {
        step = await this.#iterator!.next();
      } catch (error) {
        this.#innerDone = true;
        throw error;
      }
      if (step.done) {
        this.#innerDone = true;
        return undefined;
      }
      const bytes = toBytes(step.value, "the body");
      if (bytes.length === 0) continue;
      if (this.#negotiation.status === undefined) throw noStart();
      this.#negotiation.dataSeen = true;
      return bytes;
    }
    return undefined;
  }

  /** Reads ahead until the response can be decided, then starts it. */
  async #decide(): Promise<void> {
    const n = this.#negotiation;
    const buffered: Uint8Array[] = [];
    let size = 0;
    // Compressing waits for data (an app may still replace its response
    // with excInfo before its first chunk); a pending decision waits for
    // minSize bytes.
    while (
      n.status === undefined || n.decision === "pending" ||
      (n.decision === "compress" && !n.dataSeen)
    ) {
      const bytes = await this.#pull();
      if (bytes === undefined) break;
      buffered.push(bytes);
      size += bytes.length;
      if (n.decision === "pending" && n.heldSize + size >= this.#minSize) {
        n.settle(n.heldSize + size);
      }
    }
    if (n.status === undefined) throw noStart();
    n.settle(n.heldSize + size);
    if (n.decision === "compress" && !n.dataSeen) n.decision = "identity";
    const first = concat([...n.takeHeld(), ...buffered]);
    if (n.decision === "identity") {
      n.start();
      this.#output = this.#passThrough(first);
      return;
    }
    n.start();
    const source = new ReadableStream<Uint8Array>({
      start: (controller) => {
        if (first.length > 0) controller.enqueue(first);
      },
      pull: async (controller) => {
        const bytes = await this.#pull();
        if (this.#closed) return;
        if (bytes === undefined) controller.close();
        else controller.enqueue(bytes);
      },
    });
    const reader = this.#reader = source
      .pipeThrough(
        new CompressionStream(n.coding) as TransformStream<
          Uint8Array,
          Uint8Array
        >,
      )
      .getReader();
    this.#output = {
      next: async () => {
        const { done, value } = await reader.read();
        return done ? { done: true, value: undefined } : { done, value };
      },
    };
  }

  /** The body as it is: what was read ahead, then the rest. */
  #passThrough(first: Uint8Array): {
    next(): Promise<IteratorResult<Uint8Array>>;
  } {
    let pending: Uint8Array | undefined = first.length > 0 ? first : undefined;
    return {
      next: async () => {
        if (pending !== undefined) {
          const value = pending;
          pending = undefined;
          return { done: false, value };
        }
        const bytes = await this.#pull();
        return bytes === undefined
          ? { done: true, value: undefined }
          : { done: false, value: bytes };
      },
    };
  }

  /** Closes the app's body once: its close(), or an unfinished iterator's return(). */
  close(): void | Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#reader?.cancel().catch(() => {});
    const inner = this.#inner;
    if (typeof inner.close === "function") return inner.close();
    if (!this.#innerDone) {
      const returned = this.#iterator?.return?.();
      if (isThenable(returned)) return Promise.resolve(returned).then(() => {});
    }
  }
}

/** The headers of the compressed response. */
function compressedHeaders(
  headers: Header[],
  coding: Coding,
  length: number | undefined,
): Header[] {
  const out: Header[] = [];
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    if (lower === "content-length" || lower === "accept-ranges") continue;
    // The compressed bytes are another representation: a strong ETag of
    // the original would be wrong for them.
    if (lower === "etag" && value.startsWith('"')) {
      out.push([name, `W/${value}`]);
    } else out.push([name, value]);
  }
  out.push(["Content-Encoding", coding]);
  if (length !== undefined) out.push(["Content-Length", String(length)]);
  return withVary(out);
}

/** `headers` with `Accept-Encoding` in their `Vary`. */
function withVary(headers: Header[]): Header[] {
  let index = -1;
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i];
    if (name.toLowerCase() !== "vary") continue;
    const fields = (splitList(value) ?? []).map((field) => field.toLowerCase());
    if (fields.includes("*") || fields.includes("accept-encoding")) {
      return headers;
    }
    if (index < 0) index = i;
  }
  if (index < 0) return [...headers, ["Vary", "Accept-Encoding"]];
  const out = [...headers];
  const [name, value] = out[index];
  out[index] = [
    name,
    value.trim() === "" ? "Accept-Encoding" : `${value}, Accept-Encoding`,
  ];
  return out;
}

async function compressBytes(
  data: Uint8Array,
  coding: Coding,
): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream(coding));
  return await new Response(stream).bytes();
}

/** The byte size of an array body, or undefined if it holds a non-chunk. */
function arraySize(chunks: readonly unknown[]): number | undefined {
  let size = 0;
  for (const chunk of chunks) {
    if (typeof chunk !== "string" && !(chunk instanceof Uint8Array)) {
      return undefined;
    }
    size += byteLength(chunk);
  }
  return size;
}

function isIterable(body: unknown): boolean {
  if (
    body === null || (typeof body !== "object" && typeof body !== "function") ||
    body instanceof Uint8Array
  ) return false;
  const source = body as Partial<AsyncIterable<Chunk> & Iterable<Chunk>>;
  return typeof source[Symbol.asyncIterator] === "function" ||
    typeof source[Symbol.iterator] === "function";
}

function once(fn: () => void | Promise<void>): () => void | Promise<void> {
  let called = false;
  return () => {
    if (called) return;
    called = true;
    return fn();
  };
}
