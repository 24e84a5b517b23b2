/**
 * server.ts as it runs in production: signals and draining, --workers over
 * several isolates, the request time limit, and the access log. Each test
 * runs the CLI as a real process and talks to it over real sockets.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Spawned } from "./_helpers.ts";

const SERVER = new URL("../server.ts", import.meta.url).pathname;
const APP = new URL("./fixtures/cli/production.ts", import.meta.url).pathname;

/** A CLI process serving APP, with everything it prints. */
class Served extends Spawned {
  constructor(args: string[], deno: string[] = []) {
    super(
      Deno.execPath(),
      ["run", "-A", ...deno, SERVER, APP, "--port", "0", ...args],
      { PORT: "", SCRIPT_NAME: "" },
    );
  }

  /** Resolves with the base URL once it listens. */
  async url(): Promise<string> {
    return (await this.waitFor(/Listening on (\S+)/, "stdout"))[1];
  }

  /** Waits until it exited and both outputs are read; its exit code. */
  async exit(): Promise<number> {
    return (await this.stop(undefined, 30_000)).code;
  }

  /** Resolves once stderr matches `pattern`. */
  async saw(pattern: RegExp): Promise<void> {
    await this.waitFor(pattern, "stderr", 10_000);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("server.ts: on SIGTERM under load, every request that started completes in full, then it exits 0", async () => {
  const served = new Served([]);
  const url = await served.url();
  let stopping = false;
  let started = 0;
  let completed = 0;
  let refused = 0;
  const failures: string[] = [];
  // 8 clients, each looping over 0.5 s streamed responses: 10 chunks of
  // 1000 bytes, 50 ms apart; some are always mid-body.
  const client = async () => {
    while (!stopping || started === 0) {
      let response: Response;
      try {
        response = await fetch(`${url}stream?n=10&ms=50&size=1000`);
      } catch {
        // Refused or reset before any response: a request the server never
        // took, which the drain does not promise to serve.
        refused++;
        if (stopping) return;
        continue;
      }
      started++;
      try {
        const body = await response.text();
        if (response.status !== 200 || body.length !== 10_000) {
          failures.push(`${response.status}, ${body.length} bytes`);
        } else completed++;
      } catch (error) {
        failures.push(`cut mid-body: ${error}`);
      }
    }
  };
  const clients = Array.from({ length: 8 }, client);
  await delay(1200);
  served.child.kill("SIGTERM");
  stopping = true;
  await Promise.all(clients);
  assert.equal(await served.exit(), 0);
  assert.deepEqual(failures, []);
  assert.equal(completed, started);
  assert.ok(completed >= 16, `only ${completed} requests completed`);
  assert.match(served.stderr, /SIGTERM: not accepting connections/);
  assert.match(served.stderr, /every request finished; exiting/);
  // New connections after the signal are refused, not served.
  await assert.rejects(fetch(`${url}id`));
});

Deno.test("server.ts: a second signal exits at once; the drain time limit ends a drain that is too long", async (t) => {
  await t.step("second signal", async () => {
    const served = new Served([]);
    const url = await served.url();
    const forever = await fetch(`${url}stream?n=-1&ms=20`);
    const reader = forever.body!.getReader();
    await reader.read();
    served.child.kill("SIGINT");
    await served.saw(/SIGINT: not accepting connections/);
    served.child.kill("SIGINT");
    assert.equal(await served.exit(), 1);
    assert.match(served.stderr, /SIGINT again: exiting now/);
    await assert.rejects(async () => {
      while (!(await reader.read()).done);
    });
  });
  await t.step("--graceful-timeout", async () => {
    const served = new Served(["--graceful-timeout", "0.5"]);
    const url = await served.url();
    const forever = await fetch(`${url}stream?n=-1&ms=20`);
    const reader = forever.body!.getReader();
    await reader.read();
    const signalled = performance.now();
    served.child.kill("SIGTERM");
    assert.equal(await served.exit(), 1);
    const took = performance.now() - signalled;
    assert.ok(took >= 450 && took < 10_000, `exited after ${took} ms`);
    assert.match(
      served.stderr,
      /still in flight after 0\.5 s \(--graceful-timeout\); exiting/,
    );
    await assert.rejects(async () => {
      while (!(await reader.read()).done);
    });
  });
});

Deno.test("server.ts --workers 2 serves from two isolates on one port, and drains both", async () => {
  const served = new Served(["--workers", "2"], ["--unstable-net"]);
  const url = await served.url();
  assert.match(served.stdout, /with 2 workers/);
  const seen = new Set<string>();
  // The kernel spreads new connections over the two listeners.
  // A client of its own for each request, so each is a new connection.
  for (let i = 0; i < 64 && seen.size < 2; i++) {
    const client = Deno.createHttpClient({});
    try {
      seen.add(await (await fetch(`${url}id`, { client })).text());
    } finally {
      client.close();
    }
  }
  assert.equal(seen.size, 2);
  const streaming = await fetch(`${url}stream?n=10&ms=50`);
  served.child.kill("SIGTERM");
  assert.equal((await streaming.text()).length, 1000);
  assert.equal(await served.exit(), 0);
});

Deno.test("server.ts --workers without --unstable-net exits with Deno's message naming the flag", async () => {
  const served = new Served(["--workers", "2"]);
  assert.notEqual(await served.exit(), 0);
  assert.match(served.stderr, /--unstable-net/);
});

Deno.test("server.ts --request-timeout answers 503 to an app that has not started in time, and leaves a started stream alone", async () => {
  const served = new Served(["--request-timeout", "0.3"]);
  const url = await served.url();
  const started = performance.now();
  const late = await fetch(`${url}sleep?ms=2000`);
  assert.equal(late.status, 503);
  assert.match(await late.text(), /time limit/);
  assert.ok(performance.now() - started < 1900);
  // Headers at once, body over 1 s: a started response may take its time.
  const slow = await fetch(`${url}stream?n=10&ms=100`);
  assert.equal(slow.status, 200);
  assert.equal((await slow.text()).length, 1000);
  served.child.kill("SIGTERM");
  assert.equal(await served.exit(), 0);
  assert.match(
    served.stderr,
    /GET \/sleep: the app did not start its response within 0\.3 s \(the server's request time limit\); answered 503/,
  );
});

Deno.test("server.ts --access-logfile writes gunicorn's format to a file or to stdout", async (t) => {
  await t.step("to a file, the default format", async () => {
    const dir = await Deno.makeTempDir();
    const file = join(dir, "access.log");
    try {
      const served = new Served(["--access-logfile", file]);
      const url = await served.url();
      await (await fetch(`${url}id?x=1`, {
        headers: { "user-agent": "probe/1", referer: "http://r.example/" },
      })).text();
      served.child.kill("SIGTERM");
      assert.equal(await served.exit(), 0);
      assert.match(
        await Deno.readTextFile(file),
        /^127\.0\.0\.1 - - \[\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET \/id\?x=1 HTTP\/1\.1" 200 36 "http:\/\/r\.example\/" "probe\/1"\n$/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
  await t.step("to stdout, a custom format with durations", async () => {
    const served = new Served([
      "--access-logfile",
      "-",
      "--access-logformat",
      "%(m)s %(U)s %(s)s %(B)s %(D)sus %({x-req}i)s",
    ]);
    const url = await served.url();
    await (await fetch(`${url}upload`, {
      method: "POST",
      body: "12345",
      headers: { "x-req": "abc" },
    })).text();
    served.child.kill("SIGTERM");
    assert.equal(await served.exit(), 0);
    assert.match(served.stdout, /^POST \/upload 200 1 \d+us abc$/m);
  });
  await t.step("a bad format is a usage error naming the atom", async () => {
    const served = new Served([
      "--access-logfile",
      "-",
      "--access-logformat",
      "%(nope)s",
    ]);
    assert.equal(await served.exit(), 2);
    assert.match(served.stderr, /unknown atom %\(nope\)s/);
  });
});
