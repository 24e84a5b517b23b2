/**
 * The framed binary protocol between the pool and a Python worker, over one
 * unix-socket connection per worker thread. A frame is one type byte, a
 * 4-byte big-endian length, then the payload; `runner.py` describes each
 * type. Native strings travel as Latin-1 bytes, so they round-trip exactly.
 *
 * @module
 */
/** A frame's type byte, as its letter. */
export type FrameType =
  | "H"
  | "B"
  | "C"
  | "X"
  | "O"
  | "L"
  | "R"
  | "W"
  | "S"
  | "D"
  | "F"
  | "E";

/** One frame as read. */
export interface Frame {
  type: FrameType;
  payload: Uint8Array;
}

const EMPTY = new Uint8Array(0);
const D = 0x44;
const F = 0x46;

/**
 * A frame of `type` holding native strings as length-prefixed Latin-1
 * fields (`items` is name, value, name, value ...), written straight into
 * one buffer behind the frame's head: a native string has one byte a
 * character, so the size is known before any is encoded (a request's
 * environ is some 30 strings, and a buffer each cost a tenth of the Deno
 * side's time). Give it to {@linkcode Channel.sendFrame}.
 */
export function pairsFrame(
  type: FrameType,
  items: readonly string[],
): Uint8Array {
  let size = 5;
  for (let i = 0; i < items.length; i++) size += 4 + items[i].length;
  const out = new Uint8Array(size);
  out[0] = type.charCodeAt(0);
  putLength(out, 1, size - 5);
  let at = 5;
  for (let i = 0; i < items.length; i++) at = putField(out, at, items[i]);
  return out;
}

function putLength(out: Uint8Array, at: number, length: number): void {
  out[at] = length >>> 24;
  out[at + 1] = (length >>> 16) & 0xff;
  out[at + 2] = (length >>> 8) & 0xff;
  out[at + 3] = length & 0xff;
}

function putField(out: Uint8Array, at: number, text: string): number {
  const length = text.length;
  putLength(out, at, length);
  at += 4;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff) {
      throw new TypeError(
        `Cannot encode a native string: the character at index ${i} of ${
          JSON.stringify(text)
        } is above U+00FF`,
      );
    }
    out[at + i] = code;
  }
  return at + length;
}

/**
 * The pairs of a payload of length-prefixed fields. The payload is read as
 * one Latin-1 string and cut at the fields' lengths: a string per field
 * made from its bytes cost more than the rest of the response's handling.
 */
export function decodePairs(payload: Uint8Array): [string, string][] {
  let text = "";
  // In slices: a call takes a bounded number of arguments.
  for (let i = 0; i < payload.length; i += 8192) {
    text += String.fromCharCode.apply(
      null,
      payload.subarray(i, i + 8192) as unknown as number[],
    );
  }
  const pairs: [string, string][] = [];
  let name: string | undefined;
  for (let at = 0; at + 4 <= payload.length;) {
    const length = ((payload[at] << 24) | (payload[at + 1] << 16) |
      (payload[at + 2] << 8) | payload[at + 3]) >>> 0;
    const field = text.slice(at + 4, at + 4 + length);
    at += 4 + length;
    if (name === undefined) name = field;
    else {
      pairs.push([name, field]);
      name = undefined;
    }
  }
  return pairs;
}

/** Frames over one connection: one reader at a time, writes in order. */
export class Channel {
  readonly conn: Deno.Conn;
  #buffer: Uint8Array = EMPTY;
  #scratch = new Uint8Array(65536);
  #last: Promise<boolean> = Promise.resolve(true);
  #queued = 0;
  #closed = false;
  #ended = false;

  constructor(conn: Deno.Conn) {
    this.conn = conn;
  }

  /**
   * The body, when the frames already read hold all of it (an F, or one D
   * then an F, as the runner sends a body that was whole in memory): they
   * are taken, and the chunks returned. Otherwise nothing is taken.
   */
  takeWholeBody(): Uint8Array[] | undefined {
    const buffer = this.#buffer;
    if (buffer.length >= 5 && buffer[0] === F) {
      this.take();
      return [];
    }
    if (buffer.length < 10 || buffer[0] !== D) return undefined;
    const end = 5 + (((buffer[1] << 24) | (buffer[2] << 16) |
      (buffer[3] << 8) | buffer[4]) >>> 0);
    if (buffer.length < end + 5 || buffer[end] !== F) return undefined;
    const data = this.take()!.payload;
    this.take();
    return [data];
  }

  /**
   * Whether the worker's end is known to be gone (a read met its end) or
   * ours was closed: no request can be served on it any more, though the
   * process may not have exited yet.
   */
  get ended(): boolean {
    return this.#ended || this.#closed;
  }

  /** The next frame; null once the worker's end is closed. */
  async read(): Promise<Frame | null> {
    while (true) {
      const frame = this.take();
      if (frame !== undefined) return frame;
      if (!await this.#fill()) return null;
    }
  }

  async #fill(): Promise<boolean> {
    if (this.#closed) return false;
    // One read buffer for the channel: a fresh 64 KiB one per read cost
    // more in zeroing than the small frames of a request in copying.
    const scratch = this.#scratch;
    let n: number | null;
    try {
      n = await this.conn.read(scratch);
    } catch {
      n = null;
    }
    if (n === null) {
      this.#ended = true;
      return false;
    }
    if (this.#buffer.length === 0) {
      this.#buffer = scratch.slice(0, n);
    } else {
      const joined = new Uint8Array(this.#buffer.length + n);
      joined.set(this.#buffer);
      joined.set(scratch.subarray(0, n), this.#buffer.length);
      this.#buffer = joined;
    }
    return true;
  }

  /**
   * Queues a frame; the promise settles once it is written (true) or lost
   * (false: the worker's end is closed).
   */
  send(type: FrameType, payload: Uint8Array = EMPTY): Promise<boolean> {
    const frame = new Uint8Array(5 + payload.length);
    frame[0] = type.charCodeAt(0);
    putLength(frame, 1, payload.length);
    frame.set(payload, 5);
    return this.sendFrame(frame);
  }

  /** Queues a frame made whole, head included (as by {@linkcode pairsFrame}). */
  sendFrame(frame: Uint8Array): Promise<boolean> {
    // A write waits for the one before only when there is one: a chain of
    // promises for every frame cost more than the write itself.
    this.#queued++;
    const write = this.#queued === 1
      ? this.#put(frame)
      : this.#last.then(() => this.#put(frame));
    this.#last = write;
    return write;
  }

  async #put(frame: Uint8Array): Promise<boolean> {
    try {
      let sent = 0;
      while (sent < frame.length && !this.#closed) {
        sent += await this.conn.write(frame.subarray(sent));
      }
      return sent === frame.length;
    } catch {
      // The worker is gone; its exit is reported where the frames are read.
      return false;
    } finally {
      this.#queued--;
    }
  }

  /**
   * The next frame if it is already read in whole, without waiting: the
   * frames a runner sends together come in one read.
   */
  take(): Frame | undefined {
    const buffer = this.#buffer;
    if (buffer.length < 5) return undefined;
    const length = ((buffer[1] << 24) | (buffer[2] << 16) | (buffer[3] << 8) |
      buffer[4]) >>> 0;
    if (buffer.length < 5 + length) return undefined;
    const type = String.fromCharCode(buffer[0]) as FrameType;
    // #fill gives every read a buffer of its own, never written to again,
    // so the payload (a body chunk may outlive the frame) is a view of it.
    const payload = buffer.subarray(5, 5 + length);
    this.#buffer = buffer.subarray(5 + length);
    return { type, payload };
  }

  /** Closes the connection; the runner's thread sees the end and stops. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // Already closed by a failed read or write.
    }
  }
}
