/** Native-string and URL helpers, checked against wsgiref.util's results. */
import assert from "node:assert/strict";
import {
  applicationUri,
  decodeNative,
  encodeNative,
  pathInfo,
  requestUri,
  shiftPathInfo,
} from "../util.ts";
import { buildEnviron } from "../testing.ts";

Deno.test("encodeNative() and decodeNative() round-trip any text", () => {
  for (const text of ["", "plain", "café", "☕ and 𝄞", "\0\xff"]) {
    const native = encodeNative(text);
    assert.ok(/^[\0-\xff]*$/.test(native));
    assert.equal(decodeNative(native), text);
  }
});

Deno.test("decodeNative() replaces or refuses bytes that are not UTF-8", () => {
  assert.equal(decodeNative("a\xffb"), "a\ufffdb");
  assert.throws(() => decodeNative("a\xffb", { fatal: true }), TypeError);
  assert.throws(() => decodeNative("☕"), /above U\+00FF/);
});

Deno.test("pathInfo() decodes PATH_INFO as UTF-8", () => {
  assert.equal(
    pathInfo(buildEnviron({ path: "/%E2%98%95/caf%C3%A9" })),
    "/☕/café",
  );
});

Deno.test("applicationUri() and requestUri() rebuild the URL like wsgiref.util", () => {
  const environ = buildEnviron({
    url: "http://example.test/app/a%20b/c?x=1",
    scriptName: "/app",
  });
  assert.equal(applicationUri(environ), "http://example.test/app");
  assert.equal(requestUri(environ), "http://example.test/app/a%20b/c?x=1");
  assert.equal(requestUri(environ, false), "http://example.test/app/a%20b/c");
  // Without a Host header the server's name and non-default port are used.
  delete environ.HTTP_HOST;
  environ.SERVER_NAME = "internal";
  environ.SERVER_PORT = "8080";
  assert.equal(applicationUri(environ), "http://internal:8080/app");
  environ.SERVER_PORT = "80";
  assert.equal(applicationUri(environ), "http://internal/app");
  const root = buildEnviron({ url: "https://example.test/caf%C3%A9" });
  assert.equal(applicationUri(root), "https://example.test/");
  assert.equal(requestUri(root), "https://example.test/caf%C3%A9");
});

Deno.test("shiftPathInfo() moves one segment at a time, as wsgiref.util does", () => {
  const environ = buildEnviron({ path: "/a/b//./c/" });
  assert.equal(shiftPathInfo(environ), "a");
  assert.deepEqual([environ.SCRIPT_NAME, environ.PATH_INFO], ["/a", "/b/c/"]);
  assert.equal(shiftPathInfo(environ), "b");
  assert.equal(shiftPathInfo(environ), "c");
  assert.deepEqual([environ.SCRIPT_NAME, environ.PATH_INFO], ["/a/b/c", "/"]);
  assert.equal(shiftPathInfo(environ), "");
  assert.deepEqual([environ.SCRIPT_NAME, environ.PATH_INFO], ["/a/b/c/", ""]);
  assert.equal(shiftPathInfo(environ), undefined);
  const dotdot = buildEnviron({ path: "/x", scriptName: "" });
  dotdot.SCRIPT_NAME = "/a/b";
  dotdot.PATH_INFO = "/../c";
  assert.equal(shiftPathInfo(dotdot), "..");
  assert.equal(dotdot.SCRIPT_NAME, "/a");
});
