/**
 * A file download through `environ["wsgi.file_wrapper"]`.
 *
 * The wrapper turns an open `Deno.FsFile` into a body that the server sends
 * from the file's own stream, without passing each chunk through the app.
 * The length comes from `stat()`, so the client gets a `Content-Length` and
 * a progress bar; `Content-Disposition: attachment` makes browsers save the
 * file instead of showing it.
 *
 * The file is `$DOWNLOAD_FILE`, or `examples/static/hello.txt` when unset:
 *
 * ```sh
 * DOWNLOAD_FILE=README.md deno run -A server.ts examples/download.ts
 * curl -OJ http://127.0.0.1:8000/
 * ```
 *
 * @module
 */
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import type { App, Body, Environ, StartResponse } from "../mod.ts";

/** Content types by file extension; anything else is a byte stream. */
const TYPES: Record<string, string> = {
  ".txt": "text/plain; charset=utf-8",
  ".md": "text/markdown; charset=utf-8",
  ".html": "text/html; charset=utf-8",
  ".json": "application/json",
  ".pdf": "application/pdf",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".zip": "application/zip",
};

/** The file served when `$DOWNLOAD_FILE` is not set. */
export const DEFAULT_FILE: URL = new URL("./static/hello.txt", import.meta.url);

/** Builds an app that answers every GET or HEAD with the file at `path`. */
export function downloadApp(path: string | URL): App {
  const name = basename(typeof path === "string" ? path : fileURLToPath(path));
  const dot = name.lastIndexOf(".");
  const type = (dot > 0 && TYPES[name.slice(dot).toLowerCase()]) ||
    "application/octet-stream";

  return async (environ, startResponse) => {
    const method = environ.REQUEST_METHOD;
    if (method !== "GET" && method !== "HEAD") {
      return plain(startResponse, "405 Method Not Allowed", [[
        "Allow",
        "GET, HEAD",
      ]]);
    }
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      return plain(startResponse, "404 Not Found");
    }
    try {
      const { size } = await file.stat();
      startResponse("200 OK", [
        ["Content-Type", type],
        ["Content-Length", String(size)],
        ["Content-Disposition", contentDisposition(name)],
      ]);
      // The server closes the file once it is sent, or the client is gone.
      return wrap(environ, file);
    } catch (error) {
      file.close();
      throw error;
    }
  };
}

/**
 * The file as a body: through `wsgi.file_wrapper`, or, on a server that
 * does not offer one (PEP 3333 makes it optional), chunk by chunk.
 */
function wrap(environ: Environ, file: Deno.FsFile): Body {
  const wrapper = environ["wsgi.file_wrapper"];
  if (wrapper !== undefined) return wrapper(file);
  return (async function* () {
    // The stream closes the file at its end or when the loop stops early.
    for await (const chunk of file.readable) yield chunk;
  })();
}

/**
 * `attachment; filename="..."`. Header values are Latin-1 native strings,
 * so a name outside ASCII also goes in RFC 6266's `filename*` as UTF-8.
 */
export function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  if (ascii === name) return `attachment; filename="${name}"`;
  const encoded = encodeURIComponent(name).replace(
    /['()*]/g,
    (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase(),
  );
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/** A short text/plain answer. */
function plain(
  startResponse: StartResponse,
  status: string,
  headers: [string, string][] = [],
): Body {
  startResponse(status, [
    ["Content-Type", "text/plain; charset=utf-8"],
    ...headers,
  ]);
  return [status.slice(4) + "\n"];
}

/** Serves `$DOWNLOAD_FILE`, or `examples/static/hello.txt`. */
export const download: App = downloadApp(
  Deno.env.get("DOWNLOAD_FILE") ?? DEFAULT_FILE,
);

export default download;
