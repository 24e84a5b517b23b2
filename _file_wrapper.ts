import type { FileLike, FileWrapper } from "./mod.ts";

/**
 * The body `wsgi.file_wrapper` returns. The server recognises it and hands
 * the file's own stream to `Deno.serve`, which sends a file-backed stream
 * without passing each chunk through JavaScript. Middleware that needs the
 * bytes can still iterate it like any other body.
 */
export class FileBody implements AsyncIterable<Uint8Array> {
  /** The stream the body is sent from. */
  readonly readable: ReadableStream<Uint8Array>;
  /** The file, when one was given (for its size). */
  readonly file: FileLike;

  constructor(file: FileLike) {
    this.file = file;
    this.readable = file instanceof ReadableStream ? file : file.readable;
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this.readable[Symbol.asyncIterator]();
  }

  /** Bytes left to send when the file can tell, else undefined. */
  remaining(): number | undefined {
    const file = this.file as Partial<Deno.FsFile>;
    if (
      typeof file.statSync !== "function" || typeof file.seekSync !== "function"
    ) return undefined;
    try {
      const position = file.seekSync(0, Deno.SeekMode.Current);
      return Math.max(0, file.statSync().size - position);
    } catch {
      return undefined;
    }
  }

  /** Closes the file; a file that its stream already closed is left alone. */
  close(): void {
    const file = this.file;
    if (file instanceof ReadableStream) {
      if (!file.locked) file.cancel().catch(() => {});
      return;
    }
    try {
      file.close?.();
    } catch (error) {
      if (!(error instanceof Deno.errors.BadResource)) throw error;
    }
  }
}

/** `environ["wsgi.file_wrapper"]`. */
export const fileWrapper: FileWrapper = (file) => new FileBody(file);
