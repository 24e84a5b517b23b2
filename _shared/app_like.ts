import type {
  App,
  AppClass,
  AppLike,
  CallableApp,
} from "../_contract/types.ts";
import { describe } from "./errors.ts";

/**
 * Turns anything PEP 3333 would call an application object into an
 * {@linkcode App}: an app function is returned as it is, a class is
 * constructed once per request (its instance is the body, like PEP 3333's
 * `AppClass`), and an object with a `call` method is called through it.
 *
 * @param app The app, class or callable object.
 * @returns A plain app function.
 *
 * @example Serving PEP 3333's iterable class
 * ```ts
 * import { type Environ, type StartResponse, toApp } from "@wsgi/deno";
 *
 * class Hello {
 *   constructor(_environ: Environ, private startResponse: StartResponse) {}
 *   *[Symbol.iterator]() {
 *     this.startResponse("200 OK", [["Content-Type", "text/plain"]]);
 *     yield "Hello world!\n";
 *   }
 * }
 * const app = toApp(Hello);
 * ```
 */
export function toApp(app: AppLike): App {
  if (typeof app === "function") {
    if (isClass(app)) {
      const Class = app as AppClass;
      return (environ, startResponse) => new Class(environ, startResponse);
    }
    return app as App;
  }
  if (
    app !== null && typeof app === "object" &&
    typeof (app as CallableApp).call === "function"
  ) {
    return (environ, startResponse) =>
      (app as CallableApp).call(environ, startResponse);
  }
  if (
    app !== null && typeof app === "object" &&
    typeof (app as { fetch?: unknown }).fetch === "function"
  ) {
    throw new TypeError(
      `Cannot use ${describe(app)} with a fetch() method as an app: it is a ` +
        "fetch-style app; wrap it with fromFetch(app.fetch)",
    );
  }
  throw new TypeError(
    `Cannot use ${describe(app)} as an app: expected a function ` +
      "(environ, startResponse), a class, or an object with a call() method",
  );
}

// Only `class` syntax can be told apart from a function; a class cannot be
// called without `new`, so guessing wrong would throw on every request.
function isClass(fn: unknown): boolean {
  return /^class\b/.test(Function.prototype.toString.call(fn));
}
