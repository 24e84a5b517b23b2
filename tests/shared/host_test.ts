/** Host syntax (RFC 3986 section 3.2), as the request checks use it. */
import assert from "node:assert/strict";
import {
  hostNameOf,
  isHostAndPort,
  listenUrl,
  splitHostPort,
} from "../../_shared/host.ts";

Deno.test("isHostAndPort() accepts every uri-host form, with or without a port", () => {
  for (
    const host of [
      "",
      "h",
      "example.test",
      "example.test.",
      "EXAMPLE.Test",
      "xn--caf-dma.test",
      "a_b~c-d",
      "h:",
      "h:8080",
      "127.0.0.1",
      "127.0.0.1:80",
      "%41b",
      "!$&'()*+,;=",
      "[::1]",
      "[::1]:9000",
      "[2001:db8::8a2e:370:7334]",
      "[1:2:3:4:5:6:7:8]",
      "[::ffff:192.0.2.1]",
      "[1:2:3:4:5:6:1.2.3.4]",
      "[v1.fe80::a+en1]",
    ]
  ) {
    assert.equal(isHostAndPort(host), true, host);
  }
});

Deno.test("isHostAndPort() refuses what would move a path's start or is no host", () => {
  for (
    const host of [
      "h/admin",
      "h?x",
      "h#x",
      "user@h",
      "h h",
      "h\\x",
      "h:8x",
      "h:80:80",
      "::1",
      "[::1",
      "::1]",
      "[::1]x",
      "[zz::1]",
      "[1:2:3:4:5:6:7:8:9]",
      "[1::2::3]",
      "[1:2:3:4:5:6:7]",
      "[1.2.3.4::]",
      "[::256.0.0.1]",
      "h%4",
      "h%zz",
      "H\xe9",
      "h\0",
    ]
  ) {
    assert.equal(isHostAndPort(host), false, host);
  }
});

Deno.test("splitHostPort() splits at the port's colon, minding brackets", () => {
  assert.deepEqual(splitHostPort("example.test:8080"), [
    "example.test",
    "8080",
  ]);
  assert.deepEqual(splitHostPort("example.test"), ["example.test", undefined]);
  assert.deepEqual(splitHostPort("example.test:"), ["example.test", ""]);
  assert.deepEqual(splitHostPort("[::1]:80"), ["[::1]", "80"]);
  assert.deepEqual(splitHostPort("[::1]"), ["[::1]", undefined]);
  assert.deepEqual(splitHostPort("[v1.x:y]"), ["[v1.x:y]", undefined]);
});

Deno.test("hostNameOf() gives the name without port or brackets", () => {
  assert.equal(hostNameOf("example.test:8080"), "example.test");
  assert.equal(hostNameOf("[::1]:80"), "::1");
  assert.equal(hostNameOf("[::1]"), "::1");
  // Deno names a bound IPv6 address without brackets.
  assert.equal(hostNameOf("::1"), "::1");
  assert.equal(hostNameOf("fe80::1:2"), "fe80::1:2");
  assert.equal(hostNameOf("[::1]evil.test"), "[::1]evil.test");
});

Deno.test("listenUrl() gives the URL of a TCP or unix listener", () => {
  assert.equal(
    listenUrl({ transport: "tcp", hostname: "127.0.0.1", port: 8000 }),
    "http://127.0.0.1:8000/",
  );
  assert.equal(
    listenUrl({ transport: "tcp", hostname: "::1", port: 443 }, true),
    "https://[::1]:443/",
  );
  assert.equal(
    listenUrl({ transport: "unix", path: "/tmp/app.sock" }),
    "http+unix:///tmp/app.sock",
  );
});
