/**
 * Hello world through `serve()`: a one-chunk array body, the fast path.
 *
 * @module
 */
import { LISTEN } from "./_listen.ts";
import type { App } from "../../mod.ts";
import { serve } from "../../server.ts";

const app: App = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return ["Hello, World!"];
};

serve(app, LISTEN);
