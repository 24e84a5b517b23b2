/** toApp(): every kind of application object PEP 3333 allows. */
import assert from "node:assert/strict";
import type { Environ, StartResponse } from "../../mod.ts";
import { toApp } from "../../mod.ts";
import { Client } from "../../testing.ts";

Deno.test("toApp() returns an app function unchanged", () => {
  const app = () => [];
  assert.equal(toApp(app), app);
});

Deno.test("toApp() constructs a class once per request, its instance being the body", async () => {
  let instances = 0;
  class Hello {
    #environ: Environ;
    #start: StartResponse;
    constructor(environ: Environ, startResponse: StartResponse) {
      instances++;
      this.#environ = environ;
      this.#start = startResponse;
    }
    *[Symbol.iterator]() {
      this.#start("200 OK", [["Content-Type", "text/plain"]]);
      yield `hello ${this.#environ.PATH_INFO}`;
    }
  }
  const client = new Client(toApp(Hello));
  assert.equal((await client.get("/one")).text(), "hello /one");
  assert.equal((await client.get("/two")).text(), "hello /two");
  assert.equal(instances, 2);
});

Deno.test("toApp() calls an object through its call() method", async () => {
  const counter = {
    count: 0,
    call(_environ: Environ, startResponse: StartResponse) {
      this.count++;
      startResponse("200 OK", [["Content-Type", "text/plain"]]);
      return [String(this.count)];
    },
  };
  const client = new Client(counter);
  assert.equal((await client.get("/")).text(), "1");
  assert.equal((await client.get("/")).text(), "2");
});

Deno.test("toApp() names the fix for a fetch-style app", () => {
  assert.throws(
    () => toApp({ fetch: () => new Response() } as never),
    /it is a fetch-style app; wrap it with fromFetch\(app\.fetch\)/,
  );
});

Deno.test("toApp() refuses what cannot be an app, saying what it expects", () => {
  for (const value of [null, 42, "app", {}]) {
    assert.throws(
      () => toApp(value as never),
      /Cannot use .* as an app: expected a function \(environ, startResponse\), a class, or an object with a call\(\) method/,
    );
  }
});
