/**
 * `server.ts app.py` in production, as a real process with Debian's
 * interpreter: the drain on SIGTERM (to the server alone, and to its whole
 * process group as systemd and a terminal's Ctrl-C send it) that lets the
 * request in progress finish and leaves no Python process behind; a worker
 * that dies under load from wrk; and --max-body, --request-timeout and the
 * access log, which apply to a Python app as to a TypeScript one.
 */
import assert from "node:assert/strict";
import {
  alive,
  childPids,
  copyFixture,
  inTempDir,
  listening,
  serveCli,
  SERVER,
  TIMEOUT_MS,
} from "./_cli.ts";
import { rawRequest, Spawned } from "../_helpers.ts";
import { PYTHON } from "../reference/_reference.ts";

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `check` holds, polling; fails with `what` past `ms`. */
async function until(
  check: () => boolean,
  what: string,
  ms = 10_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting: ${what}`);
    await delay(20);
  }
}

/** Runs `fn` with the plain fixture app copied into a new folder as app.py. */
async function withApp(fn: (dir: string) => Promise<void>): Promise<void> {
  await inTempDir(async (dir) => {
    await copyFixture("plain_app.py", dir, "app.py");
    await fn(dir);
  });
}

/**
 * Once `child` listens with its two workers, starts a request that takes
 * 1 s and gives it 300 ms to reach one: the workers' pids and the answer
 * to come.
 */
async function slowRequest(
  child: Spawned,
): Promise<{ pids: number[]; slow: Promise<(number | string)[]> }> {
  const url = await listening(child);
  const pids = childPids(child.child.pid);
  assert.equal(pids.length, 2);
  const slow = fetch(new URL("/sleep?1", url)).then(async (
    response,
  ) => [response.status, await response.text()]);
  await delay(300);
  return { pids, slow };
}

Deno.test("server.ts app.py on SIGTERM finishes the request in progress, then its Python processes exit", async () => {
  await withApp(async (dir) => {
    const child = serveCli(dir, "app.py", ["--workers", "2"]);
    const { pids, slow } = await slowRequest(child);
    child.child.kill("SIGTERM");
    assert.deepEqual(await slow, [200, "slept\n"]);
    assert.equal((await child.stop(undefined, TIMEOUT_MS)).code, 0);
    for (const pid of pids) assert.equal(alive(pid), false, `${pid} is left`);
    assert.match(child.stderr, /every request finished; exiting/);
    assert.doesNotMatch(child.stderr, /502|Bad Gateway/);
  });
});

Deno.test("server.ts app.py drains on a SIGTERM or SIGINT sent to its whole process group, as systemd and Ctrl-C send it", async (t) => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    await t.step(signal, async () => {
      await withApp(async (dir) => {
        // setsid: a process group of its own, that the test can signal whole.
        const child = new Spawned(
          "setsid",
          [
            Deno.execPath(),
            "run",
            "-A",
            SERVER,
            "app.py",
            "--python",
            PYTHON,
            "--port",
            "0",
            "--workers",
            "2",
          ],
          { PORT: "", SCRIPT_NAME: "", PYTHONDONTWRITEBYTECODE: "1" },
          dir,
        );
        const { pids, slow } = await slowRequest(child);
        Deno.kill(-child.child.pid, signal);
        assert.deepEqual(await slow, [200, "slept\n"]);
        assert.equal((await child.stop(undefined, TIMEOUT_MS)).code, 0);
        for (const pid of pids) assert.equal(alive(pid), false);
        assert.doesNotMatch(child.stderr, /502|Bad Gateway|KeyboardInterrupt/);
        // No worker was started in place of one the signal reached.
        assert.equal(
          child.stdout.match(/plain_app imported/g)?.length,
          2,
          child.stdout,
        );
      });
    });
  }
});

Deno.test("server.ts app.py replaces a worker that dies, answers its request 502 naming why, and serves the rest under wrk", async () => {
  await withApp(async (dir) => {
    const child = serveCli(dir, "app.py", ["--workers", "2"]);
    try {
      const url = await listening(child);
      const before = childPids(child.child.pid);
      const wrk = new Spawned("wrk", [
        "-t1",
        "-c4",
        "-d3s",
        new URL("/hello", url).href,
      ]);
      await delay(300);
      for (let i = 0; i < 3; i++) {
        const crashed = await fetch(new URL("/exit", url));
        assert.equal(crashed.status, 502);
        assert.equal(
          await crashed.text(),
          "Bad Gateway: the Python worker exited with code 3 during the request\n",
        );
        await delay(300);
      }
      const { code } = await wrk.stop(undefined, TIMEOUT_MS);
      assert.equal(code, 0, wrk.output());
      const requests = Number(wrk.stdout.match(/(\d+) requests in/)?.[1]);
      assert.ok(requests > 100, wrk.stdout);
      assert.doesNotMatch(wrk.stdout, /Non-2xx|Socket errors/, wrk.stdout);
      await until(
        () => childPids(child.child.pid).length === 2,
        "two Python workers again",
      );
      const after = childPids(child.child.pid);
      assert.notDeepEqual(after, before);
      for (const pid of before) {
        if (!after.includes(pid)) assert.equal(alive(pid), false);
      }
      assert.equal(
        child.stderr.match(
          /pythonApp: the Python worker exited with code 3 during the request \(GET \/exit\); answered 502 Bad Gateway/g,
        )?.length,
        3,
      );
    } finally {
      await child.stop("SIGTERM", TIMEOUT_MS);
    }
  });
});

Deno.test("server.ts app.py --max-body answers 413 past the limit, declared or chunked, and lets the limit through", async () => {
  await withApp(async (dir) => {
    const child = serveCli(dir, "app.py", ["--max-body", "1k"]);
    try {
      const url = await listening(child);
      const port = Number(new URL(url).port);
      const within = await fetch(new URL("/echo", url), {
        method: "POST",
        body: "x".repeat(1024),
      });
      assert.equal(within.status, 200);
      assert.equal((await within.text()).length, 1024);
      const declared = await fetch(new URL("/echo", url), {
        method: "POST",
        body: "x".repeat(1025),
      });
      assert.equal(declared.status, 413);
      await declared.body?.cancel();
      // Chunked: no length to refuse up front; Python's read() fails.
      const chunk = "y".repeat(600);
      const { text } = await rawRequest(
        port,
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" +
          "Transfer-Encoding: chunked\r\n\r\n" +
          `258\r\n${chunk}\r\n258\r\n${chunk}\r\n0\r\n\r\n`,
        TIMEOUT_MS,
      );
      assert.match(text, /^HTTP\/1\.1 413 /);
      assert.equal(
        await (await fetch(new URL("/hello", url))).text(),
        "Hello, World!\n",
      );
    } finally {
      await child.stop("SIGTERM", TIMEOUT_MS);
    }
  });
});

Deno.test("server.ts app.py --request-timeout answers 503 to a Python app that has not started in time", async () => {
  await withApp(async (dir) => {
    const child = serveCli(dir, "app.py", [
      "--workers",
      "2",
      "--request-timeout",
      "0.3",
    ]);
    try {
      const url = await listening(child);
      const started = performance.now();
      const late = await fetch(new URL("/sleep?2", url));
      assert.equal(late.status, 503);
      assert.match(await late.text(), /time limit/);
      assert.ok(performance.now() - started < 1900);
      // The other worker serves meanwhile; the late answer is dropped.
      assert.equal(
        await (await fetch(new URL("/hello", url))).text(),
        "Hello, World!\n",
      );
      await delay(2000);
      const bodies = await Promise.all(
        [1, 2].map(async () =>
          await (await fetch(new URL("/sleep?0.1", url))).text()
        ),
      );
      assert.deepEqual(bodies, ["slept\n", "slept\n"]);
    } finally {
      await child.stop("SIGTERM", TIMEOUT_MS);
    }
    assert.match(
      child.stderr,
      /GET \/sleep: the app did not start its response within 0\.3 s \(the server's request time limit\); answered 503/,
    );
  });
});

Deno.test("server.ts app.py --access-logfile logs each Python response in gunicorn's format", async () => {
  await withApp(async (dir) => {
    const child = serveCli(dir, "app.py", ["--access-logfile", "-"]);
    try {
      const url = await listening(child);
      await (await fetch(new URL("/hello?x=1", url), {
        headers: { "user-agent": "probe/1" },
      })).text();
      await (await fetch(new URL("/nowhere", url))).text();
    } finally {
      await child.stop("SIGTERM", TIMEOUT_MS);
    }
    assert.match(
      child.stdout,
      /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/hello\?x=1 HTTP\/1\.1" 200 14 "-" "probe\/1"$/m,
    );
    assert.match(child.stdout, /"GET \/nowhere HTTP\/1\.1" 404 /);
  });
});

Deno.test("server.ts app.py past --graceful-timeout exits 1, and a worker still in a request exits once that request ends", async () => {
  await withApp(async (dir) => {
    const child = serveCli(dir, "app.py", ["--graceful-timeout", "0.5"]);
    const url = await listening(child);
    const [pid] = childPids(child.child.pid);
    const slow = fetch(new URL("/sleep?2", url)).then(
      (response) => response.text(),
      (error: Error) => error.name,
    );
    await delay(300);
    child.child.kill("SIGTERM");
    // The exit status, not Spawned's done: the worker holds the pipes open.
    assert.equal((await child.child.status).code, 1);
    await slow;
    assert.equal(alive(pid), true, "the worker is still in its request");
    await until(() => !alive(pid), "the worker to exit", 5_000);
    await child.stop(undefined, TIMEOUT_MS);
    assert.match(child.stderr, /still in flight after 0\.5 s/);
    // With no one left to answer, the worker ends quietly.
    assert.doesNotMatch(child.stderr, /Traceback|BrokenPipeError/);
  });
});
