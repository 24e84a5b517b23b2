/**
 * `staticFiles()` over the users `Router`, at the root of the URL space and
 * a directory without the requested file: every request misses (a `stat`)
 * and falls through to the app. The directory is the one after `--root`.
 *
 * @module
 */
import { serveApp, usersRouter } from "./_routes.ts";
import { staticFiles } from "../../middleware/static_files.ts";

const root = Deno.args[Deno.args.indexOf("--root") + 1];
serveApp(staticFiles(root)(usersRouter()));
