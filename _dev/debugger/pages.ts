/**
 * The dev server's error pages: an HTML traceback for browsers, plain text
 * for every other client.
 *
 * @module
 */
import type { Environ } from "../../_contract/types.ts";
import {
  type Frame,
  framesOf,
  headline,
  place,
  tracebackText,
} from "./traceback.ts";

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

function frameHtml(frame: Frame, withConsole = false): string {
  const where = escapeHtml(place(frame));
  // Each line ends in its own newline, so that the highlighted one, a
  // block, is not followed by an empty line.
  // Numbers padded to one width, so that the lines' indents line up.
  const width = String(
    (frame.source?.first ?? 1) + (frame.source?.lines.length ?? 1) - 1,
  ).length;
  const source = frame.source
    ? `<pre class="source">${
      frame.source.lines.map((text, i) => {
        const number = frame.source!.first + i;
        const line = `<span class="n">${
          String(number).padStart(width)
        }</span> ${escapeHtml(text)}\n`;
        return number === frame.line ? `<b class="here">${line}</b>` : line;
      }).join("")
    }</pre>`
    : "";
  const locals = frame.locals?.length
    ? `<table class="locals">${
      frame.locals.map(([name, value]) =>
        `<tr><th>${escapeHtml(name)}</th><td><code>${
          escapeHtml(value)
        }</code></td></tr>`
      ).join("")
    }</table>`
    : "";
  return `<li class="frame ${frame.kind}"><code class="fn">${
    escapeHtml(frame.fn)
  }</code> <span class="where">${where}</span> <span class="kind">${frame.kind}</span>${
    withConsole && frame.index !== undefined
      ? ` <button type="button" data-frame="${frame.index}" data-fn="${
        escapeHtml(frame.fn)
      }">Console here</button>`
      : ""
  }${source}${locals}</li>`;
}

/** The request as its request line has it: method, path and query. */
export function requestLine(environ: Environ): string {
  return `${environ.REQUEST_METHOD} ${environ.RAW_URI}`;
}

const STYLE =
  `body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem}
h1{font-size:1.3rem;color:#b00020}.message{margin-top:-.5rem;white-space:pre-wrap}.request{color:#555}ol{padding:0;list-style:none}
.frame{border:1px solid #ddd;border-radius:4px;margin:.5rem 0;padding:.4rem .6rem}
.frame.app{border-color:#b00020}.kind{float:right;color:#777;font-size:.8rem}
.source{background:#f6f6f6;padding:.4rem;overflow:auto}.here{background:#ffe3e3;display:block}
.n{color:#999}.locals{font-size:.85rem}.locals th{text-align:left;padding-right:1rem}details{margin:.5rem 0}textarea{width:100%;height:12rem;font:12px monospace}
#console pre{background:#1e1e1e;color:#ddd;padding:.5rem;min-height:3rem;max-height:24rem;overflow:auto;white-space:pre-wrap}
#console textarea[name=source]{width:100%;height:auto;resize:vertical;font:13px monospace;padding:.3rem;box-sizing:border-box}.hint{color:#555;font-size:.9rem}
#pin-message{color:#b00020;margin-left:.5rem}`;

/**
 * The console: a PIN form, then a line that sends JavaScript to the
 * debugger's eval endpoint. `error` names the error page it belongs to, so
 * that `error` and `environ` are bound; without it only the app's exports
 * and globals are.
 */
export function consoleHtml(error?: string, python = false): string {
  const bound = error === undefined
    ? "<code>exports</code> (the app module's exports) and <code>app</code>"
    : "<code>exports</code> (the app module's exports), <code>app</code>, " +
      "<code>error</code> (the exception above) and <code>environ</code> (this request's)";
  const hint = python
    ? `Runs Python in a frame of the failed request, its globals and locals in scope: the innermost frame, or the one whose "Console here" you pressed.
An expression's repr is shown; statements run, and what they print is shown. Assignments last from one input to the next.`
    : `Runs JavaScript inside the app's Worker, with ${bound} in scope, and the Worker's globals.
An expression's value is shown; statements run as a function body (<code>return</code> a value). <code>await</code> works.`;
  return `<section id="console"${
    error === undefined ? "" : ` data-error="${escapeHtml(error)}"`
  }>
<h2>Console</h2>
<p class="hint">${hint} <span id="frame-note"></span></p>
<form id="pin-form"><label>PIN, printed in the terminal where dev.ts runs:
<input name="pin" autocomplete="off" size="14"></label> <button>Unlock</button><span id="pin-message"></span></form>
<div id="repl" hidden><pre id="output"></pre>
<form id="eval-form"><textarea name="source" rows="1" autocomplete="off" spellcheck="false" placeholder="> an expression, then Enter (Shift+Enter for a new line, up and down for history)"></textarea></form></div>
</section>
<script>${CONSOLE_SCRIPT}</script>`;
}

// Kept small and dependency-free; the page's own content is never markup.
const CONSOLE_SCRIPT = `(() => {
const base = "/__wsgi_dev__/";
const root = document.getElementById("console");
const pinForm = document.getElementById("pin-form");
const message = document.getElementById("pin-message");
const repl = document.getElementById("repl");
const output = document.getElementById("output");
const evalForm = document.getElementById("eval-form");
const post = async (path, body) => {
  const response = await fetch(base + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return response.json();
};
for (const button of document.querySelectorAll("button[data-frame]")) {
  button.addEventListener("click", () => {
    root.dataset.frame = button.dataset.frame;
    document.getElementById("frame-note").textContent = "(now in " + button.dataset.fn + ")";
    root.scrollIntoView();
  });
}
const unlocked = () => { pinForm.hidden = true; repl.hidden = false; evalForm.source.focus(); };
fetch(base + "pin").then((r) => r.json()).then((state) => {
  if (state.authenticated) unlocked();
  else if (state.locked) message.textContent = "The console is locked; restart dev.ts.";
});
pinForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const answer = await post("pin", { pin: pinForm.pin.value });
  if (answer.ok) unlocked(); else message.textContent = answer.error;
});
// Input history, newest last; \`at\` is the entry shown, history.length the
// draft being typed, kept aside while older entries are shown.
const history = [];
let at = 0;
let draft = "";
const source = evalForm.source;
const fit = () => { source.rows = Math.min(source.value.split("\\n").length, 20); };
const show = (text) => {
  source.value = text;
  fit();
  source.selectionStart = source.selectionEnd = text.length;
};
source.addEventListener("input", fit);
source.addEventListener("keydown", (event) => {
  const before = source.value.slice(0, source.selectionStart);
  const after = source.value.slice(source.selectionEnd);
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    evalForm.requestSubmit();
  } else if (event.key === "ArrowUp" && !before.includes("\\n") && at > 0) {
    // Only from the first line: below it the arrow moves the caret.
    event.preventDefault();
    if (at === history.length) draft = source.value;
    show(history[--at]);
  } else if (event.key === "ArrowDown" && !after.includes("\\n") && at < history.length) {
    event.preventDefault();
    at++;
    show(at === history.length ? draft : history[at]);
  }
});
evalForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = source.value;
  if (text.trim() === "") return;
  if (history.at(-1) !== text) history.push(text);
  at = history.length;
  draft = "";
  show("");
  // A Python page's frame, when one was picked: "key#index".
  const error = root.dataset.frame === undefined ? root.dataset.error : root.dataset.error + "#" + root.dataset.frame;
  const answer = await post("eval", { source: text, error });
  output.textContent += "> " + text.replaceAll("\\n", "\\n  ") + "\\n" + (answer.output ?? answer.error) + "\\n";
  output.scrollTop = output.scrollHeight;
});
})();`;

/** The standalone console page, at `/__wsgi_dev__/console`. */
export function consolePage(): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Console: dev.ts</title>
<style>${STYLE}</style></head><body>
<h1 style="color:inherit">Console</h1>
${consoleHtml()}
</body></html>
`;
}

/**
 * The HTML page for `error`, under `subtitle` (the request, say): the app's
 * frames first, the rest folded away. `console` is the console section to
 * add, if any.
 */
export function tracebackHtml(
  error: unknown,
  subtitle: string,
  console = "",
): string {
  const frames = framesOf(error);
  const app = frames.filter((frame) => frame.kind === "app");
  const other = frames.filter((frame) => frame.kind !== "app");
  // A heading holds one line; the rest of a message (a syntax error's
  // excerpt, a failed import's place) keeps its own lines below.
  const [first, ...rest] = headline(error).split("\n");
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeHtml(first)}</title>
<style>${STYLE}</style></head><body>
<h1>${escapeHtml(first)}</h1>
${
    rest.length > 0
      ? `<pre class="message">${escapeHtml(rest.join("\n"))}</pre>\n`
      : ""
  }<p class="request">${escapeHtml(subtitle)}</p>
<h2>Your code</h2>
<ol class="frames app">${
    app.map((frame) => frameHtml(frame, console !== "")).join("\n") ||
    "<li>No frame of the app's own code.</li>"
  }</ol>
<details><summary>Library and runtime frames (${other.length})</summary>
<ol class="frames other">${
    other.map((frame) => frameHtml(frame, console !== "")).join("\n")
  }</ol></details>
<h2>Plain text, to copy</h2>
<textarea readonly>${escapeHtml(tracebackText(error, frames))}</textarea>
${console}
</body></html>
`;
}

/**
 * The 500 page for `error`: HTML when the client accepts it, else text.
 * `console` is the console section for the HTML page, if any.
 */
export function debugPage(
  error: unknown,
  environ: Environ,
  console = "",
): { body: string; contentType: string } {
  const accept = environ.HTTP_ACCEPT ?? "";
  return accept.includes("text/html")
    ? {
      body: tracebackHtml(
        error,
        requestLine(environ),
        console,
      ),
      contentType: "text/html; charset=utf-8",
    }
    : { body: tracebackText(error), contentType: "text/plain; charset=utf-8" };
}
