/**
 * A reference point, not a target: Hono's hello world on `Deno.serve`.
 *
 * @module
 */
import { LISTEN } from "./_listen.ts";
import { Hono } from "hono";

const app = new Hono();
app.get("/", (c) => c.text("Hello, World!"));

Deno.serve(LISTEN, app.fetch);
