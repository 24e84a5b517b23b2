/**
 * The percent codec of RFC 3986 section 2.1 over native strings (one
 * character a byte, as PEP 3333 carries paths).
 *
 * @module
 */

const encoder = new TextEncoder();

// RFC 3986 unreserved characters never need escaping.
const UNRESERVED = /[A-Za-z0-9_.~-]/;

/**
 * The characters of RFC 3986 pchar besides unreserved ones, and "/": what a
 * path may carry unencoded.
 */
export const PATH_SAFE = "!$&'()*+,;=:@/";

/** `%XX` for the byte `code`, hex digits in upper case (RFC 3986 2.1). */
export function percentByte(code: number): string {
  return "%" + code.toString(16).toUpperCase().padStart(2, "0");
}

/**
 * Percent-encodes a native string, leaving unreserved and `safe` characters.
 * A character above U+00FF, which a native string does not hold, is encoded
 * as its UTF-8 bytes.
 */
export function quoteNative(native: string, safe: string): string {
  let out = "";
  for (const char of native) {
    const code = char.charCodeAt(0);
    if (UNRESERVED.test(char) || safe.includes(char)) out += char;
    else if (code <= 0xff) out += percentByte(code);
    else {
      for (const byte of encoder.encode(char)) out += percentByte(byte);
    }
  }
  return out;
}

/**
 * Percent-decodes a path into a native string: each `%XX` becomes the
 * character with code XX, so UTF-8 bytes arrive as Latin-1 characters, as
 * PEP 3333 has it. A `%` not followed by two hex digits is kept as it is,
 * like Python's `unquote`.
 */
export function unquoteNative(path: string): string {
  if (!path.includes("%")) return path;
  return path.replace(
    /%([0-9A-Fa-f]{2})/g,
    (_, hex: string) => String.fromCharCode(parseInt(hex, 16)),
  );
}
