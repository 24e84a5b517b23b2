/**
 * The hello app under `deno serve`, through `fetchExport()`. The harness
 * runs `deno serve --port 0 --host 127.0.0.1` on this file; `deno serve`
 * prints the bound address itself (on stderr).
 *
 * @module
 */
import type { App } from "../../mod.ts";
import { fetchExport } from "../../server.ts";

const app: App = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return ["Hello, World!"];
};

export default fetchExport(app);
