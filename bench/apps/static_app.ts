/**
 * `staticFiles()` over the directory of the bench files in front of an app
 * that answers 404, as a module's default export: the app `dev.ts` serves
 * in the dev server rows of `bench/static.ts`. `$WSGI_BENCH_SMALL_FILE_SIZE`,
 * when set, is its `smallFileSize` (for `bench/static.ts
 * --small-file-size`).
 *
 * @module
 */
import type { App } from "../../mod.ts";
import { staticFiles } from "../../middleware/static_files.ts";
import { filesDir, SMALL_FILE_SIZE_ENV } from "./_files.ts";

const notFound: App = (_environ, startResponse) => {
  startResponse("404 Not Found", [["Content-Type", "text/plain"]]);
  return ["Not Found\n"];
};

const small = Deno.env.get(SMALL_FILE_SIZE_ENV);
export default staticFiles(filesDir(), {
  smallFileSize: small ? Number(small) : undefined,
})(notFound);
