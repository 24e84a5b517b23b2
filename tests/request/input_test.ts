/** wsgi.input: the asynchronous request body stream. */
import assert from "node:assert/strict";
import { buildEnviron } from "../../testing.ts";
import { Input } from "../../_request/input.ts";
import { RequestBodyError } from "../../_shared/request_body_error.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** An input over `parts`, delivered as separate stream chunks. */
function input(parts: string[], length?: number, limit?: number): Input {
  return new Input(
    ReadableStream.from(parts.map((p) => encoder.encode(p))),
    length,
    limit,
  );
}

const text = (bytes: Uint8Array) => decoder.decode(bytes);

Deno.test("wsgi.input read() returns everything, then empty arrays", async () => {
  const body = input(["hello ", "wor", "ld"]);
  assert.equal(text(await body.read()), "hello world");
  assert.equal((await body.read()).length, 0);
  assert.equal((await body.read(10)).length, 0);
  assert.equal((await body.readline()).length, 0);
});

Deno.test("wsgi.input read(size) returns at most size bytes across chunks", async () => {
  const body = input(["abc", "defg", "h"]);
  assert.equal(text(await body.read(2)), "ab");
  assert.equal(text(await body.read(4)), "cdef");
  assert.equal(text(await body.read(0)), "");
  assert.equal(text(await body.read(100)), "gh");
  assert.equal((await body.read(1)).length, 0);
});

Deno.test("wsgi.input readline() splits lines across chunks and honours size", async () => {
  const body = input(["one\ntw", "o\nthr", "ee"]);
  assert.equal(text(await body.readline()), "one\n");
  assert.equal(text(await body.readline(2)), "tw");
  assert.equal(text(await body.readline()), "o\n");
  assert.equal(text(await body.readline()), "three");
  assert.equal((await body.readline()).length, 0);
});

Deno.test("wsgi.input readlines() and async iteration yield every line", async () => {
  const lines = await input(["a\nb\n", "c"]).readlines();
  assert.deepEqual(lines.map(text), ["a\n", "b\n", "c"]);
  const hinted = await input(["aa\nbb\ncc\n"]).readlines(4);
  assert.deepEqual(hinted.map(text), ["aa\n", "bb\n"]);
  const seen: string[] = [];
  for await (const line of input(["x\ny", "\nz\n"])) seen.push(text(line));
  assert.deepEqual(seen, ["x\n", "y\n", "z\n"]);
});

Deno.test("wsgi.input never yields bytes past CONTENT_LENGTH", async () => {
  const body = input(["0123", "456789"], 6);
  assert.equal(text(await body.read()), "012345");
  assert.equal((await body.read()).length, 0);
});

Deno.test("wsgi.input throws past its limit, naming the limit", async () => {
  const body = input(["1234", "5678"], Infinity, 6);
  await assert.rejects(() => body.read(), {
    name: "BodyTooLargeError",
    message: "Cannot read the request body: it is larger than 6 bytes",
  });
});

Deno.test("wsgi.input turns a failing body stream into a 400 RequestBodyError with its cause", async () => {
  for (
    const [cause, message] of [
      [
        new Error("invalid HTTP/1 request"),
        "its chunked encoding is malformed",
      ],
      [
        new Deno.errors.BadResource("Bad resource ID"),
        "the connection ended before the body did",
      ],
    ] as const
  ) {
    let sent = false;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent) return controller.error(cause);
        sent = true;
        controller.enqueue(encoder.encode("part"));
      },
    });
    const body = new Input(stream, 100);
    assert.equal(text(await body.read(4)), "part");
    const error = await body.read().then(() => undefined, (e) => e);
    assert.ok(error instanceof RequestBodyError);
    assert.equal(error.status, 400);
    assert.equal(error.message, `Cannot read the request body: ${message}`);
    assert.equal(error.cause, cause);
    // The body is over: later reads end at once instead of throwing again.
    assert.equal((await body.read()).length, 0);
  }
});

Deno.test("wsgi.input of a request without a body is empty", async () => {
  const environ = buildEnviron();
  assert.equal((await environ["wsgi.input"].read()).length, 0);
});

Deno.test("wsgi.input keeps binary bodies intact", async () => {
  const data = Uint8Array.from({ length: 1024 }, (_, i) => (i * 7) % 256);
  const environ = buildEnviron({ method: "POST", body: data });
  assert.deepEqual(await environ["wsgi.input"].read(), data);
});
