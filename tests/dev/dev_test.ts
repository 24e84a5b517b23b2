/** dev.ts: the dev server reloading a real app on real saves. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runDev } from "../../dev.ts";
import { tempProject } from "./_helpers.ts";

async function project(): Promise<string> {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  await Deno.writeTextFile(
    join(dir, "app.ts"),
    `import { version } from "./lib.ts";
export default (_environ: unknown, startResponse: (s: string, h: [string, string][]) => unknown) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return [version];
};
`,
  );
  await Deno.writeTextFile(
    join(dir, "lib.ts"),
    'export const version = "v1";\n',
  );
  return dir;
}

/** Fetches `url` until `ok` holds for the response, for at most 10 s. */
async function until(
  url: string,
  ok: (status: number, text: string) => boolean,
) {
  const deadline = Date.now() + 10_000;
  let last = "";
  while (Date.now() < deadline) {
    const response = await fetch(url);
    const text = await response.text();
    if (ok(response.status, text)) return text;
    last = `${response.status} ${text}`;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`Gave up waiting; last answer: ${last}`);
}

Deno.test("runDev() reloads on save, shows a broken save, and recovers when it is fixed", async () => {
  const dir = await project();
  const lines: string[] = [];
  const dev = await runDev({
    app: join(dir, "app.ts"),
    port: 0,
    log: (line) => void lines.push(line),
    onListen() {},
  });
  try {
    assert.equal(await (await fetch(dev.url)).text(), "v1");
    await Deno.writeTextFile(
      join(dir, "lib.ts"),
      'export const version = "v2";\n',
    );
    await until(dev.url, (_status, text) => text === "v2");
    await Deno.writeTextFile(join(dir, "lib.ts"), "export const version = ;\n");
    await until(dev.url, (status) => status === 500);
    await Deno.writeTextFile(
      join(dir, "lib.ts"),
      'export const version = "v3";\n',
    );
    await until(dev.url, (_status, text) => text === "v3");
  } finally {
    await dev.close();
    await Deno.remove(dir, { recursive: true });
  }
  assert.match(lines[0], /^loaded in \d+ ms$/);
  assert.ok(
    lines.some((line) =>
      new RegExp(`^reloaded \\(.*lib\\.ts\\) in \\d+ ms$`).test(line)
    ),
  );
  assert.ok(
    lines.some((line) =>
      /^error reloaded .*: the app failed to load/.test(line)
    ),
  );
  assert.ok(lines.some((line) => /^GET \/ 200 [\d.]+ ms$/.test(line)));
  assert.ok(lines.some((line) => /^GET \/ 500 [\d.]+ ms$/.test(line)));
});

Deno.test("dev.ts --help lists its options, and bad arguments exit 2", async () => {
  const run = (...args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../../dev.ts", import.meta.url).pathname,
        ...args,
      ],
      stdin: "null",
      env: { NO_COLOR: "1" },
    }).output();
  const help = await run("--help");
  assert.equal(help.code, 0);
  const text = new TextDecoder().decode(help.stdout);
  for (
    const option of [
      "--host",
      "--port",
      "--watch",
      "--ignore",
      "--no-live-reload",
      "--no-debugger",
      "--trust-host",
      "--expose-console",
      "--help",
      "WSGI_DEV_PIN",
    ]
  ) {
    assert.ok(text.includes(option), option);
  }
  const bad = await run("--port", "nope", "app.ts");
  assert.equal(bad.code, 2);
  assert.match(
    new TextDecoder().decode(bad.stderr),
    /dev\.ts: error: --port must be a port number/,
  );
  const none = await run();
  assert.equal(none.code, 2);
});

Deno.test("dev.ts prints the PIN once, a line per request, and a marked traceback", async () => {
  const dir = await tempProject({
    "app.ts":
      `export default (environ: { PATH_INFO: string }, startResponse: (s: string, h: [string, string][]) => unknown) => {
  if (environ.PATH_INFO === "/boom") throw new Error("kaboom");
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  return ["ok"];
};
`,
  });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../../dev.ts", import.meta.url).pathname,
      join(dir, "app.ts"),
      "--port",
      "0",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", WSGI_DEV_PIN: "271-828-182" },
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  const until = async (pattern: RegExp) => {
    while (!pattern.test(out)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`dev.ts ended early:\n${out}`);
      out += value;
    }
  };
  try {
    await until(/Debugger PIN: .*\n/);
    assert.match(out, /^loaded in \d+ ms\n/);
    assert.match(
      out,
      /Debugger PIN: 271-828-182 \(console at http:\/\/127\.0\.0\.1:\d+\/__wsgi_dev__\/console\)/,
    );
    const url = out.match(/Listening on (\S+)/)![1];
    await (await fetch(url)).text();
    await (await fetch(`${url}boom`)).text();
    await until(/GET \/boom 500 /);
    assert.match(out, /GET \/ 200 \d+\.\d ms\n/);
    assert.match(out, /error in GET \/boom: Error: kaboom\n\nTraceback/);
    assert.equal(out.match(/Debugger PIN/g)!.length, 1);
  } finally {
    child.kill("SIGINT");
    await reader.cancel();
    await child.stderr.cancel();
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
});
