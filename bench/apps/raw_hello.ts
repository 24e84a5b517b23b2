/**
 * Baseline for the hello rows: raw `Deno.serve` with the smallest possible
 * handler. Prints `Listening on <url>` so the harness learns the port.
 *
 * @module
 */
import { LISTEN } from "./_listen.ts";
Deno.serve(LISTEN, () =>
  new Response("Hello, World!", {
    headers: { "content-type": "text/plain" },
  }));
