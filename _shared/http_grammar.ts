/**
 * Header facts shared by the server and the middleware.
 *
 * @module
 */

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
