/**
 * The seed deployment, for real: Debian's nginx in front of two `server.ts`
 * processes serving examples/nginx/app.ts, configured from
 * examples/nginx/nginx.conf with its placeholders filled in. nginx serves a
 * static folder itself and balances the rest over both instances.
 *
 * Every process runs from a temporary directory on 127.0.0.1 ports picked
 * for the test, and everything is stopped and removed at the end.
 */
import assert from "node:assert/strict";
import { freePort, Spawned } from "./_helpers.ts";

const SERVER = new URL("../server.ts", import.meta.url).pathname;
const APP = new URL("../examples/nginx/app.ts", import.meta.url).pathname;
const TEMPLATE = new URL("../examples/nginx/nginx.conf", import.meta.url);
/** Debian's nginx, which lives outside a normal user's PATH. */
const NGINX = (() => {
  try {
    Deno.statSync("/usr/sbin/nginx");
    return "/usr/sbin/nginx";
  } catch {
    return "nginx";
  }
})();

/** How long a process may take to start or to stop. */
const START_MS = 15_000;
/** The longest any one test may run before its requests are aborted. */
const TEST_MS = 25_000;

const KIB = 1024;
const MIB = 1024 * KIB;

/** Resolves with `promise`'s value, or fails after `ms` saying `what`. */
async function within<T>(
  promise: Promise<T>,
  ms: number,
  what: () => string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(what())), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** An instance of server.ts serving the example app. */
interface Instance extends Spawned {
  name: string;
  port: number;
}

/** Starts `server.ts examples/nginx/app.ts --port 0` as instance `name`. */
async function startInstance(name: string): Promise<Instance> {
  const process = new Spawned(
    Deno.execPath(),
    ["run", "-A", SERVER, APP, "--port", "0"],
    { INSTANCE: name, PORT: "", SCRIPT_NAME: "" },
  );
  try {
    const listening = await process.waitFor(
      /Listening on http:\/\/127\.0\.0\.1:(\d+)\/\n/,
      "stdout",
      START_MS,
    );
    const port = Number(listening[1]);
    return Object.assign(process, { name, port });
  } catch (error) {
    await process.stop("SIGTERM", START_MS);
    throw error;
  }
}

/** nginx and the two instances behind it. */
interface Deployment {
  /** nginx's base URL. */
  url: string;
  port: number;
  instances: [Instance, Instance];
  nginx: Spawned;
  /** The temp dir: nginx's prefix, with the static folder in `static/`. */
  dir: string;
  /** nginx's error log so far. */
  errorLog(): string;
}

/**
 * Fills in the template. On top of the placeholders, nginx connects to the
 * instances from 127.0.0.2 (`proxy_bind`), so that the address the server
 * sees (nginx's) differs from the client's (127.0.0.1): only `proxyFix` can
 * make REMOTE_ADDR the client's.
 */
function fillTemplate(values: Record<string, string>): string {
  let conf = Deno.readTextFileSync(TEMPLATE);
  for (const [name, value] of Object.entries(values)) {
    conf = conf.replaceAll(`@${name}@`, value);
  }
  assert.doesNotMatch(conf, /@[A-Z0-9_]+@/, "a placeholder is left");
  const marker = "proxy_pass http://wsgi_app;";
  assert.ok(conf.includes(marker), `the template has no "${marker}"`);
  return conf.replace(marker, `${marker}\n            proxy_bind 127.0.0.2;`);
}

/** Starts two instances and nginx in front; runs `fn`; stops everything. */
async function withDeployment(
  fn: (deployment: Deployment) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "wsgi_nginx_" });
  // nginx started by root runs its workers as nobody, who must reach the
  // static files and the temp folders.
  await Deno.chmod(dir, 0o755);
  const started: Spawned[] = [];
  try {
    await Deno.mkdir(`${dir}/static`, { mode: 0o755 });
    await Deno.mkdir(`${dir}/tmp`, { mode: 0o755 });
    const results = await Promise.allSettled([
      startInstance("a"),
      startInstance("b"),
    ]);
    for (const result of results) {
      if (result.status === "fulfilled") started.push(result.value);
    }
    for (const result of results) {
      if (result.status === "rejected") throw result.reason;
    }
    const instances = [...started] as [Instance, Instance];
    const port = freePort();
    const conf = fillTemplate({
      PREFIX: dir,
      LISTEN: `127.0.0.1:${port}`,
      APP_1: `127.0.0.1:${instances[0].port}`,
      APP_2: `127.0.0.1:${instances[1].port}`,
      STATIC_DIR: `${dir}/static`,
    });
    await Deno.writeTextFile(`${dir}/nginx.conf`, conf);
    const nginx = new Spawned(NGINX, [
      "-p",
      dir,
      "-c",
      `${dir}/nginx.conf`,
      "-g",
      "daemon off;",
    ]);
    started.push(nginx);
    const errorLog = () => {
      try {
        return Deno.readTextFileSync(`${dir}/error.log`);
      } catch {
        return "";
      }
    };
    await within(
      waitForPort(port, nginx),
      START_MS,
      () => `nginx did not listen:\n${nginx.output()}\n${errorLog()}`,
    );
    await fn({
      url: `http://127.0.0.1:${port}/`,
      port,
      instances,
      nginx,
      dir,
      errorLog,
    });
  } finally {
    // nginx first, so that it holds no connection to the instances.
    for (const process of started.reverse()) {
      await process.stop("SIGTERM", START_MS);
    }
    await Deno.remove(dir, { recursive: true });
  }
}

/** Resolves once something accepts connections on `port`. */
async function waitForPort(port: number, process: Spawned): Promise<void> {
  let exited = false;
  process.done.then(() => exited = true);
  while (true) {
    if (exited) throw new Error(`nginx exited:\n${process.output()}`);
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/**
 * An abort signal for every request of a test, fired after `TEST_MS`, so
 * that a stuck request fails the test instead of hanging it.
 */
async function bounded(
  fn: (signal: AbortSignal) => Promise<void>,
): Promise<void> {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new Error(`test still running after ${TEST_MS} ms`)),
    TEST_MS,
  );
  try {
    await fn(controller.signal);
  } finally {
    clearTimeout(timer);
  }
}

/** Fetches JSON, asserting a 200. */
async function getJson<T>(
  url: string | URL,
  init: RequestInit = {},
): Promise<{ body: T; response: Response }> {
  const response = await fetch(url, init);
  const text = await response.text();
  assert.equal(response.status, 200, `${url}: ${text}`);
  return { body: JSON.parse(text), response };
}

/** Random bytes; getRandomValues fills at most 64 KiB at a time. */
function randomBytes(length: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += 65536) {
    crypto.getRandomValues(bytes.subarray(offset, offset + 65536));
  }
  return bytes;
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Reads a `/stream` body to its end, checking that byte `i` is `i % 251`.
 * Returns its length and when its first bytes arrived (performance.now()).
 */
async function readPattern(
  response: Response,
): Promise<{ length: number; firstAt: number }> {
  let length = 0;
  let firstAt = NaN;
  let bad = -1;
  for await (const chunk of response.body!) {
    if (length === 0) firstAt = performance.now();
    if (bad < 0) {
      for (let i = 0; i < chunk.length; i++) {
        if (chunk[i] !== (length + i) % 251) {
          bad = length + i;
          break;
        }
      }
    }
    length += chunk.length;
  }
  assert.equal(bad, -1, `the body is wrong from byte ${bad} on`);
  return { length, firstAt };
}

Deno.test("nginx: balances over both instances and hands proxyFix the client's address, scheme and host", async (t) => {
  await withDeployment(async ({ url, port, instances }) => {
    await t.step("requests reach both instances", async () => {
      const seen = new Map<string, number>();
      for (let i = 0; i < 50; i++) {
        const { body, response } = await getJson<{ instance: string }>(url);
        assert.equal(response.headers.get("x-instance"), body.instance);
        seen.set(body.instance, (seen.get(body.instance) ?? 0) + 1);
      }
      assert.deepEqual([...seen.keys()].sort(), ["a", "b"]);
      for (const [name, count] of seen) {
        assert.ok(count >= 10, `instance ${name} got ${count} of 50`);
      }
    });

    await t.step(
      "proxyFix trusts nginx's hop, not what the client sent",
      async () => {
        const { body } = await getJson<Record<string, unknown>>(url, {
          headers: {
            // All three are the client's own inventions: nginx appends the
            // real address to the first and replaces the other two.
            "X-Forwarded-For": "6.6.6.6",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "evil.example",
          },
        });
        const instance = instances.find((i) => i.name === body.instance)!;
        assert.deepEqual(body, {
          instance: instance.name,
          remoteAddr: "127.0.0.1",
          scheme: "http",
          host: `127.0.0.1:${port}`,
          serverPort: String(port),
          // $proxy_add_x_forwarded_for: what the client sent, then the
          // address nginx saw. proxyFix({ xFor: 1 }) takes the last one.
          forwardedFor: "6.6.6.6, 127.0.0.1",
          // What the server saw itself: nginx (bound to 127.0.0.2 here)
          // connecting to the instance's own port.
          direct: {
            remoteAddr: "127.0.0.2",
            serverPort: String(instance.port),
          },
        });

        const plain = await getJson<Record<string, unknown>>(url);
        assert.equal(plain.body.forwardedFor, "127.0.0.1");
        assert.equal(plain.body.remoteAddr, "127.0.0.1");
      },
    );
  });
});

Deno.test("nginx: serves /static/ itself; uploads and a streamed response pass through intact", async (t) => {
  await withDeployment(async ({ url, dir, instances }) => {
    await bounded(async (signal) => {
      await t.step("static files come from nginx, never the app", async () => {
        const text = "Served by nginx from disk.\n";
        const binary = randomBytes(300 * KIB);
        await Deno.writeTextFile(`${dir}/static/hello.txt`, text);
        await Deno.writeFile(`${dir}/static/data.bin`, binary);

        const hello = await fetch(new URL("static/hello.txt", url), { signal });
        assert.equal(hello.status, 200);
        assert.equal(await hello.text(), text);
        assert.match(hello.headers.get("content-type")!, /^text\/plain/);
        assert.match(hello.headers.get("server")!, /^nginx/);
        assert.equal(hello.headers.get("x-instance"), null);

        const data = await fetch(new URL("static/data.bin", url), { signal });
        assert.equal(data.status, 200);
        assert.deepEqual(new Uint8Array(await data.arrayBuffer()), binary);
        assert.equal(data.headers.get("x-instance"), null);

        const missing = await fetch(new URL("static/missing.txt", url), {
          signal,
        });
        assert.equal(missing.status, 404);
        assert.match(await missing.text(), /nginx/);
        assert.equal(missing.headers.get("x-instance"), null);

        // Asked directly, neither instance ever saw a /static/ request.
        for (const instance of instances) {
          const { body } = await getJson<{ staticRequests: number }>(
            `http://127.0.0.1:${instance.port}/stats`,
            { signal },
          );
          assert.equal(body.staticRequests, 0, `instance ${instance.name}`);
        }
      });

      await t.step(
        "uploads arrive whole, with a Content-Length or chunked",
        async () => {
          for (
            const [size, chunked] of [
              [1 * MIB, false],
              [5 * MIB, false],
              [1 * MIB, true],
              [5 * MIB, true],
            ] as const
          ) {
            const bytes = randomBytes(size);
            let body: BodyInit = bytes;
            if (chunked) {
              // A stream of unknown length goes out chunked.
              let offset = 0;
              body = new ReadableStream<Uint8Array>({
                pull(controller) {
                  if (offset >= size) return controller.close();
                  controller.enqueue(bytes.slice(offset, offset + 100_000));
                  offset += 100_000;
                },
              });
            }
            const { body: digest } = await getJson<Record<string, unknown>>(
              new URL("upload", url),
              { method: "POST", body, signal },
            );
            const what = `${size} bytes, ${
              chunked ? "chunked" : "with length"
            }`;
            assert.equal(digest.bytes, size, what);
            assert.equal(digest.sha256, await sha256(bytes), what);
            // nginx buffers the whole upload first (proxy_request_buffering),
            // so even a chunked one reaches the app with its length.
            assert.equal(digest.contentLength, String(size), what);
          }
        },
      );

      await t.step(
        "a long response streams through, every byte in place",
        async () => {
          const size = 8 * MIB + 12345;
          const response = await fetch(
            new URL(`stream?size=${size}&chunk=${64 * KIB}`, url),
            { signal },
          );
          assert.equal(response.status, 200);
          assert.equal(response.headers.get("content-length"), String(size));
          const { length } = await readPattern(response);
          assert.equal(length, size);
        },
      );

      await t.step(
        "a slow stream reaches the client as it is produced",
        async () => {
          // Four chunks 400 ms apart: the first must arrive long before the
          // last is made, or nginx held the response back.
          const started = performance.now();
          const response = await fetch(
            new URL(`stream?size=${4 * 1000}&chunk=1000&delay=400`, url),
            { signal },
          );
          assert.equal(response.status, 200);
          const { length, firstAt } = await readPattern(response);
          const endedAt = performance.now();
          assert.equal(length, 4000);
          assert.ok(endedAt - started >= 1100, "the stream ended too early");
          assert.ok(
            endedAt - firstAt >= 700,
            `the first bytes came ${endedAt - firstAt} ms before the end`,
          );
        },
      );
    });
  });
});

/** One request of the load, as the graceful shutdown test sends them. */
type Kind = "whoami" | "stream" | "slow";

const LOAD_PATHS: Record<Kind, { path: string; size?: number }> = {
  whoami: { path: "" },
  // 512 KiB as fast as it goes.
  stream: { path: `stream?size=${512 * KIB}`, size: 512 * KIB },
  // 16 chunks 60 ms apart: about a second on the wire.
  slow: {
    path: `stream?size=${16 * 16 * KIB}&chunk=${16 * KIB}&delay=60`,
    size: 16 * 16 * KIB,
  },
};

/**
 * Eight loops of keep-alive requests through nginx; about a second in, one
 * instance gets SIGTERM while it is sending slow streams. It must finish
 * them and exit 0, nginx must send everything else to the other instance
 * (retrying on it what failed to reach the first), and every response must
 * be a 200 with its whole body.
 *
 * The load is GETs only. A request nginx sends on a kept-alive connection
 * just as the instance closes it (idle connections close at SIGTERM) fails
 * with a reset; nginx retries a GET on the other instance, but never a POST
 * it had already sent (see `proxy_next_upstream` in nginx.conf), so a POST
 * can get a 502 at that moment however graceful the instance is.
 */
Deno.test("nginx: SIGTERM to one instance under load fails no request", async () => {
  await withDeployment(async ({ url, instances, errorLog }) => {
    await bounded(async (signal) => {
      const [victim, survivor] = instances;
      const LOAD_MS = 3000;
      let victimExitedAt = Infinity;
      // The load runs for LOAD_MS, and at least 500 ms past the victim's
      // exit, so that the survivor is seen taking everything.
      const deadline = performance.now() + LOAD_MS;
      const running = () => {
        const now = performance.now();
        return now < deadline || now < victimExitedAt + 500;
      };
      const failures: string[] = [];
      const served = new Map<string, number>();
      /** Slow streams whose headers came from each instance, not yet read. */
      const slowInFlight = new Map<string, number>([["a", 0], ["b", 0]]);
      /** Requests started after the victim exited, by who answered. */
      const afterExit = new Map<string, number>();
      /** Slow streams the victim had begun at SIGTERM and then finished. */
      let victimFinished = 0;
      let sigtermAt = Infinity;

      const one = async (kind: Kind) => {
        const startedAt = performance.now();
        const { path, size } = LOAD_PATHS[kind];
        const response = await fetch(new URL(path, url), { signal });
        const instance = response.headers.get("x-instance") ?? "?";
        if (kind === "slow") {
          slowInFlight.set(instance, (slowInFlight.get(instance) ?? 0) + 1);
        }
        try {
          if (response.status !== 200) {
            throw new Error(`${response.status}: ${await response.text()}`);
          }
          if (kind === "whoami") {
            const body = await response.json();
            assert.equal(body.instance, instance);
          } else {
            const { length } = await readPattern(response);
            assert.equal(length, size);
          }
        } finally {
          if (kind === "slow") {
            slowInFlight.set(instance, slowInFlight.get(instance)! - 1);
          }
          if (!response.bodyUsed) await response.body?.cancel();
        }
        served.set(instance, (served.get(instance) ?? 0) + 1);
        if (
          kind === "slow" && instance === victim.name &&
          startedAt < sigtermAt && performance.now() > sigtermAt
        ) {
          victimFinished += 1;
        }
        if (startedAt > victimExitedAt) {
          afterExit.set(instance, (afterExit.get(instance) ?? 0) + 1);
        }
      };

      const loop = async (id: number) => {
        for (let n = 0; running(); n++) {
          // Three loops keep slow streams going; five send quick answers
          // and fast streams as quickly as they come back.
          const kind: Kind = id < 3
            ? "slow"
            : n % 2 === 0
            ? "whoami"
            : "stream";
          try {
            await one(kind);
          } catch (error) {
            failures.push(`${kind}: ${(error as Error).message}`);
          }
        }
      };

      const killer = async (): Promise<
        { inFlight: number; status: Deno.CommandStatus } | Error
      > => {
        // Let the load settle, then strike while the victim is streaming.
        await new Promise((resolve) => setTimeout(resolve, 800));
        const until = performance.now() + 1500;
        while (
          slowInFlight.get(victim.name)! === 0 && performance.now() < until
        ) {
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        const inFlight = slowInFlight.get(victim.name)!;
        sigtermAt = performance.now();
        victim.child.kill("SIGTERM");
        try {
          const status = await within(
            victim.child.status,
            START_MS,
            () => `instance ${victim.name} still runs after SIGTERM`,
          );
          victimExitedAt = performance.now();
          return { inFlight, status };
        } catch (error) {
          // Returned, not thrown, so that the loops stop at the deadline.
          victimExitedAt = -Infinity;
          return error as Error;
        }
      };

      const [killed] = await Promise.all([
        killer(),
        ...Array.from({ length: 8 }, (_, id) => loop(id)),
      ]);
      if (killed instanceof Error) throw killed;
      const { inFlight, status } = killed;

      const summary = () =>
        `served ${JSON.stringify([...served])}, after exit ${
          JSON.stringify([...afterExit])
        }\ninstance ${victim.name}:\n${victim.output()}\nnginx:\n${errorLog()}`;
      assert.deepEqual(failures, [], summary());
      assert.equal(status.code, 0, `exit status ${JSON.stringify(status)}`);
      assert.ok(inFlight > 0, "no slow stream was in flight at SIGTERM");
      assert.ok(
        victimFinished > 0,
        `the victim finished none of its streams; ${summary()}`,
      );
      // Once the victim was gone, the survivor answered everything.
      assert.deepEqual([...afterExit.keys()], [survivor.name], summary());
      const total = [...served.values()].reduce((a, b) => a + b, 0);
      assert.ok(total >= 100, `only ${total} requests in ${LOAD_MS} ms`);
    });
  });
});
