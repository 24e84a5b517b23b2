/**
 * A reference point, not a target: Hono's hello world on `Deno.serve`.
 *
 * @module
 */
import { Hono } from "hono";

const app = new Hono();
app.get("/", (c) => c.text("Hello, World!"));

Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ hostname, port }) =>
    console.log(`Listening on http://${hostname}:${port}/`),
}, app.fetch);
