/**
 * The request as the request path reads it, where its `deno.signal`
 * comes from, and how one of its fields is read without all of them.
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

/** The one-field reader of a `Request` from `Deno.serve`. */
export interface InnerFields {
  header(name: string): string | null;
}

// Deno.serve's Request holds the runtime's request under a symbol of its
// own, and that has header(name), which reads one field. `req.headers`
// instead copies every field into a Headers object. Measured with wrk on a
// raw Deno.serve hello world (Deno 2.9.6): three fields through
// `req.headers.get()` cost about a quarter of the request, through
// header(name) nothing measurable. Found on the first Request that has it;
// without it (another runtime version), `req.headers`.
let innerKey: symbol | undefined;

/** `req`'s one-field reader, when it came from `Deno.serve`. */
export function innerFields(req: RequestHead): InnerFields | undefined {
  if (!(req instanceof Request)) return undefined;
  if (innerKey === undefined) {
    innerKey = Object.getOwnPropertySymbols(req).find((key) =>
      key.description === "request" &&
      typeof (req as unknown as Record<symbol, Partial<InnerFields>>)[key]
          ?.header === "function"
    );
    if (innerKey === undefined) return undefined;
  }
  const inner = (req as unknown as Record<symbol, Partial<InnerFields>>)[
    innerKey
  ];
  return typeof inner?.header === "function" ? inner as InnerFields : undefined;
}

/** The field `name` of `req` as `Headers.get()` gives it. */
export function field(
  req: RequestHead,
  inner: InnerFields | undefined,
  name: string,
): string | null {
  return inner === undefined ? req.headers.get(name) : inner.header(name);
}
