/**
 * What the benches share: bounded flags, `--only` lists, free ports, the
 * versions of other software, waiting for a server, wrk's output, `/proc`
 * readings, and a few statistics.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { parseArgs } from "node:util";

/**
 * An integer flag within bounds: the bounds keep every load loop finite and
 * the benches polite on a shared machine.
 */
export function boundedInt(
  flag: string,
  text: string,
  min: number,
  max: number,
): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new RangeError(
      `--${flag} must be an integer from ${min} to ${max}, got "${text}"`,
    );
  }
  return n;
}

/**
 * `--rounds N` (default 3, at most 50) and `--duration S` (default 4, at
 * most 120) from `args`, for the benches that take only those.
 */
export function roundsAndDuration(
  args: string[],
): { rounds: number; duration: number } {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      rounds: { type: "string", default: "3" },
      duration: { type: "string", default: "4" },
    },
  });
  return {
    rounds: boundedInt("rounds", values.rounds, 1, 50),
    duration: boundedInt("duration", values.duration, 1, 120),
  };
}

/**
 * The names in an `--only a,b` list, each checked against `known`: a name
 * not there throws, naming the `noun`s there are.
 */
export function onlyNames(
  text: string,
  known: string[],
  noun: string,
): string[] {
  const names = text.split(",").map((s) => s.trim()).filter(Boolean);
  for (const name of names) {
    if (!known.includes(name)) {
      throw new RangeError(
        `--only: no ${noun} "${name}"; the ${noun}s are ${known.join(", ")}`,
      );
    }
  }
  return names;
}

/**
 * What `command args` prints (stdout, or stderr when stdout is empty),
 * trimmed: a version for a bench's report. Throws `missing` when the
 * command is not installed.
 */
export async function versionOf(
  command: string,
  args: string[],
  missing: string,
): Promise<string> {
  try {
    const { stdout, stderr } = await new Deno.Command(command, { args })
      .output();
    return new TextDecoder().decode(stdout.length ? stdout : stderr).trim();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new Error(missing);
  }
}

/** A port nothing listens on now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Resolves once `url` answers, polling; throws after `ms`. */
export async function waitForAnswer(url: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (true) {
    try {
      await (await fetch(url)).body?.cancel();
      return;
    } catch (error) {
      if (Date.now() > deadline) {
        throw new Error(`${url} never answered: ${error}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** A Deno process serving on 127.0.0.1, as {@linkcode startDeno} starts it. */
export interface Started {
  url: string;
  pid: number;
  /** SIGTERM, then SIGKILL if it has not exited within 5 s. */
  stop(): Promise<void>;
}

/**
 * Runs `deno <args> --port P` on a free port and waits until it answers.
 * Its stdout goes to /dev/null: a server that prints a line per request
 * would otherwise take CPU from the one measured, through whoever reads it.
 */
export async function startDeno(
  args: string[],
  stderr: "inherit" | "null" = "inherit",
): Promise<Started> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [...args, "--port", String(port)],
    stdout: "null",
    stderr,
    stdin: "null",
  }).spawn();
  const stop = async () => {
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await child.status;
    clearTimeout(timer);
  };
  const url = `http://127.0.0.1:${port}/`;
  try {
    await waitForAnswer(url);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, pid: child.pid, stop };
}

/** What one wrk run measured. */
export interface WrkSample {
  rps: number;
  /** 99th percentile latency, in ms. */
  p99: number;
  requests: number;
  /** wrk's socket errors and non-2xx counts, if any. */
  errors: string;
}

const UNITS_MS: Record<string, number> = {
  us: 0.001,
  ms: 1,
  s: 1000,
  m: 60_000,
};

/** Reads the output of `wrk --latency`. */
export function parseWrk(text: string): WrkSample {
  const rps = text.match(/^Requests\/sec:\s+([\d.]+)/m);
  const p99 = text.match(/^\s+99%\s+([\d.]+)(us|ms|s|m)\b/m);
  const requests = text.match(/^\s+(\d+) requests in /m);
  if (!rps || !p99 || !requests) {
    throw new Error(`Cannot parse wrk's output:\n${text}`);
  }
  return {
    rps: Number(rps[1]),
    p99: Number(p99[1]) * UNITS_MS[p99[2]],
    requests: Number(requests[1]),
    errors: [
      text.match(/Socket errors: [^\n]*/)?.[0],
      text.match(/Non-2xx or 3xx responses: \d+/)?.[0],
    ].filter(Boolean).join("; "),
  };
}

/**
 * Requests per second from one `wrk -t1 -c50` run: one thread, so that on
 * 2 cores wrk and the server each get about one.
 */
export async function wrkRps(url: string, seconds: number): Promise<number> {
  const { stdout, success } = await new Deno.Command("wrk", {
    args: ["-t1", "-c50", `-d${seconds}s`, "--latency", url],
  }).output();
  const text = new TextDecoder().decode(stdout);
  if (!success) throw new Error(`wrk failed:\n${text}`);
  return parseWrk(text).rps;
}

/** USER_HZ, the unit of the CPU times in `/proc`: 100 on Linux. */
const TICKS_PER_SECOND = 100;

/** The fields of `/proc/PID/stat` after the command name (which may hold spaces). */
export function procStat(pid: number | string): string[] {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** User plus system CPU seconds in `/proc/PID/stat` fields. */
export function statCpuSeconds(fields: string[]): number {
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** User plus system CPU seconds of a process, all its threads. */
export function cpuSeconds(pid: number | "self"): number {
  return statCpuSeconds(procStat(pid));
}

/**
 * User plus system CPU seconds of every process in the group `group`: a
 * gunicorn master and its workers, or one Deno process with its threads.
 */
export function groupCpuSeconds(group: number): number {
  let seconds = 0;
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let fields: string[];
    try {
      fields = procStat(entry.name);
    } catch {
      continue; // Exited while we looked.
    }
    if (Number(fields[2]) === group) seconds += statCpuSeconds(fields);
  }
  return seconds;
}

/** A process's resident memory, in MiB. */
export function rssMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(status.match(/VmRSS:\s+(\d+) kB/)![1]) / 1024;
}

/** The 1, 5 and 15 minute load averages, to print beside the figures. */
export function loadAverage(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3)
      .join(" ");
  } catch {
    return "unknown";
  }
}

/** The median of `values`. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Byte-for-byte equality, as a memcmp: some bodies checked are 64 MiB. */
export function equal(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength)
    .equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
