/**
 * Baseline for the file rows: raw `Deno.serve` answering `/<name>` with
 * `(await Deno.open(path)).readable` and the Content-Length known from
 * start-up, so that Deno sends the file from its own stream.
 *
 * @module
 */
import { LISTEN } from "./_listen.ts";
import { FILES, filesDir } from "./_files.ts";

const dir = filesDir();

Deno.serve(LISTEN, async (req) => {
  const name = req.url.slice(req.url.lastIndexOf("/") + 1);
  const size = FILES[name];
  if (size === undefined) return new Response("Not Found", { status: 404 });
  const file = await Deno.open(`${dir}/${name}`);
  return new Response(file.readable, {
    headers: {
      "content-type": "application/octet-stream",
      "content-length": String(size),
    },
  });
});
