/**
 * A small command-line parser for the server and dev server CLIs: long
 * flags with `--name value` or `--name=value`, short aliases, booleans, and
 * positional arguments. It has no dependencies because JSR's `@std/cli` is
 * not reachable where this project is built.
 *
 * @module
 */

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
