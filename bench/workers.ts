/**
 * `--workers` scaling: `deno run -A bench/workers.ts [--rounds N] [--duration S]`.
 *
 * Serves two apps with `server.ts --workers 1` and `--workers 2` (one
 * isolate per core here), loads each with `wrk -t1 -c50` in interleaved
 * rounds, and prints the ratios:
 *
 * - `apps/hello.ts`: the cheapest request. wrk needs about as much CPU per
 *   request as the server, so on 2 cores a second isolate finds no idle core.
 * - `apps/cpu.ts`: 1.6 ms of computation per request here. The rate
 *   is a few hundred a second, wrk's share is small, and two isolates can
 *   each keep a core busy: this shows whether they run in parallel.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { median, roundsAndDuration, startDeno, wrkRps } from "./_util.ts";

const { rounds: ROUNDS, duration: DURATION } = roundsAndDuration(Deno.args);
const SERVER = fileURLToPath(new URL("../server.ts", import.meta.url));
const APPS = {
  hello: fileURLToPath(new URL("./apps/hello.ts", import.meta.url)),
  "1.6 ms of CPU": fileURLToPath(new URL("./apps/cpu.ts", import.meta.url)),
};

/** Requests per second from server.ts serving `app` with `workers` isolates. */
async function measure(app: string, workers: number): Promise<number> {
  // Its drain lines on SIGTERM are not the bench's business.
  const server = await startDeno([
    "run",
    "-A",
    "--unstable-net",
    SERVER,
    app,
    "--workers",
    String(workers),
  ], "null");
  try {
    return await wrkRps(server.url, DURATION);
  } finally {
    await server.stop();
  }
}

const ratios: Record<string, number[]> = {};
for (let round = 1; round <= ROUNDS; round++) {
  for (const [name, app] of Object.entries(APPS)) {
    const one = await measure(app, 1);
    const two = await measure(app, 2);
    (ratios[name] ??= []).push(two / one);
    console.log(
      `round ${round}, ${name}: 1 worker ${one.toFixed(0)} req/s, ` +
        `2 workers ${two.toFixed(0)} req/s, ratio ${(two / one).toFixed(2)}`,
    );
  }
}
console.log();
for (const [name, values] of Object.entries(ratios)) {
  const sorted = values.toSorted((a, b) => a - b);
  console.log(
    `| --workers 2 vs --workers 1, ${name} (median of ${ROUNDS}) | ` +
      `${median(values).toFixed(2)}x (${
        sorted.map((r) => r.toFixed(2)).join(", ")
      }) |`,
  );
}
