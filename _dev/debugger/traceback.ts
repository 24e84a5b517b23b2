/**
 * The traceback model: an error's stack as frames, each with its source
 * lines and whether it is the app's own code, this library's, or the
 * runtime's.
 *
 * @module
 */
import { fileURLToPath, pathToFileURL } from "node:url";
import { stripAnsi } from "../../_shared/errors.ts";
import { insideFunction } from "./scope.ts";

/** Who a frame's code belongs to. */
export type FrameKind = "app" | "library" | "runtime";

/** One frame of a stack, most recent first. */
export interface Frame {
  /**
   * The function's name: `<anonymous>` for a function without one,
   * `<module>` for a module's top-level code.
   */
  fn: string;
  /** The module's URL as the stack names it. */
  url: string;
  line: number;
  column: number;
  kind: FrameKind;
  /** Source lines around `line`, when the file can be read. */
  source?: { first: number; lines: string[] };
  /** A Python frame's local variables, as short reprs. */
  locals?: [string, string][];
  /** A Python frame's place in its traceback, oldest call 0: the console's. */
  index?: number;
}

// "    at fn (url:line:col)" or "    at url:line:col", either after "async "
// when the frame awaited.
const FRAME = /^\s*at (?:async )?(?:(.*?) \()?(.+?):(\d+):(\d+)\)?$/;
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

/** Reads each local module once per traceback. */
class Sources {
  #texts = new Map<string, string[] | undefined>();

  lines(url: string): string[] | undefined {
    if (!url.startsWith("file:")) return undefined;
    if (!this.#texts.has(url)) {
      try {
        const lines = Deno.readTextFileSync(fileURLToPath(url)).split("\n");
        // A file's last newline ends its last line; no empty one follows.
        if (lines.at(-1) === "") lines.pop();
        this.#texts.set(url, lines);
      } catch {
        this.#texts.set(url, undefined);
      }
    }
    return this.#texts.get(url);
  }

  around(url: string, line: number): Frame["source"] {
    const lines = this.lines(url);
    if (lines === undefined) return undefined;
    const first = Math.max(1, line - RADIUS);
    return { first, lines: lines.slice(first - 1, line + RADIUS) };
  }

  /** A nameless frame's name: top-level code unless its place is in a function. */
  nameless(url: string, line: number, column: number): string {
    const lines = this.lines(url);
    return lines !== undefined &&
        !insideFunction(lines.join("\n"), line, column)
      ? "<module>"
      : "<anonymous>";
  }
}

// A module that fails to load names its place at the end of its message (a
// syntax error, a missing module or export), not in its stack; a path that
// an app's message quotes elsewhere is not one.
const PLACE = /at (file:\/\/\S+?):(\d+):(\d+)$/;

// A Python traceback's frame line; a SyntaxError's own place has no
// function.
const PYTHON_FRAME = /^ {2}File "(.+)", line (\d+)(?:, in (.+))?$/;
const PYTHON_TRACEBACK = "Traceback (most recent call last):";

function pythonKind(path: string): FrameKind {
  if (path.startsWith("<")) return "runtime";
  if (/\/(site|dist)-packages\//.test(path)) return "library";
  // The runner, which the pool copies into its own folder.
  if (/\/wsgi-python-[^/]+\/runner\.py$/.test(path)) return "library";
  return /\/lib\/python3(\.\d+)?\//.test(path) ? "runtime" : "app";
}

/**
 * The frames of a Python traceback (what `traceback.format_exc()` writes),
 * most recent first as for a JavaScript stack. With chained exceptions, the
 * frames are the last exception's, the one that reached the server.
 */
export function pythonFrames(text: string): Frame[] {
  const split = text.lastIndexOf(LOCALS);
  const locals = split < 0 ? [] : pythonLocals(text.slice(split));
  if (split >= 0) text = text.slice(0, split);
  const last = text.lastIndexOf(PYTHON_TRACEBACK);
  const sources = new Sources();
  const frames: Frame[] = [];
  for (const line of text.slice(Math.max(0, last)).split("\n")) {
    const match = PYTHON_FRAME.exec(line);
    if (match === null) continue;
    const [, path, number, fn] = match;
    const url = path.startsWith("/") ? pathToFileURL(path).href : path;
    frames.unshift({
      fn: fn ?? "<module>",
      url,
      line: Number(number),
      column: 0,
      kind: pythonKind(path),
      source: sources.around(url, Number(number)),
      locals: locals[frames.length],
      index: frames.length,
    });
  }
  return frames;
}

// The runner's section of each frame's locals, in debug mode.
const LOCALS = "Locals (most recent call last):";

/** Each frame's locals, from the runner's section, oldest call first. */
function pythonLocals(section: string): [string, string][][] {
  const frames: [string, string][][] = [];
  for (const line of section.split("\n")) {
    if (line.startsWith("  File ")) frames.push([]);
    const local = /^ {4}\| (\w+) = (.*)$/.exec(line);
    if (local !== null && frames.length > 0) {
      frames[frames.length - 1].push([local[1], local[2]]);
    }
  }
  return frames;
}

/**
 * The key under which the runner keeps a Python error's frames for the
 * console, if it does.
 */
export function pythonConsoleKey(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  return /\n {2}Console (\S+)\n/.exec(error.stack ?? "")?.[1];
}

/** Whether `error` came from Python: its stack is a Python traceback. */
function isPython(error: Error): boolean {
  return (error.stack ?? "").startsWith(PYTHON_TRACEBACK);
}

/**
 * The frames of `error`'s stack, with source lines for local files. A
 * failed import's own place, which its message names, comes first.
 */
export function framesOf(error: unknown): Frame[] {
  if (!(error instanceof Error)) return [];
  if (isPython(error)) return pythonFrames(error.stack!);
  const message = stripAnsi(error.message);
  let stack = stripAnsi(error.stack ?? "");
  // The stack starts with the message, whose lines are not frames.
  const head = `${error.name}: ${message}`;
  if (stack.startsWith(head)) stack = stack.slice(head.length);
  const sources = new Sources();
  const frames: Frame[] = [];
  const place = PLACE.exec(message);
  if (place !== null) {
    const [, url, line, column] = place;
    frames.push({
      fn: "<module>",
      url,
      line: Number(line),
      column: Number(column),
      kind: kindOf(url),
      source: sources.around(url, Number(line)),
    });
  }
  for (const text of stack.split("\n")) {
    const match = FRAME.exec(text);
    if (match === null) continue;
    const [, fn, url] = match;
    const line = Number(match[3]);
    const column = Number(match[4]);
    frames.push({
      fn: fn || sources.nameless(url, line, column),
      url,
      line,
      column,
      kind: kindOf(url),
      source: sources.around(url, line),
    });
  }
  return frames;
}

/** The error's first line: its name and message. */
export function headline(error: unknown): string {
  // A Python exception's message is its own headline, its class first.
  if (error instanceof Error && error.name === "PythonError") {
    return error.message;
  }
  return stripAnsi(
    error instanceof Error
      ? `${error.name}: ${error.message}`
      : `Uncaught ${
        typeof error === "string" ? JSON.stringify(error) : String(error)
      }`,
  );
}

/** Where a frame is: url:line:column, or url:line for Python's, which have no column. */
export function place(frame: Frame): string {
  return frame.column > 0
    ? `${frame.url}:${frame.line}:${frame.column}`
    : `${frame.url}:${frame.line}`;
}

/** A plain-text traceback, most recent call first, for terminals and copying. */
export function tracebackText(
  error: unknown,
  frames = framesOf(error),
): string {
  const lines = [headline(error), "", "Traceback (most recent call first):"];
  for (const frame of frames) {
    lines.push(
      `  ${frame.kind === "app" ? "*" : " "} at ${frame.fn} (${place(frame)})`,
    );
    const text = frame.source?.lines[frame.line - frame.source.first];
    if (text !== undefined) lines.push(`        ${text.trim()}`);
    for (const [name, value] of frame.locals ?? []) {
      lines.push(`        | ${name} = ${value}`);
    }
  }
  lines.push("", "(* marks the app's own frames)");
  return lines.join("\n") + "\n";
}
