/**
 * The CLI's `--access-logfile`: the access log middleware writing to a file
 * or stdout, in the server process and in each `--workers` isolate alike.
 *
 * @module
 */
import type { App } from "../_contract/types.ts";
import { accessLog } from "../middleware/access_log.ts";

/** Where the access log goes (`"-"` for stdout) and in what format. */
export interface AccessLogFile {
  file: string;
  format: string;
}

/** `app` with the CLI's access log around it, if one was asked for. */
export function withAccessLog(
  app: App,
  log: AccessLogFile | undefined,
): App {
  if (log === undefined) return app;
  const output = log.file === "-" ? Deno.stdout : Deno.openSync(log.file, {
    append: true,
    create: true,
  });
  return accessLog({ format: log.format, output })(app);
}
