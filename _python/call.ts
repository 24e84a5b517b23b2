/**
 * One request through a pool slot: the environ goes over, the body follows
 * as the runner asks for it, and the status, headers and chunks come back
 * into our own start_response and body, so the server's rules apply to
 * them as to any app's.
 *
 * @module
 */
import type {
  Body,
  Environ,
  ErrorStream,
  InputStream,
  StartResponse,
} from "../_contract/types.ts";
import { decodePairs, type Frame, pairsFrame } from "./channel.ts";
import { type Pool, PoolUnavailable, type Slot } from "./pool.ts";

/**
 * An exception the Python app raised, or the runner raised for it. Its
 * stack is the Python traceback, so the log shows the Python frames.
 */
export class PythonError extends Error {
  /** Takes the runner's `traceback.format_exc()` text. */
  constructor(traceback: string) {
    // The dev server's runner puts each frame's locals after the traceback.
    const lines = traceback.split("\nLocals (most recent call last):")[0]
      .trimEnd().split("\n");
    super(lines[lines.length - 1]);
    this.name = "PythonError";
    this.stack = traceback.trimEnd();
  }
}

const PLAIN: [string, string][] = [[
  "Content-Type",
  "text/plain; charset=utf-8",
]];

/**
 * The H frame of `environ`: its str items, the ones a Python app can see.
 * The keys are listed with one `Reflect.ownKeys`: `for ... in` over the
 * adapter's lazy environ (a Proxy) asks for every key's descriptor too,
 * and cost three times as much (50 against 16 µs a request, in-process).
 * pairsFrame checks every character, and on a failure the pair at fault
 * is named, so the common case scans once.
 */
function environFrame(environ: Environ): Uint8Array {
  const items: string[] = [];
  for (const key of Reflect.ownKeys(environ)) {
    // deno.* hold objects (the Request, the signal); reading them costs.
    if (typeof key !== "string" || key.startsWith("deno.")) continue;
    const value = environ[key];
    if (typeof value === "string") items.push(key, value);
  }
  try {
    return pairsFrame("H", items);
  } catch (error) {
    // deno-lint-ignore no-control-regex
    const bad = items.findIndex((item) => /[^\x00-\xff]/.test(item));
    if (bad < 0) throw error;
    throw new TypeError(
      `Cannot pass environ[${
        JSON.stringify(items[bad - (bad % 2)])
      }] to Python: it is not a native string (code points 0-255 only); encode it as Latin-1 bytes first`,
    );
  }
}

/** Runs one request of `environ` on the pool; resolves with its body. */
export async function callPython(
  pool: Pool,
  timeout: number,
  environ: Environ,
  startResponse: StartResponse,
): Promise<Body> {
  const head = environFrame(environ);
  // A slot of a worker that died while it was idle is found out only once
  // the request is sent: such a request never reached the app, and goes to
  // another slot (after the worker's replacement, if it was the last).
  for (let tries = 1;; tries++) {
    let slot: Slot;
    try {
      slot = await pool.acquire();
    } catch (error) {
      if (!(error instanceof PoolUnavailable)) throw error;
      startResponse("503 Service Unavailable", PLAIN);
      return [`Service Unavailable: ${error.message}\n`];
    }
    const body = await new Call(pool, slot, timeout, environ).run(
      head,
      startResponse,
      tries < pool.config.workers * pool.config.threads + 2,
    );
    if (body !== undefined) return body;
  }
}

class Call {
  #pool: Pool;
  #slot: Slot;
  #timeout: number;
  #environ: Environ;
  #timedOut = false;
  #abandoned = false;
  #inputError: unknown;

  constructor(pool: Pool, slot: Slot, timeout: number, environ: Environ) {
    this.#pool = pool;
    this.#slot = slot;
    this.#timeout = timeout;
    this.#environ = environ;
  }

  get #errors(): ErrorStream {
    return this.#environ["wsgi.errors"];
  }

  /**
   * The timer runs while the worker owes us something (gunicorn's
   * --timeout): not while it waits for the client's body or for the
   * client to take a chunk.
   */
  #arm(): void {
    this.#slot.watchdog.arm(this.#timeout, this.#expired);
  }

  #expired = (): void => {
    this.#timedOut = true;
    this.#slot.worker.kill(
      `the Python worker was killed: a request on it ran past the ${
        this.#timeout / 1000
      } s timeout`,
    );
  };

  #disarm(): void {
    this.#slot.watchdog.disarm();
  }

  /** The request is over on the Python side: the slot is free again. */
  #finish(): void {
    this.#disarm();
    this.#pool.release(this.#slot);
  }

  /** The next frame that is not a body read or an errors write. */
  async #next(): Promise<Frame | null> {
    const channel = this.#slot.channel;
    while (true) {
      const frame = await channel.read();
      if (frame === null) return null;
      if (frame.type === "W") {
        this.#errors.write(new TextDecoder().decode(frame.payload));
      } else if (frame.type === "R") {
        await this.#feed(frame.payload);
      } else if (frame.type === "D" && this.#abandoned) {
        channel.send("X");
      } else {
        return frame;
      }
    }
  }

  /** Answers a body read with up to the asked number of bytes. */
  async #feed(payload: Uint8Array): Promise<void> {
    const channel = this.#slot.channel;
    if (this.#abandoned || this.#inputError !== undefined) {
      channel.send("X");
      return;
    }
    const want = new DataView(payload.buffer, payload.byteOffset).getUint32(0);
    this.#disarm();
    try {
      const input = this.#environ["wsgi.input"] as InputStream;
      const data = await input.read(want);
      this.#arm();
      channel.send("B", data);
    } catch (error) {
      // Python's read() raises; the server answers for the body (400, 413).
      this.#inputError = error;
      this.#arm();
      channel.send("X");
    }
  }

  /** Why the worker went away, for a 502 or an aborted response. */
  async #lost(): Promise<string> {
    if (this.#timedOut) {
      return `the Python app did not answer within ${
        this.#timeout / 1000
      } s (pythonApp's timeout); its worker was killed and replaced`;
    }
    return `${await this.#slot.worker.exitReason()} during the request`;
  }

  /**
   * Runs the request; undefined when it could not be sent (the worker's
   * end was closed) and `mayRetry`, to be run on another slot.
   */
  async run(
    head: Uint8Array,
    startResponse: StartResponse,
    mayRetry: boolean,
  ): Promise<Body | undefined> {
    const sent = this.#slot.channel.sendFrame(head);
    this.#arm();
    const frame = await this.#next();
    if (frame === null) {
      this.#finish();
      if (mayRetry && !await sent) return undefined;
      const reason = await this.#lost();
      const where = `${this.#environ.REQUEST_METHOD} ${this.#environ.RAW_URI}`;
      const status = this.#timedOut ? "504 Gateway Timeout" : "502 Bad Gateway";
      this.#errors.write(
        `pythonApp: ${reason} (${where}); answered ${status}\n`,
      );
      startResponse(status, PLAIN);
      return [`${status.slice(4)}: ${reason}\n`];
    }
    if (frame.type !== "S") {
      this.#finish();
      if (this.#inputError !== undefined) throw this.#inputError;
      throw frame.type === "E"
        ? new PythonError(new TextDecoder().decode(frame.payload))
        : new Error(`Cannot run the request: the runner sent ${frame.type}`);
    }
    const [[, status], ...headers] = decodePairs(frame.payload);
    try {
      startResponse(status, headers);
    } catch (error) {
      this.#abandon();
      throw error;
    }
    // The runner sends a body that was whole in memory together with its
    // end; answered as an array, it takes the server's fast path.
    const whole = this.#slot.channel.takeWholeBody();
    if (whole !== undefined) {
      this.#finish();
      return whole;
    }
    return this.#body();
  }

  async *#body(): AsyncGenerator<Uint8Array> {
    let over = false;
    try {
      while (true) {
        const frame = await this.#next();
        if (frame === null) {
          over = true;
          throw new Error(`Cannot finish the response: ${await this.#lost()}`);
        }
        if (frame.type === "F") {
          over = true;
          if (this.#inputError !== undefined) throw this.#inputError;
          return;
        }
        if (frame.type === "E") {
          over = true;
          throw new PythonError(new TextDecoder().decode(frame.payload));
        }
        this.#disarm();
        yield frame.payload;
        this.#arm();
        this.#slot.channel.send("C");
      }
    } finally {
      if (over) this.#finish();
      else this.#abandon();
    }
  }

  /**
   * Tells the runner to stop (the client left, or our start_response
   * refused the response): it raises in the app, calls close(), and ends
   * the request. The slot is free once it did.
   */
  #abandon(): void {
    this.#abandoned = true;
    this.#slot.channel.send("X");
    this.#arm();
    (async () => {
      while (true) {
        const frame = await this.#next();
        if (frame === null || frame.type === "F" || frame.type === "E") break;
      }
      this.#finish();
    })();
  }
}
