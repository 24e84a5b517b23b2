/**
 * Live reload: HTML responses get a small script that listens to the dev
 * server's event stream and reloads the page when a new generation has
 * loaded (or a broken one has been fixed).
 *
 * @module
 */

/** Where the event stream is served; no app path starts this way. */
export const EVENTS_PATH = "/__wsgi_dev__/events";

const SCRIPT = new TextEncoder().encode(
  `\n<script>(() => { const events = new EventSource(${
    JSON.stringify(EVENTS_PATH)
  }); events.addEventListener("reload", () => location.reload()); })();</script>\n`,
);
const encoder = new TextEncoder();

/** The clients listening for reloads, and how to tell them. */
export class LiveReload {
  #clients = new Set<ReadableStreamDefaultController<Uint8Array>>();

  /** The event stream a page connects to. */
  events(): Response {
    let self: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        self = controller;
        this.#clients.add(controller);
        // A comment line, so the client sees the stream open at once.
        controller.enqueue(encoder.encode(": live reload\n\n"));
      },
      cancel: () => {
        this.#clients.delete(self);
      },
    });
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream",
        "cache-control": "no-store",
      },
    });
  }

  /** Tells every page to reload. */
  reload(generation: number): void {
    const event = encoder.encode(`event: reload\ndata: ${generation}\n\n`);
    for (const client of this.#clients) client.enqueue(event);
  }

  /** Ends every event stream, so that the server can shut down. */
  close(): void {
    for (const client of this.#clients) client.close();
    this.#clients.clear();
  }
}

/** `response` with the reload script after its body, if it is HTML. */
export function withReloadScript(response: Response): Response {
  const type = response.headers.get("content-type") ?? "";
  if (!type.startsWith("text/html") || response.body === null) return response;
  const headers = new Headers(response.headers);
  // The body grows by the script.
  headers.delete("content-length");
  const body = response.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      flush: (controller) => controller.enqueue(SCRIPT),
    }),
  );
  return new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers,
  });
}
