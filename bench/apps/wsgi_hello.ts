/**
 * Hello world through `serve()`: a one-chunk array body, the fast path.
 *
 * @module
 */
import type { App } from "../../mod.ts";
import { serve } from "../../server.ts";

const app: App = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return ["Hello, World!"];
};

serve(app, {
  hostname: "127.0.0.1",
  port: 0,
  onListen: (addr) => {
    const { hostname, port } = addr as Deno.NetAddr;
    console.log(`Listening on http://${hostname}:${port}/`);
  },
});
