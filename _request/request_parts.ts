/**
 * The request as the request path reads it, and where its `deno.signal`
 * comes from.
 *
 * @module
 */

/**
 * What the environ reads of a request: a `Request` from `Deno.serve`, or a
 * lighter copy of one that makes the full `Request` only if the app reads
 * `deno.request` (the dev server's Worker, where building every `Request`
 * would cost a third of a hello world).
 */
export type RequestParts =
  | Request
  | {
    readonly url: string;
    readonly method: string;
    readonly headers: Headers;
    readonly body: ReadableStream<Uint8Array> | null;
    readonly signal: AbortSignal;
    toRequest(): Request;
  };

/** Gives `deno.signal`: aborted when the client goes away mid-request. */
export interface SignalSource {
  /** The signal for `request`, created on first use. */
  signal(request: RequestParts): AbortSignal;
}

/** What the request checks and the body limit read of a request. */
export type RequestHead = Pick<RequestParts, "url" | "method" | "headers">;
