/**
 * Reading an upload line by line from `environ["wsgi.input"]`.
 *
 * `wsgi.input` is asynchronous, so `for await (const line of input)` reads
 * one line at a time (each a `Uint8Array` ending in `\n`, except perhaps the
 * last), holding only that line in memory. It never reads past
 * `CONTENT_LENGTH`, and a chunked upload, which has no `CONTENT_LENGTH`, is
 * read to its end: the loop is the same for both.
 *
 * The answer is JSON: how many lines and bytes arrived, each line's length
 * in bytes, and the `CONTENT_LENGTH` the request declared (`null` when it
 * was chunked).
 *
 * ```sh
 * deno run -A server.ts examples/upload.ts &
 * curl --data-binary @README.md http://127.0.0.1:8000/
 * curl -H 'Transfer-Encoding: chunked' --data-binary @README.md http://127.0.0.1:8000/
 * ```
 *
 * Use the server's `maxBodySize` option (`--max-body` on the CLI) to limit
 * how much a client may send.
 *
 * @module
 */
import type { App } from "../mod.ts";

/** What {@linkcode upload} answers with. */
export interface UploadReport {
  /** Lines received; a last line without `\n` counts too. */
  lines: number;
  /** Bytes received. */
  bytes: number;
  /** Each line's length in bytes, its `\n` included. */
  lineLengths: number[];
  /** The request's `CONTENT_LENGTH`; null for a chunked upload. */
  contentLength: string | null;
}

/** Counts the lines and bytes of a POST or PUT body. */
export const upload: App = async (environ, startResponse) => {
  const method = environ.REQUEST_METHOD;
  if (method !== "POST" && method !== "PUT") {
    startResponse("405 Method Not Allowed", [
      ["Content-Type", "text/plain; charset=utf-8"],
      ["Allow", "POST, PUT"],
    ]);
    return ["POST or PUT a body to count its lines.\n"];
  }
  const report: UploadReport = {
    lines: 0,
    bytes: 0,
    lineLengths: [],
    contentLength: environ.CONTENT_LENGTH ?? null,
  };
  for await (const line of environ["wsgi.input"]) {
    report.lines += 1;
    report.bytes += line.length;
    report.lineLengths.push(line.length);
  }
  startResponse("200 OK", [["Content-Type", "application/json"]]);
  return [JSON.stringify(report) + "\n"];
};

export default upload;
