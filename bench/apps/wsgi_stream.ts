/**
 * 1 MiB through `serve()` as a generator yielding the 16 preallocated
 * 64 KiB chunks: the gateway's streaming path (a ReadableStream it pulls
 * from the app's iterator).
 *
 * @module
 */
import { LISTEN } from "./_listen.ts";
import type { App } from "../../mod.ts";
import { serve } from "../../server.ts";
import { CHUNKS } from "./_body.ts";

const app: App = function* (_environ, startResponse) {
  startResponse("200 OK", [["Content-Type", "application/octet-stream"]]);
  yield* CHUNKS;
};

serve(app, LISTEN);
