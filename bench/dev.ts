/**
 * The dev server's bench: `deno run -A bench/dev.ts`.
 *
 * 1. Throughput: hello world under `dev.ts` against the same app under
 *    `server.ts`, loaded with wrk in interleaved rounds (target: at least
 *    0.25x; every request crosses into a Worker and back).
 * 2. Reload latency: 50 saves of a module the app imports, each timed from
 *    the write to the first response of the new version, with no other
 *    load (target: median under 100 ms).
 * 3. Memory: the dev server's RSS after the first reload and after 200
 *    (target: growth under 20 MB), and after the first load for scale:
 *    the first reloads, when two generations live side by side, raise it
 *    once, and it stays there.
 *
 * Flags: `--rounds N` (default 3), `--duration S` (default 4).
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  roundsAndDuration,
  rssMiB,
  startDeno,
  type Started,
  wrkRps,
} from "./_util.ts";

const { rounds: ROUNDS, duration: DURATION } = roundsAndDuration(Deno.args);
const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** A temp app whose answer comes from lib.ts. */
async function project(): Promise<string> {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    join(dir, "lib.ts"),
    'export const word = "Hello, World!";\n',
  );
  await Deno.writeTextFile(
    join(dir, "app.ts"),
    `import { word } from "./lib.ts";
export default (_environ: unknown, startResponse: (s: string, h: [string, string][]) => unknown) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [word];
};
`,
  );
  return dir;
}

/** `script` (server.ts or dev.ts) serving `app`. */
function start(script: string, app: string): Promise<Started> {
  return startDeno(["run", "-A", join(ROOT, script), app]);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

const dir = await project();
const app = join(dir, "app.ts");
try {
  // 1. Throughput, interleaved with the direct server.
  const ratios: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const direct = await start("server.ts", app);
    const directRps = await wrkRps(direct.url, DURATION);
    await direct.stop();
    const dev = await start("dev.ts", app);
    const devRps = await wrkRps(dev.url, DURATION);
    await dev.stop();
    ratios.push(devRps / directRps);
    console.log(
      `round ${round}: server.ts ${directRps.toFixed(0)} req/s, dev.ts ${
        devRps.toFixed(0)
      } req/s, ratio ${(devRps / directRps).toFixed(2)}`,
    );
  }
  ratios.sort((a, b) => a - b);

  // 2 and 3. Reload latency over the first 50 saves; RSS after 200.
  const dev = await start("dev.ts", app);
  try {
    await (await fetch(dev.url)).text();
    const loadedRss = rssMiB(dev.pid);
    let firstRss = 0;
    const latencies: number[] = [];
    for (let save = 1; save <= 200; save++) {
      const word = `save ${save}`;
      const saved = performance.now();
      await Deno.writeTextFile(
        join(dir, "lib.ts"),
        `export const word = ${JSON.stringify(word)};\n`,
      );
      const deadline = saved + 10_000;
      while ((await (await fetch(dev.url)).text()) !== word) {
        if (performance.now() > deadline) {
          throw new Error(`save ${save} never answered`);
        }
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      if (save <= 50) latencies.push(performance.now() - saved);
      if (save === 1) firstRss = rssMiB(dev.pid);
      // Let the watcher's quiet spell pass, so that each save is a reload.
      await new Promise((resolve) => setTimeout(resolve, 80));
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const lastRss = rssMiB(dev.pid);
    latencies.sort((a, b) => a - b);
    console.log(`
| measure | result | target |
| --- | --- | --- |
| dev.ts hello world vs server.ts (median of ${ROUNDS} rounds) | ${
      percentile(ratios, 0.5).toFixed(2)
    }x (${ratios.map((r) => r.toFixed(2)).join(", ")}) | >= 0.25x |
| save to new version, 50 saves, no load | median ${
      percentile(latencies, 0.5).toFixed(0)
    } ms, p95 ${percentile(latencies, 0.95).toFixed(0)} ms | median < 100 ms |
| RSS after the first reload, after 200 reloads | ${firstRss.toFixed(1)} MiB, ${
      lastRss.toFixed(1)
    } MiB (+${(lastRss - firstRss).toFixed(1)} MiB) | growth < 20 MB |
| RSS after the first load (no reload yet) | ${loadedRss.toFixed(1)} MiB | - |
`);
  } finally {
    await dev.stop();
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
