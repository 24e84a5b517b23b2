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

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    duration: { type: "string", default: "4" },
  },
});
const ROUNDS = Number(values.rounds);
const DURATION = Number(values.duration);
const SERVER = fileURLToPath(new URL("../server.ts", import.meta.url));
const APP = fileURLToPath(new URL("./apps/hello.ts", import.meta.url));

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Requests per second from server.ts with `workers` isolates. */
async function measure(workers: number): Promise<number> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-net",
      SERVER,
      APP,
      "--port",
      String(port),
      "--workers",
      String(workers),
    ],
    // Its drain lines on SIGTERM are not the bench's business.
    stdout: "null",
    stderr: "null",
    stdin: "null",
  }).spawn();
  try {
    const url = `http://127.0.0.1:${port}/`;
    const deadline = Date.now() + 30_000;
    while (true) {
      try {
        await (await fetch(url)).body?.cancel();
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    const { stdout } = await new Deno.Command("wrk", {
      args: ["-t1", "-c50", `-d${DURATION}s`, url],
    }).output();
    const match = new TextDecoder().decode(stdout).match(
      /Requests\/sec:\s+([\d.]+)/,
    );
    if (!match) throw new Error("wrk printed no Requests/sec");
    return Number(match[1]);
  } finally {
    child.kill("SIGTERM");
    await child.status;
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
ratios.sort((a, b) => a - b);
console.log(
  `\n| --workers 2 vs --workers 1, hello world (median of ${ROUNDS}) | ${
    ratios[Math.floor(ratios.length / 2)].toFixed(2)
  }x (${ratios.map((r) => r.toFixed(2)).join(", ")}) |`,
);
