/**
 * Reload under load: `wrk`, in a process of its own, keeps 16 keep-alive
 * connections busy while the test saves the app. No request may fail and
 * no connection may drop; after each save the new version must answer
 * within 10 s, and the time it takes is measured and reported.
 *
 * Files that change beside the app (a log it appends to on every request,
 * the dev server's own output redirected into the app's folder) must not
 * hold a save back.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runDev } from "../../dev.ts";
import { parseWrk, type WrkSample } from "../../bench/_util.ts";
import { freePort, Spawned } from "../_helpers.ts";

const CONNECTIONS = 16;
/** The bound on the time from a save to the new version's first answer. */
const ANSWER_MS = 10_000;

/**
 * `wrk` keeping `CONNECTIONS` connections busy on `url` until `finish()`
 * (120 s at most); `finish()` resolves with its summary.
 */
function startWrk(url: string): { finish(): Promise<WrkSample> } {
  const wrk = new Spawned("wrk", [
    "-t1",
    `-c${CONNECTIONS}`,
    "-d120s",
    "--latency",
    url,
  ]);
  return {
    async finish() {
      // wrk prints its summary when interrupted.
      await wrk.stop("SIGINT");
      return parseWrk(wrk.stdout);
    },
  };
}

/**
 * Asks `url` until it answers `expected`: the ms since `saved`. Fails once
 * that passes the bound.
 */
async function answered(
  url: string,
  expected: string,
  saved: number,
): Promise<number> {
  while (true) {
    const text = await (await fetch(url)).text();
    if (text === expected) return performance.now() - saved;
    assert.ok(
      performance.now() - saved < ANSWER_MS,
      `still "${text}" ${ANSWER_MS / 1000} s after the save that makes it ` +
        `"${expected}"`,
    );
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Median, p95 and max of `latencies`, for the report line. */
function summary(latencies: number[]): string {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (share: number) =>
    sorted[Math.floor(sorted.length * share)].toFixed(0);
  return `median ${at(0.5)} ms, p95 ${at(0.95)} ms, max ${
    sorted.at(-1)!.toFixed(0)
  } ms`;
}

/**
 * Under wrk, runs `saves` `spacingMs` apart (each resolves with the answer
 * it expects once saved) and waits for each answer; reports the latencies
 * and checks that wrk saw no error and kept the server busy.
 */
async function savesUnderLoad(
  url: string,
  saves: (() => Promise<string>)[],
  spacingMs: number,
): Promise<void> {
  const wrk = startWrk(url);
  const latencies: number[] = [];
  let load: WrkSample;
  try {
    for (const save of saves) {
      await new Promise((resolve) => setTimeout(resolve, spacingMs));
      const saved = performance.now();
      const expected = await save();
      latencies.push(await answered(url, expected, saved));
    }
  } finally {
    load = await wrk.finish();
    // Printed even when a save failed: it says what the load was.
    console.log(
      `${load.requests} requests by wrk (${CONNECTIONS} connections); ` +
        `${latencies.length} of ${saves.length} saves answered, save to new ` +
        `version: ${latencies.length ? summary(latencies) : "-"}`,
    );
  }
  assert.equal(load.errors, "");
  assert.ok(
    load.requests > CONNECTIONS * saves.length,
    `only ${load.requests} requests`,
  );
}

/** An app module answering `text`, appending to app.log if `logs`. */
function appSource(text: string, logs = false): string {
  const log = logs
    ? '  Deno.writeTextFileSync(new URL("./app.log", import.meta.url), "request\\n", { append: true });\n'
    : "";
  return `import { lib } from "./lib.ts";
export default (_environ: unknown, startResponse: (s: string, h: [string, string][]) => unknown) => {
${log}  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [\`${text} \${lib}\`];
};
`;
}

/** A temp app: app.ts, answering `app0 lib0`, and the lib.ts it imports. */
async function project(logs = false): Promise<string> {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  await Deno.writeTextFile(join(dir, "lib.ts"), 'export const lib = "lib0";\n');
  await Deno.writeTextFile(join(dir, "app.ts"), appSource("app0", logs));
  return dir;
}

/**
 * `count` saves that alternate between app.ts and the lib.ts it imports,
 * each resolving with the answer it makes.
 */
function saves(dir: string, count: number, logs = false) {
  let app = 0;
  let lib = 0;
  return Array.from({ length: count }, (_, index) => async () => {
    if (index % 2 === 0) {
      app++;
      await Deno.writeTextFile(
        join(dir, "app.ts"),
        appSource(`app${app}`, logs),
      );
    } else {
      lib++;
      await Deno.writeTextFile(
        join(dir, "lib.ts"),
        `export const lib = "lib${lib}";\n`,
      );
    }
    return `app${app} lib${lib}`;
  });
}

/**
 * A real `dev.ts` process for `dir`'s app.ts, started from `dir` with a
 * bare relative spec, its stdout and stderr going to the file `output`.
 */
async function devProcess(
  dir: string,
  output: string,
  args: string[] = [],
): Promise<{ url: string; output: () => string; stop(): Promise<void> }> {
  const port = freePort();
  const dev = new Spawned("sh", [
    "-c",
    'cd "$0" && deno="$1" dev="$2" port="$3" out="$4" && shift 4 &&' +
    ' exec "$deno" run -A "$dev" app.ts --port "$port" "$@" >"$out" 2>&1',
    dir,
    Deno.execPath(),
    fileURLToPath(new URL("../../dev.ts", import.meta.url)),
    String(port),
    output,
    ...args,
  ]);
  const read = () => {
    try {
      return Deno.readTextFileSync(output);
    } catch {
      return "";
    }
  };
  const stop = async () => void await dev.stop("SIGINT");
  const deadline = Date.now() + 30_000;
  while (!/Listening on/.test(read())) {
    // `done` wins the race only once the process has exited.
    if (Date.now() > deadline || (await Promise.race([dev.done, 0])) !== 0) {
      await stop();
      throw new Error(`dev.ts did not listen within 30 s:\n${read()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { url: `http://127.0.0.1:${port}/`, output: read, stop };
}

/** The reload lines of a dev server's output naming a file other than the app's. */
function strayReloads(output: string, dir: string): string[] {
  const app = new Set([join(dir, "app.ts"), join(dir, "lib.ts")]);
  return (output.match(/^reloaded .*$/gm) ?? []).filter((line) => {
    const changed = line.match(/^reloaded \((.*)\) in \d+ ms$/)?.[1];
    return changed === undefined ||
      !changed.split(", ").every((path) => app.has(path));
  });
}

Deno.test("runDev() answers 20 saves of the app and its import under wrk, 0 failed requests", async () => {
  const dir = await project();
  const dev = await runDev({
    app: join(dir, "app.ts"),
    port: 0,
    log() {},
    onListen() {},
  });
  try {
    const started = Date.now();
    await savesUnderLoad(dev.url, saves(dir, 20), 550);
    assert.ok(Date.now() - started >= 10_000, "the load ran for at least 10 s");
  } finally {
    await dev.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dev.ts answers 10 saves under wrk while the app appends to a file beside itself", async () => {
  const dir = await project(true);
  const outside = await Deno.makeTempDir();
  const dev = await devProcess(dir, join(outside, "dev.log"));
  try {
    await savesUnderLoad(dev.url, saves(dir, 10, true), 300);
    assert.ok(Deno.statSync(join(dir, "app.log")).size > 0);
  } finally {
    await dev.stop();
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});

for (const watch of [false, true]) {
  const label = watch ? " --watch ." : "";
  Deno.test(`dev.ts${label} answers 10 saves under wrk with its output redirected into the app's folder`, async () => {
    const dir = await project();
    const dev = await devProcess(
      dir,
      join(dir, "dev.log"),
      watch ? ["--watch", "."] : [],
    );
    let output = "";
    try {
      await savesUnderLoad(dev.url, saves(dir, 10), 300);
    } finally {
      await dev.stop();
      output = dev.output();
      await Deno.remove(dir, { recursive: true });
    }
    // Its own access lines never make a reload, even in a watched folder.
    assert.deepEqual(strayReloads(output, dir), []);
  });
}
