/**
 * `accessLog()` over the users `Router`, writing to a real file: the path
 * after `--log` (the bench makes it in a temp dir and removes it).
 *
 * @module
 */
import { serveApp, usersRouter } from "./_routes.ts";
import { accessLog } from "../../middleware/access_log.ts";

const path = Deno.args[Deno.args.indexOf("--log") + 1];
const file = Deno.openSync(path, { write: true, create: true, append: true });
serveApp(accessLog({ output: file })(usersRouter()));
