/**
 * Where the runner is, as a file the interpreter can open. The package may
 * be loaded from JSR (an https: URL) or be embedded in a compiled binary
 * (a file: URL into a virtual file system that only Deno sees), so the
 * runner's text is copied into the pool's own folder in every case.
 *
 * @module
 */

/** Writes `runner.py` into `dir` and returns its path. */
export async function writeRunner(dir: string): Promise<string> {
  const url = new URL("./runner.py", import.meta.url);
  let text: string;
  if (url.protocol === "file:") {
    text = await Deno.readTextFile(url);
  } else {
    const response = await fetch(url);
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(
        `Cannot fetch the Python runner from ${url}: ${response.status}`,
      );
    }
    text = await response.text();
  }
  const path = `${dir}/runner.py`;
  await Deno.writeTextFile(path, text);
  return path;
}
