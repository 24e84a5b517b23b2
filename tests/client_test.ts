/** The in-process test client. */
import assert from "node:assert/strict";
import type { App } from "../mod.ts";
import { Client } from "../testing.ts";

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
    "application/x-www-form-urlencoded;charset=UTF-8",
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
  assert.deepEqual(client.cookies, { session: "abc", admin: "1" });
  assert.equal((await client.get("/home")).text(), "session=abc");
  assert.equal(
    (await client.get("/admin/users")).text(),
    "session=abc; admin=1",
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
    /Cannot follow redirects: more than 20/,
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
