/**
 * Where a bench server's JavaScript time goes under load:
 * `deno run -A bench/profile.ts [--duration S] [--top N] APP [DIR]`.
 *
 * Serves `bench/apps/APP` from the checkout `DIR` (this one by default)
 * with `--inspect` on a free port, loads it with `wrk -t1 -c50` for 1 s of
 * warm-up and then `--duration` seconds under V8's sampling profiler
 * (through the inspector's `Profiler` domain), and prints the functions
 * with the most self time, the idle share among them. The inspector costs
 * some throughput of its own; compare the shares, not the req/s. With
 * `--save FILE` the profile is also written as a `.cpuprofile`, which
 * Chrome's DevTools open, with the samples of each source line.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { boundedInt as int, freePort } from "./_util.ts";
import { Output, runBench, spawn, stop, wrk } from "./_children.ts";

interface ProfileNode {
  id: number;
  callFrame: {
    functionName: string;
    url: string;
    lineNumber: number;
  };
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
}

/** A minimal client of the inspector protocol over its WebSocket. */
class Inspector {
  #socket: WebSocket;
  #id = 0;
  #waiting = new Map<number, (result: unknown) => void>();

  constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      this.#waiting.get(message.id)?.(message.result);
      this.#waiting.delete(message.id);
    };
  }

  static async connect(url: string): Promise<Inspector> {
    const socket = new WebSocket(url);
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new Error(`Cannot connect to ${url}`));
    });
    return new Inspector(socket);
  }

  send<T>(method: string, params: object = {}): Promise<T> {
    const id = ++this.#id;
    this.#socket.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve) => this.#waiting.set(id, resolve as never));
  }

  async close(): Promise<void> {
    const closed = new Promise((resolve) => this.#socket.onclose = resolve);
    this.#socket.close();
    await closed;
  }
}

/** Self time by function, as shares of all samples, largest first. */
function selfTimes(profile: Profile): [string, number][] {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const counts = new Map<string, number>();
  for (const id of profile.samples) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const file = url === "" ? "" : url.slice(url.lastIndexOf("/") + 1);
    const name = `${functionName || "(anonymous)"} ${file}:${lineNumber + 1}`;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  const total = profile.samples.length;
  return [...counts].map(([name, n]) => [name, n / total] as [string, number])
    .sort((a, b) => b[1] - a[1]);
}

async function main(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      duration: { type: "string", default: "4" },
      top: { type: "string", default: "30" },
      save: { type: "string" },
    },
  });
  const [app, dir = fileURLToPath(new URL("../", import.meta.url))] =
    positionals;
  if (app === undefined) {
    throw new TypeError(
      "Cannot profile: name an app of bench/apps, as in bench/profile.ts wsgi_hello.ts",
    );
  }
  const duration = int("duration", values.duration, 1, 60);
  const top = int("top", values.top, 1, 200);
  const port = freePort();
  const child = spawn(Deno.execPath(), [
    "run",
    `--inspect=127.0.0.1:${port}`,
    "--allow-net=127.0.0.1",
    join(resolve(dir), "bench", "apps", app),
  ]);
  const output = new Output(child);
  try {
    const [url] = await output.waitFor(/http:\/\/127\.0\.0\.1:\d+\//, 30_000);
    const targets = await (await fetch(`http://127.0.0.1:${port}/json`))
      .json() as { webSocketDebuggerUrl: string }[];
    const inspector = await Inspector.connect(
      targets[0].webSocketDebuggerUrl,
    );
    await wrk(url, 1, 50);
    await inspector.send("Profiler.enable");
    await inspector.send("Profiler.setSamplingInterval", { interval: 100 });
    await inspector.send("Profiler.start");
    const sample = await wrk(url, duration, 50);
    const { profile } = await inspector.send<{ profile: Profile }>(
      "Profiler.stop",
    );
    await inspector.close();
    if (values.save !== undefined) {
      await Deno.writeTextFile(values.save, JSON.stringify(profile));
    }
    console.log(
      `${app}: ${sample.rps.toFixed(0)} req/s under the profiler, ` +
        `${profile.samples.length} samples`,
    );
    for (const [name, share] of selfTimes(profile).slice(0, top)) {
      console.log(`${(share * 100).toFixed(1).padStart(5)}%  ${name}`);
    }
  } finally {
    await stop(child);
  }
}

if (import.meta.main) {
  await runBench(() => main(Deno.args));
}
