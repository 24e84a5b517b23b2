/**
 * Python WSGI servers side by side:
 * `deno run -A bench/python.ts [--rounds N] [--duration S]`.
 *
 * One Flask app (`apps/flask_bench.py`: hello world at `/`, a Jinja page
 * at `/page`), imported by Debian's `/usr/bin/python3` under four servers,
 * each with two Python processes for the 2 cores of the reference machine:
 *
 * - `server.ts apps/flask_bench.py:app --workers 2`: `pythonApp()` with 2
 *   worker processes of 1 thread, behind one Deno isolate;
 * - gunicorn sync, `-w 2`: one request per process at a time, and a
 *   connection closed after each response;
 * - gunicorn gthread, `-w 2 --threads 4`;
 * - uWSGI, `--processes 2 --master` on an `--http-socket`.
 *
 * Each server runs in a process group of its own, so the CPU column counts
 * the Python workers too; every one is stopped on every exit path, Ctrl-C
 * included. Rounds are interleaved: in each round every server in turn
 * takes both pages under `wrk -t1 -c50` (keep-alive, as wrk does by
 * default), and each ratio is taken within the round, then the median
 * over rounds. It installs nothing: gunicorn, uWSGI with its python3
 * plugin, Flask and wrk must be there (Debian: `apt-get install -y gunicorn
 * uwsgi-core uwsgi-plugin-python3 python3-flask wrk`).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { freePort, versionOf } from "./_util.ts";
import { checkStarted, Output, runBench, spawn } from "./_children.ts";
import { type Running, versus } from "./_versus.ts";

const PYTHON = "/usr/bin/python3";
const APPS = fileURLToPath(new URL("./apps/", import.meta.url));
const SERVER_TS = fileURLToPath(new URL("../server.ts", import.meta.url));

interface Server {
  name: string;
  label: string;
  /** The command, given the port to bind (0 where the server prints it). */
  command(port: number): [string, string[]];
}

const GUNICORN = (port: number) => [
  "-m",
  "gunicorn",
  "--chdir",
  APPS,
  "--bind",
  `127.0.0.1:${port}`,
  "--worker-tmp-dir",
  "/dev/shm",
  "--graceful-timeout",
  "2",
  "--workers",
  "2",
];

/** The name of our row, the numerator of every ratio. */
const OURS = "server.ts";

const SERVERS: Server[] = [
  {
    name: OURS,
    label: "`server.ts flask_bench.py:app --workers 2` (1 thread each)",
    command: () => [Deno.execPath(), [
      "run",
      "-A",
      SERVER_TS,
      `${APPS}flask_bench.py:app`,
      "--workers",
      "2",
      "--python",
      PYTHON,
      "--port",
      "0",
    ]],
  },
  {
    name: "gunicorn sync",
    label: "gunicorn 20.1 `-w 2`, sync worker",
    command: (port) => [PYTHON, [...GUNICORN(port), "flask_bench:app"]],
  },
  {
    name: "gunicorn gthread",
    label: "gunicorn 20.1 `-w 2 --threads 4`",
    command: (port) => [PYTHON, [
      ...GUNICORN(port),
      "--threads",
      "4",
      "flask_bench:app",
    ]],
  },
  {
    name: "uWSGI",
    label: "uWSGI `--processes 2 --master`, `--http-socket`",
    command: (port) => ["uwsgi", [
      "--plugin",
      "python3",
      "--http-socket",
      `127.0.0.1:${port}`,
      "--chdir",
      APPS,
      "--wsgi-file",
      `${APPS}flask_bench.py`,
      "--callable",
      "app",
      "--processes",
      "2",
      "--master",
      "--disable-logging",
      "--die-on-term",
    ]],
  },
];

/** The two pages, each with what its first answer must hold. */
const PAGES = [
  { name: "Flask hello", path: "/", type: "text/plain", body: "Hello, World!" },
  {
    name: "Jinja page",
    path: "/page",
    type: "text/html; charset=utf-8",
    body: "<h1>Price list</h1>",
  },
];

/**
 * Starts a server on a free port and checks one answer per page, so that a
 * broken server fails the run instead of benching fast errors.
 */
function start(server: Server): Promise<Running> {
  const port = freePort();
  const [command, args] = server.command(port);
  const child = spawn(command, args);
  const output = new Output(child);
  return checkStarted(server.name, child, output, async () => {
    let origin = `http://127.0.0.1:${port}`;
    if (server.name === OURS) {
      [origin] = await output.waitFor(/http:\/\/127\.0\.0\.1:\d+/, 30_000);
    } else {
      await output.waitFor(
        /Listening at|spawned uWSGI worker 2|WSGI app 0 .* ready/,
        30_000,
      );
    }
    let connection = "";
    for (const page of PAGES) {
      const response = await answer(`${origin}${page.path}`);
      const body = await response.text();
      const type = response.headers.get("content-type");
      if (
        response.status !== 200 || type !== page.type ||
        !body.includes(page.body)
      ) {
        throw new Error(
          `${page.path}: expected 200 ${page.type} with ${page.body}, got ` +
            `${response.status} ${type} ${JSON.stringify(body.slice(0, 100))}`,
        );
      }
      connection = response.headers.get("connection") ?? "keep-alive";
    }
    return { child, origin, connection };
  });
}

/** The first answer: the workers may still be importing Flask. */
async function answer(url: string): Promise<Response> {
  const deadline = Date.now() + 30_000;
  while (true) {
    try {
      return await fetch(url, { signal: AbortSignal.timeout(10_000) });
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** The versions for the report; throws naming the package when one is missing. */
async function versions(): Promise<string> {
  const run = (command: string, args: string[]) =>
    versionOf(
      command,
      args,
      `Cannot run the Python bench: ${command} is not installed. Install ` +
        "it (Debian: apt-get install -y gunicorn uwsgi-core " +
        "uwsgi-plugin-python3 python3-flask) and run again",
    );
  const python = await run(PYTHON, [
    "-c",
    "import sys, flask, jinja2, gunicorn; print(sys.version.split()[0], " +
    "'Flask', flask.__version__, 'Jinja2', jinja2.__version__, " +
    "'gunicorn', gunicorn.__version__)",
  ]);
  return `Python ${python}, uWSGI ${await run("uwsgi", ["--version"])}`;
}

function main(args: string[]): Promise<void> {
  // Inherited by every server's Python: no __pycache__ in bench/apps.
  Deno.env.set("PYTHONDONTWRITEBYTECODE", "1");
  return versus(
    {
      file: "bench/python.ts",
      servers: SERVERS,
      ours: OURS,
      loads: PAGES,
      start,
      software: versions,
    },
    args,
  );
}

if (import.meta.main) {
  await runBench(() => main(Deno.args));
}
