/**
 * The app of `bench/soak.ts`: one route per kind of traffic the soak mixes.
 *
 * - `GET /small`: "Hello, World!" as a one-chunk array (the fast path).
 * - `GET /stream`: an async generator of {@linkcode STREAM_CHUNKS} chunks of
 *   {@linkcode STREAM_CHUNK_SIZE} bytes, chunk `i` filled with the byte
 *   `97 + i` ("a", "b", ...), allocated per request so that the soak
 *   exercises the garbage collector as a real app would.
 * - `POST /upload`: reads `wsgi.input` to its end and answers the number of
 *   bytes it read, as decimal text.
 * - `GET /memory`: runs a full garbage collection when the server was started
 *   with `--v8-flags=--expose-gc` (the soak does), then answers
 *   `Deno.memoryUsage()` as JSON: what is left is what the app and the
 *   server still hold, which is what a leak would make grow.
 *
 * Anything else is a 404, which the soak counts as a failure.
 *
 * @module
 */
import type { App, Header } from "../../mod.ts";

/** Chunks of a `/stream` response. */
export const STREAM_CHUNKS = 8;
/** Bytes of each `/stream` chunk. */
export const STREAM_CHUNK_SIZE = 4096;

const TEXT: Header[] = [["Content-Type", "text/plain"]];

async function* chunks(): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < STREAM_CHUNKS; i++) {
    yield new Uint8Array(STREAM_CHUNK_SIZE).fill(97 + i);
  }
}

const app: App = async (environ, startResponse) => {
  const route = `${environ.REQUEST_METHOD} ${environ.PATH_INFO}`;
  if (route === "GET /small") {
    startResponse("200 OK", TEXT);
    return ["Hello, World!"];
  }
  if (route === "GET /stream") {
    startResponse("200 OK", [["Content-Type", "application/octet-stream"]]);
    return chunks();
  }
  if (route === "POST /upload") {
    const body = await environ["wsgi.input"].read();
    startResponse("200 OK", TEXT);
    return [String(body.length)];
  }
  if (route === "GET /memory") {
    (globalThis as { gc?: () => void }).gc?.();
    startResponse("200 OK", [["Content-Type", "application/json"]]);
    return [JSON.stringify(Deno.memoryUsage())];
  }
  startResponse("404 Not Found", TEXT);
  return ["Not Found"];
};

export default app;
