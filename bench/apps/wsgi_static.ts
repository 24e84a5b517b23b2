/**
 * The file rows through `serve()`: `staticFiles()` over the directory of
 * the bench files, in front of an app that answers 404. Each request pays
 * for everything the middleware does: decode and check the path,
 * `realpath`, `stat`, validators, `open`, and the body through
 * `wsgi.file_wrapper`.
 *
 * @module
 */
import { LISTEN } from "./_listen.ts";
import type { App } from "../../mod.ts";
import { serve } from "../../server.ts";
import { staticFiles } from "../../middleware/static_files.ts";
import { filesDir } from "./_files.ts";

const notFound: App = (_environ, startResponse) => {
  startResponse("404 Not Found", [["Content-Type", "text/plain"]]);
  return ["Not Found\n"];
};

serve(staticFiles(filesDir())(notFound), LISTEN);
