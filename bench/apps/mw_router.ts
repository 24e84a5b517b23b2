/** Baseline of the middleware rows: the bare `Router` of the users API. */
import { serveApp, usersRouter } from "./_routes.ts";

serveApp(usersRouter());
