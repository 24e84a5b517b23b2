/**
 * The server: gateway apps on `Deno.serve`.
 *
 * - {@linkcode serve} listens and serves an app.
 * - {@linkcode toFetchHandler} turns an app into a fetch handler,
 *   `(Request, info) => Response`, for anything that takes one.
 * - {@linkcode fetchExport} makes the `{ fetch }` default export that
 *   `deno serve` (and `deno serve --parallel`, one isolate per core) runs.
 *
 * Run as a program it is a CLI in the manner of gunicorn:
 *
 * ```sh
 * deno run -A server.ts app.ts[:name] [--host H] [--port P] ...
 * ```
 *
 * @module
 */
export {
  fetchExport,
  serve,
  type ServeOptions,
  type Server,
  toFetchHandler,
} from "./_server/serve.ts";
export type { FetchHandler } from "./_contract/types.ts";
export type { FetchHandlerOptions } from "./_request/adapter.ts";
export { fromFetch } from "./_request/from_fetch.ts";
export type { FromFetchOptions } from "./_request/from_fetch.ts";

if (import.meta.main) {
  // No top-level await: the app module may import this one, and must find
  // it evaluated. The CLI loads only when run as a program.
  import("./_cli/server_cli.ts")
    .then(({ main }) => main(Deno.args))
    .then((code) => Deno.exit(code));
}
