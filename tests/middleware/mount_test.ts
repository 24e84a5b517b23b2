/** mount: longest-prefix dispatch that moves the prefix to SCRIPT_NAME. */
import assert from "node:assert/strict";
import { type App, type AppLike, toApp } from "../../mod.ts";
import { applicationUri } from "../../util.ts";
import { mount, validator } from "../../middleware/mod.ts";
import { Client } from "../../testing.ts";

/** The subject under the validator, which checks both sides of the contract. */
const linted = (app: AppLike) => validator()(toApp(app));

const where = (name: string): App => (environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "application/json"]]);
  return [JSON.stringify({
    name,
    script: environ.SCRIPT_NAME,
    path: environ.PATH_INFO,
    root: applicationUri(environ),
  })];
};

Deno.test("mount() sends each request to the longest matching prefix", async () => {
  const app = mount({ "/api": where("api"), "/api/v2": where("v2") })(
    where("main"),
  );
  const client = new Client(linted(app));
  assert.deepEqual((await client.get("/api/v2/users")).json(), {
    name: "v2",
    script: "/api/v2",
    path: "/users",
    root: "http://localhost/api/v2",
  });
  assert.deepEqual(
    (await client.get("/api/users")).json<{ name: string }>().name,
    "api",
  );
  assert.deepEqual((await client.get("/api")).json(), {
    name: "api",
    script: "/api",
    path: "",
    root: "http://localhost/api",
  });
  // A prefix ends at a segment boundary.
  assert.equal(
    (await client.get("/apix")).json<{ name: string }>().name,
    "main",
  );
  assert.equal((await client.get("/")).json<{ name: string }>().name, "main");
});

Deno.test("mount() appends to a SCRIPT_NAME already set, so mounts nest", async () => {
  const inner = mount({ "/admin": where("admin") })(where("site"));
  const app = mount({ "/site": inner })(where("main"));
  assert.deepEqual(
    (await new Client(linted(app)).get("/site/admin/users")).json(),
    {
      name: "admin",
      script: "/site/admin",
      path: "/users",
      root: "http://localhost/site/admin",
    },
  );
});

Deno.test("mount() matches prefixes with non-ASCII text against the encoded path", async () => {
  const app = mount({ "/café": where("café") })(where("main"));
  const answer = (await new Client(linted(app)).get("/caf%C3%A9/menu")).json<
    { name: string; path: string }
  >();
  assert.equal(answer.name, "café");
  assert.equal(answer.path, "/menu");
});

Deno.test("mount() refuses a prefix that is not a path without a trailing slash", () => {
  for (const prefix of ["api", "/api/", "/"]) {
    assert.throws(() => mount({ [prefix]: where("x") }), /Cannot mount at/);
  }
});
