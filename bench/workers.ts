/**
 * `--workers` scaling: `deno run -A bench/workers.ts [--rounds N] [--duration S]`.
 *
 * Serves `apps/hello.ts` with `server.ts --workers 1` and `--workers 2`
 * (one isolate per core here), loads each with `wrk -t1 -c50` in
 * interleaved rounds, and prints the ratio. On a 2-core machine wrk takes
 * part of a core itself, so two workers cannot reach 2x.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { boundedInt, median, startDeno, wrkRps } from "./_util.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    duration: { type: "string", default: "4" },
  },
});
const ROUNDS = boundedInt("rounds", values.rounds, 1, 50);
const DURATION = boundedInt("duration", values.duration, 1, 120);
const SERVER = fileURLToPath(new URL("../server.ts", import.meta.url));
const APP = fileURLToPath(new URL("./apps/hello.ts", import.meta.url));

/** Requests per second from server.ts with `workers` isolates. */
async function measure(workers: number): Promise<number> {
  // Its drain lines on SIGTERM are not the bench's business.
  const server = await startDeno([
    "run",
    "-A",
    "--unstable-net",
    SERVER,
    APP,
    "--workers",
    String(workers),
  ], "null");
  try {
    return await wrkRps(server.url, DURATION);
  } finally {
    await server.stop();
  }
}

const ratios: number[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  const one = await measure(1);
  const two = await measure(2);
  ratios.push(two / one);
  console.log(
    `round ${round}: 1 worker ${one.toFixed(0)} req/s, 2 workers ${
      two.toFixed(0)
    } req/s, ratio ${(two / one).toFixed(2)}`,
  );
}
console.log(
  `\n| --workers 2 vs --workers 1, hello world (median of ${ROUNDS}) | ${
    median(ratios).toFixed(2)
  }x (${ratios.sort((a, b) => a - b).map((r) => r.toFixed(2)).join(", ")}) |`,
);
