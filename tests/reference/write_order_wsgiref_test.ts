/**
 * The order of write() data and body chunks against Python's wsgiref: the
 * same apps, each a script of steps (write() calls before the body is
 * returned, then a body that yields chunks and calls write() in between),
 * run by wsgiref's SimpleHandler in one interpreter and by serve() on a real
 * socket, read raw. PEP 3333 lets an app call write() at any time after
 * start_response, and wsgiref sends each write's data as it comes, so the
 * bytes on the wire must come in the order the app wrote and yielded them.
 * The body is a sync or an async generator on our side (a write() in a
 * sync generator is not awaited); Python has one kind. Listed cases depart
 * with the RFC sentence that makes them: wsgiref sends a body to HEAD and
 * with 204 and 304, which HTTP forbids.
 */
import assert from "node:assert/strict";
import type { App, Header } from "../../mod.ts";
import {
  dechunk,
  errorLog,
  parseRaw,
  rawRequest,
  withServer,
} from "../_helpers.ts";
import { reportAgreement, runPython } from "./_reference.ts";

type Step = ["yield" | "write", string];

interface Case {
  name: string;
  method: "GET" | "HEAD";
  status: string;
  headers: Header[];
  /** write() calls of the app before it returns its body. */
  before: string[];
  /** What the body does, in order. */
  steps: Step[];
  kind: "sync" | "async";
  /** Why this case departs from wsgiref: the rule that makes it. */
  listed?: string;
}

const CT: Header[] = [["Content-Type", "text/plain"]];

/** Every sequence of yields and writes of length 1 to `most`, labelled in order. */
function sequences(most: number): Step[][] {
  const all: Step[][] = [];
  for (let length = 1; length <= most; length++) {
    for (let mask = 0; mask < 1 << length; mask++) {
      all.push(
        Array.from(
          { length },
          (_, i): Step =>
            mask & (1 << i) ? ["write", `w${i}.`] : ["yield", `y${i}.`],
        ),
      );
    }
  }
  return all;
}

function label(before: string[], steps: Step[]): string {
  const shown = [
    ...before.map((data) => `write ${data}`),
    "return",
    ...steps.map(([what, data]) => `${what} ${data}`),
  ];
  return shown.join(", ");
}

function plain(
  kind: Case["kind"],
  before: string[],
  steps: Step[],
  more: Partial<Case> = {},
): Case {
  return {
    name: `${kind}: ${label(before, steps)}`,
    method: "GET",
    status: "200 OK",
    headers: CT,
    before,
    steps,
    kind,
    ...more,
  };
}

const KB = "k".repeat(1024);
const many: Step[] = Array.from(
  { length: 200 },
  (_, i): Step => [i % 3 === 0 ? "yield" : "write", `${i}:${KB}`],
);
const big = "b".repeat(256 * 1024);
const HEAD_RULE =
  'RFC 9110 9.3.2: "the server MUST NOT send content in the response" to HEAD';
const NO_CONTENT_RULE =
  'RFC 9110 15.3.5: "A 204 response is terminated by the end of the header section; it cannot contain content"';
const NOT_MODIFIED_RULE =
  'RFC 9110 15.4.5: "A 304 response is terminated by the end of the header section; it cannot contain content"';

const CASES: Case[] = [];
for (const kind of ["sync", "async"] as const) {
  for (const steps of sequences(4)) {
    CASES.push(plain(kind, [], steps));
    if (steps.length <= 2) CASES.push(plain(kind, ["b0.", "b1."], steps));
  }
  CASES.push(
    plain(kind, [], [["yield", ""], ["write", "w1."], ["yield", ""], [
      "write",
      "w3.",
    ]], { name: `${kind}: empty chunks between writes` }),
    plain(kind, [], many, {
      name: `${kind}: 200 steps of 1 KiB, two writes to one yield`,
    }),
    plain(kind, [], [["write", big], ["yield", "y1."], ["write", big]], {
      name: `${kind}: 256 KiB writes around a yield`,
    }),
    plain(kind, ["b0."], [["yield", "y0."], ["write", "w1."]], {
      name: `${kind}: a Content-Length the steps add up to`,
      headers: [...CT, ["Content-Length", "9"]],
    }),
    plain(kind, ["b0."], [["yield", "y0."], ["write", "w1."]], {
      name: `${kind}: HEAD`,
      method: "HEAD",
      listed: HEAD_RULE,
    }),
    plain(kind, ["b0."], [["yield", "y0."], ["write", "w1."]], {
      name: `${kind}: HEAD with a Content-Length`,
      method: "HEAD",
      headers: [...CT, ["Content-Length", "9"]],
      listed: HEAD_RULE,
    }),
    plain(kind, [], [["write", "w0."], ["yield", "y1."]], {
      name: `${kind}: 204 No Content`,
      status: "204 No Content",
      headers: [],
      listed: NO_CONTENT_RULE,
    }),
    plain(kind, [], [["yield", "y0."], ["write", "w1."]], {
      name: `${kind}: 304 Not Modified`,
      status: "304 Not Modified",
      headers: [],
      listed: NOT_MODIFIED_RULE,
    }),
  );
}

/** The case's app, as a sync or an async function and generator. */
function appOf(c: Case): App {
  if (c.kind === "sync") {
    return (_environ, startResponse) => {
      const write = startResponse(c.status, c.headers);
      for (const data of c.before) void write(data);
      return (function* () {
        for (const [what, data] of c.steps) {
          if (what === "yield") yield data;
          else void write(data);
        }
      })();
    };
  }
  return async (_environ, startResponse) => {
    const write = startResponse(c.status, c.headers);
    for (const data of c.before) await write(data);
    return (async function* () {
      for (const [what, data] of c.steps) {
        if (what === "yield") yield data;
        else await write(data);
      }
    })();
  };
}

/** What a response came to: its status code, Content-Length and body. */
interface Answer {
  code: number;
  length: string | null;
  body: string;
}

const WSGIREF = `
import io, json, sys
from wsgiref.handlers import SimpleHandler
from wsgiref.util import setup_testing_defaults

def app_of(case):
    def app(environ, start_response):
        write = start_response(case["status"], [tuple(h) for h in case["headers"]])
        for data in case["before"]:
            write(data.encode("latin-1"))
        def body():
            for what, data in case["steps"]:
                if what == "yield":
                    yield data.encode("latin-1")
                else:
                    write(data.encode("latin-1"))
        return body()
    return app

out = []
for case in json.load(sys.stdin):
    environ = {"REQUEST_METHOD": case["method"]}
    setup_testing_defaults(environ)
    stdout, stderr = io.BytesIO(), io.StringIO()
    SimpleHandler(io.BytesIO(), stdout, stderr, environ).run(app_of(case))
    if stderr.getvalue():
        raise SystemExit(case["name"] + ": " + stderr.getvalue())
    head, _, body = stdout.getvalue().partition(b"\\r\\n\\r\\n")
    lines = head.decode("latin-1").split("\\r\\n")
    lengths = [l.split(":", 1)[1].strip() for l in lines[1:]
               if l.lower().startswith("content-length:")]
    out.append({
        "code": int(lines[0].split(" ")[1]),
        "length": lengths[0] if lengths else None,
        "body": body.decode("latin-1"),
    })
json.dump(out, sys.stdout)
`;

async function ours(): Promise<Answer[]> {
  const log = errorLog();
  const answers: Answer[] = [];
  const byPath = (path: string) => CASES[Number(path.slice(1))];
  await withServer(
    (environ, startResponse) =>
      appOf(byPath(environ.PATH_INFO))(environ, startResponse),
    async (_server, port) => {
      for (const [i, c] of CASES.entries()) {
        const { text, aborted } = await rawRequest(
          port,
          `${c.method} /${i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
          5000,
        );
        assert.ok(!aborted, `${c.name}: the response was aborted`);
        const { head, body } = parseRaw(text);
        const chunked = head.includes("transfer-encoding: chunked");
        const length = head.find((line) => line.startsWith("content-length:"));
        answers.push({
          code: Number(head[0].split(" ")[1]),
          length: length?.slice("content-length:".length).trim() ?? null,
          body: chunked ? dechunk(body) : body,
        });
      }
    },
    { errors: log.sink },
  );
  assert.equal(log.text(), "");
  return answers;
}

/** Long bodies shown by their length and ends. */
function short(answer: Answer): string {
  const { body } = answer;
  const shown = body.length > 60
    ? `${body.slice(0, 30)}...${body.slice(-30)} (${body.length} bytes)`
    : body;
  return `${answer.code} length ${answer.length} ${JSON.stringify(shown)}`;
}

Deno.test("serve() sends write() data and body chunks in the order wsgiref does", async () => {
  const mine = await ours();
  const theirs = await runPython<Answer[]>(WSGIREF, CASES);
  let agreed = 0;
  let compared = 0;
  const listed: string[] = [];
  CASES.forEach((c, i) => {
    const context = `${c.name}: wsgiref ${short(theirs[i])}, ours ${
      short(mine[i])
    }`;
    assert.equal(mine[i].code, theirs[i].code, context);
    // Neither may promise a length the body would not have (RFC 9110 8.6).
    assert.equal(mine[i].length, theirs[i].length, context);
    if (c.listed === undefined) {
      compared++;
      assert.equal(mine[i].body, theirs[i].body, context);
      agreed++;
      return;
    }
    // A listed case must still depart: wsgiref sends the bytes, we do not.
    assert.notEqual(theirs[i].body, "", context);
    assert.equal(mine[i].body, "", context);
    listed.push(`  ${c.name}: ${c.listed}`);
  });
  reportAgreement("write order vs wsgiref", agreed, compared);
  console.log(`listed departures: ${listed.length}\n${listed.join("\n")}`);
  assert.ok(compared >= 60, `only ${compared} cases compared`);
});
