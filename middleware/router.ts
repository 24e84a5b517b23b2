/**
 * `Router`: dispatches requests to apps registered for paths.
 *
 * @module
 */
import type { App, Body, Environ, StartResponse } from "../mod.ts";

/**
 * Dispatches each request to the app registered for its exact `PATH_INFO`;
 * anything else gets a 404. The router is itself an app: pass it to `serve`
 * or call it through its `call` method.
 *
 * @example Registering apps, as a method or decorator-style
 * ```ts
 * import { Router } from "@wsgi/deno/middleware";
 * import { Client } from "@wsgi/deno/testing";
 * import assert from "node:assert/strict";
 *
 * const router = new Router();
 * router.route("/hello")((_environ, startResponse) => {
 *   startResponse("200 OK", [["Content-Type", "text/plain"]]);
 *   return ["Hello"];
 * });
 * router.add("/world", (_environ, startResponse) => {
 *   startResponse("200 OK", [["Content-Type", "text/plain"]]);
 *   return ["World"];
 * });
 * const client = new Client(router);
 * assert.equal((await client.get("/hello")).text(), "Hello");
 * assert.equal((await client.get("/nowhere")).status, 404);
 * ```
 */
export class Router {
  #routes = new Map<string, App>();

  /** Registers `app` for `path`; returns the router, for chaining. */
  add(path: string, app: App): this {
    if (!path.startsWith("/")) {
      throw new TypeError(`Cannot add route "${path}": a path starts with "/"`);
    }
    this.#routes.set(path, app);
    return this;
  }

  /**
   * Registers the app it is called with for `path`, in the manner of a
   * Python decorator, and returns that app unchanged.
   */
  route(path: string): <T extends App>(app: T) => T {
    return (app) => {
      this.add(path, app);
      return app;
    };
  }

  /** Handles a request: the router as an app. */
  call(environ: Environ, startResponse: StartResponse): Body | Promise<Body> {
    const app = this.#routes.get(environ.PATH_INFO);
    if (app !== undefined) return app(environ, startResponse);
    startResponse("404 Not Found", [[
      "Content-Type",
      "text/plain; charset=utf-8",
    ]]);
    return ["Not Found\n"];
  }
}
