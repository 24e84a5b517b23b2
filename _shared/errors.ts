import type { ErrorSink, ErrorStream } from "../_contract/types.ts";

const encoder = new TextEncoder();

function writeStderr(text: string): void {
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) {
    written += Deno.stderr.writeSync(bytes.subarray(written));
  }
}

/** The `wsgi.errors` stream over a sink; stderr when none is given. */
export function errorStream(sink?: ErrorSink): ErrorStream {
  if (sink && typeof sink === "object") return sink;
  const write = sink ?? writeStderr;
  return {
    write,
    writelines(lines) {
      for (const line of lines) write(line);
    },
    flush() {},
  };
}

// ECMA-48 escape sequences: CSI (colours, cursor moves), OSC, and the
// two-character ones.
const ANSI =
  // deno-lint-ignore no-control-regex
  /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])/g;

/**
 * `text` without ANSI escape sequences. Deno colours some of its own error
 * messages (a module not found, say) whatever the output is; a page, a log
 * file or a pipe gets them plain.
 */
export function stripAnsi(text: string): string {
  return text.replace(ANSI, "");
}

/**
 * Renders an error for a log line: its stack when it has one. Colour codes
 * are dropped and other control characters escaped, so that a message
 * cannot forge further log lines.
 */
export function formatError(error: unknown): string {
  const text = error instanceof Error
    ? (error.stack ?? `${error.name}: ${error.message}`)
    : `thrown value: ${safeString(error)}`;
  return escapeControls(stripAnsi(text), true);
}

function safeString(value: unknown): string {
  try {
    return typeof value === "string" ? JSON.stringify(value) : String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** Escapes control characters (keeping newlines when `keepNewlines`). */
export function escapeControls(text: string, keepNewlines = false): string {
  return text.replace(
    // deno-lint-ignore no-control-regex
    /[\x00-\x1f\x7f]/g,
    (c) =>
      keepNewlines && c === "\n"
        ? c
        : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

/** Names a value's kind for error messages without dumping its contents. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Uint8Array) return "a Uint8Array";
  if (typeof value === "object") {
    const name = Object.getPrototypeOf(value)?.constructor?.name;
    return name && name !== "Object" ? `a ${name}` : "an object";
  }
  return typeof value === "undefined" ? "undefined" : `a ${typeof value}`;
}

/** An error's message, or a thrown non-Error as text, without colour codes. */
export function messageOf(error: unknown): string {
  return stripAnsi(error instanceof Error ? error.message : String(error));
}
