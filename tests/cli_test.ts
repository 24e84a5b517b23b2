/**
 * The `server.ts` command line, run as a real process: argument errors,
 * finding the app in a module, where it listens (TCP, unix socket, TLS), and
 * the options that reach the app (--max-body, --script-name).
 *
 * The fixture apps live in tests/fixtures/cli/; apps.ts answers with JSON
 * saying which export served the request and what the environ held.
 */
import assert from "node:assert/strict";
import { Spawned } from "./_helpers.ts";
import { moduleUrl, parseAppSpec } from "../_cli/load_app.ts";

const SERVER = new URL("../server.ts", import.meta.url).pathname;
const FIXTURES = new URL("./fixtures/cli/", import.meta.url).pathname;

/** A fixture module's absolute path, so the tests do not depend on the cwd. */
function fixture(spec: string): string {
  return FIXTURES + spec;
}

/** How long any one process may take to start, finish, or answer. */
const TIMEOUT_MS = 30_000;

/**
 * The environment every child gets on top of ours. The CLI reads `PORT` and
 * `SCRIPT_NAME`; an empty value counts as unset, so whatever the machine
 * running the tests has in them cannot change the results.
 */
const CLEAN_ENV = { PORT: "", SCRIPT_NAME: "" };

/** What a finished CLI process left behind. */
interface Finished {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to its end; fails if it is still running after the timeout. */
async function runCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<Finished> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", SERVER, ...args],
      env: { ...CLEAN_ENV, ...env },
      stdin: "null",
      // Aborting kills the child, so output() cannot hang.
      signal: controller.signal,
    }).output();
    const result = {
      code: output.code,
      stdout: new TextDecoder().decode(output.stdout),
      stderr: new TextDecoder().decode(output.stderr),
    };
    if (controller.signal.aborted) {
      throw new Error(
        `server.ts ${args.join(" ")} did not exit within ${TIMEOUT_MS} ms; ` +
          `stderr:\n${result.stderr}`,
      );
    }
    return result;
  } finally {
    clearTimeout(timer);
  }
}

/** A CLI process that is serving. */
interface Running {
  /** The URL from its "Listening on" line. */
  url: string;
  /**
   * Kills it and waits until it and both its output streams are done;
   * resolves with everything it printed.
   */
  stop(): Promise<{ stdout: string; stderr: string }>;
}

/**
 * Starts the CLI and resolves once it prints "Listening on <url>". Fails,
 * with what the child printed, if it exits first or says nothing within
 * the timeout; the child is stopped either way.
 */
async function startCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<Running> {
  const child = new Spawned(
    Deno.execPath(),
    ["run", "-A", SERVER, ...args],
    { ...CLEAN_ENV, ...env },
  );
  const stop = async () => {
    await child.stop("SIGTERM", TIMEOUT_MS);
    return { stdout: child.stdout, stderr: child.stderr };
  };
  try {
    // Only a whole line: a chunk may end partway through the URL.
    const [, url] = await child.waitFor(
      /Listening on (\S+)\n/,
      "stdout",
      TIMEOUT_MS,
    );
    return { url, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Starts the CLI, runs `fn` with its URL, and always stops it. */
async function withCli(
  args: string[],
  fn: (url: string) => Promise<void>,
  env: Record<string, string> = {},
): Promise<void> {
  const server = await startCli(args, env);
  try {
    await fn(server.url);
  } finally {
    await server.stop();
  }
}

/** What apps.ts answers with. */
interface Report {
  which: string;
  SERVER_NAME: string;
  SERVER_PORT: string;
  REMOTE_ADDR: string;
  SCRIPT_NAME: string;
  PATH_INFO: string;
  url_scheme: string;
  bodyLength: number;
}

/** GETs `path` from a server and parses the report, checking for a 200. */
async function getReport(
  base: string,
  path = "/",
  init?: RequestInit & { client?: Deno.HttpClient },
): Promise<Report> {
  const response = await fetch(new URL(path, base), init);
  const text = await response.text();
  assert.equal(response.status, 200, text);
  return JSON.parse(text);
}

/** Runs curl with arguments, failing on a non-zero exit; returns stdout. */
async function curl(args: string[]): Promise<string> {
  const output = await new Deno.Command("curl", {
    // --max-time keeps a stuck server from hanging the test.
    args: ["--silent", "--show-error", "--max-time", "20", ...args],
    stdin: "null",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `curl ${args.join(" ")} failed: ${stderr}`);
  return new TextDecoder().decode(output.stdout);
}

/** Whether this machine can listen on IPv6 loopback. */
const HAS_IPV6 = (() => {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
})();

// --- Help and argument errors ---------------------------------------------

Deno.test("cli: --help lists every option and exits 0", async () => {
  for (const flag of ["--help", "-h"]) {
    const { code, stdout } = await runCli([flag]);
    assert.equal(code, 0);
    assert.match(stdout, /Usage: .*server\.ts \[options\] APP_MODULE\[:NAME\]/);
    for (
      const option of [
        "-b, --bind",
        "-H, --host",
        "-p, --port",
        "--unix-socket",
        "--cert",
        "--key",
        "--max-body",
        "--script-name",
        "-h, --help",
      ]
    ) {
      assert.ok(stdout.includes(option), `help does not list ${option}`);
    }
  }
});

Deno.test("cli: bad arguments exit 2 with a message naming the problem", async (t) => {
  const app = fixture("apps.ts");
  const cases: [name: string, args: string[], message: RegExp][] = [
    ["unknown option", ["--bogus", app], /unknown option --bogus/],
    ["unknown short option", ["-x", app], /unknown option -x/],
    ["missing APP_MODULE", [], /missing APP_MODULE/],
    [
      "option without its value",
      [app, "--port"],
      /option --port needs a value/,
    ],
    [
      "--port abc",
      ["--port", "abc", app],
      /--port must be a port number.*"abc"/,
    ],
    [
      "--port 70000",
      ["--port", "70000", app],
      /--port must be a port number.*"70000"/,
    ],
    [
      "--cert without --key",
      ["--cert", "cert.pem", app],
      /--cert and --key must be given together/,
    ],
    [
      "--key without --cert",
      ["--key", "key.pem", app],
      /--cert and --key must be given together/,
    ],
    ["--cert file missing", [
      "--cert",
      "/nonexistent/c.pem",
      "--key",
      "/nonexistent/k.pem",
      app,
    ], /--cert: cannot read \/nonexistent\/c\.pem/],
    ["two positionals", [app, "extra.ts"], /expected one APP_MODULE, got 2/],
    [
      "--bind with --port",
      ["--bind", "127.0.0.1:0", "--port", "0", app],
      /--bind cannot be combined with --host, --port or --unix-socket/,
    ],
    ["--bind with --unix-socket", [
      "-b",
      "unix:/tmp/x.sock",
      "--unix-socket",
      "/tmp/y.sock",
      app,
    ], /--bind cannot be combined/],
    [
      "--bind malformed",
      ["--bind", "127.0.0.1:http", app],
      /--bind must be HOST:PORT/,
    ],
    [
      "empty unix socket path",
      ["-b", "unix:", app],
      /unix socket path is empty/,
    ],
    [
      "--max-body abc",
      ["--max-body", "abc", app],
      /--max-body must be a size in bytes.*"abc"/,
    ],
    [
      "--script-name without /",
      ["--script-name", "app", app],
      /script name must start with "\/".*"app"/,
    ],
    ["--help taking a value", ["--help=yes"], /option --help takes no value/],
  ];
  for (const [name, args, message] of cases) {
    await t.step(name, async () => {
      const { code, stderr } = await runCli(args);
      assert.equal(code, 2, stderr);
      assert.match(stderr, /^server\.ts: error: /);
      assert.match(stderr, message);
      assert.match(stderr, /Run with --help for usage/);
    });
  }
  await t.step("$PORT that is not a port", async () => {
    const { code, stderr } = await runCli([app], { PORT: "abc" });
    assert.equal(code, 2, stderr);
    assert.match(stderr, /\$PORT must be a port number.*"abc"/);
  });
  await t.step("$SCRIPT_NAME without a leading /", async () => {
    const { code, stderr } = await runCli(["--port", "0", app], {
      SCRIPT_NAME: "app",
    });
    assert.equal(code, 2, stderr);
    assert.match(stderr, /script name must start with "\/"/);
  });
});

// --- Finding the app --------------------------------------------------------

Deno.test("parseAppSpec() reads a colon after a path as the export, and keeps a URL's scheme", () => {
  const cases: [spec: string, module: string, name?: string, call?: true][] = [
    ["app.ts", "app.ts"],
    ["app.ts:hello", "app.ts", "hello"],
    ["app.ts:create()", "app.ts", "create", true],
    ["sub/app.ts:hello", "sub/app.ts", "hello"],
    ["./app.ts:$app_1", "./app.ts", "$app_1"],
    ["main:app", "main", "app"],
    ["npm:hono", "npm:hono"],
    ["jsr:@scope/pkg", "jsr:@scope/pkg"],
    ["npm:pkg:app", "npm:pkg", "app"],
    ["file:///srv/app.ts:hello", "file:///srv/app.ts", "hello"],
    ["https://example.test/app.ts", "https://example.test/app.ts"],
    ["http://127.0.0.1:8000/app.ts", "http://127.0.0.1:8000/app.ts"],
  ];
  for (const [spec, module, name, call] of cases) {
    const expected = name === undefined
      ? { module, call: false }
      : { module, name, call: call ?? false };
    assert.deepEqual(parseAppSpec(spec), expected, spec);
  }
});

Deno.test("moduleUrl() takes a path from the working directory unless a loadable scheme starts it", () => {
  const cwd = Deno.cwd();
  assert.equal(moduleUrl("app.ts").href, `file://${cwd}/app.ts`);
  assert.equal(moduleUrl("main").href, `file://${cwd}/main`);
  for (
    const url of [
      "file:///srv/app.ts",
      "https://example.test/app.ts",
      "npm:hono",
      "jsr:@scope/pkg",
      "data:text/javascript,export%20default%201",
    ]
  ) {
    assert.equal(moduleUrl(url).href, url);
  }
});

Deno.test("cli: a module without an app exits 1 naming the exports it has", async () => {
  const { code, stderr } = await runCli([fixture("no_app.ts")]);
  assert.equal(code, 1, stderr);
  assert.match(
    stderr,
    /^server\.ts: error: Cannot find the app in .*no_app\.ts/,
  );
  assert.match(stderr, /"default" or "app" or "application"/);
  assert.match(stderr, /its exports: helper, makeThing/);
});

Deno.test("cli: a named export that does not exist exits 1 naming it", async () => {
  const { code, stderr } = await runCli([fixture("apps.ts:nope")]);
  assert.equal(code, 1, stderr);
  assert.match(stderr, /no export named "nope"/);
  assert.match(stderr, /its exports: .*\bother\b/);
});

Deno.test("cli: an export that is not an app exits 1 saying what it is", async () => {
  const { code, stderr } = await runCli([fixture("apps.ts:notAnApp")]);
  assert.equal(code, 1, stderr);
  assert.match(stderr, /Cannot serve .*apps\.ts:notAnApp: .*a number/);
});

Deno.test("cli: NAME() on an export that is not a function exits 1", async () => {
  const { code, stderr } = await runCli([fixture("apps.ts:notAnApp()")]);
  assert.equal(code, 1, stderr);
  assert.match(stderr, /Cannot call .*apps\.ts:notAnApp\(\): .*a number/);
});

Deno.test("cli: a module that throws at import exits 1 with its error", async () => {
  const { code, stderr } = await runCli([fixture("throws.ts")]);
  assert.equal(code, 1, stderr);
  assert.match(stderr, /server\.ts: error: .*fixture exploded at import/);
});

Deno.test("cli: a module that throws a non-Error at import exits 1 with it", async () => {
  const { code, stderr } = await runCli([fixture("throws_string.ts")]);
  assert.equal(code, 1, stderr);
  assert.match(stderr, /server\.ts: error: .*fixture threw a plain string/);
});

Deno.test("cli: a factory that throws exits 1 with its error", async () => {
  const { code, stderr } = await runCli([fixture("apps.ts:failingFactory()")]);
  assert.equal(code, 1, stderr);
  assert.match(stderr, /server\.ts: error: .*factory failed/);
});

Deno.test("cli: a module that does not exist exits 1 naming it", async () => {
  const { code, stderr } = await runCli([fixture("missing.ts")]);
  assert.equal(code, 1, stderr);
  assert.match(stderr, /missing\.ts/);
});

Deno.test("cli: each way of exporting an app is served", async (t) => {
  const cases: [spec: string, which: string][] = [
    ["apps.ts", "default"],
    ["apps.ts:other", "other"],
    ["apps.ts:create()", "factory"],
    ["apps.ts:Klass", "class"],
    ["apps.ts:callable", "callable"],
  ];
  for (const [spec, which] of cases) {
    await t.step(spec, async () => {
      await withCli(["--port", "0", fixture(spec)], async (url) => {
        assert.equal((await getReport(url)).which, which);
      });
    });
  }
  await t.step("a module exporting only `application`", async () => {
    await withCli(
      ["--port", "0", fixture("application_only.ts")],
      async (url) => {
        const response = await fetch(url);
        assert.equal(await response.text(), "application export\n");
      },
    );
  });
});

// --- Where it listens ---------------------------------------------------------

Deno.test("cli: -H 127.0.0.1 --port 0 prints the bound address and serves there", async () => {
  await withCli(
    ["-H", "127.0.0.1", "--port", "0", fixture("apps.ts")],
    async (url) => {
      const match = url.match(/^http:\/\/127\.0\.0\.1:(\d+)\/$/);
      assert.ok(match, `unexpected URL ${url}`);
      assert.notEqual(match[1], "0", "the real port is printed, not 0");
      const report = await getReport(url, "/hello");
      assert.equal(report.PATH_INFO, "/hello");
      // Over TCP the server says where it is bound, not what Host said.
      assert.equal(report.SERVER_NAME, "127.0.0.1");
      assert.equal(report.SERVER_PORT, match[1]);
      assert.equal(report.REMOTE_ADDR, "127.0.0.1");
    },
  );
});

Deno.test("cli: serving requests prints nothing on stderr but the drain on SIGTERM", async () => {
  // The fixture reads REMOTE_ADDR, which fills in the environ's lazy keys:
  // nothing that does should make the server log anything.
  const server = await startCli(["-p", "0", fixture("apps.ts")]);
  let output;
  try {
    await getReport(server.url);
    await getReport(server.url, "/again");
  } finally {
    output = await server.stop();
  }
  assert.match(
    output.stderr,
    /^server\.ts: SIGTERM: not accepting connections[^\n]*\nserver\.ts: every request finished; exiting\n$/,
  );
  assert.match(output.stdout, /^Listening on http:\/\/127\.0\.0\.1:\d+\/\n$/);
});

Deno.test("cli: $PORT is used when there is no --port", async () => {
  await withCli([fixture("apps.ts")], async (url) => {
    assert.match(url, /^http:\/\/127\.0\.0\.1:[1-9]\d*\/$/);
    assert.equal((await getReport(url)).which, "default");
  }, { PORT: "0" });
});

Deno.test("cli: --port wins over $PORT", async () => {
  // $PORT is not a port at all: it must not even be read.
  await withCli(["-p", "0", fixture("apps.ts")], async (url) => {
    assert.equal((await getReport(url)).which, "default");
  }, { PORT: "not-a-port" });
});

Deno.test("cli: --bind HOST:PORT", async () => {
  await withCli(["--bind", "127.0.0.1:0", fixture("apps.ts")], async (url) => {
    assert.match(url, /^http:\/\/127\.0\.0\.1:[1-9]\d*\/$/);
    assert.equal((await getReport(url)).which, "default");
  });
});

Deno.test({
  name: "cli: --bind [IPV6]:PORT",
  ignore: !HAS_IPV6,
  async fn() {
    await withCli(["-b", "[::1]:0", fixture("apps.ts")], async (url) => {
      assert.match(url, /^http:\/\/\[::1\]:[1-9]\d*\/$/);
      const report = await getReport(url);
      assert.equal(report.SERVER_NAME, "::1");
    });
  },
});

Deno.test("cli: a port already in use exits 1 naming the port and the flag", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const { code, stderr } = await runCli([
      "-H",
      "127.0.0.1",
      "-p",
      String(taken.addr.port),
      fixture("apps.ts"),
    ]);
    assert.equal(code, 1, stderr);
    assert.equal(
      stderr,
      `server.ts: error: --port ${taken.addr.port} is in use: pick another with --port\n`,
    );
  } finally {
    taken.close();
  }
});

Deno.test("cli: --unix-socket and -b unix: serve on a unix socket", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "wsgi_cli_" });
  try {
    for (const flag of ["--unix-socket", "-b unix:"]) {
      await t.step(flag, async () => {
        const socket = `${dir}/${flag.startsWith("-b") ? "bind" : "flag"}.sock`;
        const args = flag === "--unix-socket"
          ? ["--unix-socket", socket]
          : ["-b", `unix:${socket}`];
        await withCli([...args, fixture("apps.ts")], async (url) => {
          assert.equal(url, `http+unix://${socket}`);
          // Without a bound host and port, both come from the Host header.
          const plain: Report = JSON.parse(
            await curl(["--unix-socket", socket, "http://localhost/path"]),
          );
          assert.equal(plain.PATH_INFO, "/path");
          assert.equal(plain.SERVER_NAME, "localhost");
          assert.equal(plain.SERVER_PORT, "80");
          // A unix socket has no peer address; loopback stands in for it.
          assert.equal(plain.REMOTE_ADDR, "127.0.0.1");
          const named: Report = JSON.parse(
            await curl([
              "--unix-socket",
              socket,
              "-H",
              "Host: example.test:8080",
              "http://localhost/",
            ]),
          );
          assert.equal(named.SERVER_NAME, "example.test");
          assert.equal(named.SERVER_PORT, "8080");
        });
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: --cert and --key serve HTTPS, with HTTP/2 by ALPN", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wsgi_cli_tls_" });
  try {
    const cert = `${dir}/cert.pem`;
    const key = `${dir}/key.pem`;
    const openssl = await new Deno.Command("openssl", {
      args: [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        key,
        "-out",
        cert,
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
        // openssl marks a self-signed certificate as a CA by default, and
        // rustls (Deno's fetch) refuses a CA certificate as the server's own
        // ("CaUsedAsEndEntity"); curl does not mind either way.
        "-addext",
        "basicConstraints=critical,CA:FALSE",
      ],
      stdin: "null",
    }).output();
    assert.equal(
      openssl.code,
      0,
      new TextDecoder().decode(openssl.stderr),
    );
    const certPem = await Deno.readTextFile(cert);

    await withCli(
      [
        "-H",
        "127.0.0.1",
        "-p",
        "0",
        "--cert",
        cert,
        "--key",
        key,
        fixture("apps.ts"),
      ],
      async (url) => {
        const match = url.match(/^https:\/\/127\.0\.0\.1:(\d+)\/$/);
        assert.ok(match, `unexpected URL ${url}`);
        const client = Deno.createHttpClient({ caCerts: [certPem] });
        try {
          const report = await getReport(url, "/secure", { client });
          assert.equal(report.url_scheme, "https");
          assert.equal(report.PATH_INFO, "/secure");
          assert.equal(report.SERVER_PORT, match[1]);
        } finally {
          client.close();
        }
        const version = await curl([
          "--http2",
          "--cacert",
          cert,
          "-o",
          "/dev/null",
          "-w",
          "%{http_version}",
          url,
        ]);
        assert.equal(version, "2");
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// --- Options that reach the app ---------------------------------------------

Deno.test("cli: --max-body answers 413 past the limit and lets the limit through", async () => {
  await withCli(
    ["-p", "0", "--max-body", "10", fixture("apps.ts")],
    async (url) => {
      const tooBig = await fetch(url, { method: "POST", body: "12345678901" });
      assert.equal(tooBig.status, 413);
      assert.match(
        await tooBig.text(),
        /Request body too large: .*at most 10 bytes/,
      );

      const report = await getReport(url, "/", {
        method: "POST",
        body: "1234567890",
      });
      assert.equal(report.bodyLength, 10);

      // A chunked upload declares no length; it is caught while the app reads.
      const bytes = new TextEncoder().encode("12345678901");
      const chunked = await fetch(url, {
        method: "POST",
        body: new ReadableStream({
          start(controller) {
            controller.enqueue(bytes.subarray(0, 6));
            controller.enqueue(bytes.subarray(6));
            controller.close();
          },
        }),
      });
      assert.equal(chunked.status, 413);
      assert.match(await chunked.text(), /at most 10 bytes/);
    },
  );
});

Deno.test("cli: --max-body takes a size suffix", async () => {
  await withCli(
    ["-p", "0", "--max-body", "1k", fixture("apps.ts")],
    async (url) => {
      const ok = await getReport(url, "/", {
        method: "POST",
        body: "x".repeat(1024),
      });
      assert.equal(ok.bodyLength, 1024);
      const tooBig = await fetch(url, {
        method: "POST",
        body: "x".repeat(1025),
      });
      assert.equal(tooBig.status, 413);
      await tooBig.body?.cancel();
    },
  );
});

Deno.test("cli: --script-name and $SCRIPT_NAME split the path", async (t) => {
  const check = async (url: string) => {
    const mounted = await getReport(url, "/app/x");
    assert.equal(mounted.SCRIPT_NAME, "/app");
    assert.equal(mounted.PATH_INFO, "/x");
    // A path outside the prefix is not the prefix's: it stays whole.
    const outside = await getReport(url, "/application");
    assert.equal(outside.SCRIPT_NAME, "");
    assert.equal(outside.PATH_INFO, "/application");
  };
  await t.step("--script-name /app", async () => {
    await withCli(
      ["-p", "0", "--script-name", "/app", fixture("apps.ts")],
      check,
    );
  });
  await t.step("SCRIPT_NAME=/app", async () => {
    await withCli(["-p", "0", fixture("apps.ts")], check, {
      SCRIPT_NAME: "/app",
    });
  });
  await t.step("--script-name wins over $SCRIPT_NAME", async () => {
    await withCli(
      ["-p", "0", "--script-name=/app", fixture("apps.ts")],
      check,
      { SCRIPT_NAME: "/elsewhere" },
    );
  });
});
