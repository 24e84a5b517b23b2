/** Helpers for the dev server's Python tests: a Flask project and a real dev.ts. */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, Spawned } from "../_helpers.ts";

const DEV = fileURLToPath(new URL("../../dev.ts", import.meta.url));
const PYTHON = "/usr/bin/python3";

/** A Flask app: `/` answers helper.greeting(), `/boom` divides by zero. */
export const APP = `from flask import Flask
import helper

app = Flask(__name__)


@app.route("/")
def hello():
    return helper.greeting()


@app.route("/boom")
def boom():
    secret = {"answer": 42}
    return secret["answer"] / 0
`;

/** helper.py, its greeting() answering `text`. */
export const helper = (text: string) =>
  `def greeting():\n    return "${text}"\n`;

/** A temp folder with app.py and the helper.py it imports. */
export async function project(): Promise<string> {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  await Deno.writeTextFile(join(dir, "app.py"), APP);
  await Deno.writeTextFile(join(dir, "helper.py"), helper("v0"));
  return dir;
}

/** `dev.ts app.py` from `dir`, once it listens; then stops it and removes `dir`. */
export async function withDevPython(
  dir: string,
  fn: (url: string, dev: Spawned) => Promise<void>,
  args: string[] = [],
  spec = "app.py",
  env: Record<string, string> = {},
): Promise<void> {
  const port = freePort();
  const dev = new Spawned(
    Deno.execPath(),
    [
      "run",
      "-A",
      DEV,
      "--python",
      PYTHON,
      "--port",
      String(port),
      "--no-live-reload",
      ...args,
      spec,
    ],
    { NO_COLOR: "1", PYTHONDONTWRITEBYTECODE: "1", ...env },
    dir,
  );
  try {
    await dev.waitFor(/Listening on/, "stdout");
    await fn(`http://127.0.0.1:${port}/`, dev);
  } finally {
    await dev.stop("SIGINT");
    await Deno.remove(dir, { recursive: true });
  }
}
