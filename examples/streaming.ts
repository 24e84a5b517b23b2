/**
 * Pushing the body with `write()`, the imperative API PEP 3333 keeps for
 * frameworks that need it.
 *
 * `startResponse()` returns `write(chunk)`. Here it is asynchronous: the
 * promise resolves once the chunk is accepted, so awaiting it is how the
 * app waits for a slow client (backpressure). The first `write()` sends the
 * headers; as the length is not known up front, the response is streamed
 * (chunked on HTTP/1.1) and each line reaches the client as it is written.
 * The app must still return a body, here an empty one.
 *
 * ```sh
 * deno run -A server.ts examples/streaming.ts &
 * curl -N 'http://127.0.0.1:8000/?lines=5&delay=500'
 * ```
 *
 * `?lines=` is how many lines to send (1 to 100, default 5) and `?delay=`
 * the pause between them in milliseconds (0 to 1000, default 200).
 *
 * @module
 */
import type { App, Environ } from "../mod.ts";

/**
 * Waits between line `line` and the next. The default reads `?delay=`; the
 * tests pass one that waits for the client to have read the line.
 */
export type Pause = (environ: Environ, line: number) => Promise<void>;

/** Builds the streaming app around a pause between lines. */
export function streamingApp(pause: Pause = delayFromQuery): App {
  return async (environ, startResponse) => {
    const lines = clamp(query(environ).get("lines"), 1, 100, 5);
    const write = startResponse("200 OK", [
      ["Content-Type", "text/plain; charset=utf-8"],
      // Browsers hold back text they may still sniff; this lets them show
      // each line as it arrives.
      ["X-Content-Type-Options", "nosniff"],
      ["Cache-Control", "no-store"],
    ]);
    const signal = environ["deno.signal"];
    for (let line = 1; line <= lines; line++) {
      // A client that went away needs no more lines.
      if (signal?.aborted) break;
      await write(`line ${line} of ${lines}\n`);
      if (line < lines) await pause(environ, line);
    }
    return [];
  };
}

/** The query string's parameters. */
function query(environ: Environ): URLSearchParams {
  return new URLSearchParams(environ.QUERY_STRING);
}

/** `value` as an integer within `[min, max]`; `fallback` when absent or bad. */
function clamp(
  value: string | null,
  min: number,
  max: number,
  fallback: number,
): number {
  const n = value === null || value === "" ? NaN : Math.trunc(Number(value));
  return Number.isNaN(n) ? fallback : Math.min(max, Math.max(min, n));
}

/** Sleeps for `?delay=` milliseconds, cut short if the client goes away. */
function delayFromQuery(environ: Environ): Promise<void> {
  const ms = clamp(query(environ).get("delay"), 0, 1000, 200);
  const signal = environ["deno.signal"];
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done);
  });
}

/** The app, pausing `?delay=` milliseconds between lines. */
export const streaming: App = streamingApp();

export default streaming;
