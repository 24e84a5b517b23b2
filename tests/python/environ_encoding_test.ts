/**
 * pythonApp()'s encoding of the environ for the channel: native strings go
 * over byte for byte, and a value above U+00FF, which only a middleware in
 * front can put there, is refused with the key named, before any worker is
 * taken.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type { App } from "../../mod.ts";
import { pythonApp } from "../../python.ts";
import { errorLog, withServer } from "../_helpers.ts";
import { PY } from "./_python.ts";

const PLAIN = fileURLToPath(
  new URL("./fixtures/plain_app.py", import.meta.url),
);

/** Sets environ["x.label"] from the request's ?label= before the app. */
function labelled(app: App): App {
  return (environ, startResponse) => {
    const label = new URLSearchParams(environ.QUERY_STRING).get("label");
    if (label !== null) environ["x.label"] = label;
    return app(environ, startResponse);
  };
}

Deno.test("pythonApp() refuses an environ value above U+00FF, naming its key, and serves on", async () => {
  await using app = pythonApp(PLAIN, { ...PY, workers: 1 });
  await app.ready;
  const log = errorLog();
  await withServer(labelled(app), async (_server, port) => {
    const refused = await fetch(
      `http://127.0.0.1:${port}/hello?label=%E2%82%AC`,
    );
    assert.equal(refused.status, 500);
    await refused.body?.cancel();
    // The one worker was not taken: the next request is answered.
    const next = await fetch(`http://127.0.0.1:${port}/hello?label=caf%C3%A9`);
    assert.equal(next.status, 200);
    assert.equal(await next.text(), "Hello, World!\n");
  }, { errors: log.sink });
  assert.match(
    log.text(),
    /Cannot pass environ\["x\.label"\] to Python: it is not a native string/,
  );
});
