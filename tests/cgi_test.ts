/**
 * runCgi() under a real CGI host, lighttpd's mod_cgi: one Deno process per
 * request, the request in environment variables and stdin, the response on
 * stdout. Then in-process, through the options, for the rules that need no
 * host.
 */
import assert from "node:assert/strict";
import type { App, Body, Chunk } from "../mod.ts";
import { runCgi } from "../cgi.ts";
import { serve } from "../server.ts";
import { apps, cookies, echo, upload } from "./fixtures/cgi/apps.ts";
import {
  dechunk,
  errorLog,
  freePort,
  parseRaw,
  rawRequest,
} from "./_helpers.ts";

const MAIN = new URL("./fixtures/cgi/main.ts", import.meta.url).pathname;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A running lighttpd that serves every fixture app as `/<name>.cgi`. */
interface Host {
  base: string;
  port: number;
  dir: string;
  /** What the CGI processes wrote to stderr (lighttpd's breakage log). */
  cgiStderr(): Promise<string>;
}

/** Where Debian puts lighttpd, which is not on a normal user's PATH. */
function findLighttpd(): string {
  const dirs = [
    ...(Deno.env.get("PATH") ?? "").split(":"),
    "/usr/sbin",
    "/usr/local/sbin",
  ];
  for (const dir of dirs) {
    try {
      if (Deno.statSync(`${dir}/lighttpd`).isFile) return `${dir}/lighttpd`;
    } catch {
      // Not here.
    }
  }
  throw new Error(
    "Cannot run the CGI tests: lighttpd is not installed (apt-get install lighttpd)",
  );
}

/** Waits until `port` accepts connections, or fails if `exited` first. */
async function waitForPort(
  port: number,
  exited: () => boolean,
  ms: number,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (exited()) throw new Error("lighttpd exited during start-up");
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
  throw new Error(`lighttpd did not listen on port ${port} within ${ms} ms`);
}

/** Starts lighttpd (in the foreground) on a free port, runs `fn`, stops it. */
async function withLighttpd(fn: (host: Host) => Promise<void>): Promise<void> {
  const lighttpd = findLighttpd();
  const dir = await Deno.makeTempDir({ prefix: "wsgi_cgi_" });
  try {
    const www = `${dir}/www`;
    await Deno.mkdir(www);
    // The host runs each program with only the CGI variables, so the
    // wrapper names Deno's cache; --no-config keeps the project's
    // deno.json out of a program that needs none of it.
    const programs = Object.keys(apps).map((name) => [name, name]);
    // The upload app with a body limit of 10 bytes.
    programs.push(["limited", "upload 10"]);
    for (const [name, args] of programs) {
      const path = `${www}/${name}.cgi`;
      await Deno.writeTextFile(
        path,
        `#!/bin/sh\nDENO_DIR='${dir}/deno_dir' exec '${Deno.execPath()}' ` +
          `run -A --no-config '${MAIN}' ${args}\n`,
      );
      await Deno.chmod(path, 0o755);
    }
    const port = freePort();
    const conf = `${dir}/lighttpd.conf`;
    await Deno.writeTextFile(
      conf,
      [
        `server.document-root = "${www}"`,
        `server.bind = "127.0.0.1"`,
        `server.port = ${port}`,
        `server.errorlog = "${dir}/error.log"`,
        // Where the CGI programs' stderr goes.
        `server.breakagelog = "${dir}/cgi_stderr.log"`,
        `server.modules = ("mod_cgi")`,
        `cgi.assign = (".cgi" => "")`,
        // Pass the output on as it comes, so that streaming shows.
        `server.stream-response-body = 2`,
        "",
      ].join("\n"),
    );
    const child = new Deno.Command(lighttpd, {
      args: ["-D", "-f", conf],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let exited = false;
    child.status.then(() => exited = true);
    try {
      await waitForPort(port, () => exited, 10_000);
      await fn({
        base: `http://127.0.0.1:${port}`,
        port,
        dir,
        cgiStderr: () => Deno.readTextFile(`${dir}/cgi_stderr.log`),
      });
    } catch (error) {
      const log = await Deno.readTextFile(`${dir}/error.log`).catch(() => "");
      if (log) console.error(`lighttpd's error log:\n${log}`);
      throw error;
    } finally {
      if (!exited) child.kill("SIGTERM");
      // lighttpd exits with status 1 on SIGTERM, so only stderr tells of trouble.
      const { stderr } = await child.output();
      const text = decoder.decode(stderr).trim();
      if (text) console.error(`lighttpd's stderr:\n${text}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Polls `read` until its text includes `needle` (at most `ms`). */
async function eventually(
  read: () => Promise<string>,
  needle: string,
  ms = 5_000,
): Promise<string> {
  const deadline = Date.now() + ms;
  let text = "";
  while (Date.now() < deadline) {
    text = await read().catch(() => "");
    if (text.includes(needle)) return text;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  assert.fail(`expected ${JSON.stringify(needle)} in:\n${text}`);
}

/** Sends raw bytes (a native string) and splits the answer. */
async function raw(
  port: number,
  head: string,
): Promise<{ head: string[]; body: string }> {
  const { text } = await rawRequest(port, head);
  return parseRaw(text);
}

Deno.test("runCgi() serves apps under lighttpd's mod_cgi", async (t) => {
  await withLighttpd(async (host) => {
    await t.step("the request arrives as CGI variables", async () => {
      const response = await fetch(
        `${host.base}/echo.cgi/some/path?x=1&y=%20`,
        { headers: { "X-Custom": "hello" } },
      );
      assert.equal(response.status, 200);
      const environ = await response.json();
      assert.equal(environ.REQUEST_METHOD, "GET");
      assert.equal(environ.SCRIPT_NAME, "/echo.cgi");
      assert.equal(environ.PATH_INFO, "/some/path");
      assert.equal(environ.QUERY_STRING, "x=1&y=%20");
      assert.equal(environ.SERVER_NAME, "127.0.0.1");
      assert.equal(environ.SERVER_PORT, String(host.port));
      assert.equal(environ.SERVER_PROTOCOL, "HTTP/1.1");
      assert.equal(environ.REMOTE_ADDR, "127.0.0.1");
      assert.equal(environ.GATEWAY_INTERFACE, "CGI/1.1");
      assert.equal(environ.HTTP_X_CUSTOM, "hello");
      assert.equal(environ.HTTP_HOST, `127.0.0.1:${host.port}`);
      assert.equal(environ.REQUEST_URI, "/echo.cgi/some/path?x=1&y=%20");
      assert.equal(environ.RAW_URI, environ.REQUEST_URI);
      assert.equal(environ["wsgi.url_scheme"], "http");
      assert.equal(environ["wsgi.run_once"], true);
      assert.equal(environ["wsgi.multithread"], false);
      assert.equal(environ["wsgi.multiprocess"], true);
      assert.equal(environ["wsgi.input_terminated"], true);
    });

    await t.step(
      "paths and headers arrive as native strings, even bytes that are not UTF-8",
      async () => {
        // Deno.env drops variables that are not UTF-8; runCgi reads those
        // from /proc/self/environ.
        const { head, body } = await raw(
          host.port,
          "GET /echo.cgi/caf%C3%A9/caf%E9 HTTP/1.1\r\nHost: x\r\n" +
            "X-Utf8: caf\xc3\xa9\r\nX-Latin: caf\xe9\r\nConnection: close\r\n\r\n",
        );
        assert.match(head[0], /^HTTP\/1\.1 200/);
        // The JSON went out as UTF-8; the body is its bytes as Latin-1.
        const environ = JSON.parse(decodeUtf8(dechunk(body)));
        assert.equal(environ.PATH_INFO, "/caf\xc3\xa9/caf\xe9");
        assert.equal(environ.HTTP_X_UTF8, "caf\xc3\xa9");
        assert.equal(environ.HTTP_X_LATIN, "caf\xe9");
      },
    );

    await t.step("a POST body arrives byte for byte", async () => {
      const sent = new Uint8Array(300_000);
      for (let i = 0; i < sent.length; i++) sent[i] = (i * 7 + (i >> 8)) & 0xff;
      const response = await fetch(`${host.base}/upload.cgi`, {
        method: "POST",
        headers: { "Content-Type": "application/octet-stream" },
        body: sent,
      });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("x-declared-length"), "300000");
      assert.equal(response.headers.get("x-read-past-end"), "0");
      assert.deepEqual(new Uint8Array(await response.arrayBuffer()), sent);
    });

    await t.step(
      "a chunked upload arrives whole, with the CONTENT_LENGTH lighttpd counted",
      async () => {
        const { head, body } = await raw(
          host.port,
          "POST /upload.cgi HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n" +
            "Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        );
        assert.match(head[0], /^HTTP\/1\.1 200/);
        assert.ok(head.includes("x-declared-length: 11"), head.join("\n"));
        assert.equal(dechunk(body), "hello world");
      },
    );

    await t.step(
      "a body over maxBodySize gets serve()'s 413, and the app never runs",
      async () => {
        const over = await fetch(`${host.base}/limited.cgi`, {
          method: "POST",
          body: "hello world",
        });
        assert.equal(over.status, 413);
        assert.equal(
          await over.text(),
          "Request body too large: this server accepts at most 10 bytes\n",
        );
        const fits = await fetch(`${host.base}/limited.cgi`, {
          method: "POST",
          body: "hello worl",
        });
        assert.equal(fits.status, 200);
        assert.equal(await fits.text(), "hello worl");
      },
    );

    await t.step("an empty POST reads as empty", async () => {
      const response = await fetch(`${host.base}/upload.cgi`, {
        method: "POST",
        body: "",
      });
      assert.equal(response.status, 200);
      assert.equal(await response.text(), "");
    });

    await t.step(
      "a status of the app's own and two Set-Cookie headers",
      async () => {
        const response = await fetch(`${host.base}/cookies.cgi`);
        assert.equal(response.status, 418);
        assert.deepEqual(response.headers.getSetCookie(), [
          "a=1",
          "b=2; Path=/",
        ]);
        assert.equal(response.headers.get("content-length"), "15");
        assert.equal(await response.text(), "short and stout");
      },
    );

    await t.step("HEAD gets the headers and no body", async () => {
      const { head, body } = await raw(
        host.port,
        "HEAD /cookies.cgi HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      );
      assert.match(head[0], /^HTTP\/1\.1 418/);
      assert.ok(head.includes("content-length: 15"), head.join("\n"));
      assert.equal(body, "");
    });

    await t.step(
      "write() output reaches the client while the app runs",
      async () => {
        const signal = `${host.dir}/go`;
        const response = await fetch(
          `${host.base}/stream.cgi?${encodeURIComponent(signal)}`,
        );
        assert.equal(response.status, 200);
        const reader = response.body!.getReader();
        let text = "";
        try {
          // The app holds "second" back until the signal file exists.
          while (!text.includes("first\n")) {
            const { value, done } = await reader.read();
            if (done) break;
            text += decoder.decode(value, { stream: true });
          }
          assert.equal(text, "first\n");
          await Deno.writeTextFile(signal, "");
          while (true) {
            const { value, done } = await reader.read();
            if (done) break;
            text += decoder.decode(value, { stream: true });
          }
        } finally {
          reader.releaseLock();
          await response.body!.cancel();
        }
        assert.equal(text, "first\nsecond\nthird\n");
      },
    );

    await t.step("a file through wsgi.file_wrapper", async () => {
      const response = await fetch(`${host.base}/file.cgi`);
      assert.equal(response.status, 200);
      assert.equal(
        await response.text(),
        await Deno.readTextFile(
          new URL("./fixtures/cgi/apps.ts", import.meta.url),
        ),
      );
    });

    await t.step(
      "an app that throws gets a 500; its traceback goes to stderr",
      async () => {
        const response = await fetch(`${host.base}/throws.cgi/x`);
        assert.equal(response.status, 500);
        assert.equal(await response.text(), "Internal Server Error\n");
        const log = await eventually(host.cgiStderr, "boom before headers");
        assert.match(
          log,
          /\[wsgi\] GET \/throws\.cgi\/x: error before the response started: Error: boom before headers\n\s+at throws \(file:/,
        );
      },
    );

    await t.step(
      "an app that throws after its headers stops the body short",
      async () => {
        // Raw, with Connection: close: on a kept-alive connection lighttpd
        // waits for its idle timeout before it gives up on the missing bytes.
        const { head, body } = await raw(
          host.port,
          "GET /throwsLate.cgi HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert.match(head[0], /^HTTP\/1\.1 200/);
        // 7 of the 100 bytes its Content-Length promised: the client can tell.
        assert.ok(head.includes("content-length: 100"), head.join("\n"));
        assert.equal(body, "partial");
        await eventually(
          host.cgiStderr,
          "error after the response started: Error: boom after headers",
        );
      },
    );

    await t.step("nothing an app sends can add a header", async () => {
      for (const attempt of ["value", "lf", "name", "status", "cgi-status"]) {
        const { head, body } = await raw(
          host.port,
          `GET /inject.cgi?${attempt} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
        );
        assert.match(head[0], /^HTTP\/1\.1 500/, attempt);
        for (const line of head) {
          assert.doesNotMatch(line, /^(x-injected|location|x-echo)/i, attempt);
        }
        assert.ok(!body.includes("X-Injected"), attempt);
      }
      const log = await eventually(
        host.cgiStderr,
        "Status is a CGI control field",
      );
      assert.match(log, /header X-Echo contains CR, LF or NUL/);
      assert.match(log, /is not an RFC 9110 token/);
      assert.match(log, /is not a three-digit code/);
    });
  });
});

/** Text from UTF-8 bytes held in a native string. */
function decodeUtf8(native: string): string {
  return decoder.decode(Uint8Array.from(native, (c) => c.charCodeAt(0)));
}

/** A stream of `bytes` in two chunks, as a pipe might deliver them. */
function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes.subarray(0, 5));
      controller.enqueue(bytes.subarray(5));
      controller.close();
    },
  });
}

/** Runs an app in-process and returns what it wrote to stdout, as text. */
async function cgi(
  app: App,
  env: Record<string, string>,
  options: { stdin?: Uint8Array; errors?: (text: string) => void } = {},
): Promise<string> {
  const chunks: Uint8Array[] = [];
  await runCgi(app, {
    env: { REQUEST_METHOD: "GET", ...env },
    stdin: options.stdin && streamOf(options.stdin),
    stdout: new WritableStream({
      write(chunk) {
        chunks.push(chunk.slice());
      },
    }),
    errors: options.errors ?? (() => {}),
  });
  return chunks.map((chunk) => decoder.decode(chunk)).join("");
}

Deno.test("runCgi() writes Status, the headers, a blank line and the body", async () => {
  const output = await cgi(cookies, {});
  assert.equal(
    output,
    "Status: 418 I'm a teapot\r\ncontent-length: 15\r\ncontent-type: text/plain\r\n" +
      "set-cookie: a=1\r\nset-cookie: b=2; Path=/\r\n\r\nshort and stout",
  );
});

Deno.test("runCgi() keeps a reason phrase of the app's own", async () => {
  const output = await cgi(apps.reason, {});
  assert.ok(output.startsWith("Status: 299 Fine Thanks\r\n"), output);
});

Deno.test("runCgi() builds the environ from the variables, as native strings", async () => {
  const output = await cgi(echo, {
    REQUEST_METHOD: "PUT",
    PATH_INFO: "/café",
    HTTPS: "on",
    CONTENT_TYPE: "",
    CONTENT_LENGTH: "",
    REQUEST_URI: "/app.cgi/caf%C3%A9",
  });
  const environ = JSON.parse(output.slice(output.indexOf("\r\n\r\n") + 4));
  assert.equal(environ.REQUEST_METHOD, "PUT");
  // Text from the environment becomes its UTF-8 bytes, one per character.
  assert.equal(environ.PATH_INFO, "/caf\xc3\xa9");
  assert.equal(environ.SCRIPT_NAME, "");
  assert.equal(environ.QUERY_STRING, "");
  assert.equal(environ.RAW_URI, "/app.cgi/caf%C3%A9");
  assert.equal(environ["wsgi.url_scheme"], "https");
  assert.ok(!("CONTENT_TYPE" in environ) && !("CONTENT_LENGTH" in environ));
});

Deno.test("runCgi() reads no more of stdin than CONTENT_LENGTH", async () => {
  const output = await cgi(upload, {
    REQUEST_METHOD: "POST",
    CONTENT_LENGTH: "11",
  }, {
    stdin: encoder.encode("hello world and what the host should not have sent"),
  });
  assert.match(output, /x-read-past-end: 0\r\n/);
  assert.ok(output.endsWith("\r\n\r\nhello world"), output);
  // Without CONTENT_LENGTH there is no body (RFC 3875 4.2).
  const none = await cgi(upload, { REQUEST_METHOD: "POST" }, {
    stdin: encoder.encode("ignored"),
  });
  assert.ok(
    none.endsWith("x-declared-length: none\r\nx-read-past-end: 0\r\n\r\n"),
    none,
  );
});

Deno.test("runCgi() answers 500 and logs the traceback when the app throws", async () => {
  const log = errorLog();
  const output = await cgi(apps.throws, { PATH_INFO: "/p" }, {
    errors: log.sink,
  });
  assert.equal(
    output,
    "Status: 500 Internal Server Error\r\ncontent-type: text/plain; charset=utf-8\r\n\r\n" +
      "Internal Server Error\n",
  );
  assert.match(
    log.text(),
    /^\[wsgi\] GET \/p: error before the response started: Error: boom before headers\n\s+at throws/,
  );
});

Deno.test("runCgi() lets excInfo replace the headers until the body starts, then rethrows it", async () => {
  const error = new Error("late");
  const replaced = await cgi((_environ, startResponse) => {
    startResponse("200 OK", [["X-First", "1"]]);
    startResponse("503 Service Unavailable", [["Retry-After", "5"]], error);
    return ["", "down"];
  }, {});
  assert.equal(
    replaced,
    "Status: 503 Service Unavailable\r\nretry-after: 5\r\n\r\ndown",
  );

  const log = errorLog();
  let thrown: unknown;
  const sent = await cgi(
    async (_environ, startResponse) => {
      const write = startResponse("200 OK", []);
      await write("started");
      try {
        startResponse("500 Internal Server Error", [], error);
      } catch (e) {
        thrown = e;
        throw e;
      }
      return [];
    },
    {},
    { errors: log.sink },
  );
  assert.equal(thrown, error);
  assert.equal(sent, "Status: 200 OK\r\n\r\nstarted");
  assert.match(log.text(), /error after the response started: Error: late/);
});

Deno.test("runCgi() refuses an app header named Status, which the host would obey", async () => {
  const log = errorLog();
  const output = await cgi(apps.inject, { QUERY_STRING: "cgi-status" }, {
    errors: log.sink,
  });
  assert.ok(output.startsWith("Status: 500 Internal Server Error\r\n"), output);
  assert.doesNotMatch(output, /302|location/i);
  assert.match(log.text(), /Status is a CGI control field/);
});

Deno.test("runCgi() sends no body for HEAD and still closes the app's body", async () => {
  let closed = 0;
  const output = await cgi((_environ, startResponse) => {
    startResponse("200 OK", [["Content-Length", "4"]]);
    return counting(["body"], () => closed++);
  }, { REQUEST_METHOD: "HEAD" });
  assert.equal(output, "Status: 200 OK\r\ncontent-length: 4\r\n\r\n");
  assert.equal(closed, 1);
});

/** A streaming body whose close() is counted. */
function counting(chunks: Chunk[], onClose: () => void): Body {
  return {
    async *[Symbol.asyncIterator]() {
      yield* chunks;
    },
    close: onClose,
  };
}

Deno.test("runCgi() calls close() once when the body ends, fails, or stdout breaks", async () => {
  let closed = 0;
  await cgi((_environ, startResponse) => {
    startResponse("200 OK", []);
    return counting(["a", "b"], () => closed++);
  }, {});
  assert.equal(closed, 1);

  closed = 0;
  await cgi((_environ, startResponse) => {
    startResponse("200 OK", []);
    return {
      async *[Symbol.asyncIterator]() {
        yield "a";
        throw new Error("mid-body");
      },
      close: () => void closed++,
    };
  }, {});
  assert.equal(closed, 1);

  closed = 0;
  const log = errorLog();
  await runCgi((_environ, startResponse) => {
    startResponse("200 OK", []);
    return counting(["a", "b", "c"], () => closed++);
  }, {
    env: { REQUEST_METHOD: "GET" },
    stdout: new WritableStream({
      write() {
        throw new Error("EPIPE: the host went away");
      },
    }),
    errors: log.sink,
  });
  assert.equal(closed, 1);
  assert.match(log.text(), /cannot write the response: Error: EPIPE/);
});

Deno.test("runCgi() sends a file from wsgi.file_wrapper and closes it", async () => {
  const output = await cgi(apps.file, {});
  const file = await Deno.readTextFile(
    new URL("./fixtures/cgi/apps.ts", import.meta.url),
  );
  assert.equal(
    output,
    `Status: 200 OK\r\ncontent-type: text/plain\r\n\r\n${file}`,
  );

  // Stopped early by a broken stdout: the file is closed all the same (the
  // resource sanitizer checks).
  await runCgi(apps.file, {
    env: { REQUEST_METHOD: "GET" },
    stdout: new WritableStream({
      write() {
        throw new Error("gone");
      },
    }),
    errors: () => {},
  });
});

Deno.test("runCgi() refuses to run without REQUEST_METHOD", async () => {
  await assert.rejects(
    runCgi(echo, { env: {}, stdout: new WritableStream() }),
    { name: "TypeError", message: /REQUEST_METHOD is not set/ },
  );
});

Deno.test("runCgi() refuses what serve() refuses before the app runs", async () => {
  let calls = 0;
  const app: App = (_environ, startResponse) => {
    calls++;
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return ["ran"];
  };
  // The CGI variables a host would set for each raw request.
  const cases: [string, Record<string, string>][] = [
    ["GET / HTTP/1.1\r\nHost: a b\r\n", { HTTP_HOST: "a b" }],
    ["GET /a#b HTTP/1.1\r\nHost: h\r\n", {
      HTTP_HOST: "h",
      REQUEST_URI: "/a#b",
    }],
    ["POST / HTTP/1.1\r\nHost: h\r\nContent-Type: a/b, c/d\r\n", {
      REQUEST_METHOD: "POST",
      HTTP_HOST: "h",
      CONTENT_TYPE: "a/b, c/d",
    }],
    ["POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n", {
      REQUEST_METHOD: "POST",
      HTTP_HOST: "h",
      HTTP_TRANSFER_ENCODING: "gzip, chunked",
    }],
  ];
  const server = serve(app, { port: 0, onListen() {} });
  try {
    const port = (server.addr as Deno.NetAddr).port;
    for (const [request, env] of cases) {
      const framing = request.includes("Transfer-Encoding")
        ? "\r\n0\r\n\r\n"
        : "Content-Length: 0\r\n\r\n";
      const served = parseRaw(
        (await rawRequest(port, `${request}Connection: close\r\n${framing}`))
          .text,
      );
      const status = served.head[0].split(" ")[1];
      assert.match(status, /^(400|501)$/, request);
      const output = await cgi(app, env);
      assert.ok(output.startsWith(`Status: ${status} `), output);
      assert.equal(output.slice(output.indexOf("\r\n\r\n") + 4), served.body);
    }
  } finally {
    await server.shutdown();
  }
  assert.equal(calls, 0);
  // Without HTTP_HOST (HTTP/1.0, which CGI hosts serve) the app runs.
  assert.ok((await cgi(app, {})).endsWith("\r\n\r\nran"));
});

Deno.test("runCgi() answers 413 past maxBodySize without reading stdin", async () => {
  let pulled = false;
  const chunks: Uint8Array[] = [];
  await runCgi(upload, {
    env: { REQUEST_METHOD: "POST", CONTENT_LENGTH: "11" },
    maxBodySize: 10,
    stdin: new ReadableStream({
      pull(controller) {
        pulled = true;
        controller.enqueue(encoder.encode("hello world"));
        controller.close();
      },
    }, { highWaterMark: 0 }),
    stdout: new WritableStream({
      write(chunk) {
        chunks.push(chunk.slice());
      },
    }),
  });
  const output = chunks.map((chunk) => decoder.decode(chunk)).join("");
  assert.equal(
    output,
    "Status: 413 Content Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n\r\n" +
      "Request body too large: this server accepts at most 10 bytes\n",
  );
  assert.equal(pulled, false);
});
