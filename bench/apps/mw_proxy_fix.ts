/** `proxyFix()` over the users `Router` (the bench sends X-Forwarded-For and -Proto). */
import { serveApp, usersRouter } from "./_routes.ts";
import { proxyFix } from "../../middleware/proxy_fix.ts";

serveApp(proxyFix()(usersRouter()));
