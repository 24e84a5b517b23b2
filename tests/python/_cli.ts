/**
 * Helpers for the suites that run `server.ts app.py` as a user does: a
 * process started in a temporary folder with a bare relative spec, and the
 * Python processes it started, found by their parent's pid.
 */
import { join } from "node:path";
import { Spawned } from "../_helpers.ts";
import { PYTHON } from "../reference/_reference.ts";

/** server.ts of this checkout. */
export const SERVER = new URL("../../server.ts", import.meta.url).pathname;

/** The fixtures of the Python suites. */
export const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;

/** How long any one process may take to start, finish, or answer. */
export const TIMEOUT_MS = 30_000;

/**
 * server.ts serving a Python app, run in `cwd` with Debian's interpreter
 * and `args` after the spec; no `PORT` or `SCRIPT_NAME` from the machine.
 */
export function serveCli(
  cwd: string,
  spec: string,
  args: string[] = [],
): Spawned {
  return new Spawned(
    Deno.execPath(),
    ["run", "-A", SERVER, spec, "--python", PYTHON, "--port", "0", ...args],
    { PORT: "", SCRIPT_NAME: "", PYTHONDONTWRITEBYTECODE: "1" },
    cwd,
  );
}

/** The URL of its "Listening on" line, once it printed it whole. */
export async function listening(child: Spawned): Promise<string> {
  return (await child.waitFor(/Listening on (\S+)\n/, "stdout", TIMEOUT_MS))[1];
}

/** Runs `fn` in a new folder, then removes it. */
export async function inTempDir(
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "wsgi_py_cli_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Copies a fixture file into `dir` under `name` (folders made as needed). */
export async function copyFixture(
  fixture: string,
  dir: string,
  name: string,
): Promise<void> {
  const target = join(dir, name);
  await Deno.mkdir(join(target, ".."), { recursive: true });
  await Deno.copyFile(join(FIXTURES, fixture), target);
}

/** The pids of the live processes whose parent is `pid`, from /proc. */
export function childPids(pid: number): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let stat: string;
    try {
      stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
    } catch {
      continue; // It exited while we looked.
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] !== "Z" && Number(fields[1]) === pid) {
      pids.push(Number(entry.name));
    }
  }
  return pids.sort((a, b) => a - b);
}

/** Whether a process of that pid exists and has not exited. */
export function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}
