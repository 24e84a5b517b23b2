/**
 * The environ builder: turns a `Request` from `Deno.serve` into the plain
 * object of CGI variables and `wsgi.*` keys that PEP 3333 describes.
 *
 * The costly parts are filled in only when an app first asks for one of
 * them: each `HTTP_*` key (and `CONTENT_TYPE`, `CONTENT_LENGTH`) on its own,
 * read from that one field, `REMOTE_ADDR`/`REMOTE_PORT` as one group,
 * `deno.signal` on its own. Reading all of `req.headers` costs about a tenth
 * of a hello-world request, and so does `info.remoteAddr` (a call into the
 * runtime); most apps and middleware read two or three headers, if any. And
 * Deno 2.9 prints a notice the first time `req.signal` is read, which apps
 * that never use the signal should not see. The environ is a Proxy over a
 * plain object: `Object.keys`, spreading, `in`, `JSON.stringify` and
 * assignment all behave as on a plain object, because every operation that
 * could observe a key fills it in first, and listing the keys fills them all.
 *
 * @module
 */
import type { Environ, ErrorStream } from "../_contract/types.ts";
import { Input } from "./input.ts";
import { encodeNative } from "../_shared/native.ts";
import { unquoteNative } from "../_shared/percent.ts";
import { splitHostPort } from "../_shared/host.ts";
import {
  field,
  type InnerFields,
  innerFields,
  type RequestParts,
  type SignalSource,
} from "./request_parts.ts";
import { fileWrapper } from "../_shared/file_body.ts";

/** What the server knows once, for every request it builds an environ for. */
export interface EnvironContext {
  /** The bound host; undefined to take it from the Host header. */
  serverName?: string;
  /** The bound port; undefined to take it from the Host header. */
  serverPort?: string;
  /** Prefix of every path that belongs to the server, not the app. */
  scriptName: string;
  /** `wsgi.errors`. */
  errors: ErrorStream;
  /** `wsgi.multiprocess`. */
  multiprocess: boolean;
  /**
   * `wsgi.url_scheme`: the connection's. Undefined to take it from the URL,
   * for requests that never came over a connection (the test client).
   */
  urlScheme?: "http" | "https";
  /** Largest request body in bytes that `wsgi.input` hands out. */
  maxBodySize: number;
}

const VERSION = Object.freeze([1, 0] as const);

/**
 * Builds the environ for one request. With `eager`, every key is filled in
 * at once and the result is the plain object itself, not a Proxy.
 */
export function makeEnviron(
  req: RequestParts,
  info: Deno.ServeHandlerInfo | undefined,
  ctx: EnvironContext,
  source?: SignalSource,
  eager = false,
): Environ {
  const url = req.url;
  // Deno builds `url` from the scheme, the authority (the Host header, or the
  // request target's in absolute form) and the target's path and query as
  // received, so it is read by position, not parsed. That is sound only
  // once checkRequest() has made sure the authority has no "/" or "?".
  const authorityStart = url.indexOf("://") + 3;
  const pathStart = authorityEnd(url, authorityStart);
  let rawUri = pathStart < url.length ? url.slice(pathStart) : "/";
  // A target without a path (absolute form) means "/" (RFC 9112 3.2.1).
  if (rawUri.charCodeAt(0) === 63) rawUri = "/" + rawUri;
  // Deno decodes raw bytes above 0x7F in the target as UTF-8; the app gets
  // them back as bytes, as Latin-1, like the %XX form of the same bytes.
  rawUri = encodeNative(rawUri);
  const q = rawUri.indexOf("?");
  const rawPath = q < 0 ? rawUri : rawUri.slice(0, q);
  const https = ctx.urlScheme === undefined
    ? authorityStart === 8 && url.startsWith("https")
    : ctx.urlScheme === "https";

  let scriptName = ctx.scriptName;
  let path = unquoteNative(rawPath);
  if (scriptName !== "") {
    if (path === scriptName || path.startsWith(scriptName + "/")) {
      path = path.slice(scriptName.length);
    } else {
      scriptName = "";
    }
  }

  let serverName = ctx.serverName;
  let serverPort = ctx.serverPort;
  if (serverName === undefined || serverPort === undefined) {
    const authority = url.slice(authorityStart, pathStart);
    // Userinfo is not part of a host (RFC 9110 4.2.4).
    const [name, port] = splitHostPort(
      authority.slice(authority.lastIndexOf("@") + 1),
    );
    serverName = name;
    serverPort = port ?? (https ? "443" : "80");
  }

  const target = {
    REQUEST_METHOD: req.method,
    SCRIPT_NAME: scriptName,
    PATH_INFO: path,
    QUERY_STRING: q < 0 ? "" : rawUri.slice(q + 1),
    SERVER_NAME: serverName,
    SERVER_PORT: serverPort,
    SERVER_PROTOCOL: "HTTP/1.1",
    SERVER_SOFTWARE: "wsgi-deno",
    RAW_URI: rawUri,
    REQUEST_URI: rawUri,
    "wsgi.version": VERSION,
    "wsgi.url_scheme": https ? "https" : "http",
    "wsgi.input": Input.fromRequest(req, ctx.maxBodySize),
    "wsgi.errors": ctx.errors,
    "wsgi.multithread": true,
    "wsgi.multiprocess": ctx.multiprocess,
    "wsgi.run_once": false,
    "wsgi.input_terminated": true,
    "wsgi.file_wrapper": fileWrapper,
    "deno.request": req,
    "deno.info": info,
  } as unknown as Environ;
  if (!(req instanceof Request)) {
    defineOnFirstRead(target, "deno.request", () => req.toRequest());
  }
  if (eager) {
    fillRemote(target, info);
    fillHeaders(target, req);
    target["deno.signal"] = source?.signal(req) ?? req.signal;
    return target;
  }
  return new Proxy(target, new LazyKeys(req, info, source));
}

/** Makes `key` a plain property of `target` holding `value`. */
function setPlain(target: Environ, key: string, value: unknown): void {
  Reflect.defineProperty(target, key, {
    value,
    writable: true,
    enumerable: true,
    configurable: true,
  });
}

/**
 * Lists `key` without making its value: `make` runs when it is first read,
 * and a write before that replaces it (calling `onWrite`) without `make`.
 */
function defineOnFirstRead(
  target: Environ,
  key: string,
  make: () => unknown,
  onWrite?: () => void,
): void {
  Reflect.defineProperty(target, key, {
    get() {
      const value = make();
      setPlain(target, key, value);
      return value;
    },
    set(value: unknown) {
      onWrite?.();
      setPlain(target, key, value);
    },
    enumerable: true,
    configurable: true,
  });
}

function fillRemote(
  target: Environ,
  info: Deno.ServeHandlerInfo | undefined,
): void {
  const remote = (info?.remoteAddr ?? {}) as Partial<Deno.NetAddr>;
  // A unix socket has no peer address, and its peer is on this machine:
  // report loopback (gunicorn gives an empty REMOTE_ADDR and no port).
  target.REMOTE_ADDR = remote.hostname ?? "127.0.0.1";
  target.REMOTE_PORT = remote.port === undefined ? "0" : String(remote.port);
}

/**
 * Fills in the key of every request header, except those in `settled`
 * (read, written or deleted one by one already).
 */
function fillHeaders(
  target: Environ,
  req: RequestParts,
  settled?: Set<string>,
): void {
  for (const [name, value] of req.headers) {
    const key = keyOf(name);
    if (key !== undefined && settled?.has(key) !== true) {
      target[key] = key === "CONTENT_LENGTH" ? firstLength(value) : value;
    }
  }
}

/** The environ key of the header `name` (lowercase); undefined for none. */
function keyOf(name: string): string | undefined {
  if (name === "content-type") return "CONTENT_TYPE";
  if (name === "content-length") return "CONTENT_LENGTH";
  if (name.includes("_")) return undefined;
  return "HTTP_" + name.toUpperCase().replaceAll("-", "_");
}

// What follows "HTTP_" in a key that a header can give: a token (RFC 9110
// 5.6.2) upper-cased, with "_" for "-"; a header named with "_" is dropped.
const HEADER_KEY_REST = /^[A-Z0-9!#$%&'*+.^_`|~]+$/;

/**
 * The header whose key is `key`, the inverse of {@linkcode keyOf}, or
 * undefined when no header gives that key.
 */
function headerOf(key: string): string | undefined {
  if (key === "CONTENT_TYPE") return "content-type";
  if (key === "CONTENT_LENGTH") return "content-length";
  if (!key.startsWith("HTTP_")) return undefined;
  let name = HEADER_NAMES.get(key);
  if (name === undefined) {
    name = headerNameOf(key.slice(5));
    // Apps read a few fixed keys; a key made from client input must not
    // grow the table without end.
    if (HEADER_NAMES.size < HEADER_NAMES_MAX) HEADER_NAMES.set(key, name);
  }
  return name ?? undefined;
}

// The names of the HTTP_* keys read so far: the regex, case mapping and
// replace cost about 2 µs on every read of a header key otherwise.
const HEADER_NAMES = new Map<string, string | null>();
const HEADER_NAMES_MAX = 1024;

/** The header name of an `HTTP_*` key's rest, or null when none gives it. */
function headerNameOf(rest: string): string | null {
  if (!HEADER_KEY_REST.test(rest)) return null;
  const name = rest.toLowerCase().replaceAll("_", "-");
  return name === "content-type" || name === "content-length" ? null : name;
}

/**
 * Repeated lines arrive joined ("3, 3"); Deno.serve refuses them unless they
 * agree, and RFC 9110 §8.6 lets a recipient keep one instance.
 */
function firstLength(value: string): string {
  const comma = value.indexOf(",");
  return comma < 0 ? value : value.slice(0, comma);
}

const SIGNAL = "deno.signal";

/**
 * Proxy traps that fill in the lazy keys before anything can observe them.
 * A header key is read alone, from that one field, when it is first
 * touched; listing the keys fills in every header not touched yet.
 */
class LazyKeys implements ProxyHandler<Environ> {
  // Each is cleared once its keys are filled in.
  #req: RequestParts | undefined;
  #info: Deno.ServeHandlerInfo | undefined;
  #remotePending = true;
  #signalFor: RequestParts | undefined;
  #source: SignalSource | undefined;
  // The header keys touched one by one, which the fill of all leaves alone.
  #settled: Set<string> | undefined;
  // The request's one-field reader, looked up on the first read (null: not yet).
  #inner: InnerFields | undefined | null = null;

  constructor(
    req: RequestParts,
    info: Deno.ServeHandlerInfo | undefined,
    source: SignalSource | undefined,
  ) {
    this.#req = req;
    this.#info = info;
    this.#signalFor = req;
    this.#source = source;
  }

  /** Fills in what `key` needs before it can be looked at. */
  #fill(target: Environ, key: string | symbol): void {
    if (typeof key !== "string") return;
    if (key === "REMOTE_ADDR" || key === "REMOTE_PORT") {
      if (this.#remotePending) {
        this.#remotePending = false;
        fillRemote(target, this.#info);
        this.#info = undefined;
      }
    } else if (key === SIGNAL) {
      this.#announceSignal(target);
    } else if (this.#req !== undefined) {
      const name = headerOf(key);
      if (name !== undefined) this.#fillHeader(target, key, name);
    }
  }

  /** Fills in the key of the one header `name`, unless settled already. */
  #fillHeader(target: Environ, key: string, name: string): void {
    // Deno gives each Set-Cookie line apart when listing, and joined when
    // asked for one: only the list gives what the fill of all gives.
    if (name === "set-cookie") return this.#fillAll(target, key);
    const settled = this.#settled ??= new Set();
    if (settled.has(key)) return;
    let value;
    try {
      const req = this.#req!;
      if (this.#inner === null) this.#inner = innerFields(req);
      value = field(req, this.#inner, name);
    } catch (error) {
      throw requestOver(key, error);
    }
    settled.add(key);
    // An assignment, not defineProperty: a property defined that way sends
    // the object to V8's slow dictionary mode, and a hello world reading
    // one header through it ran at 0.64x of one assigning it (bench/ab.ts,
    // 6 rounds). The target has no accessor for a header key.
    if (value !== null) {
      target[key] = key === "CONTENT_LENGTH" ? firstLength(value) : value;
    }
  }

  /** Fills in every header key not settled yet. */
  #fillAll(target: Environ, key: string | symbol): void {
    if (this.#req === undefined) return;
    try {
      fillHeaders(target, this.#req, this.#settled);
    } catch (error) {
      throw requestOver(key, error);
    }
    this.#req = undefined;
    this.#settled = undefined;
  }

  /**
   * Lists `deno.signal` without making it, so that listing the keys does
   * not touch `req.signal`.
   */
  #announceSignal(target: Environ): void {
    if (this.#signalFor === undefined || SIGNAL in target) return;
    defineOnFirstRead(target, SIGNAL, () => {
      const req = this.#signalFor!;
      this.#signalFor = undefined;
      return this.#source?.signal(req) ?? req.signal;
    }, () => this.#signalFor = undefined);
  }

  get(target: Environ, key: string | symbol): unknown {
    if (!(key in target)) this.#fill(target, key);
    return target[key as string];
  }

  has(target: Environ, key: string | symbol): boolean {
    this.#fill(target, key);
    return key in target;
  }

  ownKeys(target: Environ): (string | symbol)[] {
    this.#fill(target, "REMOTE_ADDR");
    this.#fillAll(target, "HTTP_*");
    this.#fill(target, SIGNAL);
    return Reflect.ownKeys(target);
  }

  getOwnPropertyDescriptor(
    target: Environ,
    key: string | symbol,
  ): PropertyDescriptor | undefined {
    this.#fill(target, key);
    return Reflect.getOwnPropertyDescriptor(target, key);
  }

  set(target: Environ, key: string | symbol, value: unknown): boolean {
    this.#fill(target, key);
    return Reflect.set(target, key, value);
  }

  defineProperty(
    target: Environ,
    key: string | symbol,
    descriptor: PropertyDescriptor,
  ): boolean {
    this.#fill(target, key);
    return Reflect.defineProperty(target, key, descriptor);
  }

  deleteProperty(target: Environ, key: string | symbol): boolean {
    this.#fill(target, key);
    if (key === SIGNAL) this.#signalFor = undefined;
    return Reflect.deleteProperty(target, key);
  }
}

/** The error for a header read once the request, and its fields, are gone. */
function requestOver(key: string | symbol, error: unknown): Error {
  return new Error(
    `Cannot read ${String(key)} from the environ: the request is over, ` +
      "and its headers go with it; read what you need while handling it",
    { cause: error },
  );
}

/**
 * Where the authority that starts at `start` in a URL from `Deno.serve`
 * ends: at the first "/" or "?", else at the end.
 */
export function authorityEnd(url: string, start: number): number {
  let end = start;
  while (end < url.length) {
    const c = url.charCodeAt(end);
    if (c === 47 || c === 63) break;
    end++;
  }
  return end;
}
