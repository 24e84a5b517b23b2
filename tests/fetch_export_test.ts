/** fetchExport(): a gateway app as the default export `deno serve` runs. */
import assert from "node:assert/strict";

/** Reads lines from a stream until one matches, failing after `ms`. */
async function waitForLine(
  stream: ReadableStream<Uint8Array>,
  pattern: RegExp,
  ms = 20_000,
): Promise<RegExpMatchArray> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const timer = setTimeout(() => reader.cancel(), ms);
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) {
        throw new Error(`No line matched ${pattern}; output was:\n${seen}`);
      }
      seen += value;
      const match = seen.match(pattern);
      if (match) return match;
    }
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
}

Deno.test("fetchExport() serves an app under `deno serve`", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "serve",
      "-A",
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "tests/fixtures/serve_export.ts",
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    // deno serve prints its address on stderr in this version, stdout in others.
    const [, url] = await Promise.any([
      waitForLine(child.stderr, /Listening on (http:\/\/\S+)/),
      waitForLine(child.stdout, /Listening on (http:\/\/\S+)/),
    ]);
    const response = await fetch(new URL("/hello%20there", url));
    const port = new URL(url).port;
    assert.deepEqual(await response.json(), {
      path: "/hello there",
      server: `127.0.0.1:${port}`,
      multiprocess: true,
    });
  } finally {
    child.kill();
    await child.status;
  }
});
