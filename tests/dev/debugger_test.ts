/** The dev server's traceback pages, from a real app throwing under runDev. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { tempProject, withDev } from "./_helpers.ts";
import { Spawned, spawnWithColour } from "../_helpers.ts";
import { framesOf, tracebackText } from "../../_dev/debugger/traceback.ts";

/** An app whose handler calls lib.ts's `explode`, which throws on line 2. */
function project(): Promise<string> {
  return tempProject({
    "lib.ts":
      "export function explode(what: string): never {\n  throw new Error(`cannot <b>${what}</b>`);\n}\n",
    "app.ts": `import { explode } from "./lib.ts";
export default function handler(environ: { PATH_INFO: string }, startResponse: (s: string, h: [string, string][]) => unknown) {
  if (environ.PATH_INFO === "/boom") explode("compute");
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return ["fine"];
}
`,
  });
}

Deno.test("framesOf() finds each frame's file, line, source and owner", async () => {
  const dir = await project();
  try {
    const { explode } = await import(pathToFileURL(join(dir, "lib.ts")).href);
    let error: unknown;
    try {
      explode("test");
    } catch (caught) {
      error = caught;
    }
    const frames = framesOf(error);
    assert.equal(frames[0].fn, "explode");
    assert.equal(frames[0].url, pathToFileURL(join(dir, "lib.ts")).href);
    assert.equal(frames[0].line, 2);
    assert.equal(frames[0].kind, "app");
    assert.match(
      frames[0].source!.lines[frames[0].line - frames[0].source!.first],
      /throw new Error/,
    );
    assert.match(
      tracebackText(error),
      /Error: cannot <b>test<\/b>\n\nTraceback \(most recent call first\):\n {2}\* at explode/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("framesOf() takes a place from the end of a message only, as Deno puts a failed import's", () => {
  const quoted = new Error("cannot read at file:///srv/data.ts:3:4 today");
  assert.notEqual(framesOf(quoted)[0].url, "file:///srv/data.ts");
  const failed = new TypeError(
    'Module not found "file:///srv/gone.ts".\n    at file:///srv/app.ts:1:19',
  );
  assert.deepEqual(
    [framesOf(failed)[0].fn, framesOf(failed)[0].url, framesOf(failed)[0].line],
    ["<module>", "file:///srv/app.ts", 1],
  );
});

Deno.test("runDev() answers an exception with a traceback page, HTML or text by Accept", async () => {
  await withDev(await project(), async (dev, dir) => {
    const html = await fetch(new URL("/boom", dev.url), {
      headers: { Accept: "text/html" },
    });
    assert.equal(html.status, 500);
    assert.equal(html.headers.get("content-type"), "text/html; charset=utf-8");
    const page = await html.text();
    // The message is escaped: nothing the app threw becomes markup.
    assert.ok(page.includes("Error: cannot &lt;b&gt;compute&lt;/b&gt;"));
    assert.ok(!page.includes("<b>compute</b>"));
    assert.ok(page.includes(`${pathToFileURL(join(dir, "lib.ts")).href}:2:`));
    assert.ok(page.includes(`${pathToFileURL(join(dir, "app.ts")).href}:3:`));
    assert.match(
      page,
      /<b class="here"><span class="n">2<\/span> {3}throw new Error/,
    );
    assert.match(
      page,
      /<h2>Your code<\/h2>\n<ol class="frames app"><li class="frame app">/,
    );
    assert.match(page, /Library and runtime frames/);

    const text = await fetch(new URL("/boom", dev.url));
    assert.equal(text.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.match(
      await text.text(),
      /^Error: cannot <b>compute<\/b>\n\nTraceback \(most recent call first\):\n {2}\* at explode/,
    );

    assert.equal(await (await fetch(dev.url)).text(), "fine");
  });
});

Deno.test("runDev() shows where a syntax error is, with its source lines", async () => {
  const dir = await project();
  await withDev(dir, async (dev) => {
    await Deno.writeTextFile(
      join(dir, "lib.ts"),
      "export function explode(what: string): never {\n  throw new Error(what;\n}\n",
    );
    const deadline = Date.now() + 10_000;
    let page = "";
    while (Date.now() < deadline) {
      const response = await fetch(dev.url, {
        headers: { Accept: "text/html" },
      });
      page = await response.text();
      if (response.status === 500) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.match(page, /The app failed to load/);
    assert.ok(page.includes(`${pathToFileURL(join(dir, "lib.ts")).href}:2:`));
    assert.match(
      page,
      /<b class="here"><span class="n">2<\/span> {3}throw new Error\(what;\n<\/b><span class="n">3<\/span> }\n<\/pre>/,
    );
    const text = await (await fetch(dev.url)).text();
    assert.match(
      text,
      /^The app failed to load[\s\S]*Traceback \(most recent call first\):\n {2}\* at <module> \(file:/,
    );
  });
});

/** The frames of a traceback page's list, `app` or `other`, as text. */
function framesIn(page: string, list: "app" | "other"): string[] {
  const ol = page.match(
    new RegExp(`<ol class="frames ${list}">([\\s\\S]*?)</ol>`),
  )?.[1] ?? "";
  return [...ol.matchAll(
    /<code class="fn">([^<]*)<\/code> <span class="where">([^<]*)<\/span>/g,
  )].map(([, fn, where]) => `${fn} ${where.replace(/^file:\/\/\S+\//, "")}`);
}

const HANDLER = `async function step(): Promise<never> {
  await null;
  throw new Error("step failed");
}
export default async function handler(environ: { PATH_INFO: string }, startResponse: (s: string, h: [string, string][]) => unknown) {
  if (environ.PATH_INFO === "/async") await (async () => { await step(); })();
  if (environ.PATH_INFO === "/callback") [1].map(() => { throw new Error("in a callback"); });
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return ["fine"];
}
`;

async function htmlPage(url: string): Promise<string> {
  const response = await fetch(url, { headers: { Accept: "text/html" } });
  assert.equal(response.status, 500);
  return await response.text();
}

Deno.test("tracebackHtml() sets an async handler's frames, named or not, with the app's own", async () => {
  await withDev(await tempProject({ "app.ts": HANDLER }), async (dev) => {
    const page = await htmlPage(`${dev.url}async`);
    assert.deepEqual(framesIn(page, "app"), [
      "step app.ts:3:9",
      "&lt;anonymous&gt; app.ts:6:60",
      "handler app.ts:6:39",
    ]);
    assert.ok(framesIn(page, "other").every((frame) => !/app\.ts/.test(frame)));
  });
});

Deno.test("tracebackText() names an anonymous function <anonymous> and top-level code <module>", async () => {
  const dir = await tempProject({
    "app.ts": HANDLER,
    "lib.ts": '[1].forEach(() => {\n  throw new Error("at import");\n});\n',
  });
  await withDev(dir, async (dev) => {
    const page = await htmlPage(`${dev.url}callback`);
    assert.deepEqual(framesIn(page, "app"), [
      "&lt;anonymous&gt; app.ts:7:64",
      "handler app.ts:7:46",
    ]);

    await Deno.writeTextFile(
      join(dir, "app.ts"),
      `import "./lib.ts";\n${HANDLER}`,
    );
    const deadline = Date.now() + 10_000;
    let text = "";
    while (!text.includes("failed to load")) {
      assert.ok(Date.now() < deadline, `never failed to load: ${text}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
      text = await (await fetch(dev.url)).text();
    }
    assert.match(
      text,
      /\* at <anonymous> \(file:\S+\/lib\.ts:2:9\)\n.*\n {2}\* at <module> \(file:\S+\/lib\.ts:1:5\)/,
    );
  });
});

Deno.test("runDev() shows a failed import's own line, without colour codes", async () => {
  const dir = await tempProject({
    "app.ts": 'import { x } from "./missing.ts";\nexport default () => x;\n',
  });
  await withDev(dir, async (dev) => {
    const page = await htmlPage(dev.url);
    assert.ok(!page.includes("\x1b"), "no ANSI codes on the page");
    assert.match(
      page,
      /<h1>TypeError: Module not found &quot;file:\S+\/missing\.ts&quot;\.<\/h1>\n<pre class="message"> {4}at file:\S+\/app\.ts:1:19[\s\S]*?<\/pre>/,
    );
    assert.deepEqual(framesIn(page, "app"), ["&lt;module&gt; app.ts:1:19"]);
    assert.match(
      page,
      /<b class="here"><span class="n">1<\/span> import \{ x \} from &quot;\.\/missing\.ts&quot;;/,
    );
    assert.ok(!page.includes("No frame of the app's own code"));

    const text = await (await fetch(dev.url)).text();
    assert.ok(!text.includes("\x1b"), "no ANSI codes in the text");
    assert.match(text, /\n {2}\* at <module> \(file:\S+\/app\.ts:1:19\)\n/);
  });
});

Deno.test("debugPage() shows the request line with its query string", async () => {
  const lines: string[] = [];
  await withDev(await project(), async (dev) => {
    const page = await htmlPage(`${dev.url}boom?a=1&b=%20`);
    assert.match(page, /<p class="request">GET \/boom\?a=1&amp;b=%20<\/p>/);
    const text = await (await fetch(`${dev.url}boom?c=3`)).text();
    assert.match(text, /^Error: cannot <b>compute<\/b>\n/);
  }, { log: (line) => lines.push(line) });
  assert.ok(
    lines.some((line) => line.startsWith("error in GET /boom?a=1&b=%20: ")),
    lines.join("\n"),
  );
});

Deno.test("dev.ts on a pipe prints a failed import and a traceback without ANSI codes", async () => {
  const dir = await tempProject({
    "app.ts": 'import { x } from "./missing.ts";\nexport default () => x;\n',
  });
  const dev = spawnWithColour(
    new URL("../../dev.ts", import.meta.url).pathname,
    dir,
  );
  try {
    const url = (await dev.waitFor(/Listening on (\S+)/, "stdout"))[1];
    await dev.waitFor(/failed to load: TypeError: Module not found/, "stdout");
    for (const accept of ["text/html", "*/*"]) {
      const page = await (await fetch(url, { headers: { accept } })).text();
      assert.match(page, /app\.ts:1:19/);
      assert.ok(!page.includes("\x1b"), `no ANSI codes for ${accept}`);
    }
    await Deno.writeTextFile(
      join(dir, "app.ts"),
      'export default () => {\n  throw new Error("kaboom");\n};\n',
    );
    await dev.waitFor(/reloaded \(\S*app\.ts\)/, "stdout");
    await (await fetch(`${url}boom`)).text();
    await dev.waitFor(/GET \/boom 500 /, "stdout");
  } finally {
    await dev.stop("SIGINT");
    await Deno.remove(dir, { recursive: true });
  }
  assert.match(dev.stdout, /error in GET \/boom: Error: kaboom/);
  assert.ok(!dev.output().includes("\x1b"), dev.output());
});

Deno.test("dev.ts colours its lines on a terminal only, and not under NO_COLOR", async () => {
  const dir = await tempProject({
    "app.ts":
      'export default (_e: unknown, sr: (s: string, h: [string, string][]) => unknown) => {\n  sr("200 OK", []);\n  return ["ok"];\n};\n',
  });
  const dev = new URL("../../dev.ts", import.meta.url).pathname;
  // util-linux's script(1) runs the command on a pseudo-terminal.
  const onTerminal = async (env: string) => {
    const run = new Spawned(
      "script",
      [
        "-qec",
        `env ${env} '${Deno.execPath()}' run -A '${dev}' app.ts --port 0`,
        "/dev/null",
      ],
      {},
      dir,
    );
    try {
      const url = (await run.waitFor(/Listening on (\S+?)\r?\n/, "stdout"))[1];
      await (await fetch(url)).text();
      await run.waitFor(/GET \/ /, "stdout");
      await run.waitFor(/ ms\r?\n/, "stdout");
    } finally {
      await run.stop("SIGTERM");
    }
    return run.stdout;
  };
  try {
    const coloured = await onTerminal("-u NO_COLOR");
    assert.ok(coloured.includes("GET / \x1b[32m200\x1b[0m "), coloured);
    assert.ok(coloured.includes("\x1b[35mloaded\x1b[0m in "), coloured);
    const plain = await onTerminal("NO_COLOR=1");
    assert.match(plain, /GET \/ 200 /);
    assert.ok(!plain.includes("\x1b"), plain);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
