/**
 * Error text on its way to a page, a log file or a pipe: colour codes
 * dropped, other control characters escaped.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { spawnWithColour } from "../_helpers.ts";
import {
  escapeControls,
  formatError,
  messageOf,
  stripAnsi,
} from "../../_shared/errors.ts";

Deno.test("stripAnsi() drops colour, cursor and title sequences and keeps the text", () => {
  assert.equal(
    stripAnsi(
      "at \x1b[0m\x1b[36mfile:///app.ts\x1b[0m:\x1b[0m\x1b[33m1\x1b[0m \x1b[38;5;245mgrey\x1b[0m",
    ),
    "at file:///app.ts:1 grey",
  );
  assert.equal(stripAnsi("\x1b[2K\x1b[1Gline\x1b]0;title\x07 end"), "line end");
  assert.equal(stripAnsi("plain [31m text"), "plain [31m text");
});

Deno.test("formatError() and messageOf() give a coloured message plain, and still escape other controls", () => {
  const error = new TypeError(
    "Module not found\n    at \x1b[36mfile:///a.ts\x1b[0m\r",
  );
  assert.equal(messageOf(error), "Module not found\n    at file:///a.ts\r");
  assert.match(
    formatError(error),
    /^TypeError: Module not found\n {4}at file:\/\/\/a\.ts\\x0d\n/,
  );
  assert.equal(escapeControls("a\x1bb"), "a\\x1bb");
});

Deno.test("server.ts on a pipe prints a failed import without ANSI codes", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    join(dir, "app.ts"),
    'import { x } from "../missing.ts";\nexport default () => x;\n',
  );
  const server = spawnWithColour(
    new URL("../../server.ts", import.meta.url).pathname,
    dir,
  );
  try {
    const status = await server.stop(undefined, 30_000);
    assert.notEqual(status.code, 0);
    assert.match(server.stderr, /Module not found[\s\S]*app\.ts:1:19/);
    assert.ok(!server.output().includes("\x1b"), server.output());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
