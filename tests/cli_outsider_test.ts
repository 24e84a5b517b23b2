/**
 * server.ts and dev.ts as someone outside this repository runs them: a
 * process started in the app's own folder, naming the app by a bare
 * relative spec (`app.ts:hello`), and startup errors that must be one line
 * saying what to change. The --help examples are pasted into bash as they
 * stand and must serve.
 *
 * The app is tests/fixtures/cli/outsider/app.ts, copied into a temporary
 * folder as `app.ts` and `sub/app.ts`; each export answers with its name.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Spawned } from "./_helpers.ts";

const REPO = new URL("../", import.meta.url).pathname;
const CLIS = {
  "server.ts": join(REPO, "server.ts"),
  "dev.ts": join(REPO, "dev.ts"),
};
type Cli = keyof typeof CLIS;
const FIXTURE = new URL("./fixtures/cli/outsider/app.ts", import.meta.url);

/** How long any one process may take to start, finish, or answer. */
const TIMEOUT_MS = 30_000;

/**
 * What every child gets on top of our environment: the machine's `PORT`
 * and `SCRIPT_NAME` (an empty value counts as unset) cannot change the
 * results, and no colour codes get into the lines the tests match.
 */
const CLEAN_ENV = { PORT: "", SCRIPT_NAME: "", NO_COLOR: "1" };

/** The signal each CLI stops on: dev.ts listens for SIGINT only. */
const STOP: Record<Cli, Deno.Signal> = {
  "server.ts": "SIGTERM",
  "dev.ts": "SIGINT",
};

/** Runs `fn` in a new folder holding `app.ts` and `sub/app.ts`, then removes it. */
async function inProject(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "wsgi_outsider_" });
  try {
    await Deno.mkdir(join(dir, "sub"));
    await Deno.copyFile(FIXTURE, join(dir, "app.ts"));
    await Deno.copyFile(FIXTURE, join(dir, "sub", "app.ts"));
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function spawn(
  cli: Cli,
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
  denoFlags: string[] = [],
): Spawned {
  return new Spawned(
    Deno.execPath(),
    ["run", "-A", ...denoFlags, CLIS[cli], ...args],
    { ...CLEAN_ENV, ...env },
    cwd,
  );
}

/** Runs a CLI in `cwd` to its end; SIGKILL and a failure past the timeout. */
async function run(
  cli: Cli,
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
  denoFlags: string[] = [],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(cli, args, cwd, env, denoFlags);
  const { code, signal } = await child.stop(undefined, TIMEOUT_MS);
  assert.equal(signal, null, `${cli} ${args.join(" ")} did not exit in time`);
  return { code, stdout: child.stdout, stderr: child.stderr };
}

/**
 * Starts `child`, runs `fn` with the URL of its "Listening on" line, and
 * always stops it with `signal`.
 */
async function whileListening(
  child: Spawned,
  signal: Deno.Signal,
  fn: (url: string) => Promise<void>,
): Promise<void> {
  try {
    // Only a whole line: a chunk may end partway through the URL.
    const [, url] = await child.waitFor(
      /Listening on (\S+)\n/,
      "stdout",
      TIMEOUT_MS,
    );
    await fn(url);
  } finally {
    await child.stop(signal, TIMEOUT_MS);
  }
}

/** GETs `url` and returns its status and text. */
async function get(url: string): Promise<{ status: number; text: string }> {
  const response = await fetch(url);
  return { status: response.status, text: await response.text() };
}

// --- Bare relative specs ------------------------------------------------------

const SPECS: [spec: string, which: string][] = [
  ["app.ts", "default"],
  ["app.ts:hello", "hello"],
  ["app.ts:create()", "create"],
  ["sub/app.ts:hello", "hello"],
];

for (const cli of Object.keys(CLIS) as Cli[]) {
  Deno.test(`${cli} serves the export a bare relative spec names, from the app's folder`, async (t) => {
    await inProject(async (dir) => {
      for (const [spec, which] of SPECS) {
        await t.step(spec, async () => {
          const child = spawn(cli, ["--port", "0", spec], dir);
          await whileListening(child, STOP[cli], async (url) => {
            assert.deepEqual(await get(url), { status: 200, text: which });
          });
        });
      }
    });
  });
}

Deno.test("server.ts names a missing export and lists the module's exports", async () => {
  await inProject(async (dir) => {
    const { code, stdout, stderr } = await run("server.ts", [
      "--port",
      "0",
      "app.ts:nope",
    ], dir);
    assert.equal(code, 1, stderr);
    assert.equal(stdout, "");
    assert.equal(
      stderr,
      'server.ts: error: Cannot find the app in app.ts: it has no export named "nope" (its exports: create, default, hello)\n',
    );
  });
});

Deno.test("dev.ts names a missing export and lists the module's exports, on the terminal and the page", async () => {
  await inProject(async (dir) => {
    const child = spawn("dev.ts", ["--port", "0", "app.ts:nope"], dir);
    await whileListening(child, "SIGINT", async (url) => {
      const missing =
        'Cannot find the app in app.ts: it has no export named "nope" (its exports: create, default, hello)';
      assert.ok(
        child.stdout.includes(
          `error loaded: the app failed to load: Error: ${missing}\n`,
        ),
        child.output(),
      );
      const page = await get(url);
      assert.equal(page.status, 500);
      assert.ok(page.text.includes(missing), page.text);
    });
  });
});

// --- Startup errors -------------------------------------------------------------

/** Runs `fn` with a port that a listener in this process holds. */
async function withTakenPort(fn: (port: number) => Promise<void>) {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    await fn(taken.addr.port);
  } finally {
    taken.close();
  }
}

Deno.test("server.ts exits 1 with one line naming the port in use and the flag that changes it", async (t) => {
  await inProject(async (dir) => {
    await withTakenPort(async (port) => {
      const cases: [
        name: string,
        args: string[],
        env: Record<string, string>,
        denoFlags: string[],
        line: string,
      ][] = [
        [
          "--port",
          ["--port", String(port), "app.ts"],
          {},
          [],
          `--port ${port} is in use: pick another with --port`,
        ],
        [
          "$PORT",
          ["app.ts"],
          { PORT: String(port) },
          [],
          `$PORT ${port} is in use: pick another with --port or $PORT`,
        ],
        [
          "--bind",
          ["--bind", `127.0.0.1:${port}`, "app.ts"],
          {},
          [],
          `--bind 127.0.0.1:${port} is in use: pick another with --bind`,
        ],
        [
          "--workers 2",
          ["--workers", "2", "--port", String(port), "app.ts"],
          {},
          ["--unstable-net"],
          `--port ${port} is in use: pick another with --port`,
        ],
      ];
      for (const [name, args, env, denoFlags, line] of cases) {
        await t.step(name, async () => {
          const result = await run("server.ts", args, dir, env, denoFlags);
          assert.equal(result.code, 1, result.stderr);
          assert.equal(result.stderr, `server.ts: error: ${line}\n`);
          assert.equal(result.stdout, "");
        });
      }
    });
  });
});

Deno.test("server.ts exits 1 with one line naming an address or socket path it cannot listen on", async (t) => {
  await inProject(async (dir) => {
    const cases: [args: string[], line: string][] = [
      [
        // 192.0.2.0/24 is for documentation (RFC 5737): no machine has it.
        ["--host", "192.0.2.1", "app.ts"],
        "--host 192.0.2.1 is not an address of this machine: pick one it has with --host, like 127.0.0.1, or 0.0.0.0 for all",
      ],
      [
        ["--unix-socket", "app.ts", "app.ts"],
        "--unix-socket app.ts: a file is already there: remove it if no server uses it, or pick another path with --unix-socket",
      ],
      [
        ["--bind", "unix:nowhere/app.sock", "app.ts"],
        "--bind unix:nowhere/app.sock: its folder does not exist: create it, or pick another path with --bind",
      ],
    ];
    for (const [args, line] of cases) {
      await t.step(args.slice(0, 2).join(" "), async () => {
        const result = await run("server.ts", args, dir);
        assert.equal(result.code, 1, result.stderr);
        assert.equal(result.stderr, `server.ts: error: ${line}\n`);
      });
    }
    // The app file it was pointed at is still there, whole.
    assert.equal(
      await Deno.readTextFile(join(dir, "app.ts")),
      await Deno.readTextFile(FIXTURE),
    );
  });
});

Deno.test("dev.ts exits 1 with one line naming the port in use, before loading the app", async () => {
  await inProject(async (dir) => {
    await withTakenPort(async (port) => {
      const result = await run(
        "dev.ts",
        ["--port", String(port), "app.ts"],
        dir,
      );
      assert.equal(result.code, 1, result.stderr);
      assert.equal(
        result.stderr,
        `dev.ts: error: --port ${port} is in use: pick another with --port\n`,
      );
      assert.equal(result.stdout, "", "nothing loads before the port is had");
    });
  });
});

Deno.test("dev.ts exits 1 with one line naming a --watch path that does not exist", async () => {
  await inProject(async (dir) => {
    const result = await run(
      "dev.ts",
      ["--port", "0", "--watch", "templates", "app.ts"],
      dir,
    );
    assert.equal(result.code, 1, result.stderr);
    assert.equal(
      result.stderr,
      "dev.ts: error: --watch templates does not exist: create it, or give a file or folder that does\n",
    );
    assert.equal(result.stdout, "");
  });
});

// --- --help -------------------------------------------------------------------------

/** The command lines under "Examples" in a CLI's --help. */
async function helpExamples(cli: Cli): Promise<string[]> {
  const { code, stdout } = await run(cli, ["--help"], REPO);
  assert.equal(code, 0);
  const section = stdout.split(/^Examples[^\n]*:\n/m)[1];
  assert.ok(section, `${cli} --help has no Examples section:\n${stdout}`);
  const lines = section.split("\n\n")[0].split("\n").map((line) => line.trim());
  assert.ok(lines.length >= 2, section);
  for (const line of lines) assert.match(line, /^deno run -A /);
  return lines;
}

for (const cli of Object.keys(CLIS) as Cli[]) {
  Deno.test(`${cli} --help gives examples that serve when pasted into bash in the repository`, async (t) => {
    for (const line of await helpExamples(cli)) {
      await t.step(line, async () => {
        // bash reads the line as a user's shell would; `deno` is this
        // runtime, with `--port 0` last (the last --port wins) so that the
        // example does not need its own port free.
        const child = new Spawned(
          "bash",
          ["-c", `deno() { exec "$DENO" "$@" --port 0; }\n${line}`],
          { ...CLEAN_ENV, DENO: Deno.execPath() },
          REPO,
        );
        await whileListening(child, STOP[cli], async (url) => {
          const { status, text } = await get(url);
          assert.ok(status < 500, `${status} ${text}`);
        });
      });
    }
  });
}
