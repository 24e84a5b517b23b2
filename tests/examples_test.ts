/**
 * Every app in examples/, served on a real socket on 127.0.0.1 and
 * exercised with fetch: through serve() in this process, and once more
 * through the server.ts command line as a child process. make_server.ts,
 * which serves itself, also runs as a child process of its own.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type { App, Environ } from "../mod.ts";
import { errorLog, freePort, withServer } from "./_helpers.ts";
import simpleApp from "../examples/simple_app.ts";
import AppClass from "../examples/app_class.ts";
import callable, { Greeter } from "../examples/callable.ts";
import router from "../examples/router.ts";
import { helloWorldApp } from "../examples/make_server.ts";
import environEcho from "../examples/environ_echo.ts";
import streaming, { streamingApp } from "../examples/streaming.ts";
import download, {
  contentDisposition,
  DEFAULT_FILE,
  downloadApp,
} from "../examples/download.ts";
import upload, { type UploadReport } from "../examples/upload.ts";

/** Fetches `path` relative to `base`; returns the response and its text. */
async function get(
  base: string,
  path: string,
  init?: RequestInit,
): Promise<{ response: Response; text: string }> {
  const response = await fetch(new URL(path, base), init);
  return { response, text: await response.text() };
}

Deno.test("examples/simple_app.ts reports the request method", async () => {
  await withServer(simpleApp, async (server) => {
    const { response, text } = await get(server.url, "/");
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "text/plain");
    assert.equal(text, "Hello world! You sent a GET request.\n");
    assert.equal(response.headers.get("content-length"), String(text.length));

    const post = await get(server.url, "/anything", {
      method: "POST",
      body: "ignored",
    });
    assert.equal(post.text, "Hello world! You sent a POST request.\n");

    const head = await get(server.url, "/", { method: "HEAD" });
    assert.equal(head.response.status, 200);
    assert.equal(head.text, "");
  });
});

Deno.test("examples/app_class.ts serves one instance of the class per request", async () => {
  await withServer(AppClass, async (server) => {
    const { response, text } = await get(server.url, "/");
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "text/plain");
    assert.equal(text, "Hello world!\n");
  });

  // A subclass that remembers its instances shows the server's `new`.
  const instances: AppClass[] = [];
  class Counted extends AppClass {
    constructor(...args: ConstructorParameters<typeof AppClass>) {
      super(...args);
      instances.push(this);
    }
  }
  await withServer(Counted, async (server) => {
    for (const path of ["/one", "/two", "/three"]) {
      assert.equal((await get(server.url, path)).text, "Hello world!\n");
    }
  });
  assert.equal(instances.length, 3);
  assert.deepEqual(instances.map((app) => app.environ.PATH_INFO), [
    "/one",
    "/two",
    "/three",
  ]);
  assert.equal(new Set(instances).size, 3);
});

Deno.test("examples/callable.ts is called through its call() method", async () => {
  assert.ok(callable instanceof Greeter);
  const greeter = new Greeter("Bonjour");
  await withServer(greeter, async (server) => {
    const first = await get(server.url, "/");
    assert.equal(first.response.status, 200);
    assert.equal(
      first.response.headers.get("content-type"),
      "text/plain; charset=utf-8",
    );
    assert.equal(first.response.headers.get("x-request-count"), "1");
    assert.equal(first.text, "Bonjour, world!\n");

    // One instance serves every request; the path is decoded as UTF-8.
    const second = await get(server.url, "/Ren%C3%A9e");
    assert.equal(second.response.headers.get("x-request-count"), "2");
    assert.equal(second.text, "Bonjour, Renée!\n");
  });
  assert.equal(greeter.count, 2);

  await withServer(callable, async (server) => {
    assert.equal((await get(server.url, "/Deno")).text, "Hello, Deno!\n");
  });
});

Deno.test("examples/router.ts serves /hello and /world", async () => {
  await withServer(router, async (server) => {
    const hello = await get(server.url, "/hello");
    assert.equal(hello.response.status, 200);
    assert.equal(
      hello.response.headers.get("content-type"),
      "text/plain; charset=utf-8",
    );
    assert.equal(hello.text, "Hello\n");

    const world = await get(server.url, "/world");
    assert.equal(world.response.status, 200);
    assert.equal(world.text, "World\n");
  });
});

Deno.test("examples/router.ts lists its routes at / and answers 404 elsewhere", async () => {
  await withServer(router, async (server) => {
    const index = await get(server.url, "/");
    assert.equal(index.response.status, 200);
    assert.equal(
      index.response.headers.get("content-type"),
      "text/html; charset=utf-8",
    );
    assert.match(index.text, /<a href="\/hello">/);
    assert.match(index.text, /<a href="\/world">/);

    for (const path of ["/nowhere", "/hello/", "/world/x"]) {
      const missing = await get(server.url, path);
      assert.equal(missing.response.status, 404, path);
      assert.equal(missing.text, "Not Found\n");
    }
  });
});

/** Absolute path of a file in examples/, so the tests do not depend on the cwd. */
function example(name: string): string {
  return fileURLToPath(new URL(`../examples/${name}`, import.meta.url));
}

/** How long a child may take before the watchdog kills it (no assertion on it). */
const CHILD_TIMEOUT_MS = 30_000;

/** How a child process that served requests ended. */
interface ChildResult {
  status: Deno.CommandStatus;
  stdout: string;
  stderr: string;
}

/**
 * Starts `deno <args>`, waits for the line on its stdout that `listening`
 * matches (its first group is the URL), runs `fn` with that URL, then sends
 * SIGTERM, reads the rest of its output and waits for it to exit.
 */
async function withChild(
  args: string[],
  env: Record<string, string>,
  listening: RegExp,
  fn: (url: string) => Promise<void>,
): Promise<ChildResult> {
  // The watchdog only keeps a broken child from hanging the suite.
  const watchdog = new AbortController();
  const timer = setTimeout(() => watchdog.abort(), CHILD_TIMEOUT_MS);
  const child = new Deno.Command(Deno.execPath(), {
    args,
    // The CLI reads PORT and SCRIPT_NAME; empty counts as unset.
    env: { PORT: "", SCRIPT_NAME: "", NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: watchdog.signal,
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdout = "";
  let failure: unknown;
  try {
    let match: RegExpMatchArray | null = null;
    while (match === null) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`it exited without serving:\n${stdout}`);
      stdout += value;
      match = stdout.match(listening);
    }
    await fn(match[1]);
  } catch (error) {
    failure = error;
  }
  try {
    child.kill("SIGTERM");
  } catch {
    // It has exited already.
  }
  while (true) {
    const { value, done } = await lines.read();
    if (done) break;
    stdout += value;
  }
  const result = { status: await child.status, stdout, stderr: await stderr };
  clearTimeout(timer);
  if (failure !== undefined) {
    throw new Error(
      `deno ${args.join(" ")}: ${failure}\nstderr:\n${result.stderr}`,
      { cause: failure },
    );
  }
  return result;
}

Deno.test("examples/make_server.ts serves itself on $PORT and stops on SIGTERM", async () => {
  const { status, stdout, stderr } = await withChild(
    [
      "run",
      "--allow-net=127.0.0.1",
      "--allow-env=PORT",
      example("make_server.ts"),
    ],
    { PORT: "0" },
    /^Serving HTTP on (http:\/\/127\.0\.0\.1:\d+\/)/m,
    async (url) => {
      assert.notEqual(new URL(url).port, "0");
      const { response, text } = await get(url, "/");
      assert.equal(response.status, 200);
      assert.equal(
        response.headers.get("content-type"),
        "text/plain; charset=utf-8",
      );
      assert.equal(text, "Hello World");
    },
  );
  // SIGTERM is a clean shutdown, not a crash.
  assert.equal(status.code, 0, `exit status ${JSON.stringify(status)}`);
  assert.match(stdout, /Shutting down\.\n$/);
  assert.equal(stderr, "");
});

Deno.test("examples/make_server.ts refuses a PORT that is not a port", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      "--allow-env=PORT",
      example("make_server.ts"),
    ],
    env: { PORT: "http", NO_COLOR: "1" },
    stdin: "null",
  }).output();
  assert.equal(output.code, 2);
  assert.match(
    new TextDecoder().decode(output.stderr),
    /PORT must be 0 to 65535, not "http"/,
  );
});

/**
 * Every example served by the CLI, `deno run -A server.ts examples/X.ts`,
 * with one request and the answer it must get.
 */
const CLI_CASES: {
  name: string;
  path: string;
  init?: RequestInit;
  expect: string | RegExp;
}[] = [
  {
    name: "simple_app.ts",
    path: "/",
    expect: "Hello world! You sent a GET request.\n",
  },
  { name: "app_class.ts", path: "/", expect: "Hello world!\n" },
  { name: "callable.ts", path: "/CLI", expect: "Hello, CLI!\n" },
  { name: "router.ts", path: "/hello", expect: "Hello\n" },
  { name: "make_server.ts", path: "/", expect: "Hello World" },
  { name: "environ_echo.ts", path: "/x?y", expect: /"QUERY_STRING": "y"/ },
  {
    name: "streaming.ts",
    path: "/?lines=2&delay=0",
    expect: "line 1 of 2\nline 2 of 2\n",
  },
  { name: "download.ts", path: "/", expect: /^Hello from a file!\n/ },
  {
    name: "upload.ts",
    path: "/",
    init: { method: "POST", body: "a\nb\n" },
    expect: /"lines":2,"bytes":4,/,
  },
];

for (const { name, path, init, expect } of CLI_CASES) {
  Deno.test({
    name: `examples/${name} runs under server.ts from the command line`,
    async fn() {
      const server = fileURLToPath(new URL("../server.ts", import.meta.url));
      await withChild(
        ["run", "-A", server, example(name), "--port", "0"],
        {},
        /^Listening on (http:\/\/127\.0\.0\.1:\d+\/)/m,
        async (url) => {
          const { response, text } = await get(url, path, init);
          assert.equal(response.status, 200, text);
          if (typeof expect === "string") assert.equal(text, expect);
          else assert.match(text, expect);
        },
      );
    },
  });
}

Deno.test("examples/make_server.ts exports its app for the CLI and for tests", async () => {
  await withServer(helloWorldApp, async (server) => {
    assert.equal((await get(server.url, "/")).text, "Hello World");
  });
});

Deno.test("examples/environ_echo.ts echoes the CGI keys of the environ", async () => {
  await withServer(environEcho, async (server, port) => {
    const response = await fetch(
      new URL("/caf%C3%A9/a%20b?x=1&y=%20z", server.url),
      {
        method: "POST",
        headers: {
          "X-Example-Token": "abc 123",
          "Content-Type": "text/plain",
        },
        body: "hello",
      },
    );
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "application/json");
    const environ = await response.json() as Record<string, string>;

    assert.equal(environ.REQUEST_METHOD, "POST");
    // Percent-decoded byte by byte as Latin-1: PEP 3333's native string.
    assert.equal(environ.PATH_INFO, "/caf\xc3\xa9/a b");
    assert.equal(environ.SCRIPT_NAME, "");
    assert.equal(environ.QUERY_STRING, "x=1&y=%20z");
    assert.equal(environ.RAW_URI, "/caf%C3%A9/a%20b?x=1&y=%20z");
    assert.equal(environ.SERVER_NAME, "127.0.0.1");
    assert.equal(environ.SERVER_PORT, String(port));
    assert.equal(environ.SERVER_PROTOCOL, "HTTP/1.1");
    assert.equal(environ.REMOTE_ADDR, "127.0.0.1");
    assert.match(environ.REMOTE_PORT, /^\d+$/);
    assert.equal(environ.HTTP_X_EXAMPLE_TOKEN, "abc 123");
    assert.equal(environ.HTTP_HOST, `127.0.0.1:${port}`);
    assert.equal(environ.CONTENT_TYPE, "text/plain");
    assert.equal(environ.CONTENT_LENGTH, "5");
    assert.equal(environ.HTTP_CONTENT_TYPE, undefined);
    assert.equal(environ["wsgi.url_scheme"], "http");

    // Nothing but uppercase CGI keys and the URL scheme.
    for (const key of Object.keys(environ)) {
      assert.ok(
        /^[A-Z][A-Z0-9_]*$/.test(key) || key === "wsgi.url_scheme",
        `unexpected key ${key}`,
      );
    }
  });
});

Deno.test("examples/streaming.ts sends each write() as it happens, in order", async () => {
  // The app waits after each line until the client has read it: line n+1
  // cannot have been written before line n arrived, so if the server held
  // the data back the test would stall rather than pass.
  const lines = 4;
  const released: (() => void)[] = [];
  const pauses: Promise<void>[] = [];
  for (let i = 0; i < lines; i++) {
    pauses.push(new Promise((resolve) => released.push(resolve)));
  }
  const app = streamingApp((_environ, line) => pauses[line - 1]);
  await withServer(app, async (server) => {
    const response = await fetch(new URL(`/?lines=${lines}`, server.url));
    assert.equal(response.status, 200);
    assert.equal(
      response.headers.get("content-type"),
      "text/plain; charset=utf-8",
    );
    // The length is unknown when write() sends the headers.
    assert.equal(response.headers.get("content-length"), null);

    const reader = response.body!.pipeThrough(new TextDecoderStream())
      .getReader();
    let received = "";
    for (let line = 1; line <= lines; line++) {
      const expected = `line ${line} of ${lines}\n`;
      while (!received.endsWith(expected)) {
        const { value, done } = await reader.read();
        assert.ok(!done, `the body ended before line ${line}: ${received}`);
        received += value;
        // Chunks arrive in order: what came so far is a prefix of the body.
        assert.ok(
          expectedBody(lines).startsWith(received),
          `out of order: ${JSON.stringify(received)}`,
        );
      }
      // Nothing past this line yet: the app is still waiting for us.
      assert.equal(received, expectedBody(line, lines));
      released[line - 1]();
    }
    const { done } = await reader.read();
    assert.ok(done);
    assert.equal(received, expectedBody(lines));
  });
});

Deno.test("examples/streaming.ts stops writing when the client goes away", async () => {
  const log = errorLog();
  let paused!: (environ: Environ) => void;
  const pausedIn = new Promise<Environ>((resolve) => paused = resolve);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const inner = streamingApp((environ) => {
    paused(environ);
    return gate;
  });
  // Keep the app's own promise, to see how it ends.
  const runs: Promise<unknown>[] = [];
  const app: App = (environ, startResponse) => {
    const run = Promise.resolve(inner(environ, startResponse));
    runs.push(run);
    return run;
  };
  await withServer(app, async (server) => {
    const response = await fetch(new URL("/?lines=3", server.url));
    const reader = response.body!.pipeThrough(new TextDecoderStream())
      .getReader();
    let received = "";
    while (!received.includes("\n")) received += (await reader.read()).value;
    assert.equal(received, "line 1 of 3\n");

    // Hang up while the app waits between lines, then let it go on.
    const signal = (await pausedIn)["deno.signal"]!;
    const aborted = new Promise((resolve) =>
      signal.addEventListener("abort", resolve, { once: true })
    );
    await reader.cancel();
    await aborted;
    release();
    // It saw the signal and returned its empty body instead of writing
    // into a closed response.
    assert.deepEqual(await runs[0], []);
  }, { errors: log.sink });
  assert.equal(log.text(), "");
});

/** The first `upTo` lines of the streaming body of `lines` lines. */
function expectedBody(upTo: number, lines = upTo): string {
  let body = "";
  for (let line = 1; line <= upTo; line++) body += `line ${line} of ${lines}\n`;
  return body;
}

Deno.test("examples/streaming.ts streams ?lines= lines with a ?delay= between them", async () => {
  await withServer(streaming, async (server) => {
    const response = await fetch(new URL("/?lines=3&delay=5", server.url));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("x-content-type-options"), "nosniff");
    assert.equal(response.headers.get("content-length"), null);
    const chunks: string[] = [];
    for await (
      const chunk of response.body!.pipeThrough(new TextDecoderStream())
    ) {
      chunks.push(chunk);
    }
    assert.ok(chunks.length >= 1);
    assert.equal(chunks.join(""), expectedBody(3));

    // Out-of-range parameters are clamped, bad ones fall back to defaults.
    const one = await get(server.url, "/?lines=-7&delay=0");
    assert.equal(one.text, "line 1 of 1\n");
    const five = await get(server.url, "/?lines=lots&delay=0");
    assert.equal(five.text, expectedBody(5));
  });
});

Deno.test("examples/download.ts sends the file through wsgi.file_wrapper", async () => {
  const bytes = await Deno.readFile(DEFAULT_FILE);
  await withServer(download, async (server) => {
    const response = await fetch(new URL("/", server.url));
    assert.equal(response.status, 200);
    assert.equal(
      response.headers.get("content-type"),
      "text/plain; charset=utf-8",
    );
    assert.equal(response.headers.get("content-length"), String(bytes.length));
    assert.equal(
      response.headers.get("content-disposition"),
      'attachment; filename="hello.txt"',
    );
    assert.deepEqual(new Uint8Array(await response.arrayBuffer()), bytes);

    const head = await fetch(new URL("/", server.url), { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), String(bytes.length));
    assert.equal(await head.text(), "");

    const post = await get(server.url, "/", { method: "POST", body: "x" });
    assert.equal(post.response.status, 405);
    assert.equal(post.response.headers.get("allow"), "GET, HEAD");
  });
});

Deno.test("examples/download.ts sends a large binary file byte for byte", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/data ünïcode.bin`;
    // 1 MiB and a bit: several stream chunks, every byte value.
    const bytes = new Uint8Array(1024 * 1024 + 123);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >> 8)) & 255;
    await Deno.writeFile(path, bytes);

    await withServer(downloadApp(path), async (server) => {
      const response = await fetch(new URL("/", server.url));
      assert.equal(response.status, 200);
      assert.equal(
        response.headers.get("content-type"),
        "application/octet-stream",
      );
      assert.equal(
        response.headers.get("content-length"),
        String(bytes.length),
      );
      assert.equal(
        response.headers.get("content-disposition"),
        `attachment; filename="data _n_code.bin"; ` +
          `filename*=UTF-8''data%20%C3%BCn%C3%AFcode.bin`,
      );
      const received = new Uint8Array(await response.arrayBuffer());
      assert.equal(received.length, bytes.length);
      assert.deepEqual(received, bytes);
    });

    await withServer(downloadApp(`${dir}/missing.txt`), async (server) => {
      const missing = await get(server.url, "/");
      assert.equal(missing.response.status, 404);
      assert.equal(missing.text, "Not Found\n");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples/download.ts quotes file names safely", () => {
  assert.equal(contentDisposition("a.txt"), 'attachment; filename="a.txt"');
  assert.equal(
    contentDisposition('say "hi" (1)*.txt'),
    `attachment; filename="say _hi_ (1)*.txt"; ` +
      `filename*=UTF-8''say%20%22hi%22%20%281%29%2A.txt`,
  );
});

/** POSTs `body` to the upload example and returns its report. */
async function postUpload(
  url: string,
  init: RequestInit,
): Promise<UploadReport> {
  const response = await fetch(url, { method: "POST", ...init });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "application/json");
  return await response.json();
}

const encoder = new TextEncoder();

Deno.test("examples/upload.ts counts the lines of a Content-Length upload", async () => {
  await withServer(upload, async (server) => {
    const text = "first line\nsecond, café\n\nno newline at the end";
    const report = await postUpload(server.url, { body: text });
    const bytes = encoder.encode(text).length;
    assert.deepEqual(report, {
      lines: 4,
      bytes,
      lineLengths: [11, 14, 1, 21],
      contentLength: String(bytes),
    });

    const empty = await postUpload(server.url, { body: "" });
    assert.deepEqual(empty, {
      lines: 0,
      bytes: 0,
      lineLengths: [],
      contentLength: "0",
    });
  });
});

Deno.test("examples/upload.ts counts the lines of a chunked upload", async () => {
  // Lines split across chunks, a chunk holding several lines, an empty
  // chunk, and a big chunk: the line iteration must not care.
  const big = "x".repeat(100_000) + "\n";
  const parts = ["alpha\nbe", "ta\n", "", "gamma\ndelta\nep", "silon\n", big];
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const part of parts) controller.enqueue(encoder.encode(part));
      controller.close();
    },
  });
  await withServer(upload, async (server) => {
    const report = await postUpload(server.url, {
      body,
      duplex: "half",
    } as RequestInit);
    const all = parts.join("");
    assert.deepEqual(report, {
      lines: 6,
      bytes: all.length,
      lineLengths: [6, 5, 6, 6, 8, big.length],
      contentLength: null,
    });
  });
});

Deno.test("examples/upload.ts refuses a request without a body method", async () => {
  await withServer(upload, async (server) => {
    const { response, text } = await get(server.url, "/");
    assert.equal(response.status, 405);
    assert.equal(response.headers.get("allow"), "POST, PUT");
    assert.match(text, /POST or PUT/);
  });
});

Deno.test("examples/compiled/main.ts (the deno compile entry) serves the router and stops cleanly on SIGTERM", async () => {
  const port = freePort();
  // The permissions `deno task compile` gives the binary, no more.
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      example("compiled/main.ts"),
    ],
    env: { PORT: String(port) },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    const url = `http://127.0.0.1:${port}/hello`;
    const deadline = Date.now() + CHILD_TIMEOUT_MS;
    let response: Response | undefined;
    while (response === undefined) {
      try {
        response = await fetch(url);
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    assert.equal(response.status, 200);
    assert.match(await response.text(), /hello/i);
  } finally {
    child.kill("SIGTERM");
    const { code } = await child.output();
    assert.equal(code, 0);
  }
});
