/**
 * A single-file binary: the app imported statically, so `deno compile`
 * bundles it, served with the same graceful stop as `server.ts`.
 *
 * ```sh
 * deno task compile            # writes ./build/app
 * PORT=8080 ./build/app
 * ```
 *
 * @module
 */
import { serve } from "../../server.ts";
import app from "../router.ts";

const server = serve(app, {
  hostname: Deno.env.get("HOST") ?? "127.0.0.1",
  port: Number(Deno.env.get("PORT") ?? 8000),
});

// SIGTERM (what a container runtime or systemd sends) and SIGINT stop
// accepting and let the requests in flight finish; a second one exits.
let draining = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.addSignalListener(signal, () => {
    if (draining) Deno.exit(1);
    draining = true;
    server.shutdown();
  });
}

await server.finished;
Deno.exit(0);
