/**
 * The pool behind pythonApp(): CPython worker processes, each connected by
 * one channel per thread (a "slot" serves one request at a time), and the
 * queue of requests waiting for a free slot. A worker that exits is
 * replaced; its requests learn why from {@linkcode PythonWorker.exitReason}.
 *
 * @module
 */
import { Channel } from "./channel.ts";

/** What the pool needs to start a worker. */
export interface PoolConfig {
  python: string;
  runner: string;
  file: string;
  callable: string | undefined;
  pythonPath: string[];
  workers: number;
  threads: number;
  env: Record<string, string>;
  /** A folder of the pool's own, for the sockets; removed by close(). */
  dir: string;
  /**
   * Where each worker writes the files of its `sys.modules` once the app
   * has imported (or failed to), as a JSON list: the dev server watches
   * the app's own among them.
   */
  modulesFile?: string;
  /**
   * The dev server's mode: tracebacks carry each frame's locals, and
   * Flask's exceptions propagate to the server instead of its own 500.
   */
  debug?: boolean;
  /**
   * With `debug`: a folder where each worker listens for the dev server's
   * console (`console-<pid>.sock`), evaluating input in the frames of its
   * last failed requests.
   */
  console?: string;
  /**
   * A runner started ahead, waiting at its gate (the dev server's spare
   * interpreter, its site-packages imported): the first worker is this
   * process, given its config by writing the gate file.
   */
  spare?: { process: Deno.ChildProcess; gate: string };
}

/** The app did not load: the Python error's last line, and its traceback. */
export class PythonLoadError extends Error {
  /** The whole Python traceback, for pages that show it. */
  readonly traceback: string;

  /** Takes the one-line message and, when there is one, the traceback. */
  constructor(message: string, traceback = "") {
    super(message);
    this.name = "PythonLoadError";
    this.traceback = traceback;
  }
}

/** No slot will come: the pool is closed, or its app failed to load. */
export class PoolUnavailable extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PoolUnavailable";
  }
}

/** One CPython process of the pool. */
export class PythonWorker {
  readonly id: number;
  readonly process: Deno.ChildProcess;
  readonly listener: Deno.Listener;
  readonly slots: Slot[] = [];
  /** Set when the pool killed it, and why, for the requests it had. */
  killedBecause: string | undefined;
  #status: Deno.CommandStatus | undefined;

  constructor(id: number, process: Deno.ChildProcess, listener: Deno.Listener) {
    this.id = id;
    this.process = process;
    this.listener = listener;
    process.status.then((status) => this.#status = status);
  }

  get alive(): boolean {
    return this.#status === undefined;
  }

  /** Kills it (SIGKILL, as gunicorn does past its timeout), saying why. */
  kill(because: string): void {
    this.killedBecause ??= because;
    try {
      this.process.kill("SIGKILL");
    } catch {
      // It exited in between.
    }
  }

  /** Why it is gone, once its exit status is in. */
  async exitReason(): Promise<string> {
    const status = await this.process.status;
    if (this.killedBecause !== undefined) return this.killedBecause;
    return status.signal
      ? `the Python worker was killed by ${status.signal}`
      : `the Python worker exited with code ${status.code}`;
  }
}

/** One channel of a worker: serves one request at a time. */
export interface Slot {
  worker: PythonWorker;
  channel: Channel;
  /** The request timeout of whatever request the slot has. */
  watchdog: Watchdog;
}

/**
 * A timeout that is armed and disarmed several times a request, on one
 * timer: arming moves a deadline, and the timer, once it fires, waits
 * again for what is left of it, if anything. A timer set and cleared for
 * every request cost a tenth of the Deno side's time.
 */
export class Watchdog {
  #deadline = Infinity;
  #expired: (() => void) | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Calls `expired` in `ms` unless disarmed or armed again before. */
  arm(ms: number, expired: () => void): void {
    this.#deadline = performance.now() + ms;
    this.#expired = expired;
    if (this.#timer === undefined) this.#wait(ms);
  }

  disarm(): void {
    this.#expired = undefined;
  }

  /** Clears the timer, for a slot that is gone. */
  stop(): void {
    this.#expired = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #wait(ms: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const expired = this.#expired;
      if (expired === undefined) return;
      const left = this.#deadline - performance.now();
      if (left > 0) return this.#wait(left);
      this.#expired = undefined;
      expired();
    }, ms);
  }
}

/** Workers, slots and the queue of requests waiting for a slot. */
export class Pool {
  readonly config: PoolConfig;
  /** Settles once every first worker loaded the app, or one failed to. */
  readonly ready: Promise<void>;
  #workers = new Set<PythonWorker>();
  #idle: Slot[] = [];
  #busy = new Set<Slot>();
  #waiting: {
    resolve: (slot: Slot) => void;
    reject: (error: Error) => void;
  }[] = [];
  #nextId = 0;
  #failure: Error | undefined;
  #closing = false;
  #drained: (() => void) | undefined;
  #starts = new Set<Promise<void>>();

  constructor(config: PoolConfig) {
    this.config = config;
    const starts: Promise<void>[] = [];
    for (let i = 0; i < config.workers; i++) starts.push(this.#start());
    this.ready = Promise.all(starts).then(() => {});
    // A caller that never awaits ready must not crash the process on a
    // load error; requests report it too.
    this.ready.catch(() => {});
  }

  /** A free slot, waiting in line when every slot is busy. */
  acquire(): Promise<Slot> {
    if (this.#failure) return Promise.reject(this.#failure);
    const slot = this.#idle.pop();
    if (slot) {
      this.#busy.add(slot);
      return Promise.resolve(slot);
    }
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
    });
  }

  /** Gives a slot back once its request is over. */
  release(slot: Slot): void {
    this.#busy.delete(slot);
    // A worker closes its channels before its exit status is in.
    const usable = slot.worker.alive && !slot.worker.killedBecause &&
      !slot.channel.ended;
    if (usable) this.#offer(slot);
    if (this.#busy.size === 0) this.#drained?.();
  }

  #offer(slot: Slot): void {
    const next = this.#closing ? undefined : this.#waiting.shift();
    if (next) {
      this.#busy.add(slot);
      next.resolve(slot);
    } else {
      this.#idle.push(slot);
    }
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const waiter of this.#waiting.splice(0)) waiter.reject(this.#failure);
  }

  /** Spawns one worker and waits for the hello on each of its channels. */
  #start(): Promise<void> {
    const start = this.#spawn().finally(() => this.#starts.delete(start));
    this.#starts.add(start);
    return start;
  }

  async #spawn(): Promise<void> {
    const { config } = this;
    const id = this.#nextId++;
    const socket = `${config.dir}/w${id}.sock`;
    const listener = Deno.listen({ transport: "unix", path: socket });
    let process: Deno.ChildProcess;
    try {
      process = this.#takeSpare(socket) ?? this.#command(socket).spawn();
    } catch (error) {
      listener.close();
      const failure = new PythonLoadError(
        `Cannot start the Python interpreter ${
          JSON.stringify(config.python)
        }: ${
          error instanceof Deno.errors.NotFound ? "not found" : String(error)
        }; pass the path of one as the python option`,
      );
      this.#fail(failure);
      throw failure;
    }
    const worker = new PythonWorker(id, process, listener);
    this.#workers.add(worker);
    process.status.then(() => this.#exited(worker));
    try {
      await this.#connect(worker);
    } catch (error) {
      worker.kill("the app failed to load");
      const failure = error instanceof Error ? error : new Error(String(error));
      this.#fail(failure);
      throw failure;
    } finally {
      listener.close();
      await Deno.remove(socket).catch(() => {});
    }
    if (this.#closing) return;
    for (const slot of worker.slots) this.#offer(slot);
  }

  async #connect(worker: PythonWorker): Promise<void> {
    const died = async () =>
      new PythonLoadError(
        `Cannot load ${this.config.file}: ${await worker
          .exitReason()} before the app loaded`,
      );
    // A runner that connects, reports its load error and exits may be seen
    // to exit before its connection is accepted: the grace keeps the
    // report from being lost to that race.
    const exited = worker.process.status
      .then(() => new Promise((resolve) => setTimeout(resolve, 250)))
      .then(async () => {
        throw await died();
      });
    exited.catch(() => {});
    while (worker.slots.length < this.config.threads) {
      const accepting = worker.listener.accept();
      // Settled by the listener's close when the worker exits first.
      accepting.catch(() => {});
      const channel = new Channel(await Promise.race([accepting, exited]));
      // The runner sends its first frame right after connecting; a read
      // ends with null if it dies instead.
      const frame = await channel.read();
      if (frame?.type === "O") {
        worker.slots.push({ worker, channel, watchdog: new Watchdog() });
        continue;
      }
      channel.close();
      if (frame?.type !== "L") throw await died();
      const report = JSON.parse(new TextDecoder().decode(frame.payload));
      throw new PythonLoadError(report.message, report.traceback);
    }
  }

  /**
   * The spare, if there is one left: its config goes into the gate file,
   * written under another name and renamed, so that it appears whole.
   */
  #takeSpare(socket: string): Deno.ChildProcess | undefined {
    const spare = this.config.spare;
    if (spare === undefined) return undefined;
    this.config.spare = undefined;
    Deno.writeTextFileSync(`${spare.gate}.part`, this.#runnerConfig(socket));
    Deno.renameSync(`${spare.gate}.part`, spare.gate);
    return spare.process;
  }

  /** The runner's command line: its config is one JSON argument. */
  #command(socket: string): Deno.Command {
    const { config } = this;
    return new Deno.Command(config.python, {
      args: [config.runner, this.#runnerConfig(socket)],
      env: config.env,
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    });
  }

  #runnerConfig(socket: string): string {
    const { config } = this;
    return JSON.stringify({
      socket,
      file: config.file,
      callable: config.callable ?? null,
      path: config.pythonPath,
      threads: config.threads,
      multiprocess: config.workers > 1,
      modules: config.modulesFile ?? null,
      debug: config.debug ?? false,
      console: config.console ?? null,
    });
  }

  /** A worker is gone: drop its slots and start another in its place. */
  #exited(worker: PythonWorker): void {
    this.#workers.delete(worker);
    for (const slot of worker.slots) {
      slot.channel.close();
      slot.watchdog.stop();
    }
    this.#idle = this.#idle.filter((slot) => slot.worker !== worker);
    if (this.#closing || this.#failure || worker.slots.length === 0) return;
    this.#start().catch(() => {});
  }

  /**
   * Stops taking requests (those waiting get PoolUnavailable), lets the
   * ones in progress finish, then ends every worker: its channels close,
   * the runner's threads return, and a worker still busy after `graceMs`
   * is killed.
   */
  async close(graceMs = 10_000): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const closed = new PoolUnavailable(
      "Cannot take the request: the Python pool is closed",
    );
    for (const waiter of this.#waiting.splice(0)) waiter.reject(closed);
    this.#failure ??= closed;
    await Promise.allSettled([...this.#starts]);
    if (this.#busy.size > 0) {
      await new Promise<void>((resolve) => this.#drained = resolve);
    }
    const workers = [...this.#workers];
    for (const worker of workers) {
      for (const slot of worker.slots) {
        slot.channel.close();
        slot.watchdog.stop();
      }
    }
    await Promise.all(workers.map(async (worker) => {
      const timer = setTimeout(
        () => worker.kill("the Python pool was closed"),
        graceMs,
      );
      try {
        await worker.process.status;
      } finally {
        clearTimeout(timer);
      }
    }));
    await Deno.remove(this.config.dir, { recursive: true }).catch(() => {});
  }
}
