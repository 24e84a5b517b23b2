/**
 * Helpers for the reference suites: each runs the same cases through this
 * library and through a reference implementation (gunicorn, werkzeug,
 * wsgiref, nginx) and compares the answers.
 */
import { freePort, Spawned } from "../_helpers.ts";

/**
 * Debian's interpreter, which has Debian's gunicorn, werkzeug, Flask and
 * Django: the `python3` first on PATH may be another one without them.
 */
export const PYTHON = "/usr/bin/python3";

/**
 * Runs `code` under Debian's CPython with `input` as JSON on stdin, and
 * returns what it printed on stdout, parsed as JSON. Fails with the
 * interpreter's stderr when it exits non-zero.
 */
export async function runPython<T = unknown>(
  code: string,
  input: unknown = null,
): Promise<T> {
  const child = new Deno.Command(PYTHON, {
    args: ["-c", code],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { PYTHONDONTWRITEBYTECODE: "1" },
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(input)));
  await writer.close();
  const { code: exit, stdout, stderr } = await child.output();
  const err = new TextDecoder().decode(stderr);
  if (exit !== 0) {
    throw new Error(`Cannot run the Python reference (exit ${exit}):\n${err}`);
  }
  return JSON.parse(new TextDecoder().decode(stdout)) as T;
}

/**
 * Starts Debian's gunicorn on a free port of 127.0.0.1, serving `spec`
 * (`module:callable`) from `dir`, and waits until it listens.
 */
export async function startGunicorn(
  dir: string,
  spec: string,
  args: string[] = [],
): Promise<{ process: Spawned; port: number }> {
  const port = freePort();
  const process = new Spawned(PYTHON, [
    "-m",
    "gunicorn",
    "--chdir",
    dir,
    "--bind",
    `127.0.0.1:${port}`,
    "--workers",
    "1",
    "--log-level",
    "warning",
    ...args,
    spec,
  ], { PYTHONDONTWRITEBYTECODE: "1" });
  await waitForPort(port, process);
  return { process, port };
}

/** Waits until something accepts connections on `port`, or `process` exits. */
export async function waitForPort(
  port: number,
  process: Spawned,
  ms = 20_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  let exited = false;
  process.child.status.then(() => exited = true);
  while (true) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      if (exited || Date.now() > deadline) {
        throw new Error(
          `Cannot reach 127.0.0.1:${port}: the server ${
            exited ? "exited" : "did not listen in time"
          }:\n${process.output()}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/**
 * Prints a suite's agreement figure (`label: agreed/total`), the line that
 * says how close we are to the reference.
 */
export function reportAgreement(
  label: string,
  agreed: number,
  total: number,
): void {
  console.log(`${label}: ${agreed}/${total}`);
}
