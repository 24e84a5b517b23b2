/** `errors()` over the users `Router`. */
import { serveApp, usersRouter } from "./_routes.ts";
import { errors } from "../../middleware/errors.ts";

serveApp(errors()(usersRouter()));
