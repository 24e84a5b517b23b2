/**
 * Reload under load: 16 keep-alive clients keep requesting for over 10 s
 * while the test saves the app file and a module it imports 20 times. No
 * request may fail and no connection may drop; after each save the new
 * version must answer, and the time it takes is measured and reported.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runDev } from "../../dev.ts";

const CLIENTS = 16;
const SAVES = 20;
const SPACING_MS = 550;

async function write(dir: string, app: number, lib: number): Promise<void> {
  await Deno.writeTextFile(
    join(dir, "lib.ts"),
    `export const lib = ${lib};\n`,
  );
  await Deno.writeTextFile(
    join(dir, "app.ts"),
    `import { lib } from "./lib.ts";
export default (_environ: unknown, startResponse: (s: string, h: [string, string][]) => unknown) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [\`app${app} lib\${lib}\`];
};
`,
  );
}

Deno.test("dev server: 20 saves under 16 keep-alive clients, 0 failed requests", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  await write(dir, 0, 0);
  const dev = await runDev({
    app: join(dir, "app.ts"),
    port: 0,
    log() {},
    onListen() {},
  });
  let running = true;
  let served = 0;
  const failures: string[] = [];
  // Each client reuses its connection (fetch keeps it alive) until told to stop.
  const clients = Array.from({ length: CLIENTS }, async () => {
    while (running) {
      try {
        const response = await fetch(dev.url);
        const text = await response.text();
        if (response.status !== 200 || !text.startsWith("app")) {
          failures.push(`${response.status} ${text.slice(0, 80)}`);
        }
        served++;
      } catch (error) {
        failures.push(String(error));
      }
    }
  });
  const latencies: number[] = [];
  try {
    let app = 0;
    let lib = 0;
    const started = Date.now();
    for (let save = 1; save <= SAVES; save++) {
      // Alternate between the app file and the module it imports.
      if (save % 2) app++;
      else lib++;
      const expected = `app${app} lib${lib}`;
      const saved = performance.now();
      if (save % 2) {
        await Deno.writeTextFile(
          join(dir, "app.ts"),
          (await Deno.readTextFile(join(dir, "app.ts"))).replace(
            /app\d+/,
            `app${app}`,
          ),
        );
      } else {
        await Deno.writeTextFile(
          join(dir, "lib.ts"),
          `export const lib = ${lib};\n`,
        );
      }
      const deadline = saved + 10_000;
      while (true) {
        const text = await (await fetch(dev.url)).text();
        if (text === expected) break;
        assert.ok(
          performance.now() < deadline,
          `save ${save}: still "${text}" after 10 s`,
        );
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      latencies.push(performance.now() - saved);
      await new Promise((resolve) => setTimeout(resolve, SPACING_MS));
    }
    assert.ok(Date.now() - started >= 10_000, "the load ran for at least 10 s");
  } finally {
    running = false;
    await Promise.all(clients);
    await dev.close();
    await Deno.remove(dir, { recursive: true });
  }
  latencies.sort((a, b) => a - b);
  const median = latencies[Math.floor(latencies.length / 2)];
  const p95 = latencies[Math.floor(latencies.length * 0.95)];
  console.log(
    `${served} requests by ${CLIENTS} clients over ${SAVES} saves; ` +
      `save to new version: median ${median.toFixed(0)} ms, p95 ${
        p95.toFixed(0)
      } ms, max ${latencies.at(-1)!.toFixed(0)} ms`,
  );
  assert.deepEqual(failures, []);
  assert.ok(served > CLIENTS * SAVES, `only ${served} requests were served`);
});
