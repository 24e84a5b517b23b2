/**
 * `staticFiles`: serves the files of a directory, or one file, in front of
 * an app.
 *
 * When to use it: in development, and in small deployments where the gateway
 * is the only server, to serve a `public/` directory, a favicon or a built
 * front end next to the app. It answers GET, HEAD and OPTIONS with
 * validators (ETag, Last-Modified), conditional requests (304, 412), single
 * byte ranges (206), precompressed siblings (`name.br`, `name.gz`) when asked,
 * and `Cache-Control` by path. A small file (1 MiB by default) is sent as
 * one body from memory and kept in a bounded cache; a larger one is sent
 * from its own stream through `wsgi.file_wrapper`, never read into memory.
 * Anything it does not serve (no such file, another method) goes to the
 * wrapped app unchanged.
 *
 * When not to: behind nginx, Caddy or a CDN, let them serve the files: they
 * use `sendfile`, compress on the fly and handle multipart ranges. There is
 * no directory listing and no compression on the fly (see
 * {@linkcode StaticFilesOptions.precompressed} for files compressed ahead).
 *
 * Security: no request reads outside the root. The path is `PATH_INFO`
 * decoded once as strict UTF-8 (invalid UTF-8 such as the overlong
 * `%C0%AE` is a miss); a NUL or a backslash anywhere is a miss; `.` and
 * `..` segments are resolved as text, and a `..` that would climb above the
 * root is a miss, not clamped. The candidate is then resolved with
 * `realpath`, and a result outside the root (a symlink pointing out of it)
 * is a miss too; the resolved path is what gets opened. Percent signs that
 * survive decoding are literal: `%252e%252e` names a file called
 * `%2e%2e`. Segments that begin with a dot (`.env`, `.git/`) are not served
 * unless {@linkcode StaticFilesOptions.dotfiles} is true. Only regular files
 * are opened (never a FIFO or a device). What remains is the race of
 * somebody with write access to the root swapping a directory for a symlink
 * between the check and the open; do not serve directories that untrusted
 * users can write to.
 *
 * The cache keeps no `realpath` result: a cached path is re-checked on every
 * hit, by one `lstat` per directory from the root down (each must still be a
 * directory, not a symlink, so the path resolved as text is still under the
 * root) and one of the file (still a regular file, no symlink, with the same
 * device, inode, size, mtime and ctime). Anything else (a symlink swapped in
 * anywhere on the way, a file replaced, deleted or turned into a directory)
 * drops the entry and the request is looked up afresh as above. Only paths
 * with no symlink on them are cached, and only files and directories that
 * have not changed for two seconds, so that a later change shows in their
 * times (Deno reports ctime in whole seconds). One `lstat` of the file
 * alone would not do: a directory moved out of the root and replaced by a
 * symlink to where it went, or the root swapped for a symlink to a folder
 * that holds a hard link of the file, leaves the file's inode, size and
 * times as they were, and the hit would serve what a fresh lookup refuses.
 * A watch of the root is not used: its events arrive late, and a request in
 * between would be served from a cache that no longer holds.
 *
 * A path not in the cache is first walked as text, one `lstat` per segment
 * from the root down: a segment that does not exist, under directories
 * that are no symlinks, is a miss without `realpath`, whose error (a
 * message with the path, a stack) made a miss cost more than the router
 * behind it; anything else (all of it exists, a symlink on the way) goes to
 * `realpath` as above. Such a miss is cached by the path down to the name
 * that does not exist, with the deepest directory that does and its
 * device, inode, mtime and ctime, once that directory has not changed for
 * two seconds: `/api/users/1` and `/api/users/2` share one entry when the
 * root holds no `api`. The next request under that path repeats the walk
 * down to that directory only (each still a directory, no symlink, the
 * last one's stamp unchanged; adding or renaming an entry into a directory
 * changes its times): then it is still a miss. Anything
 * else drops the entry and the path is looked up afresh. Client paths are
 * unbounded input: this cache holds at most 1024 paths of up to 1024
 * characters, least recently used out first, apart from the bytes
 * `cacheSize` bounds (and off with it). Other misses (a dotfile, a `..`
 * above the root, bad UTF-8, another method) are decided from the text
 * alone and touch no file.
 *
 * Environ keys: reads `REQUEST_METHOD`, `PATH_INFO`, `SCRIPT_NAME` and
 * `QUERY_STRING` (for the directory redirect), `HTTP_IF_MATCH`,
 * `HTTP_IF_UNMODIFIED_SINCE`, `HTTP_IF_NONE_MATCH`, `HTTP_IF_MODIFIED_SINCE`,
 * `HTTP_RANGE`, `HTTP_IF_RANGE`, `HTTP_ACCEPT_ENCODING` (with
 * `precompressed`) and `wsgi.file_wrapper`; writes nothing.
 *
 * Decisions, for the record:
 *
 * - The ETag is strong by default, `"<mtime ms in hex>-<size in hex>"` as
 *   nginx makes it, so that `If-Range` can use it. It changes whenever the
 *   file's size or modification time does; an edit that keeps both (within
 *   the same millisecond) goes unnoticed. Choose `etag: "weak"` to say so to
 *   caches; a weak ETag never satisfies `If-Range`.
 * - Preconditions are evaluated in RFC 9110 13.2.2's order: a failed
 *   `If-Match` (strong comparison) or, without it, `If-Unmodified-Since` is
 *   a 412; then `If-None-Match` (weak comparison) or, without it,
 *   `If-Modified-Since` answers 304. Dates are read as HTTP-dates only
 *   (IMF-fixdate, RFC 850, asctime; always UTC): anything else, an ISO date
 *   included, is ignored, as RFC 9110 13.1.3 and 13.1.4 say.
 * - `If-Match` and `If-None-Match` are read as RFC 9110 lists of
 *   entity-tags: a comma or backslash inside a quoted tag is part of it, an
 *   element that is no entity-tag matches nothing, and a quote never closed
 *   leaves nothing to match (a 200 for `If-None-Match`, a 412 for
 *   `If-Match`), where nginx splits at every comma.
 * - One range (`bytes=a-b`, `a-`, `-n`) gets a 206; a range that starts past
 *   the end a 416 with `Content-Range: bytes *\/size`; several ranges, a
 *   malformed header, another unit, or a HEAD request get the whole file as a
 *   200 (RFC 9110 lets a server ignore `Range`; multipart answers are rarely
 *   worth their cost). An empty file is sent whole for a range from its
 *   first byte or a suffix range, as nginx does: no 206 can carry zero bytes.
 * - `If-Range` with a date holds when it is exactly the Last-Modified and
 *   that second is over (a strong validator, RFC 9110 13.1.5 and 8.8.2.2).
 * - 412 and 416 carry no validators and no `Cache-Control`: they describe
 *   an error, not the file. `Accept-Ranges` goes with the whole file.
 * - A directory asked for without its trailing slash is redirected (301) to
 *   the slash form, keeping the query, so that relative links in its index
 *   resolve; with the slash, its index file is served, or the request falls
 *   through. A file asked for with a trailing slash falls through.
 * - A path that is refused (`..` above the root, NUL, backslash, bad UTF-8,
 *   a symlink out of the root) falls through like a missing file: the app
 *   decides what a 404 looks like, and nothing tells an attacker which rule
 *   stopped them.
 * - OPTIONS (RFC 9110 9.3.7) on a path that names a file is answered
 *   `200 OK` with `Allow: GET, HEAD, OPTIONS` and `Content-Length: 0`,
 *   from the lookup alone; on any other path it falls through, so the app
 *   (or a CORS middleware in front) answers for what is not a file. nginx
 *   answers 405 for OPTIONS on a static file, which tells a client nothing
 *   about the methods that work.
 * - HEAD is answered from the lookup (or the cache) alone: the file is not
 *   opened, whatever its size.
 * - With `precompressed`, `name.br` or `name.gz` is sent to a client whose
 *   `Accept-Encoding` names that coding with a q above 0 (`*` does not
 *   count, as for nginx), with `Content-Encoding`, the original's type, and
 *   the encoded file's own length, Last-Modified and ETag (which carries the
 *   coding, `"<mtime>-<size>.gzip"` or `.br`, so that it never equals the
 *   original's). Ranges and conditionals apply to the encoded bytes (nginx's
 *   `gzip_static` sends the whole file to a Range; RFC 9110 14.2 allows
 *   both). Every answer for a file with such a sibling says
 *   `Vary: Accept-Encoding`, the one that sends the original included, as
 *   nginx's `gzip_vary` does.
 * - `realpath`, `stat` and `open` are synchronous: on a local disk they
 *   take a few microseconds each, where an async op costs about 50 µs of
 *   thread hops. A hit is thus answered without a promise; reading the file
 *   stays asynchronous. On a slow network file system these calls would
 *   block the event loop; serve such files otherwise.
 * - A file up to `smallFileSize` bytes is read whole (open, fstat that it is
 *   still the file looked up, read, close) and sent as one in-memory body,
 *   the server's fastest path; the cache keeps those bytes, bounded by
 *   `cacheSize` with least recently used entries out first. The default
 *   of 1 MiB is measured (`bench/static.ts --small-file-size`): a cached
 *   64 KiB file from memory went out at 0.90x raw `Deno.readFile`, from
 *   the file's stream at 0.46x; a cached 1 MiB file at 1.86x raw
 *   `Deno.open().readable`, from the stream at 0.78x. Above it, a file
 *   read per request would hold that much memory for each one in flight.
 * - A larger file, and a range that runs to its end, are sent from the
 *   file's own stream (`wsgi.file_wrapper`'s fast path, no JavaScript per
 *   chunk); a range that stops earlier goes through a stream that reads
 *   exactly its length, 64 KiB at a time.
 *
 * @example Serve `./public` in front of an app
 * ```ts
 * import { staticFiles } from "@wsgi/deno/middleware";
 * import { Client } from "@wsgi/deno/testing";
 * import assert from "node:assert/strict";
 *
 * const root = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${root}/hello.txt`, "Hello, file\n");
 * const app = staticFiles(root, { maxAge: 3600 })((_environ, startResponse) => {
 *   startResponse("404 Not Found", [["Content-Type", "text/plain"]]);
 *   return ["Not Found\n"];
 * });
 *
 * const client = new Client(app);
 * const hit = await client.get("/hello.txt");
 * assert.equal(hit.text(), "Hello, file\n");
 * assert.equal(hit.headers.get("content-type"), "text/plain; charset=utf-8");
 * assert.equal(hit.headers.get("cache-control"), "public, max-age=3600");
 * assert.equal((await client.get("/missing.txt")).status, 404);
 * await Deno.remove(root, { recursive: true });
 * ```
 *
 * @module
 */
import type {
  App,
  Body,
  Environ,
  Header,
  Middleware,
  StartResponse,
} from "../_contract/types.ts";
import { parseHttpDate } from "../_shared/http_date.ts";
import { splitList } from "../_shared/list.ts";
import { decodeNative, encodeNative } from "../_shared/native.ts";
import { PATH_SAFE, percentByte, quoteNative } from "../_shared/percent.ts";

/** Options of {@linkcode staticFiles}. */
export interface StaticFilesOptions {
  /**
   * The URL path the root is served at. Requests outside it go to the app;
   * a request for `prefix + "/a.txt"` reads `a.txt` under the root. For a
   * single file, the one path that serves it.
   *
   * @default {"" for a directory (the whole URL space), "/<file name>" for a file}
   */
  prefix?: string;
  /**
   * The file served for a directory request (a path ending in `/`), or
   * `false` to serve no index: such requests then fall through.
   *
   * @default {"index.html"}
   */
  index?: string | false;
  /**
   * `Cache-Control: public, max-age=<maxAge>` on every file response.
   * Give this or {@linkcode StaticFilesOptions.cacheControl}, not both.
   */
  maxAge?: number;
  /** A `Cache-Control` value sent as it is, such as `"no-cache"`. */
  cacheControl?: string;
  /**
   * The kind of ETag, from the file's size and modification time, or `false`
   * for none. Only a strong ETag satisfies `If-Range`.
   *
   * @default {"strong"}
   */
  etag?: "strong" | "weak" | false;
  /**
   * Serve files and directories whose name begins with a dot (`.env`,
   * `.git`). Off by default, so that such paths fall through.
   *
   * @default {false}
   */
  dotfiles?: boolean;
  /**
   * Extra or replacement content types by extension, such as
   * `{ ".webmanifest": "application/manifest+json" }`. Sent as given.
   */
  contentTypes?: Record<string, string>;
  /**
   * `Cache-Control` by path: the first rule whose `path` matches the
   * file's path under the root (`/assets/app.3f9a2c.js`; a directory's
   * index as `/docs/index.html`) sets the header. Files that no rule
   * matches get {@linkcode StaticFilesOptions.cacheControl} or
   * {@linkcode StaticFilesOptions.maxAge}, if given.
   *
   * @example Fingerprinted assets are immutable, pages revalidated
   * ```ts
   * import { staticFiles } from "@wsgi/deno/middleware";
   * import { Client } from "@wsgi/deno/testing";
   * import assert from "node:assert/strict";
   *
   * const root = await Deno.makeTempDir();
   * await Deno.writeTextFile(`${root}/app.3f9a2c81.js`, "console.log(1);\n");
   * await Deno.writeTextFile(`${root}/index.html`, "<script src=app.3f9a2c81.js></script>\n");
   * const app = staticFiles(root, {
   *   cacheControl: "no-cache",
   *   cacheRules: [{
   *     path: /\.[0-9a-f]{8}\.(?:js|css)$/,
   *     cacheControl: "public, max-age=31536000, immutable",
   *   }],
   * })((_environ, startResponse) => {
   *   startResponse("404 Not Found", [["Content-Type", "text/plain"]]);
   *   return ["Not Found\n"];
   * });
   * const client = new Client(app);
   * const script = await client.get("/app.3f9a2c81.js");
   * assert.equal(script.headers.get("cache-control"), "public, max-age=31536000, immutable");
   * const page = await client.get("/");
   * assert.equal(page.headers.get("cache-control"), "no-cache");
   * await Deno.remove(root, { recursive: true });
   * ```
   */
  cacheRules?: { path: RegExp; cacheControl: string }[];
  /**
   * Serve `name.br` or `name.gz` from beside `name` to a client whose
   * `Accept-Encoding` takes that coding, as nginx's `brotli_static` and
   * `gzip_static` do: with `Content-Encoding`, the type of `name`, the
   * encoded file's own length, ETag and ranges, and `Vary:
   * Accept-Encoding` on every answer for a file that has such a sibling.
   * `true` means both, brotli first; a list gives the codings in order of
   * preference. For a directory root only.
   *
   * @default {false}
   *
   * @example Serve a brotli or gzip file made at build time
   * ```ts
   * import { staticFiles } from "@wsgi/deno/middleware";
   * import { Client } from "@wsgi/deno/testing";
   * import assert from "node:assert/strict";
   * import { gzipSync } from "node:zlib";
   *
   * const root = await Deno.makeTempDir();
   * const css = "body { margin: 0 }\n".repeat(100);
   * await Deno.writeTextFile(`${root}/site.css`, css);
   * await Deno.writeFile(`${root}/site.css.gz`, gzipSync(css));
   * const app = staticFiles(root, { precompressed: true })((_environ, startResponse) => {
   *   startResponse("404 Not Found", [["Content-Type", "text/plain"]]);
   *   return ["Not Found\n"];
   * });
   * const client = new Client(app);
   * const gzipped = await client.get("/site.css", { headers: { "Accept-Encoding": "gzip" } });
   * assert.equal(gzipped.headers.get("content-encoding"), "gzip");
   * assert.equal(gzipped.headers.get("content-type"), "text/css; charset=utf-8");
   * assert.equal(gzipped.headers.get("vary"), "Accept-Encoding");
   * const plain = await client.get("/site.css");
   * assert.equal(plain.text(), css);
   * assert.equal(plain.headers.get("vary"), "Accept-Encoding");
   * await Deno.remove(root, { recursive: true });
   * ```
   */
  precompressed?: boolean | ("br" | "gzip")[];
  /**
   * Files up to this many bytes are read whole and sent as one body from
   * memory, the server's fastest path (and kept in the cache, see
   * {@linkcode StaticFilesOptions.cacheSize}); larger files are sent from
   * their own stream, never read into memory.
   *
   * @default {1048576}
   */
  smallFileSize?: number;
  /**
   * The cache's bound, in bytes: the small files' bytes plus 512 for each
   * entry's metadata, least recently used out first. A hit costs one
   * `lstat` per directory from the root down and one for the file, which
   * must still be the same file (device, inode, size, mtime, ctime). Paths
   * found missing are cached apart, up to a fixed number (see the module
   * notes). 0 turns both off, and every request looks its file up afresh.
   *
   * @default {16777216}
   */
  cacheSize?: number;
}

type Coding = "br" | "gzip";
const EXTENSIONS: Record<Coding, string> = { br: ".br", gzip: ".gz" };
const ALLOW = "GET, HEAD, OPTIONS";

// Content types by extension. Text types get a charset; everything not
// listed is application/octet-stream.
const UTF8 = "; charset=utf-8";
const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html" + UTF8,
  ".htm": "text/html" + UTF8,
  ".css": "text/css" + UTF8,
  ".js": "text/javascript" + UTF8,
  ".mjs": "text/javascript" + UTF8,
  ".json": "application/json" + UTF8,
  ".map": "application/json" + UTF8,
  ".webmanifest": "application/manifest+json" + UTF8,
  ".txt": "text/plain" + UTF8,
  ".md": "text/markdown" + UTF8,
  ".csv": "text/csv" + UTF8,
  ".xml": "application/xml" + UTF8,
  ".svg": "image/svg+xml" + UTF8,
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".avif": "image/avif",
  ".ico": "image/x-icon",
  ".woff": "font/woff",
  ".woff2": "font/woff2",
  ".ttf": "font/ttf",
  ".otf": "font/otf",
  ".wasm": "application/wasm",
  ".pdf": "application/pdf",
  ".zip": "application/zip",
  ".gz": "application/gzip",
  ".tar": "application/x-tar",
  ".mp3": "audio/mpeg",
  ".ogg": "audio/ogg",
  ".wav": "audio/wav",
  ".mp4": "video/mp4",
  ".webm": "video/webm",
};
const DEFAULT_TYPE = "application/octet-stream";

// Measured in bench/static.ts: see the module notes.
const SMALL_FILE_SIZE = 1 << 20;
const CACHE_SIZE = 16 << 20;

const SEP = Deno.build.os === "windows" ? "\\" : "/";
const WINDOWS = Deno.build.os === "windows";

const NON_ASCII = /[^\0-\x7f]/;

// Errors of a lookup that mean "nothing to serve here".
const MISSES = [
  Deno.errors.NotFound,
  Deno.errors.NotADirectory,
  Deno.errors.PermissionDenied,
  Deno.errors.FilesystemLoop,
];
const MISS_CODES = new Set(["ENAMETOOLONG", "EINVAL", "EISDIR"]);

/** Options checked and turned into what a request needs. */
interface Config {
  /** The real path of the root. */
  root: string;
  /** The root followed by a separator: what every served path starts with. */
  rootPrefix: string;
  single: boolean;
  prefix: string[];
  index: string | false;
  cacheControl: string | undefined;
  etag: "strong" | "weak" | false;
  dotfiles: boolean;
  types: Record<string, string>;
  cacheRules: { path: RegExp; cacheControl: string }[];
  /** The precompressed codings, in order of preference. */
  codings: Coding[];
  smallFileSize: number;
  cacheSize: number;
}

/** What every request of one middleware shares. */
interface State {
  config: Config;
  /** Undefined when the cache is off. */
  cache: FileCache | undefined;
  /** Paths found missing; undefined when the cache is off. */
  misses: MissCache | undefined;
}

/**
 * Serves the files under `root` (a directory), or the single file `root`,
 * for GET and HEAD requests; every other request, and every path that names
 * no servable file, goes to the wrapped app.
 *
 * The root and the options are resolved once, here: a root that does not
 * exist, or options that contradict each other, throw at once.
 *
 * @param root A directory, or a file to serve on its own.
 * @param options Prefix, index file, caching, ETag kind, dotfiles, types.
 * @returns A middleware; the app it returns is named `staticFiles`.
 * @throws {Deno.errors.NotFound} When `root` does not exist.
 * @throws {TypeError} When `root` is neither a directory nor a file, or the
 * options are invalid.
 *
 * @example Serve one file at a path of its own
 * ```ts
 * import { staticFiles } from "@wsgi/deno/middleware";
 * import { Client } from "@wsgi/deno/testing";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/robots-production.txt`, "User-agent: *\n");
 * const app = staticFiles(`${dir}/robots-production.txt`, { prefix: "/robots.txt" })(
 *   (_environ, startResponse) => {
 *     startResponse("200 OK", [["Content-Type", "text/plain"]]);
 *     return ["the app\n"];
 *   },
 * );
 * const client = new Client(app);
 * const file = await client.get("/robots.txt");
 * assert.equal(file.text(), "User-agent: *\n");
 * const etag = file.headers.get("etag")!;
 * const again = await client.get("/robots.txt", { headers: { "If-None-Match": etag } });
 * assert.equal(again.status, 304);
 * assert.equal((await client.get("/other")).text(), "the app\n");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function staticFiles(
  root: string,
  options: StaticFilesOptions = {},
): Middleware {
  const config = configure(root, options);
  return function staticFilesMiddleware(app: App): App {
    // One cache per app, so that two stacks never see each other's files.
    const state: State = {
      config,
      cache: config.cacheSize > 0 ? new FileCache(config.cacheSize) : undefined,
      misses: config.cacheSize > 0 ? new MissCache(MISS_ENTRIES) : undefined,
    };
    return function staticFiles(environ, startResponse) {
      const method = environ.REQUEST_METHOD;
      if (method !== "GET" && method !== "HEAD" && method !== "OPTIONS") {
        return app(environ, startResponse);
      }
      return serveFile(state, environ, startResponse) ??
        app(environ, startResponse);
    };
  };
}

/** Checks the options and resolves the root, once. */
function configure(root: string, options: StaticFilesOptions): Config {
  if (typeof root !== "string" || root === "") {
    throw new TypeError(
      "Cannot create staticFiles: root must be a path to a directory or a file",
    );
  }
  const real = Deno.realPathSync(root);
  const info = Deno.statSync(real);
  if (!info.isDirectory && !info.isFile) {
    throw new TypeError(
      `Cannot create staticFiles: ${root} is neither a directory nor a file`,
    );
  }
  const single = info.isFile;

  if (options.maxAge !== undefined && options.cacheControl !== undefined) {
    throw new TypeError(
      "Cannot create staticFiles: give maxAge or cacheControl, not both",
    );
  }
  let cacheControl = options.cacheControl;
  if (options.maxAge !== undefined) {
    if (!Number.isInteger(options.maxAge) || options.maxAge < 0) {
      throw new TypeError(
        `Cannot create staticFiles: maxAge must be a whole number of seconds, got ${options.maxAge}`,
      );
    }
    cacheControl = `public, max-age=${options.maxAge}`;
  }
  checkValue("cacheControl", cacheControl);

  const index = options.index ?? "index.html";
  if (
    index !== false &&
    (index === "" || /[\\/\0]/.test(index) || index === "." || index === "..")
  ) {
    throw new TypeError(
      `Cannot create staticFiles: index must be a file name, got "${index}"`,
    );
  }

  const etag = options.etag ?? "strong";
  if (etag !== "strong" && etag !== "weak" && etag !== false) {
    throw new TypeError(
      `Cannot create staticFiles: etag must be "strong", "weak" or false, got ${
        String(etag)
      }`,
    );
  }

  const types = { ...CONTENT_TYPES };
  for (const [extension, type] of Object.entries(options.contentTypes ?? {})) {
    checkValue(`contentTypes["${extension}"]`, type);
    const key = extension.startsWith(".") ? extension : "." + extension;
    types[key.toLowerCase()] = type;
  }

  const prefixText = options.prefix ??
    (single ? "/" + real.slice(real.lastIndexOf(SEP) + 1) : "");
  if (prefixText !== "" && !prefixText.startsWith("/")) {
    throw new TypeError(
      `Cannot create staticFiles: prefix must be "" or start with "/", got "${prefixText}"`,
    );
  }
  const prefix = prefixText.split("/").filter((s) => s !== "");
  if (prefix.some((s) => s === "." || s === "..")) {
    throw new TypeError(
      `Cannot create staticFiles: prefix must not contain . or .. segments, got "${prefixText}"`,
    );
  }

  const cacheRules = (options.cacheRules ?? []).map((rule, i) => {
    if (
      !(rule?.path instanceof RegExp) || rule.path.global || rule.path.sticky
    ) {
      throw new TypeError(
        `Cannot create staticFiles: cacheRules[${i}].path must be a RegExp without the g or y flag`,
      );
    }
    checkValue(`cacheRules[${i}].cacheControl`, rule.cacheControl);
    if (typeof rule.cacheControl !== "string") {
      throw new TypeError(
        `Cannot create staticFiles: cacheRules[${i}].cacheControl must be a string`,
      );
    }
    return { path: rule.path, cacheControl: rule.cacheControl };
  });

  const precompressed = options.precompressed ?? false;
  const codings: Coding[] = precompressed === true
    ? ["br", "gzip"]
    : precompressed === false
    ? []
    : precompressed;
  if (
    !Array.isArray(codings) ||
    codings.some((c) => c !== "br" && c !== "gzip") ||
    new Set(codings).size !== codings.length
  ) {
    throw new TypeError(
      `Cannot create staticFiles: precompressed must be true, false or a list of "br" and "gzip", got ${
        JSON.stringify(precompressed)
      }`,
    );
  }
  if (single && codings.length > 0) {
    throw new TypeError(
      "Cannot create staticFiles: precompressed needs a directory root, not a single file",
    );
  }

  const smallFileSize = byteCount(
    "smallFileSize",
    options.smallFileSize,
    SMALL_FILE_SIZE,
  );
  const cacheSize = byteCount("cacheSize", options.cacheSize, CACHE_SIZE);

  return {
    root: real,
    rootPrefix: real.endsWith(SEP) ? real : real + SEP,
    single,
    prefix,
    index,
    cacheControl,
    etag,
    dotfiles: options.dotfiles ?? false,
    types,
    cacheRules,
    codings: [...codings],
    smallFileSize,
    cacheSize,
  };
}

/** A size option: a whole number of bytes, or its default. */
function byteCount(
  name: string,
  value: number | undefined,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(
      `Cannot create staticFiles: ${name} must be a whole number of bytes, got ${value}`,
    );
  }
  return value;
}

/** Throws unless `value` is a valid header value (a native string). */
function checkValue(name: string, value: string | undefined): void {
  if (value === undefined) return;
  if (typeof value !== "string" || /[\0\r\n]|[^\0-\xff]/.test(value)) {
    throw new TypeError(
      `Cannot create staticFiles: ${name} must be a header value without CR, LF or NUL`,
    );
  }
}

/** A request path, decoded and normalised. */
interface RequestPath {
  /** The segments after the prefix: no empty, `.` or `..` ones. */
  segments: string[];
  /** All the segments, the prefix's included. */
  all: string[];
  /** The path (decoded) ends with `/`. */
  slash: boolean;
}

/**
 * Decodes `PATH_INFO` and resolves it against the prefix, or returns
 * undefined when the path cannot name a file under the root.
 */
function parsePath(config: Config, native: string): RequestPath | undefined {
  let path = native;
  // ASCII is its own UTF-8: only other paths pay for a decoder.
  if (NON_ASCII.test(native)) {
    try {
      path = decodeNative(native, { fatal: true });
    } catch {
      return undefined; // Not UTF-8, overlong forms included.
    }
  }
  if (path.includes("\0") || path.includes("\\")) return undefined;
  const segments: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      // Climbing above the root is refused, not clamped.
      if (segments.pop() === undefined) return undefined;
      continue;
    }
    if (WINDOWS && segment.includes(":")) return undefined;
    segments.push(segment);
  }
  const { prefix } = config;
  if (segments.length < prefix.length) return undefined;
  for (let i = 0; i < prefix.length; i++) {
    if (segments[i] !== prefix[i]) return undefined;
  }
  const rest = segments.slice(prefix.length);
  if (!config.dotfiles && rest.some((s) => s.startsWith("."))) return undefined;
  return { segments: rest, all: segments, slash: path.endsWith("/") };
}

/** Whether an error of a file system lookup means "nothing here". */
function isMiss(error: unknown): boolean {
  return MISSES.some((kind) => error instanceof kind) ||
    MISS_CODES.has((error as { code?: string })?.code ?? "");
}

/**
 * `realpath` and `stat`, or undefined when there is nothing to serve.
 * Synchronous on purpose: see the module notes.
 */
function lookup(
  config: Config,
  path: string,
): { real: string; info: Deno.FileInfo } | undefined {
  try {
    const real = Deno.realPathSync(path);
    // A symlink may point anywhere; only what resolves under the root counts.
    if (
      config.single
        ? real !== config.root
        : real !== config.root && !real.startsWith(config.rootPrefix)
    ) return undefined;
    return { real, info: Deno.statSync(real) };
  } catch (error) {
    if (isMiss(error)) return undefined;
    throw error;
  }
}

/** A file the middleware serves: one representation of a resource. */
interface Representation {
  /** The real path, opened to send it. */
  path: string;
  dev: number;
  ino: number | null;
  size: number;
  /** Modification and status-change times in ms, as Deno reports them. */
  mtime: number | undefined;
  ctime: number | undefined;
  etag: string | undefined;
  /** Last-Modified in whole seconds, for the preconditions. */
  seconds: number | undefined;
  /** ETag, Last-Modified, Cache-Control and Vary: what a 304 carries too. */
  validators: Header[];
  /** Content-Type, and Content-Encoding for a precompressed file. */
  content: Header[];
  /**
   * Every header of the whole file's 200 (validators, content, Accept-Ranges,
   * Content-Length), built once: a hit copies it instead of building it.
   */
  whole: Header[];
  /** The whole file, once read: small files only. */
  bytes: Uint8Array | undefined;
}

/** What a request path resolved to, as the cache keeps it. */
interface Entry {
  key: string;
  /**
   * The directories from the root down to the file's own, each checked on
   * a hit to be a directory and no symlink: then the file's path, resolved
   * as text, is still under the root.
   */
  dirs: string[];
  file: Representation;
  /** The precompressed siblings found, by coding. */
  encoded: Partial<Record<Coding, Representation>>;
  /** Whether it has any. */
  vary: boolean;
  /**
   * The file's directory (inode, mtime, ctime) when siblings are looked
   * for: while it holds, no sibling came or went.
   */
  dirStamp: string | undefined;
  /** The bytes it holds, plus a fixed charge for its metadata. */
  cost: number;
  /** The bytes its small files will add once read. */
  pending: number;
  /** Whether the cache holds it (a fresh lookup may not be cacheable). */
  cached: boolean;
}

// What an entry without bytes counts for, so that the bound also bounds
// their number.
const ENTRY_COST = 512;

// A file (or directory) modified less than this long ago may change again
// within the same timestamp: its bytes and siblings are not kept. Deno
// reports ctime in whole seconds, hence the two seconds.
const SETTLE_MS = 2000;

/** The files of recent requests, least recently used first. */
class FileCache {
  readonly #entries = new Map<string, Entry>();
  readonly #limit: number;
  #bytes = 0;
  /**
   * The most recently used entry, which a hit need not move: a delete and
   * a set per hit showed at 2% of the JavaScript thread under load.
   */
  #newest: Entry | undefined;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** The entry for `key`, now the most recently used. */
  get(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry !== undefined && entry !== this.#newest) {
      this.#entries.delete(key);
      this.#entries.set(key, entry);
      this.#newest = entry;
    }
    return entry;
  }

  add(entry: Entry): void {
    if (entry.cost + entry.pending > this.#limit) return;
    const old = this.#entries.get(entry.key);
    if (old !== undefined) this.delete(old);
    this.#entries.set(entry.key, entry);
    this.#newest = entry;
    entry.cached = true;
    this.#bytes += entry.cost;
    this.#evict();
  }

  /** Counts bytes read into a cached entry. */
  grow(entry: Entry, bytes: number): void {
    // An entry that could never fit does not empty the cache first.
    if (entry.cost + bytes > this.#limit) return this.delete(entry);
    entry.cost += bytes;
    this.#bytes += bytes;
    this.#evict();
  }

  delete(entry: Entry): void {
    if (!entry.cached) return;
    entry.cached = false;
    if (entry === this.#newest) this.#newest = undefined;
    this.#entries.delete(entry.key);
    this.#bytes -= entry.cost;
  }

  #evict(): void {
    for (const entry of this.#entries.values()) {
      if (this.#bytes <= this.#limit) return;
      this.delete(entry);
    }
  }
}

// The negative cache's bound: paths come from clients, so the number of
// entries is fixed, and so is the length of a path it keeps (a longer one
// is walked every time). At most about 1024 * 1024 characters of keys.
const MISS_ENTRIES = 1024;
const MISS_KEY_LENGTH = 1024;

/** A path found missing: the deepest directory on it that exists. */
interface Miss {
  /**
   * The names down to the first that does not exist: every path that
   * starts with them is missing while the directory holds.
   */
  key: string;
  /** The directories from the root down to that one, each a directory. */
  dirs: string[];
  /** The last one's stamp: while it holds, no entry came into it. */
  stamp: string;
}

/** The paths of recent misses, least recently used first. */
class MissCache {
  readonly #entries = new Map<string, Miss>();
  readonly #limit: number;
  /** The most recently used entry, which a hit need not move. */
  #newest: Miss | undefined;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** The miss whose names `names` start with, now the most recently used. */
  under(names: string[]): Miss | undefined {
    let key = "";
    for (let i = 0; i < names.length; i++) {
      key = i === 0 ? names[0] : key + "/" + names[i];
      const miss = this.#entries.get(key);
      if (miss === undefined) continue;
      if (miss !== this.#newest) {
        this.#entries.delete(key);
        this.#entries.set(key, miss);
        this.#newest = miss;
      }
      return miss;
    }
    return undefined;
  }

  add(miss: Miss): void {
    this.#entries.delete(miss.key);
    this.#entries.set(miss.key, miss);
    this.#newest = miss;
    if (this.#entries.size > this.#limit) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
  }

  delete(key: string): void {
    const miss = this.#entries.get(key);
    if (miss === this.#newest) this.#newest = undefined;
    this.#entries.delete(key);
  }
}

/**
 * Whether `names` make a path with a segment that does not exist, seen
 * by one `lstat` per segment from the root down, each directory on the way
 * no symlink: then it is the deepest directory that exists, to keep if it
 * has not changed for two seconds, or UNSETTLED. Undefined when the walk
 * cannot tell (everything exists, a symlink on the way, an error), and the
 * full lookup decides.
 */
function missAt(
  config: Config,
  names: string[],
): Miss | typeof UNSETTLED | undefined {
  const dirs = [config.root];
  let path = config.root;
  try {
    let info = Deno.lstatSync(path);
    for (const [i, name] of names.entries()) {
      if (!info.isDirectory) return undefined; // A symlink is no directory here.
      const next = path + SEP + name;
      let nextInfo: Deno.FileInfo;
      try {
        nextInfo = Deno.lstatSync(next);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) return undefined;
        // The stamp was taken before `name` was found missing: an entry
        // that came since changed the times, or the directory is not
        // settled and nothing is kept.
        return settled(info, Date.now())
          ? { key: names.slice(0, i + 1).join("/"), dirs, stamp: stamp(info) }
          : UNSETTLED;
      }
      path = next;
      dirs.push(path);
      info = nextInfo;
    }
    return undefined;
  } catch {
    return undefined;
  }
}

const UNSETTLED = Symbol("unsettled");

/**
 * Whether `miss` still holds, in one `lstat` per directory from the root
 * down: each still a directory (no symlink), the last one unchanged.
 */
function stillMissing(miss: Miss): boolean {
  try {
    let info: Deno.FileInfo | undefined;
    for (const dir of miss.dirs) {
      info = Deno.lstatSync(dir);
      if (!info.isDirectory) return false;
    }
    return stamp(info!) === miss.stamp;
  } catch {
    return false;
  }
}

/** A directory's identity and times, to see whether an entry came or went. */
function stamp(info: Deno.FileInfo): string {
  return `${info.dev}:${info.ino}:${info.mtime?.getTime()}:${info.ctime?.getTime()}`;
}

/** Whether `info` (an lstat or fstat) is the very file `file` was. */
function same(info: Deno.FileInfo, file: Representation): boolean {
  return info.isFile && info.ino === file.ino && info.dev === file.dev &&
    info.size === file.size && info.mtime?.getTime() === file.mtime &&
    info.ctime?.getTime() === file.ctime;
}

/** Whether a change to the file would show in its times (see SETTLE_MS). */
function settled(info: Deno.FileInfo, now: number): boolean {
  const mtime = info.mtime?.getTime();
  const ctime = info.ctime?.getTime();
  return mtime !== undefined && now - mtime >= SETTLE_MS &&
    (ctime === undefined || now - ctime >= SETTLE_MS);
}

/**
 * Whether the tree still holds what `entry` saw, in one `lstat` per
 * directory from the root down and one for the file: no symlink on the
 * way (so the path, resolved as text, is under the root), the same file
 * with the same size and times, and, when siblings are looked for, no
 * entry added to or removed from its directory.
 */
function holds(entry: Entry): boolean {
  try {
    let info: Deno.FileInfo | undefined;
    for (const dir of entry.dirs) {
      info = Deno.lstatSync(dir);
      if (!info.isDirectory) return false; // A symlink is no directory here.
    }
    if (entry.dirStamp !== undefined && stamp(info!) !== entry.dirStamp) {
      return false;
    }
    return same(Deno.lstatSync(entry.file.path), entry.file);
  } catch {
    return false; // Gone, or unreadable: a fresh lookup says which.
  }
}

/** A file's representation, its headers built once. */
function represent(
  config: Config,
  real: string,
  info: Deno.FileInfo,
  type: string,
  cacheControl: string | undefined,
  coding: Coding | undefined,
  vary: boolean,
): Representation {
  const size = info.size;
  const mtime = info.mtime?.getTime();
  // An encoded file is another representation: its strong ETag must differ
  // from the original's even when size and time agree.
  const etag = config.etag === false || mtime === undefined
    ? undefined
    : `${config.etag === "weak" ? "W/" : ""}"${mtime.toString(16)}-${
      size.toString(16)
    }${coding === undefined ? "" : "." + coding}"`;
  const seconds = mtime === undefined ? undefined : Math.floor(mtime / 1000);
  const validators: Header[] = [];
  if (etag !== undefined) validators.push(["ETag", etag]);
  if (seconds !== undefined) {
    validators.push(["Last-Modified", new Date(seconds * 1000).toUTCString()]);
  }
  if (cacheControl !== undefined) {
    validators.push(["Cache-Control", cacheControl]);
  }
  if (vary) validators.push(["Vary", "Accept-Encoding"]);
  const content: Header[] = [["Content-Type", type]];
  if (coding !== undefined) content.push(["Content-Encoding", coding]);
  const whole: Header[] = [
    ...validators,
    ...content,
    ["Accept-Ranges", "bytes"],
    ["Content-Length", String(size)],
  ];
  return {
    path: real,
    dev: info.dev,
    ino: info.ino,
    size,
    mtime,
    ctime: info.ctime?.getTime(),
    etag,
    seconds,
    validators,
    content,
    whole,
    bytes: undefined,
  };
}

/**
 * Looks the request's file up afresh: `realpath` and `stat` for it, its
 * index and its precompressed siblings. Undefined when there is nothing to
 * serve, REDIRECT for a directory asked for without its slash.
 */
function find(
  config: Config,
  request: RequestPath,
  key: string,
): Entry | typeof REDIRECT | undefined {
  const { segments } = request;
  const candidate = segments.length === 0
    ? config.root
    : config.rootPrefix + segments.join(SEP);
  let found = lookup(config, candidate);
  if (found === undefined) return undefined;
  let names = segments;
  let path = candidate;
  if (found.info.isDirectory) {
    if (!request.slash) return REDIRECT;
    if (config.index === false) return undefined;
    names = [...segments, config.index];
    path = candidate + SEP + config.index;
    found = lookup(config, found.real + SEP + config.index);
    if (found === undefined) return undefined;
  } else if (request.slash && !config.single) {
    return undefined; // "/file.txt/" names no directory.
  }
  if (!found.info.isFile) return undefined;
  const { real, info } = found;

  const dot = real.lastIndexOf(".");
  const type = (dot > real.lastIndexOf(SEP) &&
    config.types[real.slice(dot).toLowerCase()]) || DEFAULT_TYPE;
  const relative = config.single
    ? real.slice(real.lastIndexOf(SEP)).replaceAll(SEP, "/")
    : "/" + names.join("/");
  const cacheControl =
    config.cacheRules.find((rule) => rule.path.test(relative))
      ?.cacheControl ?? config.cacheControl;

  const now = Date.now();
  // Only a path with no symlink on it is checked by lstat alone on a hit.
  let cacheable = real === path && settled(info, now);
  const encoded: Partial<Record<Coding, Representation>> = {};
  let dirStamp: string | undefined;
  if (config.codings.length > 0) {
    let parent: Deno.FileInfo;
    try {
      parent = Deno.lstatSync(path.slice(0, path.lastIndexOf(SEP)));
    } catch (error) {
      if (isMiss(error)) return undefined;
      throw error;
    }
    dirStamp = stamp(parent);
    cacheable &&= settled(parent, now);
    for (const coding of config.codings) {
      const sibling = path + EXTENSIONS[coding];
      const other = lookup(config, sibling);
      if (other === undefined || !other.info.isFile) continue;
      encoded[coding] = represent(
        config,
        other.real,
        other.info,
        type,
        cacheControl,
        coding,
        true,
      );
      cacheable &&= other.real === sibling && settled(other.info, now);
    }
  }
  const vary = Object.keys(encoded).length > 0;
  const dirs = config.single ? [] : [config.root];
  for (let i = 1; i < names.length; i++) {
    dirs.push(config.rootPrefix + names.slice(0, i).join(SEP));
  }
  return {
    key,
    dirs,
    file: represent(config, real, info, type, cacheControl, undefined, vary),
    encoded,
    vary,
    dirStamp: config.codings.length > 0 ? dirStamp : undefined,
    cost: cacheable ? ENTRY_COST + key.length : Infinity,
    pending: [info.size, ...Object.values(encoded).map((rep) => rep.size)]
      .filter((size) => size <= config.smallFileSize)
      .reduce((sum, size) => sum + size, 0),
    cached: false,
  };
}

const REDIRECT = Symbol("redirect");

/**
 * The representation to send: the first precompressed sibling, in the
 * configured order, whose coding the client accepts; else the file.
 */
function choose(
  config: Config,
  entry: Entry,
  environ: Environ,
): Representation {
  // Only a file with siblings reads the header.
  if (!entry.vary) return entry.file;
  const acceptEncoding = environ.HTTP_ACCEPT_ENCODING;
  if (acceptEncoding === undefined) return entry.file;
  for (const coding of config.codings) {
    const rep = entry.encoded[coding];
    if (rep !== undefined && accepts(acceptEncoding, coding)) return rep;
  }
  return entry.file;
}

/**
 * Whether an `Accept-Encoding` value (RFC 9110 12.5.3) names `coding`
 * with a q above 0. `*` is not taken to mean a precompressed file, as
 * nginx does not: the identity is always acceptable unless refused.
 */
function accepts(header: string, coding: Coding): boolean {
  for (const element of header.split(",")) {
    const [name, ...params] = element.split(";");
    if (name.trim().toLowerCase() !== coding) continue;
    for (const param of params) {
      const [key, value = ""] = param.split("=");
      if (key.trim().toLowerCase() !== "q") continue;
      const q = value.trim();
      if (!/^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/.test(q)) return false;
      return Number(q) > 0;
    }
    return true;
  }
  return false;
}

/** `rep`'s file opened to read, or undefined when it is gone. */
function openRep(rep: Representation): Deno.FsFile | undefined {
  try {
    return Deno.openSync(rep.path, { read: true });
  } catch (error) {
    if (isMiss(error)) return undefined;
    throw error;
  }
}

/** Reads a small file whole, or undefined if it is no longer `rep`'s file. */
function readWhole(rep: Representation): Uint8Array | undefined {
  const file = openRep(rep);
  if (file === undefined) return undefined;
  try {
    if (!same(file.statSync(), rep)) return undefined;
    const bytes = new Uint8Array(rep.size);
    for (let at = 0; at < bytes.length;) {
      const n = file.readSync(bytes.subarray(at));
      if (n === null) return undefined;
      at += n;
    }
    return bytes;
  } finally {
    file.close();
  }
}

/** Serves the request, or returns undefined to let the app have it. */
function serveFile(
  state: State,
  environ: Environ,
  startResponse: StartResponse,
  retried = false,
): Body | undefined {
  const { config, cache } = state;
  const method = environ.REQUEST_METHOD;
  // 1. The path, decoded and checked as text.
  const request = parsePath(config, environ.PATH_INFO ?? "");
  if (request === undefined) return undefined;
  const { segments } = request;
  // A single file has one path: the prefix, without a trailing slash unless
  // the prefix is the root ("" or "/", as under a mount).
  if (
    config.single &&
    (segments.length > 0 || request.slash && config.prefix.length > 0)
  ) return undefined;

  // 2. The file: a cached entry the tree still holds, else a fresh lookup
  // (resolved, under the root, a directory's index), kept if it can be.
  const key = segments.join("/") + (request.slash ? "/" : "");
  let entry = cache?.get(key);
  if (entry !== undefined && !holds(entry)) {
    cache!.delete(entry);
    entry = undefined;
  }
  const hit = entry !== undefined;
  if (entry === undefined) {
    // The names on the path, a directory's index included.
    const names = request.slash && config.index !== false
      ? [...segments, config.index]
      : segments;
    // Under a path known missing, if its directory is still as it was.
    const miss = state.misses?.under(names);
    if (miss !== undefined) {
      if (stillMissing(miss)) return undefined;
      state.misses!.delete(miss.key);
    }
    // A segment missing under directories reached with no symlink is a
    // miss without `realpath`: its error would be the second one.
    const missing = config.single ? undefined : missAt(config, names);
    if (missing !== undefined) {
      if (
        missing !== UNSETTLED && state.misses !== undefined &&
        missing.key.length <= MISS_KEY_LENGTH
      ) state.misses.add(missing);
      return undefined;
    }
    const found = find(config, request, key);
    if (found === undefined) return undefined;
    if (found === REDIRECT) {
      return method === "OPTIONS"
        ? undefined
        : redirectToSlash(environ, startResponse, request);
    }
    entry = found;
    cache?.add(entry);
  }

  // 3. OPTIONS: what the file allows, known without reading it.
  if (method === "OPTIONS") {
    startResponse("200 OK", [["Allow", ALLOW], ["Content-Length", "0"]]);
    return [];
  }

  // 4. The representation: a precompressed sibling the client accepts, if
  // a cached one is still the file it was, else the file itself.
  const rep = choose(config, entry, environ);
  if (hit && rep !== entry.file && !sameAt(rep)) {
    cache!.delete(entry);
    return retried ? undefined : serveFile(state, environ, startResponse, true);
  }

  // 5. Validators, and the preconditions they answer.
  const { size, etag, seconds } = rep;
  const precondition = preconditions(environ, etag, seconds);
  if (precondition === "failed") {
    // An error, not the file: no validators, nothing to cache.
    startResponse("412 Precondition Failed", [
      ["Content-Type", "text/plain; charset=utf-8"],
    ]);
    return ["Precondition Failed\n"];
  }
  if (precondition === "not modified") {
    startResponse("304 Not Modified", rep.validators.slice());
    return [];
  }

  // 6. The range, if one applies (RFC 9110 14.2: GET only).
  const range = method === "GET"
    ? rangeOf(environ, size, etag, seconds)
    : undefined;
  if (range === "unsatisfiable") {
    startResponse("416 Range Not Satisfiable", [
      ["Content-Range", `bytes */${size}`],
      ["Content-Type", "text/plain; charset=utf-8"],
    ]);
    return ["Range Not Satisfiable\n"];
  }
  // A copy: the app above may add to the list it is given.
  const headers = range === undefined ? rep.whole.slice() : [
    ...rep.validators,
    ...rep.content,
    ["Content-Length", String(range[1] - range[0] + 1)],
    ["Content-Range", `bytes ${range[0]}-${range[1]}/${size}`],
  ] satisfies Header[];

  // 7. HEAD: the headers alone; the file is not even opened.
  if (method === "HEAD") {
    startResponse("200 OK", headers);
    return [];
  }

  // 8. A small file: one body in memory, read once while it is cached.
  if (size <= config.smallFileSize) {
    let bytes = rep.bytes;
    if (bytes === undefined) {
      bytes = readWhole(rep);
      if (bytes === undefined) {
        // It changed since it was looked up: look again, once, then send
        // whatever the stream finds (the server cuts it to length).
        cache?.delete(entry);
        return retried
          ? stream(environ, startResponse, rep, headers, range)
          : serveFile(state, environ, startResponse, true);
      }
      if (entry.cached) {
        rep.bytes = bytes;
        cache!.grow(entry, bytes.length);
      }
    }
    if (range === undefined) {
      startResponse("200 OK", headers);
      return [bytes];
    }
    startResponse("206 Partial Content", headers);
    return [bytes.subarray(range[0], range[1] + 1)];
  }

  // 9. A larger one, from the file's own stream.
  return stream(environ, startResponse, rep, headers, range);
}

/** Whether the file at `rep.path` is still `rep`'s, by one `lstat`. */
function sameAt(rep: Representation): boolean {
  try {
    return same(Deno.lstatSync(rep.path), rep);
  } catch {
    return false;
  }
}

/** Sends `rep`, or the range of it, from the file's own stream. */
function stream(
  environ: Environ,
  startResponse: StartResponse,
  rep: Representation,
  headers: Header[],
  range: [number, number] | undefined,
): Body | undefined {
  const file = openRep(rep);
  if (file === undefined) return undefined;
  try {
    if (range === undefined) {
      startResponse("200 OK", headers);
      return wrap(environ, file);
    }
    const [start, end] = range;
    if (start > 0) file.seekSync(start, Deno.SeekMode.Start);
    startResponse("206 Partial Content", headers);
    // A range that runs to the end is the file's own stream from `start`;
    // a shorter one is a stream that stops after its length.
    return wrap(
      environ,
      file,
      end === rep.size - 1 ? undefined : bounded(file, end - start + 1),
    );
  } catch (error) {
    file.close();
    throw error;
  }
}

/**
 * The body: the file through `wsgi.file_wrapper` when the server has one
 * (it sends an `FsFile` from its own stream), or `readable` instead of the
 * file's stream when given; a plain async iterable without a wrapper.
 * Either way, closing the body closes the file.
 */
function wrap(
  environ: Environ,
  file: Deno.FsFile,
  readable?: ReadableStream<Uint8Array>,
): Body {
  const wrapper = environ["wsgi.file_wrapper"];
  const close = () => closeQuietly(file);
  if (wrapper !== undefined) {
    return wrapper(readable === undefined ? file : { readable, close });
  }
  const stream = readable ?? file.readable;
  return {
    [Symbol.asyncIterator]: () => stream[Symbol.asyncIterator](),
    close,
  };
}

/** Closes a file that its stream may have closed already. */
function closeQuietly(file: Deno.FsFile): void {
  try {
    file.close();
  } catch (error) {
    if (!(error instanceof Deno.errors.BadResource)) throw error;
  }
}

/** A stream of the next `length` bytes of `file`, read on demand. */
function bounded(
  file: Deno.FsFile,
  length: number,
): ReadableStream<Uint8Array> {
  let left = length;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const buffer = new Uint8Array(Math.min(left, 65536));
      const n = await file.read(buffer);
      if (n === null) {
        controller.error(
          new RangeError("Cannot send the range: the file was cut short"),
        );
        closeQuietly(file);
        return;
      }
      left -= n;
      controller.enqueue(n === buffer.length ? buffer : buffer.subarray(0, n));
      if (left === 0) {
        controller.close();
        closeQuietly(file);
      }
    },
    cancel() {
      closeQuietly(file);
    },
  }, { highWaterMark: 0 });
}

/**
 * The preconditions, in RFC 9110 13.2.2's order: `If-Match`, else
 * `If-Unmodified-Since` (a false one fails the request); then
 * `If-None-Match`, else `If-Modified-Since` (a false one means the client's
 * copy is current). Undefined when the file is to be sent.
 */
function preconditions(
  environ: Environ,
  etag: string | undefined,
  seconds: number | undefined,
): "failed" | "not modified" | undefined {
  const ifMatch = environ.HTTP_IF_MATCH;
  if (ifMatch !== undefined) {
    if (!listMatches(ifMatch, etag, true)) return "failed";
  } else if (seconds !== undefined) {
    const since = httpDate(environ.HTTP_IF_UNMODIFIED_SINCE);
    if (since !== undefined && seconds * 1000 > since) return "failed";
  }
  const ifNoneMatch = environ.HTTP_IF_NONE_MATCH;
  if (ifNoneMatch !== undefined) {
    return listMatches(ifNoneMatch, etag, false) ? "not modified" : undefined;
  }
  if (seconds === undefined) return undefined;
  const since = httpDate(environ.HTTP_IF_MODIFIED_SINCE);
  return since !== undefined && seconds * 1000 <= since
    ? "not modified"
    : undefined;
}

/** A header's HTTP-date, or undefined when it is absent or no HTTP-date. */
function httpDate(value: string | undefined): number | undefined {
  return value === undefined ? undefined : parseHttpDate(value);
}

/**
 * Whether an `If-Match` or `If-None-Match` list holds our ETag, compared
 * strongly (both strong and equal, RFC 9110 8.8.3.2) or weakly; `*` stands
 * for any, and the file exists.
 */
function listMatches(
  list: string,
  etag: string | undefined,
  strong: boolean,
): boolean {
  if (list.trim() === "*") return true;
  if (etag === undefined || strong && etag.startsWith("W/")) return false;
  const ours = opaque(etag);
  // A tag may hold commas and backslashes, but no quoted-pair.
  const tags = splitList(list, false);
  // A quote never closed leaves no list of entity-tags: nothing matches,
  // so If-None-Match sends the file and If-Match refuses, the safe sides.
  if (tags === undefined) return false;
  for (const tag of tags) {
    // An element that is no entity-tag matches nothing, whatever it holds.
    if (!ENTITY_TAG.test(tag)) continue;
    if (strong && tag.startsWith("W/")) continue;
    if (opaque(tag) === ours) return true;
  }
  return false;
}

// RFC 9110 8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, with
// etagc = %x21 / %x23-7E / obs-text.
const ENTITY_TAG = /^(?:W\/)?"[\x21\x23-\x7e\x80-\xff]*"$/;

/** An ETag without its weakness marker, for the weak comparison. */
function opaque(tag: string): string {
  return tag.startsWith("W/") ? tag.slice(2) : tag;
}

/**
 * The byte range to send, `[first, last]` inclusive; `"unsatisfiable"`
 * for a 416; undefined for the whole file (no Range, several ranges, a
 * malformed header, or an `If-Range` that does not match).
 */
function rangeOf(
  environ: Environ,
  size: number,
  etag: string | undefined,
  seconds: number | undefined,
): [number, number] | "unsatisfiable" | undefined {
  const header = environ.HTTP_RANGE;
  if (header === undefined) return undefined;
  // "bytes=" as it stands: RFC 9110 14.1 has no whitespace around "=".
  // Spaces inside the range are taken, as nginx takes them.
  const match = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (match === null) return undefined;
  const ifRange = environ.HTTP_IF_RANGE;
  if (ifRange !== undefined && !ifRangeHolds(ifRange, etag, seconds)) {
    return undefined;
  }
  const [, first, last] = match;
  if (first === "") {
    if (last === "") return undefined;
    // A suffix longer than the file means the whole file (RFC 9110
    // 14.1.2); of an empty one that is zero bytes, which no 206 can say.
    if (size === 0) return undefined;
    // The last n bytes.
    const n = Number(last);
    if (n === 0) return "unsatisfiable";
    return [Math.max(0, size - n), size - 1];
  }
  const start = Number(first);
  if (last !== "" && Number(last) < start) return undefined;
  // An empty file sent whole for a range from byte 0, as nginx does.
  if (start >= size) return start === 0 ? undefined : "unsatisfiable";
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  return [start, end];
}

/**
 * `If-Range` (RFC 9110 13.1.5): an ETag is compared strongly; a date must
 * be exactly our Last-Modified and a strong validator (8.8.2.2). A date
 * names a whole second, and while that second lasts the file can change
 * again under the same date: so it counts only once its second is over.
 */
function ifRangeHolds(
  value: string,
  etag: string | undefined,
  seconds: number | undefined,
): boolean {
  // "examining the first three characters for a DQUOTE" tells the two apart.
  if (value.slice(0, 3).includes('"')) {
    return etag !== undefined && !etag.startsWith("W/") && value === etag;
  }
  const time = parseHttpDate(value);
  return seconds !== undefined && time === seconds * 1000 &&
    Date.now() >= time + 1000;
}

/** 301 to the directory's path with a trailing slash, query kept. */
function redirectToSlash(
  environ: Environ,
  startResponse: StartResponse,
  request: RequestPath,
): Body {
  // Built from the normalised segments, so neither `..` nor a leading `//`
  // (the URL of another host) can reach the Location.
  const script = (environ.SCRIPT_NAME ?? "").split("/").filter((s) => s);
  const path = [...script, ...request.all.map(encodeNative)];
  let location = quoteNative(
    path.map((s) => "/" + s).join("") + "/",
    PATH_SAFE,
  );
  const query = environ.QUERY_STRING ?? "";
  if (query !== "") {
    location += "?" + query.replace(
      /[^\x21-\x7e]/g,
      (char) => percentByte(char.charCodeAt(0)),
    );
  }
  startResponse("301 Moved Permanently", [
    ["Location", location],
    ["Content-Type", "text/plain; charset=utf-8"],
  ]);
  return ["Moved Permanently\n"];
}
