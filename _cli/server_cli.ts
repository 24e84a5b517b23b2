/**
 * The `server.ts` command line: arguments, the app to load, and serving it.
 *
 * @module
 */
import { serve, type ServeOptions } from "../_server/serve.ts";
import { accessLog, GUNICORN_FORMAT } from "../middleware/access_log.ts";
import type { FromServerWorker, ToServerWorker } from "./server_worker.ts";
import {
  LIMIT_FLAGS,
  type ListenArgs,
  ListenError,
  listenFailure,
  parseArgs,
  parseCount,
  parseLimits,
  parsePort,
  parsePythonFlags,
  parseSeconds,
  PYTHON_FLAGS,
  UsageError,
} from "./args.ts";
import {
  type AppSpec,
  isPythonSpec,
  loadApp,
  parseAppSpec,
  SPEC_HELP,
} from "./load_app.ts";
import type { App } from "../_contract/types.ts";
import {
  pythonApp,
  type PythonAppOptions,
  PythonLoadError,
} from "../python.ts";
import { type AccessLogFile, withAccessLog } from "./access_log_file.ts";
import { listenUrl } from "../_shared/host.ts";
import { messageOf } from "../_shared/errors.ts";

const HELP = `Serve a gateway (WSGI) app on Deno.serve.

Usage: deno run -A server.ts [options] APP_MODULE[:NAME]

${SPEC_HELP}

Options:
  -b, --bind ADDRESS    Where to listen: HOST:PORT, [IPV6]:PORT, or unix:PATH
  -H, --host HOST       Host to listen on (default 127.0.0.1)
  -p, --port PORT       Port to listen on, 0 for any (default $PORT, else 8000)
      --unix-socket PATH
                        Listen on a unix socket instead of TCP
      --cert FILE       PEM certificate chain: serve HTTPS (needs --key)
      --key FILE        PEM private key for --cert
      --max-body SIZE   Largest request body, like 10m; larger gets 413
      --request-timeout SECONDS
                        503 for a response not started in time (default: none)
  -w, --workers N       Isolates serving the app, or auto for one per core
                        (default 1; more needs deno run --unstable-net);
                        for a Python app, its CPython processes instead
      --graceful-timeout SECONDS
                        On SIGTERM or SIGINT, how long requests in flight
                        may take before the server exits anyway (default 30)
      --access-logfile FILE
                        Log each request to FILE, or - for stdout (default off)
      --access-logformat FORMAT
                        gunicorn's access_log_format atoms
                        (default '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"')
      --script-name PREFIX
                        Path prefix the app is mounted at ($SCRIPT_NAME)
  -h, --help            Show this help and exit

Python apps (APP_MODULE ending in .py):
      --python PATH     The interpreter (default python3 on PATH), such as
                        a virtualenv's .venv/bin/python
      --pythonpath DIR  A folder to add to sys.path after the app's own;
                        repeat it for more
      --threads N       Threads per Python process, each serving one
                        request at a time (default 1)

Examples (in a checkout of the repository):
  deno run -A server.ts examples/simple_app.ts
  deno run -A server.ts --port 9000 examples/router.ts:hello
  deno run -A server.ts --access-logfile - 'examples/stack.ts:createApp()'
  deno run -A server.ts --workers 2 examples/hello.py
`;

/** What the CLI settles on from its arguments and the environment. */
export interface CliConfig {
  /** The app to load. */
  spec: AppSpec;
  /** The options to serve it with. */
  options: ServeOptions;
  /** Where it listens, as the arguments said, for a failure to name. */
  listen: ListenArgs;
  /** Isolates serving the app (1 for a Python app). */
  workers: number;
  /** A Python app: its spec and pythonApp() options, then `spec` is unused. */
  python?: { spec: string; options: PythonAppOptions };
  /** How long requests in flight may take after a signal, in ms. */
  drainMs: number;
  /** Where the access log goes (`-` for stdout) and its format. */
  accessLog?: AccessLogFile;
}

/**
 * Reads the CLI's arguments (and `PORT`, `SCRIPT_NAME` from `env`) into a
 * configuration, or returns "help". Throws `UsageError` on bad arguments.
 */
export function parseServerArgs(
  args: string[],
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): CliConfig | "help" {
  const { flags, positionals } = parseArgs(args, [
    { name: "bind", short: "b", kind: "string" },
    { name: "host", short: "H", kind: "string" },
    { name: "port", short: "p", kind: "string" },
    { name: "unix-socket", kind: "string" },
    { name: "cert", kind: "string" },
    { name: "key", kind: "string" },
    ...LIMIT_FLAGS,
    ...PYTHON_FLAGS,
    { name: "workers", short: "w", kind: "string" },
    { name: "graceful-timeout", kind: "string" },
    { name: "access-logfile", kind: "string" },
    { name: "access-logformat", kind: "string" },
    { name: "help", short: "h", kind: "boolean" },
  ]);
  if (flags.help) return "help";
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? "missing APP_MODULE: name the module that exports the app"
        : `expected one APP_MODULE, got ${positionals.length}: ${
          positionals.join(" ")
        }`,
    );
  }
  const options: ServeOptions = {};
  let hostname = flags.host as string | undefined;
  let port = flags.port as string | undefined;
  let socket = flags["unix-socket"] as string | undefined;
  const bind = flags.bind as string | undefined;
  let listen: ListenArgs;
  if (bind !== undefined) {
    if (hostname !== undefined || port !== undefined || socket !== undefined) {
      throw new UsageError(
        "--bind cannot be combined with --host, --port or --unix-socket",
      );
    }
    if (bind.startsWith("unix:")) {
      socket = bind.slice(5);
    } else {
      const match = /^(\[[^\]]+\]|[^:]*)(?::(\d+))?$/.exec(bind);
      if (match === null) {
        throw new UsageError(
          `--bind must be HOST:PORT, [IPV6]:PORT or unix:PATH, got "${bind}"`,
        );
      }
      hostname = match[1].replace(/^\[|\]$/g, "") || undefined;
      port = match[2];
    }
  }
  if (socket !== undefined) {
    if (socket === "") throw new UsageError("the unix socket path is empty");
    if (hostname !== undefined || port !== undefined) {
      throw new UsageError(
        "--unix-socket cannot be combined with --host or --port",
      );
    }
    if (flags.cert !== undefined || flags.key !== undefined) {
      throw new UsageError(
        "--cert and --key serve HTTPS over TCP, not on a unix socket; " +
          "let the proxy in front terminate TLS",
      );
    }
    options.path = socket;
    const flag = bind === undefined ? "--unix-socket" : "--bind";
    const given = `${flag} ${bind ?? socket}`;
    listen = {
      host: given,
      port: given,
      hostFlag: flag,
      portFlag: flag,
      socket,
    };
  } else {
    if (hostname !== undefined) options.hostname = hostname;
    const envPort = env("PORT");
    if (port !== undefined) options.port = parsePort(port, "--port");
    else if (envPort) options.port = parsePort(envPort, "$PORT");
    listen = tcpListenArgs(bind, hostname, port, envPort);
  }
  const cert = flags.cert as string | undefined;
  const key = flags.key as string | undefined;
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError("--cert and --key must be given together");
  }
  if (cert !== undefined && key !== undefined) {
    options.cert = readPem(cert, "--cert");
    options.key = readPem(key, "--key");
  }
  Object.assign(options, parseLimits(flags, env));
  const isPython = isPythonSpec(positionals[0]);
  const pythonFlags = parsePythonFlags(flags, isPython);
  const workers = parseWorkers(flags.workers as string | undefined);
  if (isPython) {
    // One isolate serves; the Python processes are the pool's.
    return {
      spec: { module: positionals[0], call: false },
      python: {
        spec: positionals[0],
        options: { ...pythonFlags, workers },
      },
      options,
      listen,
      workers: 1,
      drainMs: drainMs(flags),
      accessLog: accessLogOf(flags),
    };
  }
  if (workers > 1 && options.path !== undefined) {
    throw new UsageError(
      "--workers shares a TCP port between isolates; a unix socket has one " +
        "listener: run one server per socket instead",
    );
  }
  return {
    spec: parseAppSpec(positionals[0]),
    options,
    listen,
    workers,
    drainMs: drainMs(flags),
    accessLog: accessLogOf(flags),
  };
}

function drainMs(flags: Record<string, unknown>): number {
  return flags["graceful-timeout"] === undefined
    ? 30_000
    : parseSeconds(flags["graceful-timeout"] as string, "--graceful-timeout") *
      1000;
}

function accessLogOf(
  flags: Record<string, unknown>,
): CliConfig["accessLog"] {
  const logFile = flags["access-logfile"] as string | undefined;
  const logFormat = flags["access-logformat"] as string | undefined;
  if (logFormat !== undefined && logFile === undefined) {
    throw new UsageError(
      "--access-logformat needs --access-logfile (FILE, or - for stdout)",
    );
  }
  let log: CliConfig["accessLog"];
  if (logFile !== undefined) {
    log = { file: logFile, format: logFormat ?? GUNICORN_FORMAT };
    try {
      accessLog({ format: log.format, output: () => {} });
    } catch (error) {
      throw new UsageError(`--access-logformat: ${messageOf(error)}`);
    }
  }
  return log;
}

/** How the arguments and `$PORT` named the TCP address, in their words. */
function tcpListenArgs(
  bind: string | undefined,
  hostname: string | undefined,
  port: string | undefined,
  envPort: string | undefined,
): ListenArgs {
  const hostFlag = bind === undefined ? "--host" : "--bind";
  const portFlag = bind === undefined ? "--port" : "--bind";
  const host = bind !== undefined
    ? `--bind ${bind}`
    : hostname !== undefined
    ? `--host ${hostname}`
    : "host 127.0.0.1 (the default)";
  if (port !== undefined) {
    return { host, hostFlag, port: `${portFlag} ${bind ?? port}`, portFlag };
  }
  if (envPort) {
    const either = `${portFlag} or $PORT`;
    return { host, hostFlag, port: `$PORT ${envPort}`, portFlag: either };
  }
  return { host, hostFlag, port: "port 8000 (the default)", portFlag };
}

function parseWorkers(text: string | undefined): number {
  if (text === undefined) return 1;
  if (text === "auto") return navigator.hardwareConcurrency;
  return parseCount(text, "--workers");
}

function readPem(path: string, flag: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    throw new UsageError(
      `${flag}: cannot read ${path}: ${(error as Error).message}`,
    );
  }
}

/**
 * Runs the CLI. Resolves with the exit code once the server has closed, or
 * at once when there is nothing to serve.
 */
export async function main(args: string[]): Promise<number> {
  let config: CliConfig | "help";
  try {
    config = parseServerArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(
      `server.ts: error: ${error.message}\nRun with --help for usage.`,
    );
    return 2;
  }
  if (config === "help") {
    console.log(HELP);
    return 0;
  }
  let running: Running;
  try {
    running = config.workers > 1
      ? await startWorkers(config)
      : await startHere(config);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(
        `server.ts: error: ${error.message}\nRun with --help for usage.`,
      );
      return 2;
    }
    const line = error instanceof ListenError
      ? listenFailure(error.cause, config.listen)
      : messageOf(error);
    console.error(`server.ts: error: ${line}`);
    return 1;
  }
  return await untilSignalled(running, config.drainMs);
}

/** What the CLI runs: a server here, or one in each worker isolate. */
interface Running {
  /** Stops accepting and resolves once the requests in flight are done. */
  shutdown(): Promise<void>;
  /** Settles when every server has closed. */
  finished: Promise<void>;
}

async function startHere(config: CliConfig): Promise<Running> {
  if (config.python !== undefined) return await startPython(config);
  const app = withAccessLog(await loadApp(config.spec), config.accessLog);
  return listen(app, config);
}

function listen(app: App, config: CliConfig): Running {
  try {
    return serve(app, config.options);
  } catch (error) {
    throw new ListenError(`Cannot listen: ${messageOf(error)}`, error);
  }
}

/**
 * Serves a Python app once every worker imported it, so that a load error
 * is one line and exit 1 before anything listens. A drain ends with the
 * pool's: requests in flight finish, then the Python processes exit.
 */
async function startPython(config: CliConfig): Promise<Running> {
  const { spec, options } = config.python!;
  let app;
  try {
    app = pythonApp(spec, options);
  } catch (error) {
    throw new UsageError(messageOf(error));
  }
  let server: Running;
  try {
    await app.ready.catch((error) => {
      // The pool names its option; here the fix is the flag.
      throw error instanceof PythonLoadError &&
          error.message.startsWith("Cannot start the Python interpreter")
        ? new Error(
          error.message.replace(/; [^;]*$/, "; name one with --python"),
        )
        : error;
    });
    server = listen(withAccessLog(app, config.accessLog), config);
  } catch (error) {
    await app.close();
    throw error;
  }
  const finished = server.finished.then(() => app.close());
  return {
    finished,
    async shutdown() {
      await server.shutdown();
      await finished;
    },
  };
}

/**
 * Starts `config.workers` isolates on one port. The first binds it (and
 * picks it, for port 0); the rest join with `reusePort`.
 */
async function startWorkers(config: CliConfig): Promise<Running> {
  // Without --unstable-net, Deno exits here (code 70) with a message that
  // names the flag, before any worker starts. Bound as the first worker
  // will bind it, so that a port in use gets the same line as with one
  // isolate; a worker can only report a failure as text.
  try {
    Deno.listen({
      hostname: config.options.hostname ?? "127.0.0.1",
      port: config.options.port ?? 8000,
      reusePort: true,
    }).close();
  } catch (error) {
    throw new ListenError(`Cannot listen: ${messageOf(error)}`, error);
  }
  const workers: Worker[] = [];
  const start = (options: ServeOptions) =>
    new Promise<number>((resolve, reject) => {
      const worker = new Worker(
        new URL("./server_worker.ts", import.meta.url),
        { type: "module" },
      );
      workers.push(worker);
      worker.onmessage = (event: MessageEvent<FromServerWorker>) => {
        const answer = event.data;
        if (answer.type === "listening") resolve(answer.port);
        else if (answer.type === "failed") reject(new Error(answer.message));
      };
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(event.message));
      };
      const message: ToServerWorker = {
        type: "start",
        spec: config.spec,
        options: { ...options, onListen: undefined },
        accessLog: config.accessLog,
      };
      worker.postMessage(message);
    });
  let port: number;
  try {
    port = await start(config.options);
    const rest = Array.from(
      { length: config.workers - 1 },
      () => start({ ...config.options, port }),
    );
    await Promise.all(rest);
  } catch (error) {
    for (const worker of workers) worker.terminate();
    throw error;
  }
  const url = listenUrl(
    {
      transport: "tcp",
      hostname: config.options.hostname ?? "127.0.0.1",
      port,
    },
    config.options.cert !== undefined,
  );
  console.log(`Listening on ${url} with ${config.workers} workers`);
  let closed: Promise<void> | undefined;
  let finish: () => void;
  const finished = new Promise<void>((resolve) => finish = resolve);
  return {
    finished,
    shutdown() {
      closed ??= Promise.all(
        workers.map((worker) =>
          new Promise<void>((resolve) => {
            worker.onmessage = (event: MessageEvent<FromServerWorker>) => {
              if (event.data.type === "closed") {
                worker.terminate();
                resolve();
              }
            };
            const message: ToServerWorker = { type: "shutdown" };
            worker.postMessage(message);
          })
        ),
      ).then(() => finish());
      return closed;
    },
  };
}

/**
 * Serves until SIGTERM or SIGINT, then drains: no new connections, the
 * requests in flight finish, and the exit code is 0. Past the drain time,
 * or on a second signal, it gives up on them: exit code 1.
 */
function untilSignalled(running: Running, drainMs: number): Promise<number> {
  const signals: Deno.Signal[] = ["SIGTERM", "SIGINT"];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onSignal: (signal: Deno.Signal) => void;
  const handlers = new Map<Deno.Signal, () => void>();
  return new Promise<number>((resolve) => {
    let draining = false;
    onSignal = (signal) => {
      if (draining) {
        console.error(
          `server.ts: ${signal} again: exiting now, cutting the requests in flight`,
        );
        resolve(1);
        return;
      }
      draining = true;
      console.error(
        `server.ts: ${signal}: not accepting connections; finishing the ` +
          `requests in flight (at most ${
            drainMs / 1000
          } s; send it again to exit now)`,
      );
      timer = setTimeout(() => {
        console.error(
          `server.ts: requests still in flight after ${
            drainMs / 1000
          } s (--graceful-timeout); exiting`,
        );
        resolve(1);
      }, drainMs);
      running.shutdown().then(() => {
        console.error("server.ts: every request finished; exiting");
        resolve(0);
      });
    };
    for (const signal of signals) {
      const handler = () => onSignal(signal);
      handlers.set(signal, handler);
      Deno.addSignalListener(signal, handler);
    }
    running.finished.then(() => resolve(0));
  }).finally(() => {
    clearTimeout(timer);
    for (const [signal, handler] of handlers) {
      Deno.removeSignalListener(signal, handler);
    }
  });
}
