/**
 * The dev server with a Python app, as a user runs it: `dev.ts app.py` in a
 * process of its own, from the app's folder with a bare relative spec,
 * Debian's interpreter and Flask. Load comes from wrk, another process.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseWrk } from "../../bench/_util.ts";
import { Spawned } from "../_helpers.ts";
import { APP, helper, project, withDevPython } from "./_python_dev.ts";

/** Asks `url` until its body is `expected`; fails after 10 s. */
async function answers(url: string, expected: RegExp): Promise<Response> {
  const deadline = Date.now() + 10_000;
  while (true) {
    const response = await fetch(url);
    const text = await response.text();
    if (expected.test(text)) return new Response(text, response);
    assert.ok(Date.now() < deadline, `still ${JSON.stringify(text)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test("dev.ts app.py reloads when a module the app imported is saved", async () => {
  const dir = await project();
  await withDevPython(dir, async (url, dev) => {
    assert.equal(await (await fetch(url)).text(), "v0");
    await Deno.writeTextFile(join(dir, "helper.py"), helper("v1"));
    await answers(url, /^v1$/);
    assert.match(dev.stdout, /reloaded \(.*helper\.py\) in \d+ ms/);
  });
});

Deno.test("dev.ts app.py shows a SyntaxError at load until a save fixes it", async () => {
  const dir = await project();
  await withDevPython(dir, async (url, dev) => {
    await Deno.writeTextFile(join(dir, "helper.py"), "def greeting(:\n");
    const text = await (await answers(url, /SyntaxError/)).text();
    assert.match(text, /^The app failed to load; save a fix/);
    // The frame of the file to fix, with its line, first.
    assert.match(
      text,
      /\* at <module> \(file:\/\/.*\/helper\.py:1\)\n {8}def greeting\(:/,
    );
    assert.match(
      dev.stdout,
      /the app failed to load: Cannot load app\.py: SyntaxError/,
    );
    const page = await fetch(url, { headers: { accept: "text/html" } });
    assert.equal(page.status, 500);
    assert.match(await page.text(), /<h1>Cannot load app\.py: SyntaxError/);
    await Deno.writeTextFile(join(dir, "helper.py"), helper("fixed"));
    await answers(url, /^fixed$/);
  });
});

Deno.test("dev.ts app.py shows the locals of the frames of a load that failed", async () => {
  const dir = await project();
  await withDevPython(dir, async (url) => {
    await Deno.writeTextFile(
      join(dir, "helper.py"),
      'def setup():\n    port = 8080\n    raise RuntimeError("no config")\n\n\nsetup()\n',
    );
    const text = await (await answers(url, /RuntimeError/)).text();
    assert.match(
      text,
      /\* at setup \(file:\/\/.*\/helper\.py:3\)\n {8}raise RuntimeError\("no config"\)\n {8}\| port = 8080/,
    );
    await Deno.writeTextFile(join(dir, "helper.py"), helper("fixed"));
    await answers(url, /^fixed$/);
  });
});

Deno.test("dev.ts app.py shows a missing callable and a missing file until fixed", async () => {
  const dir = await project();
  await Deno.writeTextFile(join(dir, "app.py"), "x = 1\n");
  await withDevPython(dir, async (url) => {
    const text = await (await answers(url, /Cannot load/)).text();
    assert.match(text, /Cannot load app\.py: it has no 'application' or 'app'/);
    await Deno.writeTextFile(join(dir, "app.py"), APP);
    await answers(url, /^v0$/);
  });
  const empty = await Deno.realPath(await Deno.makeTempDir());
  await withDevPython(empty, async (url) => {
    const response = await fetch(url);
    assert.equal(response.status, 500);
    assert.match(await response.text(), /Cannot load app\.py: no such file/);
  });
});

Deno.test("dev.ts app.py watches the app's own modules, not Flask's", async () => {
  const dir = await project();
  await withDevPython(dir, async (url, dev) => {
    assert.equal(await (await fetch(url)).text(), "v0");
    // A Python file beside the app that it never imported.
    await Deno.writeTextFile(join(dir, "unused.py"), "x = 1\n");
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.doesNotMatch(dev.stdout, /reloaded/);
    await Deno.writeTextFile(join(dir, "app.py"), APP + "\n");
    await dev.waitFor(/reloaded \(.*app\.py\)/, "stdout", 10_000);
  });
});

Deno.test("dev.ts app.py fails no request under wrk across 10 saves", async () => {
  const dir = await project();
  await withDevPython(dir, async (url) => {
    const wrk = new Spawned("wrk", ["-t1", "-c16", "-d120s", "--latency", url]);
    let requests = 0;
    try {
      for (let save = 1; save <= 10; save++) {
        await new Promise((resolve) => setTimeout(resolve, 150));
        await Deno.writeTextFile(join(dir, "helper.py"), helper(`v${save}`));
        await answers(url, new RegExp(`^v${save}$`));
      }
    } finally {
      await wrk.stop("SIGINT");
      const load = parseWrk(wrk.stdout);
      requests = load.requests;
      assert.equal(load.errors, "", wrk.stdout);
    }
    assert.doesNotMatch(wrk.stdout, /Non-2xx/);
    assert.ok(requests > 160, `only ${requests} requests`);
  });
});

Deno.test("dev.ts app.py answers a Flask view's exception with its Python traceback page", async () => {
  const dir = await project();
  await withDevPython(dir, async (url, dev) => {
    const text = await fetch(`${url}boom`);
    assert.equal(text.status, 500);
    const body = await text.text();
    assert.match(body, /^ZeroDivisionError: division by zero\n/);
    // The view's frame first, with its source line and its locals.
    assert.match(
      body,
      /\* at boom \(file:\/\/.*\/app\.py:15\)\n {8}return secret\["answer"\] \/ 0\n {8}\| secret = \{'answer': 42\}/,
    );
    // Flask's own frames are not the app's.
    assert.match(body, /\n {4}at wsgi_app \(file:\/\/.*flask\/app\.py:\d+\)/);
    const page = await fetch(`${url}boom`, {
      headers: { accept: "text/html" },
    });
    const html = await page.text();
    assert.match(html, /<h1>ZeroDivisionError: division by zero<\/h1>/);
    assert.match(
      html,
      /<tr><th>secret<\/th><td><code>\{&#39;answer&#39;: 42\}<\/code>/,
    );
    await dev.waitFor(/error in GET \/boom: ZeroDivisionError/, "stdout");
  });
});

Deno.test("dev.ts mysite/wsgi.py answers a Django view's exception with its traceback page", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  const fixture = fileURLToPath(
    new URL("../python/fixtures/django_project/", import.meta.url),
  );
  await new Deno.Command("cp", { args: ["-r", `${fixture}.`, dir] }).output();
  await withDevPython(
    dir,
    async (url) => {
      const hello = await fetch(`${url}hello/`);
      assert.equal(hello.status, 200, await hello.text());
      const response = await fetch(`${url}raise/`);
      assert.equal(response.status, 500);
      const text = await response.text();
      assert.match(text, /^RuntimeError: the view failed\n/);
      assert.match(
        text,
        /\* at raise_view \(file:\/\/.*\/mysite\/views\.py:\d+\)/,
      );
      assert.match(text, /\| request = <WSGIRequest: GET '\/raise\/'>/);
    },
    ["--pythonpath", "."],
    "mysite/wsgi.py",
  );
});

/** POSTs `body` as JSON to the debugger's `endpoint`, with `cookie`. */
async function debuggerPost(
  url: string,
  endpoint: string,
  body: unknown,
  cookie = "",
): Promise<{ json: Record<string, unknown>; cookie: string }> {
  const response = await fetch(`${url}__wsgi_dev__/${endpoint}`, {
    method: "POST",
    headers: { "content-type": "application/json", cookie },
    body: JSON.stringify(body),
  });
  return {
    json: await response.json(),
    cookie: (response.headers.get("set-cookie") ?? "").split(";")[0],
  };
}

Deno.test("dev.ts app.py's console evaluates Python in the frames of the failed request", async () => {
  const dir = await project();
  await withDevPython(
    dir,
    async (url) => {
      const page = await fetch(`${url}boom`, {
        headers: { accept: "text/html" },
      });
      const html = await page.text();
      const key = html.match(/data-error="(\d+-\d+)"/)?.[1];
      assert.ok(key, "the page has no console for its frames");
      const boom = html.match(
        /<code class="fn">boom<\/code>.*?data-frame="(\d+)"/,
      )?.[1];
      assert.ok(boom, "the view's frame has no console button");
      const locked = await debuggerPost(url, "eval", {
        source: "1",
        error: key,
      });
      assert.match(String(locked.json.error), /PIN/);
      const { cookie } = await debuggerPost(url, "pin", { pin: "123-456-789" });
      const evaluate = async (source: string, error = key) =>
        (await debuggerPost(url, "eval", { source, error }, cookie)).json;
      // The innermost frame by default: the view's, with its local.
      assert.deepEqual(await evaluate("secret['answer'] * 2"), {
        ok: true,
        output: "84",
      });
      // Assignments last; print() is shown.
      assert.deepEqual(await evaluate("n = len(secret)"), {
        ok: true,
        output: "",
      });
      assert.deepEqual(await evaluate("print(n + 1)"), {
        ok: true,
        output: "2",
      });
      // Another frame: Flask's wsgi_app, where environ is a local.
      const outer = html.match(
        /<code class="fn">wsgi_app<\/code>.*?data-frame="(\d+)"/,
      )?.[1];
      assert.ok(outer);
      assert.deepEqual(
        await evaluate("environ['PATH_INFO']", `${key}#${outer}`),
        { ok: true, output: "'/boom'" },
      );
      const failed = await evaluate("secret['nope']");
      assert.equal(failed.ok, false);
      assert.match(String(failed.output), /KeyError: 'nope'/);
    },
    [],
    "app.py",
    { WSGI_DEV_PIN: "123-456-789" },
  );
});

Deno.test("dev.ts app.py loads a save in a spare interpreter that imported Flask ahead", async () => {
  const dir = await project();
  // Whether Flask was there before the app imported it: only in a spare.
  await Deno.writeTextFile(
    join(dir, "app.py"),
    `import sys
AHEAD = "flask" in sys.modules
${APP}

@app.route("/ahead")
def ahead():
    return str(AHEAD)
`,
  );
  await withDevPython(dir, async (url) => {
    assert.equal(await (await fetch(`${url}ahead`)).text(), "False");
    await Deno.writeTextFile(join(dir, "helper.py"), helper("v1"));
    await answers(url, /^v1$/);
    assert.equal(await (await fetch(`${url}ahead`)).text(), "True");
  });
});

Deno.test("dev.ts refuses the Python flags for a TypeScript app, and a bad --workers", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    for (
      const [args, message] of [
        [["--threads", "2", "app.ts"], /--threads is for a Python app/],
        [["--workers", "2", "app.ts"], /--workers is for a Python app/],
        [["--workers", "0", "app.py"], /--workers must be a whole number/],
      ] as const
    ) {
      const dev = new Spawned(
        Deno.execPath(),
        [
          "run",
          "-A",
          fileURLToPath(new URL("../../dev.ts", import.meta.url)),
          ...args,
        ],
        { NO_COLOR: "1" },
        dir,
      );
      const status = await dev.done;
      assert.equal(status.code, 2, dev.output());
      assert.match(dev.stderr, message);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
