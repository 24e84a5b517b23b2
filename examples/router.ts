/**
 * The seed's `Router`: one app per exact path, 404 for anything else.
 *
 * `deno task dev` serves this file on http://127.0.0.1:8000/:
 *
 * ```sh
 * deno run -A server.ts examples/router.ts --port 8000
 * ```
 *
 * `/` lists the routes, `/hello` and `/world` answer with a word each, and
 * every other path gets the router's own `404 Not Found`.
 *
 * @module
 */
import type { App } from "../mod.ts";
import { Router } from "../middleware/mod.ts";

/** The router, the default export and what the CLI serves. */
export const router: Router = new Router();

/**
 * `GET /hello`, registered decorator-style: `route()` registers the app and
 * hands it back unchanged, like a Python `@router.route("/hello")`.
 */
export const hello: App = router.route("/hello")((_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain; charset=utf-8"]]);
  return ["Hello\n"];
});

/** `GET /world`, registered with `add()`. */
export const world: App = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain; charset=utf-8"]]);
  return ["World\n"];
};
router.add("/world", world);

/** `GET /`: an index page linking to the other two routes. */
export const index: App = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/html; charset=utf-8"]]);
  return [
    "<!doctype html>\n",
    "<title>WSGI for Deno</title>\n",
    "<h1>WSGI for Deno</h1>\n",
    "<ul>\n",
    '<li><a href="/hello">/hello</a></li>\n',
    '<li><a href="/world">/world</a></li>\n',
    "</ul>\n",
  ];
};
router.add("/", index);

export default router;
