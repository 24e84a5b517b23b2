/**
 * An app whose requests cost CPU, not I/O: each one runs a fixed integer
 * loop (1.6 ms on the machine this was built on) before it answers. `bench/workers.ts`
 * loads it to show isolates sharing the work: at a few hundred requests a
 * second the load generator needs little CPU, so the server's isolates, not
 * wrk, decide the rate.
 *
 * @module
 */
import type { App } from "../../mod.ts";

/** Loop iterations per request. */
export const ROUNDS = 1_000_000;

function work(): number {
  let x = 1;
  for (let i = 0; i < ROUNDS; i++) x = (Math.imul(x, 48271) + i) | 0;
  return x;
}

const app: App = (_environ, startResponse) => {
  const result = String(work());
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [result];
};

export default app;
