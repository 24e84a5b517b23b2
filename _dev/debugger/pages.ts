/**
 * The dev server's error pages: an HTML traceback for browsers, plain text
 * for every other client.
 *
 * @module
 */
import type { Environ } from "../../mod.ts";
import { type Frame, framesOf, headline, tracebackText } from "./traceback.ts";

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for HTML: nothing the app or the client wrote is markup. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

function frameHtml(frame: Frame): string {
  const where = `${escapeHtml(frame.url)}:${frame.line}:${frame.column}`;
  const source = frame.source
    ? `<pre class="source">${
      frame.source.lines.map((text, i) => {
        const number = frame.source!.first + i;
        const line = `<span class="n">${number}</span> ${escapeHtml(text)}`;
        return number === frame.line ? `<b class="here">${line}</b>` : line;
      }).join("\n")
    }</pre>`
    : "";
  return `<li class="frame ${frame.kind}"><code class="fn">${
    escapeHtml(frame.fn || "<module>")
  }</code> <span class="where">${where}</span> <span class="kind">${frame.kind}</span>${source}</li>`;
}

const STYLE =
  `body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem}
h1{font-size:1.3rem;color:#b00020}.request{color:#555}ol{padding:0;list-style:none}
.frame{border:1px solid #ddd;border-radius:4px;margin:.5rem 0;padding:.4rem .6rem}
.frame.app{border-color:#b00020}.kind{float:right;color:#777;font-size:.8rem}
.source{background:#f6f6f6;padding:.4rem;overflow:auto}.here{background:#ffe3e3;display:block}
.n{color:#999}details{margin:.5rem 0}textarea{width:100%;height:12rem;font:12px monospace}`;

/**
 * The HTML page for `error`, under `subtitle` (the request, say): the app's
 * frames first, the rest folded away.
 */
export function tracebackHtml(error: unknown, subtitle: string): string {
  const frames = framesOf(error);
  const app = frames.filter((frame) => frame.kind === "app");
  const other = frames.filter((frame) => frame.kind !== "app");
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeHtml(headline(error))}</title>
<style>${STYLE}</style></head><body>
<h1>${escapeHtml(headline(error))}</h1>
<p class="request">${escapeHtml(subtitle)}</p>
<h2>Your code</h2>
<ol class="frames app">${
    app.map(frameHtml).join("\n") || "<li>No frame of the app's own code.</li>"
  }</ol>
<details><summary>Library and runtime frames (${other.length})</summary>
<ol class="frames other">${other.map(frameHtml).join("\n")}</ol></details>
<h2>Plain text, to copy</h2>
<textarea readonly>${escapeHtml(tracebackText(error, frames))}</textarea>
</body></html>
`;
}

/** The 500 page for `error`: HTML when the client accepts it, else text. */
export function debugPage(
  error: unknown,
  environ: Environ,
): { body: string; contentType: string } {
  const accept = environ.HTTP_ACCEPT ?? "";
  return accept.includes("text/html")
    ? {
      body: tracebackHtml(
        error,
        `${environ.REQUEST_METHOD} ${environ.SCRIPT_NAME}${environ.PATH_INFO}`,
      ),
      contentType: "text/html; charset=utf-8",
    }
    : { body: tracebackText(error), contentType: "text/plain; charset=utf-8" };
}
