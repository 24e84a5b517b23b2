/** dev.ts: the dev server reloading a real app on real saves. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runDev } from "../../dev.ts";

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
  for (const option of ["--host", "--port", "--watch", "--ignore", "--help"]) {
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
