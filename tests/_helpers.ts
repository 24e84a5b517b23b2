/** Helpers shared by the test suites. */
import {
  type AppLike,
  serve,
  type ServeOptions,
  type Server,
  toApp,
} from "../mod.ts";
import { validator } from "../middleware/validator.ts";
import { Client, type ClientOptions } from "../testing.ts";

/**
 * A test client whose app runs under the validator, so that a middleware
 * test also checks that its subject keeps both sides of the contract.
 */
export class LintedClient extends Client {
  constructor(app: AppLike, options?: ClientOptions) {
    super(validator()(toApp(app)), options);
  }
}

/** An error sink that keeps what it is given, for assertions on the log. */
export function errorLog(): {
  sink: (text: string) => void;
  text: () => string;
} {
  const lines: string[] = [];
  return { sink: (text) => void lines.push(text), text: () => lines.join("") };
}

/** Runs `fn` against a real server on 127.0.0.1, then shuts it down. */
export async function withServer(
  app: AppLike,
  fn: (server: Server, port: number) => Promise<void>,
  options: ServeOptions = {},
): Promise<void> {
  const server = serve(app, { port: 0, onListen() {}, ...options });
  try {
    await fn(server, (server.addr as Deno.NetAddr).port);
  } finally {
    await server.shutdown();
  }
}

/** Bytes as a native string. TextDecoder's "latin1" is windows-1252, so not that. */
function latin1(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) out += String.fromCharCode(byte);
  return out;
}

/**
 * Sends raw bytes over TCP and reads until the server closes the connection
 * (send `Connection: close`). Returns what arrived, as Latin-1 text, and
 * whether the connection ended in an error (an aborted response).
 */
export async function rawRequest(
  port: number,
  request: string | Uint8Array,
): Promise<{ text: string; aborted: boolean }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const bytes = typeof request === "string"
      ? Uint8Array.from(request, (c) => c.charCodeAt(0))
      : request;
    for (let sent = 0; sent < bytes.length;) {
      sent += await conn.write(bytes.subarray(sent));
    }
    const parts: Uint8Array[] = [];
    const buffer = new Uint8Array(65536);
    let aborted = false;
    while (true) {
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch {
        aborted = true;
        break;
      }
      if (n === null) break;
      parts.push(buffer.slice(0, n));
    }
    const text = parts.map(latin1).join("");
    return { text, aborted };
  } finally {
    conn.close();
  }
}

/** Splits a raw HTTP/1.1 response into its head lines and body. */
export function parseRaw(text: string): { head: string[]; body: string } {
  const end = text.indexOf("\r\n\r\n");
  return {
    head: text.slice(0, end).split("\r\n"),
    body: text.slice(end + 4),
  };
}

/** Decodes a chunked transfer-coded body; throws if it is not complete. */
export function dechunk(body: string): string {
  let out = "";
  let rest = body;
  while (true) {
    const eol = rest.indexOf("\r\n");
    if (eol < 0) throw new Error("Cannot decode chunked body: it is cut short");
    const size = parseInt(rest.slice(0, eol), 16);
    if (size === 0) return out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 2 + size + 2);
  }
}
