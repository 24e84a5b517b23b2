/** Helpers shared by the test suites. */
import {
  type AppLike,
  serve,
  type ServeOptions,
  type Server,
  toApp,
} from "../mod.ts";
import { validator } from "../middleware/validator.ts";
import { Client, type ClientOptions } from "../testing.ts";

/**
 * A test client whose app runs under the validator, so that a middleware
 * test also checks that its subject keeps both sides of the contract.
 */
export class LintedClient extends Client {
  constructor(app: AppLike, options?: ClientOptions) {
    super(validator()(toApp(app)), options);
  }
}

/** An error sink that keeps what it is given, for assertions on the log. */
export function errorLog(): {
  sink: (text: string) => void;
  text: () => string;
} {
  const lines: string[] = [];
  return { sink: (text) => void lines.push(text), text: () => lines.join("") };
}

/** Runs `fn` against a real server on 127.0.0.1, then shuts it down. */
export async function withServer(
  app: AppLike,
  fn: (server: Server, port: number) => Promise<void>,
  options: ServeOptions = {},
): Promise<void> {
  const server = serve(app, { port: 0, onListen() {}, ...options });
  try {
    await fn(server, (server.addr as Deno.NetAddr).port);
  } finally {
    await server.shutdown();
  }
}

/** Bytes as a native string. TextDecoder's "latin1" is windows-1252, so not that. */
function latin1(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) out += String.fromCharCode(byte);
  return out;
}

/**
 * Sends raw bytes over TCP to `port` on 127.0.0.1 (or to a unix socket, when
 * given its path) and reads until the server closes the connection (send
 * `Connection: close`). Returns what arrived, as Latin-1 text, and whether
 * the connection ended in an error (an aborted response). With `ms`, a
 * response not over by then closes the connection and rejects, so that a
 * hang fails the test instead of the suite.
 */
export async function rawRequest(
  port: number | string,
  request: string | Uint8Array,
  ms?: number,
): Promise<{ text: string; aborted: boolean }> {
  const conn = typeof port === "number"
    ? await Deno.connect({ hostname: "127.0.0.1", port })
    : await Deno.connect({ transport: "unix", path: port });
  let timedOut = false;
  const timer = ms === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    conn.close();
  }, ms);
  try {
    const bytes = typeof request === "string"
      ? Uint8Array.from(request, (c) => c.charCodeAt(0))
      : request;
    for (let sent = 0; sent < bytes.length;) {
      sent += await conn.write(bytes.subarray(sent));
    }
    const parts: Uint8Array[] = [];
    const buffer = new Uint8Array(65536);
    let aborted = false;
    while (true) {
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch {
        aborted = true;
        break;
      }
      if (n === null) break;
      parts.push(buffer.slice(0, n));
    }
    const text = parts.map(latin1).join("");
    if (timedOut) {
      throw new Error(
        `Cannot read the response: it was not over within ${ms} ms; got ${
          JSON.stringify(text.slice(0, 200))
        }`,
      );
    }
    return { text, aborted };
  } finally {
    clearTimeout(timer);
    if (!timedOut) conn.close();
  }
}

/** Splits a raw HTTP/1.1 response into its head lines and body. */
export function parseRaw(text: string): { head: string[]; body: string } {
  const end = text.indexOf("\r\n\r\n");
  return {
    head: text.slice(0, end).split("\r\n"),
    body: text.slice(end + 4),
  };
}

/** Decodes a chunked transfer-coded body; throws if it is not complete. */
export function dechunk(body: string): string {
  let out = "";
  let rest = body;
  while (true) {
    const eol = rest.indexOf("\r\n");
    if (eol < 0) throw new Error("Cannot decode chunked body: it is cut short");
    const size = parseInt(rest.slice(0, eol), 16);
    if (size === 0) return out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 2 + size + 2);
  }
}

/** A free TCP port on 127.0.0.1: bound to port 0, read, and let go. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * A child process whose stdout and stderr are read to their end from the
 * start: it can never block on a full pipe, and once it exits nothing is
 * left open.
 */
export class Spawned {
  readonly child: Deno.ChildProcess;
  stdout = "";
  stderr = "";
  /** Resolves once it has exited and both its pipes are drained. */
  readonly done: Promise<Deno.CommandStatus>;
  #exited = false;

  constructor(
    command: string,
    args: string[],
    env: Record<string, string> = {},
    cwd?: string,
  ) {
    this.child = new Deno.Command(command, {
      args,
      env,
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const drain = async (
      stream: ReadableStream<Uint8Array>,
      into: "stdout" | "stderr",
    ) => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) {
        this[into] += text;
      }
    };
    this.done = Promise.all([
      this.child.status,
      drain(this.child.stdout, "stdout"),
      drain(this.child.stderr, "stderr"),
    ]).then(([status]) => status);
    this.child.status.then(() => this.#exited = true);
  }

  /** Everything it printed so far, stdout then stderr. */
  output(): string {
    return this.stdout + this.stderr;
  }

  /**
   * The first match of `pattern` in `stream`, waiting for it; fails if the
   * process exits first or nothing matches within `ms`.
   */
  async waitFor(
    pattern: RegExp,
    stream: "stdout" | "stderr",
    ms = 30_000,
  ): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    while (true) {
      const match = this[stream].match(pattern);
      if (match) return match;
      if (this.#exited || Date.now() > deadline) {
        throw new Error(
          `${stream} never matched ${pattern}${
            this.#exited ? " before the process exited" : ""
          }:\n${this.output()}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /**
   * Waits for it to exit, after `signal` if given; SIGKILL after `ms`.
   * Resolves once both pipes are drained.
   */
  async stop(signal?: Deno.Signal, ms = 15_000): Promise<Deno.CommandStatus> {
    if (!this.#exited && signal !== undefined) {
      try {
        this.child.kill(signal);
      } catch {
        // It exited in between.
      }
    }
    const timer = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // It exited in between.
      }
    }, ms);
    try {
      return await this.done;
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * `deno run -A <entry> app.ts --port 0` in `dir`, started without NO_COLOR
 * in its environment: Deno colours its own messages unless NO_COLOR is set,
 * which is what a test of colour-free output must start from.
 */
export function spawnWithColour(entry: string, dir: string): Spawned {
  const noColor = Deno.env.get("NO_COLOR");
  Deno.env.delete("NO_COLOR");
  try {
    return new Spawned(
      Deno.execPath(),
      ["run", "-A", entry, "app.ts", "--port", "0"],
      {},
      dir,
    );
  } finally {
    if (noColor !== undefined) Deno.env.set("NO_COLOR", noColor);
  }
}
