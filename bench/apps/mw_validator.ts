/** `validator()` over the users `Router`: both sides of the contract checked on every request. */
import { serveApp, usersRouter } from "./_routes.ts";
import { validator } from "../../middleware/validator.ts";

serveApp(validator()(usersRouter()));
