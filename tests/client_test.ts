/** The in-process test client. */
import assert from "node:assert/strict";
import type { App } from "../mod.ts";
import { buildEnviron, Client } from "../testing.ts";
import { errorLog, parseRaw, rawRequest, withServer } from "./_helpers.ts";

/** Answers with what the request carried, as JSON. */
const inspect: App = async (environ, startResponse) => {
  const body = new TextDecoder().decode(await environ["wsgi.input"].read());
  startResponse("200 OK", [["Content-Type", "application/json"]]);
  return [JSON.stringify({
    method: environ.REQUEST_METHOD,
    path: environ.PATH_INFO,
    query: environ.QUERY_STRING,
    type: environ.CONTENT_TYPE ?? null,
    length: environ.CONTENT_LENGTH ?? null,
    custom: environ.HTTP_X_CUSTOM ?? null,
    cookie: environ.HTTP_COOKIE ?? null,
    scheme: environ["wsgi.url_scheme"],
    host: environ.HTTP_HOST,
    remote: environ.REMOTE_ADDR,
    body,
  })];
};

Deno.test("Client has a method for each HTTP verb", async () => {
  const client = new Client(inspect);
  for (
    const verb of ["get", "post", "put", "patch", "delete", "options"] as const
  ) {
    const response = await client[verb]("/x");
    assert.equal(
      response.json<{ method: string }>().method,
      verb.toUpperCase(),
    );
  }
  const head = await client.head("/x");
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  const custom = await client.request("PROPFIND", "/x");
  assert.equal(custom.json<{ method: string }>().method, "PROPFIND");
});

Deno.test("Client sends query objects, headers, JSON and form bodies", async () => {
  const client = new Client(inspect);
  const query = await client.get("/search?a=1", {
    query: { q: "two words", tag: ["x", "y"], n: 3 },
  });
  assert.equal(
    query.json<{ query: string }>().query,
    "a=1&q=two+words&tag=x&tag=y&n=3",
  );
  const headers = await client.get("/", { headers: { "X-Custom": "yes" } });
  assert.equal(headers.json<{ custom: string }>().custom, "yes");
  const json = await client.post("/", { json: { name: "ada" } });
  assert.deepEqual(
    (({ type, length, body }) => ({ type, length, body }))(
      json.json<Record<string, string>>(),
    ),
    { type: "application/json", length: "14", body: '{"name":"ada"}' },
  );
  const form = await client.post("/", { form: { a: "1", b: "x y" } });
  assert.equal(form.json<{ body: string }>().body, "a=1&b=x+y");
  assert.equal(
    form.json<{ type: string }>().type,
    "application/x-www-form-urlencoded",
  );
  const multipart = new FormData();
  multipart.set("field", "value");
  const sent = await client.post("/", { form: multipart });
  assert.match(
    sent.json<{ type: string }>().type,
    /^multipart\/form-data; boundary=/,
  );
  assert.match(sent.json<{ body: string }>().body, /name="field"\r\n\r\nvalue/);
});

Deno.test("Client uses its base URL for scheme, host and remote address", async () => {
  const client = new Client(inspect, {
    baseUrl: "https://api.example.test:8443/",
    remoteAddr: "203.0.113.9",
  });
  const data = (await client.get("/")).json<Record<string, string>>();
  assert.equal(data.scheme, "https");
  assert.equal(data.host, "api.example.test:8443");
  assert.equal(data.remote, "203.0.113.9");
});

Deno.test("Client keeps cookies across requests, by path, until they expire", async () => {
  const app: App = (environ, startResponse) => {
    const headers: [string, string][] = [["Content-Type", "text/plain"]];
    if (environ.PATH_INFO === "/login") {
      headers.push(["Set-Cookie", "session=abc; Path=/; HttpOnly"]);
      headers.push(["Set-Cookie", "admin=1; Path=/admin"]);
    }
    if (environ.PATH_INFO === "/logout") {
      headers.push(["Set-Cookie", "session=; Max-Age=0; Path=/"]);
    }
    startResponse("200 OK", headers);
    return [environ.HTTP_COOKIE ?? ""];
  };
  const client = new Client(app);
  await client.get("/login");
  assert.deepEqual(
    client.cookies.map(({ name, value, path }) => [name, value, path]),
    [["session", "abc", "/"], ["admin", "1", "/admin"]],
  );
  assert.equal((await client.get("/home")).text(), "session=abc");
  assert.equal(
    (await client.get("/admin/users")).text(),
    "admin=1; session=abc",
  );
  assert.equal((await client.get("/administrator")).text(), "session=abc");
  await client.get("/logout");
  assert.equal((await client.get("/home")).text(), "");
  client.setCookie("theme", "dark");
  assert.equal((await client.get("/home")).text(), "theme=dark");
});

Deno.test("Client follows redirects only when asked, keeping the history", async () => {
  const app: App = async (environ, startResponse) => {
    const body = await environ["wsgi.input"].read();
    const path = environ.PATH_INFO;
    if (path === "/old") {
      startResponse("301 Moved Permanently", [["Location", "/new"]]);
    } else if (path === "/new") {
      startResponse("302 Found", [["Location", "http://localhost/final"]]);
    } else if (path === "/keep") {
      startResponse("307 Temporary Redirect", [["Location", "/final"]]);
    } else if (path === "/loop") {
      startResponse("302 Found", [["Location", "/loop"]]);
    } else if (path.startsWith("/chain/")) {
      const n = Number(path.slice("/chain/".length));
      startResponse("302 Found", [["Location", `/chain/${n + 1}`]]);
    } else startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return [`${environ.REQUEST_METHOD} ${path} ${body.length}`];
  };
  const client = new Client(app);
  const stopped = await client.get("/old");
  assert.equal(stopped.status, 301);
  assert.equal(stopped.headers.get("location"), "/new");
  const followed = await client.get("/old", { followRedirects: true });
  assert.equal(followed.text(), "GET /final 0");
  assert.equal(followed.url, "http://localhost/final");
  assert.deepEqual(followed.history.map((r) => r.status), [301, 302]);
  // 307 repeats the method and body; 301-303 turn a POST into a GET.
  const following = new Client(app, { followRedirects: true });
  assert.equal(
    (await following.post("/keep", { body: "data" })).text(),
    "POST /final 4",
  );
  assert.equal(
    (await following.post("/old", { body: "data" })).text(),
    "GET /final 0",
  );
  await assert.rejects(
    () => following.get("/loop"),
    /Cannot follow redirects: a loop, the 302 http:\/\/localhost\/loop redirect was already followed from \/loop/,
  );
  await assert.rejects(
    () => following.get("/chain/0"),
    /Cannot follow redirects: more than 20 from \/chain\/0/,
  );
});

Deno.test("Client reports status, reason, headers and body bytes", async () => {
  const client = new Client((_environ, startResponse) => {
    startResponse("418 I'm a teapot", [["Content-Type", "application/json"], [
      "X-Tea",
      "earl grey",
    ]]);
    return [new Uint8Array([0x7b, 0x7d])];
  });
  const response = await client.get("/");
  assert.equal(response.status, 418);
  assert.equal(response.statusText, "I'm a teapot");
  assert.equal(response.statusLine, "418 I'm a teapot");
  assert.equal(response.headers.get("x-tea"), "earl grey");
  assert.deepEqual(response.body, new Uint8Array([0x7b, 0x7d]));
  assert.deepEqual(response.json(), {});
});

/** Sets the cookies named in `c` query values and echoes the Cookie header. */
const cookieApp: App = (environ, startResponse) => {
  const headers: [string, string][] = [["Content-Type", "text/plain"]];
  for (const line of new URLSearchParams(environ.QUERY_STRING).getAll("c")) {
    headers.push(["Set-Cookie", line]);
  }
  startResponse("200 OK", headers);
  return [environ.HTTP_COOKIE ?? ""];
};

/** Sets the cookies in `lines` through the app, from `path`. */
async function setCookies(client: Client, path: string, ...lines: string[]) {
  await client.get(path, { query: { c: lines } });
}

Deno.test("Client keeps cookies per domain, path and name, longer paths first", async () => {
  const client = new Client(cookieApp);
  await setCookies(client, "/", "a=root; Path=/", "a=sub; Path=/sub");
  // RFC 6265 5.4 step 2: longer paths first.
  assert.equal((await client.get("/sub/x")).text(), "a=sub; a=root");
  assert.equal((await client.get("/other")).text(), "a=root");
  // Max-Age=0 deletes the cookie of that path only.
  await setCookies(client, "/", "a=; Max-Age=0; Path=/");
  assert.equal((await client.get("/sub/x")).text(), "a=sub");
  assert.equal((await client.get("/other")).text(), "");
  assert.deepEqual(
    client.cookies.map(({ name, value, domain, path }) => [
      name,
      value,
      domain,
      path,
    ]),
    [["a", "sub", "localhost", "/sub"]],
  );
});

Deno.test("Client ignores a cookie whose Domain the host does not match", async () => {
  const client = new Client(cookieApp, { baseUrl: "http://app.example.test/" });
  await setCookies(
    client,
    "/",
    "other=1; Domain=other.example",
    "parent=2; Domain=.Example.Test",
    "sub=3; Domain=deeper.app.example.test",
    "own=4",
  );
  assert.equal((await client.get("/")).text(), "parent=2; own=4");
  // A host-only cookie stays on its host; a Domain cookie covers the parent.
  assert.equal((await client.get("http://example.test/")).text(), "parent=2");
  assert.deepEqual(
    client.cookies.map((
      { name, domain, hostOnly },
    ) => [name, domain, hostOnly]),
    [["parent", "example.test", false], ["own", "app.example.test", true]],
  );
});

Deno.test("Client reads Expires as RFC 6265 dates, and Max-Age over Expires", async () => {
  const client = new Client(cookieApp);
  await setCookies(
    client,
    "/",
    "past=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT",
    "future=2; Expires=Fri, 01 Jan 2100 00:00:00 GMT",
    // Two-digit years below 70 are 20xx (RFC 6265 5.1.1).
    "short=3; Expires=Wed, 21-Oct-69 07:28:00 GMT",
    // Not a cookie-date, so the attribute is ignored: a session cookie.
    "bad=4; Expires=0",
    "age=5; Max-Age=3600; Expires=Wed, 21 Oct 2015 07:28:00 GMT",
    "gone=6; Expires=Fri, 01 Jan 2100 00:00:00 GMT; Max-Age=0",
  );
  assert.equal(
    (await client.get("/")).text(),
    "future=2; short=3; bad=4; age=5",
  );
  assert.equal(
    client.getCookie("future")?.expires,
    Date.UTC(2100, 0, 1),
  );
  assert.equal(client.getCookie("bad")?.expires, Infinity);
  await setCookies(
    client,
    "/",
    "future=; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
  );
  assert.equal(client.getCookie("future"), undefined);
  assert.equal((await client.get("/")).text(), "short=3; bad=4; age=5");
});

Deno.test("Client sends Secure cookies over https only", async () => {
  const client = new Client(cookieApp, { baseUrl: "https://localhost/" });
  await setCookies(client, "/", "s=1; Secure", "p=2");
  assert.equal((await client.get("/")).text(), "s=1; p=2");
  assert.equal((await client.get("http://localhost/")).text(), "p=2");
});

Deno.test("Client.setCookie() and deleteCookie() work on one domain and path", async () => {
  const client = new Client(cookieApp);
  client.setCookie("theme", "dark");
  client.setCookie("theme", "light", { path: "/admin" });
  assert.equal(
    (await client.get("/admin/x")).text(),
    "theme=light; theme=dark",
  );
  client.deleteCookie("theme");
  assert.equal((await client.get("/admin/x")).text(), "theme=light");
  assert.equal(client.getCookie("theme", { path: "/admin" })?.value, "light");
});

/** Redirects with the status in its path to `to`; answers anything else. */
const redirectApp: App = async (environ, startResponse) => {
  const body = new TextDecoder().decode(await environ["wsgi.input"].read());
  const to = new URLSearchParams(environ.QUERY_STRING).get("to");
  const status = environ.PATH_INFO.match(/^\/redirect\/(\d{3})/)?.[1];
  if (status !== undefined && to !== null) {
    startResponse(`${status} Redirect`, [["Location", to]]);
    return ["redirecting"];
  }
  startResponse("200 OK", [["Content-Type", "application/json"]]);
  return [JSON.stringify({
    method: environ.REQUEST_METHOD,
    path: environ.PATH_INFO,
    query: environ.QUERY_STRING,
    type: environ.CONTENT_TYPE ?? null,
    length: environ.CONTENT_LENGTH ?? null,
    cookie: environ.HTTP_COOKIE ?? null,
    host: environ.HTTP_HOST,
    body,
  })];
};

Deno.test("Client drops the body and its headers when a redirect turns the request into a GET", async () => {
  const client = new Client(redirectApp, { followRedirects: true });
  const sent = {
    body: "payload",
    headers: { "Content-Type": "text/plain", "Content-Language": "en" },
  };
  const seen = async (method: string, status: number) =>
    (await client.request(method, `/redirect/${status}`, {
      ...sent,
      query: { to: "/final" },
    })).json<Record<string, string>>();
  for (const status of [302, 303]) {
    const data = await seen("POST", status);
    assert.deepEqual(
      [data.method, data.type, data.length, data.body],
      ["GET", null, null, ""],
      `POST then ${status}`,
    );
  }
  // RFC 9110 15.4.2-3: only a POST may become a GET on 301 and 302.
  for (const status of [301, 302, 307, 308]) {
    const data = await seen("PUT", status);
    assert.deepEqual(
      [data.method, data.type, data.length, data.body],
      ["PUT", "text/plain", "7", "payload"],
      `PUT then ${status}`,
    );
  }
  assert.equal((await seen("PUT", 303)).method, "GET");
  assert.equal((await seen("DELETE", 303)).method, "GET");
  // A stream is read once, so a 307 cannot repeat it (as in Fetch).
  await assert.rejects(
    () =>
      client.post("/redirect/307", {
        query: { to: "/final" },
        body: ReadableStream.from([new TextEncoder().encode("data")]),
      }),
    /^TypeError: Cannot repeat the request for a 307 redirect: its body was a stream/,
  );
  await assert.rejects(
    () => client.get("/redirect/302", { query: { to: "http://[::1" } }),
    /Cannot follow the redirect from http:\/\/localhost\/redirect\/302\?to=.*: its Location "http:\/\/\[::1" is not a URL reference/,
  );
});

Deno.test("Client resolves a Location against the current URL and drops its fragment", async () => {
  const client = new Client(redirectApp, { followRedirects: true });
  const follow = async (to: string) => {
    const response = await client.get("/redirect/302/a/b", { query: { to } });
    const { path, query } = response.json<Record<string, string>>();
    return [path, query, response.url];
  };
  assert.deepEqual(await follow("../up"), [
    "/redirect/302/up",
    "",
    "http://localhost/redirect/302/up",
  ]);
  assert.deepEqual(await follow("sibling?s=1"), [
    "/redirect/302/a/sibling",
    "s=1",
    "http://localhost/redirect/302/a/sibling?s=1",
  ]);
  assert.deepEqual(await follow("?q=2"), [
    "/redirect/302/a/b",
    "q=2",
    "http://localhost/redirect/302/a/b?q=2",
  ]);
  assert.deepEqual(await follow("/echo?f=1#part"), [
    "/echo",
    "f=1",
    "http://localhost/echo?f=1",
  ]);
  const direct = await client.get("/echo?g=1#top");
  assert.equal(direct.json<{ query: string }>().query, "g=1");
  assert.equal(direct.url, "http://localhost/echo?g=1");
});

Deno.test("Client does not follow a Location on another host into the app", async () => {
  let calls = 0;
  const client = new Client((environ, startResponse) => {
    calls++;
    return redirectApp(environ, startResponse);
  }, { followRedirects: true });
  client.setCookie("session", "secret");
  for (const to of ["http://evil.example/steal", "//sub.localhost/x"]) {
    calls = 0;
    await assert.rejects(
      () => client.get("/redirect/302", { query: { to } }),
      (error: Error) => {
        assert.match(error.message, /^Cannot follow the redirect to http:/);
        assert.match(error.message, /another host/);
        assert.match(error.message, /followRedirects: false/);
        return true;
      },
    );
    assert.equal(calls, 1, `${to} reached the app`);
  }
  // Without following, the redirect itself comes back.
  const stopped = await client.get("/redirect/302", {
    query: { to: "http://evil.example/steal" },
    followRedirects: false,
  });
  assert.equal(stopped.headers.get("location"), "http://evil.example/steal");
  // The same host on another port or scheme is the same app.
  const port = await client.get("/redirect/302", {
    query: { to: "https://localhost:8443/here" },
  });
  assert.equal(port.url, "https://localhost:8443/here");
  assert.equal(port.json<{ host: string }>().host, "localhost:8443");
});

Deno.test("Client returns no body for HEAD, whatever the app returned", async () => {
  const apps: App[] = [
    (_environ, startResponse) => {
      startResponse("200 OK", [["Content-Length", "5"]]);
      return ["hello"];
    },
    (_environ, startResponse) => {
      startResponse("200 OK", []);
      return (async function* () {
        yield "a";
        yield "b";
      })();
    },
    async (_environ, startResponse) => {
      await startResponse("200 OK", [])("written");
      return ["more"];
    },
  ];
  for (const app of apps) {
    const response = await new Client(app).head("/");
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, new Uint8Array(0));
    assert.equal(response.text(), "");
  }
  const head = await new Client(apps[0]).head("/");
  assert.equal(head.headers.get("content-length"), "5");
  const redirected = await new Client(redirectApp).head("/redirect/302", {
    query: { to: "/final" },
    followRedirects: true,
  });
  assert.equal(redirected.history[0].body.length, 0);
  assert.equal(redirected.body.length, 0);
});

Deno.test("buildEnviron() leaves a fragment out of the environ", () => {
  for (
    const options of [{ path: "/a?b=1#x" }, { url: "http://h.test/a?b=1#x" }]
  ) {
    const environ = buildEnviron(options);
    assert.deepEqual(
      [environ.PATH_INFO, environ.QUERY_STRING, environ.RAW_URI],
      ["/a", "b=1", "/a?b=1"],
    );
  }
});

/** Answers after `ms`, naming SCRIPT_NAME and PATH_INFO. */
function slowApp(ms: number): App {
  return async (environ, startResponse) => {
    await new Promise((resolve) => setTimeout(resolve, ms));
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return [`${environ.SCRIPT_NAME}|${environ.PATH_INFO}`];
  };
}

/**
 * One raw request's status code and body, from the server on `port`. The
 * reason phrase is Deno.serve's own (hyper still says "Payload Too Large"
 * for 413), so it is left out.
 */
async function rawAnswer(
  port: number,
  request: string,
): Promise<[number, string]> {
  const { head, body } = parseRaw((await rawRequest(port, request)).text);
  return [Number(head[0].split(" ")[1]), body];
}

Deno.test("Client applies maxBodySize, requestTimeout and scriptName as serve() does", async () => {
  const options = { maxBodySize: 4, requestTimeout: 200, scriptName: "/app" };
  const cases: [string, string, number][] = [
    ["POST", "/app/x", 5], // over the body limit: 413
    ["POST", "/app/x", 4],
    ["GET", "/app/slow", 0], // past the time limit: 503
    ["GET", "/other", 0], // outside the script name
  ];
  const app: App = (environ, startResponse) =>
    slowApp(environ.PATH_INFO === "/slow" ? 1000 : 0)(environ, startResponse);
  const errors = errorLog();
  const client = new Client(app, { ...options, errors: errors.sink });
  await withServer(app, async (_server, port) => {
    for (const [method, path, size] of cases) {
      const served = await rawAnswer(
        port,
        `${method} ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n${
          "x".repeat(size)
        }`,
      );
      const response = await client.request(
        method,
        path,
        size === 0 ? {} : { body: "x".repeat(size) },
      );
      assert.deepEqual(
        [response.status, response.text()],
        served,
        `${method} ${path} with ${size} bytes`,
      );
    }
  }, { ...options, errors: errors.sink });
  // The slow app's answers come late and are dropped; let its timers end.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  assert.match(errors.text(), /did not start its response within 0.2 s/);
});

Deno.test("Client refuses a bad Host or a fragment in the target as serve() does", async () => {
  const client = new Client(slowApp(0));
  const bad = await client.get("/", { headers: { host: "a b" } });
  const fragment = await client.get("/", {
    headers: { host: "localhost#x" },
  });
  await withServer(slowApp(0), async (_server, port) => {
    for (
      const [response, host] of [[bad, "a b"], [
        fragment,
        "localhost#x",
      ]] as const
    ) {
      assert.deepEqual(
        [response.status, response.text()],
        await rawAnswer(
          port,
          `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
        ),
        host,
      );
      assert.equal(response.status, 400);
    }
  });
});
