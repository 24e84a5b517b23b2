/**
 * Baseline for the hello rows: raw `Deno.serve` with the smallest possible
 * handler. Prints `Listening on <url>` so the harness learns the port.
 *
 * @module
 */
Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ hostname, port }) =>
    console.log(`Listening on http://${hostname}:${port}/`),
}, () =>
  new Response("Hello, World!", {
    headers: { "content-type": "text/plain" },
  }));
