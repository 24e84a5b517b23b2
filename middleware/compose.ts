/**
 * `compose`: stacks middleware so that the stack reads top to bottom.
 *
 * @module
 */
import type { Middleware } from "../_contract/types.ts";

/**
 * Combines middleware into one, the first listed outermost: a request goes
 * through them in the order written, and the response comes back the other
 * way. `compose(a, b, c)(app)` is `a(b(c(app)))`.
 *
 * @param middleware The layers, outermost first.
 * @returns One middleware applying them all.
 *
 * @example
 * ```ts
 * import { compose } from "@wsgi/deno/middleware";
 * import type { App, Middleware } from "@wsgi/deno";
 * import { Client } from "@wsgi/deno/testing";
 * import assert from "node:assert/strict";
 *
 * const tag = (name: string): Middleware => (app) => (environ, startResponse) =>
 *   app(environ, (status, headers, excInfo) =>
 *     startResponse(status, [...headers, ["X-Layer", name]], excInfo));
 * const hello: App = (_environ, startResponse) => {
 *   startResponse("200 OK", [["Content-Type", "text/plain"]]);
 *   return ["hello"];
 * };
 * const app = compose(tag("outer"), tag("inner"))(hello);
 * const response = await new Client(app).get("/");
 * assert.equal(response.headers.get("x-layer"), "inner, outer");
 * ```
 */
export function compose(...middleware: Middleware[]): Middleware {
  return (app) => middleware.reduceRight((inner, wrap) => wrap(inner), app);
}
