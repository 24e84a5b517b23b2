/**
 * One isolate of the CLI's `--workers`: loads its own copy of the app and
 * serves it on the port every worker shares (`reusePort`), the way
 * `deno serve --parallel` runs one isolate per core. The CLI sends `start`,
 * then `shutdown` on a signal; the worker answers `listening` (or
 * `failed`), then `closed` once its requests in flight are done.
 *
 * @module
 */
import { serve, type ServeOptions, type Server } from "../_server/serve.ts";
import { type AppSpec, loadApp } from "./load_app.ts";
import { messageOf } from "../_shared/errors.ts";
import { type AccessLogFile, withAccessLog } from "./access_log_file.ts";

/** What the CLI sends a worker. */
export type ToServerWorker =
  | {
    type: "start";
    spec: AppSpec;
    options: ServeOptions;
    accessLog?: AccessLogFile;
  }
  | { type: "shutdown" };

/** What a worker answers. */
export type FromServerWorker =
  | { type: "listening"; port: number }
  | { type: "failed"; message: string }
  | { type: "closed" };

const port = self as unknown as {
  onmessage: ((event: MessageEvent<ToServerWorker>) => void) | null;
  postMessage(message: FromServerWorker): void;
};

let server: Server | undefined;

async function start(
  message: Extract<ToServerWorker, { type: "start" }>,
): Promise<void> {
  try {
    const app = withAccessLog(await loadApp(message.spec), message.accessLog);
    server = serve(app, {
      ...message.options,
      reusePort: true,
      // Other isolates serve the same app.
      multiprocess: true,
      onListen(addr) {
        port.postMessage({
          type: "listening",
          port: (addr as Deno.NetAddr).port,
        });
      },
    });
  } catch (error) {
    port.postMessage({ type: "failed", message: messageOf(error) });
  }
}

port.onmessage = async (event) => {
  const message = event.data;
  if (message.type === "start") return start(message);
  await server?.shutdown();
  port.postMessage({ type: "closed" });
};
