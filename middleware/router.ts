/**
 * `Router`: dispatches requests to apps by method and path.
 *
 * When to use it: to give each URL of an app its own handler, with path
 * parameters, without a framework. When not: to mount whole sub-apps under a
 * prefix that they should see as their root; use {@linkcode mount}, which
 * moves the prefix to `SCRIPT_NAME`.
 *
 * Patterns are matched against the request path decoded as UTF-8
 * (`pathInfo(environ)`), segment by segment, exactly (a trailing slash
 * counts). A segment is a literal, `:name` (one non-empty segment), or, as
 * the last one, `*name` (the rest of the path, slashes included, possibly
 * empty). Literals win over parameters, and parameters over a rest.
 *
 * Environ keys: reads `REQUEST_METHOD` and `PATH_INFO`; adds the parameters
 * to `wsgiorg.routing_args`, the `[positional, named]` pair of the wsgiorg
 * routing_args convention (named parameters are merged into any already
 * there). A path that matches no route gets a 404 (or the fallback app); a
 * path that matches only for other methods gets a 405 with an `Allow` header.
 * HEAD is served by GET routes, and OPTIONS, unless routed, by a 204 listing
 * the allowed methods.
 *
 * @example
 * ```ts
 * import { Router } from "@wsgi/deno/middleware";
 * import { Client } from "@wsgi/deno/testing";
 * import assert from "node:assert/strict";
 *
 * const router = new Router();
 * router.get("/users/:id", (environ, startResponse) => {
 *   const [, { id }] = environ["wsgiorg.routing_args"] as [string[], Record<string, string>];
 *   startResponse("200 OK", [["Content-Type", "text/plain"]]);
 *   return [`user ${id}`];
 * });
 * const client = new Client(router);
 * assert.equal((await client.get("/users/42")).text(), "user 42");
 * assert.equal((await client.post("/users/42")).headers.get("allow"), "GET, HEAD, OPTIONS");
 * ```
 *
 * @module
 */
import type { App, Body, Environ, StartResponse } from "../_contract/types.ts";
import { pathInfo } from "../util.ts";

/** The parameters of a matched route, by name. */
export type RouteParams = Record<string, string>;

/** `environ["wsgiorg.routing_args"]`: positional and named arguments. */
export type RoutingArgs = [positional: string[], named: RouteParams];

/** Options of {@linkcode Router}. */
export interface RouterOptions {
  /** The app for paths no route matches; a plain 404 when omitted. */
  fallback?: App;
}

const ANY = "*";

/** One node of the segment tree. */
class Node {
  literals = new Map<string, Node>();
  param: { name: string; node: Node } | undefined;
  rest: { name: string; apps: Map<string, App> } | undefined;
  // By method; ANY for routes that take every method.
  apps: Map<string, App> | undefined;
}

const plain =
  (status: string, body: string, headers: [string, string][] = []) =>
  (
    _environ: Environ,
    startResponse: StartResponse,
  ): Body => {
    startResponse(status, [
      ["Content-Type", "text/plain; charset=utf-8"],
      ...headers,
    ]);
    return [body];
  };

const notFound = plain("404 Not Found", "Not Found\n");

/**
 * Dispatches each request to the app registered for its method and path.
 * The router is itself an app: pass it to `serve`, or call it through its
 * `call` method or the {@linkcode Router.app} function.
 *
 * @example Registering apps as the seed did, by method or decorator-style
 * ```ts
 * import { Router } from "@wsgi/deno/middleware";
 * import { Client } from "@wsgi/deno/testing";
 * import assert from "node:assert/strict";
 *
 * const router = new Router();
 * router.route("/hello")((_environ, startResponse) => {
 *   startResponse("200 OK", [["Content-Type", "text/plain"]]);
 *   return ["Hello"];
 * });
 * router.add("/world", (_environ, startResponse) => {
 *   startResponse("200 OK", [["Content-Type", "text/plain"]]);
 *   return ["World"];
 * });
 * const client = new Client(router);
 * assert.equal((await client.get("/hello")).text(), "Hello");
 * assert.equal((await client.get("/nowhere")).status, 404);
 * ```
 */
export class Router {
  #root = new Node();
  #fallback: App;

  /** Makes an empty router. */
  constructor(options: RouterOptions = {}) {
    this.#fallback = options.fallback ?? notFound;
  }

  /**
   * Registers `app` for `path`, for the given methods or, without them, for
   * every method. Returns the router, for chaining.
   */
  add(path: string, app: App, methods?: string[]): this {
    const node = this.#nodeFor(path);
    const apps = node instanceof Map ? node : (node.apps ??= new Map());
    for (const method of methods?.map((m) => m.toUpperCase()) ?? [ANY]) {
      if (apps.has(method)) {
        throw new Error(
          `Cannot add route ${
            method === ANY ? "" : method + " "
          }${path}: it is already registered`,
        );
      }
      apps.set(method, app);
    }
    return this;
  }

  /**
   * Registers the app it is called with for `path` (and `methods`), in the
   * manner of a Python decorator, and returns that app unchanged.
   */
  route(path: string, methods?: string[]): <T extends App>(app: T) => T {
    return (app) => {
      this.add(path, app, methods);
      return app;
    };
  }

  /** Registers `app` for GET (and so HEAD) requests to `path`. */
  get(path: string, app: App): this {
    return this.add(path, app, ["GET"]);
  }
  /** Registers `app` for POST requests to `path`. */
  post(path: string, app: App): this {
    return this.add(path, app, ["POST"]);
  }
  /** Registers `app` for PUT requests to `path`. */
  put(path: string, app: App): this {
    return this.add(path, app, ["PUT"]);
  }
  /** Registers `app` for PATCH requests to `path`. */
  patch(path: string, app: App): this {
    return this.add(path, app, ["PATCH"]);
  }
  /** Registers `app` for DELETE requests to `path`. */
  delete(path: string, app: App): this {
    return this.add(path, app, ["DELETE"]);
  }

  /** Finds, or makes, where `path`'s apps are kept. */
  #nodeFor(path: string): Node | Map<string, App> {
    if (!path.startsWith("/")) {
      throw new TypeError(`Cannot add route "${path}": a path starts with "/"`);
    }
    const segments = path.slice(1).split("/");
    let node = this.#root;
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i];
      if (segment.startsWith("*")) {
        if (i !== segments.length - 1) {
          throw new TypeError(
            `Cannot add route "${path}": ${segment} must be the last segment`,
          );
        }
        const name = paramName(segment, path);
        if (node.rest && node.rest.name !== name) {
          throw new TypeError(
            `Cannot add route "${path}": this position is already *${node.rest.name}`,
          );
        }
        node.rest ??= { name, apps: new Map() };
        return node.rest.apps;
      }
      if (segment.startsWith(":")) {
        const name = paramName(segment, path);
        if (node.param && node.param.name !== name) {
          throw new TypeError(
            `Cannot add route "${path}": this position is already :${node.param.name}`,
          );
        }
        node.param ??= { name, node: new Node() };
        node = node.param.node;
      } else {
        let next = node.literals.get(segment);
        if (next === undefined) node.literals.set(segment, next = new Node());
        node = next;
      }
    }
    return node;
  }

  /** Handles a request: the router as an app. */
  call(environ: Environ, startResponse: StartResponse): Body | Promise<Body> {
    const params: RouteParams = {};
    const path = pathInfo(environ);
    const apps = match(this.#root, path.slice(1).split("/"), 0, params);
    if (apps === undefined) return this.#fallback(environ, startResponse);
    const method = environ.REQUEST_METHOD;
    const app = apps.get(method) ?? apps.get(ANY) ??
      (method === "HEAD" ? apps.get("GET") : undefined);
    if (app === undefined) {
      const allow = allowed(apps);
      if (method === "OPTIONS") {
        startResponse("204 No Content", [["Allow", allow]]);
        return [];
      }
      return plain("405 Method Not Allowed", "Method Not Allowed\n", [
        ["Allow", allow],
      ])(environ, startResponse);
    }
    if (Object.keys(params).length > 0) {
      const previous = environ["wsgiorg.routing_args"] as
        | RoutingArgs
        | undefined;
      environ["wsgiorg.routing_args"] = previous
        ? [previous[0], { ...previous[1], ...params }]
        : [[], params];
    } else if (environ["wsgiorg.routing_args"] === undefined) {
      environ["wsgiorg.routing_args"] = [[], {}];
    }
    return app(environ, startResponse);
  }

  /** The router as a plain app function. */
  get app(): App {
    return (environ, startResponse) => this.call(environ, startResponse);
  }
}

/** Walks the tree; literals before parameters before a rest. */
function match(
  node: Node,
  segments: string[],
  index: number,
  params: RouteParams,
): Map<string, App> | undefined {
  if (index === segments.length) {
    return node.apps ?? (node.rest ? bindRest(node, "", params) : undefined);
  }
  const segment = segments[index];
  const literal = node.literals.get(segment);
  if (literal !== undefined) {
    const found = match(literal, segments, index + 1, params);
    if (found !== undefined) return found;
  }
  if (node.param !== undefined && segment !== "") {
    const found = match(node.param.node, segments, index + 1, params);
    if (found !== undefined) {
      params[node.param.name] = segment;
      return found;
    }
  }
  if (node.rest !== undefined) {
    return bindRest(node, segments.slice(index).join("/"), params);
  }
  return undefined;
}

function bindRest(
  node: Node,
  rest: string,
  params: RouteParams,
): Map<string, App> {
  params[node.rest!.name] = rest;
  return node.rest!.apps;
}

function paramName(segment: string, path: string): string {
  const name = segment.slice(1);
  if (!/^[A-Za-z_$][\w$]*$/.test(name)) {
    throw new TypeError(
      `Cannot add route "${path}": "${segment}" needs a name like :id or *rest`,
    );
  }
  return name;
}

/** The Allow header for the methods a path has routes for. */
function allowed(apps: Map<string, App>): string {
  const methods = new Set(apps.keys());
  if (methods.has("GET")) methods.add("HEAD");
  methods.add("OPTIONS");
  return [...methods].sort().join(", ");
}
