/**
 * Wrapping a body to watch it, for the middleware that must see each step
 * of it (`accessLog`, `errors`). The wrapper keeps what the server relies
 * on: an array stays an array (answered in memory with a Content-Length),
 * a sync iterable stays sync (no await per chunk), an async one stays
 * async, and `close()` closes the body once: its own `close()`, or else
 * the iterator's `return()` if it did not end.
 *
 * @module
 */
import type { Body, Chunk } from "../_contract/types.ts";
import { isThenable } from "../_shared/body.ts";

type Step = IteratorResult<Chunk>;

/** What a middleware does at each step of the body it wraps. */
export interface BodyWatch {
  /** An answer to give instead of asking the body, if any. */
  instead?(): Step | undefined;
  /** Each result the body gives; what it returns goes on. */
  step(result: Step): Step;
  /** The body threw or rejected: a result to go on with, or a throw. */
  failed(error: unknown): Step;
  /** Called once when the server closes the wrapper, before the body is. */
  closing?(): void;
}

/**
 * A copy of the array body `body` (the app may send the same array again)
 * whose `close()` calls `closing`, then the array's own `close()`, once.
 */
export function wrapArray(
  body: readonly Chunk[] & { close?(): void | Promise<void> },
  closing: () => void,
): Body {
  const copy = body.slice() as Chunk[] & { close(): void | Promise<void> };
  let closed = false;
  copy.close = () => {
    if (closed) return;
    closed = true;
    closing();
    return body.close?.();
  };
  return copy;
}

/**
 * `body` wrapped so that `watch` sees every step, or `undefined` when it is
 * not an iterable body at all (the server names that mistake itself).
 */
export function wrapBody(body: Body, watch: BodyWatch): Body | undefined {
  const source = body as Partial<AsyncIterable<Chunk> & Iterable<Chunk>>;
  const isAsync = typeof source?.[Symbol.asyncIterator] === "function";
  if (
    (typeof body !== "object" && typeof body !== "function") ||
    body === null || body instanceof Uint8Array ||
    (!isAsync && typeof source[Symbol.iterator] !== "function")
  ) {
    return undefined;
  }

  let iterator: Iterator<Chunk> | AsyncIterator<Chunk> | undefined;
  let ended = false;
  let closed = false;
  const step = (result: Step) => {
    if (result.done) ended = true;
    return watch.step(result);
  };
  const failed = (error: unknown) => {
    ended = true;
    return watch.failed(error);
  };
  const next = () => {
    const answer = watch.instead?.();
    if (answer !== undefined) return answer;
    let result;
    try {
      result = iterator!.next();
    } catch (error) {
      return failed(error);
    }
    return isThenable<Step>(result)
      ? Promise.resolve(result).then(step, failed)
      : step(result);
  };
  const wrapper = {
    [isAsync ? Symbol.asyncIterator : Symbol.iterator]() {
      iterator = isAsync
        ? source[Symbol.asyncIterator]!()
        : source[Symbol.iterator]!();
      return { next };
    },
    close() {
      if (closed) return;
      closed = true;
      watch.closing?.();
      if (typeof body.close === "function") return body.close();
      if (!ended) return iterator?.return?.();
    },
  };
  return wrapper as unknown as Body;
}
