/**
 * A response body that tells when it is over, and the count of requests in
 * flight it feeds, so that a generation knows when its last request is done
 * and it may retire.
 *
 * @module
 */

/** The requests a generation has in flight, and a wait for the last one. */
export class InFlight {
  #count = 0;
  #idle: (() => void) | undefined;

  /** A request came in. */
  start(): void {
    this.#count++;
  }

  /** A request is over: its body ended, failed or was cancelled. */
  done(): void {
    this.#count--;
    if (this.#count === 0) this.#idle?.();
  }

  /** Resolves once no request is in flight. */
  async drained(): Promise<void> {
    if (this.#count > 0) {
      await new Promise<void>((resolve) => this.#idle = resolve);
    }
  }
}

/** `body`, calling `done` once when it ends, fails or is cancelled. */
export function tracked(
  body: ReadableStream<Uint8Array>,
  done: () => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let finished = false;
  const finish = () => {
    if (!finished) {
      finished = true;
      done();
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done: end } = await reader.read();
        if (end) {
          finish();
          controller.close();
        } else {
          controller.enqueue(value);
        }
      } catch (error) {
        finish();
        controller.error(error);
      }
    },
    cancel(reason) {
      finish();
      return reader.cancel(reason);
    },
  });
}
