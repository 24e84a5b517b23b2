/**
 * Baseline for the `Uint8Array` hello rows: raw `Deno.serve` answering with
 * the same preallocated bytes and a Content-Type, as `wsgi_hello_bytes.ts`.
 *
 * @module
 */
import { LISTEN } from "./_listen.ts";
import { HELLO_BYTES } from "./_hello.ts";

Deno.serve(LISTEN, () =>
  new Response(HELLO_BYTES, {
    headers: { "content-type": "text/plain" },
  }));
