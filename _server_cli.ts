/**
 * The `server.ts` command line: arguments, the app to load, and serving it.
 *
 * @module
 */
import { serve, type ServeOptions, type Server } from "./server.ts";
import { parseArgs, parsePort, parseSize, UsageError } from "./_cli.ts";
import {
  type AppSpec,
  DEFAULT_EXPORTS,
  loadApp,
  parseAppSpec,
} from "./_load.ts";
import { messageOf } from "./_errors.ts";

const HELP = `Serve a gateway (WSGI) app on Deno.serve.

Usage: deno run -A server.ts [options] APP_MODULE[:NAME]

APP_MODULE is a path to a module. NAME is the export to serve; without it
the first of ${
  DEFAULT_EXPORTS.map((n) => `"${n}"`).join(", ")
} is taken. NAME() calls the
export, an app factory, and serves what it returns.

Options:
  -b, --bind ADDRESS    Where to listen: HOST:PORT, [IPV6]:PORT, or unix:PATH
  -H, --host HOST       Host to listen on (default 127.0.0.1)
  -p, --port PORT       Port to listen on, 0 for any (default $PORT, else 8000)
      --unix-socket PATH
                        Listen on a unix socket instead of TCP
      --cert FILE       PEM certificate chain: serve HTTPS (needs --key)
      --key FILE        PEM private key for --cert
      --max-body SIZE   Largest request body, like 10m; larger gets 413
      --script-name PREFIX
                        Path prefix the app is mounted at ($SCRIPT_NAME)
  -h, --help            Show this help and exit

Examples:
  deno run -A server.ts examples/hello.ts
  deno run -A server.ts --port 9000 myapp.ts:api
  deno run -A server.ts -b unix:/run/app.sock myapp.ts:create()
`;

/** What the CLI settles on from its arguments and the environment. */
export interface CliConfig {
  /** The app to load. */
  spec: AppSpec;
  /** The options to serve it with. */
  options: ServeOptions;
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
    { name: "max-body", kind: "string" },
    { name: "script-name", kind: "string" },
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
  } else {
    if (hostname !== undefined) options.hostname = hostname;
    const envPort = env("PORT");
    if (port !== undefined) options.port = parsePort(port, "--port");
    else if (envPort) options.port = parsePort(envPort, "$PORT");
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
  if (flags["max-body"] !== undefined) {
    options.maxBodySize = parseSize(flags["max-body"] as string, "--max-body");
  }
  const scriptName = (flags["script-name"] as string | undefined) ??
    env("SCRIPT_NAME");
  if (scriptName) {
    if (!scriptName.startsWith("/")) {
      throw new UsageError(
        `the script name must start with "/", got "${scriptName}"`,
      );
    }
    options.scriptName = scriptName;
  }
  return { spec: parseAppSpec(positionals[0]), options };
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
  let app;
  try {
    app = await loadApp(config.spec);
  } catch (error) {
    console.error(`server.ts: error: ${messageOf(error)}`);
    return 1;
  }
  let server: Server;
  try {
    server = serve(app, config.options);
  } catch (error) {
    console.error(
      `server.ts: error: cannot listen: ${messageOf(error)}`,
    );
    return 1;
  }
  await server.finished;
  return 0;
}
