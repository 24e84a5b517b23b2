/**
 * The file rows through `serve()`: `staticFiles()` over the directory of
 * the bench files, in front of an app that answers 404 (the app of
 * `static_app.ts`). Each request pays for everything the middleware does:
 * decode and check the path, the cache's `lstat`s (or `realpath`, `stat`
 * and the read on a miss), validators, and the body: one in-memory chunk
 * for a small file, the file's stream through `wsgi.file_wrapper` for a
 * larger one.
 *
 * @module
 */
import { LISTEN } from "./_listen.ts";
import { serve } from "../../server.ts";
import app from "./static_app.ts";

serve(app, LISTEN);
