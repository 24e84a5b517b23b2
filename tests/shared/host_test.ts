/** Host syntax (RFC 3986 section 3.2), as the request checks use it. */
import assert from "node:assert/strict";
import { isHostAndPort } from "../../_shared/host.ts";

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
