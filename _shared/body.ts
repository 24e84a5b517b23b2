/**
 * Body helpers that the response writer and the middleware share.
 *
 * @module
 */
import type { Chunk } from "../_contract/types.ts";
import { describe } from "./errors.ts";

const encoder = new TextEncoder();

/** Whether `value` has a `then` method (a promise or thenable). */
export function isThenable<T>(value: unknown): value is PromiseLike<T> {
  return value !== null && typeof value === "object" &&
    typeof (value as { then?: unknown }).then === "function";
}

// deno-lint-ignore no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;

/**
 * The number of bytes a chunk is sent as, a string UTF-8 encoded, without
 * encoding it (0 for what is not a chunk).
 */
export function byteLength(chunk: unknown): number {
  if (chunk instanceof Uint8Array) return chunk.length;
  if (typeof chunk !== "string") return 0;
  // Most text is ASCII, one byte a unit, which a regex finds natively.
  if (!NON_ASCII.test(chunk)) return chunk.length;
  let bytes = chunk.length;
  for (let i = 0; i < chunk.length; i++) {
    const code = chunk.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) bytes += 1;
    else if (
      code >= 0xd800 && code < 0xdc00 &&
      (chunk.charCodeAt(i + 1) & 0xfc00) === 0xdc00
    ) {
      // A surrogate pair: four bytes for two UTF-16 units.
      bytes += 2;
      i++;
    } else bytes += 2;
  }
  return bytes;
}

/** Joins byte arrays into one. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * `chunk` if it is one a body may hold; else a `TypeError` naming `where`
 * it came from (`"the body"`, `"write()"`).
 */
export function checkChunk(chunk: unknown, where: string): Chunk {
  if (typeof chunk === "string" || chunk instanceof Uint8Array) return chunk;
  throw new TypeError(
    `Cannot send ${where}: chunks must be strings or Uint8Arrays, got ${
      describe(chunk)
    }`,
  );
}

/** A chunk's bytes, a string UTF-8 encoded; see {@linkcode checkChunk}. */
export function toBytes(chunk: unknown, where: string): Uint8Array {
  const checked = checkChunk(chunk, where);
  return typeof checked === "string" ? encoder.encode(checked) : checked;
}

/** The error for a body that yields before its app called startResponse(). */
export function noStart(): TypeError {
  return new TypeError(
    "Cannot send the body: the app did not call startResponse() before " +
      "its body yielded (PEP 3333)",
  );
}
