/**
 * The dev server's watcher: which files make up the app, and when they
 * change.
 *
 * The app's local module graph comes from `deno info --json` (the same
 * resolver that loads the app, import maps included), so a change to any
 * module the app imports, directly or not, is seen, and files that are not
 * part of the app are not. Directories are watched rather than files,
 * because editors save by writing a new file and renaming it over the old
 * one, which ends a watch on the file itself; events for the other files
 * in those directories (a log the app writes beside its code) are dropped
 * and do not touch the debounce. A burst of events on the app's files (an
 * editor's save, a `git checkout`) becomes one change, after a quiet spell.
 * Extra paths count whole: any file in an extra directory is the app's,
 * except the files this process's own output is redirected to.
 *
 * @module
 */
import { fstatSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Options of {@linkcode ModuleWatcher}. */
export interface WatcherOptions {
  /**
   * More files or directories to watch (directories recursively). Any file
   * in them counts, except where this process's stdout and stderr go.
   */
  extraPaths?: string[];
  /** Paths matching any of these are ignored. */
  ignore?: RegExp[];
  /**
   * Quiet time in milliseconds after the last event before a change is
   * reported.
   *
   * @default {25}
   */
  debounceMs?: number;
  /** Called once per burst of changes, with the paths that changed. */
  onChange: (paths: string[]) => void;
  /**
   * The app's files, absolute paths, asked at each refresh. By default
   * {@linkcode localModuleGraph}; a Python app's come from what its import
   * loaded.
   */
  graph?: (entry: string) => Promise<string[]>;
}

/**
 * The local files of `entry`'s module graph, absolute paths, `entry`
 * first. Remote, `npm:` and `jsr:` modules are left out: they do not change
 * while one develops. A graph that cannot be built (a syntax error, a
 * missing import) still yields `entry` and the files it could resolve.
 */
export async function localModuleGraph(entry: string): Promise<string[]> {
  const root = resolve(entry);
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", root],
    stdout: "piped",
    stderr: "null",
    stdin: "null",
  }).output();
  const files = new Set([root]);
  try {
    const info = JSON.parse(new TextDecoder().decode(stdout)) as {
      modules?: { specifier: string }[];
    };
    for (const { specifier } of info.modules ?? []) {
      if (specifier.startsWith("file:")) files.add(fileURLToPath(specifier));
    }
  } catch {
    // No graph at all: the entry alone is still worth watching.
  }
  return [...files];
}

/**
 * The files this process's stdout and stderr are redirected to, by device
 * and inode (a path would miss a file reached through another name).
 * Terminals and pipes are not files and are left out.
 */
function ownOutputs(): { dev: number; ino: number }[] {
  const outputs: { dev: number; ino: number }[] = [];
  for (const fd of [1, 2]) {
    try {
      const stat = fstatSync(fd);
      if (stat.isFile()) outputs.push({ dev: stat.dev, ino: stat.ino });
    } catch {
      // A closed descriptor writes nowhere.
    }
  }
  return outputs;
}

/**
 * Watches an app's local module graph plus extra paths, and reports each
 * burst of changes once.
 */
export class ModuleWatcher {
  #entry: string;
  #options: WatcherOptions;
  #files = new Set<string>();
  #extra: string[];
  #watchers: Deno.FsWatcher[] = [];
  #pending = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #refreshing: Promise<void> | undefined;
  #wanted = false;
  #outputs = ownOutputs();

  constructor(entry: string, options: WatcherOptions) {
    this.#entry = resolve(entry);
    this.#options = options;
    this.#extra = (options.extraPaths ?? []).map((path) => resolve(path));
  }

  /** The files being watched now, the graph's and the extra ones. */
  get files(): string[] {
    return [...this.#files];
  }

  /**
   * Works out the module graph (again) and watches what it holds. Call it
   * after each reload: the app may import new modules. Calls while one runs
   * make one more run; the promise settles when none is left.
   */
  refresh(): Promise<void> {
    this.#wanted = true;
    this.#refreshing ??= (async () => {
      try {
        while (this.#wanted && !this.#closed) {
          this.#wanted = false;
          await this.#refreshOnce();
        }
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }

  async #refreshOnce(): Promise<void> {
    const files = await (this.#options.graph ?? localModuleGraph)(
      this.#entry,
    );
    if (this.#closed) return;
    const next = new Set(files);
    const directories = new Set(files.map((file) => dirname(file)));
    const same = next.size === this.#files.size &&
      files.every((file) => this.#files.has(file));
    this.#files = next;
    if (same && this.#watchers.length > 0) return;
    this.#stopWatching();
    this.#watch([...directories], false);
    if (this.#extra.length > 0) this.#watch(this.#extra, true);
  }

  #watch(paths: string[], recursive: boolean): void {
    const watcher = Deno.watchFs(paths, { recursive });
    this.#watchers.push(watcher);
    (async () => {
      try {
        for await (const event of watcher) this.#seen(event);
      } catch (error) {
        // Closing a watcher ends its iteration; anything else is news.
        if (!(error instanceof Deno.errors.BadResource)) throw error;
      }
    })();
  }

  #seen(event: Deno.FsEvent): void {
    if (event.kind === "access" || this.#closed) return;
    // Only the app's own paths restart the quiet spell: a log the app
    // appends to beside its code on every request would otherwise hold a
    // save back for as long as traffic lasts.
    let relevant = false;
    for (const path of event.paths) {
      if (!this.#relevant(path)) continue;
      this.#pending.add(path);
      relevant = true;
    }
    if (!relevant) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      const paths = [...this.#pending];
      this.#pending.clear();
      this.#timer = undefined;
      this.#options.onChange(paths);
    }, this.#options.debounceMs ?? 25);
  }

  #relevant(path: string): boolean {
    if (this.#options.ignore?.some((pattern) => pattern.test(path))) {
      return false;
    }
    if (this.#files.has(path)) return true;
    return this.#extra.some((extra) =>
      path === extra || path.startsWith(extra + "/")
    ) && !this.#isOwnOutput(path);
  }

  /**
   * Whether `path` is where this process's stdout or stderr goes: a dev
   * server started with its output redirected into a watched folder would
   * otherwise reload for every line it prints, a reload's own line too.
   */
  #isOwnOutput(path: string): boolean {
    if (this.#outputs.length === 0) return false;
    let stat: Deno.FileInfo;
    try {
      stat = Deno.statSync(path);
    } catch {
      return false;
    }
    return this.#outputs.some((output) =>
      output.dev === stat.dev && output.ino === stat.ino
    );
  }

  #stopWatching(): void {
    for (const watcher of this.#watchers) watcher.close();
    this.#watchers = [];
  }

  /**
   * Stops watching; no change is reported after this. Settles once a
   * refresh under way has ended.
   */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#stopWatching();
    await this.#refreshing;
  }
}
