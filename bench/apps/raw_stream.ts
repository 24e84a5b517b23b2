/**
 * Baseline for the streaming rows: raw `Deno.serve` sending 1 MiB as a
 * pull-based ReadableStream of the 16 preallocated 64 KiB chunks, so Deno
 * asks for the next chunk only when it has room, as the gateway does.
 *
 * @module
 */
import { LISTEN } from "./_listen.ts";
import { CHUNKS } from "./_body.ts";

function body(): ReadableStream<Uint8Array> {
  let next = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(CHUNKS[next++]);
      // Closing with the last chunk saves a pull; the baseline should be lean.
      if (next === CHUNKS.length) controller.close();
    },
  });
}

Deno.serve(LISTEN, () =>
  new Response(body(), {
    headers: { "content-type": "application/octet-stream" },
  }));
