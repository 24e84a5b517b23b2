/**
 * The stack of `examples/stack.ts` (access log to stdout, errors, compress,
 * validator, staticFiles, mount, Router), compared with raw `Deno.serve`
 * hello; the bench asks for `/api/notes`.
 *
 * @module
 */
import { serveApp } from "./_routes.ts";
import { createApp } from "../../examples/stack.ts";

serveApp(createApp());
