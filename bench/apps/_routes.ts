/**
 * The router bench: `count` resource routes (each with a parameter), and
 * the request always hits the last one registered, the worst case for a
 * router that tries routes in order.
 *
 * @module
 */
import type { App } from "../../mod.ts";
import { Router } from "../../middleware/mod.ts";
import { serve } from "../../server.ts";
import { LISTEN } from "./_listen.ts";

/** The path every bench request asks for. */
export const ROUTED_PATH = "/resource99/12345";

const hello: App = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return ["Hello, World!"];
};

/** Serves a router with `count` routes ending at resource99. */
export function serveRouter(count: number): void {
  const router = new Router();
  for (let i = 100 - count; i < 100; i++) {
    router.get(`/resource${i}/:id`, hello);
  }
  serve(router, LISTEN);
}

/** The path of the middleware rows (`bench/middleware.ts`). */
export const USER_PATH = "/api/users/42";

/** The path of the compressed rows: a 64 KiB JSON body. */
export const BIG_PATH = "/api/big";

/** What `GET /api/users/42` answers. */
export const USER_JSON = '{"id":"42","name":"Ada"}';

/**
 * The 64 KiB body of {@linkcode BIG_PATH}: JSON of the kind an API sends,
 * compressible like real JSON (repeated keys), made once at startup.
 */
export const BIG_JSON: string = (() => {
  const users = [];
  for (let i = 0; users.join(",").length < 65536 - 64; i++) {
    users.push(`{"id":${i},"name":"user${i}","active":${i % 3 === 0}}`);
  }
  return `[${users.join(",")}]`.padEnd(65536, " ");
})();

/**
 * The bare app of the middleware rows: a `Router` with `GET /api/users/:id`
 * answering a small JSON body, and `GET /api/big` answering 64 KiB.
 */
export function usersRouter(prefix = "/api"): App {
  const router = new Router();
  router.get(`${prefix}/users/:id`, (environ, startResponse) => {
    const [, { id }] = environ["wsgiorg.routing_args"] as [
      string[],
      Record<string, string>,
    ];
    startResponse("200 OK", [["Content-Type", "application/json"]]);
    return [`{"id":${JSON.stringify(id)},"name":"Ada"}`];
  });
  router.get(`${prefix}/big`, (_environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "application/json"]]);
    return [BIG_JSON];
  });
  return router.app;
}

/**
 * Serves `app` on the port after `--port` in the arguments (the middleware
 * bench starts its servers with stdout on /dev/null, where the access logs
 * go), or else where the other harnesses find it: port 0, printing
 * `Listening on <url>`.
 */
export function serveApp(app: App): void {
  const at = Deno.args.indexOf("--port");
  if (at < 0) serve(app, LISTEN);
  else {
    serve(app, {
      hostname: "127.0.0.1",
      port: Number(Deno.args[at + 1]),
      onListen() {},
    });
  }
}
