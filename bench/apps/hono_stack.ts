/**
 * The users API on Hono: `logger()` (to stdout, its default) and its
 * router, `GET /api/users/:id` answering the same JSON as `mw_stack.ts`.
 *
 * @module
 */
import { Hono } from "hono";
import { logger } from "hono/logger";

const app = new Hono();
app.use(logger());
app.get(
  "/api/users/:id",
  (c) => c.json({ id: c.req.param("id"), name: "Ada" }),
);

const at = Deno.args.indexOf("--port");
Deno.serve({
  hostname: "127.0.0.1",
  port: at < 0 ? 0 : Number(Deno.args[at + 1]),
  onListen({ hostname, port }) {
    if (at < 0) console.log(`Listening on http://${hostname}:${port}/`);
  },
}, app.fetch);
