/**
 * The debugger's wrapper around the app, inside a generation's Worker: an
 * exception in the app gets a traceback page (with the console, for trusted
 * Host values) or a bare 500, and its traceback goes to the terminal.
 *
 * @module
 */
import type { App, Environ } from "../../_contract/types.ts";
import { errors } from "../../middleware/errors.ts";
import type { DebugSettings } from "../protocol.ts";
import { consoleHtml, debugPage, requestLine } from "./pages.ts";
import { tracebackText } from "./traceback.ts";
import { hostTrusted } from "./pin_guard.ts";
import type { ConsoleEval } from "./console_eval.ts";

/**
 * `inner` wrapped so that an exception gets the page `debug` asks for;
 * `onTraceback` gets each exception's request line and traceback, and
 * `consoleEval` keeps each page's error for its console.
 */
export function withDebugger(
  inner: App,
  debug: DebugSettings,
  onTraceback: (request: string, text: string) => void,
  consoleEval: ConsoleEval,
): App {
  // The terminal gets the traceback either way.
  const report = (error: unknown, environ: Environ) =>
    onTraceback(requestLine(environ), tracebackText(error));
  if (!debug.pages) return errors({ report })(inner);
  return errors({
    report,
    page: (error, environ) =>
      debugPage(
        error,
        environ,
        debug.console && hostTrusted(environ.HTTP_HOST, debug.trusted)
          ? consoleHtml(consoleEval.keep(error, environ))
          : "",
      ),
  })(inner);
}
