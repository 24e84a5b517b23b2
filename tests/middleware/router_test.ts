/** The seed's Router: apps registered for exact paths. */
import assert from "node:assert/strict";
import type { App } from "../../mod.ts";
import { Router } from "../../middleware/mod.ts";
import { Client } from "../../testing.ts";

const says = (word: string): App => (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [word];
};

Deno.test("Router dispatches on PATH_INFO and answers 404 otherwise", async () => {
  const router = new Router();
  const hello = router.route("/hello")(says("hello"));
  router.add("/world", says("world"));
  const client = new Client(router);
  assert.equal((await client.get("/hello")).text(), "hello");
  assert.equal((await client.get("/world")).text(), "world");
  const missing = await client.get("/hello/");
  assert.equal(missing.status, 404);
  assert.equal(typeof hello, "function");
});

Deno.test("Router refuses a path that does not start with a slash", () => {
  assert.throws(
    () => new Router().add("hello", says("x")),
    /a path starts with "\/"/,
  );
});
