/**
 * A generation of a Python app in the dev server: a pool of CPython
 * processes (the one {@linkcode pythonApp} runs on), loaded beside the
 * current generation and retired once its requests are done. Requests go
 * through the server's adapter in this process; an exception the app does
 * not handle gets the traceback page of its Python frames.
 *
 * The runner writes the files of `sys.modules` once the app has imported,
 * so that the watcher sees the app's own Python files, not the standard
 * library's or site-packages'.
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import type { AppSpec } from "../_cli/load_app.ts";
import { toFetchHandler } from "../_server/serve.ts";
import type { App, Environ, FetchHandler } from "../_contract/types.ts";
import { errors } from "../middleware/errors.ts";
import { callPython, PythonError } from "../_python/call.ts";
import { Pool, PythonLoadError } from "../_python/pool.ts";
import { writeRunner } from "../_python/runner_file.ts";
import { InFlight, tracked } from "./tracked_body.ts";
import type { DebugSettings, ServerLimits } from "./protocol.ts";
import { hostTrusted } from "./debugger/pin_guard.ts";
import {
  consoleHtml,
  debugPage,
  escapeHtml,
  requestLine,
  tracebackHtml,
} from "./debugger/pages.ts";
import { pythonConsoleKey, tracebackText } from "./debugger/traceback.ts";

/** How the dev server runs a Python app (`--python`, `--pythonpath` ...). */
export interface PythonSettings {
  /** The interpreter. */
  python: string;
  /** Folders after the app's own on `sys.path`. */
  pythonPath: string[];
  /** Worker processes of each generation's pool. */
  workers: number;
  /** Threads per worker. */
  threads: number;
}

/** Why a Python generation could not load, with its pages. */
export interface PythonLoadFailure {
  message: string;
  stack: string;
  html: string;
  text: string;
  /** The app's files that the failed import reached: they stay watched. */
  files: string[];
}

const AGAIN = "The app failed to load; save a fix and it loads again.";

/** Whether `spec` names a Python app: its module is a `.py` file. */
export function isPythonSpec(spec: AppSpec): boolean {
  return spec.module.endsWith(".py");
}

/**
 * The files of `modules` that are the app's own: under the app's folder or
 * a `--pythonpath` folder, and not in site-packages, dist-packages or the
 * standard library.
 */
export function appFiles(
  modules: string[],
  entry: string,
  pythonPath: string[],
): string[] {
  const roots = [dirname(resolve(entry)), ...pythonPath.map((p) => resolve(p))]
    .map((root) => root.endsWith("/") ? root : root + "/");
  return modules.filter((file) =>
    file.endsWith(".py") &&
    roots.some((root) => file.startsWith(root)) &&
    !/\/(site|dist)-packages\//.test(file) &&
    !/\/lib\/python3(\.\d+)?\//.test(file)
  );
}

/** The files a Python traceback names, for a load that failed. */
function tracebackFiles(text: string): string[] {
  return [...text.matchAll(/^ {2}File "(\/[^"]+)", line \d+/gm)].map((m) =>
    m[1]
  );
}

async function readModules(path: string): Promise<string[]> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as string[];
  } catch {
    // The runner died before it could write them.
    return [];
  }
}

/** One version of a Python app: its pool, and the requests it has. */
export class PythonGeneration {
  /** The app's own Python files that its import loaded, to watch. */
  readonly files: string[];
  /** The site-packages modules its import loaded, for the next spare. */
  readonly preload: string[];
  #dir: string;
  #pool: Pool;
  #handler: FetchHandler;
  #requests = new InFlight();

  private constructor(
    dir: string,
    pool: Pool,
    files: string[],
    preload: string[],
    debug: DebugSettings,
    limits: ServerLimits,
    onTraceback: (request: string, text: string) => void,
  ) {
    this.#dir = dir;
    this.preload = preload;
    this.#pool = pool;
    this.files = files;
    // No time limit of the pool's own in the dev server: the app may sit
    // at a breakpoint; --request-timeout still applies.
    const inner: App = (environ, startResponse) =>
      callPython(pool, 2 ** 31 - 1, environ, startResponse);
    const report = (error: unknown, environ: Environ) =>
      onTraceback(requestLine(environ), tracebackText(error));
    const app = errors({
      report,
      page: debug.pages
        ? (error, environ) => {
          const key = pythonConsoleKey(error);
          return debugPage(
            error,
            environ,
            key !== undefined && hostTrusted(environ.HTTP_HOST, debug.trusted)
              ? consoleHtml(key, true)
              : "",
          );
        }
        : undefined,
    })(inner);
    this.#handler = toFetchHandler(app, {
      ...limits,
      urlScheme: "http",
    });
  }

  /** Starts a pool for `spec`: the generation once its app has imported. */
  static async load(
    spec: AppSpec,
    settings: PythonSettings,
    debug: DebugSettings,
    limits: ServerLimits,
    onTraceback: (request: string, text: string) => void,
    spare?: SpareInterpreter,
  ): Promise<PythonGeneration | PythonLoadFailure> {
    const dir = spare?.dir ??
      await Deno.makeTempDir({ prefix: "wsgi-python-" });
    const modulesFile = join(dir, "modules.json");
    const pool = new Pool({
      python: settings.python,
      runner: spare?.runner ?? await writeRunner(dir),
      file: spec.module,
      callable: spec.name,
      pythonPath: settings.pythonPath,
      workers: settings.workers,
      threads: settings.threads,
      env: {},
      dir,
      modulesFile,
      debug: debug.pages,
      console: debug.pages && debug.console ? dir : undefined,
      spare,
    });
    const modules = [resolve(spec.module)];
    let failure: unknown;
    try {
      await pool.ready;
    } catch (error) {
      failure = error;
    }
    modules.push(...await readModules(modulesFile));
    const files = [
      ...new Set(appFiles(modules, spec.module, settings.pythonPath)),
    ];
    if (failure !== undefined) {
      await pool.close();
      return loadFailure(failure, files, settings.pythonPath, spec.module);
    }
    return new PythonGeneration(
      dir,
      pool,
      files,
      thirdParty(modules),
      debug,
      limits,
      onTraceback,
    );
  }

  /** Serves a request; it counts as in flight until its body has gone out. */
  async handle(
    request: Request,
    info: Deno.ServeHandlerInfo,
  ): Promise<Response> {
    this.#requests.start();
    let response: Response;
    try {
      response = await this.#handler(request, info);
    } catch (error) {
      this.#requests.done();
      throw error;
    }
    if (response.body === null) {
      this.#requests.done();
      return response;
    }
    return new Response(
      tracked(response.body, () => this.#requests.done()),
      response,
    );
  }

  /**
   * Runs console input in a frame the runner kept: `error` is the page's
   * key, `pid-n`, then `#index` for a frame other than the innermost.
   */
  async evaluate(
    source: string,
    error: string | undefined,
  ): Promise<{ ok: boolean; output: string }> {
    const match = /^(\d+)-\d+(?:#(\d+))?$/.exec(error ?? "");
    if (match === null) {
      return {
        ok: false,
        output: "Cannot evaluate: the console of a Python app runs in a " +
          "failed request's frames; use it from a traceback page",
      };
    }
    const key = error!.split("#")[0];
    let conn: Deno.UnixConn;
    try {
      conn = await Deno.connect({
        transport: "unix",
        path: join(this.#dir, `console-${match[1]}.sock`),
      });
    } catch {
      return {
        ok: false,
        output: "Cannot evaluate: the Python process of that request is " +
          "gone (a reload replaces them); make the request again",
      };
    }
    try {
      const ask = {
        key,
        frame: match[2] === undefined ? null : Number(match[2]),
        source,
      };
      await conn.write(new TextEncoder().encode(JSON.stringify(ask) + "\n"));
      const text = await new Response(conn.readable).text();
      return JSON.parse(text) as { ok: boolean; output: string };
    } catch (cause) {
      return { ok: false, output: `Cannot evaluate: ${cause}` };
    }
  }

  /** Waits for the requests in flight, then stops the pool. */
  async retire(): Promise<void> {
    await this.#requests.drained();
    await this.#pool.close();
  }
}

/**
 * The top-level names of the site-packages and dist-packages modules among
 * `modules` (`flask` for .../dist-packages/flask/app.py): what a spare
 * interpreter imports ahead.
 */
export function thirdParty(modules: string[]): string[] {
  const names = new Set<string>();
  for (const file of modules) {
    const match = /\/(?:site|dist)-packages\/([A-Za-z_]\w*)(\.py|\/)/.exec(
      file,
    );
    if (match !== null) names.add(match[1]);
  }
  return [...names];
}

/**
 * A CPython process started ahead for the next save: the runner imports
 * what the app's last version used from site-packages, then waits at its
 * gate for the pool that takes it. Most of a reload is an interpreter
 * importing Flask; this takes it out of the time from save to answer.
 */
export class SpareInterpreter {
  readonly dir: string;
  readonly runner: string;
  readonly process: Deno.ChildProcess;
  readonly gate: string;

  private constructor(
    dir: string,
    runner: string,
    process: Deno.ChildProcess,
  ) {
    this.dir = dir;
    this.runner = runner;
    this.process = process;
    this.gate = join(dir, "gate.json");
  }

  /** Starts one with `settings`' interpreter, importing `preload`. */
  static async start(
    settings: PythonSettings,
    preload: string[],
  ): Promise<SpareInterpreter> {
    const dir = await Deno.makeTempDir({ prefix: "wsgi-python-" });
    const runner = await writeRunner(dir);
    const process = new Deno.Command(settings.python, {
      args: [runner, JSON.stringify({ gate: join(dir, "gate.json"), preload })],
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    return new SpareInterpreter(dir, runner, process);
  }

  /** Ends one no pool took: the session is over. */
  async discard(): Promise<void> {
    try {
      this.process.kill("SIGKILL");
    } catch {
      // It exited already.
    }
    await this.process.status;
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/** The pages for a load that failed, its traceback's Python frames in them. */
function loadFailure(
  error: unknown,
  files: string[],
  pythonPath: string[],
  entry: string,
): PythonLoadFailure {
  const message = error instanceof Error ? error.message : String(error);
  const traceback = error instanceof PythonLoadError ? error.traceback : "";
  // The error the pages show: the load's one line, the Python frames.
  const shown = new PythonError(traceback || message);
  shown.message = message;
  const text = traceback
    ? `${AGAIN}\n\n${tracebackText(shown)}\n${traceback}`
    : `${AGAIN}\n\n${message}\n`;
  return {
    message,
    stack: traceback,
    html: traceback
      ? tracebackHtml(shown, AGAIN)
      : `<!doctype html><meta charset="utf-8"><title>The app failed to load</title><pre>${
        escapeHtml(text)
      }</pre>\n`,
    text,
    files: [
      ...new Set([
        ...files,
        ...appFiles(tracebackFiles(traceback), entry, pythonPath),
      ]),
    ],
  };
}
