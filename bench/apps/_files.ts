/**
 * The files of the file rows. The harness creates them in a temp dir at
 * start and passes the dir in `$WSGI_BENCH_FILES`; every file server reads
 * it from there and serves `<dir>/<name>` for a request of `/<name>`.
 *
 * @module
 */

/** The environment variable that holds the directory of the files. */
export const FILES_ENV = "WSGI_BENCH_FILES";

/** The environment variable of `bench/static.ts --small-file-size`. */
export const SMALL_FILE_SIZE_ENV = "WSGI_BENCH_SMALL_FILE_SIZE";

/** The files by name, with their sizes. */
export const FILES: Record<string, number> = {
  "file1k.bin": 1 << 10,
  "file64k.bin": 64 << 10,
  "file1m.bin": 1 << 20,
  "file64m.bin": 64 << 20,
};

/**
 * Up to this size the raw baseline answers with `Deno.readFile`, the least
 * work for a small file; above it, with the file's readable stream.
 */
export const READ_WHOLE_MAX = 64 << 10;

/** The directory of the files, as the harness passed it. */
export function filesDir(): string {
  const dir = Deno.env.get(FILES_ENV);
  if (!dir) {
    throw new Error(`Cannot serve the bench files: $${FILES_ENV} is not set`);
  }
  return dir;
}
