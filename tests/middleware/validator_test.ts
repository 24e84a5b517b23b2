/**
 * validator: every check with a passing and a failing case, and conforming
 * apps of every shape passing cleanly through the real adapter.
 */
import assert from "node:assert/strict";
import type {
  App,
  Body,
  Chunk,
  Environ,
  Header,
  Middleware,
  StartResponse,
} from "../../mod.ts";
import {
  validator,
  ValidatorError,
  type ValidatorRule,
  type ValidatorWarning,
} from "../../middleware/validator.ts";
import { buildEnviron, Client, type RequestOptions } from "../../testing.ts";
import { errorLog, withServer } from "../_helpers.ts";

const text: Header[] = [["Content-Type", "text/plain"]];

/** An app that answers `status` with `headers` and `body`. */
function answer(
  status: string,
  headers: Header[] = text,
  body: Body = ["ok"],
): App {
  return (_environ, startResponse) => {
    startResponse(status, headers);
    return body;
  };
}

interface Run {
  /** The status, or undefined when the client saw a broken response. */
  status: number | undefined;
  text: string;
  /** The rules that failed, in order. */
  errors: ValidatorRule[];
  /** The rules that warned, in order. */
  warnings: ValidatorRule[];
  /** What went to wsgi.errors. */
  log: string;
}

/** Runs one request through the validated app with the in-process client. */
async function run(
  app: App,
  method = "GET",
  path = "/",
  options: RequestOptions = {},
  wrap: Middleware = (inner) => inner,
): Promise<Run> {
  const errors: ValidatorError[] = [];
  const warnings: ValidatorWarning[] = [];
  const log = errorLog();
  const check = validator({
    onError: (error) => errors.push(error),
    onWarning: (warning) => warnings.push(warning),
  });
  const client = new Client(wrap(check(app)), { errors: log.sink });
  let result: Pick<Run, "status" | "text">;
  try {
    const response = await client.request(method, path, options);
    result = { status: response.status, text: response.text() };
  } catch {
    result = { status: undefined, text: "" };
  }
  // The unclosed-body check runs a few microtasks after the response.
  await new Promise((resolve) => setTimeout(resolve, 0));
  return {
    ...result,
    errors: errors.map((error) => error.rule),
    warnings: warnings.map((warning) => warning.rule),
    log: log.text(),
  };
}

/** The errors and warnings of `run`, for a test that has only those to check. */
async function rules(
  app: App,
  method?: string,
  path?: string,
  options?: RequestOptions,
): Promise<ValidatorRule[]> {
  const result = await run(app, method, path, options);
  return [...result.errors, ...result.warnings];
}

const noWrite = () => Promise.resolve();
const accept: StartResponse = () => noWrite;

/**
 * Calls the validated app directly with `environ`; returns the rules that
 * failed or warned. A body that comes back is closed.
 */
function callWith(
  environ: unknown,
  app: App = answer("200 OK"),
  startResponse: unknown = accept,
): ValidatorRule[] {
  const found: ValidatorRule[] = [];
  const validated = validator({
    onError: (error) => found.push(error.rule),
    onWarning: (warning) => found.push(warning.rule),
  })(app);
  try {
    const body = validated(environ as Environ, startResponse as StartResponse);
    (body as Body).close?.();
  } catch (error) {
    if (!(error instanceof ValidatorError)) throw error;
  }
  return found;
}

/** A valid environ, changed by `edit`. */
function environWith(
  edit: (environ: Record<string, unknown>) => void,
): Environ {
  const environ = buildEnviron({ errors: () => {} });
  edit(environ as Record<string, unknown>);
  return environ;
}

// Conforming apps: no false positives through the real adapter.

Deno.test("validator() passes an array of strings and bytes, keeping the server's Content-Length", async () => {
  const result = await run(
    answer("200 OK", text, ["hello, ", new TextEncoder().encode("world")]),
  );
  assert.deepEqual(result.errors, []);
  assert.deepEqual(result.warnings, []);
  assert.equal(result.text, "hello, world");
  assert.equal(result.log, "");
  // An array stays an array, which the server answers with a Content-Length.
  const body = validator()(answer("200 OK", text, ["hello"]))(
    buildEnviron(),
    accept,
  ) as Body;
  assert.equal(Array.isArray(body), true);
  assert.deepEqual([...body as string[]], ["hello"]);
  await body.close?.();
});

Deno.test("validator() passes a generator that starts the response inside itself", async () => {
  let closed = false;
  const result = await run((_environ, startResponse) =>
    (function* () {
      try {
        startResponse("201 Created", text);
        yield "";
        yield "made";
      } finally {
        closed = true;
      }
    })()
  );
  assert.deepEqual(result.errors, []);
  assert.equal(result.status, 201);
  assert.equal(result.text, "made");
  assert.equal(closed, true);
});

Deno.test("validator() passes an async app with an async generator body and a close()", async () => {
  let closes = 0;
  const result = await run(async (_environ, startResponse) => {
    await Promise.resolve();
    startResponse("200 OK", [...text, ["Content-Length", "6"]]);
    const body = (async function* () {
      yield "abc";
      yield new TextEncoder().encode("def");
    })();
    return Object.assign(body, { close: () => void closes++ });
  });
  assert.deepEqual(result.errors, []);
  assert.equal(result.text, "abcdef");
  assert.equal(closes, 1);
});

Deno.test("validator() passes an app that uses write()", async () => {
  const result = await run(async (_environ, startResponse) => {
    const write = startResponse("200 OK", text);
    await write("one ");
    await write(new TextEncoder().encode("two "));
    return ["three"];
  });
  assert.deepEqual(result.errors, []);
  assert.equal(result.text, "one two three");
});

Deno.test("validator() passes a wsgi.file_wrapper body and closes the file", async () => {
  const path = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(path, "from a file");
    const result = await run(async (environ, startResponse) => {
      const file = await Deno.open(path);
      startResponse("200 OK", [...text, ["Content-Length", "11"]]);
      return environ["wsgi.file_wrapper"]!(file);
    });
    assert.deepEqual(result.errors, []);
    assert.equal(result.text, "from a file");
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("validator() passes an app reading wsgi.input every way and writing to wsgi.errors", async () => {
  const result = await run(
    async (environ, startResponse) => {
      const input = environ["wsgi.input"];
      const first = await input.read(2);
      const line = await input.readline();
      const sized = await input.readline(3);
      const lines = await input.readlines();
      const rest = await input.read();
      environ["wsgi.errors"].write("note\n");
      environ["wsgi.errors"].writelines(["a", "b\n"]);
      environ["wsgi.errors"].flush();
      startResponse("200 OK", text);
      return [
        JSON.stringify([
          first.length,
          line.length,
          sized.length,
          lines.length,
          rest.length,
        ]),
      ];
    },
    "POST",
    "/",
    { body: "ab\ncdefg\nh\ni\n" },
  );
  assert.deepEqual(result.errors, []);
  assert.equal(result.text, "[2,1,3,3,0]");
  assert.equal(result.log, "note\nab\n");
  const iterated = await run(
    async (environ, startResponse) => {
      let count = 0;
      for await (const _line of environ["wsgi.input"]) count++;
      startResponse("200 OK", text);
      return [String(count)];
    },
    "POST",
    "/",
    { body: "1\n2\n3" },
  );
  assert.deepEqual(iterated.errors, []);
  assert.equal(iterated.text, "3");
});

Deno.test("validator() passes an error handler that replaces the status with excInfo", async () => {
  const result = await run((_environ, startResponse) =>
    (function* () {
      startResponse("200 OK", text);
      try {
        throw new Error("failed");
      } catch (error) {
        startResponse("500 Internal Server Error", text, error);
        yield "sorry";
      }
    })()
  );
  assert.deepEqual(result.errors, []);
  assert.equal(result.status, 500);
  assert.equal(result.text, "sorry");
});

Deno.test("validator() passes HEAD, 204, 304 and an empty redirect without Content-Type", async () => {
  const head = await run(
    answer("200 OK", [...text, ["Content-Length", "5"]], []),
    "HEAD",
  );
  assert.deepEqual(head.errors, []);
  const empty = await run(answer("204 No Content", [], []));
  assert.deepEqual(empty.errors, []);
  assert.equal(empty.status, 204);
  const notModified = await run(answer("304 Not Modified", [
    ["ETag", '"v1"'],
    ["Content-Length", "120"],
    ["Expires", "Thu, 01 Jan 2099 00:00:00 GMT"],
  ], []));
  assert.deepEqual([...notModified.errors, ...notModified.warnings], []);
  const redirect = await run(
    answer("303 See Other", [["Location", "http://localhost/home"]], []),
  );
  assert.deepEqual([...redirect.errors, ...redirect.warnings], []);
  assert.equal(redirect.status, 303);
});

Deno.test("validator() passes a middleware validated on both sides that closes what it takes", async () => {
  const upper: Middleware = (app) => async (environ, startResponse) => {
    const body = await app(environ, startResponse);
    const chunks: string[] = [];
    try {
      for await (const chunk of body) chunks.push(String(chunk).toUpperCase());
    } finally {
      await body.close?.();
    }
    return chunks;
  };
  const errors: ValidatorError[] = [];
  const check = validator({ onError: (error) => errors.push(error) });
  const app = check(upper(check(answer("200 OK", text, ["quiet"]))));
  const response = await new Client(app).get("/");
  assert.equal(response.text(), "QUIET");
  assert.deepEqual(errors, []);
});

Deno.test("validator() passes a streamed body under serve() without reporting it unclosed", async () => {
  const errors: ValidatorError[] = [];
  const log = errorLog();
  const app = validator({ onError: (error) => errors.push(error) })(
    (_environ, startResponse) =>
      (async function* () {
        startResponse("200 OK", text);
        yield "streamed";
      })(),
  );
  await withServer(app, async (_server, port) => {
    const response = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(await response.text(), "streamed");
  }, { errors: log.sink });
  assert.deepEqual(errors, []);
  assert.equal(log.text(), "");
});

// The call.

Deno.test("validator() refuses an app call without exactly two arguments", () => {
  const app = validator()(answer("200 OK")) as (...args: unknown[]) => Body;
  const environ = buildEnviron();
  assert.throws(() => app(environ), /exactly two arguments.*\[app-arguments\]/);
  assert.throws(
    () => app(environ, accept, "extra"),
    (error) =>
      error instanceof ValidatorError && error.rule === "app-arguments",
  );
  assert.deepEqual(callWith(buildEnviron(), undefined, "not a function"), [
    "app-arguments",
  ]);
  assert.deepEqual(callWith(buildEnviron()), []);
});

Deno.test("validator() refuses startResponse called with one argument or four", async () => {
  const once = (args: unknown[]): App => (_environ, startResponse) => {
    (startResponse as (...args: unknown[]) => unknown)(...args);
    return ["x"];
  };
  assert.deepEqual(await rules(once(["200 OK"])), ["start-response-arguments"]);
  assert.deepEqual(
    await rules(once(["200 OK", text, undefined, "more"])),
    ["start-response-arguments"],
  );
  assert.deepEqual(await rules(once(["200 OK", text])), []);
  assert.deepEqual(await rules(once(["200 OK", text, undefined])), []);
});

// The environ.

Deno.test("validator() refuses an environ that is not a plain object", () => {
  assert.deepEqual(callWith([]), ["environ-object"]);
  assert.deepEqual(callWith(null), ["environ-object"]);
  assert.deepEqual(callWith(new Map()), ["environ-object"]);
  assert.deepEqual(callWith(Object.create(buildEnviron())), ["environ-object"]);
  assert.deepEqual(callWith({ ...buildEnviron() }), []);
});

Deno.test("validator() refuses an environ missing a required key", () => {
  for (const key of ["REQUEST_METHOD", "SERVER_PORT", "wsgi.run_once"]) {
    assert.deepEqual(
      callWith(environWith((environ) => delete environ[key])),
      ["environ-keys"],
    );
  }
  assert.deepEqual(callWith(environWith(() => {})), []);
});

Deno.test("validator() refuses HTTP_CONTENT_TYPE and HTTP_CONTENT_LENGTH in the environ", () => {
  assert.deepEqual(
    callWith(
      environWith((environ) => environ.HTTP_CONTENT_TYPE = "text/plain"),
    ),
    ["environ-content-headers"],
  );
  assert.deepEqual(
    callWith(environWith((environ) => environ.HTTP_CONTENT_LENGTH = "3")),
    ["environ-content-headers"],
  );
  assert.deepEqual(
    callWith(environWith((environ) => environ.CONTENT_TYPE = "text/plain")),
    [],
  );
});

Deno.test("validator() refuses a CGI key whose value is not a string", () => {
  assert.deepEqual(
    callWith(environWith((environ) => environ.SERVER_PORT = 80)),
    ["environ-strings"],
  );
  assert.deepEqual(
    callWith(environWith((environ) => environ.HTTP_X_GONE = undefined)),
    ["environ-strings"],
  );
  // Keys with a dot are extensions, of any type.
  assert.deepEqual(
    callWith(environWith((environ) => environ["my.count"] = 3)),
    [],
  );
});

Deno.test("validator() refuses an environ value that is not a native string", () => {
  assert.deepEqual(
    callWith(environWith((environ) => environ.PATH_INFO = "/\u2603")),
    ["environ-native"],
  );
  // UTF-8 bytes as Latin-1 characters, as the server decodes a path.
  assert.deepEqual(
    callWith(environWith((environ) => environ.PATH_INFO = "/caf\xc3\xa9")),
    [],
  );
});

Deno.test("validator() refuses a wsgi.version other than [1, 0]", () => {
  assert.deepEqual(
    callWith(environWith((environ) => environ["wsgi.version"] = [1, 1])),
    ["wsgi-version"],
  );
  assert.deepEqual(
    callWith(environWith((environ) => environ["wsgi.version"] = "1.0")),
    ["wsgi-version"],
  );
  assert.deepEqual(
    callWith(environWith((environ) => environ["wsgi.version"] = [1, 0])),
    [],
  );
});

Deno.test("validator() refuses a wsgi.url_scheme other than http or https", () => {
  assert.deepEqual(
    callWith(environWith((environ) => environ["wsgi.url_scheme"] = "ftp")),
    ["url-scheme"],
  );
  assert.deepEqual(
    callWith(environWith((environ) => delete environ["wsgi.url_scheme"])),
    ["url-scheme"],
  );
  assert.deepEqual(
    callWith(environWith((environ) => environ["wsgi.url_scheme"] = "https")),
    [],
  );
});

Deno.test("validator() warns of an environ without QUERY_STRING", () => {
  assert.deepEqual(
    callWith(environWith((environ) => delete environ.QUERY_STRING)),
    ["query-string"],
  );
  assert.deepEqual(
    callWith(environWith((environ) => environ.QUERY_STRING = "")),
    [],
  );
});

Deno.test("validator() warns of an unknown REQUEST_METHOD", async () => {
  assert.deepEqual(await rules(answer("200 OK"), "BREW"), ["request-method"]);
  assert.deepEqual(await rules(answer("200 OK"), "PATCH"), []);
  // The default sink is wsgi.errors.
  const log = errorLog();
  const environ = buildEnviron({ method: "BREW", errors: log.sink });
  (validator()(answer("200 OK"))(environ, accept) as Body).close?.();
  assert.match(
    log.text(),
    /^\[validator\] warning: REQUEST_METHOD "BREW" .*\[request-method\]\n$/,
  );
});

Deno.test("validator() refuses SCRIPT_NAME or PATH_INFO not starting with a slash", () => {
  assert.deepEqual(
    callWith(environWith((environ) => environ.PATH_INFO = "index")),
    ["path-slash"],
  );
  assert.deepEqual(
    callWith(environWith((environ) => environ.SCRIPT_NAME = "app")),
    ["path-slash"],
  );
  assert.deepEqual(
    callWith(environWith((environ) => {
      environ.SCRIPT_NAME = "/app";
      environ.PATH_INFO = "";
    })),
    [],
  );
});

Deno.test('validator() refuses SCRIPT_NAME "/"', () => {
  assert.deepEqual(
    callWith(environWith((environ) => {
      environ.SCRIPT_NAME = "/";
      environ.PATH_INFO = "";
    })),
    ["script-name-root"],
  );
  assert.deepEqual(
    callWith(environWith((environ) => {
      environ.SCRIPT_NAME = "";
      environ.PATH_INFO = "/";
    })),
    [],
  );
});

Deno.test("validator() refuses an environ with neither SCRIPT_NAME nor PATH_INFO", () => {
  assert.deepEqual(
    callWith(environWith((environ) => {
      environ.SCRIPT_NAME = "";
      delete environ.PATH_INFO;
    })),
    ["path-info-required"],
  );
  assert.deepEqual(
    callWith(environWith((environ) => {
      environ.SCRIPT_NAME = "/app";
      delete environ.PATH_INFO;
    })),
    [],
  );
});

Deno.test("validator() refuses a CONTENT_LENGTH that is not a non-negative integer", () => {
  for (const length of ["-1", "abc", "1.5", " 2"]) {
    assert.deepEqual(
      callWith(environWith((environ) => environ.CONTENT_LENGTH = length)),
      ["environ-content-length"],
    );
  }
  for (const length of ["0", "12", ""]) {
    assert.deepEqual(
      callWith(environWith((environ) => environ.CONTENT_LENGTH = length)),
      [],
    );
  }
});

Deno.test("validator() refuses a wsgi.input without its methods", () => {
  const input = buildEnviron()["wsgi.input"];
  assert.deepEqual(
    callWith(environWith((environ) =>
      environ["wsgi.input"] = {
        read: input.read.bind(input),
        readline: input.readline.bind(input),
      }
    )),
    ["input-methods"],
  );
  assert.deepEqual(
    callWith(environWith((environ) =>
      environ["wsgi.input"] = {
        read: input.read.bind(input),
        readline: input.readline.bind(input),
        readlines: input.readlines.bind(input),
      }
    )),
    ["input-methods"],
  );
  assert.deepEqual(
    callWith(environWith((environ) => environ["wsgi.input"] = input)),
    [],
  );
});

Deno.test("validator() refuses a wsgi.errors without its methods", () => {
  assert.deepEqual(
    callWith(
      environWith((environ) =>
        environ["wsgi.errors"] = { write() {}, writelines() {} }
      ),
    ),
    ["errors-methods"],
  );
  assert.deepEqual(
    callWith(
      environWith((environ) =>
        environ["wsgi.errors"] = { write() {}, writelines() {}, flush() {} }
      ),
    ),
    [],
  );
});

// The streams.

/** An app that calls `use` on its environ before answering. */
function using(use: (environ: Environ) => unknown): App {
  return async (environ, startResponse) => {
    await use(environ);
    startResponse("200 OK", text);
    return ["ok"];
  };
}

Deno.test("validator() refuses wsgi.input methods given a non-integer or two arguments", async () => {
  const read = (...args: unknown[]) =>
    using((environ) =>
      (environ["wsgi.input"].read as (...args: unknown[]) => unknown)(...args)
    );
  const post = { body: "data" };
  assert.deepEqual(await rules(read("10"), "POST", "/", post), [
    "input-arguments",
  ]);
  assert.deepEqual(await rules(read(1.5), "POST", "/", post), [
    "input-arguments",
  ]);
  assert.deepEqual(await rules(read(1, 2), "POST", "/", post), [
    "input-arguments",
  ]);
  assert.deepEqual(
    await rules(
      using((environ) =>
        (environ["wsgi.input"].readlines as (hint: unknown) => unknown)("x")
      ),
      "POST",
      "/",
      post,
    ),
    ["input-arguments"],
  );
  assert.deepEqual(await rules(read(2), "POST", "/", post), []);
  assert.deepEqual(await rules(read(-1), "POST", "/", post), []);
  assert.deepEqual(await rules(read(), "POST", "/", post), []);
});

Deno.test("validator() refuses a wsgi.input that does not resolve to Uint8Arrays", async () => {
  const real = buildEnviron()["wsgi.input"];
  const fake = (methods: Record<string, unknown>) =>
    environWith((environ) =>
      environ["wsgi.input"] = {
        read: () => Promise.resolve(new Uint8Array(0)),
        readline: () => Promise.resolve(new Uint8Array(0)),
        readlines: () => Promise.resolve([]),
        [Symbol.asyncIterator]: () => real[Symbol.asyncIterator](),
        ...methods,
      }
    );
  const found: ValidatorRule[] = [];
  const check = validator({ onError: (error) => found.push(error.rule) });
  const attempt = async (
    environ: Environ,
    use: (input: Environ["wsgi.input"]) => unknown,
  ) => {
    const body = await check(async (environ, startResponse) => {
      await use(environ["wsgi.input"]);
      startResponse("200 OK", text);
      return [];
    })(environ, accept);
    await body.close?.();
  };
  await assert.rejects(
    attempt(
      fake({ read: () => Promise.resolve("text") }),
      (input) => input.read(),
    ),
    /must give Uint8Arrays/,
  );
  await assert.rejects(
    attempt(fake({ read: () => new Uint8Array(0) }), (input) => input.read()),
    /must return a promise/,
  );
  await assert.rejects(
    attempt(
      fake({ readlines: () => Promise.resolve("a\n") }),
      (input) => input.readlines(),
    ),
    /must give an array/,
  );
  assert.deepEqual(found, ["input-result", "input-result", "input-result"]);
  found.length = 0;
  await attempt(fake({}), async (input) => {
    await input.read();
    await input.readlines();
  });
  assert.deepEqual(found, []);
});

Deno.test("validator() refuses closing wsgi.input", async () => {
  const close = using((environ) =>
    (environ["wsgi.input"] as unknown as { close(): void }).close()
  );
  assert.deepEqual(await rules(close), ["input-close"]);
  assert.deepEqual(
    await rules(using((environ) => environ["wsgi.input"].read())),
    [],
  );
});

Deno.test("validator() refuses writing anything but strings to wsgi.errors", async () => {
  const errors = (environ: Environ) =>
    environ["wsgi.errors"] as unknown as Record<
      string,
      (...args: unknown[]) => void
    >;
  assert.deepEqual(await rules(using((environ) => errors(environ).write(42))), [
    "errors-write",
  ]);
  assert.deepEqual(
    await rules(using((environ) => errors(environ).write("a", "b"))),
    ["errors-write"],
  );
  assert.deepEqual(
    await rules(using((environ) => errors(environ).writelines(["ok", 1]))),
    ["errors-write"],
  );
  assert.deepEqual(
    await rules(using((environ) => errors(environ).writelines("text"))),
    ["errors-write"],
  );
  const result = await run(
    using((environ) => errors(environ).writelines(["a", "b\n"])),
  );
  assert.deepEqual(result.errors, []);
  assert.equal(result.log, "ab\n");
});

Deno.test("validator() refuses closing wsgi.errors", async () => {
  const close = using((environ) =>
    (environ["wsgi.errors"] as unknown as { close(): void }).close()
  );
  assert.deepEqual(await rules(close), ["errors-close"]);
  assert.deepEqual(
    await rules(using((environ) => environ["wsgi.errors"].flush())),
    [],
  );
});

// startResponse.

/** An app that calls startResponse with anything. */
function starting(
  status: unknown,
  headers: unknown = text,
  body: Body = ["ok"],
): App {
  return (_environ, startResponse) => {
    (startResponse as (...args: unknown[]) => unknown)(status, headers);
    return body;
  };
}

Deno.test("validator() refuses a status that is not a string", async () => {
  const result = await run(starting(200));
  assert.deepEqual(result.errors, ["status-type"]);
  assert.equal(result.status, 500);
  assert.match(
    result.log,
    /ValidatorError: Cannot start the response: status must be a string/,
  );
  assert.deepEqual(await rules(starting("200 OK")), []);
});

Deno.test("validator() refuses a status without a three-digit code and a space", async () => {
  for (
    const status of ["200", "OK 200", "2000 OK", "20 OK", "099 Low", "600 High"]
  ) {
    assert.deepEqual(await rules(starting(status)), ["status-format"], status);
  }
  assert.deepEqual(await rules(starting("299 Custom Thing")), []);
});

Deno.test("validator() refuses a status without a reason phrase", async () => {
  for (const status of ["200 ", "200  OK", "200 OK ", "200 OK\r\nX: y"]) {
    assert.deepEqual(await rules(starting(status)), ["status-reason"], status);
  }
  assert.deepEqual(await rules(starting("200 Fine")), []);
});

Deno.test("validator() refuses headers that are not an array of string pairs", async () => {
  assert.deepEqual(
    await rules(starting("200 OK", { "Content-Type": "text/plain" })),
    [
      "headers-type",
    ],
  );
  assert.deepEqual(await rules(starting("200 OK", [["Content-Type"]])), [
    "headers-type",
  ]);
  assert.deepEqual(
    await rules(starting("200 OK", [["Content-Type", "text/plain", "x"]])),
    ["headers-type"],
  );
  assert.deepEqual(await rules(starting("200 OK", [...text, ["X-Count", 3]])), [
    "headers-type",
  ]);
  assert.deepEqual(
    await rules(starting("200 OK", [...text, ["X-Count", "3"]])),
    [],
  );
});

Deno.test("validator() refuses a header name that is not a token or ends in - or _", async () => {
  for (
    const name of ["Content Type", "X-Colon:", "X-Trailing-", "X-Trailing_", ""]
  ) {
    assert.deepEqual(await rules(starting("200 OK", [...text, [name, "v"]])), [
      "header-name",
    ], name);
  }
  assert.deepEqual(
    await rules(starting("200 OK", [...text, ["X_Under-score", "v"]])),
    [],
  );
});

Deno.test("validator() refuses a Status header", async () => {
  assert.deepEqual(
    await rules(starting("200 OK", [...text, ["Status", "404"]])),
    [
      "header-status",
    ],
  );
  assert.deepEqual(
    await rules(starting("200 OK", [...text, ["X-Status", "404"]])),
    [],
  );
});

Deno.test("validator() refuses a header value with control characters", async () => {
  for (
    const value of [
      "a\r\nSet-Cookie: x=1",
      "a\nb",
      "nul\0",
      "bell\x07",
      "del\x7f",
    ]
  ) {
    assert.deepEqual(
      await rules(starting("200 OK", [...text, ["X-Value", value]])),
      ["header-value"],
      JSON.stringify(value),
    );
  }
  assert.deepEqual(
    await rules(starting("200 OK", [...text, ["X-Value", "a\tb c"]])),
    [],
  );
});

Deno.test("validator() refuses a header value above U+00FF", async () => {
  assert.deepEqual(
    await rules(starting("200 OK", [...text, ["X-Name", "snow\u2603man"]])),
    ["header-latin1"],
  );
  assert.deepEqual(
    await rules(starting("200 OK", [...text, ["X-Name", "caf\xe9"]])),
    [],
  );
});

Deno.test("validator() refuses hop-by-hop headers", async () => {
  for (
    const name of ["Connection", "Keep-Alive", "Transfer-Encoding", "upgrade"]
  ) {
    assert.deepEqual(await rules(starting("200 OK", [...text, [name, "x"]])), [
      "hop-by-hop",
    ], name);
  }
  assert.deepEqual(
    await rules(starting("200 OK", [...text, ["Cache-Control", "no-store"]])),
    [],
  );
});

Deno.test("validator() refuses a Content-Length that is not one non-negative integer", async () => {
  const length = (...values: string[]) =>
    starting("200 OK", [
      ...text,
      ...values.map((value): Header => ["Content-Length", value]),
    ]);
  assert.deepEqual(await rules(length("-1")), ["content-length-value"]);
  assert.deepEqual(await rules(length("two")), ["content-length-value"]);
  assert.deepEqual(await rules(length("2", "3")), ["content-length-value"]);
  assert.deepEqual(await rules(length("2")), []);
  assert.deepEqual(await rules(length("2", "2")), []);
});

Deno.test("validator() refuses content without Content-Type, and Content-Type on 204 or 304", async () => {
  const missing = await run(starting("200 OK", [], ["content"]));
  assert.deepEqual(missing.errors, ["content-type"]);
  assert.equal(missing.status, 500);
  assert.deepEqual(await rules(starting("204 No Content", text, [])), [
    "content-type",
  ]);
  assert.deepEqual(await rules(starting("304 Not Modified", text, [])), [
    "content-type",
  ]);
  // Without content, no Content-Type is needed.
  assert.deepEqual(await rules(starting("200 OK", [], [])), []);
  assert.deepEqual(await rules(starting("200 OK", text, ["content"])), []);
});

Deno.test("validator() refuses an excInfo that is not an Error", async () => {
  const withExcInfo = (excInfo: unknown): App => (_environ, startResponse) => {
    startResponse("500 Internal Server Error", text, excInfo);
    return ["failed"];
  };
  assert.deepEqual(await rules(withExcInfo("it broke")), ["exc-info"]);
  assert.deepEqual(await rules(withExcInfo({ message: "it broke" })), [
    "exc-info",
  ]);
  assert.deepEqual(await rules(withExcInfo(new TypeError("it broke"))), []);
  assert.deepEqual(await rules(withExcInfo(null)), []);
});

Deno.test("validator() refuses a second startResponse without excInfo", async () => {
  const twice = (excInfo?: Error): App => (_environ, startResponse) => {
    startResponse("200 OK", text);
    startResponse("404 Not Found", text, excInfo);
    return ["twice"];
  };
  assert.deepEqual(await rules(twice()), ["start-response-twice"]);
  const replaced = await run(twice(new Error("missing")));
  assert.deepEqual(replaced.errors, []);
  assert.equal(replaced.status, 404);
});

// write() and the body.

Deno.test("validator() refuses write() with anything but a Uint8Array or string", async () => {
  const writing =
    (...chunks: unknown[]): App => async (_environ, startResponse) => {
      const write = startResponse("200 OK", text) as (
        ...args: unknown[]
      ) => Promise<void>;
      await write(...chunks);
      return [];
    };
  assert.deepEqual(await rules(writing(42)), ["write-chunk"]);
  assert.deepEqual(await rules(writing(new ArrayBuffer(2))), ["write-chunk"]);
  assert.deepEqual(await rules(writing("a", "b")), ["write-chunk"]);
  assert.deepEqual(await rules(writing("ab")), []);
});

Deno.test("validator() refuses a body that is a bare string or Uint8Array", async () => {
  const bare = (body: unknown): App => (_environ, startResponse) => {
    startResponse("200 OK", text);
    return body as Body;
  };
  const result = await run(bare("hello"));
  assert.deepEqual(result.errors, ["body-string"]);
  assert.match(result.log, /return \[body\] instead/);
  assert.deepEqual(await rules(bare(new Uint8Array(2))), ["body-string"]);
  assert.deepEqual(await rules(bare(["hello"])), []);
});

Deno.test("validator() refuses a body that is not iterable", async () => {
  const returning = (body: unknown): App => async (_environ, startResponse) => {
    startResponse("200 OK", text);
    return await body as Body;
  };
  for (const body of [undefined, null, 42, { chunks: ["a"] }]) {
    assert.deepEqual(
      await rules(returning(body)),
      ["body-iterable"],
      String(body),
    );
  }
  assert.deepEqual(await rules(returning(new Set(["a"]))), []);
});

Deno.test("validator() refuses body chunks that are not Uint8Arrays or strings", async () => {
  const yielding = (...chunks: unknown[]): App => (_environ, startResponse) => {
    startResponse("200 OK", text);
    return (function* () {
      yield* chunks;
    })() as Iterable<string>;
  };
  assert.deepEqual(await rules(yielding("ok", 42)), ["body-chunk"]);
  assert.deepEqual(await rules(yielding(null)), ["body-chunk"]);
  assert.deepEqual(
    await rules(starting("200 OK", text, [{}] as unknown as Body)),
    [
      "body-chunk",
    ],
  );
  assert.deepEqual(await rules(yielding("ok", new Uint8Array(1))), []);
});

Deno.test("validator() refuses a body that yields before startResponse", async () => {
  const early: App = () =>
    (function* () {
      yield "too soon";
    })();
  const result = await run(early);
  assert.deepEqual(result.errors, ["start-response-first"]);
  assert.equal(result.status, 500);
  assert.deepEqual(await rules(() => ["never started"]), [
    "start-response-first",
  ]);
  assert.deepEqual(await rules(() => []), ["start-response-first"]);
  assert.deepEqual(
    await rules((_environ, startResponse) =>
      (async function* () {
        startResponse("200 OK", text);
        yield "in time";
      })()
    ),
    [],
  );
});

Deno.test("validator() refuses iterating a body after close()", async () => {
  const found: ValidatorRule[] = [];
  const app = validator({ onError: (error) => found.push(error.rule) })(
    (_environ, startResponse) => {
      startResponse("200 OK", text);
      return (function* () {
        yield "a";
        yield "b";
      })();
    },
  );
  const body = app(buildEnviron(), accept) as Body & Iterable<string>;
  const iterator = body[Symbol.iterator]();
  assert.deepEqual(iterator.next(), { value: "a", done: false });
  await body.close?.();
  assert.throws(() => iterator.next(), /already closed/);
  assert.deepEqual(found, ["body-after-close"]);

  const asyncApp = validator()((_environ, startResponse) => {
    startResponse("200 OK", text);
    return (async function* () {
      yield "a";
    })();
  });
  const asyncBody = await asyncApp(buildEnviron(), accept) as
    & Body
    & AsyncIterable<string>;
  const chunks: string[] = [];
  for await (const chunk of asyncBody) chunks.push(chunk);
  await asyncBody.close?.();
  assert.deepEqual(chunks, ["a"]);
  await assert.rejects(
    asyncBody[Symbol.asyncIterator]().next(),
    (error) =>
      error instanceof ValidatorError && error.rule === "body-after-close",
  );
});

Deno.test("validator() refuses iterating an array body or another iterable after close()", async () => {
  // wsgiref's IteratorWrapper: "Iterator read after closed". A middleware
  // that closes what it took and reads it afterwards is caught, whether the
  // body is an array, read by index or by iteration, or any iterable.
  const bodies: [string, () => Body][] = [
    ["array", () => ["a", "b"]],
    ["empty array", () => []],
    ["Set", () => new Set(["a", "b"])],
  ];
  const reads: [string, (body: Body) => unknown][] = [
    ["for-of", (body) => [...body as Iterable<Chunk>]],
    ["index", (body) => (body as Chunk[])[0]],
    ["map", (body) => (body as Chunk[]).map(String)],
  ];
  for (const [shape, make] of bodies) {
    for (const [how, read] of reads) {
      if (how !== "for-of" && !Array.isArray(make())) continue;
      const found: ValidatorRule[] = [];
      const app = validator({ onError: (error) => found.push(error.rule) })(
        (_environ, startResponse) => {
          startResponse("200 OK", text);
          return make();
        },
      );
      const body = app(buildEnviron(), accept) as Body;
      // An array stays an array, so the server still gives it a length.
      assert.equal(Array.isArray(body), Array.isArray(make()), shape);
      read(body);
      await body.close?.();
      assert.throws(() => read(body), /already closed/, `${shape} ${how}`);
      assert.deepEqual(found, ["body-after-close"], `${shape} ${how}`);
    }
  }
});

Deno.test("validator() refuses write() after the body was closed", async () => {
  // wsgiref's handler: "write() before start_response()", once the response
  // is over and its status reset.
  let late: ((chunk: Chunk) => Promise<void>) | undefined;
  const result = await run((_environ, startResponse) => {
    late = startResponse("200 OK", text);
    return ["done"];
  });
  assert.deepEqual(result.errors, []);
  assert.throws(() => late!("late"), /already closed \[body-after-close\]/);
  const found: ValidatorRule[] = [];
  const app = validator({ onError: (error) => found.push(error.rule) })(
    (_environ, startResponse) => {
      late = startResponse("200 OK", text);
      return ["done"];
    },
  );
  const body = app(buildEnviron(), accept) as Body;
  await late!("before");
  await body.close?.();
  assert.throws(() => late!("after"), /already closed/);
  assert.deepEqual(found, ["body-after-close"]);

  // A body closed before its end (the client left) leaves write() to the
  // server, which knows why the write cannot go out.
  found.length = 0;
  const streaming = validator({ onError: (error) => found.push(error.rule) })(
    (_environ, startResponse) => {
      late = startResponse("200 OK", text);
      return (function* () {
        yield "a";
        yield "b";
      })();
    },
  );
  const cut = streaming(buildEnviron(), accept) as Body & Iterable<Chunk>;
  cut[Symbol.iterator]().next();
  await cut.close?.();
  await late!("after the client left");
  assert.deepEqual(found, []);
});

Deno.test("validator() reports a body that a middleware dropped without close()", async () => {
  const inner = answer("200 OK", text, ["inner"]);
  const dropping: Middleware = (app) => async (environ, startResponse) => {
    await app(environ, startResponse);
    return ["replaced"];
  };
  const closing: Middleware = (app) => async (environ, startResponse) => {
    const body = await app(environ, startResponse);
    await body.close?.();
    return ["replaced"];
  };
  const dropped = await run(inner, "GET", "/page", {}, dropping);
  assert.equal(dropped.text, "replaced");
  assert.deepEqual(dropped.errors, ["body-close"]);
  assert.match(
    dropped.log,
    /^\[validator\] Cannot finish GET \/page: the body was never closed.*\[body-close\]\n$/,
  );
  const closed = await run(inner, "GET", "/page", {}, closing);
  assert.deepEqual(closed.errors, []);
  assert.equal(closed.log, "");
});

Deno.test("validator() reports a body garbage-collected without close()", async () => {
  const validatorUrl = new URL(
    "../../middleware/validator.ts",
    import.meta.url,
  );
  const testingUrl = new URL("../../testing.ts", import.meta.url);
  const script = `
    import { validator } from "${validatorUrl.href}";
    import { buildEnviron } from "${testingUrl.href}";
    const seen = [];
    const app = validator({ onError: (error) => seen.push(error.rule) })(
      (_environ, startResponse) => {
        startResponse("200 OK", [["Content-Type", "text/plain"]]);
        return (function* () { yield "x"; })();
      },
    );
    const start = () => () => Promise.resolve();
    // Closed: never reported.
    app(buildEnviron({ errors: () => {} }), start).close();
    // Dropped.
    app(buildEnviron({ errors: () => {} }), start);
    for (let i = 0; i < 20 && seen.length === 0; i++) {
      globalThis.gc();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    console.log(JSON.stringify(seen));
  `;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--v8-flags=--expose-gc", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  assert.equal(
    new TextDecoder().decode(output.stdout).trim(),
    '["body-close"]',
  );
});

// HTTP, after werkzeug's lint.

Deno.test("validator() refuses a body longer than its Content-Length", async () => {
  const long = await run(
    starting("200 OK", [...text, ["Content-Length", "3"]], ["abcd"]),
  );
  assert.deepEqual(long.errors, ["content-length"]);
  assert.equal(long.status, 500);
  // The server stops reading once Content-Length bytes are out, so the
  // excess shows in the chunk that crosses the limit.
  const streamed = async function* () {
    yield "ab";
    yield "cd";
  };
  assert.deepEqual(
    await rules(
      starting("200 OK", [...text, ["Content-Length", "3"]], streamed()),
    ),
    ["content-length"],
  );
  assert.deepEqual(
    await rules(
      starting("200 OK", [...text, ["Content-Length", "4"]], streamed()),
    ),
    [],
  );
});

Deno.test("validator() refuses a body shorter than its Content-Length, except for HEAD", async () => {
  const short = async function* () {
    yield "ab";
  };
  const result = await run(
    starting("200 OK", [...text, ["Content-Length", "5"]], short()),
  );
  assert.deepEqual(result.errors, ["content-length"]);
  assert.equal(result.status, undefined, "the response is cut off");
  assert.deepEqual(
    await rules(starting("200 OK", [...text, ["Content-Length", "5"]], ["ab"])),
    ["content-length"],
  );
  assert.deepEqual(
    await rules(
      starting("200 OK", [...text, ["Content-Length", "5"]], []),
      "HEAD",
    ),
    [],
  );
  assert.deepEqual(
    await rules(
      starting("200 OK", [...text, ["Content-Length", "2"]], short()),
    ),
    [],
  );
});

Deno.test("validator() refuses content on 204, 304 and 1xx responses", async () => {
  assert.deepEqual(await rules(starting("204 No Content", [], ["body"])), [
    "null-body",
  ]);
  assert.deepEqual(await rules(starting("304 Not Modified", [], ["body"])), [
    "null-body",
  ]);
  const found: ValidatorRule[] = [];
  const informational = validator({
    onError: (error) => found.push(error.rule),
  })(
    starting("103 Early Hints", [], ["body"]),
  );
  assert.throws(() => informational(buildEnviron(), accept), /has no content/);
  assert.deepEqual(found, ["null-body"]);
  const writing: App = async (_environ, startResponse) => {
    await startResponse("204 No Content", [])("body");
    return [];
  };
  assert.deepEqual(await rules(writing), ["null-body"]);
  assert.deepEqual(
    await rules(starting("204 No Content", [], ["", new Uint8Array(0)])),
    [],
  );
});

Deno.test("validator() refuses Content-Length on 204 and 1xx responses", async () => {
  assert.deepEqual(
    await rules(starting("204 No Content", [["Content-Length", "0"]], [])),
    ["content-length-forbidden"],
  );
  assert.deepEqual(
    callWith(
      buildEnviron(),
      starting("100 Continue", [["Content-Length", "0"]], []),
    ),
    ["content-length-forbidden"],
  );
  assert.deepEqual(await rules(starting("204 No Content", [], [])), []);
});

Deno.test("validator() warns of representation headers on a 304", async () => {
  const result = await run(starting("304 Not Modified", [
    ["ETag", '"v2"'],
    ["Content-Language", "en"],
    ["Content-Encoding", "gzip"],
  ], []));
  assert.deepEqual(result.errors, []);
  assert.deepEqual(result.warnings, [
    "not-modified-headers",
    "not-modified-headers",
  ]);
  assert.equal(result.status, 304);
  assert.deepEqual(
    await rules(
      starting("304 Not Modified", [["ETag", '"v2"'], [
        "Cache-Control",
        "max-age=60",
      ]], []),
    ),
    [],
  );
});

Deno.test("validator() refuses an ETag that is not a quoted entity tag", async () => {
  for (const etag of ["v1", 'w/"v1"', '"v1', "W/v1", '"a"b"']) {
    assert.deepEqual(
      await rules(starting("200 OK", [...text, ["ETag", etag]])),
      ["etag"],
      etag,
    );
  }
  for (const etag of ['"v1"', 'W/"v1"', '""']) {
    assert.deepEqual(
      await rules(starting("200 OK", [...text, ["ETag", etag]])),
      [],
      etag,
    );
  }
});

Deno.test("validator() warns of a relative Location", async () => {
  const result = await run(starting("302 Found", [["Location", "/login"]], []));
  assert.deepEqual(result.errors, []);
  assert.deepEqual(result.warnings, ["location-absolute"]);
  assert.equal(result.status, 302);
  assert.deepEqual(
    await rules(
      starting("302 Found", [["Location", "https://example.test/login"]], []),
    ),
    [],
  );
});

Deno.test("validator() ValidatorError names its rule in the message", () => {
  const error = new ValidatorError(
    "etag",
    "Cannot start the response: bad ETag",
  );
  assert.equal(error.name, "ValidatorError");
  assert.equal(error.rule, "etag");
  assert.equal(error.message, "Cannot start the response: bad ETag [etag]");
});
