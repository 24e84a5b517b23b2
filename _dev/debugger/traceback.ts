/**
 * The traceback model: an error's stack as frames, each with its source
 * lines and whether it is the app's own code, this library's, or the
 * runtime's.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** Who a frame's code belongs to. */
export type FrameKind = "app" | "library" | "runtime";

/** One frame of a stack, most recent first. */
export interface Frame {
  /** The function, or `""` for top-level code. */
  fn: string;
  /** The module's URL as the stack names it. */
  url: string;
  line: number;
  column: number;
  kind: FrameKind;
  /** Source lines around `line`, when the file can be read. */
  source?: { first: number; lines: string[] };
}

// "    at fn (url:line:col)" or "    at url:line:col".
const FRAME = /^\s*at (?:(.*?) \()?(.+?):(\d+):(\d+)\)?$/;
const LIBRARY = new URL("../../", import.meta.url).href;
const RADIUS = 5;

function kindOf(url: string): FrameKind {
  if (!/^(file|https?|jsr|npm):/.test(url)) return "runtime";
  if (!url.startsWith("file:")) return "library";
  // This repository's own examples and tests count as apps.
  return url.startsWith(LIBRARY) && !url.startsWith(LIBRARY + "examples/") &&
      !url.startsWith(LIBRARY + "tests/")
    ? "library"
    : "app";
}

function sourceAround(url: string, line: number): Frame["source"] {
  if (!url.startsWith("file:")) return undefined;
  try {
    const lines = Deno.readTextFileSync(fileURLToPath(url)).split("\n");
    const first = Math.max(1, line - RADIUS);
    return { first, lines: lines.slice(first - 1, line + RADIUS) };
  } catch {
    return undefined;
  }
}

// A syntax error names its place in its message, not in its stack.
const PLACE = /at (file:\/\/\S+?):(\d+):(\d+)/;

/**
 * The frames of `error`'s stack, with source lines for local files. A
 * syntax error's own place, which its message names, comes first.
 */
export function framesOf(error: unknown): Frame[] {
  const stack = error instanceof Error ? error.stack ?? "" : "";
  const frames: Frame[] = [];
  const place = error instanceof SyntaxError ? PLACE.exec(error.message) : null;
  if (place !== null) {
    const [, url, line, column] = place;
    frames.push({
      fn: "",
      url,
      line: Number(line),
      column: Number(column),
      kind: kindOf(url),
      source: sourceAround(url, Number(line)),
    });
  }
  for (const text of stack.split("\n")) {
    const match = FRAME.exec(text);
    if (match === null) continue;
    const [, fn = "", url, line, column] = match;
    const frame: Frame = {
      fn: fn.replace(/^async /, ""),
      url,
      line: Number(line),
      column: Number(column),
      kind: kindOf(url),
    };
    frame.source = sourceAround(url, frame.line);
    frames.push(frame);
  }
  return frames;
}

/** The error's first line: its name and message. */
export function headline(error: unknown): string {
  return error instanceof Error
    ? `${error.name}: ${error.message}`
    : `Uncaught ${
      typeof error === "string" ? JSON.stringify(error) : String(error)
    }`;
}

/** A plain-text traceback, most recent call first, for terminals and copying. */
export function tracebackText(
  error: unknown,
  frames = framesOf(error),
): string {
  const lines = [headline(error), "", "Traceback (most recent call first):"];
  for (const frame of frames) {
    lines.push(
      `  ${frame.kind === "app" ? "*" : " "} at ${
        frame.fn || "<module>"
      } (${frame.url}:${frame.line}:${frame.column})`,
    );
    const text = frame.source?.lines[frame.line - frame.source.first];
    if (text !== undefined) lines.push(`        ${text.trim()}`);
  }
  lines.push("", "(* marks the app's own frames)");
  return lines.join("\n") + "\n";
}
