/**
 * The dev server's supervisor: generations in Workers behind one listening
 * socket, reloaded from real file edits, served to real clients.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Supervisor } from "../../_dev/supervisor.ts";

/** A temp app whose answer comes from lib.ts, so edits to lib.ts show. */
async function project(version: string): Promise<string> {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  await Deno.writeTextFile(
    join(dir, "app.ts"),
    `import { version } from "./lib.ts";
export default (environ: Record<string, unknown>, startResponse: (s: string, h: [string, string][]) => unknown) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  if (environ.PATH_INFO !== "/slow") return [version];
  return (async function* () {
    for (const part of [version, "-1", "-2", "-3"]) {
      yield part;
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
  })();
};
`,
  );
  await setVersion(dir, version);
  return dir;
}

function setVersion(dir: string, version: string): Promise<void> {
  return Deno.writeTextFile(
    join(dir, "lib.ts"),
    `export const version = ${JSON.stringify(version)};\n`,
  );
}

/** Serves `dir`'s app under a supervisor on 127.0.0.1, then cleans up. */
async function withSupervisor(
  dir: string,
  fn: (supervisor: Supervisor, url: string) => Promise<void>,
): Promise<void> {
  const supervisor = new Supervisor({
    module: join(dir, "app.ts"),
    call: false,
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    supervisor.handler,
  );
  try {
    await fn(supervisor, `http://127.0.0.1:${server.addr.port}`);
  } finally {
    await server.shutdown();
    await supervisor.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("Supervisor serves the app from a Worker and reloads a change in an imported module", async () => {
  const dir = await project("v1");
  await withSupervisor(dir, async (supervisor, url) => {
    assert.equal((await supervisor.reload()).failure, undefined);
    assert.equal(await (await fetch(`${url}/`)).text(), "v1");
    await setVersion(dir, "v2");
    assert.equal((await supervisor.reload()).failure, undefined);
    assert.equal(await (await fetch(`${url}/`)).text(), "v2");
  });
});

Deno.test("Supervisor lets a response in flight finish from the old generation", async () => {
  const dir = await project("old");
  await withSupervisor(dir, async (supervisor, url) => {
    await supervisor.reload();
    const slow = await fetch(`${url}/slow`);
    const reader = slow.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = (await reader.read()).value ?? "";
    await setVersion(dir, "new");
    await supervisor.reload();
    // New requests go to the new generation at once...
    assert.equal(await (await fetch(`${url}/`)).text(), "new");
    // ...while the old one finishes the response it had started.
    for (
      let part = await reader.read();
      !part.done;
      part = await reader.read()
    ) {
      text += part.value;
    }
    assert.equal(text, "old-1-2-3");
  });
});

Deno.test("Supervisor shows a load failure until a fix loads, and never stops serving", async () => {
  const dir = await project("v1");
  await withSupervisor(dir, async (supervisor, url) => {
    await supervisor.reload();
    await Deno.writeTextFile(join(dir, "lib.ts"), "export const version = ;\n");
    const syntax = await supervisor.reload();
    assert.ok(syntax.failure);
    const page = await fetch(`${url}/`);
    assert.equal(page.status, 500);
    assert.match(await page.text(), /The app failed to load[\s\S]*lib\.ts/);
    await Deno.writeTextFile(
      join(dir, "lib.ts"),
      'throw new Error("broken at import");\nexport const version = "never";\n',
    );
    assert.match(
      (await supervisor.reload()).failure!.message,
      /broken at import/,
    );
    assert.match(await (await fetch(`${url}/`)).text(), /broken at import/);
    await setVersion(dir, "fixed");
    assert.equal((await supervisor.reload()).failure, undefined);
    assert.equal(await (await fetch(`${url}/`)).text(), "fixed");
  });
});

Deno.test("Supervisor: deno.signal aborts in the Worker when the client leaves, and deno.request is a full Request", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  await Deno.writeTextFile(
    join(dir, "app.ts"),
    `let aborted = "no";
export default async (environ: Record<string, any>, startResponse: (s: string, h: [string, string][]) => unknown) => {
  startResponse("200 OK", [["Content-Type", "text/plain"]]);
  if (environ.PATH_INFO === "/wait") {
    const signal: AbortSignal = environ["deno.signal"];
    await new Promise((resolve) => signal.addEventListener("abort", resolve));
    aborted = "yes: " + (signal.reason as Error).name;
    return [];
  }
  if (environ.PATH_INFO === "/echo") {
    const request: Request = environ["deno.request"];
    return [request instanceof Request ? "Request " + request.method + " " + await request.text() : "not a Request"];
  }
  return [aborted];
};
`,
  );
  await withSupervisor(dir, async (supervisor, url) => {
    await supervisor.reload();
    const echo = await fetch(`${url}/echo`, { method: "POST", body: "hi" });
    assert.equal(await echo.text(), "Request POST hi");

    const client = new AbortController();
    const waiting = fetch(`${url}/wait`, { signal: client.signal });
    await new Promise((resolve) => setTimeout(resolve, 100));
    client.abort();
    await assert.rejects(waiting, { name: "AbortError" });
    const deadline = Date.now() + 5000;
    let seen = "";
    while (!(seen = await (await fetch(`${url}/`)).text()).startsWith("yes")) {
      assert.ok(Date.now() < deadline, `the app never saw the abort: ${seen}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(seen, "yes: AbortError");
  });
});

Deno.test("Supervisor hands on the app's status and headers as the app gave them: repeated names, a length, no type", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  await Deno.writeTextFile(
    join(dir, "app.ts"),
    `export default (environ: Record<string, unknown>, startResponse: (s: string, h: [string, string][]) => unknown) => {
  if (environ.PATH_INFO === "/cookies") {
    startResponse("201 Created", [
      ["Content-Type", "text/plain"],
      ["Set-Cookie", "a=1"],
      ["Set-Cookie", "b=2"],
      ["Content-Length", "2"],
    ]);
    return ["ok"];
  }
  if (environ.PATH_INFO === "/untyped") {
    startResponse("200 OK", [["X-Up", "Yes"]]);
    return ["hi"];
  }
  startResponse("202 Accepted", [["Content-Type", "text/plain"], ["X-Up", "Yes"]]);
  return (function* () { yield "str"; yield "eamed"; })();
};
`,
  );
  await withSupervisor(dir, async (supervisor, url) => {
    assert.equal((await supervisor.reload()).failure, undefined);
    const cookies = await fetch(`${url}/cookies`);
    assert.equal(cookies.status, 201);
    assert.deepEqual(cookies.headers.getSetCookie(), ["a=1", "b=2"]);
    assert.equal(cookies.headers.get("content-length"), "2");
    assert.equal(cookies.headers.get("content-type"), "text/plain");
    assert.equal(await cookies.text(), "ok");
    // No Content-Type from the app: none may be added on the way.
    const untyped = await fetch(`${url}/untyped`);
    assert.equal(untyped.headers.get("content-type"), null);
    assert.equal(untyped.headers.get("x-up"), "Yes");
    assert.equal(await untyped.text(), "hi");
    const streamed = await fetch(`${url}/streamed`);
    assert.equal(streamed.status, 202);
    assert.equal(streamed.headers.get("x-up"), "Yes");
    assert.equal(await streamed.text(), "streamed");
  });
});
