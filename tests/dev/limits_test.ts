/**
 * dev.ts applies what production applies: `--max-body`, `--request-timeout`
 * and `--script-name`, with server.ts's names, meaning, messages and
 * answers. Each test runs both CLIs as processes from a temp folder with a
 * bare relative spec, and sends the same raw requests to both.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parseRaw, rawRequest, Spawned } from "../_helpers.ts";
import { runDev } from "../../dev.ts";

const REPO = new URL("../../", import.meta.url).pathname;
type Cli = "dev.ts" | "server.ts";

/** How long a process may take to start, answer or stop. */
const TIMEOUT_MS = 30_000;

// No colour in the lines matched, and no PORT or SCRIPT_NAME of the machine's.
const ENV = { NO_COLOR: "1", PORT: "", SCRIPT_NAME: "" };

/** Reads the body (so that a chunked one meets the limit), or waits. */
const APP =
  `export default async (environ: Record<string, any>, startResponse: (s: string, h: [string, string][]) => unknown) => {
  if (environ.PATH_INFO === "/slow") {
    await new Promise((resolve) => setTimeout(resolve, 3000));
  }
  const body = await environ["wsgi.input"].read();
  startResponse("200 OK", [["Content-Type", "application/json"]]);
  return [JSON.stringify({
    SCRIPT_NAME: environ.SCRIPT_NAME,
    PATH_INFO: environ.PATH_INFO,
    length: body.length,
  })];
};
`;

/** Runs `cli` to its end in `cwd` (for argument errors). */
async function run(cli: Cli, args: string[], cwd: string) {
  const child = new Spawned(
    Deno.execPath(),
    ["run", "-A", join(REPO, cli), ...args],
    ENV,
    cwd,
  );
  const { code, signal } = await child.stop(undefined, TIMEOUT_MS);
  assert.equal(signal, null, `${cli} ${args.join(" ")} did not exit in time`);
  return { code, stderr: child.stderr };
}

/**
 * Starts dev.ts and server.ts with `args` on free ports in one temp folder
 * holding app.ts, runs `fn` with both ports, then stops both and removes
 * the folder.
 */
async function withBoth(
  args: string[],
  fn: (ports: Record<Cli, number>) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "wsgi_dev_limits_" });
  await Deno.writeTextFile(join(dir, "app.ts"), APP);
  const children = {} as Record<Cli, Spawned>;
  try {
    for (const cli of ["dev.ts", "server.ts"] as const) {
      children[cli] = new Spawned(
        Deno.execPath(),
        ["run", "-A", join(REPO, cli), "--port", "0", ...args, "app.ts"],
        ENV,
        dir,
      );
    }
    const ports = {} as Record<Cli, number>;
    for (const cli of ["dev.ts", "server.ts"] as const) {
      const [, port] = await children[cli].waitFor(
        /Listening on http:\/\/127\.0\.0\.1:(\d+)\/\n/,
        "stdout",
        TIMEOUT_MS,
      );
      ports[cli] = Number(port);
    }
    await fn(ports);
  } finally {
    await children["dev.ts"]?.stop("SIGINT", TIMEOUT_MS);
    await children["server.ts"]?.stop("SIGTERM", TIMEOUT_MS);
    await Deno.remove(dir, { recursive: true });
  }
}

/** The status line, type, framing and body of a raw answer to `request`. */
async function answer(port: number, request: string) {
  const { head, body } = parseRaw((await rawRequest(port, request)).text);
  const fields = head.slice(1).map((line) => line.toLowerCase())
    .filter((line) =>
      /^(content-type|content-length|transfer-encoding):/.test(line)
    ).sort();
  return { status: head[0], fields, body };
}

/** The same raw request to both; both answers, after checking they agree. */
async function same(ports: Record<Cli, number>, request: string) {
  const dev = await answer(ports["dev.ts"], request);
  const server = await answer(ports["server.ts"], request);
  assert.deepEqual(dev, server, request);
  return dev;
}

function post(path: string, framing: string, body: string): string {
  return `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n` +
    `${framing}\r\n\r\n${body}`;
}

Deno.test("dev.ts --max-body answers a larger body with server.ts's 413, with a length and chunked", async () => {
  await withBoth(["--max-body", "10"], async (ports) => {
    const long = "x".repeat(20);
    const declared = await same(
      ports,
      post("/", `Content-Length: ${long.length}`, long),
    );
    assert.equal(declared.status, "HTTP/1.1 413 Payload Too Large");
    assert.match(declared.body, /at most 10 bytes/);
    const chunked = await same(
      ports,
      post("/", "Transfer-Encoding: chunked", `14\r\n${long}\r\n0\r\n\r\n`),
    );
    assert.equal(chunked.status, "HTTP/1.1 413 Payload Too Large");
    // Within the limit, the app reads the whole body.
    const fits = await same(
      ports,
      post("/", "Content-Length: 10", "0123456789"),
    );
    assert.equal(fits.status, "HTTP/1.1 200 OK");
    assert.equal(JSON.parse(fits.body).length, 10);
  });
});

Deno.test("dev.ts --request-timeout answers an app too slow to start with server.ts's 503", async () => {
  await withBoth(["--request-timeout", "0.5"], async (ports) => {
    const get =
      "GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    const started = Date.now();
    const slow = await same(ports, get);
    assert.equal(slow.status, "HTTP/1.1 503 Service Unavailable");
    assert.match(slow.body, /time limit/);
    // Both answered before the app would have (3 s each).
    assert.ok(Date.now() - started < 5000);
    const quick = await same(
      ports,
      "GET /quick HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert.equal(quick.status, "HTTP/1.1 200 OK");
  });
});

Deno.test("dev.ts --script-name gives SCRIPT_NAME and PATH_INFO as server.ts does", async () => {
  await withBoth(["--script-name", "/mnt/"], async (ports) => {
    const seen: Record<string, unknown> = {};
    for (const path of ["/mnt/x/y", "/mnt", "/mnt/", "/mntx", "/other"]) {
      const got = await same(
        ports,
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
      );
      seen[path] = got.status.endsWith("200 OK")
        ? JSON.parse(got.body)
        : got.status;
    }
    assert.deepEqual(seen["/mnt/x/y"], {
      SCRIPT_NAME: "/mnt",
      PATH_INFO: "/x/y",
      length: 0,
    });
  });
});

Deno.test("dev.ts refuses a bad --max-body, --request-timeout or --script-name in server.ts's words", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wsgi_dev_limits_" });
  try {
    await Deno.writeTextFile(join(dir, "app.ts"), APP);
    for (
      const args of [
        ["--max-body", "ten"],
        ["--request-timeout", "0"],
        ["--request-timeout", "soon"],
        ["--script-name", "mnt"],
      ]
    ) {
      const dev = await run("dev.ts", [...args, "app.ts"], dir);
      const server = await run("server.ts", [...args, "app.ts"], dir);
      assert.equal(dev.code, 2, dev.stderr);
      assert.equal(server.code, 2, server.stderr);
      assert.equal(
        dev.stderr.replace(/^dev\.ts:/, ""),
        server.stderr.replace(/^server\.ts:/, ""),
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runDev() refuses bad limits in serve()'s words, before it listens", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wsgi_dev_limits_" });
  try {
    await Deno.writeTextFile(join(dir, "app.ts"), APP);
    const app = join(dir, "app.ts");
    await assert.rejects(
      runDev({ app, port: 0, log() {}, maxBodySize: -1 }),
      RangeError,
      "Cannot use maxBodySize -1: it must be a number of bytes, 0 or more",
    );
    await assert.rejects(
      runDev({ app, port: 0, log() {}, requestTimeout: 0 }),
      /Cannot use requestTimeout 0: it must be a number of milliseconds/,
    );
    await assert.rejects(
      runDev({ app, port: 0, log() {}, scriptName: "mnt" }),
      TypeError,
      'Cannot use scriptName "mnt": it must start with "/"',
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
