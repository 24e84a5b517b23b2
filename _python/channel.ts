/**
 * The framed binary protocol between the pool and a Python worker, over one
 * unix-socket connection per worker thread. A frame is one type byte, a
 * 4-byte big-endian length, then the payload; `runner.py` describes each
 * type. Native strings travel as Latin-1 bytes, so they round-trip exactly.
 *
 * @module
 */
import { bytesNative } from "../_shared/native.ts";

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

/**
 * Pairs of native strings as length-prefixed Latin-1 fields, written
 * straight into one buffer: a native string has one byte a character, so
 * the size is known before any is encoded (a request's environ is some 40
 * strings, and a buffer each cost a tenth of the Deno side's time).
 */
export function encodePairs(pairs: readonly [string, string][]): Uint8Array {
  let size = 0;
  for (const [name, value] of pairs) size += 8 + name.length + value.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const [name, value] of pairs) {
    at = putField(out, at, name);
    at = putField(out, at, value);
  }
  return out;
}

function putField(out: Uint8Array, at: number, text: string): number {
  const length = text.length;
  out[at] = length >>> 24;
  out[at + 1] = (length >>> 16) & 0xff;
  out[at + 2] = (length >>> 8) & 0xff;
  out[at + 3] = length & 0xff;
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

/** The reverse of {@linkcode encodePairs}. */
export function decodePairs(payload: Uint8Array): [string, string][] {
  const view = new DataView(
    payload.buffer,
    payload.byteOffset,
    payload.byteLength,
  );
  const items: string[] = [];
  for (let at = 0; at < payload.length;) {
    const length = view.getUint32(at);
    items.push(bytesNative(payload.subarray(at + 4, at + 4 + length)));
    at += 4 + length;
  }
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < items.length; i += 2) {
    pairs.push([items[i], items[i + 1]]);
  }
  return pairs;
}

/** Frames over one connection: one reader at a time, writes in order. */
export class Channel {
  readonly conn: Deno.Conn;
  #buffer: Uint8Array = EMPTY;
  #scratch = new Uint8Array(65536);
  #writing: Promise<void> = Promise.resolve();
  #closed = false;
  #ended = false;

  constructor(conn: Deno.Conn) {
    this.conn = conn;
  }

  /** The types of the frames already read in whole, without taking them. */
  inHand(): FrameType[] {
    const types: FrameType[] = [];
    const buffer = this.#buffer;
    const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.length);
    for (let at = 0; at + 5 <= buffer.length;) {
      const end = at + 5 + view.getUint32(at + 1);
      if (end > buffer.length) break;
      types.push(String.fromCharCode(buffer[at]) as FrameType);
      at = end;
    }
    return types;
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
      if (this.#buffer.length >= 5) {
        const view = new DataView(
          this.#buffer.buffer,
          this.#buffer.byteOffset,
          5,
        );
        const length = view.getUint32(1);
        if (this.#buffer.length >= 5 + length) {
          const type = String.fromCharCode(this.#buffer[0]) as FrameType;
          // #fill gives every read a buffer of its own, never written to
          // again, so the payload (a body chunk may outlive the frame) is a
          // view of it.
          const payload = this.#buffer.subarray(5, 5 + length);
          this.#buffer = this.#buffer.subarray(5 + length);
          return { type, payload };
        }
      }
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
    const joined = new Uint8Array(this.#buffer.length + n);
    joined.set(this.#buffer);
    joined.set(scratch.subarray(0, n), this.#buffer.length);
    this.#buffer = joined;
    return true;
  }

  /** Queues a frame; the promise settles once it is written (or lost). */
  send(type: FrameType, payload: Uint8Array = EMPTY): Promise<void> {
    const frame = new Uint8Array(5 + payload.length);
    frame[0] = type.charCodeAt(0);
    new DataView(frame.buffer).setUint32(1, payload.length);
    frame.set(payload, 5);
    this.#writing = this.#writing.then(async () => {
      for (let sent = 0; sent < frame.length && !this.#closed;) {
        sent += await this.conn.write(frame.subarray(sent));
      }
    }).catch(() => {
      // The worker is gone; its exit is reported where the frames are read.
    });
    return this.#writing;
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
