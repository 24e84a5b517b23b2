/**
 * The files of the file rows. The harness creates them in a temp dir at
 * start and passes the dir in `$WSGI_BENCH_FILES`; every file server reads
 * it from there and serves `<dir>/<name>` for a request of `/<name>`.
 *
 * @module
 */

/** The environment variable that holds the directory of the files. */
export const FILES_ENV = "WSGI_BENCH_FILES";

/** The files by name, with their sizes. */
export const FILES: Record<string, number> = {
  "file1m.bin": 1 << 20,
  "file64m.bin": 64 << 20,
};

/** The directory of the files, as the harness passed it. */
export function filesDir(): string {
  const dir = Deno.env.get(FILES_ENV);
  if (!dir) {
    throw new Error(`Cannot serve the bench files: $${FILES_ENV} is not set`);
  }
  return dir;
}
