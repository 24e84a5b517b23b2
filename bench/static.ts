/**
 * The static-file bench: `deno run -A bench/static.ts`.
 *
 * Four files (1 KiB, 64 KiB, 1 MiB, 64 MiB) in one temp dir, served in the
 * same run by:
 *
 * - `raw`: raw `Deno.serve` doing the least work (`Deno.readFile` up to
 *   64 KiB, the file's readable stream above), `bench/apps/raw_file.ts`;
 * - `staticFiles`: `serve()` + `staticFiles()`, `bench/apps/wsgi_static.ts`;
 * - `nginx`: Debian's nginx on the same folder with `sendfile on`, one
 *   worker process (the Deno servers run their JavaScript on one thread),
 *   a generated configuration on 127.0.0.1;
 * - `dev.ts`: the dev server on `bench/apps/static_app.ts`.
 *
 * Rounds are interleaved: every round starts each server in turn and loads
 * it with every file (wrk -t1, 50 connections, 4 for the 64 MiB file, whose
 * answers take tens of milliseconds each). Each ratio is taken within one
 * round, and the table gives the median over the rounds. The files' times
 * are set in the past and the bench waits for them to settle, so that
 * staticFiles' cache holds them, as it does for any file that has not
 * changed for two seconds.
 *
 * Flags: `--rounds N` (default 3), `--duration S` (default 3),
 * `--files 1k,64k` (only these of 1k, 64k, 1m, 64m), `--small-file-size N`
 * (staticFiles' `smallFileSize`, to find the threshold), `--markdown FILE`
 * (also write the report there).
 *
 * Run it under the shared lock: `flock /tmp/bench.lock deno run -A
 * bench/static.ts`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { FILES, FILES_ENV, SMALL_FILE_SIZE_ENV } from "./apps/_files.ts";
import {
  boundedInt,
  equal,
  freePort,
  groupCpuSeconds,
  loadAverage,
  median,
  waitForAnswer,
  type WrkSample,
} from "./_util.ts";
import { Output, runBench, spawn, stop, wrk } from "./_children.ts";

const NGINX = "/usr/sbin/nginx";
const TMP = Deno.env.get("TMPDIR") || "/tmp";
const WARMUP = 1;
const CONNECTIONS = 50;
const LARGE_CONNECTIONS = 4;
/** staticFiles' target against raw Deno, at every size. */
const TARGET = 0.9;

const app = (file: string) =>
  fileURLToPath(new URL(`./apps/${file}`, import.meta.url));
const ROOT = fileURLToPath(new URL("../", import.meta.url));

let NAMES = Object.keys(FILES);
const LABELS: Record<string, string> = {
  "file1k.bin": "1 KiB",
  "file64k.bin": "64 KiB",
  "file1m.bin": "1 MiB",
  "file64m.bin": "64 MiB",
};

interface Server {
  name: string;
  start(dir: string): Promise<Running>;
}

interface Running {
  child: Deno.ChildProcess;
  origin: string;
  output: Output;
}

/** A Deno server under `bench/apps/` that prints its URL. */
async function startDeno(args: string[]): Promise<Running> {
  const child = spawn(Deno.execPath(), args);
  const output = new Output(child);
  try {
    const [url] = await output.waitFor(/http:\/\/127\.0\.0\.1:\d+\//, 60_000);
    return { child, output, origin: url.slice(0, -1) };
  } catch (error) {
    await stop(child);
    throw new Error(`${(error as Error).message}; its output:\n${output.text}`);
  }
}

const PERMISSIONS = [
  "--allow-net=127.0.0.1",
  `--allow-read=${TMP}`,
  `--allow-env=${FILES_ENV},${SMALL_FILE_SIZE_ENV}`,
];

const SERVERS: Server[] = [
  {
    name: "raw",
    start: () => startDeno(["run", ...PERMISSIONS, app("raw_file.ts")]),
  },
  {
    name: "staticFiles",
    start: () => startDeno(["run", ...PERMISSIONS, app("wsgi_static.ts")]),
  },
  { name: "nginx", start: startNginx },
  {
    name: "dev.ts",
    start() {
      const port = freePort();
      const child = spawn(Deno.execPath(), [
        "run",
        "-A",
        `${ROOT}dev.ts`,
        "--port",
        String(port),
        app("static_app.ts"),
      ]);
      return serving("dev.ts", child, port);
    },
  },
];

/** nginx on `dir` with sendfile, one worker, on a free port of 127.0.0.1. */
async function startNginx(dir: string): Promise<Running> {
  const conf = `${dir}/.nginx`;
  await Deno.mkdir(`${conf}/tmp`, { recursive: true });
  const port = freePort();
  await Deno.writeTextFile(
    `${conf}/nginx.conf`,
    `
worker_processes 1;
daemon off;
pid ${conf}/nginx.pid;
error_log ${conf}/error.log warn;
events { worker_connections 1024; }
http {
  default_type application/octet-stream;
  access_log off;
  sendfile on;
  client_body_temp_path ${conf}/tmp/client_body;
  proxy_temp_path ${conf}/tmp/proxy;
  fastcgi_temp_path ${conf}/tmp/fastcgi;
  uwsgi_temp_path ${conf}/tmp/uwsgi;
  scgi_temp_path ${conf}/tmp/scgi;
  server {
    listen 127.0.0.1:${port};
    root ${dir};
  }
}
`,
  );
  const child = spawn(NGINX, ["-p", conf, "-c", `${conf}/nginx.conf`]);
  return serving("nginx", child, port);
}

/**
 * Waits until `child` serves the first file on `port`; if it never does,
 * stops it and throws with what it wrote.
 */
async function serving(
  name: string,
  child: Deno.ChildProcess,
  port: number,
): Promise<Running> {
  const output = new Output(child);
  const origin = `http://127.0.0.1:${port}`;
  try {
    await waitForAnswer(`${origin}/${NAMES[0]}`);
  } catch (error) {
    await stop(child);
    throw new Error(`${name}: ${error}; its output:\n${output.text}`);
  }
  return { child, output, origin };
}

/** Writes the files, random and distinct, times in the past; returns their bytes. */
async function makeFiles(dir: string): Promise<Record<string, Uint8Array>> {
  const block = crypto.getRandomValues(new Uint8Array(65536));
  const bytes: Record<string, Uint8Array> = {};
  const past = Date.now() / 1000 - 3600;
  for (const name of NAMES) {
    const data = new Uint8Array(FILES[name]);
    for (let at = 0; at < data.length; at += block.length) {
      data.set(block.subarray(0, Math.min(block.length, data.length - at)), at);
      data[at] = at / block.length;
    }
    await Deno.writeFile(`${dir}/${name}`, data);
    await Deno.utime(`${dir}/${name}`, past, past);
    bytes[name] = data;
  }
  // staticFiles caches a file once it has not changed for two seconds.
  await new Promise((resolve) => setTimeout(resolve, 2500));
  return bytes;
}

interface Measured extends WrkSample {
  cpuPerRequest: number;
}

/** `results[round][server][file]`. */
type Results = Record<string, Record<string, Measured>>[];

function fmtRatios(values: number[]): string {
  return values.map((v) => v.toFixed(2)).join(", ");
}

function report(results: Results): string {
  const lines = [
    "| File | raw req/s | staticFiles req/s | staticFiles ÷ raw (per round) | target | nginx req/s | staticFiles ÷ nginx (per round) | dev.ts req/s | dev.ts ÷ raw (per round) | CPU/req raw, staticFiles, nginx, dev.ts |",
    "| --- | ---: | ---: | --- | --- | ---: | --- | ---: | --- | --- |",
  ];
  for (const name of NAMES) {
    const rps = (server: string) =>
      results.map((round) => round[server][name].rps);
    const ratios = (a: string, b: string) =>
      rps(a).map((value, i) => value / rps(b)[i]);
    const vsRaw = ratios("staticFiles", "raw");
    const vsNginx = ratios("staticFiles", "nginx");
    const devVsRaw = ratios("dev.ts", "raw");
    const cpu = SERVERS.map((s) =>
      median(results.map((round) => round[s.name][name].cpuPerRequest))
        .toFixed(0)
    ).join(", ");
    lines.push(
      `| ${LABELS[name]} | ${Math.round(median(rps("raw")))} | ${
        Math.round(median(rps("staticFiles")))
      } | ${median(vsRaw).toFixed(2)} (${fmtRatios(vsRaw)}) | >= ${
        TARGET.toFixed(2)
      }: ${median(vsRaw) >= TARGET ? "met" : "**missed**"} | ${
        Math.round(median(rps("nginx")))
      } | ${median(vsNginx).toFixed(2)} (${fmtRatios(vsNginx)}) | ${
        Math.round(median(rps("dev.ts")))
      } | ${median(devVsRaw).toFixed(2)} (${
        fmtRatios(devVsRaw)
      }) | ${cpu} µs |`,
    );
  }
  return lines.join("\n");
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      rounds: { type: "string", default: "3" },
      duration: { type: "string", default: "3" },
      markdown: { type: "string" },
      files: { type: "string" },
      "small-file-size": { type: "string" },
    },
  });
  if (values["small-file-size"] !== undefined) {
    const size = boundedInt(
      "small-file-size",
      values["small-file-size"],
      0,
      1 << 30,
    );
    Deno.env.set(SMALL_FILE_SIZE_ENV, String(size));
  }
  if (values.files !== undefined) {
    const wanted = values.files.split(",").map((f) => `file${f.trim()}.bin`);
    for (const name of wanted) {
      if (!(name in FILES)) {
        throw new RangeError(
          `--files: no file "${name}"; choose from 1k, 64k, 1m, 64m`,
        );
      }
    }
    NAMES = NAMES.filter((name) => wanted.includes(name));
  }
  const rounds = boundedInt("rounds", values.rounds, 1, 10);
  const duration = boundedInt("duration", values.duration, 1, 30);
  const loadBefore = loadAverage();
  console.log(
    `${SERVERS.length} servers x ${NAMES.length} files x ${rounds} round(s), ` +
      `wrk -t1 -c${CONNECTIONS} (-c${LARGE_CONNECTIONS} for 64 MiB) ` +
      `-d${duration}s after ${WARMUP} s; about ${
        Math.ceil(
          rounds * SERVERS.length *
            (NAMES.length * (duration + WARMUP + 0.5) + 2) / 60,
        )
      } min`,
  );
  const dir = await Deno.makeTempDir({ dir: TMP, prefix: "wsgi_static_" });
  filesDir = dir;
  await Deno.chmod(dir, 0o755);
  Deno.env.set(FILES_ENV, dir);
  const expected = await makeFiles(dir);

  const results: Results = [];
  for (let round = 1; round <= rounds; round++) {
    const measured: Record<string, Record<string, Measured>> = {};
    for (const server of SERVERS) {
      const running = await server.start(dir);
      measured[server.name] = {};
      try {
        for (const name of NAMES) {
          const url = `${running.origin}/${name}`;
          const response = await fetch(url);
          const body = new Uint8Array(await response.arrayBuffer());
          if (response.status !== 200 || !equal(body, expected[name])) {
            throw new Error(
              `${server.name} ${name}: got ${response.status} with ${body.length} bytes`,
            );
          }
          const conns = FILES[name] > 16 << 20
            ? LARGE_CONNECTIONS
            : CONNECTIONS;
          await wrk(url, WARMUP, conns);
          const pid = running.child.pid;
          const before = groupCpuSeconds(pid);
          const sample = await wrk(url, duration, conns);
          measured[server.name][name] = {
            ...sample,
            cpuPerRequest: (groupCpuSeconds(pid) - before) / sample.requests *
              1e6,
          };
          console.log(
            `round ${round}/${rounds}  ${server.name.padEnd(12)} ${
              name.padEnd(12)
            } ${sample.rps.toFixed(0).padStart(7)} req/s  p99 ${
              sample.p99.toFixed(2)
            } ms` + (sample.errors ? `  (${sample.errors})` : ""),
          );
        }
      } finally {
        await stop(running.child);
      }
    }
    results.push(measured);
  }

  const nginxVersion = new TextDecoder().decode(
    (await new Deno.Command(NGINX, { args: ["-v"], stderr: "piped" }).output())
      .stderr,
  ).trim();
  const text = [
    `- Date: ${new Date().toISOString()}`,
    `- Machine: ${navigator.hardwareConcurrency} cores, ${Deno.build.target}; Deno ${Deno.version.deno}; ${nginxVersion}`,
    `- Command: \`flock /tmp/bench.lock deno run -A bench/static.ts ${
      args.join(" ")
    }\``.replace(/ `$/, "`"),
    `- Load: wrk -t1 -c${CONNECTIONS} (-c${LARGE_CONNECTIONS} for 64 MiB) -d${duration}s --latency after ${WARMUP} s of warm-up, ${rounds} interleaved round(s)`,
    `- Load average (1, 5, 15 min) before and after: ${loadBefore}; ${loadAverage()}`,
    "",
    report(results),
    "",
  ].join("\n");
  console.log(`\n${text}`);
  if (values.markdown !== undefined) {
    await Deno.writeTextFile(values.markdown, text);
  }
}

/** The temp dir, removed on every exit path. */
let filesDir: string | undefined;

if (import.meta.main) {
  await runBench(() => main(Deno.args), async () => {
    if (filesDir !== undefined) {
      await Deno.remove(filesDir, { recursive: true });
    }
  });
}
