/**
 * The hello body as bytes, allocated once at startup and shared by the two
 * `Uint8Array` hello apps, so that both measure sending, not encoding.
 *
 * @module
 */

/** `Hello, World!` in UTF-8, reused (read-only) by every request. */
export const HELLO_BYTES: Uint8Array<ArrayBuffer> = new TextEncoder().encode(
  "Hello, World!",
);
