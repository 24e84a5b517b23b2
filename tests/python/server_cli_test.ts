/**
 * `server.ts app.py` as a user runs it: a process started in the app's own
 * folder with a bare relative spec and Debian's interpreter, the Python
 * flags (--python, --pythonpath, --workers, --threads), and the one line a
 * load error gives.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  childPids,
  copyFixture,
  inTempDir,
  listening,
  serveCli,
  SERVER,
  TIMEOUT_MS,
} from "./_cli.ts";
import { Spawned } from "../_helpers.ts";

/** Runs server.ts in `cwd` to its end, failing past the timeout. */
async function run(
  cwd: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Spawned(
    Deno.execPath(),
    ["run", "-A", SERVER, ...args],
    { PORT: "", SCRIPT_NAME: "", PYTHONDONTWRITEBYTECODE: "1" },
    cwd,
  );
  const { code, signal } = await child.stop(undefined, TIMEOUT_MS);
  assert.equal(signal, null, `server.ts ${args.join(" ")} did not exit`);
  return { code, stdout: child.stdout, stderr: child.stderr };
}

const NAMED_APP = `def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"the app named app"]
`;

Deno.test("server.ts app.py serves the callable a bare relative spec names, from the app's folder", async (t) => {
  await inTempDir(async (dir) => {
    await copyFixture("plain_app.py", dir, "app.py");
    await copyFixture("plain_app.py", dir, "sub/app.py");
    await Deno.writeTextFile(join(dir, "named.py"), NAMED_APP);
    const cases: [spec: string, path: string, body: string][] = [
      ["app.py", "/hello", "Hello, World!\n"],
      ["app.py:application", "/hello", "Hello, World!\n"],
      ["sub/app.py", "/hello", "Hello, World!\n"],
      ["named.py", "/", "the app named app"],
    ];
    for (const [spec, path, body] of cases) {
      await t.step(spec, async () => {
        const child = serveCli(dir, spec);
        try {
          const url = await listening(child);
          const response = await fetch(new URL(path, url));
          assert.equal(response.status, 200);
          assert.equal(await response.text(), body);
        } finally {
          await child.stop("SIGTERM", TIMEOUT_MS);
        }
        assert.equal((await child.done).code, 0, child.output());
      });
    }
  });
});

Deno.test("server.ts app.py --workers N --threads T starts N Python processes of T threads", async () => {
  await inTempDir(async (dir) => {
    await copyFixture("plain_app.py", dir, "app.py");
    const child = serveCli(dir, "app.py", ["--workers", "3", "--threads", "2"]);
    try {
      const url = await listening(child);
      const seen = await (await fetch(new URL("/environ", url))).json();
      assert.equal(seen.types.multithread, true);
      assert.equal(seen.types.multiprocess, true);
      assert.equal(childPids(child.child.pid).length, 3);
      // Six requests at once, each 0.5 s: six slots take them together.
      const started = performance.now();
      const bodies = await Promise.all(
        Array.from(
          { length: 6 },
          async () => await (await fetch(new URL("/sleep?0.5", url))).text(),
        ),
      );
      assert.deepEqual(bodies, Array(6).fill("slept\n"));
      assert.ok(performance.now() - started < 1400);
    } finally {
      await child.stop("SIGTERM", TIMEOUT_MS);
    }
  });
});

Deno.test("server.ts --pythonpath puts folders on sys.path after the app's own", async () => {
  await inTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "lib"));
    await Deno.mkdir(join(dir, "more"));
    await Deno.writeTextFile(join(dir, "lib", "greeting.py"), 'TEXT = "hi"\n');
    await Deno.writeTextFile(join(dir, "more", "name.py"), 'NAME = "there"\n');
    await Deno.writeTextFile(
      join(dir, "app.py"),
      `import sys
from greeting import TEXT
from name import NAME

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [" ".join([TEXT, NAME] + sys.path[:3]).encode()]
`,
    );
    const child = serveCli(dir, "app.py", [
      "--pythonpath",
      "lib",
      "--pythonpath=more",
    ]);
    try {
      const url = await listening(child);
      const real = await Deno.realPath(dir);
      assert.equal(
        await (await fetch(url)).text(),
        `hi there ${real} lib more`,
      );
    } finally {
      await child.stop("SIGTERM", TIMEOUT_MS);
    }
  });
});

Deno.test("server.ts app.py exits 1 with one line for a missing file, an import error or a missing callable", async (t) => {
  await inTempDir(async (dir) => {
    await copyFixture("plain_app.py", dir, "app.py");
    await copyFixture("broken_import.py", dir, "broken.py");
    await copyFixture("no_callable.py", dir, "none.py");
    await copyFixture("syntax_error.py", dir, "syntax.py");
    // A Flask app under another name: the app object is listed, the Flask
    // class and the function it imported are not.
    await Deno.writeTextFile(
      join(dir, "web.py"),
      "from flask import Flask, render_template\nweb = Flask(__name__)\n",
    );
    const cases: [args: string[], line: RegExp][] = [
      [["missing.py"], /^Cannot load missing\.py: no such file$/],
      [
        ["broken.py"],
        /^Cannot load broken\.py: ModuleNotFoundError: No module named 'no_such_module_here'$/,
      ],
      [
        ["none.py"],
        /^Cannot load none\.py: it has no 'application' or 'app' \(its callables: none\)$/,
      ],
      [
        ["app.py:nope"],
        /^Cannot load app\.py: it has no 'nope' \(its callables: Closing, application, environ_view\)$/,
      ],
      [
        ["web.py"],
        /^Cannot load web\.py: it has no 'application' or 'app' \(its callables: web\)$/,
      ],
      [
        ["syntax.py"],
        /^Cannot load syntax\.py: SyntaxError: .* \(.*syntax\.py, line \d+\)$/,
      ],
      [
        ["app.py", "--python", "no-such-python-here"],
        /^Cannot start the Python interpreter "no-such-python-here": not found; name one with --python$/,
      ],
    ];
    for (const [args, line] of cases) {
      await t.step(args.join(" "), async () => {
        const { code, stderr } = await run(dir, [
          ...args.slice(0, 1),
          "--python",
          "/usr/bin/python3",
          ...args.slice(1),
          "--port",
          "0",
        ]);
        assert.equal(code, 1, stderr);
        const lines = stderr.trimEnd().split("\n");
        assert.equal(lines.length, 1, stderr);
        const prefix = "server.ts: error: ";
        assert.ok(lines[0].startsWith(prefix), stderr);
        assert.match(lines[0].slice(prefix.length), line);
      });
    }
  });
});

Deno.test("server.ts refuses the Python flags for a TypeScript app and a factory call of a Python one, exit 2", async (t) => {
  await inTempDir(async (dir) => {
    await copyFixture("plain_app.py", dir, "app.py");
    await Deno.writeTextFile(
      join(dir, "app.ts"),
      "export default () => [];\n",
    );
    const cases: [args: string[], message: RegExp][] = [
      [["app.ts", "--threads", "2"], /--threads is for a Python app/],
      [["app.ts", "--python", "python3"], /--python is for a Python app/],
      [["app.ts", "--pythonpath", "lib"], /--pythonpath is for a Python app/],
      [["app.py", "--threads", "0"], /--threads must be a whole number/],
      [["app.py", "--workers", "x"], /--workers must be a whole number/],
      [["app.py:create()"], /a Python app is given as "path\/to\/app\.py"/],
    ];
    for (const [args, message] of cases) {
      await t.step(args.join(" "), async () => {
        const { code, stderr } = await run(dir, args);
        assert.equal(code, 2, stderr);
        assert.match(stderr, /^server\.ts: error: /);
        assert.match(stderr, message);
      });
    }
  });
});

Deno.test("server.ts --help lists the Python flags", async () => {
  await inTempDir(async (dir) => {
    const { code, stdout } = await run(dir, ["--help"]);
    assert.equal(code, 0);
    for (
      const option of ["--python PATH", "--pythonpath DIR", "--threads N"]
    ) {
      assert.ok(stdout.includes(option), `help does not list ${option}`);
    }
    assert.match(stdout, /for a Python app, its CPython processes/);
    assert.match(stdout, /mysite\/wsgi\.py/);
  });
});
