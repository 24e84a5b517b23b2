/**
 * The Python dev reload: `deno run -A bench/python_dev.ts [--saves N]`.
 *
 * One Flask hello app (`app.py`, whose answer comes from `helper.py`) in a
 * temp folder, under `dev.ts app.py` and under `flask run --reload`
 * (Debian's Flask, `/usr/bin/python3 -m flask --app app run --reload`),
 * one after the other. Each save rewrites `helper.py`, and is timed from
 * the write to the first response with the new text, polled every 5 ms,
 * with no other load; a save waits 1 s after the previous answer, a pace
 * of editing that leaves dev.ts's spare interpreter time to import Flask
 * (and flask's reloader, which polls once a second, time to notice). It
 * prints the median and p95 of each (target: dev.ts's median under 250 ms).
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { boundedInt, freePort, median } from "./_util.ts";
import { Output, runBench, spawn, stop } from "./_children.ts";

const PYTHON = "/usr/bin/python3";
const DEV = fileURLToPath(new URL("../dev.ts", import.meta.url));
const at = Deno.args.indexOf("--saves");
const SAVES = at < 0 ? 20 : boundedInt("saves", Deno.args[at + 1], 1, 1000);

const APP = `from flask import Flask
import helper

app = Flask(__name__)


@app.route("/")
def hello():
    return helper.greeting()
`;

const helper = (n: number) =>
  `def greeting():\n    return "Hello, World! ${n}"\n`;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

/** The body at `url`, or undefined while nothing listens (a restart). */
async function body(url: string): Promise<string | undefined> {
  try {
    return await (await fetch(url)).text();
  } catch {
    return undefined;
  }
}

/** Waits until `url` answers `expected`; ms since `since`. */
async function answered(
  url: string,
  expected: string,
  since: number,
): Promise<number> {
  while (await body(url) !== expected) {
    if (performance.now() - since > 30_000) {
      throw new Error(`${url} never answered "${expected}"`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return performance.now() - since;
}

/** Save-to-answer times of `SAVES` saves under the server `args` starts. */
async function measure(
  dir: string,
  port: number,
  command: string,
  args: string[],
): Promise<number[]> {
  await Deno.writeTextFile(join(dir, "helper.py"), helper(0));
  // Through env -C: the harness spawns in a process group of its own, and
  // both servers look for the app in the working directory.
  const server = spawn("/usr/bin/env", [
    "-C",
    dir,
    "NO_COLOR=1",
    "PYTHONDONTWRITEBYTECODE=1",
    command,
    ...args,
  ]);
  const output = new Output(server);
  const url = `http://127.0.0.1:${port}/`;
  const times: number[] = [];
  try {
    await answered(url, "Hello, World! 0", performance.now());
    for (let n = 1; n <= SAVES; n++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const saved = performance.now();
      await Deno.writeTextFile(join(dir, "helper.py"), helper(n));
      times.push(await answered(url, `Hello, World! ${n}`, saved));
    }
  } catch (error) {
    throw new Error(`${error}\n${output.text}`);
  } finally {
    await stop(server);
    await output.done;
  }
  return times;
}

function line(name: string, times: number[]): string {
  const sorted = [...times].sort((a, b) => a - b);
  return `${name.padEnd(24)} median ${median(times).toFixed(0)} ms, p95 ${
    percentile(sorted, 0.95).toFixed(0)
  } ms (${times.length} saves)`;
}

const dir = await Deno.realPath(await Deno.makeTempDir());

await runBench(async () => {
  await Deno.writeTextFile(join(dir, "app.py"), APP);
  const devPort = freePort();
  const dev = await measure(dir, devPort, Deno.execPath(), [
    "run",
    "-A",
    DEV,
    "--python",
    PYTHON,
    "--port",
    String(devPort),
    "--no-live-reload",
    "app.py",
  ]);
  const flaskPort = freePort();
  const flask = await measure(dir, flaskPort, PYTHON, [
    "-m",
    "flask",
    "--app",
    "app",
    "run",
    "--reload",
    "--port",
    String(flaskPort),
  ]);
  console.log(line("dev.ts app.py", dev));
  console.log(line("flask run --reload", flask));
  console.log(
    `dev.ts / flask: ${(median(dev) / median(flask)).toFixed(2)}x the time`,
  );
}, () => Deno.remove(dir, { recursive: true }));
