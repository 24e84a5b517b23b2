/**
 * `server.ts` against gunicorn:
 * `deno run -A bench/gunicorn.ts [--rounds N] [--duration S]`.
 *
 * The same hello world (13 bytes of text/plain with a Content-Length) as a
 * Python WSGI callable (`apps/hello.py`) under Debian's gunicorn, and as a
 * TypeScript app (`apps/hello.ts`) under our `server.ts`, with raw
 * `Deno.serve` (`apps/raw_hello.ts`) as the reference. It installs nothing:
 * `gunicorn` must be on the PATH (`apt-get install -y gunicorn`).
 *
 * gunicorn's two stock worker kinds, sized for the 2 cores of the reference
 * machine:
 *
 * - sync, 5 processes: gunicorn's docs advise (2 x cores) + 1 workers. A
 *   sync worker serves one connection at a time and closes it after each
 *   response (`Connection: close`): it never keeps a connection alive.
 * - gthread, 2 processes x 4 threads: one process per core, threads to
 *   overlap the waits; it keeps connections alive (2 s by default).
 *
 * `server.ts` runs as it does in every other bench, one isolate; a row with
 * `--workers 2` (one isolate per core) is there to compare with gunicorn's
 * several processes.
 *
 * Every server is loaded with `wrk -t1 -c50` in two ways: with wrk's
 * default keep-alive, where the gunicorn sync rows still open a connection
 * per request because the server closes each one, and with
 * `Connection: close` for all, so that every server pays for a connection
 * per request. Rounds are interleaved; each ratio is taken within a round,
 * then the median over rounds. Every process (gunicorn's workers included:
 * each server runs in a process group of its own) is stopped on every exit
 * path, Ctrl-C included.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { versionOf } from "./_util.ts";
import { checkStarted, Output, runBench, spawn } from "./_children.ts";
import { type Load, type Running, versus } from "./_versus.ts";

// ---------------------------------------------------------------------------
// What is measured.

interface Server {
  /** The name in the table. */
  name: string;
  /** What it is, for the table. */
  label: string;
  command: string;
  args: string[];
}

const path = (relative: string) =>
  fileURLToPath(new URL(relative, import.meta.url));
const APPS = path("./apps/");
const SERVER_TS = path("../server.ts");
const BODY = "Hello, World!";

/** gunicorn's flags shared by both worker kinds. */
const GUNICORN = [
  "--chdir",
  APPS,
  "--bind",
  "127.0.0.1:0",
  // gunicorn's docs advise a tmpfs for the workers' heartbeat files, which
  // each worker touches as it loops.
  ...(exists("/dev/shm") ? ["--worker-tmp-dir", "/dev/shm"] : []),
  "--graceful-timeout",
  "2",
];

/** The name of our server's row, the numerator of every ratio. */
const OURS = "server.ts";

const SERVERS: Server[] = [
  {
    name: "raw Deno.serve",
    label: "`apps/raw_hello.ts`, the reference",
    command: Deno.execPath(),
    args: ["run", "--allow-net=127.0.0.1", `${APPS}raw_hello.ts`],
  },
  {
    name: OURS,
    label: "`server.ts apps/hello.ts`, one isolate",
    command: Deno.execPath(),
    args: ["run", "-A", SERVER_TS, `${APPS}hello.ts`, "--port", "0"],
  },
  {
    name: "server.ts -w 2",
    label: "`server.ts --workers 2`, an isolate per core",
    command: Deno.execPath(),
    args: [
      "run",
      "-A",
      "--unstable-net",
      SERVER_TS,
      `${APPS}hello.ts`,
      "--port",
      "0",
      "--workers",
      "2",
    ],
  },
  {
    name: "gunicorn sync",
    label: "`apps/hello.py`, sync worker, 5 processes",
    command: "gunicorn",
    args: [
      ...GUNICORN,
      "--worker-class",
      "sync",
      "--workers",
      "5",
      "hello:application",
    ],
  },
  {
    name: "gunicorn gthread",
    label: "`apps/hello.py`, gthread worker, 2 processes x 4 threads",
    command: "gunicorn",
    args: [
      ...GUNICORN,
      "--worker-class",
      "gthread",
      "--workers",
      "2",
      "--threads",
      "4",
      "hello:application",
    ],
  },
];

/** The two loads: wrk's default keep-alive, and a connection per request. */
const MODES: Load[] = [
  { name: "keep-alive" },
  { name: "Connection: close", wrkArgs: ["-H", "Connection: close"] },
];

function exists(file: string): boolean {
  try {
    Deno.statSync(file);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// Servers.

/**
 * Starts a server, reads the URL it prints (`Listening on <url>` from
 * Deno, `Listening at: <url>` from gunicorn) and checks one answer, so that
 * a broken server fails the run instead of benching fast errors.
 */
function start(server: Server): Promise<Running> {
  const child = spawn(server.command, server.args);
  const output = new Output(child);
  return checkStarted(server.name, child, output, async () => {
    const [origin] = await output.waitFor(/http:\/\/127\.0\.0\.1:\d+/, 30_000);
    const url = `${origin}/`;
    const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    const body = await response.text();
    const type = response.headers.get("content-type");
    if (response.status !== 200 || body !== BODY || type !== "text/plain") {
      throw new Error(
        `expected 200 text/plain "${BODY}", got ${response.status} ${type} ` +
          JSON.stringify(body.slice(0, 100)),
      );
    }
    const connection = response.headers.get("connection") ?? "keep-alive";
    return { child, origin, connection };
  });
}

/** gunicorn's version; throws a clear message when it is not installed. */
function gunicornVersion(): Promise<string> {
  return versionOf(
    "gunicorn",
    ["--version"],
    "Cannot run the gunicorn bench: gunicorn is not on the PATH. " +
      "Install it (Debian: apt-get install -y gunicorn) and run again",
  );
}

if (import.meta.main) {
  await runBench(() =>
    versus(
      {
        file: "bench/gunicorn.ts",
        servers: SERVERS,
        ours: OURS,
        loads: MODES,
        start,
        software: gunicornVersion,
      },
      Deno.args,
    )
  );
}
