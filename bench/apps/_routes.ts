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
