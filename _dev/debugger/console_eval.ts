/**
 * The debugger console's evaluation, inside a generation's Worker: console
 * input runs there with the app module's exports, the app, and a traceback
 * page's error and environ in scope. Whether a request may send input at all
 * is the PIN guard's to say, in the supervisor (`pin_guard.ts`).
 *
 * @module
 */
import type { App } from "../../_contract/types.ts";
import type { Evaluated } from "../protocol.ts";
import { DEBUGGER_PATH } from "./pin_guard.ts";

/** The errors of the last traceback pages that the console can look into. */
export const KEPT_ERRORS = 50;

// An async function's constructor, to compile what the console is sent
// with `await` allowed.
const AsyncFunction = Object.getPrototypeOf(async () => {})
  .constructor as new (...args: string[]) => (
    ...args: unknown[]
  ) => Promise<unknown>;
const SCOPE = ["exports", "app", "error", "environ"];

/** Compiles console input: an expression if it is one, else statements. */
function compile(source: string) {
  try {
    return new AsyncFunction(...SCOPE, `return (${source}\n);`);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    return new AsyncFunction(...SCOPE, source);
  }
}

/** What console input threw, with its stack down to the console's own frames. */
function thrownText(error: unknown): string {
  if (!(error instanceof Error)) return `Uncaught ${Deno.inspect(error)}`;
  const lines = (error.stack ?? `${error.name}: ${error.message}`).split("\n");
  const own = lines.findIndex((line) =>
    line.includes(import.meta.url) && !line.includes("eval at")
  );
  return `Uncaught ${(own < 0 ? lines : lines.slice(0, own)).join("\n")}`;
}

/** One generation's console: what it has in scope, and the errors it kept. */
export class ConsoleEval {
  readonly #generation: number;
  #exports: Record<string, unknown> = {};
  #app: App | undefined;
  #shown = new Map<string, { error: unknown; environ: unknown }>();
  #count = 0;

  /** The console of generation `generation`, which names its errors' keys. */
  constructor(generation: number) {
    this.#generation = generation;
  }

  /** Puts the app module's exports and the app in scope, once loaded. */
  scope(exports: Record<string, unknown>, app: App): void {
    this.#exports = exports;
    this.#app = app;
  }

  /** Keeps `error` for the console; its key, to be named by the page. */
  keep(error: unknown, environ: unknown): string {
    const key = `${this.#generation}-${++this.#count}`;
    this.#shown.set(key, { error, environ });
    if (this.#shown.size > KEPT_ERRORS) {
      this.#shown.delete(this.#shown.keys().next().value!);
    }
    return key;
  }

  /** Runs `source`, with the error kept under `key` and its environ in scope. */
  async evaluate(source: string, key?: string): Promise<Evaluated> {
    const context = key === undefined
      ? { error: undefined, environ: undefined }
      : this.#shown.get(key);
    if (context === undefined) {
      return {
        ok: false,
        output: key!.startsWith(`${this.#generation}-`)
          ? "This error is too old: the console keeps the last " +
            `${KEPT_ERRORS} errors' context`
          : "This page is from an earlier version of the app, reloaded " +
            `since: reload the page, or use the console at ${DEBUGGER_PATH}console`,
      };
    }
    try {
      const value = await compile(source)(
        this.#exports,
        this.#app,
        context.error,
        context.environ,
      );
      return {
        ok: true,
        output: Deno.inspect(value, { depth: 4, iterableLimit: 200 }),
      };
    } catch (error) {
      return { ok: false, output: thrownText(error) };
    }
  }
}
