/**
 * The soak test: `deno run -A bench/soak.ts [--requests N]`.
 *
 * Starts `server.ts` serving `bench/apps/soak.ts` as a child process and
 * sends it `--requests` requests (500,000 by default) over a fixed set of
 * keep-alive connections, in a fixed mix: of every 10 requests, 8 small
 * (`GET /small`), 1 streamed (`GET /stream`, an async generator of 8 x 4 KiB)
 * and 1 upload (`POST /upload` of 15.5 to 16.5 KiB, answered with its
 * length). Every response is checked: status, and the body byte for byte.
 *
 * The server's RSS (`VmRSS` of `/proc/<pid>/status`) is read after the first
 * 5,000 requests (the warm-up, which compiles the hot paths), every 50,000
 * requests, and at the end; the target is an end RSS less than 10% above
 * the start. Deno keeps sizing its pools and heap well past 5,000 requests
 * and then levels off, raw `Deno.serve` too (see `bench/README.md`), so the
 * run also reports the growth over its second half: a leak keeps climbing
 * there, a runtime that has found its size does not.
 *
 * The load generator runs on the same 2 cores as the server, so it must
 * stay cheap. `fetch` is not: in two trials of this mix it spent 1.6 and
 * 1.9 times the server's CPU. The {@linkcode Connection} below writes
 * prebuilt requests and parses only what the checks need; the run reports
 * the CPU both sides spent.
 *
 * Flags:
 *
 * ```
 * --requests N       requests in all, the warm-up included (default 500000)
 * --connections C    concurrent keep-alive connections (default 16)
 * --time-limit S     stop after S seconds and report what was done (default 600)
 * --v8-flags FLAGS   more V8 flags for the server, comma-separated, e.g.
 *                    --v8-flags=--max-semi-space-size=1
 * ```
 *
 * Exits with 1 if any request failed or the time limit cut the run short.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { Buffer } from "node:buffer";
import { STREAM_CHUNK_SIZE, STREAM_CHUNKS } from "./apps/soak.ts";
import { boundedInt as int, cpuSeconds, equal, rssMiB } from "./_util.ts";
import { Output, runBench, spawn, stop } from "./_children.ts";
import { concat } from "../_shared/body.ts";

const WARMUP = 5_000;
const SAMPLE_EVERY = 50_000;
const GROWTH_TARGET = 0.10;
const ROOT = fileURLToPath(new URL("../", import.meta.url));

// ---------------------------------------------------------------------------
// Options.

interface Options {
  requests: number;
  connections: number;
  timeLimit: number;
  v8Flags: string;
}

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      requests: { type: "string", default: "500000" },
      connections: { type: "string", default: "16" },
      "time-limit": { type: "string", default: "600" },
      "v8-flags": { type: "string", default: "" },
    },
  });
  return {
    // At least the warm-up and one more request, so that there is an end.
    requests: int("requests", values.requests, WARMUP + 1, 10_000_000),
    connections: int("connections", values.connections, 1, 256),
    timeLimit: int("time-limit", values["time-limit"], 1, 3600),
    v8Flags: values["v8-flags"],
  };
}

// ---------------------------------------------------------------------------
// The mix: prebuilt requests and the exact answer each must get.

interface Kind {
  name: "small" | "stream" | "upload";
  request: Uint8Array;
  expected: Uint8Array;
}

const encoder = new TextEncoder();

interface Mix {
  small: Kind;
  stream: Kind;
  uploads: Kind[];
  /** `GET /memory`, sent on a connection of its own at each sample. */
  memory: Uint8Array;
}

function kinds(port: number): Mix {
  const head = (line: string, extra = "") =>
    `${line} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${extra}\r\n`;
  const stream = new Uint8Array(STREAM_CHUNKS * STREAM_CHUNK_SIZE);
  for (let i = 0; i < STREAM_CHUNKS; i++) {
    stream.fill(97 + i, i * STREAM_CHUNK_SIZE, (i + 1) * STREAM_CHUNK_SIZE);
  }
  // Sizes that differ, so that a right answer cannot come from the wrong
  // upload or a truncated body.
  const uploads = [-4, -3, -2, -1, 0, 1, 2, 3, 4].map((step) => {
    const size = 16384 + step * 128;
    const body = crypto.getRandomValues(new Uint8Array(size));
    return {
      name: "upload" as const,
      request: concat([
        encoder.encode(head(
          "POST /upload",
          "Content-Type: application/octet-stream\r\n" +
            `Content-Length: ${size}\r\n`,
        )),
        body,
      ]),
      expected: encoder.encode(String(size)),
    };
  });
  return {
    small: {
      name: "small",
      request: encoder.encode(head("GET /small")),
      expected: encoder.encode("Hello, World!"),
    },
    stream: {
      name: "stream",
      request: encoder.encode(head("GET /stream")),
      expected: stream,
    },
    uploads,
    memory: encoder.encode(head("GET /memory")),
  };
}

/** Request `i` of the run: of every 10, 8 small, 1 stream, 1 upload. */
function kindOf(i: number, mix: Mix): Kind {
  const slot = i % 10;
  if (slot < 8) return mix.small;
  if (slot === 8) return mix.stream;
  return mix.uploads[Math.floor(i / 10) % mix.uploads.length];
}

// ---------------------------------------------------------------------------
// The client.

interface Reply {
  status: number;
  body: Uint8Array;
}

const CRLF_CRLF = encoder.encode("\r\n\r\n");
const latin1 = new TextDecoder("latin1");

/**
 * One keep-alive HTTP/1.1 connection: writes a request, reads its response
 * (the body by Content-Length or chunked), one at a time. It connects on
 * first use and again after {@linkcode Connection.close}. Anything it does
 * not expect (no length, a closed socket) throws, and the run counts a
 * failure.
 */
class Connection {
  #conn: Deno.TcpConn | undefined;
  #buf = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;

  constructor(readonly port: number) {}

  async exchange(request: Uint8Array): Promise<Reply> {
    this.#conn ??= await Deno.connect({
      hostname: "127.0.0.1",
      port: this.port,
    });
    for (let at = 0; at < request.length;) {
      at += await this.#conn.write(request.subarray(at));
    }
    const head = await this.#head();
    const status = Number(head.slice(9, 12));
    const headers = new Map<string, string>();
    for (const line of head.split("\r\n").slice(1)) {
      const colon = line.indexOf(":");
      headers.set(
        line.slice(0, colon).trim().toLowerCase(),
        line.slice(colon + 1).trim(),
      );
    }
    let body: Uint8Array;
    if (headers.get("transfer-encoding")?.toLowerCase() === "chunked") {
      body = await this.#chunked();
    } else if (headers.has("content-length")) {
      body = (await this.#take(Number(headers.get("content-length")))).slice();
    } else {
      throw new Error("response has neither Content-Length nor chunked body");
    }
    if (headers.get("connection")?.toLowerCase() === "close") this.close();
    return { status, body };
  }

  close(): void {
    try {
      this.#conn?.close();
    } catch {
      // Already closed.
    }
    this.#conn = undefined;
    this.#start = this.#end = 0;
  }

  /** The status line and headers, without the blank line that ends them. */
  async #head(): Promise<string> {
    while (true) {
      const unread = this.#buf.subarray(this.#start, this.#end);
      const at = indexOf(unread, CRLF_CRLF);
      if (at >= 0) {
        this.#start += at + CRLF_CRLF.length;
        return latin1.decode(unread.subarray(0, at));
      }
      await this.#fill();
    }
  }

  async #chunked(): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    while (true) {
      const size = parseInt(latin1.decode(await this.#line()), 16);
      if (Number.isNaN(size)) throw new Error("bad chunk size line");
      if (size === 0) {
        // No trailers are expected: the blank line ends the body.
        if ((await this.#line()).length !== 0) {
          throw new Error("unexpected trailer");
        }
        return concat(parts);
      }
      parts.push((await this.#take(size)).slice());
      if ((await this.#line()).length !== 0) {
        throw new Error("chunk longer than its size");
      }
    }
  }

  /** The next line, without its CRLF. */
  async #line(): Promise<Uint8Array> {
    while (true) {
      const at = this.#buf.subarray(this.#start, this.#end).indexOf(10);
      if (at >= 0) {
        const line = this.#buf.subarray(this.#start, this.#start + at - 1);
        this.#start += at + 1;
        return line;
      }
      await this.#fill();
    }
  }

  /** The next `n` bytes, a view into the buffer valid until the next read. */
  async #take(n: number): Promise<Uint8Array> {
    while (this.#end - this.#start < n) await this.#fill(n);
    const bytes = this.#buf.subarray(this.#start, this.#start + n);
    this.#start += n;
    return bytes;
  }

  /**
   * Reads more from the socket, first moving the unread bytes to the front
   * of the buffer, which grows when `need` bytes would not fit.
   */
  async #fill(need = 0): Promise<void> {
    const unread = this.#end - this.#start;
    if (Math.max(need, unread + 1) > this.#buf.length) {
      const bigger = new Uint8Array(Math.max(need, this.#buf.length * 2));
      bigger.set(this.#buf.subarray(this.#start, this.#end));
      this.#buf = bigger;
    } else {
      this.#buf.copyWithin(0, this.#start, this.#end);
    }
    this.#start = 0;
    this.#end = unread;
    const n = await this.#conn!.read(this.#buf.subarray(this.#end));
    if (n === null) throw new Error("the server closed the connection");
    this.#end += n;
  }
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  return Buffer.from(haystack.buffer, haystack.byteOffset, haystack.length)
    .indexOf(Buffer.from(needle.buffer, needle.byteOffset, needle.length));
}

// ---------------------------------------------------------------------------
// The server process.

interface Server {
  child: Deno.ChildProcess;
  port: number;
  /** What it writes on stdout and stderr (the last 16 KiB). */
  output: Output;
}

/**
 * Starts `server.ts` on a free port and reads the port it prints. The server
 * gets `--expose-gc` so that `GET /memory` can collect before it measures.
 */
async function startServer(v8Flags: string): Promise<Server> {
  const child = spawn(Deno.execPath(), [
    "run",
    "-A",
    `--v8-flags=${["--expose-gc", v8Flags].filter(Boolean).join(",")}`,
    `${ROOT}server.ts`,
    `${ROOT}bench/apps/soak.ts`,
    "--port",
    "0",
  ]);
  const output = new Output(child);
  try {
    const [, port] = await output.waitFor(
      /Listening on http:\/\/[^/]*:(\d+)\//,
      30_000,
    );
    output.text = "";
    return { child, port: Number(port), output };
  } catch (error) {
    await stop(child);
    throw new Error(
      `server.ts: ${(error as Error).message}; its output:\n${output.text}`,
    );
  }
}

// ---------------------------------------------------------------------------
// The run.

interface Sample {
  requests: number;
  seconds: number;
  rss: number;
  /** Deno.memoryUsage() in the server after a full collection, in MiB. */
  heapTotal: number;
  heapUsed: number;
  external: number;
}

/** The server's V8 heap after a full collection, from `GET /memory`. */
async function heap(
  probe: Connection,
  request: Uint8Array,
): Promise<Pick<Sample, "heapTotal" | "heapUsed" | "external">> {
  const { status, body } = await probe.exchange(request);
  if (status !== 200) throw new Error(`GET /memory answered ${status}`);
  const usage = JSON.parse(new TextDecoder().decode(body));
  const mib = (bytes: number) => bytes / 1024 / 1024;
  return {
    heapTotal: mib(usage.heapTotal),
    heapUsed: mib(usage.heapUsed),
    external: mib(usage.external),
  };
}

async function main(options: Options): Promise<number> {
  const server = await startServer(options.v8Flags);
  const pid = server.child.pid;
  const mix = kinds(server.port);
  const connections = Array.from(
    { length: options.connections },
    () => new Connection(server.port),
  );
  const probe = new Connection(server.port);
  const sent = { small: 0, stream: 0, upload: 0 };
  const failures: string[] = [];
  let failed = 0;
  const samples: Sample[] = [];
  let next = 0;
  let done = 0;
  let stopped = false;

  console.log(
    `soak: ${options.requests} requests (8 small : 1 stream : 1 upload) ` +
      `over ${options.connections} keep-alive connections to server.ts ` +
      `(pid ${pid}); time limit ${options.timeLimit} s`,
  );
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  // RSS first: the collection that GET /memory runs may return memory.
  const sample = async () => {
    const at = { requests: done, seconds: seconds(), rss: rssMiB(pid) };
    const s = { ...at, ...await heap(probe, mix.memory) };
    samples.push(s);
    const base = samples[0].rss;
    console.log(
      `${String(s.requests).padStart(9)} requests  ${
        s.seconds.toFixed(1).padStart(6)
      } s  RSS ${s.rss.toFixed(1)} MiB (${percent(s.rss / base - 1)})  ` +
        `heap ${s.heapTotal.toFixed(1)} MiB, live ${
          s.heapUsed.toFixed(1)
        } MiB  failures ${failed}`,
    );
  };
  const cpuBefore = { server: cpuSeconds(pid), client: cpuSeconds("self") };
  // The hard limit: stop where we are and report.
  const limit = setTimeout(() => {
    stopped = true;
    for (const connection of connections) connection.close();
  }, options.timeLimit * 1000);

  const worker = async (connection: Connection) => {
    while (!stopped && next < options.requests) {
      const i = next++;
      const kind = kindOf(i, mix);
      sent[kind.name]++;
      try {
        const { status, body } = await connection.exchange(kind.request);
        if (status !== 200 || !equal(body, kind.expected)) {
          failed++;
          const shown = body.length <= 64
            ? JSON.stringify(latin1.decode(body))
            : `${body.length} bytes`;
          failures.push(
            `request ${i} (${kind.name}): ${status} with ${shown}, expected ` +
              `200 with ${kind.expected.length} bytes`,
          );
        }
      } catch (error) {
        // Sockets closed by the time limit are not the server's failures.
        if (stopped) return;
        failed++;
        failures.push(
          `request ${i} (${kind.name}): ${(error as Error).message}`,
        );
        connection.close();
      }
      done++;
      if (
        done === WARMUP || done === options.requests ||
        (done > WARMUP && done % SAMPLE_EVERY === 0)
      ) await sample();
    }
  };
  await Promise.all(connections.map(worker));
  clearTimeout(limit);
  const elapsed = seconds();
  const cpu = {
    server: cpuSeconds(pid) - cpuBefore.server,
    client: cpuSeconds("self") - cpuBefore.client,
  };
  for (const connection of connections) connection.close();
  if (samples.at(-1)?.requests !== done) await sample();
  probe.close();

  const start = samples[0];
  const end = samples.at(-1)!;
  // RSS that climbs to a plateau is the runtime sizing its pools and heap;
  // a leak keeps climbing, which the second half of the run shows.
  const middle = samples.find((s) => s.requests >= end.requests / 2)!;
  const growth = end.rss / start.rss - 1;
  const complete = done === options.requests;
  const mib = (s: Sample) => `${s.rss.toFixed(1)} MiB`;
  const liveGrowth = end.heapUsed / start.heapUsed - 1;
  const met = (ok: boolean) => ok ? "met" : "**missed**";
  const lines = [
    "",
    "| requests done | elapsed | RSS | vs start | V8 heap | live heap | external |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...samples.map((s) =>
      `| ${s.requests}${s === start ? " (start, after warm-up)" : ""} | ` +
      `${s.seconds.toFixed(1)} s | ${mib(s)} | ${
        percent(s.rss / start.rss - 1)
      } | ${s.heapTotal.toFixed(1)} MiB | ${s.heapUsed.toFixed(1)} MiB | ` +
      `${s.external.toFixed(1)} MiB |`
    ),
    "",
    "| measure | result | target |",
    "| --- | --- | --- |",
    `| requests | ${done} of ${options.requests}` +
    (complete ? "" : " (**stopped at the time limit**)") +
    `: sent ${sent.small} small, ${sent.stream} streamed, ` +
    `${sent.upload} uploads | ${options.requests} |`,
    `| failures | ${failed} | 0: ${met(failed === 0)} |`,
    `| RSS growth, start to end | ${percent(growth)} (${mib(start)} to ` +
    `${mib(end)}) | < ${GROWTH_TARGET * 100}%: ${
      met(growth < GROWTH_TARGET)
    } |`,
    `| RSS growth, second half (from ${middle.requests} requests) | ` +
    `${percent(end.rss / middle.rss - 1)} (${mib(middle)} to ${mib(end)}) ` +
    "| - |",
    `| live heap after a full GC, start to end | ${percent(liveGrowth)} ` +
    `(${start.heapUsed.toFixed(1)} MiB to ${end.heapUsed.toFixed(1)} MiB) | ` +
    `< ${GROWTH_TARGET * 100}%: ${met(liveGrowth < GROWTH_TARGET)} |`,
    `| total time | ${elapsed.toFixed(1)} s (${
      (done / elapsed).toFixed(0)
    } req/s) | < ${options.timeLimit} s |`,
    `| CPU, server and load generator | ${cpu.server.toFixed(1)} s and ` +
    `${cpu.client.toFixed(1)} s (generator/server ` +
    `${(cpu.client / cpu.server).toFixed(2)}) | - |`,
    "",
    "V8 heap is what V8 has committed, its young generation included; " +
    "live heap is what is still reachable after the full collection that " +
    "GET /memory runs, and external the ArrayBuffer memory V8 counts then " +
    "(the 15 other connections keep going meanwhile, so this includes the " +
    "bodies in flight).",
    `The load generator runs on the same ${navigator.hardwareConcurrency} ` +
    "cores as the server: the req/s above is of the pair, not of the " +
    "server alone.",
  ];
  console.log(lines.join("\n"));
  for (const failure of failures.slice(0, 10)) {
    console.log(`failed: ${failure}`);
  }
  if (failures.length > 10) console.log(`... and ${failures.length - 10} more`);
  await stop(server.child);
  const output = server.output.text.trim();
  if (output !== "") console.log(`server.ts wrote:\n${output}`);
  return failed === 0 && complete ? 0 : 1;
}

function percent(fraction: number): string {
  return `${fraction >= 0 ? "+" : ""}${(fraction * 100).toFixed(1)}%`;
}

if (import.meta.main) {
  await runBench(() => main(parseOptions(Deno.args)));
}
