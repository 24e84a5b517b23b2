/**
 * A/B of two copies of the library: `deno run -A bench/ab.ts --a DIR --b DIR`.
 *
 * Each DIR is a checkout of the repository (for example the output of
 * `git archive <commit> | tar -x -C DIR`). For every app named in `--apps`
 * (files of `bench/apps/`, default `wsgi_hello.ts,wsgi_hello_bytes.ts`),
 * every round serves it from A and from B, one at a time, each as a process
 * of its own, and loads each with `wrk -t1 -c50`. The order flips every
 * round (A then B, B then A), so that a slow drift of the shared machine
 * favours neither. It prints, per app, B's req/s and CPU per request as
 * ratios to A's in the same round, and their medians: above 1.00, B is
 * faster (or spends less CPU per request).
 *
 * Flags: `--rounds N` (default 6), `--duration S` (default 3), `--warmup S`
 * (default 1).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import { boundedInt as int, cpuSeconds, median } from "./_util.ts";
import { Output, runBench, spawn, stop, wrk } from "./_children.ts";

interface Run {
  rps: number;
  cpuPerRequest: number;
}

/** Serves `app` from the checkout `dir` and measures it once. */
async function measure(
  dir: string,
  app: string,
  warmup: number,
  duration: number,
): Promise<Run> {
  const child = spawn(Deno.execPath(), [
    "run",
    "--allow-net=127.0.0.1",
    join(dir, "bench", "apps", app),
  ]);
  const output = new Output(child);
  try {
    const [url] = await output.waitFor(/http:\/\/127\.0\.0\.1:\d+\//, 30_000);
    const response = await fetch(url);
    const body = await response.text();
    if (response.status !== 200 || body !== "Hello, World!") {
      throw new Error(
        `${dir} ${app}: expected 200 "Hello, World!", got ${response.status}`,
      );
    }
    if (warmup > 0) await wrk(url, warmup, 50);
    const before = cpuSeconds(child.pid);
    const sample = await wrk(url, duration, 50);
    const cpu = cpuSeconds(child.pid) - before;
    return { rps: sample.rps, cpuPerRequest: cpu / sample.requests * 1e6 };
  } finally {
    await stop(child);
  }
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      a: { type: "string" },
      b: { type: "string" },
      apps: { type: "string", default: "wsgi_hello.ts,wsgi_hello_bytes.ts" },
      rounds: { type: "string", default: "6" },
      duration: { type: "string", default: "3" },
      warmup: { type: "string", default: "1" },
    },
  });
  if (values.a === undefined || values.b === undefined) {
    throw new TypeError(
      "Cannot compare: give both checkouts, --a DIR --b DIR",
    );
  }
  const dirs = { A: resolve(values.a), B: resolve(values.b) };
  const apps = values.apps.split(",").map((s) => s.trim()).filter(Boolean);
  const rounds = int("rounds", values.rounds, 1, 50);
  const duration = int("duration", values.duration, 1, 60);
  const warmup = int("warmup", values.warmup, 0, 30);
  for (const app of apps) {
    const rpsRatios: number[] = [];
    const cpuRatios: number[] = [];
    for (let round = 1; round <= rounds; round++) {
      const order = round % 2 ? ["A", "B"] as const : ["B", "A"] as const;
      const runs: Partial<Record<"A" | "B", Run>> = {};
      for (const side of order) {
        runs[side] = await measure(dirs[side], app, warmup, duration);
      }
      const { A, B } = runs as Record<"A" | "B", Run>;
      rpsRatios.push(B.rps / A.rps);
      cpuRatios.push(A.cpuPerRequest / B.cpuPerRequest);
      console.log(
        `${app} round ${round}: A ${A.rps.toFixed(0)} req/s ` +
          `${A.cpuPerRequest.toFixed(2)} µs, B ${B.rps.toFixed(0)} req/s ` +
          `${B.cpuPerRequest.toFixed(2)} µs`,
      );
    }
    const list = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(", ");
    console.log(
      `${app}: B/A req/s ${median(rpsRatios).toFixed(3)} (${
        list(rpsRatios)
      }); CPU/req A/B ${median(cpuRatios).toFixed(3)} (${list(cpuRatios)})`,
    );
  }
}

if (import.meta.main) {
  await runBench(() => main(Deno.args));
}
