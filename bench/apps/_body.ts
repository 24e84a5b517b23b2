/**
 * The streamed body shared by the two streaming apps: 1 MiB as 16 chunks of
 * 64 KiB, allocated once at startup so that both servers measure sending,
 * not allocating or filling buffers.
 *
 * @module
 */

/** Size of one chunk: 64 KiB. */
export const CHUNK_SIZE = 64 * 1024;

/** The 16 chunks, reused (read-only) by every request. */
export const CHUNKS: readonly Uint8Array[] = Array.from(
  { length: 16 },
  (_, i) => new Uint8Array(CHUNK_SIZE).fill(97 + i),
);
