/**
 * The checks of a request's head that `Deno.serve` leaves to its handler:
 * the Host header, the request target's authority and fragment, the
 * singleton Content-Type, and transfer codings it does not decode. The one
 * adapter (`adapter.ts`) calls {@linkcode checkRequest} for every entry
 * before it builds an environ, so that the environ can read the path by
 * position (see `makeEnviron`).
 *
 * @module
 */
import { authorityEnd } from "./environ.ts";
import { field, innerFields, type RequestHead } from "./request_parts.ts";
import { isHostAndPort } from "../_shared/host.ts";
import { hasBareComma } from "../_shared/list.ts";

// The bodies name the rule and never echo what the client sent.
const NO_HOST =
  "Bad Request: the request has no Host header, which HTTP/1.1 requires (RFC 9112 section 3.2)\n";
const BAD_HOST =
  "Bad Request: the Host header is not a host and an optional port (RFC 9112 section 3.2, RFC 3986 section 3.2.2)\n";
const BAD_AUTHORITY =
  "Bad Request: the authority of the request target is not a host and an optional port (RFC 9110 section 4.2.4, RFC 3986 section 3.2.2)\n";
const FRAGMENT =
  "Bad Request: the request target has a fragment, which a request target never has (RFC 9112 section 3.2)\n";
const CODING =
  "Not Implemented: the one transfer coding this server decodes is chunked (RFC 9112 section 6.1)\n";
const CONTENT_TYPE =
  "Bad Request: Content-Type is not one media type; it is a singleton field, given once (RFC 9110 sections 5.3 and 8.3)\n";

const CHUNKED = /^[ \t]*chunked[ \t]*$/i;
// Most requests name the same host as the one before.
let lastHost = "";

function refuse(text: string, status = 400): Response {
  return new Response(text, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

/**
 * The 400 (or 501) that `req` gets before any app runs, or undefined when
 * its head is sound. `info` says the request came over a connection (from
 * `Deno.serve`), where a missing Host can be told apart.
 *
 * `req.url` is the scheme, then the request target's authority (absolute
 * form, or HTTP/2's `:authority`) or else the Host header as received, or
 * else `localhost:<port>` (a unix socket: its path percent-encoded), then
 * the target's path and query as received.
 */
export function checkRequest(
  req: RequestHead,
  info: Deno.ServeHandlerInfo | undefined,
): Response | undefined {
  const url = req.url;
  const inner = innerFields(req);
  const host = field(req, inner, "host");
  const start = url.indexOf("://") + 3;
  // 1. A Host that is not a host would move the path's start (RFC 9112 3.2).
  if (host === null) {
    if (info !== undefined && isFallbackHost(url, start)) {
      return refuse(NO_HOST);
    }
  } else if (host !== lastHost) {
    if (!isHostAndPort(host)) return refuse(BAD_HOST);
    lastHost = host;
  }
  // 2. With a sound Host, the authority is the target's or the Host itself.
  const end = authorityEnd(url, start);
  if (
    (host === null || end - start !== host.length ||
      !url.startsWith(host, start)) && !isHostAndPort(url.slice(start, end))
  ) {
    return refuse(BAD_AUTHORITY);
  }
  // 3. A "#" is not in the grammar of a request target.
  if (url.indexOf("#", end) >= 0) return refuse(FRAGMENT);
  // A GET or HEAD gets no body from Deno.serve, so a type or coding would
  // describe nothing, and a hello world reads two fields fewer.
  const method = req.method;
  if (method === "GET" || method === "HEAD") return undefined;
  // 4. Deno joins repeated fields with ", "; one media type has a comma
  // only inside a quoted string (RFC 9110 8.3.1).
  const type = field(req, inner, "content-type");
  if (type !== null && type.includes(",") && hasBareComma(type)) {
    return refuse(CONTENT_TYPE);
  }
  // 5. Deno.serve refuses a coding list that does not end in chunked, and
  // decodes only that one: the app would get "gzip, chunked" still gzipped.
  const coding = field(req, inner, "transfer-encoding");
  if (coding !== null && !CHUNKED.test(coding)) {
    return refuse(CODING, 501);
  }
  return undefined;
}

/**
 * Whether the authority at `start` is the one `Deno.serve` puts in place of
 * a missing Host: `localhost:<port>`, or a unix socket's path. Over TLS an
 * HTTP/2 request carries `:authority` instead of Host and may name
 * `localhost` too, and Deno does not say which version a request came in, so
 * only plain connections are checked.
 */
function isFallbackHost(url: string, start: number): boolean {
  if (url.startsWith("http+unix://%2F")) return true;
  if (start !== 7 || !url.startsWith("localhost:", start)) return false;
  let i = start + 10;
  const digits = i;
  while (i < url.length && url.charCodeAt(i) >= 48 && url.charCodeAt(i) <= 57) {
    i++;
  }
  return i > digits && (i === url.length || url.charCodeAt(i) === 47);
}
