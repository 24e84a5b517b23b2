/**
 * The child processes of the wrk benches (`run.ts`, `gunicorn.ts`): servers
 * and wrk itself. Every child leads a process group of its own and is
 * registered from the moment it is spawned until it has exited, so that
 * {@linkcode stopAll} (run on every exit path, Ctrl-C included) leaves
 * nothing behind, not even a gunicorn worker whose master is gone.
 *
 * @module
 */
import { parseWrk, type WrkSample } from "./_util.ts";

const live = new Set<Deno.ChildProcess>();

/** Starts `command` in a process group of its own, stdout and stderr piped. */
export function spawn(command: string, args: string[]): Deno.ChildProcess {
  const child = new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    detached: true,
  }).spawn();
  live.add(child);
  child.status.finally(() => live.delete(child));
  return child;
}

function killGroup(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    Deno.kill(-child.pid, signal);
  } catch {
    // The whole group has exited.
  }
}

/**
 * SIGTERM to the child's group, then SIGKILL to whatever is left of it
 * after 3 s or as soon as the leader has exited (for any worker it left
 * behind).
 */
export async function stop(child: Deno.ChildProcess): Promise<void> {
  killGroup(child, "SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    child.status,
    new Promise((resolve) => timer = setTimeout(resolve, 3000)),
  ]);
  clearTimeout(timer);
  killGroup(child, "SIGKILL");
  await child.status;
}

/**
 * Runs `check` on a server just spawned; if it throws, stops the server
 * and throws naming it, with what it wrote.
 */
export async function checkStarted<T>(
  name: string,
  child: Deno.ChildProcess,
  output: Output,
  check: () => Promise<T>,
): Promise<T> {
  try {
    return await check();
  } catch (error) {
    await stop(child);
    throw new Error(
      `${name}: ${(error as Error).message}; its output:\n${output.text}`,
    );
  }
}

/** Stops every child still running. */
export function stopAll(): Promise<void[]> {
  return Promise.all([...live].map(stop));
}

/**
 * The last 16 KiB a child wrote on stdout and stderr. Both pipes are read
 * to the end, or a chatty child would block once the pipe buffer is full.
 */
export class Output {
  /** What the child wrote last, both pipes interleaved. */
  text = "";
  #changed: (() => void) | undefined;
  /** Resolves once both pipes have closed. */
  readonly done: Promise<void>;

  constructor(child: Deno.ChildProcess) {
    this.done = Promise.all([
      this.#drain(child.stdout),
      this.#drain(child.stderr),
    ]).then(() => this.#changed?.());
  }

  async #drain(stream: ReadableStream<Uint8Array>): Promise<void> {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      this.text = (this.text + text).slice(-16384);
      this.#changed?.();
    }
  }

  /** Resolves with the first match of `pattern`, or rejects after `ms`. */
  async waitFor(pattern: RegExp, ms: number): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    let finished = false;
    this.done.then(() => finished = true);
    while (true) {
      const match = this.text.match(pattern);
      if (match) return match;
      if (finished) throw new Error("it exited before listening");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`it did not listen within ${ms / 1000} s`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#changed = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }
}

/**
 * One `wrk` run with one thread (on 2 cores wrk and the server each get
 * about one, the same for every server in a round) and `extra` arguments.
 */
export async function wrk(
  url: string,
  seconds: number,
  connections: number,
  extra: string[] = [],
): Promise<WrkSample> {
  const child = spawn("wrk", [
    "-t1",
    `-c${connections}`,
    `-d${seconds}s`,
    "--latency",
    ...extra,
    url,
  ]);
  const output = new Output(child);
  // wrk stops itself after `seconds`; the timer is only a safety net.
  const timer = setTimeout(() => stop(child), (seconds + 30) * 1000);
  const status = await child.status;
  await output.done;
  clearTimeout(timer);
  if (!status.success) {
    throw new Error(`wrk failed (exit ${status.code}):\n${output.text}`);
  }
  return parseWrk(output.text);
}

/**
 * Runs a bench's `main` and exits with its code (0 if it returns none, 1 if
 * it throws). Every child is stopped and `cleanup` run on every exit path,
 * Ctrl-C and kill included, so that no server, worker or wrk outlives it.
 */
export async function runBench(
  main: () => Promise<number | void>,
  cleanup: () => Promise<void> = () => Promise.resolve(),
): Promise<never> {
  const finish = () => stopAll().then(cleanup);
  for (const [signal, number] of [["SIGINT", 2], ["SIGTERM", 15]] as const) {
    Deno.addSignalListener(signal, () => {
      finish().finally(() => Deno.exit(128 + number));
    });
  }
  let code = 1;
  try {
    code = (await main()) ?? 0;
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
  } finally {
    await finish();
  }
  Deno.exit(code);
}
