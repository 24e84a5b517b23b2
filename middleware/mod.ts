/**
 * Middleware and dispatchers for gateway apps. Each is a factory that
 * resolves its options once and returns a `Middleware` (an app that wraps an
 * app); `Router` is an app of its own. Stack them with `compose`, outermost
 * first.
 *
 * @example
 * ```ts
 * import { compose, mount, proxyFix, Router } from "@wsgi/deno/middleware";
 * import { Client } from "@wsgi/deno/testing";
 * import assert from "node:assert/strict";
 *
 * const api = new Router();
 * api.get("/ping", (_environ, startResponse) => {
 *   startResponse("200 OK", [["Content-Type", "text/plain"]]);
 *   return ["pong"];
 * });
 * const app = compose(proxyFix(), mount({ "/api": api }))(api.app);
 * assert.equal((await new Client(app).get("/api/ping")).text(), "pong");
 * ```
 *
 * @module
 */
export { compose } from "./compose.ts";
export { mount } from "./mount.ts";
export { proxyFix } from "./proxy_fix.ts";
export type { ProxyFixOptions, ProxyFixOriginals } from "./proxy_fix.ts";
export { Router } from "./router.ts";
export type { RouteParams, RouterOptions, RoutingArgs } from "./router.ts";
export { validator, ValidatorError, ValidatorWarning } from "./validator.ts";
export type { ValidatorOptions, ValidatorRule } from "./validator.ts";
export { accessLog, GUNICORN_FORMAT } from "./access_log.ts";
export type { AccessLogOptions, AccessLogOutput } from "./access_log.ts";
export { compress } from "./compress.ts";
export type { Coding, CompressOptions } from "./compress.ts";
export { errors } from "./errors.ts";
export type { ErrorsOptions } from "./errors.ts";
export { httpProxy } from "./http_proxy.ts";
export type { HttpProxyOptions } from "./http_proxy.ts";
export { staticFiles } from "./static_files.ts";
export type { StaticFilesOptions } from "./static_files.ts";
