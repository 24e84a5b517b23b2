/**
 * The HTTP grammar that the server, the middleware and the validator all
 * check against: tokens, reason phrases, what a field value may not hold,
 * and the hop-by-hop headers. A stricter check of the validator is written
 * there, on top of these.
 *
 * @module
 */

// RFC 9110 5.6.2: token = 1*tchar.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// RFC 9112 4: reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ); the
// status line's reason is optional, so an empty one is allowed here.
const REASON = /^[\t\x20-\x7e\x80-\xff]*$/;
// CR, LF and NUL split or truncate a message; above U+00FF is not a byte.
const FORBIDDEN_IN_VALUE = /[\0\r\n]|[^\0-\xff]/;
const SPLITS_MESSAGE = /[\0\r\n]/;

/** Whether `text` is an RFC 9110 token, the form of a field name. */
export function isToken(text: string): boolean {
  return TOKEN.test(text);
}

/** Whether `text` may stand as the reason phrase of a status line. */
export function isReasonPhrase(text: string): boolean {
  return REASON.test(text);
}

/**
 * What keeps `value` from being sent as a field value: `"split"` for CR, LF
 * or NUL, `"not native"` for a character above U+00FF, else undefined.
 */
export function badFieldValue(
  value: string,
): "split" | "not native" | undefined {
  if (!FORBIDDEN_IN_VALUE.test(value)) return undefined;
  return SPLITS_MESSAGE.test(value) ? "split" : "not native";
}

/**
 * The hop-by-hop headers PEP 3333 keeps from apps (RFC 9110 7.6.1): they
 * describe one connection, which the server owns, not the message.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailers",
  "transfer-encoding",
  "upgrade",
]);
