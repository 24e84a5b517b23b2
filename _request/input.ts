import type { InputStream } from "../_contract/types.ts";
import type { RequestParts } from "./request_parts.ts";
import { concat } from "../_shared/body.ts";
import {
  BodyTooLargeError,
  RequestBodyError,
} from "../_shared/request_body_error.ts";

const EMPTY = new Uint8Array(0);
const LF = 0x0a;

/** Why Deno's body stream failed, in the client's terms. */
function unreadable(cause: unknown): RequestBodyError {
  // hyper reports a bad chunk as "invalid HTTP/1 request"; a connection that
  // ends first surfaces as a closed resource.
  const malformed = /invalid HTTP/i.test(String(cause));
  return new RequestBodyError(
    `Cannot read the request body: ${
      malformed
        ? "its chunked encoding is malformed"
        : "the connection ended before the body did"
    }`,
    400,
    { cause },
  );
}

/**
 * `wsgi.input` over a request body stream.
 *
 * Nothing touches the stream until the app reads, so apps that ignore the
 * body pay nothing for it. `length` bounds what is read (the request's
 * Content-Length; `Infinity` for chunked uploads) and `limit` is the server's
 * maximum body size.
 */
export class Input implements InputStream {
  #source: ReadableStream<Uint8Array> | null;
  // Set until the first read, so that an unread body costs nothing.
  #request: RequestParts | undefined;
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  // Bytes read from the stream but not yet handed to the app.
  #buffer: Uint8Array = EMPTY;
  #remaining: number;
  #limit: number;
  #received = 0;

  constructor(
    source: ReadableStream<Uint8Array> | null,
    length = Infinity,
    limit = Infinity,
  ) {
    this.#source = source;
    this.#remaining = length;
    this.#limit = limit;
  }

  /** `wsgi.input` for a request: bounded by its Content-Length and `limit`. */
  static fromRequest(request: RequestParts, limit = Infinity): Input {
    const input = new Input(null, Infinity, limit);
    input.#request = request;
    return input;
  }

  #open(request: RequestParts): void {
    this.#request = undefined;
    this.#source = request.body;
    const length = request.headers.get("content-length");
    if (length !== null && /^\d+$/.test(length)) {
      this.#remaining = Number(length);
    }
  }

  /** The next piece of the body, bounded by length and limit; null at the end. */
  async #next(): Promise<Uint8Array | null> {
    if (this.#buffer.length > 0) {
      const buffered = this.#buffer;
      this.#buffer = EMPTY;
      return buffered;
    }
    if (this.#request !== undefined) this.#open(this.#request);
    if (this.#remaining <= 0 || this.#source === null) return null;
    this.#reader ??= this.#source.getReader();
    const { value, done } = await this.#reader.read().catch((cause) => {
      this.#remaining = 0;
      throw unreadable(cause);
    });
    if (done) {
      this.#remaining = 0;
      return null;
    }
    const chunk = value.length > this.#remaining
      ? value.subarray(0, this.#remaining)
      : value;
    this.#remaining -= chunk.length;
    this.#received += chunk.length;
    if (this.#received > this.#limit) {
      this.#remaining = 0;
      await this.#reader.cancel();
      throw new BodyTooLargeError(this.#limit);
    }
    // Reading on to the stream's end lets Deno release the body at once;
    // left unfinished, each one waits for the garbage collector, which made
    // uploads five times slower (bench/soak.ts). All the bytes are in hand,
    // so a client that leaves now costs the app nothing.
    if (this.#remaining === 0) await this.#reader.read().catch(() => {});
    return chunk;
  }

  /** Joins `parts`, keeping whatever lies past `length` for the next read. */
  #split(parts: Uint8Array[], length: number): Uint8Array {
    const all = parts.length === 1 ? parts[0] : concat(parts);
    if (all.length > length) this.#buffer = all.subarray(length);
    return all.length > length ? all.subarray(0, length) : all;
  }

  read(size?: number): Promise<Uint8Array> {
    return this.#collect(bound(size), false);
  }

  readline(size?: number): Promise<Uint8Array> {
    return this.#collect(bound(size), true);
  }

  /** Reads up to `max` bytes, stopping after the first `\n` when `line`. */
  async #collect(max: number, line: boolean): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let total = 0;
    while (total < max) {
      const chunk = await this.#next();
      if (chunk === null) break;
      parts.push(chunk);
      const lf = line ? chunk.indexOf(LF) : -1;
      if (lf >= 0) return this.#split(parts, Math.min(max, total + lf + 1));
      total += chunk.length;
    }
    return parts.length === 0 ? EMPTY : this.#split(parts, max);
  }

  async readlines(hint?: number): Promise<Uint8Array[]> {
    const max = hint === undefined || hint === null || hint <= 0
      ? Infinity
      : hint;
    const lines: Uint8Array[] = [];
    let total = 0;
    while (total < max) {
      const line = await this.readline();
      if (line.length === 0) break;
      lines.push(line);
      total += line.length;
    }
    return lines;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    while (true) {
      const line = await this.readline();
      if (line.length === 0) return;
      yield line;
    }
  }
}

/** A size argument as a bound: none, or a negative one, means no bound. */
function bound(size: number | undefined): number {
  return size === undefined || size === null || size < 0 ? Infinity : size;
}
