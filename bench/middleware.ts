/**
 * What each middleware costs: `deno run -A bench/middleware.ts`.
 *
 * Every row is a small app under `bench/apps/` (`mw_*.ts`, `hono_stack.ts`),
 * started as a process of its own on 127.0.0.1 with its stdout on
 * /dev/null, where the access logs of the stack rows go. Each is checked
 * with one request, warmed up and loaded with `wrk -t1 -c50`, every request
 * carrying the headers a browser behind a proxy sends (User-Agent, Accept,
 * Accept-Encoding, X-Forwarded-For and -Proto).
 *
 * Rounds are interleaved, as in `bench/run.ts`: each round runs every row
 * once, in the order listed and then, the next round, in reverse, as
 * `bench/ab.ts` flips its order. A row's figure is its req/s as a ratio to
 * its baseline's in the same round, then the median over rounds:
 *
 * - the middleware rows, over the bare users `Router` (`GET /api/users/:id`,
 *   a small JSON body), target at most 5% slower (0.95), except compress when
 *   it compresses (over the same router answering 64 KiB) and the validator;
 * - the realistic stack (`errors` + `accessLog` + `proxyFix` + `Router`)
 *   against Hono's `logger()` and router, target 0.90;
 * - the stack of `examples/stack.ts` against raw `Deno.serve` hello.
 *
 * Flags: `--rounds N` (default 3), `--duration S` (default 3), `--warmup S`
 * (default 1), `--only a,b` (these rows and their baselines).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import {
  boundedInt as int,
  cpuSeconds,
  loadAverage,
  median,
  onlyNames,
  startDeno,
  type Started,
} from "./_util.ts";
import { runBench, wrk } from "./_children.ts";
import { BIG_JSON, BIG_PATH, USER_JSON, USER_PATH } from "./apps/_routes.ts";

interface Row {
  /** The name used by `--only` and in the table. */
  name: string;
  /** What it is, for the table. */
  label: string;
  /** The app under `bench/apps/`. */
  app: string;
  /** Deno permissions beyond listening, and arguments after the app. */
  permissions?: string[];
  args?: string[];
  path: string;
  /** The row this one is a ratio to; none for a baseline. */
  baseline?: string;
  /** The smallest acceptable ratio, when there is a target. */
  target?: number;
  /** What one response must be: undefined if right, else what is wrong. */
  check(response: Response, body: string): string | undefined;
}

const TMP = Deno.env.get("TMPDIR") || "/tmp";
const app = (file: string) =>
  fileURLToPath(new URL(`./apps/${file}`, import.meta.url));

// The headers of every request: a browser's few, behind one proxy.
const HEADERS: Record<string, string> = {
  "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) wrk",
  "Accept": "application/json",
  "Accept-Encoding": "gzip, deflate",
  "X-Forwarded-For": "203.0.113.7",
  "X-Forwarded-Proto": "https",
};

const isUser = (response: Response, body: string) =>
  response.status === 200 && body === USER_JSON
    ? undefined
    : `expected 200 ${USER_JSON}, got ${response.status} ${body.slice(0, 80)}`;
const isBig = (gzipped: boolean) => (response: Response, body: string) =>
  response.status === 200 && body === BIG_JSON &&
    (response.headers.get("content-encoding") === "gzip") === gzipped
    ? undefined
    : `expected 200 with the 64 KiB body${gzipped ? " gzipped" : ""}, got ` +
      `${response.status}, ${body.length} chars, Content-Encoding ` +
      `${response.headers.get("content-encoding")}`;
const isOk = (response: Response) =>
  response.status === 200 ? undefined : `expected 200, got ${response.status}`;

/** The rows, in the order of odd rounds; a baseline comes before its rows. */
function rows(logFile: string, staticRoot: string): Row[] {
  const over = (
    name: string,
    label: string,
    file: string,
    more: Partial<Row> = {},
  ): Row => ({
    name,
    label,
    app: file,
    path: USER_PATH,
    baseline: "router",
    target: 0.95,
    check: isUser,
    ...more,
  });
  return [
    {
      name: "router",
      label: "bare `Router`, `GET /api/users/:id`, small JSON (baseline)",
      app: "mw_router.ts",
      path: USER_PATH,
      check: isUser,
    },
    over("errors", "`errors()`", "mw_errors.ts"),
    over(
      "access-log",
      "`accessLog()`, lines to a no-op function",
      "mw_access_log.ts",
    ),
    over(
      "access-log-file",
      "`accessLog()`, lines to a file",
      "mw_access_log_file.ts",
      {
        permissions: [`--allow-write=${logFile}`],
        args: ["--log", logFile],
      },
    ),
    over("proxy-fix", "`proxyFix()`", "mw_proxy_fix.ts"),
    over(
      "compress-skip",
      "`compress()`, a body below minSize",
      "mw_compress.ts",
    ),
    over("mount", '`mount({ "/api": router })`', "mw_mount.ts"),
    over(
      "static-miss",
      "`staticFiles()` at `/`, missing, falling through",
      "mw_static_miss.ts",
      {
        permissions: [`--allow-read=${staticRoot}`],
        args: ["--root", staticRoot],
      },
    ),
    over(
      "validator",
      "`validator()` (recorded, no target)",
      "mw_validator.ts",
      {
        target: undefined,
      },
    ),
    {
      name: "router-big",
      label: "bare `Router`, `GET /api/big`, 64 KiB JSON (baseline)",
      app: "mw_router.ts",
      path: BIG_PATH,
      check: isBig(false),
    },
    {
      name: "compress-64k",
      label: "`compress()` gzipping the 64 KiB (recorded, no target)",
      app: "mw_compress.ts",
      path: BIG_PATH,
      baseline: "router-big",
      check: isBig(true),
    },
    {
      name: "hono-stack",
      label: "Hono: `logger()` + its router, same route and body (baseline)",
      app: "hono_stack.ts",
      path: USER_PATH,
      check: isUser,
    },
    {
      name: "stack",
      label: "`accessLog()` + `errors()` + `proxyFix()` + `Router`",
      app: "mw_stack.ts",
      path: USER_PATH,
      baseline: "hono-stack",
      target: 0.90,
      check: isUser,
    },
    {
      name: "raw-hello",
      label: "raw `Deno.serve`, hello (baseline)",
      app: "mw_raw_hello.ts",
      path: "/",
      check: isOk,
    },
    {
      name: "example-stack",
      label: "`examples/stack.ts` (all of its middleware), `GET /api/notes`",
      app: "mw_example_stack.ts",
      permissions: [
        `--allow-read=${
          fileURLToPath(new URL("../examples/", import.meta.url))
        }`,
      ],
      path: "/api/notes",
      baseline: "raw-hello",
      check: isOk,
    },
  ];
}

/** One measured run. */
interface Measured {
  rps: number;
  /** Server CPU time per request, in microseconds. */
  cpuPerRequest: number;
}

const running = new Set<Started>();

async function measure(
  row: Row,
  warmup: number,
  duration: number,
): Promise<Measured> {
  const server = await startDeno([
    "run",
    "--allow-net=127.0.0.1",
    ...row.permissions ?? [],
    app(row.app),
    ...row.args ?? [],
  ]);
  running.add(server);
  try {
    const url = new URL(row.path, server.url).href;
    const response = await fetch(url, {
      headers: HEADERS,
      signal: AbortSignal.timeout(10_000),
    });
    const wrong = row.check(response, await response.text());
    if (wrong !== undefined) throw new Error(`${row.name}: ${wrong}`);
    const headers = Object.entries(HEADERS).flatMap(([name, value]) => [
      "-H",
      `${name}: ${value}`,
    ]);
    if (warmup > 0) await wrk(url, warmup, 50, headers);
    const before = cpuSeconds(server.pid);
    const sample = await wrk(url, duration, 50, headers);
    if (sample.errors !== "") throw new Error(`${row.name}: ${sample.errors}`);
    const cpu = cpuSeconds(server.pid) - before;
    return { rps: sample.rps, cpuPerRequest: cpu / sample.requests * 1e6 };
  } finally {
    running.delete(server);
    await server.stop();
  }
}

function table(chosen: Row[], results: Record<string, Measured>[]): string {
  const lines = [
    "| Row | What | req/s | vs baseline | per round | CPU/req | target |",
    "| --- | --- | ---: | ---: | --- | ---: | --- |",
  ];
  for (const row of chosen) {
    const runs = results.map((round) => round[row.name]);
    const ratios = row.baseline === undefined
      ? []
      : results.map((round) => round[row.name].rps / round[row.baseline!].rps);
    const ratio = median(ratios.length ? ratios : [1]);
    lines.push(
      `| ${
        [
          row.name,
          row.label,
          Math.round(median(runs.map((r) => r.rps))),
          row.baseline === undefined ? "1.00" : ratio.toFixed(2),
          ratios.map((r) => r.toFixed(2)).join(", "),
          `${median(runs.map((r) => r.cpuPerRequest)).toFixed(1)} µs`,
          row.target === undefined
            ? ""
            : `>= ${row.target.toFixed(2)}: ${
              ratio >= row.target ? "met" : "**missed**"
            }`,
        ].join(" | ")
      } |`,
    );
  }
  return lines.join("\n");
}

let tempDir: string | undefined;

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      rounds: { type: "string", default: "3" },
      duration: { type: "string", default: "3" },
      warmup: { type: "string", default: "1" },
      only: { type: "string" },
    },
  });
  const rounds = int("rounds", values.rounds, 1, 20);
  const duration = int("duration", values.duration, 1, 30);
  const warmup = int("warmup", values.warmup, 0, 10);
  tempDir = await Deno.makeTempDir({ dir: TMP, prefix: "wsgi_bench_mw_" });
  const all = rows(`${tempDir}/access.log`, `${tempDir}/static`);
  await Deno.mkdir(`${tempDir}/static`);
  let chosen = all;
  if (values.only !== undefined) {
    const names = onlyNames(values.only, all.map((row) => row.name), "row");
    // A ratio needs its baseline from the same round.
    const wanted = new Set(names);
    for (const row of all) {
      if (wanted.has(row.name) && row.baseline) wanted.add(row.baseline);
    }
    chosen = all.filter((row) => wanted.has(row.name));
  }
  const results: Record<string, Measured>[] = [];
  for (let round = 1; round <= rounds; round++) {
    const measured: Record<string, Measured> = {};
    // The order flips every round, so that a row's place in it (the first
    // server of a round ran slower in every round of the first runs)
    // favours neither a baseline nor its rows.
    const order = round % 2 ? chosen : [...chosen].reverse();
    for (const row of order) {
      measured[row.name] = await measure(row, warmup, duration);
      // The file log is started afresh by each run.
      await Deno.remove(`${tempDir}/access.log`).catch(() => {});
    }
    results.push(measured);
    console.error(
      `round ${round}: ${
        chosen.map((row) => `${row.name} ${measured[row.name].rps.toFixed(0)}`)
          .join(", ")
      } (load ${loadAverage()})`,
    );
  }
  console.log(
    `bench/middleware.ts, ${new Date().toISOString()}, ${rounds} rounds of ` +
      `${duration} s, wrk -t1 -c50, load average ${loadAverage()}\n`,
  );
  console.log(table(chosen, results));
}

async function cleanup(): Promise<void> {
  await Promise.all([...running].map((server) => server.stop()));
  if (tempDir !== undefined) {
    await Deno.remove(tempDir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  await runBench(() => main(Deno.args), cleanup);
}
