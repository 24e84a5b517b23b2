/**
 * server.ts against other servers, as `gunicorn.ts` and `python.ts` run it:
 * interleaved rounds in which every server in turn takes every load under
 * wrk, the ratios taken within each round, and the report's tables.
 *
 * @module
 */
import {
  groupCpuSeconds,
  loadAverage,
  median,
  roundsAndDuration,
  type WrkSample,
} from "./_util.ts";
import { stop, wrk } from "./_children.ts";

/** The connections wrk keeps open and the seconds of unmeasured warm-up. */
export const CONNECTIONS = 50;
export const WARMUP_SECONDS = 1;

/** One server of the comparison. */
export interface Contender {
  name: string;
  label: string;
}

/** One kind of load: a page, or a way of sending the requests. */
export interface Load {
  /** Its name in the tables. */
  name: string;
  /** The path requested, `/` when omitted. */
  path?: string;
  /** More wrk arguments, such as a header. */
  wrkArgs?: string[];
}

/** A server started for a round: its process group and its origin. */
export interface Running {
  child: Deno.ChildProcess;
  /** `http://127.0.0.1:PORT`, without a path. */
  origin: string;
  /** Its answer's Connection header, for the report. */
  connection: string;
}

interface Sample extends WrkSample {
  /** CPU time of the server's processes per request, in microseconds. */
  cpuPerRequest: number;
}

/** `results[load][round][server]`. */
type Results = Record<string, Sample>[][];

/** What a comparison needs: its servers, its loads and how to start one. */
export interface Versus<S extends Contender> {
  /** The bench's file, for the command in the report. */
  file: string;
  servers: S[];
  /** The name of ours among `servers`, whose ratios the tables give. */
  ours: string;
  loads: Load[];
  /** Starts `server` and checks its first answers. */
  start(server: S): Promise<Running>;
  /** The versions of what is compared, for the report. */
  software(): Promise<string>;
}

/**
 * Reads `--rounds` and `--duration` from `args`, then runs the rounds and
 * prints the report, as markdown for bench/README.md.
 */
export async function versus<S extends Contender>(
  bench: Versus<S>,
  args: string[],
): Promise<void> {
  const { rounds, duration } = roundsAndDuration(args);
  const software = await bench.software();
  const { servers, loads, ours } = bench;
  const loadBefore = loadAverage();
  console.log(
    `${servers.length} servers x ${loads.length} loads x ${rounds} round(s); ` +
      `wrk -t1 -c${CONNECTIONS} -d${duration}s after ${WARMUP_SECONDS} s of ` +
      `warm-up; about ${
        Math.ceil(
          servers.length * rounds *
            (loads.length * (duration + WARMUP_SECONDS) + 3) / 60,
        )
      } min`,
  );
  const results: Results = loads.map(() => []);
  const connection: Record<string, string> = {};
  for (let round = 1; round <= rounds; round++) {
    loads.forEach((_, l) => results[l].push({}));
    for (const server of servers) {
      const running = await bench.start(server);
      connection[server.name] = running.connection;
      try {
        for (const [l, load] of loads.entries()) {
          const url = `${running.origin}${load.path ?? "/"}`;
          // The warm-up lets V8 optimize and the servers fork their workers.
          await wrk(url, WARMUP_SECONDS, CONNECTIONS, load.wrkArgs);
          const cpuBefore = groupCpuSeconds(running.child.pid);
          const sample = await wrk(url, duration, CONNECTIONS, load.wrkArgs);
          const cpu = groupCpuSeconds(running.child.pid) - cpuBefore;
          results[l][round - 1][server.name] = {
            ...sample,
            cpuPerRequest: cpu / sample.requests * 1e6,
          };
          console.log(
            `round ${round}/${rounds}  ${load.name.padEnd(17)}  ${
              server.name.padEnd(16)
            } ${sample.rps.toFixed(0).padStart(7)} req/s  p99 ${
              sample.p99.toFixed(2)
            } ms` + (sample.errors ? `  (${sample.errors})` : ""),
          );
        }
      } finally {
        await stop(running.child);
      }
    }
  }

  const report = [
    `- Date: ${new Date().toISOString()}`,
    `- Machine: ${navigator.hardwareConcurrency} cores, ${Deno.build.target}; ` +
    `Deno ${Deno.version.deno}; ${software}`,
    `- Command: \`${["deno", "run", "-A", bench.file, ...args].join(" ")}\``,
    `- Load: wrk -t1 -c${CONNECTIONS} -d${duration}s --latency after a ` +
    `${WARMUP_SECONDS} s warm-up, ${rounds} interleaved round(s)`,
    `- Load average (1, 5, 15 min) before and after: ${loadBefore}; ` +
    loadAverage(),
    `- Connection header of each server's answer: ${
      servers.map((s) => `${s.name} ${connection[s.name]}`).join(", ")
    }`,
  ];
  const notes: string[] = [];
  for (const [l, load] of loads.entries()) {
    const title = load.path === undefined
      ? load.name
      : `${load.name} (\`${load.path}\`)`;
    report.push(
      "",
      `#### ${title}`,
      "",
      table(results[l], servers, ours),
      "",
      verdict(load.name, results[l], servers, ours),
    );
    results[l].forEach((round, i) => {
      for (const [name, sample] of Object.entries(round)) {
        if (sample.errors) {
          notes.push(`${load.name}, ${name}, round ${i + 1}: ${sample.errors}`);
        }
      }
    });
  }
  report.push(
    "",
    notes.length === 0
      ? "wrk reported no socket errors and no non-2xx responses."
      : ["wrk reported:", ...notes.map((n) => `- ${n}`)].join("\n"),
  );
  console.log(`\n${report.join("\n")}`);
}

function table(
  rounds: Record<string, Sample>[],
  servers: Contender[],
  ours: string,
): string {
  const our = rounds.map((round) => round[ours].rps);
  const lines = [
    "| Server | What | req/s | p99 | CPU/req | server.ts ÷ this | per round |",
    "| --- | --- | ---: | ---: | ---: | ---: | --- |",
  ];
  for (const server of servers) {
    const runs = rounds.map((round) => round[server.name]);
    const ratios = runs.map((run, i) => our[i] / run.rps);
    const isOurs = server.name === ours;
    lines.push(
      `| ${server.name} | ${server.label} | ${
        Math.round(median(runs.map((r) => r.rps)))
      } | ${median(runs.map((r) => r.p99)).toFixed(2)} ms | ${
        median(runs.map((r) => r.cpuPerRequest)).toFixed(1)
      } µs | ${isOurs ? "1.00" : median(ratios).toFixed(2)} | ${
        isOurs ? "" : ratios.map((r) => r.toFixed(2)).join(", ")
      } |`,
    );
  }
  return lines.join("\n");
}

/** One line per load: server.ts against each of the others. */
function verdict(
  name: string,
  rounds: Record<string, Sample>[],
  servers: Contender[],
  ours: string,
): string {
  const parts = servers.filter((s) => s.name !== ours).map((s) => {
    const ratios = rounds.map((round) => round[ours].rps / round[s.name].rps);
    const ahead = ratios.filter((r) => r > 1).length;
    return `${
      median(ratios).toFixed(2)
    }x ${s.name} (ahead in ${ahead} of ${ratios.length} rounds)`;
  });
  return `${name}: server.ts ran at ${parts.join(", ")}.`;
}
