/** The environ builder: keys, native strings, and the lazily filled keys. */
import assert from "node:assert/strict";
import type { App, Environ } from "../../mod.ts";
import { runDev } from "../../dev.ts";
import { toFetchHandler } from "../../server.ts";
import { buildEnviron, Client } from "../../testing.ts";
import { parseRaw, rawRequest, withServer } from "../_helpers.ts";
import { makeEnviron } from "../../_request/environ.ts";
import type { RequestParts } from "../../_request/request_parts.ts";

/** Runs one request through the server's adapter and hands back its environ. */
async function environOf(
  request: Request,
  inspect: (environ: Environ) => void,
): Promise<void> {
  let failure: unknown;
  const app: App = (environ, startResponse) => {
    try {
      inspect(environ);
    } catch (error) {
      failure = error;
    }
    startResponse("200 OK", []);
    return [];
  };
  const info = {
    remoteAddr: { transport: "tcp", hostname: "10.1.2.3", port: 5555 },
    completed: Promise.resolve(),
  } as Deno.ServeHandlerInfo<Deno.NetAddr>;
  await (await toFetchHandler(app)(request, info)).body?.cancel();
  if (failure) throw failure;
}

Deno.test("buildEnviron() has every key PEP 3333 and gunicorn give", () => {
  const environ = buildEnviron({
    method: "PUT",
    url: "https://example.test:8443/a%2Fb?q=1",
    headers: { "X-Request-Id": "abc", "Content-Type": "text/plain" },
    body: "hello",
  });
  assert.equal(environ.REQUEST_METHOD, "PUT");
  assert.equal(environ.SCRIPT_NAME, "");
  assert.equal(environ.PATH_INFO, "/a/b");
  assert.equal(environ.QUERY_STRING, "q=1");
  assert.equal(environ.RAW_URI, "/a%2Fb?q=1");
  assert.equal(environ.REQUEST_URI, "/a%2Fb?q=1");
  assert.equal(environ.SERVER_NAME, "example.test");
  assert.equal(environ.SERVER_PORT, "8443");
  assert.equal(environ.SERVER_PROTOCOL, "HTTP/1.1");
  assert.equal(environ.REMOTE_ADDR, "127.0.0.1");
  assert.equal(environ.CONTENT_TYPE, "text/plain");
  assert.equal(environ.CONTENT_LENGTH, "5");
  assert.equal(environ.HTTP_X_REQUEST_ID, "abc");
  assert.equal(environ.HTTP_HOST, "example.test:8443");
  assert.deepEqual(environ["wsgi.version"], [1, 0]);
  assert.equal(environ["wsgi.url_scheme"], "https");
  assert.equal(environ["wsgi.multithread"], true);
  assert.equal(environ["wsgi.multiprocess"], false);
  assert.equal(environ["wsgi.run_once"], false);
  assert.equal(environ["wsgi.input_terminated"], true);
  assert.equal(typeof environ["wsgi.file_wrapper"], "function");
  assert.equal(typeof environ["wsgi.errors"].write, "function");
  assert.ok(environ["deno.request"] instanceof Request);
  assert.ok(environ["deno.signal"] instanceof AbortSignal);
});

Deno.test("buildEnviron() uses the scheme's default port and omits absent content keys", () => {
  const environ = buildEnviron({ url: "http://example.test/" });
  assert.equal(environ.SERVER_PORT, "80");
  assert.equal("CONTENT_TYPE" in environ, false);
  assert.equal("CONTENT_LENGTH" in environ, false);
  assert.equal(
    buildEnviron({ url: "https://example.test/" }).SERVER_PORT,
    "443",
  );
  assert.equal(
    buildEnviron({ url: "http://[::1]:9000/" }).SERVER_NAME,
    "[::1]",
  );
});

Deno.test("buildEnviron() moves scriptName from PATH_INFO to SCRIPT_NAME", () => {
  const mounted = buildEnviron({ path: "/blog/post/1", scriptName: "/blog" });
  assert.equal(mounted.SCRIPT_NAME, "/blog");
  assert.equal(mounted.PATH_INFO, "/post/1");
  const exact = buildEnviron({ path: "/blog", scriptName: "/blog/" });
  assert.equal(exact.SCRIPT_NAME, "/blog");
  assert.equal(exact.PATH_INFO, "");
  // A path outside the prefix is not cut at a partial segment.
  const outside = buildEnviron({ path: "/blogger", scriptName: "/blog" });
  assert.equal(outside.SCRIPT_NAME, "");
  assert.equal(outside.PATH_INFO, "/blogger");
});

Deno.test("environ strings are native strings: UTF-8 bytes as Latin-1", async () => {
  await environOf(
    new Request("http://localhost/caf%C3%A9?name=%C3%A9", {
      headers: { "X-Raw": "caf\xc3\xa9" },
    }),
    (environ) => {
      assert.equal(environ.PATH_INFO, "/caf\xc3\xa9");
      assert.equal(environ.QUERY_STRING, "name=%C3%A9");
      assert.equal(environ.HTTP_X_RAW, "caf\xc3\xa9");
      for (const value of Object.values(environ)) {
        if (typeof value === "string") assert.ok(/^[\0-\xff]*$/.test(value));
      }
    },
  );
});

Deno.test("the environ fills its header keys before anything can observe them", async () => {
  const request = () =>
    new Request("http://localhost/", {
      headers: { "X-One": "1", "X-Two": "2" },
    });
  // Every way of looking at the keys sees the headers.
  await environOf(request(), (environ) => {
    assert.ok(Object.keys(environ).includes("HTTP_X_ONE"));
  });
  await environOf(request(), (environ) => {
    assert.equal({ ...environ }.HTTP_X_TWO, "2");
  });
  await environOf(request(), (environ) => {
    assert.equal("HTTP_X_ONE" in environ, true);
  });
  await environOf(request(), (environ) => {
    assert.equal(JSON.parse(JSON.stringify(environ)).HTTP_X_ONE, "1");
  });
  await environOf(request(), (environ) => {
    assert.equal(
      Object.getOwnPropertyDescriptor(environ, "HTTP_X_TWO")?.value,
      "2",
    );
  });
  await environOf(request(), (environ) => {
    assert.equal(Object.getPrototypeOf(environ), Object.prototype);
    const keys: string[] = [];
    for (const key in environ) keys.push(key);
    assert.ok(keys.includes("HTTP_X_TWO") && keys.includes("REMOTE_ADDR"));
  });
});

Deno.test("the environ keeps what an app writes, before and after the headers are filled", async () => {
  const request = new Request("http://localhost/", {
    headers: { "X-One": "1" },
  });
  await environOf(request, (environ) => {
    // Writing a header key first must not be overwritten by the fill.
    environ.HTTP_X_ONE = "changed";
    environ.HTTP_X_NEW = "added";
    assert.equal(environ.HTTP_X_ONE, "changed");
    assert.equal(environ.HTTP_X_NEW, "added");
    delete environ.HTTP_X_NEW;
    assert.equal("HTTP_X_NEW" in environ, false);
    environ["myapp.user"] = "ada";
    assert.equal(environ["myapp.user"], "ada");
    assert.equal(
      Object.keys(environ).filter((k) => k === "HTTP_X_ONE").length,
      1,
    );
  });
  await environOf(
    new Request("http://localhost/", { headers: { "X-One": "1" } }),
    (environ) => {
      delete environ.HTTP_X_ONE;
      assert.equal(environ.HTTP_X_ONE, undefined);
      assert.equal(Object.keys(environ).includes("HTTP_X_ONE"), false);
    },
  );
});

Deno.test("the environ reports the peer's address only when asked, from the connection", async () => {
  await environOf(new Request("http://localhost/"), (environ) => {
    assert.equal(environ.REMOTE_ADDR, "10.1.2.3");
    assert.equal(environ.REMOTE_PORT, "5555");
  });
});

Deno.test("toFetchHandler() without connection info still builds a valid environ", async () => {
  const handler = toFetchHandler((environ, startResponse) => {
    startResponse("200 OK", []);
    return [
      `${environ.REMOTE_ADDR} ${environ.SERVER_NAME}:${environ.SERVER_PORT}`,
    ];
  });
  const response = await handler(new Request("http://example.test:81/"));
  assert.equal(await response.text(), "127.0.0.1 example.test:81");
});

Deno.test("Client() and the environ agree on what a request carries", async () => {
  const client = new Client((environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "application/json"]]);
    return [JSON.stringify({
      method: environ.REQUEST_METHOD,
      type: environ.CONTENT_TYPE,
      length: environ.CONTENT_LENGTH,
      agent: environ.HTTP_USER_AGENT ?? null,
    })];
  });
  const response = await client.post("/", { form: { a: "1" } });
  assert.deepEqual(response.json(), {
    method: "POST",
    type: "application/x-www-form-urlencoded",
    length: "3",
    agent: null,
  });
});

Deno.test("the environ lists deno.signal without reading the request's signal", async () => {
  let read = 0;
  const request = new Request("http://localhost/");
  const signal = request.signal;
  Object.defineProperty(request, "signal", {
    get: () => {
      read++;
      return signal;
    },
  });
  await environOf(request, (environ) => {
    assert.ok(Object.keys(environ).includes("deno.signal"));
    assert.equal("deno.signal" in environ, true);
    assert.equal(read, 0);
    assert.ok(environ["deno.signal"] instanceof AbortSignal);
    assert.equal(read, 1);
    assert.equal(environ["deno.signal"], environ["deno.signal"]);
    assert.equal(read, 1);
  });
  await environOf(new Request("http://localhost/"), (environ) => {
    delete environ["deno.signal"];
    assert.equal(Object.keys(environ).includes("deno.signal"), false);
    const replacement = new AbortController().signal;
    environ["deno.signal"] = replacement;
    assert.equal(environ["deno.signal"], replacement);
  });
});

Deno.test("makeEnviron() gives one CONTENT_LENGTH for two equal Content-Length lines", async () => {
  // Deno.serve joins the lines into "3, 3", which is no CGI CONTENT_LENGTH
  // (RFC 3875 §4.1.2); RFC 9110 §8.6 lets a recipient keep one instance.
  const app: App = async (environ, startResponse) => {
    const body = await environ["wsgi.input"].read();
    startResponse("200 OK", []);
    return [`${environ.CONTENT_LENGTH} ${new TextDecoder().decode(body)}`];
  };
  await withServer(app, async (_server, port) => {
    const { text } = await rawRequest(
      port,
      "POST / HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n" +
        "Content-Length: 3\r\nContent-Length: 3\r\n\r\ndup",
    );
    assert.equal(parseRaw(text).body, "3 dup");
  });
});

Deno.test("fetchExport() serves plain HTTP: wsgi.url_scheme is not the target's", async () => {
  const { fetchExport } = await import("../../server.ts");
  let scheme: unknown;
  const app: App = (environ, startResponse) => {
    scheme = environ["wsgi.url_scheme"];
    startResponse("204 No Content", []);
    return [];
  };
  const info = {
    remoteAddr: { transport: "tcp", hostname: "10.1.2.3", port: 5555 },
    completed: Promise.resolve(),
  } as Deno.ServeHandlerInfo<Deno.NetAddr>;
  const request = new Request("https://example.test/", {
    headers: { host: "example.test" },
  });
  await fetchExport(app).fetch(request, info);
  assert.equal(scheme, "http");
  await toFetchHandler(app, { urlScheme: "http" })(request, info);
  assert.equal(scheme, "http");
  // Without urlScheme the URL says it, as for the test client's requests.
  await toFetchHandler(app)(request, info);
  assert.equal(scheme, "https");
  await fetchExport(app, { urlScheme: "https" }).fetch(
    new Request("http://example.test/"),
    info,
  );
  assert.equal(scheme, "https");
});

Deno.test("runDev() gives SERVER_NAME and SERVER_PORT of the bound address, as serve() does", async () => {
  const dev = await runDev({
    app: new URL("../../examples/environ_echo.ts", import.meta.url).pathname,
    port: 0,
    liveReload: false,
    log() {},
    onListen() {},
  });
  try {
    const { text } = await rawRequest(
      dev.addr.port,
      "GET / HTTP/1.1\r\nHost: example.test:81\r\nConnection: close\r\n\r\n",
    );
    const environ = JSON.parse(parseRaw(text).body);
    assert.equal(environ.HTTP_HOST, "example.test:81");
    assert.equal(environ.SERVER_NAME, "127.0.0.1");
    assert.equal(environ.SERVER_PORT, String(dev.addr.port));
  } finally {
    await dev.close();
  }
});

/**
 * A request the way the dev server's Worker hands it over (not a `Request`),
 * whose headers count how often they are read one by one and all at once.
 */
function countedRequest(init: [string, string][]) {
  const counts = { get: [] as string[], all: 0 };
  const headers = new Headers(init);
  const counted = new Proxy(headers, {
    get(target, key) {
      if (key === "get") {
        return (name: string) => {
          counts.get.push(name);
          return target.get(name);
        };
      }
      if (key === Symbol.iterator || key === "entries") {
        return () => {
          counts.all++;
          return target.entries();
        };
      }
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const url = "http://localhost/";
  const request = {
    url,
    method: "GET",
    headers: counted,
    body: null,
    signal: new AbortController().signal,
    toRequest: () => new Request(url, { headers }),
  };
  return { request, counts };
}

function environFor(request: RequestParts): Environ {
  return makeEnviron(request, undefined, {
    scriptName: "",
    errors: { write() {}, writelines() {}, flush() {} },
    multiprocess: false,
    maxBodySize: 1024,
  });
}

Deno.test("makeEnviron() reads one header key from its one field, not every header", () => {
  const { request, counts } = countedRequest([
    ["User-Agent", "curl/8"],
    ["X-One", "1"],
    ["Content-Length", "3, 3"],
  ]);
  const environ = environFor(request);
  assert.equal(environ.HTTP_USER_AGENT, "curl/8");
  assert.equal(environ.HTTP_USER_AGENT, "curl/8");
  assert.equal(environ.HTTP_REFERER, undefined);
  assert.equal("HTTP_X_ONE" in environ, true);
  assert.equal(environ.CONTENT_LENGTH, "3");
  assert.deepEqual(counts.get, [
    "user-agent",
    "referer",
    "x-one",
    "content-length",
  ]);
  assert.equal(counts.all, 0);
  // Listing the keys fills in the rest, once, each key once.
  const keys = Object.keys(environ);
  assert.equal(counts.all, 1);
  for (const key of ["HTTP_USER_AGENT", "HTTP_X_ONE", "CONTENT_LENGTH"]) {
    assert.equal(keys.filter((k) => k === key).length, 1, key);
  }
  assert.equal(environ.CONTENT_LENGTH, "3");
  void { ...environ };
  assert.equal(counts.all, 1);
});

Deno.test("makeEnviron() keeps a header key written or deleted before the keys are listed", () => {
  const { request } = countedRequest([
    ["X-One", "1"],
    ["X-Two", "2"],
    ["X-Three", "3"],
  ]);
  const environ = environFor(request);
  environ.HTTP_X_ONE = "changed";
  delete environ.HTTP_X_TWO;
  assert.equal(environ.HTTP_X_THREE, "3");
  delete environ.HTTP_X_THREE;
  const copy = { ...environ };
  assert.equal(copy.HTTP_X_ONE, "changed");
  assert.equal("HTTP_X_TWO" in copy, false);
  assert.equal("HTTP_X_THREE" in copy, false);
  assert.equal(environ.HTTP_X_TWO, undefined);
});

Deno.test("makeEnviron() gives no key that no header can give, read alone or listed", () => {
  const { request, counts } = countedRequest([
    ["Content-Type", "text/plain"],
    ["X-Ok", "1"],
  ]);
  const environ = environFor(request);
  // Not the key of any header: lower case, a "-", a space, the CGI names.
  for (
    const key of [
      "HTTP_x_ok",
      "HTTP_X-OK",
      "HTTP_X OK",
      "HTTP_",
      "HTTP_CONTENT_TYPE",
    ]
  ) {
    assert.equal(environ[key], undefined, key);
    assert.equal(key in environ, false, key);
  }
  assert.deepEqual(counts.get, []);
  assert.equal(environ.CONTENT_TYPE, "text/plain");
  assert.deepEqual(
    Object.keys(environ).filter((key) =>
      key.startsWith("HTTP_") || key.startsWith("CONTENT_")
    ).sort(),
    ["CONTENT_TYPE", "HTTP_X_OK"],
  );
});

Deno.test("makeEnviron() gives a repeated Set-Cookie the same value read alone as listed", async () => {
  const lines = [["Set-Cookie", "a=1"], ["Set-Cookie", "b=2"]] as [
    string,
    string,
  ][];
  const alone = environFor(countedRequest(lines).request).HTTP_SET_COOKIE;
  const listed = { ...environFor(countedRequest(lines).request) }
    .HTTP_SET_COOKIE;
  assert.equal(alone, listed);
  // And through a real server, from Deno.serve's own Request.
  await withServer((environ, startResponse) => {
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return [`${environ.HTTP_X_A}|${environ.HTTP_COOKIE}|${environ.HTTP_HOST}`];
  }, async (_server, port) => {
    const response = parseRaw(
      (await rawRequest(
        port,
        "GET / HTTP/1.1\r\nHost: example.test\r\nX-A: 1\r\nX-A: 2\r\n" +
          "Cookie: a=1\r\nCookie: b=2\r\nConnection: close\r\n\r\n",
      )).text,
    );
    assert.equal(response.body, "1, 2|a=1; b=2|example.test");
  });
});
