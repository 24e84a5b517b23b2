/**
 * pythonApp() imported over HTTP, as from JSR: the runner is not a file on
 * disk then, so the pool fetches it. The module is served from this
 * checkout by serve() and staticFiles, and imported by a program run as a
 * process from a temporary folder.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { staticFiles } from "../../middleware/static_files.ts";
import type { App } from "../../mod.ts";
import { Spawned, withServer } from "../_helpers.ts";
import { PY } from "./_python.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PLAIN = fileURLToPath(
  new URL("./fixtures/plain_app.py", import.meta.url),
);

const missing: App = (_environ, startResponse) => {
  startResponse("404 Not Found", [["Content-Type", "text/plain"]]);
  return ["not found\n"];
};

Deno.test("pythonApp() fetches its runner when imported over HTTP", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await withServer(staticFiles(ROOT)(missing), async (_server, port) => {
      await Deno.writeTextFile(
        `${dir}/main.ts`,
        `import { pythonApp } from "http://127.0.0.1:${port}/python.ts";
import { Client } from "http://127.0.0.1:${port}/testing.ts";
await using app = pythonApp(${JSON.stringify(PLAIN)}, ${JSON.stringify(PY)});
await app.ready;
const response = await new Client(app).get("/hello");
console.log("answer:", JSON.stringify(response.text()));
`,
      );
      const child = new Spawned(
        Deno.execPath(),
        [
          "run",
          "-A",
          "--quiet",
          "--no-config",
          "main.ts",
        ],
        { DENO_DIR: `${dir}/cache`, NO_COLOR: "1" },
        dir,
      );
      const status = await child.stop(undefined, 60_000);
      assert.equal(status.code, 0, child.output());
      assert.match(child.stdout, /answer: "Hello, World!\\n"/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
