/**
 * `pythonApp()` behind `serve()`, for `bench/python.ts`:
 * `deno run -A bench/apps/python_serve.ts APP.py[:name] WORKERS THREADS`.
 *
 * What `server.ts app.py --workers N --threads N` runs, as a file of its
 * own so the bench does not depend on the CLI's flags. It uses Debian's
 * `/usr/bin/python3`, as the gunicorn and uWSGI rows do, and writes no
 * `__pycache__` into the repository.
 *
 * @module
 */
import { serve } from "../../server.ts";
import { pythonApp } from "../../python.ts";
import { LISTEN } from "./_listen.ts";

const [spec, workers, threads] = Deno.args;
const app = pythonApp(spec, {
  python: "/usr/bin/python3",
  workers: Number(workers),
  threads: Number(threads),
  env: { PYTHONDONTWRITEBYTECODE: "1" },
});
await app.ready;
const server = serve(app, LISTEN);
await server.finished;
await app.close();
