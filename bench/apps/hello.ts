/**
 * Hello world as an app module for `server.ts`, the counterpart of
 * `hello.py` in `bench/gunicorn.ts`: the same status, headers and 13-byte
 * body, Content-Length included, as the Python callable sends.
 *
 * @module
 */
import type { App } from "../../mod.ts";

const app: App = (_environ, startResponse) => {
  startResponse("200 OK", [
    ["Content-Type", "text/plain"],
    ["Content-Length", "13"],
  ]);
  return ["Hello, World!"];
};

export default app;
