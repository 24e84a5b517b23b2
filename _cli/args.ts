/**
 * A small command-line parser for the server and dev server CLIs: long
 * flags with `--name value` or `--name=value`, short aliases, booleans, and
 * positional arguments. It has no dependencies because JSR's `@std/cli` is
 * not reachable where this project is built.
 *
 * @module
 */
import { messageOf } from "../_shared/errors.ts";

/** How one flag is read. */
export interface FlagSpec {
  /** Long name, without `--`. */
  name: string;
  /** One-letter alias, without `-`. */
  short?: string;
  /** `boolean` flags take no value. */
  kind: "string" | "boolean";
  /** May be given more than once; the values are collected. */
  repeat?: boolean;
}

/** A parse result: values by long name, plus positional arguments. */
export interface ParsedArgs {
  flags: Record<string, string | boolean | string[]>;
  positionals: string[];
}

/** A mistake on the command line; the message says which argument. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Parses `args` against `specs`, throwing {@linkcode UsageError}. */
export function parseArgs(args: string[], specs: FlagSpec[]): ParsedArgs {
  const byName = new Map<string, FlagSpec>();
  for (const spec of specs) {
    byName.set(`--${spec.name}`, spec);
    if (spec.short) byName.set(`-${spec.short}`, spec);
  }
  const flags: ParsedArgs["flags"] = {};
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const key = eq > 0 ? arg.slice(0, eq) : arg;
    const spec = byName.get(key);
    if (spec === undefined) throw new UsageError(`unknown option ${key}`);
    let value: string | boolean;
    if (spec.kind === "boolean") {
      if (eq > 0) throw new UsageError(`option ${key} takes no value`);
      value = true;
    } else if (eq > 0) {
      value = arg.slice(eq + 1);
    } else {
      if (i + 1 >= args.length) {
        throw new UsageError(`option ${key} needs a value`);
      }
      value = args[++i];
    }
    if (spec.repeat) {
      const list = (flags[spec.name] ??= []) as string[];
      list.push(value as string);
    } else {
      flags[spec.name] = value;
    }
  }
  return { flags, positionals };
}

/** Parses a TCP port: an integer from 0 to 65535. */
export function parsePort(text: string, what: string): number {
  if (!/^\d+$/.test(text) || Number(text) > 65535) {
    throw new UsageError(
      `${what} must be a port number from 0 to 65535, got "${text}"`,
    );
  }
  return Number(text);
}

/** Parses a byte size: a whole number with an optional k, m or g suffix. */
export function parseSize(text: string, what: string): number {
  const match = /^(\d+)([kmg]?)b?$/i.exec(text.trim());
  if (match === null) {
    throw new UsageError(
      `${what} must be a size in bytes like 1048576 or 10m, got "${text}"`,
    );
  }
  const scale = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[
    match[2].toLowerCase() as "" | "k" | "m" | "g"
  ];
  return Number(match[1]) * scale;
}

/** Parses a duration in seconds: a number more than 0, like 30 or 0.5. */
export function parseSeconds(text: string, flag: string): number {
  const seconds = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !(seconds > 0)) {
    throw new UsageError(
      `${flag} must be a number of seconds more than 0, like 30 or 0.5, got "${text}"`,
    );
  }
  return seconds;
}

/**
 * The flags of the limits that production applies, which server.ts and
 * dev.ts both take: `--max-body`, `--request-timeout`, `--script-name`.
 */
export const LIMIT_FLAGS: FlagSpec[] = [
  { name: "max-body", kind: "string" },
  { name: "request-timeout", kind: "string" },
  { name: "script-name", kind: "string" },
];

/** What {@linkcode LIMIT_FLAGS} give, as `serve()`'s options of the same names. */
export interface Limits {
  maxBodySize?: number;
  requestTimeout?: number;
  scriptName?: string;
}

/**
 * Reads {@linkcode LIMIT_FLAGS} from parsed `flags`, and `SCRIPT_NAME`
 * from `env` when `--script-name` is not given; throws
 * {@linkcode UsageError}.
 */
export function parseLimits(
  flags: ParsedArgs["flags"],
  env: (name: string) => string | undefined,
): Limits {
  const limits: Limits = {};
  if (flags["max-body"] !== undefined) {
    limits.maxBodySize = parseSize(flags["max-body"] as string, "--max-body");
  }
  if (flags["request-timeout"] !== undefined) {
    limits.requestTimeout = parseSeconds(
      flags["request-timeout"] as string,
      "--request-timeout",
    ) * 1000;
  }
  const scriptName = (flags["script-name"] as string | undefined) ??
    env("SCRIPT_NAME");
  if (scriptName) {
    if (!scriptName.startsWith("/")) {
      throw new UsageError(
        `the script name must start with "/", got "${scriptName}"`,
      );
    }
    limits.scriptName = scriptName;
  }
  return limits;
}

/**
 * The flags of a Python app (`APP_MODULE` ending in `.py`), which server.ts
 * and dev.ts both take: `--python`, `--pythonpath` (repeatable),
 * `--threads`. `--workers` is each CLI's own.
 */
export const PYTHON_FLAGS: FlagSpec[] = [
  { name: "python", kind: "string" },
  { name: "pythonpath", kind: "string", repeat: true },
  { name: "threads", kind: "string" },
];

/** What {@linkcode PYTHON_FLAGS} give, as `pythonApp()`'s options. */
export interface PythonFlags {
  python?: string;
  pythonPath?: string[];
  threads?: number;
}

/**
 * Reads {@linkcode PYTHON_FLAGS} from parsed `flags`; throws
 * {@linkcode UsageError} when they are given for an app that is not a
 * Python file, where they would silently do nothing.
 */
export function parsePythonFlags(
  flags: ParsedArgs["flags"],
  isPython: boolean,
): PythonFlags {
  const given = PYTHON_FLAGS.map((spec) => spec.name).filter((name) =>
    flags[name] !== undefined
  );
  if (!isPython) {
    if (given.length > 0) {
      throw new UsageError(
        `--${
          given[0]
        } is for a Python app: name a file ending in .py as APP_MODULE`,
      );
    }
    return {};
  }
  const out: PythonFlags = {};
  if (flags.python !== undefined) {
    if (flags.python === "") throw new UsageError("--python is empty");
    out.python = flags.python as string;
  }
  if (flags.pythonpath !== undefined) {
    out.pythonPath = flags.pythonpath as string[];
  }
  if (flags.threads !== undefined) {
    out.threads = parseCount(flags.threads as string, "--threads");
  }
  return out;
}

/** Parses a count: a whole number from 1. */
export function parseCount(text: string, flag: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) {
    throw new UsageError(
      `${flag} must be a whole number from 1, got "${text}"`,
    );
  }
  return Number(text);
}

/**
 * Where a CLI was told to listen, each part in the user's own words, so
 * that an error can say what to change.
 */
export interface ListenArgs {
  /** How the host was given: `--host 0.0.0.0`, or `host 127.0.0.1 (the default)`. */
  host: string;
  /** How the port was given: `--port 8000`, `$PORT 8000`, or `port 8000 (the default)`. */
  port: string;
  /** What changes the host, like `--host`. */
  hostFlag: string;
  /** What changes the port, like `--port`. */
  portFlag: string;
  /** The unix socket's path, when it listens on one (`port` names its flag). */
  socket?: string;
}

/**
 * The one line a CLI prints when it cannot listen: what was taken or
 * refused, in the user's words, and what to change.
 */
export function listenFailure(error: unknown, where: ListenArgs): string {
  if (where.socket !== undefined) {
    if (error instanceof Deno.errors.AddrInUse) {
      return `${where.port}: a file is already there: remove it if no ` +
        `server uses it, or pick another path with ${where.portFlag}`;
    }
    if (error instanceof Deno.errors.NotFound) {
      return `${where.port}: its folder does not exist: create it, or ` +
        `pick another path with ${where.portFlag}`;
    }
  } else if (error instanceof Deno.errors.AddrInUse) {
    return `${where.port} is in use: pick another with ${where.portFlag}`;
  } else if (error instanceof Deno.errors.AddrNotAvailable) {
    return `${where.host} is not an address of this machine: pick one it ` +
      `has with ${where.hostFlag}, like 127.0.0.1, or 0.0.0.0 for all`;
  } else if (error instanceof Deno.errors.PermissionDenied) {
    return `${where.port} is reserved for privileged processes: pick one ` +
      `from 1024 up with ${where.portFlag}`;
  }
  const place = where.socket === undefined
    ? `${where.host}, ${where.port}`
    : where.port;
  return `cannot listen on ${place}: ${messageOf(error)}`;
}

/**
 * A listener that could not be opened; `cause` is the runtime's error, for
 * {@linkcode listenFailure}.
 */
export class ListenError extends Error {
  constructor(message: string, cause: unknown) {
    super(message, { cause });
    this.name = "ListenError";
  }
}
