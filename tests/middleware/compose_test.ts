/** compose: the first middleware listed is the outermost. */
import assert from "node:assert/strict";
import { type App, type AppLike, type Middleware, toApp } from "../../mod.ts";
import { compose, validator } from "../../middleware/mod.ts";
import { Client } from "../../testing.ts";

/** The subject under the validator, which checks both sides of the contract. */
const linted = (app: AppLike) => validator()(toApp(app));

Deno.test("compose() applies middleware outermost first, and none leaves the app as it is", async () => {
  const seen: string[] = [];
  const layer =
    (name: string): Middleware => (app) => (environ, startResponse) => {
      seen.push(`${name} in`);
      return app(environ, (status, headers, excInfo) => {
        seen.push(`${name} out`);
        return startResponse(status, headers, excInfo);
      });
    };
  const app: App = (_environ, startResponse) => {
    seen.push("app");
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return ["ok"];
  };
  await new Client(linted(compose(layer("a"), layer("b"))(app))).get("/");
  assert.deepEqual(seen, ["a in", "b in", "app", "b out", "a out"]);
  assert.equal(compose()(app), app);
});
