/**
 * Baseline for the file rows: raw `Deno.serve` doing the least work for
 * `/<name>`: `Deno.readFile` for a file up to 64 KiB, else
 * `(await Deno.open(path)).readable` with the Content-Length known from
 * start-up, so that Deno sends the file from its own stream.
 *
 * @module
 */
import { LISTEN } from "./_listen.ts";
import { FILES, filesDir, READ_WHOLE_MAX } from "./_files.ts";

const dir = filesDir();

Deno.serve(LISTEN, async (req) => {
  const name = req.url.slice(req.url.lastIndexOf("/") + 1);
  const size = FILES[name];
  if (size === undefined) return new Response("Not Found", { status: 404 });
  const path = `${dir}/${name}`;
  const headers = {
    "content-type": "application/octet-stream",
    "content-length": String(size),
  };
  if (size <= READ_WHOLE_MAX) {
    return new Response(await Deno.readFile(path), { headers });
  }
  const file = await Deno.open(path);
  return new Response(file.readable, { headers });
});
