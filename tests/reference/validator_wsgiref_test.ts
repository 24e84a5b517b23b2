/**
 * validator against Python's wsgiref.validate: the same apps, each written
 * in Python and in TypeScript, most broken in one way. The Python apps run
 * under wsgiref.validate.validator inside wsgiref's SimpleHandler with an
 * environ from wsgiref.util.setup_testing_defaults, all in one interpreter;
 * the TypeScript ones under our validator() through the test Client. What
 * wsgiref flags (an assertion of validate.py or of the handler, or a
 * WSGIWarning), ours flags at the same level, and a correct app is flagged
 * by neither, apart from listed cases: where we are stricter, with the PEP
 * 3333 or RFC sentence that says so; where we are more lenient, with the
 * sentence that allows it; and where the JavaScript translation cannot
 * express the mistake, with the README's translation table row.
 */
import assert from "node:assert/strict";
import type {
  App,
  Body,
  Chunk,
  ErrorStream,
  Header,
  InputStream,
  Middleware,
  StartResponse,
  Write,
} from "../../mod.ts";
import { validator, type ValidatorRule } from "../../middleware/validator.ts";
import { Client } from "../../testing.ts";
import { errorLog } from "../_helpers.ts";
import { reportAgreement, runPython } from "./_reference.ts";

type Level = "clean" | "warning" | "error";
type Method = (...args: unknown[]) => unknown;
type Loose = Record<string, unknown>;

/** Where a listed case departs from wsgiref, and the rule that allows it. */
interface Listed {
  kind: "stricter" | "lenient" | "inexpressible";
  because: string;
}

interface Case {
  name: string;
  /** Python statements defining `app` (and optionally `after()`). */
  py: string;
  /** The same app in TypeScript, built with our validator. */
  ts: (check: Middleware, hooks: Hooks) => App;
  /** The rule ours raises first, for an app that breaks one. */
  rule?: ValidatorRule;
  method?: string;
  body?: string;
  listed?: Listed;
}

/** Called once the response is over, for mistakes made after it. */
interface Hooks {
  after?: () => unknown;
}

const CT: Header[] = [["Content-Type", "text/plain"]];
const bytes = (text: string) => new TextEncoder().encode(text);
const loosely = (startResponse: StartResponse) => startResponse as Method;

const hello: App = (_environ, startResponse) => {
  startResponse("200 OK", CT);
  return [bytes("hello")];
};

/** A validated app that answers with `status`, `headers` and `body`. */
function answer(
  check: Middleware,
  status: unknown,
  headers: unknown = CT,
  body: unknown = [bytes("ok")],
): App {
  return check((_environ, startResponse) => {
    loosely(startResponse)(status, headers);
    return body as Body;
  });
}

/** A middleware that edits the environ before the validated hello. */
function tamper(check: Middleware, edit: (environ: Loose) => void): App {
  const inner = check(hello);
  return (environ, startResponse) => {
    edit(environ as unknown as Loose);
    return inner(environ, startResponse);
  };
}

/** A validated app that uses its streams, then answers. */
function reading(
  check: Middleware,
  use: (input: InputStream, errors: ErrorStream) => unknown,
): App {
  return check(async (environ, startResponse) => {
    await use(environ["wsgi.input"], environ["wsgi.errors"]);
    startResponse("200 OK", CT);
    return [bytes("read")];
  });
}

/** A middleware that reads what the validated app returned, as `take` says. */
function taking(
  check: Middleware,
  inner: App,
  take: (body: Body) => Promise<Chunk[]>,
): App {
  const validated = check(inner);
  return async (environ, startResponse) =>
    take(await validated(environ, startResponse));
}

async function drain(body: Body): Promise<Chunk[]> {
  const chunks: Chunk[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return chunks;
}

const generated: App = (_environ, startResponse) => {
  startResponse("200 OK", CT);
  return (function* () {
    yield bytes("a");
    yield bytes("b");
  })();
};

/** The Python side's helpers, matching the TypeScript ones above. */
const PRELUDE = `
CT = ("Content-Type", "text/plain")

def hello(environ, start_response):
    start_response("200 OK", [CT])
    return [b"hello"]

def answer(status, headers=..., body=...):
    headers = [CT] if headers is ... else headers
    body = [b"ok"] if body is ... else body
    def inner(environ, start_response):
        start_response(status, headers)
        return body
    return validator(inner)

def tamper(edit):
    inner = validator(hello)
    def app(environ, start_response):
        edit(environ)
        return inner(environ, start_response)
    return app

def reading(use):
    def inner(environ, start_response):
        use(environ["wsgi.input"], environ["wsgi.errors"])
        start_response("200 OK", [CT])
        return [b"read"]
    return validator(inner)

def taking(inner, take):
    validated = validator(inner)
    def app(environ, start_response):
        return take(validated(environ, start_response))
    return app

def generated(environ, start_response):
    start_response("200 OK", [CT])
    def body():
        yield b"a"
        yield b"b"
    return body()
`;

/** Set by the test: a real file for the wsgi.file_wrapper case. */
let filePath = "";

const CASES: Case[] = [
  // Correct apps: neither flags them.
  {
    name: "a 200 with Content-Type and a bytes body",
    py: `app = answer("200 OK")`,
    ts: (v) => answer(v, "200 OK"),
  },
  {
    name: "a body object with its own close()",
    py: `
class Body:
    def __iter__(self):
        yield b"a"
    def close(self):
        pass
def inner(environ, start_response):
    start_response("200 OK", [CT])
    return Body()
app = validator(inner)`,
    ts: (v) =>
      v((_environ, startResponse) => {
        startResponse("200 OK", CT);
        return {
          *[Symbol.iterator]() {
            yield bytes("a");
          },
          close() {},
        };
      }),
  },
  {
    name: "a generator body",
    py: `app = validator(generated)`,
    ts: (v) => v(generated),
  },
  {
    name: "write() and then an empty iterable",
    py: `
def inner(environ, start_response):
    write = start_response("200 OK", [CT])
    write(b"one")
    return []
app = validator(inner)`,
    ts: (v) =>
      v(async (_environ, startResponse) => {
        await startResponse("200 OK", CT)(bytes("one"));
        return [];
      }),
  },
  {
    name: "write() while the body is iterated",
    py: `
def inner(environ, start_response):
    write = start_response("200 OK", [CT])
    def body():
        yield b"a"
        write(b"b")
        yield b"c"
    return body()
app = validator(inner)`,
    ts: (v) =>
      v((_environ, startResponse) => {
        const write = startResponse("200 OK", CT);
        return (function* () {
          yield bytes("a");
          void write(bytes("b"));
          yield bytes("c");
        })();
      }),
  },
  {
    name: "a 204 without headers or body",
    py: `app = answer("204 No Content", [], [])`,
    ts: (v) => answer(v, "204 No Content", [], []),
  },
  {
    name: "a 304 without Content-Type",
    py: `app = answer("304 Not Modified", [("ETag", '"v1"')], [])`,
    ts: (v) => answer(v, "304 Not Modified", [["ETag", '"v1"']], []),
  },
  {
    name: "a HEAD answered with Content-Length and no body",
    method: "HEAD",
    py: `app = answer("200 OK", [CT, ("Content-Length", "5")], [])`,
    ts: (v) => answer(v, "200 OK", [...CT, ["Content-Length", "5"]], []),
  },
  {
    name: "startResponse again with excInfo before any body",
    py: `
def inner(environ, start_response):
    start_response("200 OK", [CT])
    try:
        raise ValueError("boom")
    except ValueError:
        start_response("500 Internal Server Error", [CT], sys.exc_info())
    return [b"failed"]
app = validator(inner)`,
    ts: (v) =>
      v((_environ, startResponse) => {
        startResponse("200 OK", CT);
        startResponse("500 Internal Server Error", CT, new Error("boom"));
        return [bytes("failed")];
      }),
  },
  {
    name:
      "wsgi.input read with read(size), readline(), readline(size) and readlines()",
    method: "POST",
    body: "ab\nline two\nrest\nlast\n",
    py:
      `app = reading(lambda i, e: (i.read(2), i.readline(), i.readline(3), i.readlines()))`,
    ts: (v) =>
      reading(v, async (input) => {
        await input.read(2);
        await input.readline();
        await input.readline(3);
        await input.readlines();
      }),
  },
  {
    name: "wsgi.input iterated by lines",
    method: "POST",
    body: "one\ntwo\n",
    py: `app = reading(lambda i, e: [line for line in i])`,
    ts: (v) =>
      reading(v, async (input) => {
        for await (const _line of input);
      }),
  },
  {
    name: "text written to wsgi.errors, then flushed",
    py:
      `app = reading(lambda i, e: (e.write("note\\n"), e.writelines(["a\\n", "b\\n"]), e.flush()))`,
    ts: (v) =>
      reading(v, (_input, errors) => {
        errors.write("note\n");
        errors.writelines(["a\n", "b\n"]);
        errors.flush();
      }),
  },
  {
    name: "a middleware that closes the body it takes",
    py: `
def take(body):
    try:
        return [chunk.upper() for chunk in body]
    finally:
        body.close()
app = taking(hello, take)`,
    ts: (v) =>
      taking(v, hello, async (body) => {
        try {
          return await drain(body);
        } finally {
          await body.close?.();
        }
      }),
  },
  {
    name: "a wsgi.file_wrapper body",
    py: `
def inner(environ, start_response):
    start_response("200 OK", [CT])
    return environ["wsgi.file_wrapper"](io.BytesIO(b"from a file"), 4)
app = validator(inner)`,
    ts: (v) =>
      v(async (environ, startResponse) => {
        startResponse("200 OK", CT);
        return environ["wsgi.file_wrapper"]!(await Deno.open(filePath));
      }),
  },

  // The status.
  {
    name: "a status that is not a string",
    py: `app = answer(200)`,
    ts: (v) => answer(v, 200),
    rule: "status-type",
  },
  {
    name: "a status with a four-digit code",
    py: `app = answer("2000 OK")`,
    ts: (v) => answer(v, "2000 OK"),
    rule: "status-format",
  },
  {
    name: "a status code below 100",
    py: `app = answer("099 Low")`,
    ts: (v) => answer(v, "099 Low"),
    rule: "status-format",
  },
  {
    name: "a status without a reason phrase",
    py: `app = answer("200")`,
    ts: (v) => answer(v, "200"),
    rule: "status-format",
  },
  {
    name: "a status with the reason first",
    py: `app = answer("OK 200")`,
    ts: (v) => answer(v, "OK 200"),
    rule: "status-format",
  },

  // The headers.
  {
    name: "headers that are not a list",
    py: `app = answer("200 OK", (CT,))`,
    ts: (v) => answer(v, "200 OK", { "Content-Type": "text/plain" }),
    rule: "headers-type",
  },
  {
    name: "a header of three parts",
    py: `app = answer("200 OK", [CT, ("X-A", "b", "c")])`,
    ts: (v) => answer(v, "200 OK", [...CT, ["X-A", "b", "c"]]),
    rule: "headers-type",
  },
  {
    name: "a header value that is not a string",
    py: `app = answer("200 OK", [CT, ("X-Count", 5)])`,
    ts: (v) => answer(v, "200 OK", [...CT, ["X-Count", 5]]),
    rule: "headers-type",
  },
  {
    name: "a header name with a colon",
    py: `app = answer("200 OK", [CT, ("X-Bad:", "1")])`,
    ts: (v) => answer(v, "200 OK", [...CT, ["X-Bad:", "1"]]),
    rule: "header-name",
  },
  {
    name: 'a header name ending in "-"',
    py: `app = answer("200 OK", [CT, ("X-Bad-", "1")])`,
    ts: (v) => answer(v, "200 OK", [...CT, ["X-Bad-", "1"]]),
    rule: "header-name",
  },
  {
    name: "a Status header",
    py: `app = answer("200 OK", [CT, ("Status", "200 OK")])`,
    ts: (v) => answer(v, "200 OK", [...CT, ["Status", "200 OK"]]),
    rule: "header-status",
  },
  {
    name: "a header value with a line feed",
    py: `app = answer("200 OK", [CT, ("X-Split", "a\\nSet-Cookie: x=1")])`,
    ts: (v) => answer(v, "200 OK", [...CT, ["X-Split", "a\nSet-Cookie: x=1"]]),
    rule: "header-value",
  },
  {
    name: "a header value with a carriage return",
    py: `app = answer("200 OK", [CT, ("X-Split", "a\\rb")])`,
    ts: (v) => answer(v, "200 OK", [...CT, ["X-Split", "a\rb"]]),
    rule: "header-value",
  },
  {
    name: "a header value above U+00FF",
    py: `app = answer("200 OK", [CT, ("X-Price", "5\\u20ac")])`,
    ts: (v) => answer(v, "200 OK", [...CT, ["X-Price", "5\u20ac"]]),
    rule: "header-latin1",
  },
  {
    name: "a Connection header (hop-by-hop)",
    py: `app = answer("200 OK", [CT, ("Connection", "close")])`,
    ts: (v) => answer(v, "200 OK", [...CT, ["Connection", "close"]]),
    rule: "hop-by-hop",
  },
  {
    name: "a Transfer-Encoding header (hop-by-hop)",
    py: `app = answer("200 OK", [CT, ("Transfer-Encoding", "chunked")])`,
    ts: (v) => answer(v, "200 OK", [...CT, ["Transfer-Encoding", "chunked"]]),
    rule: "hop-by-hop",
  },
  {
    name: "content on a 200 without Content-Type",
    py: `app = answer("200 OK", [])`,
    ts: (v) => answer(v, "200 OK", []),
    rule: "content-type",
  },
  {
    name: "Content-Type on a 204",
    py: `app = answer("204 No Content", [CT], [])`,
    ts: (v) => answer(v, "204 No Content", CT, []),
    rule: "content-type",
  },
  {
    name: "Content-Type on a 304",
    py: `app = answer("304 Not Modified", [CT], [])`,
    ts: (v) => answer(v, "304 Not Modified", CT, []),
    rule: "content-type",
  },

  // startResponse and write().
  {
    name: "no startResponse before the body yields",
    py: `app = validator(lambda environ, start_response: [b"x"])`,
    ts: (v) => v(() => [bytes("x")]),
    rule: "start-response-first",
  },
  {
    name: "no startResponse and an empty body",
    py: `app = validator(lambda environ, start_response: [])`,
    ts: (v) => v(() => []),
    rule: "start-response-first",
  },
  {
    name: "startResponse twice without excInfo",
    py: `
def inner(environ, start_response):
    start_response("200 OK", [CT])
    start_response("404 Not Found", [CT])
    return [b"x"]
app = validator(inner)`,
    ts: (v) =>
      v((_environ, startResponse) => {
        startResponse("200 OK", CT);
        startResponse("404 Not Found", CT);
        return [bytes("x")];
      }),
    rule: "start-response-twice",
  },
  {
    name: "startResponse with one argument",
    py: `
def inner(environ, start_response):
    start_response("200 OK")
    return [b"x"]
app = validator(inner)`,
    ts: (v) =>
      v((_environ, startResponse) => {
        loosely(startResponse)("200 OK");
        return [bytes("x")];
      }),
    rule: "start-response-arguments",
  },
  {
    name: "an excInfo that is not an exception",
    py: `
def inner(environ, start_response):
    start_response("200 OK", [CT], "oops")
    return [b"x"]
app = validator(inner)`,
    ts: (v) =>
      v((_environ, startResponse) => {
        loosely(startResponse)("200 OK", CT, "oops");
        return [bytes("x")];
      }),
    rule: "exc-info",
  },
  {
    name: "write() given a number",
    py: `
def inner(environ, start_response):
    start_response("200 OK", [CT])(5)
    return []
app = validator(inner)`,
    ts: (v) =>
      v((_environ, startResponse) => {
        (startResponse("200 OK", CT) as Method)(5);
        return [];
      }),
    rule: "write-chunk",
  },
  {
    name: "write() after the response is over",
    py: `
late = []
def inner(environ, start_response):
    late.append(start_response("200 OK", [CT]))
    return [b"done"]
app = validator(inner)
def after():
    late[0](b"late")`,
    ts: (v, hooks) => {
      let late: Write | undefined;
      hooks.after = () => late!(bytes("late"));
      return v((_environ, startResponse) => {
        late = startResponse("200 OK", CT);
        return [bytes("done")];
      });
    },
    rule: "body-after-close",
  },

  // The body.
  {
    name: "a body that is a string",
    py: `app = answer("200 OK", [CT], "hello")`,
    ts: (v) => answer(v, "200 OK", CT, "hello"),
    rule: "body-string",
  },
  {
    name: "a body that is bytes",
    py: `app = answer("200 OK", [CT], b"hello")`,
    ts: (v) => answer(v, "200 OK", CT, bytes("hello")),
    rule: "body-string",
  },
  {
    name: "no body at all",
    py: `app = answer("200 OK", [CT], None)`,
    ts: (v) => answer(v, "200 OK", CT, null),
    rule: "body-iterable",
  },
  {
    name: "a body that yields a number",
    py: `app = answer("200 OK", [CT], [5])`,
    ts: (v) => answer(v, "200 OK", CT, [5]),
    rule: "body-chunk",
  },
  {
    name: "a middleware that iterates a list body after closing it",
    py: `
def take(body):
    body.close()
    return list(body)
app = taking(hello, take)`,
    ts: (v) =>
      taking(v, hello, async (body) => {
        await body.close?.();
        return drain(body);
      }),
    rule: "body-after-close",
  },
  {
    name: "a middleware that iterates a generator body after closing it",
    py: `
def take(body):
    body.close()
    return list(body)
app = taking(generated, take)`,
    ts: (v) =>
      taking(v, generated, async (body) => {
        await body.close?.();
        return drain(body);
      }),
    rule: "body-after-close",
  },
  {
    name: "a middleware that never closes the body it takes",
    py: `app = taking(hello, lambda body: list(body))`,
    ts: (v) => taking(v, hello, drain),
    rule: "body-close",
  },

  // The environ, as a middleware above the validator changes it.
  {
    name: "the app called with three arguments",
    py: `
inner = validator(hello)
app = lambda environ, start_response: inner(environ, start_response, None)`,
    ts: (v) => {
      const inner = v(hello) as Method;
      return (environ, startResponse) =>
        inner(environ, startResponse, undefined) as Body;
    },
    rule: "app-arguments",
  },
  {
    name: "an environ that is not a plain dict",
    py: `
class Environ(dict):
    pass
inner = validator(hello)
app = lambda environ, start_response: inner(Environ(environ), start_response)`,
    ts: (v) => {
      const inner = v(hello);
      return (environ, startResponse) =>
        inner(
          Object.assign(Object.create({ subclass: true }), environ),
          startResponse,
        );
    },
    rule: "environ-object",
  },
  {
    name: "REQUEST_METHOD removed",
    py: `app = tamper(lambda e: e.pop("REQUEST_METHOD"))`,
    ts: (v) => tamper(v, (e) => delete e.REQUEST_METHOD),
    rule: "environ-keys",
  },
  {
    name: "SERVER_NAME removed",
    py: `app = tamper(lambda e: e.pop("SERVER_NAME"))`,
    ts: (v) => tamper(v, (e) => delete e.SERVER_NAME),
    rule: "environ-keys",
  },
  {
    name: "HTTP_CONTENT_TYPE added",
    py: `app = tamper(lambda e: e.update(HTTP_CONTENT_TYPE="text/plain"))`,
    ts: (v) => tamper(v, (e) => e.HTTP_CONTENT_TYPE = "text/plain"),
    rule: "environ-content-headers",
  },
  {
    name: "SERVER_PORT made a number",
    py: `app = tamper(lambda e: e.update(SERVER_PORT=80))`,
    ts: (v) => tamper(v, (e) => e.SERVER_PORT = 80),
    rule: "environ-strings",
  },
  {
    name: "wsgi.version made a string",
    py: `app = tamper(lambda e: e.update({"wsgi.version": "1.0"}))`,
    ts: (v) => tamper(v, (e) => e["wsgi.version"] = "1.0"),
    rule: "wsgi-version",
  },
  {
    name: 'wsgi.url_scheme "ftp"',
    py: `app = tamper(lambda e: e.update({"wsgi.url_scheme": "ftp"}))`,
    ts: (v) => tamper(v, (e) => e["wsgi.url_scheme"] = "ftp"),
    rule: "url-scheme",
  },
  {
    name: 'SCRIPT_NAME "/"',
    py: `app = tamper(lambda e: e.update(SCRIPT_NAME="/"))`,
    ts: (v) => tamper(v, (e) => e.SCRIPT_NAME = "/"),
    rule: "script-name-root",
  },
  {
    name: "PATH_INFO without its slash",
    py: `app = tamper(lambda e: e.update(PATH_INFO="x"))`,
    ts: (v) => tamper(v, (e) => e.PATH_INFO = "x"),
    rule: "path-slash",
  },
  // wsgiref raises a KeyError formatting the message of its PATH_INFO check
  // before it reaches the check that names the mistake; it flags it still.
  {
    name: "PATH_INFO removed with an empty SCRIPT_NAME",
    py:
      `app = tamper(lambda e: (e.update(SCRIPT_NAME=""), e.pop("PATH_INFO")))`,
    ts: (v) =>
      tamper(v, (e) => {
        e.SCRIPT_NAME = "";
        delete e.PATH_INFO;
      }),
    rule: "path-info-required",
  },
  {
    name: "a negative CONTENT_LENGTH",
    py: `app = tamper(lambda e: e.update(CONTENT_LENGTH="-1"))`,
    ts: (v) => tamper(v, (e) => e.CONTENT_LENGTH = "-1"),
    rule: "environ-content-length",
  },
  {
    name: "a wsgi.input without readline",
    py: `
class Input:
    def read(self, size):
        return b""
app = tamper(lambda e: e.update({"wsgi.input": Input()}))`,
    ts: (v) =>
      tamper(v, (e) => e["wsgi.input"] = { read: () => Promise.resolve() }),
    rule: "input-methods",
  },
  {
    name: "a wsgi.errors without flush",
    py: `
class Errors:
    def write(self, text):
        pass
    def writelines(self, lines):
        pass
app = tamper(lambda e: e.update({"wsgi.errors": Errors()}))`,
    ts: (v) =>
      tamper(v, (e) => e["wsgi.errors"] = { write() {}, writelines() {} }),
    rule: "errors-methods",
  },
  {
    name: "QUERY_STRING removed",
    py: `app = tamper(lambda e: e.pop("QUERY_STRING"))`,
    ts: (v) => tamper(v, (e) => delete e.QUERY_STRING),
    rule: "query-string",
  },
  {
    name: "an unknown REQUEST_METHOD",
    py: `app = tamper(lambda e: e.update(REQUEST_METHOD="BREW"))`,
    ts: (v) => tamper(v, (e) => e.REQUEST_METHOD = "BREW"),
    rule: "request-method",
  },

  // The streams.
  {
    name: "wsgi.input read() with two arguments",
    py: `app = reading(lambda i, e: i.read(1, 2))`,
    ts: (v) => reading(v, (input) => (input.read as Method)(1, 2)),
    rule: "input-arguments",
  },
  {
    name: "wsgi.input readline() with two arguments",
    py: `app = reading(lambda i, e: i.readline(1, 2))`,
    ts: (v) => reading(v, (input) => (input.readline as Method)(1, 2)),
    rule: "input-arguments",
  },
  {
    name: "wsgi.input readlines() with two arguments",
    py: `app = reading(lambda i, e: i.readlines(1, 2))`,
    ts: (v) => reading(v, (input) => (input.readlines as Method)(1, 2)),
    rule: "input-arguments",
  },
  {
    name: "wsgi.input closed by the app",
    py: `app = reading(lambda i, e: i.close())`,
    ts: (v) =>
      reading(v, (input) => (input as unknown as { close: Method }).close()),
    rule: "input-close",
  },
  {
    name: "wsgi.errors closed by the app",
    py: `app = reading(lambda i, e: e.close())`,
    ts: (v) =>
      reading(
        v,
        (_input, errors) => (errors as unknown as { close: Method }).close(),
      ),
    rule: "errors-close",
  },
  {
    name: "bytes written to wsgi.errors",
    py: `app = reading(lambda i, e: e.write(b"bytes"))`,
    ts: (v) =>
      reading(v, (_input, errors) => (errors.write as Method)(bytes("bytes"))),
    rule: "errors-write",
  },
  {
    name: "bytes given to wsgi.errors writelines()",
    py: `app = reading(lambda i, e: e.writelines([b"bytes"]))`,
    ts: (v) =>
      reading(
        v,
        (_input, errors) => (errors.writelines as Method)([bytes("bytes")]),
      ),
    rule: "errors-write",
  },

  // Stricter than wsgiref.
  {
    name: "a status with two spaces",
    py: `app = answer("200  OK")`,
    ts: (v) => answer(v, "200  OK"),
    rule: "status-reason",
    listed: {
      kind: "stricter",
      because:
        'PEP 3333: "separated by a single space, with no surrounding whitespace or other characters"',
    },
  },
  {
    name: "a status ending in a line feed",
    py: `app = answer("200 OK\\n")`,
    ts: (v) => answer(v, "200 OK\n"),
    rule: "status-reason",
    listed: {
      kind: "stricter",
      because:
        'PEP 3333: the status has "no surrounding whitespace or other characters"; wsgiref lets the line feed split the response',
    },
  },
  {
    name: "an environ value above U+00FF",
    py: `app = tamper(lambda e: e.update(HTTP_X_NAME="\\u20ac"))`,
    ts: (v) => tamper(v, (e) => e.HTTP_X_NAME = "\u20ac"),
    rule: "environ-native",
    listed: {
      kind: "stricter",
      because:
        'PEP 3333, A Note On String Types: "all "strings" referred to in this specification must contain only code points representable in ISO-8859-1 encoding (\\u0000 through \\u00FF, inclusive)"',
    },
  },
  {
    name: "a body shorter than its Content-Length",
    py: `app = answer("200 OK", [CT, ("Content-Length", "10")], [b"abc"])`,
    ts: (v) =>
      answer(v, "200 OK", [...CT, ["Content-Length", "10"]], [bytes("abc")]),
    rule: "content-length",
    listed: {
      kind: "stricter",
      because:
        'PEP 3333: "if the application does not provide enough data to meet its stated Content-Length, the server should close the connection and log or otherwise report the error"',
    },
  },
  {
    name: "a body longer than its Content-Length",
    py: `app = answer("200 OK", [CT, ("Content-Length", "2")], [b"abc"])`,
    ts: (v) =>
      answer(v, "200 OK", [...CT, ["Content-Length", "2"]], [bytes("abc")]),
    rule: "content-length",
    listed: {
      kind: "stricter",
      because:
        'PEP 3333: "the server should not transmit more bytes to the client than the header allows"',
    },
  },
  {
    name: "a 204 with a body",
    py: `app = answer("204 No Content", [], [b"x"])`,
    ts: (v) => answer(v, "204 No Content", [], [bytes("x")]),
    rule: "null-body",
    listed: {
      kind: "stricter",
      because:
        'RFC 9110 15.3.5: "A 204 response is terminated by the end of the header section; it cannot contain content or trailers"',
    },
  },
  {
    name: "Content-Length on a 204",
    py: `app = answer("204 No Content", [("Content-Length", "0")], [])`,
    ts: (v) => answer(v, "204 No Content", [["Content-Length", "0"]], []),
    rule: "content-length-forbidden",
    listed: {
      kind: "stricter",
      because:
        'RFC 9110 8.6: "A server MUST NOT send a Content-Length header field in any response with a status code of 1xx (Informational) or 204 (No Content)"',
    },
  },
  {
    name: "an ETag without quotes",
    py: `app = answer("200 OK", [CT, ("ETag", "v1")])`,
    ts: (v) => answer(v, "200 OK", [...CT, ["ETag", "v1"]]),
    rule: "etag",
    listed: {
      kind: "stricter",
      because:
        "RFC 9110 8.8.3: entity-tag = [ weak ] opaque-tag; opaque-tag = DQUOTE *etagc DQUOTE",
    },
  },

  // More lenient than wsgiref, as PEP 3333 or RFC 9110 allows.
  {
    name: "an empty 302 without Content-Type",
    py:
      `app = answer("302 Found", [("Location", "http://localhost/next")], [])`,
    ts: (v) =>
      answer(v, "302 Found", [["Location", "http://localhost/next"]], []),
    listed: {
      kind: "lenient",
      because:
        'RFC 9110 8.3: "A sender that generates a message containing content SHOULD generate a Content-Type header field"; with no content there is nothing to label (wsgiref\'s own comment doubts its reading of RFC 2616)',
    },
  },
  {
    name: "a tab in a header value",
    py: `app = answer("200 OK", [CT, ("X-List", "a\\tb")])`,
    ts: (v) => answer(v, "200 OK", [...CT, ["X-List", "a\tb"]]),
    listed: {
      kind: "lenient",
      because:
        "RFC 9110 5.5: field-content = field-vchar [ 1*( SP / HTAB / field-vchar ) field-vchar ]; a tab inside a value is allowed",
    },
  },
  {
    name: "a header name that is a token with a dot",
    py: `app = answer("200 OK", [CT, ("X.Trace", "1")])`,
    ts: (v) => answer(v, "200 OK", [...CT, ["X.Trace", "1"]]),
    listed: {
      kind: "lenient",
      because:
        'PEP 3333: "Each header_name must be a valid HTTP header field-name"; RFC 9110 5.1: field-name = token, and "." is a tchar',
    },
  },
  {
    name: "wsgi.input read() without an argument",
    method: "POST",
    body: "all of it",
    py: `app = reading(lambda i, e: i.read())`,
    ts: (v) => reading(v, (input) => input.read()),
    listed: {
      kind: "lenient",
      because:
        "PEP 3333: \"A server should allow read() to be called without an argument, and return the entire remainder of the client's input stream\" (wsgiref keeps WSGI 1.0's rule)",
    },
  },

  // Mistakes the JavaScript translation cannot make.
  {
    name: "write() given a str",
    py: `
def inner(environ, start_response):
    start_response("200 OK", [CT])("text")
    return []
app = validator(inner)`,
    ts: (v) =>
      v(async (_environ, startResponse) => {
        await startResponse("200 OK", CT)("text");
        return [];
      }),
    listed: {
      kind: "inexpressible",
      because:
        "README, PEP 3333 in TypeScript: Chunk = Uint8Array | string, strings are sent UTF-8 encoded, so a string given to write() is a chunk",
    },
  },
  {
    name: "a body that yields a str",
    py: `app = answer("200 OK", [CT], ["text"])`,
    ts: (v) => answer(v, "200 OK", CT, ["text"]),
    listed: {
      kind: "inexpressible",
      because:
        "README, PEP 3333 in TypeScript: Body is an iterable of Chunk = Uint8Array | string",
    },
  },
  {
    name: "a header given as a list, not a tuple",
    py: `app = answer("200 OK", [["Content-Type", "text/plain"]])`,
    ts: (v) => answer(v, "200 OK", [["Content-Type", "text/plain"]]),
    listed: {
      kind: "inexpressible",
      because:
        "README, PEP 3333 in TypeScript: headers are [name, value][]; JavaScript has no tuple apart from an array",
    },
  },
  {
    name: "wsgi.version given as a list",
    py: `app = tamper(lambda e: e.update({"wsgi.version": [1, 0]}))`,
    ts: (v) => tamper(v, (e) => e["wsgi.version"] = [1, 0]),
    listed: {
      kind: "inexpressible",
      because:
        "README, PEP 3333 in TypeScript: environ['wsgi.version'] == (1, 0) is [1, 0]",
    },
  },
];

/** Runs every Python app under wsgiref.validate in SimpleHandler. */
const WSGIREF = `
import gc, io, json, os, sys, traceback, warnings
from wsgiref.handlers import SimpleHandler
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator, WSGIWarning

WSGIREF_DIR = os.path.dirname(validator.__code__.co_filename) + os.sep
PRELUDE = ${JSON.stringify(PRELUDE)}

class Handler(SimpleHandler):
    os_environ = {}
    def log_exception(self, exc_info):
        self.failures.append(exc_info)

def describe(exc_info):
    kind, value, tb = exc_info
    frames = traceback.extract_tb(tb)
    where = frames[-1].filename if frames else ""
    return {
        "type": kind.__name__,
        "message": str(value),
        "wsgiref": where.startswith(WSGIREF_DIR),
        "where": where,
    }

unraisable = []
sys.unraisablehook = lambda u: unraisable.append(u)
out = []
for case in json.load(sys.stdin):
    namespace = {"validator": validator, "io": io, "sys": sys}
    exec(PRELUDE, namespace)
    exec(case["py"], namespace)
    body = case["body"].encode("latin-1")
    # QUERY_STRING as wsgiref.simple_server sets it, and ours does.
    environ = {
        "REQUEST_METHOD": case["method"],
        "CONTENT_LENGTH": str(len(body)),
        "QUERY_STRING": "",
    }
    setup_testing_defaults(environ)
    handler = Handler(io.BytesIO(body), io.BytesIO(), io.StringIO(), environ)
    handler.failures = []
    unraisable.clear()
    stderr, sys.stderr = sys.stderr, io.StringIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            handler.run(namespace["app"])
        except Exception:
            handler.failures.append(sys.exc_info())
        after = namespace.get("after")
        if after:
            try:
                after()
            except Exception:
                handler.failures.append(sys.exc_info())
        handler.result = None
        del namespace
        gc.collect()
    sys.stderr = stderr
    errors = [describe(f) for f in handler.failures]
    errors += [describe((u.exc_type, u.exc_value, u.exc_traceback))
               for u in unraisable]
    out.append({
        "errors": errors,
        "warnings": [str(w.message) for w in caught if issubclass(w.category, WSGIWarning)],
    })
json.dump(out, sys.stdout)
`;

interface Theirs {
  errors: { type: string; message: string; wsgiref: boolean; where: string }[];
  warnings: string[];
}

interface Ours {
  errors: ValidatorRule[];
  warnings: ValidatorRule[];
}

async function ours(c: Case): Promise<Ours> {
  const found: Ours = { errors: [], warnings: [] };
  const check = validator({
    onError: (error) => found.errors.push(error.rule),
    onWarning: (warning) => found.warnings.push(warning.rule),
  });
  const hooks: Hooks = {};
  const client = new Client(c.ts(check, hooks), { errors: errorLog().sink });
  try {
    await client.request(c.method ?? "GET", "/", { body: c.body });
  } catch {
    // A response the server aborted; the validator has said why.
  }
  // The unclosed-body check runs a few microtasks after the response.
  await new Promise((resolve) => setTimeout(resolve, 0));
  try {
    await hooks.after?.();
  } catch {
    // Thrown by the validator, which onError has seen.
  }
  return found;
}

const RANK: Record<Level, number> = { clean: 0, warning: 1, error: 2 };

function level(found: { errors: unknown[]; warnings: unknown[] }): Level {
  if (found.errors.length > 0) return "error";
  return found.warnings.length > 0 ? "warning" : "clean";
}

Deno.test("validator() flags what wsgiref.validate flags, and passes what it passes", async () => {
  filePath = await Deno.makeTempFile();
  const results: Ours[] = [];
  try {
    await Deno.writeTextFile(filePath, "from a file");
    for (const c of CASES) results.push(await ours(c));
  } finally {
    await Deno.remove(filePath);
  }
  const theirs = await runPython<Theirs[]>(
    WSGIREF,
    CASES.map((c) => ({
      py: c.py,
      method: c.method ?? "GET",
      body: c.body ?? "",
    })),
  );
  let agreed = 0;
  let compared = 0;
  let correct = 0;
  const listed: string[] = [];
  CASES.forEach((c, i) => {
    const wsgiref = theirs[i];
    const mine = results[i];
    const context = `${c.name}: wsgiref ${JSON.stringify(wsgiref)}, ours ${
      JSON.stringify(mine)
    }`;
    // A flag must come from wsgiref, not from a mistake in the Python app.
    for (const error of wsgiref.errors) {
      assert.ok(error.wsgiref, `${context}: raised outside wsgiref`);
    }
    const theirLevel = level(wsgiref);
    const ourLevel = level(mine);
    if (c.rule !== undefined) {
      assert.equal([...mine.errors, ...mine.warnings][0], c.rule, context);
    } else {
      assert.equal(ourLevel, "clean", context);
    }
    if (c.listed === undefined) {
      compared++;
      assert.equal(ourLevel, theirLevel, context);
      agreed++;
      if (theirLevel === "clean") correct++;
      return;
    }
    // A listed case must still depart, in the direction it says.
    if (c.listed.kind === "stricter") {
      assert.ok(RANK[ourLevel] > RANK[theirLevel], context);
    } else {
      assert.ok(RANK[ourLevel] < RANK[theirLevel], context);
    }
    listed.push(`  ${c.listed.kind}: ${c.name}: ${c.listed.because}`);
  });
  reportAgreement("validator vs wsgiref.validate", agreed, compared);
  console.log(
    `correct apps passed by both: ${correct}; listed departures: ${listed.length}\n${
      listed.join("\n")
    }`,
  );
  assert.ok(CASES.length >= 40, `only ${CASES.length} apps`);
});
