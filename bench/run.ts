/**
 * The benchmark harness: `deno task bench` (`deno run -A bench/run.ts`).
 *
 * Every server in {@linkcode SERVERS} is a small file under `bench/apps/`,
 * started as a process of its own on 127.0.0.1 and port 0, so that only
 * one server runs at a time and none shares an isolate with the harness.
 * Each is checked with one request, warmed up, and loaded with `wrk`.
 *
 * Rounds are interleaved: every round runs every server once, each raw
 * `Deno.serve` baseline first in its group. The machine is shared and
 * noisy, so absolute numbers mean little; what the table reports is each
 * server's throughput as a ratio to the baseline of its kind measured in
 * the same round, and the median of those ratios over the rounds.
 *
 * Flags:
 *
 * ```
 * --rounds N         rounds (default 3)
 * --duration S       seconds of measured load per run (default 5)
 * --warmup S         seconds of unmeasured load before it (default 1)
 * --connections C    wrk connections (default 50; the 64 MiB file rows use 4)
 * --only a,b         only these servers (their baselines are added)
 * --markdown FILE    also write the table, date, machine and command to FILE
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { CHUNKS } from "./apps/_body.ts";
import { ROUTED_PATH } from "./apps/_routes.ts";
import { FILES, FILES_ENV } from "./apps/_files.ts";
import {
  boundedInt as int,
  cpuSeconds,
  equal,
  loadAverage,
  median,
  onlyNames,
  type WrkSample as Sample,
} from "./_util.ts";
import { Output, runBench, spawn, stop, wrk } from "./_children.ts";
import { concat } from "../_shared/body.ts";

// ---------------------------------------------------------------------------
// What is measured.

type Kind =
  | "hello"
  | "hello-bytes"
  | "stream"
  | "file1m"
  | "file64m"
  | "router";

interface Server {
  /** The name used by `--only` and in the table. */
  name: string;
  kind: Kind;
  /** What it is, for the table. */
  label: string;
  /** The `deno` arguments that start it; the app file comes last. */
  args: string[];
  /** The smallest acceptable ratio to the baseline, when there is a target. */
  target?: number;
  /** The path requested, when not `/`. */
  path?: string;
  /** wrk connections, when this kind needs its own number (--connections otherwise). */
  connections?: number;
}

// Apps are started with only the permissions a server needs.
const NET = "--allow-net=127.0.0.1";
// The file rows read the files the harness makes in a temp dir.
const TMP = Deno.env.get("TMPDIR") || "/tmp";
const FILE_PERMISSIONS = [`--allow-read=${TMP}`, `--allow-env=${FILES_ENV}`];
// 64 MiB responses take tens of milliseconds each: with 50 connections wrk
// would queue them past its 2 s timeout and measure the queue.
const FILE64M_CONNECTIONS = 4;
const app = (file: string) =>
  fileURLToPath(new URL(`./apps/${file}`, import.meta.url));

/** In run order; the first server of each kind is that kind's baseline. */
const SERVERS: Server[] = [
  {
    name: "raw-hello",
    kind: "hello",
    label: "raw `Deno.serve`, hello",
    args: ["run", NET, app("raw_hello.ts")],
  },
  {
    name: "raw-hello-reads",
    kind: "hello",
    label: "raw `Deno.serve` reading `req.method` and `req.url` (reference)",
    args: ["run", NET, app("raw_hello_reads.ts")],
  },
  {
    name: "bare-adapter",
    kind: "hello",
    label: "an adapter of the same shape with no checks (reference floor)",
    args: ["run", NET, app("bare_adapter.ts")],
  },
  {
    name: "wsgi-hello",
    kind: "hello",
    label: "`serve()`, hello (one-chunk array)",
    args: ["run", NET, app("wsgi_hello.ts")],
    target: 0.95,
  },
  {
    name: "wsgi-deno-serve",
    kind: "hello",
    label: "`fetchExport()` under `deno serve`, hello",
    // `deno serve` grants itself the listening address; it takes no --allow-net.
    args: [
      "serve",
      "--port",
      "0",
      "--host",
      "127.0.0.1",
      app("wsgi_deno_serve.ts"),
    ],
    target: 0.95,
  },
  {
    name: "hono-hello",
    kind: "hello",
    label: "Hono on `Deno.serve`, hello",
    args: ["run", NET, app("hono_hello.ts")],
  },
  {
    name: "raw-hello-bytes",
    kind: "hello-bytes",
    label: "raw `Deno.serve`, hello as a `Uint8Array`",
    args: ["run", NET, app("raw_hello_bytes.ts")],
  },
  {
    name: "wsgi-hello-bytes",
    kind: "hello-bytes",
    label: "`serve()`, hello as a one-chunk `Uint8Array` array",
    args: ["run", NET, app("wsgi_hello_bytes.ts")],
    target: 0.95,
  },
  {
    name: "raw-stream",
    kind: "stream",
    label: "raw `Deno.serve`, 1 MiB as 16 x 64 KiB stream",
    args: ["run", NET, app("raw_stream.ts")],
  },
  {
    name: "wsgi-stream",
    kind: "stream",
    label: "`serve()`, 1 MiB as 16 x 64 KiB generator",
    args: ["run", NET, app("wsgi_stream.ts")],
    target: 0.90,
  },
  {
    name: "raw-file1m",
    kind: "file1m",
    label: "raw `Deno.serve`, a 1 MiB file from `Deno.open(path).readable`",
    args: ["run", NET, ...FILE_PERMISSIONS, app("raw_file.ts")],
    path: "/file1m.bin",
  },
  {
    name: "wsgi-static-1m",
    kind: "file1m",
    label: "`serve()` + `staticFiles()`, the same 1 MiB file",
    args: ["run", NET, ...FILE_PERMISSIONS, app("wsgi_static.ts")],
    path: "/file1m.bin",
    target: 0.90,
  },
  {
    name: "raw-file64m",
    kind: "file64m",
    label: "raw `Deno.serve`, a 64 MiB file from `Deno.open(path).readable`",
    args: ["run", NET, ...FILE_PERMISSIONS, app("raw_file.ts")],
    path: "/file64m.bin",
    connections: FILE64M_CONNECTIONS,
  },
  {
    name: "wsgi-static-64m",
    kind: "file64m",
    label: "`serve()` + `staticFiles()`, the same 64 MiB file",
    args: ["run", NET, ...FILE_PERMISSIONS, app("wsgi_static.ts")],
    path: "/file64m.bin",
    connections: FILE64M_CONNECTIONS,
    target: 0.90,
  },
  {
    name: "router-1",
    kind: "router",
    label: "`Router` with 1 route (baseline of the router rows)",
    args: ["run", NET, app("router_1.ts")],
    path: ROUTED_PATH,
  },
  {
    name: "router-100",
    kind: "router",
    label: "`Router` with 100 routes, hitting the last",
    args: ["run", NET, app("router_100.ts")],
    path: ROUTED_PATH,
    target: 0.95,
  },
];

const baselineOf = (kind: Kind) => SERVERS.find((s) => s.kind === kind)!;

/**
 * What a correct server answers, checked once before loading it. The file
 * kinds get their bytes when the files are made.
 */
const EXPECTED: Partial<Record<Kind, Uint8Array>> = {
  hello: new TextEncoder().encode("Hello, World!"),
  "hello-bytes": new TextEncoder().encode("Hello, World!"),
  stream: concat(CHUNKS),
  router: new TextEncoder().encode("Hello, World!"),
};

/** The file of each file kind, by the name it is served under. */
const FILE_OF: Partial<Record<Kind, string>> = {
  file1m: "file1m.bin",
  file64m: "file64m.bin",
};

/**
 * Writes the files the chosen servers serve into a new temp dir, records
 * their bytes in {@linkcode EXPECTED} and the dir in `$WSGI_BENCH_FILES`
 * (which the servers inherit). Returns the dir, or undefined when no
 * chosen server serves files.
 */
async function makeFiles(servers: Server[]): Promise<string | undefined> {
  const kinds = new Set(servers.map((s) => s.kind).filter((k) => FILE_OF[k]));
  if (kinds.size === 0) return undefined;
  const dir = await Deno.makeTempDir({ dir: TMP, prefix: "wsgi_bench_" });
  // Random, so that nothing on the way could compress or dedupe it.
  const block = crypto.getRandomValues(new Uint8Array(65536));
  for (const kind of kinds) {
    const name = FILE_OF[kind]!;
    const bytes = new Uint8Array(FILES[name]);
    for (let at = 0; at < bytes.length; at += block.length) {
      bytes.set(block, at);
      bytes[at] = at / block.length; // every block differs
    }
    await Deno.writeFile(`${dir}/${name}`, bytes);
    EXPECTED[kind] = bytes;
  }
  Deno.env.set(FILES_ENV, dir);
  return dir;
}

/** The dir of {@linkcode makeFiles}, removed on every exit path. */
let filesDir: string | undefined;

async function removeFiles(): Promise<void> {
  const dir = filesDir;
  filesDir = undefined;
  if (dir !== undefined) await Deno.remove(dir, { recursive: true });
}

// ---------------------------------------------------------------------------
// Options.

interface Options {
  rounds: number;
  duration: number;
  warmup: number;
  connections: number;
  servers: Server[];
  markdown?: string;
}

const USAGE = "usage: deno task bench [--rounds N] [--duration S] " +
  "[--warmup S] [--connections C] [--only name,name] [--markdown FILE]";

function parseOptions(args: string[]): Options {
  try {
    return parseFlags(args);
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${USAGE}`);
  }
}

function parseFlags(args: string[]): Options {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      rounds: { type: "string", default: "3" },
      duration: { type: "string", default: "5" },
      warmup: { type: "string", default: "1" },
      connections: { type: "string", default: "50" },
      only: { type: "string" },
      markdown: { type: "string" },
    },
  });
  let servers = SERVERS;
  if (values.only !== undefined) {
    const names = onlyNames(
      values.only,
      SERVERS.map((s) => s.name),
      "server",
    );
    // A ratio needs its baseline from the same round, so it always runs.
    const kinds = new Set(
      SERVERS.filter((s) => names.includes(s.name)).map((s) => s.kind),
    );
    servers = SERVERS.filter((s) =>
      names.includes(s.name) || (kinds.has(s.kind) && s === baselineOf(s.kind))
    );
  }
  return {
    rounds: int("rounds", values.rounds, 1, 50),
    duration: int("duration", values.duration, 1, 120),
    warmup: int("warmup", values.warmup, 0, 60),
    connections: int("connections", values.connections, 1, 1000),
    servers,
    markdown: values.markdown,
  };
}

// ---------------------------------------------------------------------------
// Servers.

interface Running {
  child: Deno.ChildProcess;
  output: Output;
  url: string;
}

/**
 * Starts a server and reads the URL it prints. The apps print
 * `Listening on <url>` on stdout; `deno serve` prints it on stderr.
 */
async function start(server: Server): Promise<Running> {
  const child = spawn(Deno.execPath(), server.args);
  const output = new Output(child);
  try {
    // Generous: the first start may download npm:hono.
    const [url] = await output.waitFor(/http:\/\/127\.0\.0\.1:\d+\//, 60_000);
    return { child, output, url };
  } catch (error) {
    await stop(child);
    throw new Error(
      `${server.name}: ${
        (error as Error).message
      }; its output:\n${output.text}`,
    );
  }
}

/** The URL a server is loaded at. */
function urlOf(server: Server, running: Running): string {
  return new URL(server.path ?? "/", running.url).href;
}

/** One request, checked, so that a broken server fails loudly instead of benching fast 500s. */
async function check(server: Server, running: Running): Promise<void> {
  const response = await fetch(urlOf(server, running), {
    signal: AbortSignal.timeout(10_000),
  });
  const body = new Uint8Array(await response.arrayBuffer());
  const expected = EXPECTED[server.kind]!;
  if (response.status !== 200 || !equal(body, expected)) {
    throw new Error(
      `${server.name}: expected 200 with ${expected.length} bytes, got ` +
        `${response.status} with ${body.length} bytes; its output:\n${running.output.text}`,
    );
  }
}

// ---------------------------------------------------------------------------
// Statistics and the table.

/** One measured run: wrk's numbers and the server's CPU per request. */
interface Measured extends Sample {
  /** Server CPU time per request, in microseconds. */
  cpuPerRequest: number;
}

/** `results[round][name]`. */
type Results = Record<string, Measured>[];

function table(servers: Server[], results: Results): string {
  const lines = [
    "| Server | What | req/s | p99 | vs raw | per-round vs raw | CPU/req | CPU vs raw | target |",
    "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | --- |",
  ];
  for (const server of servers) {
    const baseline = baselineOf(server.kind);
    const runs = results.map((round) => round[server.name]);
    const bases = results.map((round) => round[baseline.name]);
    // Each ratio is taken within one round, then the median over rounds.
    const ratios = runs.map((run, i) => run.rps / bases[i].rps);
    const ratio = median(ratios);
    const cpuRatio = median(
      runs.map((run, i) => bases[i].cpuPerRequest / run.cpuPerRequest),
    );
    const isBaseline = server === baseline;
    const cells = [
      server.name,
      server.label,
      Math.round(median(runs.map((r) => r.rps))).toString(),
      `${median(runs.map((r) => r.p99)).toFixed(2)} ms`,
      isBaseline ? "1.00 (baseline)" : ratio.toFixed(2),
      ratios.map((r) => r.toFixed(2)).join(", "),
      `${median(runs.map((r) => r.cpuPerRequest)).toFixed(1)} µs`,
      isBaseline ? "1.00" : cpuRatio.toFixed(2),
      server.target === undefined
        ? ""
        : `>= ${server.target.toFixed(2)}: ${
          ratio >= server.target ? "met" : "**missed**"
        }`,
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

/** Socket errors and bad statuses, which the table alone would hide. */
function errorNotes(servers: Server[], results: Results): string[] {
  const notes: string[] = [];
  for (const server of servers) {
    results.forEach((round, i) => {
      const { errors } = round[server.name];
      if (errors) notes.push(`${server.name}, round ${i + 1}: ${errors}`);
    });
  }
  return notes;
}

async function machine(): Promise<string> {
  const nproc = await new Deno.Command("nproc").output()
    .then((o) => new TextDecoder().decode(o.stdout).trim())
    .catch(() => String(navigator.hardwareConcurrency));
  const cpu = await Deno.readTextFile("/proc/cpuinfo")
    .then((text) =>
      text.match(/^model name\s*:\s*(.*)$/m)?.[1] ?? "unknown CPU"
    )
    .catch(() => "unknown CPU");
  return `${nproc} cores (nproc), ${cpu}, ${Deno.build.target}; ` +
    `Deno ${Deno.version.deno}, V8 ${Deno.version.v8}`;
}

/** The machine's load average, a hint of how noisy the run was. */
/** The command line that reproduces this run, quoted for a POSIX shell. */
function commandLine(args: string[]): string {
  const quote = (arg: string) =>
    /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
  return ["deno", "run", "-A", "bench/run.ts", ...args].map(quote).join(" ");
}

// ---------------------------------------------------------------------------
// The run.

async function main(args: string[]): Promise<void> {
  const options = parseOptions(args);
  const loadBefore = loadAverage();
  const { servers, rounds, duration, warmup, connections } = options;
  const own = servers.filter((s) => s.connections !== undefined)
    .map((s) => `${s.name} -c${s.connections}`);
  const load =
    `wrk -t1 -c${connections} -d${duration}s --latency, after a ${warmup} s warm-up` +
    (own.length === 0 ? "" : ` (${own.join(", ")})`);
  console.log(
    `${servers.length} server(s) x ${rounds} round(s); ${load}; ` +
      `about ${
        Math.ceil(servers.length * rounds * (duration + warmup + 1) / 60)
      } min`,
  );

  filesDir = await makeFiles(servers);
  const results: Results = [];
  for (let round = 1; round <= rounds; round++) {
    const measured: Record<string, Measured> = {};
    for (const server of servers) {
      const running = await start(server);
      const pid = running.child.pid;
      const url = urlOf(server, running);
      const conns = server.connections ?? connections;
      try {
        await check(server, running);
        // The warm-up lets V8 optimize the hot path before it is measured.
        if (warmup > 0) await wrk(url, warmup, conns);
        // Server CPU time is a cross-check that noise hurts less than
        // throughput: a neighbour that steals CPU lowers a server's req/s,
        // but not much the CPU time it spends per request.
        const cpuBefore = cpuSeconds(pid);
        const sample = await wrk(url, duration, conns);
        const cpu = cpuSeconds(pid) - cpuBefore;
        measured[server.name] = {
          ...sample,
          cpuPerRequest: cpu / sample.requests * 1e6,
        };
      } finally {
        await stop(running.child);
      }
      const { rps, p99, cpuPerRequest, errors } = measured[server.name];
      console.log(
        `round ${round}/${rounds}  ${server.name.padEnd(16)} ` +
          `${rps.toFixed(0).padStart(8)} req/s  p99 ${p99.toFixed(2)} ms  ` +
          `CPU ${cpuPerRequest.toFixed(1)} µs/req` +
          (errors ? `  (${errors})` : ""),
      );
    }
    results.push(measured);
  }

  const text = table(servers, results);
  const notes = errorNotes(servers, results);
  console.log(`\n${text}\n`);
  for (const note of notes) console.log(`wrk reported: ${note}`);

  if (options.markdown !== undefined) {
    const report = [
      `- Date: ${new Date().toISOString()}`,
      `- Machine: ${await machine()}`,
      `- Command: \`${commandLine(args)}\``,
      `- Load: ${load}; ${rounds} interleaved round(s)`,
      `- Load average (1, 5, 15 min) before and after: ${loadBefore}; ${loadAverage()}`,
      "",
      text,
      "",
      notes.length === 0
        ? "wrk reported no socket errors and no non-2xx responses."
        : ["wrk reported:", ...notes.map((n) => `- ${n}`)].join("\n"),
      "",
    ].join("\n");
    await Deno.writeTextFile(options.markdown, report);
    console.log(`Wrote ${options.markdown}`);
  }
}

if (import.meta.main) {
  await runBench(() => main(Deno.args), removeFiles);
}
