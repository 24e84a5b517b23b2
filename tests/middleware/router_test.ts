/** Router: methods, parameters, rests, 404/405, routing_args. */
import assert from "node:assert/strict";
import { type App, type AppLike, toApp } from "../../mod.ts";
import { Router, type RoutingArgs, validator } from "../../middleware/mod.ts";
import { Client } from "../../testing.ts";

/** The subject under the validator, which checks both sides of the contract. */
const linted = (app: AppLike) => validator()(toApp(app));

/** Answers with its name and the routing args it got, as JSON. */
const named = (name: string): App => (environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "application/json"]]);
  const [positional, params] = environ["wsgiorg.routing_args"] as RoutingArgs;
  return [JSON.stringify({ name, positional, params })];
};

type Answer = {
  name: string;
  positional: string[];
  params: Record<string, string>;
};

Deno.test("Router dispatches the seed's /hello and /world and 404s the rest", async () => {
  const router = new Router();
  const hello = router.route("/hello")(named("hello"));
  router.add("/world", named("world"));
  const client = new Client(linted(router));
  assert.equal((await client.get("/hello")).json<Answer>().name, "hello");
  assert.equal((await client.post("/world")).json<Answer>().name, "world");
  const missing = await client.get("/hello/");
  assert.equal(missing.status, 404);
  assert.equal(missing.text(), "Not Found\n");
  assert.equal(typeof hello, "function");
});

Deno.test("Router routes by method, answering 405 with Allow and serving HEAD from GET", async () => {
  const router = new Router()
    .get("/items", named("list"))
    .post("/items", named("create"))
    .delete("/items/:id", named("remove"));
  const client = new Client(linted(router));
  assert.equal((await client.get("/items")).json<Answer>().name, "list");
  assert.equal((await client.post("/items")).json<Answer>().name, "create");
  const head = await client.head("/items");
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-type"), "application/json");
  const wrong = await client.put("/items");
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get("allow"), "GET, HEAD, OPTIONS, POST");
  const options = await client.options("/items/3");
  assert.equal(options.status, 204);
  assert.equal(options.headers.get("allow"), "DELETE, OPTIONS");
});

Deno.test("Router binds :params and *rest, literals first", async () => {
  const router = new Router()
    .get("/users/me", named("me"))
    .get("/users/:id", named("user"))
    .get("/users/:id/posts/:post", named("post"))
    .get("/files/*path", named("file"));
  const client = new Client(linted(router));
  assert.deepEqual((await client.get("/users/me")).json<Answer>().params, {});
  assert.deepEqual((await client.get("/users/42")).json<Answer>(), {
    name: "user",
    positional: [],
    params: { id: "42" },
  });
  assert.deepEqual(
    (await client.get("/users/7/posts/9")).json<Answer>().params,
    {
      id: "7",
      post: "9",
    },
  );
  assert.deepEqual(
    (await client.get("/files/a/b/c.txt")).json<Answer>().params,
    {
      path: "a/b/c.txt",
    },
  );
  assert.deepEqual((await client.get("/files")).json<Answer>().params, {
    path: "",
  });
  // A parameter needs a non-empty segment.
  assert.equal((await client.get("/users/")).status, 404);
});

Deno.test("Router matches the UTF-8 path and decodes parameters", async () => {
  const router = new Router().get("/café/:name", named("café"));
  const response = await new Client(linted(router)).get(
    "/caf%C3%A9/%E2%98%95%20tea",
  );
  assert.deepEqual(response.json<Answer>().params, { name: "☕ tea" });
});

Deno.test("Router merges its parameters into routing_args already set", async () => {
  const router = new Router().get("/:id", named("inner"));
  const outer: App = (environ, startResponse) => {
    environ["wsgiorg.routing_args"] = [["pos"], { tenant: "acme" }];
    return router.call(environ, startResponse);
  };
  const answer = (await new Client(linted(outer)).get("/5")).json<Answer>();
  assert.deepEqual(answer.positional, ["pos"]);
  assert.deepEqual(answer.params, { tenant: "acme", id: "5" });
});

Deno.test("Router hands unmatched paths to its fallback app", async () => {
  const fallback: App = (environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return [`fallback ${environ["wsgiorg.routing_args"] ?? "without args"}`];
  };
  const router = new Router({ fallback }).get("/a", named("a"));
  assert.equal(
    (await new Client(linted(router)).get("/zzz")).text(),
    "fallback without args",
  );
});

Deno.test("Router refuses malformed and duplicate routes, naming the route", () => {
  const router = new Router().get("/x/:id", named("x"));
  assert.throws(
    () => router.add("hello", named("h")),
    /Cannot add route "hello": a path starts with "\/"/,
  );
  assert.throws(
    () => router.get("/x/:id", named("y")),
    /Cannot add route GET \/x\/:id: it is already registered/,
  );
  assert.throws(
    () => router.get("/x/:other", named("y")),
    /this position is already :id/,
  );
  assert.throws(
    () => router.get("/f/*rest/more", named("y")),
    /\*rest must be the last segment/,
  );
  assert.throws(() => router.get("/f/:", named("y")), /needs a name like :id/);
});
