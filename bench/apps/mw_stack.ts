/**
 * The realistic stack: `errors()` + `accessLog()` (to stdout, its default)
 * + `proxyFix()` + the users `Router`. Compared with `hono_stack.ts`.
 *
 * @module
 */
import { serveApp, usersRouter } from "./_routes.ts";
import { compose } from "../../middleware/compose.ts";
import { accessLog } from "../../middleware/access_log.ts";
import { errors } from "../../middleware/errors.ts";
import { proxyFix } from "../../middleware/proxy_fix.ts";

serveApp(compose(accessLog(), errors(), proxyFix())(usersRouter()));
