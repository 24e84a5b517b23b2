/** The dev server's watcher, on real files in a temp directory. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { localModuleGraph, ModuleWatcher } from "../../_dev/watcher.ts";
import { Spawned } from "../_helpers.ts";

/** A temp app: app.ts imports lib/dep.ts, which imports lib/sub.ts. */
async function project(): Promise<string> {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  await Deno.mkdir(join(dir, "lib"));
  await Deno.mkdir(join(dir, "assets"));
  await Deno.writeTextFile(
    join(dir, "app.ts"),
    'import { dep } from "./lib/dep.ts";\nexport default dep;\n',
  );
  await Deno.writeTextFile(
    join(dir, "lib/dep.ts"),
    'import { sub } from "./sub.ts";\nexport const dep = sub;\n',
  );
  await Deno.writeTextFile(join(dir, "lib/sub.ts"), "export const sub = 1;\n");
  await Deno.writeTextFile(
    join(dir, "lib/unrelated.ts"),
    "export const x = 1;\n",
  );
  await Deno.writeTextFile(join(dir, "assets/style.css"), "body {}\n");
  return dir;
}

/** A watcher whose changes arrive as promises, one per burst. */
function watcherFor(
  dir: string,
  options: { extraPaths?: string[]; ignore?: RegExp[] } = {},
) {
  const bursts: string[][] = [];
  let wake: (() => void) | undefined;
  const watcher = new ModuleWatcher(join(dir, "app.ts"), {
    ...options,
    debounceMs: 100,
    onChange(paths) {
      bursts.push(paths.sort());
      wake?.();
    },
  });
  /** Resolves once `count` bursts have been reported; fails after 10 s. */
  const bursted = (count: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`saw ${bursts.length} bursts, wanted ${count}`)),
        10_000,
      );
      const check = () => {
        if (bursts.length >= count) {
          clearTimeout(timer);
          resolve();
        }
      };
      wake = check;
      check();
    });
  return { watcher, bursts, bursted };
}

Deno.test("localModuleGraph() lists the app's local modules, transitively", async () => {
  const dir = await project();
  try {
    const files = await localModuleGraph(join(dir, "app.ts"));
    assert.deepEqual(files.sort(), [
      join(dir, "app.ts"),
      join(dir, "lib/dep.ts"),
      join(dir, "lib/sub.ts"),
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("localModuleGraph() still names the entry when the app does not parse", async () => {
  const dir = await project();
  try {
    await Deno.writeTextFile(join(dir, "app.ts"), "export default (;\n");
    assert.deepEqual(await localModuleGraph(join(dir, "app.ts")), [
      join(dir, "app.ts"),
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ModuleWatcher reports a burst of saves to an imported module once", async () => {
  const dir = await project();
  const { watcher, bursts, bursted } = watcherFor(dir);
  try {
    await watcher.refresh();
    // A file beside the graph's files changes first: it must not count.
    await Deno.writeTextFile(
      join(dir, "lib/unrelated.ts"),
      "export const x = 2;\n",
    );
    for (let i = 0; i < 5; i++) {
      await Deno.writeTextFile(
        join(dir, "lib/sub.ts"),
        `export const sub = ${i};\n`,
      );
    }
    await bursted(1);
    assert.deepEqual(bursts, [[join(dir, "lib/sub.ts")]]);
  } finally {
    await watcher.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ModuleWatcher sees a save done by writing a new file and renaming it over the old", async () => {
  const dir = await project();
  const { watcher, bursts, bursted } = watcherFor(dir);
  try {
    await watcher.refresh();
    const temp = join(dir, "lib/.dep.ts.swp");
    await Deno.writeTextFile(
      temp,
      'import { sub } from "./sub.ts";\nexport const dep = sub + 1;\n',
    );
    await Deno.rename(temp, join(dir, "lib/dep.ts"));
    await bursted(1);
    assert.ok(bursts[0].includes(join(dir, "lib/dep.ts")));
  } finally {
    await watcher.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ModuleWatcher watches extra paths recursively and honours ignore patterns", async () => {
  const dir = await project();
  const { watcher, bursts, bursted } = watcherFor(dir, {
    extraPaths: [join(dir, "assets")],
    ignore: [/\.tmp$/],
  });
  try {
    await watcher.refresh();
    await Deno.writeTextFile(join(dir, "assets/ignored.tmp"), "x");
    await Deno.writeTextFile(
      join(dir, "assets/style.css"),
      "body { color: red }\n",
    );
    await bursted(1);
    assert.deepEqual(bursts, [[join(dir, "assets/style.css")]]);
  } finally {
    await watcher.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ModuleWatcher.refresh() follows a module the app starts importing", async () => {
  const dir = await project();
  const { watcher, bursts, bursted } = watcherFor(dir);
  try {
    await watcher.refresh();
    assert.equal(watcher.files.includes(join(dir, "lib/unrelated.ts")), false);
    await Deno.writeTextFile(
      join(dir, "app.ts"),
      'import { dep } from "./lib/dep.ts";\nimport { x } from "./lib/unrelated.ts";\nexport default dep + x;\n',
    );
    await bursted(1);
    await watcher.refresh();
    assert.ok(watcher.files.includes(join(dir, "lib/unrelated.ts")));
    await Deno.writeTextFile(
      join(dir, "lib/unrelated.ts"),
      "export const x = 3;\n",
    );
    await bursted(2);
    assert.deepEqual(bursts[1], [join(dir, "lib/unrelated.ts")]);
  } finally {
    await watcher.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ModuleWatcher reports a save on time while a file beside the app keeps changing", async () => {
  const dir = await project();
  const { watcher, bursts, bursted } = watcherFor(dir);
  // A log beside the app's modules, appended every 5 ms for at most 3 s,
  // as an app serving traffic would.
  let churning = true;
  const churn = (async () => {
    const stop = Date.now() + 3000;
    while (churning && Date.now() < stop) {
      await Deno.writeTextFile(join(dir, "lib/app.log"), "line\n", {
        append: true,
      });
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  try {
    await watcher.refresh();
    const saved = Date.now();
    await Deno.writeTextFile(
      join(dir, "lib/sub.ts"),
      "export const sub = 2;\n",
    );
    await bursted(1);
    const ms = Date.now() - saved;
    assert.deepEqual(bursts, [[join(dir, "lib/sub.ts")]]);
    // The debounce is 100 ms: a second is ample, three would mean the churn
    // held the change back until it stopped.
    assert.ok(ms < 1000, `the change came ${ms} ms after the save`);
  } finally {
    churning = false;
    await churn;
    await watcher.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** The text of `path` once it holds `needle`; fails after 10 s. */
async function textWith(path: string, needle: string): Promise<string> {
  const deadline = Date.now() + 10_000;
  while (true) {
    const text = await Deno.readTextFile(path).catch(() => "");
    if (text.includes(needle)) return text;
    assert.ok(Date.now() < deadline, `${path} never held "${needle}":${text}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test("ModuleWatcher does not report the file its own process's output goes to", async () => {
  const dir = await project();
  const log = join(dir, "assets/watcher.log");
  const style = join(dir, "assets/style.css");
  // The watcher in a process of its own, printing each change into a file
  // of the folder it watches: each line it prints is an event there.
  await Deno.writeTextFile(
    join(dir, "watch.ts"),
    `import { ModuleWatcher } from ${
      JSON.stringify(new URL("../../_dev/watcher.ts", import.meta.url).href)
    };
const watcher = new ModuleWatcher("app.ts", {
  extraPaths: ["assets"],
  debounceMs: 100,
  onChange: (paths) => console.log(JSON.stringify(paths)),
});
await watcher.refresh();
console.log("watching");
`,
  );
  const child = new Spawned("sh", [
    "-c",
    'cd "$0" && exec "$1" run -A watch.ts >assets/watcher.log 2>&1',
    dir,
    Deno.execPath(),
  ]);
  try {
    await textWith(log, "watching");
    await Deno.writeTextFile(style, "body { color: blue }\n");
    await textWith(log, style);
    // Five debounce spells more, for a change its own line would make.
    await new Promise((resolve) => setTimeout(resolve, 500));
    // One save may come as more than one burst on a busy machine; what
    // matters is that the watcher's own log is never among the changes.
    const [first, ...changes] = (await Deno.readTextFile(log)).trim().split(
      "\n",
    );
    assert.equal(first, "watching");
    assert.deepEqual(
      changes.filter((line) => line !== JSON.stringify([style])),
      [],
    );
  } finally {
    await child.stop("SIGTERM");
    await Deno.remove(dir, { recursive: true });
  }
});
