/**
 * Reference for the hello rows: raw `Deno.serve` whose handler reads the
 * request line (`req.method`, `req.url`), as any handler that routes must.
 * `Deno.serve` fetches both from the runtime only when asked.
 *
 * @module
 */
import { LISTEN } from "./_listen.ts";
Deno.serve(LISTEN, (req) => {
  const line = `${req.method} ${req.url}`;
  return new Response(line.length > 0 ? "Hello, World!" : "", {
    headers: { "content-type": "text/plain" },
  });
});
