/**
 * Hello world through `serve()` with a one-chunk `Uint8Array` body: the
 * fast path for bytes, against `raw_hello_bytes.ts`.
 *
 * @module
 */
import { LISTEN } from "./_listen.ts";
import type { App } from "../../mod.ts";
import { serve } from "../../server.ts";
import { HELLO_BYTES } from "./_hello.ts";

const app: App = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [HELLO_BYTES];
};

serve(app, LISTEN);
