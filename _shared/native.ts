/**
 * Native strings, PEP 3333's form of bytes in a string (code points 0-255,
 * one a byte), to and from text.
 *
 * @module
 */

const utf8 = new TextDecoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();
const NON_ASCII = /[^\0-\x7f]/;

/**
 * Decodes a native string (bytes as Latin-1 characters) as UTF-8.
 *
 * @param native The native string, every code point 0-255.
 * @param options `fatal: true` throws a `TypeError` on bytes that are not
 * UTF-8, instead of putting U+FFFD in their place.
 * @returns The text.
 *
 * @example
 * ```ts
 * import { decodeNative } from "@wsgi/deno";
 * import assert from "node:assert/strict";
 *
 * assert.equal(decodeNative("caf\xc3\xa9"), "café");
 * ```
 */
export function decodeNative(
  native: string,
  options: { fatal?: boolean } = {},
): string {
  return (options.fatal ? utf8Strict : utf8).decode(
    nativeBytes(native, "decode a native string"),
  );
}

/**
 * Encodes text as UTF-8 and returns the bytes as a native string, the form
 * a header value with non-ASCII text must take.
 *
 * @param text Any string.
 * @returns Its UTF-8 bytes as Latin-1 characters.
 *
 * @example
 * ```ts
 * import { encodeNative } from "@wsgi/deno";
 * import assert from "node:assert/strict";
 *
 * assert.equal(encodeNative("café"), "caf\xc3\xa9");
 * ```
 */
export function encodeNative(text: string): string {
  if (!NON_ASCII.test(text)) return text;
  return bytesNative(encoder.encode(text));
}

/**
 * A native string's bytes, one a character. `action` names what fails
 * (`Cannot <action>: ...`) on a character above U+00FF.
 */
export function nativeBytes(
  native: string,
  action = "encode a native string",
): Uint8Array {
  const bytes = new Uint8Array(native.length);
  for (let i = 0; i < native.length; i++) {
    const code = native.charCodeAt(i);
    if (code > 0xff) {
      throw new TypeError(
        `Cannot ${action}: the character at index ${i} is above U+00FF`,
      );
    }
    bytes[i] = code;
  }
  return bytes;
}

/** Bytes as a native string, one character a byte (Latin-1). */
export function bytesNative(bytes: Uint8Array): string {
  let out = "";
  // In slices: spreading a large array would overflow the call stack.
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return out;
}
