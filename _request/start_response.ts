/**
 * The checks of `startResponse`: a status line and headers that break a
 * rule of PEP 3333 or of HTTP are refused with a `TypeError` naming the rule,
 * so that nothing an app passes can split a response.
 *
 * @module
 */
import type { Header } from "../_contract/types.ts";
import { describe, escapeControls } from "../_shared/errors.ts";
import { REASONS } from "../_shared/status.ts";
import {
  badFieldValue,
  HOP_BY_HOP,
  isReasonPhrase,
  isToken,
} from "../_shared/http_grammar.ts";

/** The error that a broken rule produces; its message names the rule. */
function ruleError(message: string): TypeError {
  return new TypeError(message);
}

/** Quotes a value from the app for a message, escaping control characters. */
function quote(value: string): string {
  return `"${
    escapeControls(value.length > 80 ? value.slice(0, 80) + "..." : value)
  }"`;
}

/** A checked response start, ready for `new Response()`. */
export interface Start {
  code: number;
  // Empty when the reason is the standard one, which Deno.serve sends anyway.
  reason: string;
  // A record converts into Headers about twice as fast as a list of pairs;
  // the list is kept only when a name repeats (Set-Cookie). The record
  // leaves out Content-Length, which is sent only where Deno.serve would not
  // work it out itself (see Exchange.#init).
  headers: Record<string, string> | Header[];
  contentLength: number;
}

/** Checks a status line and headers against PEP 3333 and HTTP. */
export function checkResponseStart(status: unknown, headers: unknown): Start {
  if (typeof status !== "string") {
    throw ruleError(
      `Cannot start the response: status must be a string like "200 OK", got ${
        describe(status)
      }`,
    );
  }
  const code = statusCode(status);
  const reason = status.slice(4);
  const standard = reason === REASONS[code];
  if (code < 0 || (!standard && !isReasonPhrase(reason))) {
    throw ruleError(
      `Cannot start the response: status ${
        quote(status)
      } is not a three-digit code, a space and a reason phrase (PEP 3333)`,
    );
  }
  if (code < 200 || code > 599) {
    throw ruleError(
      `Cannot start the response: status ${code} is outside 200-599; ` +
        "Deno.serve sends informational responses itself",
    );
  }
  if (!Array.isArray(headers)) {
    throw ruleError(
      `Cannot start the response: headers must be an array of [name, value] pairs, got ${
        describe(headers)
      }`,
    );
  }
  let contentLength = -1;
  let record: Record<string, string> | undefined = {};
  for (const header of headers) {
    if (
      !Array.isArray(header) || header.length !== 2 ||
      typeof header[0] !== "string" || typeof header[1] !== "string"
    ) {
      throw ruleError(
        "Cannot start the response: each header must be a [name, value] " +
          `pair of strings, got ${describe(header)}`,
      );
    }
    const [name, value] = header as Header;
    const lower = lowerName(name);
    const bad = badFieldValue(value);
    if (bad !== undefined) {
      throw ruleError(
        bad === "split"
          ? `Cannot start the response: the value of header ${name} contains CR, LF or NUL, which would split the response`
          : `Cannot start the response: the value of header ${name} has a character above U+00FF; ` +
            "encode it to a native string first (PEP 3333)",
      );
    }
    if (HOP_BY_HOP.has(lower)) {
      throw ruleError(
        `Cannot start the response: ${name} is a hop-by-hop header, which ` +
          "only the server may set (PEP 3333)",
      );
    }
    if (lower === "content-length") {
      if (!/^\d+$/.test(value.trim())) {
        throw ruleError(
          `Cannot start the response: Content-Length ${
            quote(value)
          } is not a non-negative integer`,
        );
      }
      const length = Number(value);
      // Two lengths leave the client to guess where the body ends (RFC 9110 8.6).
      if (contentLength >= 0 && length !== contentLength) {
        throw ruleError(
          `Cannot start the response: Content-Length is given twice, as ${contentLength} and ${length}`,
        );
      }
      contentLength = length;
    }
    if (record !== undefined && lower !== "content-length") {
      if (lower in record || lower === "__proto__") record = undefined;
      else record[lower] = value;
    }
  }
  return {
    code,
    reason: standard ? "" : reason,
    headers: record ?? headers,
    contentLength,
  };
}

/** The code of a `"NNN Reason"` status, or -1 when it has not that form. */
function statusCode(status: string): number {
  if (status.length < 4 || status.charCodeAt(3) !== 32) return -1;
  let code = 0;
  for (let i = 0; i < 3; i++) {
    const digit = status.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    code = code * 10 + digit;
  }
  return code;
}

// Apps send the same few header names over and over; remembering the
// checked ones saves a regex test and a lowercase copy per header.
const checkedNames = new Map<string, string>();

/** Checks that `name` is a token and returns it in lowercase. */
function lowerName(name: string): string {
  const known = checkedNames.get(name);
  if (known !== undefined) return known;
  if (!isToken(name)) {
    throw ruleError(
      `Cannot start the response: header name ${
        quote(name)
      } is not an RFC 9110 token`,
    );
  }
  const lower = name.toLowerCase();
  if (checkedNames.size < 1024) checkedNames.set(name, lower);
  return lower;
}
