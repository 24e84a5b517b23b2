/**
 * A realistic app, composed from the middleware catalogue:
 *
 * - `/` a home page (HTML, compressed for clients that accept it);
 * - `/api/notes`, `/api/notes/:id` a JSON API on a `Router` (GET, POST, DELETE);
 * - `/hono/...` a Hono app, mounted through `fromFetch`;
 * - `/static/...` files from `examples/static/` with ETags and ranges;
 *
 * all of it under an access log, error handling, compression and the
 * validator, read top to bottom in {@linkcode createApp}.
 *
 * ```sh
 * deno run -A server.ts examples/stack.ts --port 8000
 * ```
 *
 * @module
 */
import { Hono } from "hono";
import { type App, fromFetch, type StartResponse } from "../mod.ts";
import {
  accessLog,
  type AccessLogOutput,
  compose,
  compress,
  errors,
  mount,
  Router,
  type RoutingArgs,
  staticFiles,
  validator,
} from "../middleware/mod.ts";

/** What {@linkcode createApp} can be told. */
export interface StackOptions {
  /** Where access log lines go; stdout by default. */
  log?: AccessLogOutput;
}

/** A note of the API. */
interface Note {
  id: number;
  text: string;
}

const STATIC_ROOT = new URL("./static/", import.meta.url).pathname;

function json(startResponse: StartResponse, status: string, value: unknown) {
  startResponse(status, [["Content-Type", "application/json"]]);
  return [JSON.stringify(value)];
}

/** The notes API: an in-memory store behind a router. */
function notesApi(): Router {
  const notes = new Map<number, Note>();
  let nextId = 1;
  const idOf = (environ: Parameters<App>[0]) =>
    Number((environ["wsgiorg.routing_args"] as RoutingArgs)[1].id);

  const api = new Router();
  api.get(
    "/notes",
    (_environ, startResponse) =>
      json(startResponse, "200 OK", [...notes.values()]),
  );
  api.post("/notes", async (environ, startResponse) => {
    const body = new TextDecoder().decode(await environ["wsgi.input"].read());
    let text: unknown;
    try {
      text = JSON.parse(body).text;
    } catch {
      text = undefined;
    }
    if (typeof text !== "string" || text === "") {
      return json(startResponse, "400 Bad Request", {
        error: 'send JSON like {"text": "..."}',
      });
    }
    const note = { id: nextId++, text };
    notes.set(note.id, note);
    return json(startResponse, "201 Created", note);
  });
  api.get("/notes/:id", (environ, startResponse) => {
    const note = notes.get(idOf(environ));
    return note
      ? json(startResponse, "200 OK", note)
      : json(startResponse, "404 Not Found", { error: "no such note" });
  });
  api.delete("/notes/:id", (environ, startResponse) => {
    if (!notes.delete(idOf(environ))) {
      return json(startResponse, "404 Not Found", { error: "no such note" });
    }
    startResponse("204 No Content", []);
    return [];
  });
  return api;
}

/** A Hono app, as another team might have written it. */
function honoApp(): Hono {
  const hono = new Hono();
  hono.get("/hello/:name", (c) => c.json({ hello: c.req.param("name") }));
  return hono;
}

const home: App = (_environ, startResponse) => {
  startResponse("200 OK", [["Content-Type", "text/html; charset=utf-8"]]);
  return [`<!doctype html>
<title>WSGI for Deno: the stack example</title>
<link rel="stylesheet" href="/static/style.css">
<h1>The stack example</h1>
<ul>
  <li><a href="/api/notes"><code>/api/notes</code></a>: a JSON API on a Router</li>
  <li><a href="/hono/hello/world"><code>/hono/hello/world</code></a>: a Hono app through fromFetch</li>
  <li><a href="/static/hello.txt"><code>/static/hello.txt</code></a>: a static file</li>
</ul>
${"<!-- padding, so that the page is worth compressing -->\n".repeat(20)}`];
};

/** Builds the stack; each call has its own notes. */
export function createApp(options: StackOptions = {}): App {
  return compose(
    accessLog({ output: options.log }),
    errors(),
    compress(),
    validator(),
    staticFiles(STATIC_ROOT, { prefix: "/static" }),
    mount({ "/api": notesApi(), "/hono": fromFetch(honoApp().fetch) }),
  )(home);
}

/** The stack, as `server.ts` serves it. */
export const app: App = createApp();

export default app;
