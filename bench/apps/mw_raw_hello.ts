/**
 * Raw `Deno.serve` hello on the port after `--port`, the baseline of the
 * `examples/stack.ts` row of `bench/middleware.ts` (which starts its
 * servers with stdout on /dev/null). Same handler as `raw_hello.ts`.
 *
 * @module
 */
const at = Deno.args.indexOf("--port");
Deno.serve({
  hostname: "127.0.0.1",
  port: Number(Deno.args[at + 1]),
  onListen() {},
}, () =>
  new Response("Hello, World!", {
    headers: { "content-type": "text/plain" },
  }));
