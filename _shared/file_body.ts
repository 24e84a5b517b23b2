import type { FileLike, FileWrapper } from "../_contract/types.ts";

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
  // Once its stream is read, a Deno.FsFile is closed by the stream: at its
  // end, or when it is cancelled.
  #streamed = false;
  #iterator: AsyncIterator<Uint8Array> | undefined;

  constructor(file: FileLike) {
    this.file = file;
    this.readable = file instanceof ReadableStream ? file : file.readable;
  }

  /** The stream, for `Deno.serve` to send on its own. */
  send(): ReadableStream<Uint8Array> {
    this.#streamed = true;
    return this.readable;
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    this.#streamed = true;
    return this.#iterator ??= this.readable[Symbol.asyncIterator]();
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

  /**
   * Releases the file. A stream cut short is cancelled, which closes a
   * `Deno.FsFile`; another file-like is closed through its own `close()`.
   * Closing an `FsFile` whose stream already did would throw, and a throw
   * costs more than sending a small file.
   */
  async close(): Promise<void> {
    await this.#iterator?.return?.();
    const file = this.file;
    if (file instanceof ReadableStream) {
      if (!file.locked) await file.cancel();
      return;
    }
    if (this.#streamed && file instanceof Deno.FsFile) return;
    try {
      file.close?.();
    } catch (error) {
      if (!(error instanceof Deno.errors.BadResource)) throw error;
    }
  }
}

/** `environ["wsgi.file_wrapper"]`. */
export const fileWrapper: FileWrapper = (file) => new FileBody(file);
