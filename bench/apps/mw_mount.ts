/** The users `Router` under `mount({ "/api": ... })`, which shifts the prefix to SCRIPT_NAME. */
import type { App } from "../../mod.ts";
import { serveApp, usersRouter } from "./_routes.ts";
import { mount } from "../../middleware/mount.ts";

const notFound: App = (_environ, startResponse) => {
  startResponse("404 Not Found", [["Content-Type", "text/plain"]]);
  return ["Not Found\n"];
};

serveApp(mount({ "/api": usersRouter("") })(notFound));
