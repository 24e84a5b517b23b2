/** `accessLog()` over the users `Router`, each line given to a no-op function. */
import { serveApp, usersRouter } from "./_routes.ts";
import { accessLog } from "../../middleware/access_log.ts";

serveApp(accessLog({ output: () => {} })(usersRouter()));
