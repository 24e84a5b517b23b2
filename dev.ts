/**
 * The dev server: serves an app and reloads it on save, without dropping a
 * connection.
 *
 * ```sh
 * deno run -A dev.ts app.ts[:name] [--host H] [--port P] [--watch PATH] ...
 * ```
 *
 * One supervisor holds the listening socket for the whole session. Each
 * version of the app (a generation) loads in a fresh Worker with its own
 * module graph, so a change to any local module the app imports takes
 * effect. A new generation takes requests only once it has loaded; the old
 * one finishes what it had, then is terminated. A generation that fails to
 * load (a syntax error, a throw at import) is shown to every request until
 * a save fixes it.
 *
 * A Python app (`app.py[:callable]`) runs the same way, each generation a
 * pool of CPython processes (`--python`, `--pythonpath`, `--workers`,
 * `--threads`); the Python files it imported from its own folders are
 * watched, and a spare interpreter with its site-packages imported waits
 * for the next save.
 *
 * An exception in the app gets a traceback page with a console that runs
 * JavaScript inside the app's Worker, or Python in a frame of the failed
 * request. The console asks for a PIN, printed on
 * the terminal and the same for the whole session, locks after ten wrong
 * ones, and answers only to trusted Host values. On an address other than
 * loopback the console stays off unless `--expose-console` is given.
 *
 * @module
 */
import {
  LIMIT_FLAGS,
  type ListenArgs,
  ListenError,
  listenFailure,
  parseArgs,
  parseCount,
  type ParsedArgs,
  parseLimits,
  parsePort,
  parsePythonFlags,
  PYTHON_FLAGS,
  UsageError,
} from "./_cli/args.ts";
import { parseAppSpec, SPEC_HELP } from "./_cli/load_app.ts";
import { toFetchHandler } from "./server.ts";
import { messageOf } from "./_shared/errors.ts";
import { listenUrl } from "./_shared/host.ts";
import { Supervisor } from "./_dev/supervisor.ts";
import {
  DEBUGGER_PATH,
  DebuggerConsole,
  isLoopback,
  newPin,
  trustedHosts,
} from "./_dev/debugger/pin_guard.ts";
import { consolePage } from "./_dev/debugger/pages.ts";
import { ModuleWatcher } from "./_dev/watcher.ts";
import { isPythonSpec } from "./_dev/python_generation.ts";
import { LiveReload } from "./_dev/live_reload.ts";

/** Options of {@linkcode runDev}. */
export interface DevOptions {
  /** The app, as `module[:name]` (see `server.ts`). */
  app: string;
  /**
   * The address to listen on.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * The port; 0 picks a free one.
   *
   * @default {8000}
   */
  port?: number;
  /** More files or directories whose changes reload the app. */
  watch?: string[];
  /** Paths matching these never cause a reload. */
  ignore?: RegExp[];
  /**
   * Give HTML responses a script that reloads the page after a reload.
   *
   * @default {true}
   */
  liveReload?: boolean;
  /**
   * Show a traceback page, with its console, when the app throws; without
   * it a failing request gets a bare 500 (the terminal still gets the
   * traceback).
   *
   * @default {true}
   */
  debugger?: boolean;
  /**
   * Allow the console when `hostname` is not a loopback address. Anyone who
   * can reach the address and learns the PIN can run code as you.
   *
   * @default {false}
   */
  exposeConsole?: boolean;
  /** Host names the debugger trusts besides localhost names and the bound address. */
  trustHosts?: string[];
  /** The console's PIN. By default a new random one for the session. */
  pin?: string;
  /**
   * Largest request body in bytes, as `serve()`'s option of the same name:
   * a larger one gets a 413.
   *
   * @default {Infinity}
   */
  maxBodySize?: number;
  /**
   * Milliseconds the app has to start its response, as `serve()`'s option
   * of the same name: past them the client gets a 503. No limit by default.
   */
  requestTimeout?: number;
  /**
   * A path prefix that belongs to the server, as `serve()`'s option of the
   * same name: requests under it get it as `SCRIPT_NAME`.
   *
   * @default {""}
   */
  scriptName?: string;
  /**
   * For a `.py` app: the interpreter, a name on PATH or a path (a
   * virtualenv's `python`).
   *
   * @default {"python3"}
   */
  python?: string;
  /** For a `.py` app: folders on `sys.path` after the app's own. */
  pythonPath?: string[];
  /**
   * For a `.py` app: Python worker processes of each generation.
   *
   * @default {1}
   */
  workers?: number;
  /**
   * For a `.py` app: threads per Python worker.
   *
   * @default {1}
   */
  threads?: number;
  /** Where the terminal lines go. By default, stdout. */
  log?: (line: string) => void;
  /** Called once the server listens. */
  onListen?: (addr: Deno.NetAddr) => void;
}

/** A running dev server, as {@linkcode runDev} returns it. */
export interface DevServer {
  /** The address it listens on. */
  readonly addr: Deno.NetAddr;
  /** Its base URL. */
  readonly url: string;
  /** The console's PIN, if the console is on. */
  readonly pin: string | undefined;
  /** Stops watching, closes the socket and retires the app. */
  close(): Promise<void>;
}

// Asked once: both are calls into the runtime, too dear for every request.
let color: boolean | undefined;

function paint(code: number, text: string): string {
  color ??= Deno.env.get("NO_COLOR") === undefined && Deno.stdout.isTerminal();
  return color ? `\x1b[${code}m${text}\x1b[0m` : text;
}

function statusColor(status: number): number {
  return status >= 500 ? 31 : status >= 400 ? 33 : status >= 300 ? 36 : 32;
}

/**
 * Starts the dev server: loads the app, listens, and reloads on save.
 *
 * @param options The app and where to listen.
 * @returns The running server.
 * @throws {Deno.errors.NotFound} A `watch` path does not exist.
 * @throws {Error} The port is in use or the address is not this machine's;
 * nothing has loaded then.
 *
 * @example
 * ```ts ignore
 * import { runDev } from "./dev.ts";
 *
 * const dev = await runDev({ app: "app.ts", port: 8000 });
 * // ... later
 * await dev.close();
 * ```
 */
export async function runDev(options: DevOptions): Promise<DevServer> {
  const log = options.log ?? ((line: string) => console.log(line));
  const spec = parseAppSpec(options.app);
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? 8000;
  const limits = {
    maxBodySize: options.maxBodySize,
    requestTimeout: options.requestTimeout,
    scriptName: options.scriptName?.replace(/\/+$/, ""),
  };
  // serve()'s own checks of the limits, so that a bad one is refused in
  // its words.
  toFetchHandler(() => [], limits);
  const missing = missingPath(options.watch);
  if (missing !== undefined) {
    throw new Deno.errors.NotFound(
      `Cannot watch ${missing}: it does not exist`,
    );
  }
  // Bound and let go before the app loads, so that a port in use or an
  // address not this machine's is said at once, not after a load.
  try {
    Deno.listen({ hostname, port }).close();
  } catch (error) {
    throw cannotListen(hostname, port, error);
  }
  const pages = options.debugger !== false;
  const refusal = pages
    ? consoleRefusal(hostname, options.exposeConsole === true)
    : undefined;
  const consoleOn = pages && refusal === undefined;
  if (refusal) log(`${paint(33, "warning")} ${refusal}`);
  const trusted = trustedHosts(hostname, options.trustHosts);
  const supervisor = new Supervisor(
    spec,
    { pages, console: consoleOn, trusted },
    (request, text) => log(`${paint(31, "error")} in ${request}: ${text}`),
    limits,
    {
      python: options.python ?? "python3",
      pythonPath: options.pythonPath ?? [],
      workers: options.workers ?? 1,
      threads: options.threads ?? 1,
    },
  );
  const debuggerConsole = consoleOn
    ? new DebuggerConsole({
      pin: options.pin ?? newPin(),
      trusted,
      evaluate: (source, error) => supervisor.evaluate(source, error),
      page: consolePage,
    })
    : undefined;
  const live = options.liveReload === false ? undefined : new LiveReload();
  let generation = 0;

  let reloading: Promise<void> | undefined;
  let again = false;
  const reload = async (changed: string[]) => {
    const { ms, failure } = await supervisor.reload();
    const what = changed.length === 0
      ? "loaded"
      : `reloaded (${changed.join(", ")})`;
    if (failure) {
      log(
        `${
          paint(31, "error")
        } ${what}: the app failed to load: ${failure.message}`,
      );
    } else {
      log(`${paint(35, what)} in ${Math.round(ms)} ms`);
    }
    // Pages reload after a failed load too: they show its error at once,
    // and come back with the fix.
    live?.reload(++generation);
    // The graph is worked out again beside the next reload, not before it:
    // a save during `deno info` must not wait for it.
    if (changed.length > 0) void watcher.refresh();
  };
  // One reload at a time; changes during one make one more.
  const schedule = (changed: string[]) => {
    if (reloading) {
      again = true;
      return;
    }
    reloading = reload(changed).finally(() => {
      reloading = undefined;
      if (again) {
        again = false;
        schedule(changed);
      }
    });
  };
  const watcher = new ModuleWatcher(spec.module, {
    extraPaths: options.watch,
    ignore: options.ignore,
    onChange: schedule,
    // A Python app's files are those its last import reached.
    graph: isPythonSpec(spec)
      ? (entry) => Promise.resolve([entry, ...supervisor.pythonFiles])
      : undefined,
  });
  await reload([]);
  // Watching before serving, so that no save after the start is missed.
  await watcher.refresh();

  let addr: Deno.NetAddr;
  try {
    addr = supervisor.listen({
      hostname,
      port,
      onListen: options.onListen ??
        ((addr) => log(`Listening on ${listenUrl(addr)}`)),
    }, {
      console: debuggerConsole,
      consoleOff: refusal ?? "The debugger is off (--no-debugger)",
      live,
      onRequest: (method, path, status, ms) =>
        log(
          `${method} ${path} ${paint(statusColor(status), String(status))} ${
            ms.toFixed(1)
          } ms`,
        ),
    });
  } catch (error) {
    // Another process took the port since it was tried: stop what started.
    await watcher.close();
    live?.close();
    await supervisor.close();
    throw cannotListen(hostname, port, error);
  }
  if (debuggerConsole) {
    log(
      `Debugger PIN: ${paint(1, debuggerConsole.pin)} (console at ${
        listenUrl(addr)
      }${DEBUGGER_PATH.slice(1)}console)`,
    );
  }
  return {
    addr,
    url: listenUrl(addr),
    pin: debuggerConsole?.pin,
    async close() {
      await watcher.close();
      live?.close();
      await reloading;
      await supervisor.close();
    },
  };
}

/**
 * Why the console must stay off on `hostname`, if it must: anyone who can
 * reach a non-loopback address could try PINs and run code.
 */
export function consoleRefusal(
  hostname: string,
  exposeConsole: boolean,
): string | undefined {
  if (isLoopback(hostname) || exposeConsole) return undefined;
  return `the debugger console is off: ${hostname} is not a loopback ` +
    "address, and anyone who can reach it could try to run code; " +
    "pass --expose-console to allow it anyway";
}

/** The first of `paths` that does not exist, if one does not. */
function missingPath(paths: string[] | undefined): string | undefined {
  return paths?.find((path) => {
    try {
      Deno.statSync(path);
      return false;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return true;
      throw error;
    }
  });
}

function cannotListen(
  hostname: string,
  port: number,
  error: unknown,
): ListenError {
  return new ListenError(
    `Cannot listen on ${hostname}:${port}: ${messageOf(error)}`,
    error,
  );
}

const HELP = `Serve a gateway (WSGI) app and reload it on save.

Usage: deno run -A dev.ts [options] APP_MODULE[:NAME]

${SPEC_HELP}

Options:
  -H, --host HOST       Host to listen on (default 127.0.0.1)
  -p, --port PORT       Port to listen on, 0 for any (default 8000)
  -w, --watch PATH      Also reload when PATH changes (repeatable)
      --ignore REGEX    Never reload for paths matching REGEX (repeatable)
      --no-live-reload  Do not make HTML pages reload themselves
      --no-debugger     A bare 500 instead of traceback pages and console
      --trust-host NAME Debugger also answers to Host NAME (repeatable)
      --expose-console  Allow the console on a non-loopback --host
      --max-body SIZE   Largest request body, like 10m; larger gets 413
      --request-timeout SECONDS
                        503 for a response not started in time (default: none)
      --script-name PREFIX
                        Path prefix the app is mounted at ($SCRIPT_NAME)
      --python PATH     Interpreter for an APP_MODULE.py (default python3)
      --pythonpath DIR  Also on sys.path for a .py app (repeatable)
      --workers N       Python processes of a .py app (default 1)
      --threads N       Threads per Python process (default 1)
  -h, --help            Show this help and exit

The console's PIN is printed at start; WSGI_DEV_PIN sets it instead.
APP_MODULE may be a Python file, app.py[:callable] (default application,
then app): each reload starts a new pool of Python processes.

Examples (in a checkout of the repository):
  deno run -A dev.ts examples/router.ts
  deno run -A dev.ts --port 9000 examples/router.ts:hello
  deno run -A dev.ts --watch examples/static 'examples/stack.ts:createApp()'
`;

/**
 * The Python flags, `--workers` among them (the number of Python
 * processes); given for an app that is not a `.py` file, a usage error.
 */
function pythonFlags(
  flags: ParsedArgs["flags"],
  app: string,
): Pick<DevOptions, "python" | "pythonPath" | "workers" | "threads"> {
  const python = isPythonSpec(parseAppSpec(app));
  const out = parsePythonFlags(flags, python);
  if (flags.workers === undefined) return out;
  if (!python) {
    throw new UsageError(
      "--workers is for a Python app: name a file ending in .py as APP_MODULE",
    );
  }
  return { ...out, workers: parseCount(flags.workers as string, "--workers") };
}

async function main(args: string[]): Promise<number> {
  let options: DevOptions;
  let where: ListenArgs;
  try {
    const { flags, positionals } = parseArgs(args, [
      { name: "host", short: "H", kind: "string" },
      { name: "port", short: "p", kind: "string" },
      { name: "watch", short: "w", kind: "string", repeat: true },
      { name: "ignore", kind: "string", repeat: true },
      { name: "no-live-reload", kind: "boolean" },
      { name: "no-debugger", kind: "boolean" },
      { name: "trust-host", kind: "string", repeat: true },
      { name: "expose-console", kind: "boolean" },
      ...PYTHON_FLAGS,
      { name: "workers", kind: "string" },
      ...LIMIT_FLAGS,
      { name: "help", short: "h", kind: "boolean" },
    ]);
    if (flags.help) {
      console.log(HELP);
      return 0;
    }
    if (positionals.length !== 1) {
      throw new UsageError(
        "expected one APP_MODULE: the module that exports the app",
      );
    }
    options = {
      app: positionals[0],
      ...parseLimits(flags, (name) => Deno.env.get(name)),
      hostname: flags.host as string | undefined,
      port: flags.port === undefined
        ? undefined
        : parsePort(flags.port as string, "--port"),
      watch: flags.watch as string[] | undefined,
      liveReload: !flags["no-live-reload"],
      debugger: !flags["no-debugger"],
      trustHosts: flags["trust-host"] as string[] | undefined,
      exposeConsole: flags["expose-console"] === true,
      pin: Deno.env.get("WSGI_DEV_PIN") || undefined,
      ...pythonFlags(flags, positionals[0]),
      ignore: (flags.ignore as string[] | undefined)?.map((source) => {
        try {
          return new RegExp(source);
        } catch {
          throw new UsageError(
            `--ignore must be a regular expression, got "${source}"`,
          );
        }
      }),
    };
    where = {
      host: flags.host === undefined
        ? "host 127.0.0.1 (the default)"
        : `--host ${flags.host}`,
      port: flags.port === undefined
        ? "port 8000 (the default)"
        : `--port ${flags.port}`,
      hostFlag: "--host",
      portFlag: "--port",
    };
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(
      `dev.ts: error: ${error.message}\nRun with --help for usage.`,
    );
    return 2;
  }
  // runDev() checks this too, in its own words; here it is said as a flag.
  const missing = missingPath(options.watch);
  if (missing !== undefined) {
    console.error(
      `dev.ts: error: --watch ${missing} does not exist: create it, or ` +
        "give a file or folder that does",
    );
    return 1;
  }
  let dev: DevServer;
  try {
    dev = await runDev(options);
  } catch (error) {
    const line = error instanceof ListenError
      ? listenFailure(error.cause, where)
      : messageOf(error);
    console.error(`dev.ts: error: ${line}`);
    return 1;
  }
  await new Promise<void>((resolve) => {
    const stop = () => {
      Deno.removeSignalListener("SIGINT", stop);
      resolve();
    };
    Deno.addSignalListener("SIGINT", stop);
  });
  await dev.close();
  return 0;
}

if (import.meta.main) {
  main(Deno.args).then((code) => Deno.exit(code));
}
