/**
 * Loads an app from a `module[:name]` spec, the way gunicorn reads
 * `module:variable`.
 *
 * @module
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { App } from "../_contract/types.ts";
import { toApp } from "../_shared/app_like.ts";
import { describe, messageOf } from "../_shared/errors.ts";

/** Export names tried, in order, when the spec names none. */
export const DEFAULT_EXPORTS = ["default", "app", "application"];

/**
 * The URL schemes the runtime loads modules from. A spec that starts with
 * one of them is a URL; anything else, `app.ts:hello` included, is a path.
 */
const SCHEMES = new Set(["file", "http", "https", "npm", "jsr", "data"]);

const schemeList = [...SCHEMES].map((scheme) => `${scheme}:`).join(", ");
const defaultList = DEFAULT_EXPORTS.map((name) => `"${name}"`).join(", ");

/** What `APP_MODULE[:NAME]` means, for the CLIs' `--help`. */
export const SPEC_HELP =
  `APP_MODULE is a path to a module, from the working directory, or a URL
(${schemeList}). NAME is the export to serve;
without it the first of ${defaultList} is taken.
NAME() calls the export, an app factory, and serves what it returns; quote
it for the shell: 'app.ts:create()'.
An APP_MODULE ending in .py is a Python WSGI app, run in CPython worker
processes; NAME is its callable, by default "application", then "app"
(a Django project: mysite/wsgi.py).`;

/**
 * Whether `spec` names a Python file (`app.py`, `app.py:callable`), which
 * `pythonApp()` serves, rather than a module to import.
 */
export function isPythonSpec(spec: string): boolean {
  return /^.+\.py(:[^/]*)?$/.test(spec);
}

/** A module path and the export to take from it. */
export interface AppSpec {
  /** The module's path or URL as given. */
  module: string;
  /** The export's name; undefined to try {@linkcode DEFAULT_EXPORTS}. */
  name?: string;
  /** Whether the export is a factory to call, as in `module:create()`. */
  call: boolean;
}

/** Splits `app.ts:name` or `app.ts:create()`; a bare path names no export. */
export function parseAppSpec(spec: string): AppSpec {
  const match = /^(.+):([A-Za-z_$][\w$]*)(\(\))?$/.exec(spec);
  // In `npm:hono` the colon belongs to the specifier: it names no export.
  if (match === null || SCHEMES.has(match[1])) {
    return { module: spec, call: false };
  }
  return { module: match[1], name: match[2], call: match[3] !== undefined };
}

/** The module's URL: a path is taken from the working directory. */
export function moduleUrl(module: string): URL {
  const colon = module.indexOf(":");
  if (colon > 0 && SCHEMES.has(module.slice(0, colon))) return new URL(module);
  return pathToFileURL(resolve(module));
}

/** Imports the module and returns its app, or throws an Error saying why not. */
export async function loadApp(spec: AppSpec): Promise<App> {
  const url = moduleUrl(spec.module);
  const exports = await import(url.href) as Record<string, unknown>;
  return await appFromExports(exports, spec);
}

/** Picks the app out of a module's exports. */
export async function appFromExports(
  exports: Record<string, unknown>,
  spec: AppSpec,
): Promise<App> {
  const names = spec.name === undefined ? DEFAULT_EXPORTS : [spec.name];
  const name = names.find((candidate) => exports[candidate] !== undefined);
  if (name === undefined) {
    const found = Object.keys(exports);
    throw new Error(
      `Cannot find the app in ${spec.module}: it has no export named ${
        names.map((n) => `"${n}"`).join(" or ")
      } (its exports: ${found.length ? found.join(", ") : "none"})`,
    );
  }
  let value = exports[name];
  if (spec.call) {
    if (typeof value !== "function") {
      throw new Error(
        `Cannot call ${spec.module}:${name}(): it is ${describe(value)}`,
      );
    }
    try {
      value = await (value as () => unknown)();
    } catch (error) {
      throw new Error(
        `Cannot call ${spec.module}:${name}(): ${messageOf(error)}`,
        { cause: error },
      );
    }
  }
  try {
    return toApp(value as App);
  } catch (error) {
    throw new Error(
      `Cannot serve ${spec.module}:${name}: ${(error as Error).message}`,
    );
  }
}
