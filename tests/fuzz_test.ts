/**
 * Fuzzing serve() on a real socket.
 *
 * A thousand generated apps break PEP 3333 in random combinations. A model
 * of the server's rules (design section 3) says for each what the client
 * must see: the app's own response, a bare 500, an aborted body, or an
 * endless body that the client cuts; and which lines the error log must
 * hold. Then malformed requests go over raw TCP, each with the answer
 * Deno.serve gives, and a good request on a new connection after each.
 *
 * The seed is fixed so that a failure repeats; FUZZ_SEED picks another.
 */
import assert from "node:assert/strict";
import type { App, Header, Write } from "../mod.ts";
import { serve, type Server } from "../server.ts";

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 3333);
const encoder = new TextEncoder();

/** mulberry32: small, seeded, good enough to spread the cases. */
class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
}

// ---------------------------------------------------------------------------
// Plans: what a generated app does, as data, so that the app and the model
// of the server read the same choices.

/** A value the app throws, and how the log shows it. */
interface Thrown {
  value: unknown;
  text: string;
}

/** A chunk the app hands over; `bytes` is what goes out, absent if it is bad. */
interface ChunkPlan {
  value: unknown;
  bytes?: Uint8Array;
}

/** One startResponse call and what the server must make of it. */
interface StartPlan {
  status: unknown;
  headers: unknown;
  code: number;
  /** The headers expected on the wire, Content-Length aside. */
  sent: Header[];
  /** The Content-Length the server goes by; -1 for none. */
  length: number;
  /** The rule the call breaks, as the log words it. */
  rule?: string;
}

type Item = { chunk: ChunkPlan } | { throws: Thrown };

type BodyPlan =
  | { kind: "array" | "gen" | "asyncGen" | "iter" | "asyncIter"; items: Item[] }
  | { kind: "endless"; async: boolean }
  | { kind: "endlessWrite" }
  | { kind: "bad"; value: unknown; rule: string };

interface Plan {
  id: number;
  notes: string[];
  async: boolean;
  throwFirst?: Thrown;
  /** Where the app calls startResponse: in its body, in the body's first step, or never. */
  start: "app" | "body" | "never";
  first: StartPlan;
  /** The app catches what startResponse throws and carries on. */
  swallow: boolean;
  /** A second startResponse: before or after the writes, or before body step N. */
  again?: {
    where: "before" | "after" | number;
    excInfo?: Thrown;
    start: StartPlan;
  };
  writes: ChunkPlan[];
  throwLater?: Thrown;
  body: BodyPlan;
  close?: "ok" | "throws" | "rejects" | "writes";
}

const TICK = (i: number) => `tick ${i}\n`;

function thrown(rng: Rng, id: number, where: string): Thrown {
  const message = `fuzz ${id} ${where}`;
  return rng.chance(0.8)
    ? { value: new Error(message), text: `Error: ${message}` }
    : { value: message, text: `thrown value: "${message}"` };
}

function text(value: string): ChunkPlan {
  return { value, bytes: encoder.encode(value) };
}

function goodChunk(rng: Rng): ChunkPlan {
  switch (rng.int(6)) {
    case 0:
      return text("hello ");
    case 1:
      return text("caf\u00e9 \u2615 ");
    case 2: {
      const bytes = Uint8Array.from(
        { length: 1 + rng.int(8) },
        (_, i) => (i * 37 + 200) & 255,
      );
      return { value: bytes, bytes: bytes.slice() };
    }
    case 3:
      return rng.chance(0.5)
        ? text("")
        : { value: new Uint8Array(0), bytes: new Uint8Array(0) };
    case 4:
      return text("x".repeat(1 + rng.int(5000)));
    default:
      return text(`${rng.int(1000)},`);
  }
}

const BAD_CHUNKS: (() => unknown)[] = [
  () => 42,
  () => ({}),
  () => null,
  () => undefined,
  () => ["a"],
  () => true,
  () => new ArrayBuffer(2),
  () => new Uint16Array(2),
  () => new DataView(new ArrayBuffer(1)),
];

const GOOD_STATUSES: [string, number][] = [
  ["200 OK", 200],
  ["201 Created", 201],
  ["202 Accepted", 202],
  ["200 Fine Thanks", 200],
  ["200 Caf\xe9", 200],
  ["200 ", 200],
  ["299 Custom\tTabbed", 299],
  ["404 Not Found", 404],
  ["418 I'm a teapot", 418],
  ["451 Unavailable For Legal Reasons", 451],
  ["503 Service Unavailable", 503],
  ["599 Last", 599],
  ["204 No Content", 204],
];

// The rules as _request/start_response.ts words them.
const RULE = {
  statusType: 'status must be a string like "200 OK"',
  statusForm:
    "is not a three-digit code, a space and a reason phrase (PEP 3333)",
  statusRange: "is outside 200-599",
  headersType: "headers must be an array of [name, value] pairs",
  pair: "each header must be a [name, value] pair of strings",
  token: "is not an RFC 9110 token",
  split: "contains CR, LF or NUL, which would split the response",
  wide: "has a character above U+00FF",
  hop: (name: string) => `${name} is a hop-by-hop header`,
  length: "is not a non-negative integer",
  twice: (a: number, b: number) =>
    `Content-Length is given twice, as ${a} and ${b}`,
  again: "startResponse() was already called; pass excInfo",
  chunk: (where: string) =>
    `Cannot send ${where}: chunks must be strings or Uint8Arrays`,
  noStart: "did not call startResponse() before its body yielded",
  notChunks: "not an iterable of chunks; return [body] instead",
  notIterable: "which is not iterable",
};

const BAD_STATUSES: [() => unknown, string][] = [
  ...[
    () => 200,
    () => null,
    () => undefined,
    () => ["200 OK"],
    () => ({}),
    () => new String("200 OK"),
  ].map((make) => [make, RULE.statusType] as [() => unknown, string]),
  ...[
    "200",
    "OK 200",
    "2000 Big",
    "20 OK",
    " 200 OK",
    "2x0 OK",
    "200OK",
    "200 OK\r\nX-Injected: 1",
    "200 OK\nX-Injected: 1",
    "200 O\0K",
    "200 \x7f",
    "200 \u2615",
    "200 OK\r\n\r\nx-injected",
  ].map((status) => [() => status, RULE.statusForm] as [() => unknown, string]),
  ...[
    "199 Early",
    "100 Continue",
    "101 Switching Protocols",
    "600 Beyond",
    "000 Zero",
    "999 Nine",
  ].map((status) =>
    [() => status, RULE.statusRange] as [() => unknown, string]
  ),
];

const GOOD_VALUES = [
  "plain",
  "with space",
  "a\tb",
  "caf\xe9",
  "a, b",
  '"quoted"',
  "v".repeat(300),
];

/** A header list entry, with what it means to the server. */
interface Entry {
  entry: unknown;
  rule?: string;
  length?: number;
  good?: Header;
}

function badEntry(rng: Rng): Entry {
  switch (rng.int(6)) {
    case 0:
      return {
        entry: rng.pick<() => unknown>([
          () => ["X-Only"],
          () => ["X-Num", 5],
          () => [5, "v"],
          () => ["X-A", "v", "extra"],
          () => "X-A: v",
          () => null,
          () => ["X-A", null],
          () => ["X-A", ["v"]],
          () => ({ 0: "X-A", 1: "v", length: 2 }),
        ])(),
        rule: RULE.pair,
      };
    case 1:
      return {
        entry: [
          rng.pick([
            "Bad Name",
            "X:Y",
            "",
            "X\r\nX-Injected",
            "X-Injected: 1\r\nX-A",
            "\u00dcnicode",
            "X\0Y",
            "(paren)",
            "X-A\t",
          ]),
          "v",
        ],
        rule: RULE.token,
      };
    case 2:
      return {
        entry: [
          "X-Split",
          rng.pick([
            "a\r\nX-Injected: 1",
            "a\nX-Injected: 1",
            "a\rb",
            "a\0b",
            "ok\r\n\r\nx-injected",
          ]),
        ],
        rule: RULE.split,
      };
    case 3:
      return {
        entry: [
          "X-Wide",
          rng.pick(["caf\u00e9 \u2615", "\u0100", "\u{1F600}"]),
        ],
        rule: RULE.wide,
      };
    case 4: {
      const name = rng.pick([
        "Connection",
        "connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "te",
        "Trailers",
        "Transfer-Encoding",
        "transfer-encoding",
        "Upgrade",
      ]);
      return { entry: [name, "x"], rule: RULE.hop(name) };
    }
    default:
      return {
        entry: [
          "Content-Length",
          rng.pick(["-1", "12abc", "0x10", "", "1.5", "+5", "1e3", "five"]),
        ],
        rule: RULE.length,
      };
  }
}

/**
 * A startResponse call. `total` is what the body will send, so that the
 * Content-Length can match it, fall short of it or exceed it.
 */
function makeStart(
  rng: Rng,
  notes: string[],
  options: {
    bad: boolean;
    total: number;
    endless: boolean;
    noLength?: boolean;
  },
): StartPlan {
  const entries: Entry[] = [];
  if (rng.chance(0.7)) {
    const good: Header = [
      "Content-Type",
      rng.pick([
        "text/plain",
        "text/html; charset=utf-8",
        "application/octet-stream",
      ]),
    ];
    entries.push({ entry: good, good });
  }
  for (let i = rng.int(3); i > 0; i--) {
    const good: Header = [
      rng.pick(["X-Fuzz-", "x-fuzz-", "X-FUZZ-"]) + i,
      rng.pick(GOOD_VALUES),
    ];
    entries.push({ entry: good, good });
  }
  if (rng.chance(0.15)) {
    entries.push(
      { entry: ["Set-Cookie", "a=1"], good: ["Set-Cookie", "a=1"] },
      {
        entry: ["set-cookie", "b=2; Path=/"],
        good: ["set-cookie", "b=2; Path=/"],
      },
    );
  }
  const insert = (entry: Entry) =>
    entries.splice(rng.int(entries.length + 1), 0, entry);

  // Content-Length: none, right, too small, too large, twice, or malformed.
  const total = options.total;
  const modes = ["none", "none", "none", "exact", "exact", "short", "long"];
  if (options.bad) modes.push("same", "differ");
  let mode = options.noLength ? "none" : rng.pick(modes);
  if (options.endless && (mode === "exact" || mode === "long")) mode = "short";
  if (mode === "short" && total === 0 && !options.endless) mode = "long";
  const length = mode === "exact" || mode === "same"
    ? total
    : mode === "short"
    ? rng.int(options.endless ? 200 : total)
    : mode === "long" || mode === "differ"
    ? total + 1 + rng.int(100)
    : -1;
  if (length >= 0) {
    const written = rng.chance(0.2) ? ` ${length}` : String(length);
    insert({ entry: ["Content-Length", written], length });
    if (mode === "same") {
      insert({ entry: ["content-length", String(length)], length });
    } else if (mode === "differ") {
      insert({ entry: ["Content-Length", String(total)], length: total });
    }
  }
  notes.push(`length:${mode}`);

  let status: unknown;
  let code: number;
  let rule: string | undefined;
  const badStatus = options.bad && rng.chance(0.35);
  if (badStatus) {
    const [make, statusRule] = rng.pick(BAD_STATUSES);
    status = make();
    code = 0;
    rule = statusRule;
    notes.push(`status:bad(${JSON.stringify(String(status))})`);
  } else {
    [status, code] = rng.pick(GOOD_STATUSES);
    notes.push(`status:${code}`);
  }
  let headers: unknown;
  let notList = false;
  if (options.bad && (!badStatus || rng.chance(0.3))) {
    if (rng.chance(0.15)) {
      notList = true;
      headers = rng.pick<() => unknown>([
        () => ({ "Content-Type": "text/plain" }),
        () => "Content-Type: text/plain",
        () => null,
        () => undefined,
        () => new Map([["a", "b"]]),
        () => 7,
      ])();
      rule ??= RULE.headersType;
      notes.push("headers:not-a-list");
    } else {
      const bad = badEntry(rng);
      insert(bad);
      notes.push(`headers:bad(${bad.rule})`);
    }
  }
  if (!notList) {
    headers = entries.map((e) => e.entry);
    // The first broken entry decides, as the server checks them in order.
    let seen = -1;
    for (const e of entries) {
      if (e.rule !== undefined) {
        rule ??= e.rule;
        break;
      }
      if (e.length !== undefined) {
        if (seen >= 0 && seen !== e.length) {
          rule ??= RULE.twice(seen, e.length);
          break;
        }
        seen = e.length;
      }
    }
  }
  const last = entries.findLast((e) => e.length !== undefined);
  return {
    status,
    headers,
    code,
    sent: entries.flatMap((e) => e.good ? [e.good] : []),
    length: last?.length ?? -1,
    rule,
  };
}

const ITERABLE_KINDS = [
  "array",
  "gen",
  "asyncGen",
  "iter",
  "asyncIter",
] as const;

function makePlan(rng: Rng, id: number): Plan {
  const notes: string[] = [];
  const isAsync = rng.chance(0.5);
  notes.push(isAsync ? "async" : "sync");

  let body: BodyPlan;
  const roll = rng.next();
  if (roll < 0.1) {
    body = { kind: "endless", async: rng.chance(0.5) };
  } else if (roll < 0.14 && isAsync) {
    body = { kind: "endlessWrite" };
  } else if (roll < 0.22) {
    const [value, rule] = rng.pick<[() => unknown, string]>([
      [() => "oops", RULE.notChunks],
      [() => encoder.encode("oops"), RULE.notChunks],
      [() => 42, RULE.notIterable],
      [() => null, RULE.notIterable],
      [() => undefined, RULE.notIterable],
      [() => ({ chunks: ["a"] }), RULE.notIterable],
    ]);
    body = { kind: "bad", value: value(), rule };
  } else {
    const kind = rng.pick(ITERABLE_KINDS);
    const items: Item[] = [];
    // One chunk is the server's fast path; give it its share.
    for (let i = rng.chance(0.25) ? 1 : rng.int(6); i > 0; i--) {
      const r = rng.next();
      if (kind !== "array" && r < 0.07) {
        items.push({ throws: thrown(rng, id, `step ${items.length}`) });
      } else if (r < 0.14) {
        items.push({ chunk: { value: rng.pick(BAD_CHUNKS)() } });
      } else {
        items.push({ chunk: goodChunk(rng) });
      }
    }
    body = { kind, items };
  }
  notes.push(`body:${body.kind}`);
  const stepped = body.kind !== "array" && "items" in body;

  const writes: ChunkPlan[] = [];
  // Mostly in the app itself; else in the body's first step, or never.
  const startRoll = rng.next();
  let start: Plan["start"] = startRoll < 0.1
    ? "body"
    : startRoll < 0.18
    ? "never"
    : "app";
  if (body.kind === "endlessWrite" || start === "body" && !stepped) {
    start = "app";
  }
  if (start === "app" && body.kind !== "endlessWrite" && rng.chance(0.25)) {
    for (let i = 1 + rng.int(3); i > 0; i--) {
      writes.push(
        rng.chance(0.15) ? { value: rng.pick(BAD_CHUNKS)() } : goodChunk(rng),
      );
    }
    notes.push(`writes:${writes.length}`);
  }
  const chunks = [
    ...writes,
    ...("items" in body ? body.items : []).flatMap((item) =>
      "chunk" in item ? [item.chunk] : []
    ),
  ];
  const total = chunks.reduce((sum, c) => sum + (c.bytes?.length ?? 0), 0);
  const endless = body.kind === "endless" || body.kind === "endlessWrite";
  const first = makeStart(rng, notes, {
    bad: body.kind !== "endlessWrite" && rng.chance(0.3),
    total,
    endless,
    noLength: body.kind === "endlessWrite",
  });
  // write() resolves at once on a 204, so a writer that stops only when
  // write() throws would never stop.
  if (body.kind === "endlessWrite" && first.code === 204) {
    first.status = "200 OK";
    first.code = 200;
  }
  notes.push(`start:${start}`);

  const plan: Plan = {
    id,
    notes,
    async: isAsync,
    start,
    first,
    swallow: rng.chance(0.25),
    writes,
    body,
  };
  if (plan.swallow) notes.push("swallow");
  if (body.kind !== "endlessWrite") {
    if (rng.chance(0.04)) {
      plan.throwFirst = thrown(rng, id, "first");
      notes.push("throw:first");
    }
    if (start !== "never" && rng.chance(0.25)) {
      const places: ("before" | "after" | number)[] = start === "app"
        ? ["before", "after"]
        : [];
      if (stepped && "items" in body) {
        for (let i = 0; i <= body.items.length; i++) places.push(i);
      }
      if (places.length > 0) {
        const where = rng.pick(places);
        const excInfo = rng.chance(0.5) ? thrown(rng, id, "exc") : undefined;
        plan.again = {
          where,
          excInfo,
          start: makeStart(rng, [], { bad: false, total, endless }),
        };
        notes.push(`again:${where}${excInfo ? "+excInfo" : ""}`);
      }
    }
    if (rng.chance(0.06)) {
      plan.throwLater = thrown(rng, id, "later");
      notes.push("throw:later");
    }
  }
  if (endless || body.kind !== "bad" && rng.chance(0.5)) {
    plan.close = rng.pick(
      endless
        ? ["ok", "throws", "writes"] as const
        : ["ok", "ok", "throws", "rejects", "writes"] as const,
    );
    notes.push(`close:${plan.close}`);
  }
  return plan;
}

// ---------------------------------------------------------------------------
// The model: what the server must make of a plan, by the rules of design
// section 3. The first broken rule decides, and has its log line even when
// the app caught it; before the headers that is a 500, after them an
// aborted body; Content-Length is never exceeded (reaching it ends the
// reading of the body) and a shortfall aborts; close() runs once. Two facts
// of the wire decide what a client sees of an abort: a response that has
// sent all its Content-Length is complete, and writes a sync app did not
// wait for are still queued (and lost) when the app fails.

type Outcome = "valid" | "500" | "aborted" | "cut";

interface Expected {
  outcome: Outcome;
  code: number;
  headers: Header[];
  /** The app's Content-Length, -1 for none. */
  length: number;
  /** The whole body (valid), or what precedes the endless ticks (cut). */
  body: Uint8Array;
  /** The first tick the endless part of a cut body starts with. */
  tick: number;
  /** Fragments that one log line each must all contain. */
  logs: string[][];
  closes: number;
  writeError?: string;
}

/** Something thrown inside the model; `parts` is how the log shows it. */
class Fault {
  constructor(readonly parts: string[]) {}
}

const noStart = ["TypeError: ", RULE.noStart];

class Model {
  #plan: Plan;
  #code = 0;
  #start: StartPlan | undefined;
  #length = -1;
  #violation: string[] | undefined;
  #committed = false;
  #done = false;
  #cut = false;
  #sent = 0;
  // Bytes of write() calls a sync app did not wait for: still in the
  // stream's queue, which an abort empties, until the body is pulled.
  #queued = 0;
  #out: Uint8Array[] = [];
  #tick = 0;
  #overflow = false;
  #taken = false;
  #closed = false;
  #canWrite = false;
  #outcome: Outcome | undefined;
  #logs: string[][] = [];
  #closes = 0;
  #writeError: string | undefined;

  constructor(plan: Plan) {
    this.#plan = plan;
  }

  run(): Expected {
    let returned = false;
    try {
      this.#app();
      returned = true;
    } catch (error) {
      this.#fail(faultOf(error).parts);
    }
    if (returned) this.#take();
    if (this.#outcome === undefined) {
      throw new Error(`The model left case ${this.#plan.id} undecided`);
    }
    return {
      outcome: this.#outcome,
      code: this.#code,
      headers: this.#start?.sent ?? [],
      length: this.#length,
      body: concat(this.#out),
      tick: this.#tick,
      logs: this.#logs,
      closes: this.#closes,
      writeError: this.#writeError,
    };
  }

  #app(): void {
    const plan = this.#plan;
    if (plan.throwFirst) throw new Fault([plan.throwFirst.text]);
    if (plan.start === "app") this.#call(plan.first);
    if (plan.again?.where === "before") {
      this.#call(plan.again.start, plan.again.excInfo);
    }
    if (plan.body.kind === "endlessWrite") {
      // The client cuts the body; the write after that throws, and the app
      // catches it and returns an empty body.
      this.#write(text(TICK(0)));
      this.#tick = 1;
      this.#cancel();
      try {
        this.#write(text(TICK(1)));
      } catch (error) {
        this.#writeError = faultOf(error).parts.join("");
      }
      return;
    }
    if (this.#canWrite) { for (const chunk of plan.writes) this.#write(chunk); }
    if (plan.again?.where === "after") {
      this.#call(plan.again.start, plan.again.excInfo);
    }
    if (plan.throwLater) throw new Fault([plan.throwLater.text]);
  }

  #call(start: StartPlan, excInfo?: Thrown): void {
    try {
      this.#startResponse(start, excInfo);
    } catch (error) {
      if (!this.#plan.swallow) throw error;
    }
  }

  #startResponse(start: StartPlan, excInfo?: Thrown): void {
    if (excInfo !== undefined) {
      if (this.#committed) throw new Fault([excInfo.text]);
    } else if (this.#start !== undefined) {
      throw this.#broke(["TypeError: Cannot start the response: ", RULE.again]);
    }
    if (start.rule !== undefined) {
      throw this.#broke(["TypeError: Cannot start the response: ", start.rule]);
    }
    this.#start = start;
    this.#code = start.code;
    this.#length = start.length;
    this.#violation = undefined;
    this.#canWrite = true;
  }

  #broke(parts: string[]): Fault {
    this.#violation ??= parts;
    return new Fault(parts);
  }

  #write(chunk: ChunkPlan): void {
    if (chunk.bytes === undefined) {
      throw new Fault(["TypeError: ", RULE.chunk("write()")]);
    }
    if (this.#violation !== undefined && !this.#committed && !this.#done) {
      throw new Fault(this.#violation);
    }
    if (!this.#committed && !this.#done) this.#commit();
    if (this.#done) {
      if (this.#code === 204) return;
      throw new Fault([
        `Error: Cannot write: ${
          this.#cut
            ? "the client has gone away"
            : "the response is already finished"
        }`,
      ]);
    }
    const sent = this.#sent;
    this.#enqueue(chunk.bytes);
    if (!this.#plan.async) this.#queued += this.#sent - sent;
  }

  #commit(): void {
    this.#committed = true;
    if (this.#code === 204) {
      this.#done = true;
      this.#outcome = "valid";
      this.#closeBody();
    }
  }

  #enqueue(bytes: Uint8Array): void {
    if (this.#done) return;
    if (this.#length >= 0) {
      const room = this.#length - this.#sent;
      if (bytes.length > room) {
        if (!this.#overflow) {
          this.#overflow = true;
          this.#logs.push([
            `the app sent more than its Content-Length of ${this.#length} bytes; the excess was not sent`,
          ]);
        }
        bytes = bytes.subarray(0, room);
      }
    }
    if (bytes.length === 0) return;
    this.#sent += bytes.length;
    this.#out.push(bytes);
  }

  #fail(parts: string[]): void {
    if (this.#violation !== undefined && this.#violation !== parts) {
      this.#logs.push(["the app broke a rule first: ", ...this.#violation]);
    }
    if (this.#committed) return this.#abort(parts);
    this.#done = true;
    this.#closeBody();
    this.#logs.push(["error before the response started: ", ...parts]);
    this.#outcome = "500";
  }

  #abort(parts: string[]): void {
    this.#logs.push(["error after the response started: ", ...parts]);
    if (!this.#done) {
      this.#done = true;
      // All that Content-Length promised went out: the client cannot tell.
      const delivered = this.#sent - this.#queued;
      this.#outcome = this.#length >= 0 && delivered >= this.#length
        ? "valid"
        : "aborted";
    }
    this.#closeBody();
  }

  #finish(): void {
    if (this.#done) return;
    if (this.#length >= 0 && this.#sent < this.#length) {
      return this.#abort([
        `RangeError: Cannot finish the response: the app sent ${this.#sent} of the ${this.#length} bytes its Content-Length promised`,
      ]);
    }
    this.#done = true;
    this.#outcome = "valid";
    this.#closeBody();
  }

  #cancel(): void {
    this.#cut = true;
    this.#done = true;
    this.#outcome = "cut";
    this.#closeBody();
  }

  #closeBody(): void {
    if (!this.#taken || this.#closed) return;
    this.#closed = true;
    const close = this.#plan.close;
    if (close === undefined) return;
    this.#closes++;
    if (close === "throws" || close === "rejects") {
      this.#logs.push([
        `the body's close() failed: Error: close ${this.#plan.id} exploded`,
      ]);
    } else if (close === "writes" && this.#canWrite) {
      try {
        this.#write(text("late"));
      } catch (error) {
        this.#logs.push([
          "the body's close() failed: ",
          ...faultOf(error).parts,
        ]);
      }
    }
  }

  /** What the body's step `i` does: the app's side effects, then a chunk or the end. */
  #step(i: number): ChunkPlan | undefined {
    const plan = this.#plan;
    const body = plan.body;
    if (i === 0 && plan.start === "body") this.#call(plan.first);
    if (plan.again?.where === i) {
      this.#call(plan.again.start, plan.again.excInfo);
    }
    if (body.kind === "endless") return text(TICK(i));
    const items = "items" in body ? body.items : [];
    if (i >= items.length) return undefined;
    const item = items[i];
    if ("throws" in item) throw new Fault([item.throws.text]);
    return item.chunk;
  }

  #take(): void {
    const body = this.#plan.body;
    this.#taken = true;
    if (this.#violation !== undefined) return this.#fail(this.#violation);
    if (this.#committed) {
      if (this.#done) return this.#closeBody();
      if (body.kind === "bad") {
        return this.#abort(["TypeError: Cannot send the body: ", body.rule]);
      }
      // The server reads what was written before it pulls the body.
      this.#queued = 0;
      return this.#pull(0);
    }
    if (body.kind === "bad") {
      return this.#fail(["TypeError: Cannot send the body: ", body.rule]);
    }
    if (body.kind === "array") {
      return this.#arrayResponse(
        body.items.flatMap((item) => "chunk" in item ? [item.chunk] : []),
      );
    }
    this.#firstChunk();
  }

  #arrayResponse(chunks: ChunkPlan[]): void {
    if (this.#start === undefined) return this.#fail(noStart);
    if (chunks.some((chunk) => chunk.bytes === undefined)) {
      return this.#fail(["TypeError: ", RULE.chunk("the body")]);
    }
    const data = concat(chunks.map((chunk) => chunk.bytes!));
    if (this.#code === 204) return this.#commit();
    if (this.#length >= 0 && data.length !== this.#length) {
      this.#commit();
      this.#enqueue(data);
      return this.#finish();
    }
    this.#committed = true;
    this.#enqueue(data);
    this.#finish();
  }

  #firstChunk(): void {
    for (let i = 0;; i++) {
      let chunk: ChunkPlan | undefined;
      try {
        chunk = this.#step(i);
      } catch (error) {
        return this.#fail(faultOf(error).parts);
      }
      if (this.#violation !== undefined) return this.#fail(this.#violation);
      if (chunk === undefined) {
        return this.#start === undefined
          ? this.#fail(noStart)
          : this.#arrayResponse([]);
      }
      if (chunk.bytes === undefined) {
        return this.#fail(["TypeError: ", RULE.chunk("the body")]);
      }
      if (this.#start === undefined) return this.#fail(noStart);
      if (chunk.bytes.length === 0) continue;
      this.#commit();
      this.#enqueue(chunk.bytes);
      if (this.#plan.body.kind === "endless") this.#tick = i + 1;
      return this.#pull(i + 1);
    }
  }

  #pull(from: number): void {
    for (let i = from;; i++) {
      if (this.#done) return;
      if (this.#length >= 0 && this.#sent >= this.#length) {
        return this.#finish();
      }
      // A body without end and without a length: the client cuts it.
      if (this.#plan.body.kind === "endless" && this.#length < 0) {
        this.#tick = i;
        return this.#cancel();
      }
      let chunk: ChunkPlan | undefined;
      try {
        chunk = this.#step(i);
      } catch (error) {
        return this.#abort(faultOf(error).parts);
      }
      if (this.#violation !== undefined) return this.#abort(this.#violation);
      if (chunk === undefined) return this.#finish();
      if (chunk.bytes === undefined) {
        return this.#abort(["TypeError: ", RULE.chunk("the body")]);
      }
      this.#enqueue(chunk.bytes);
    }
  }
}

function faultOf(error: unknown): Fault {
  if (error instanceof Fault) return error;
  throw error;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

// ---------------------------------------------------------------------------
// The real app a plan describes.

interface CaseState {
  closes: number;
  writeError?: unknown;
}

function appFor(plan: Plan, state: CaseState): App {
  const body = plan.body;
  return (_environ, startResponse) => {
    let write: Write | undefined;
    const call = (start: StartPlan, excInfo?: Thrown) => {
      try {
        write = startResponse(
          start.status as string,
          start.headers as Header[],
          excInfo?.value,
        );
      } catch (error) {
        if (!plan.swallow) throw error;
      }
    };
    const step = (i: number): IteratorResult<unknown> => {
      if (i === 0 && plan.start === "body") call(plan.first);
      if (plan.again?.where === i) call(plan.again.start, plan.again.excInfo);
      if (body.kind === "endless") return { done: false, value: TICK(i) };
      const items = "items" in body ? body.items : [];
      if (i >= items.length) return { done: true, value: undefined };
      const item = items[i];
      if ("throws" in item) throw item.throws.value;
      return { done: false, value: item.chunk.value };
    };
    const withClose = <T extends object>(target: T): T =>
      plan.close === undefined ? target : Object.assign(target, {
        close() {
          state.closes++;
          const error = new Error(`close ${plan.id} exploded`);
          if (plan.close === "throws") throw error;
          if (plan.close === "rejects") return Promise.reject(error);
          if (plan.close === "writes") write?.("late");
        },
      });
    function* generator() {
      for (let i = 0;; i++) {
        const result = step(i);
        if (result.done) return;
        yield result.value;
      }
    }
    async function* asyncGenerator() {
      for (let i = 0;; i++) {
        if (i % 2 === 1) await null;
        const result = step(i);
        if (result.done) return;
        yield result.value;
      }
    }
    const makeBody = (): unknown => {
      switch (body.kind) {
        case "bad":
          return body.value;
        case "array":
          return withClose(
            body.items.map((item) => "chunk" in item ? item.chunk.value : 0),
          );
        case "gen":
          return withClose(generator());
        case "asyncGen":
          return withClose(asyncGenerator());
        case "endless":
          return withClose(body.async ? asyncGenerator() : generator());
        case "iter":
          return withClose({
            [Symbol.iterator]() {
              let i = 0;
              return { next: () => step(i++) };
            },
          });
        case "asyncIter":
          return withClose({
            [Symbol.asyncIterator]() {
              let i = 0;
              return {
                next() {
                  try {
                    return Promise.resolve(step(i++));
                  } catch (error) {
                    return Promise.reject(error);
                  }
                },
              };
            },
          });
        case "endlessWrite":
          return withClose([]);
      }
    };
    const opening = () => {
      if (plan.throwFirst) throw plan.throwFirst.value;
      if (plan.start === "app") call(plan.first);
      if (plan.again?.where === "before") {
        call(plan.again.start, plan.again.excInfo);
      }
    };
    const ending = () => {
      if (plan.again?.where === "after") {
        call(plan.again.start, plan.again.excInfo);
      }
      if (plan.throwLater) throw plan.throwLater.value;
      return makeBody() as ReturnType<App>;
    };
    if (!plan.async) {
      opening();
      if (write) {
        for (const chunk of plan.writes) void write(chunk.value as string);
      }
      return ending();
    }
    return (async () => {
      await null;
      opening();
      if (body.kind === "endlessWrite") {
        try {
          for (let i = 0;; i++) await write!(TICK(i));
        } catch (error) {
          state.writeError = error;
        }
      } else if (write) {
        for (const chunk of plan.writes) await write(chunk.value as string);
      }
      return ending();
    })() as ReturnType<App>;
  };
}

// ---------------------------------------------------------------------------
// The client side.

/** Bytes as a native string (Latin-1), and back. */
function latin1(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) out += String.fromCharCode(byte);
  return out;
}

function bytesOf(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `ready()` or `ms` passed, whichever comes first. */
async function until(ready: () => boolean, ms = 2000): Promise<void> {
  for (const end = Date.now() + ms; !ready() && Date.now() < end;) {
    await delay(5);
  }
}

interface RawAnswer {
  text: string;
  /** How the connection ended: closed, reset, or cut by our deadline. */
  end: "eof" | "reset" | "deadline";
}

/**
 * Sends `parts` over a new TCP connection (a function part is awaited in
 * between), then reads until the server closes or `deadline` ms pass.
 * A write that fails (the server closed early) ends the sending.
 */
async function rawExchange(
  port: number,
  parts: (string | Uint8Array | (() => Promise<void>))[],
  options: { halfClose?: boolean; deadline?: number } = {},
): Promise<RawAnswer> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let closed = false;
  const close = () => {
    if (!closed) {
      closed = true;
      conn.close();
    }
  };
  let end: RawAnswer["end"] = "eof";
  const timer = setTimeout(() => {
    end = "deadline";
    close();
  }, options.deadline ?? 3000);
  const received: Uint8Array[] = [];
  try {
    try {
      for (const part of parts) {
        if (typeof part === "function") {
          await part();
          continue;
        }
        const bytes = typeof part === "string" ? bytesOf(part) : part;
        for (let sent = 0; sent < bytes.length;) {
          sent += await conn.write(bytes.subarray(sent));
        }
      }
      if (options.halfClose) await conn.closeWrite();
    } catch {
      // The server stopped reading: what it answered is still to be read.
    }
    const buffer = new Uint8Array(16384);
    while (!closed) {
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch {
        if (end === "eof") end = "reset";
        break;
      }
      if (n === null) break;
      received.push(buffer.slice(0, n));
    }
  } finally {
    clearTimeout(timer);
    close();
  }
  return { text: latin1(concat(received)), end };
}

/** What the client saw of one generated case. */
interface Seen {
  kind: "complete" | "aborted" | "cut" | "hung";
  status?: number;
  headers?: Headers;
  body?: Uint8Array;
}

const CASE_TIMEOUT = 5000;
const CUT_AFTER = 64;

async function fetchCase(
  url: string,
  expected: Expected,
): Promise<Seen> {
  const controller = new AbortController();
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    controller.abort();
  }, CASE_TIMEOUT);
  try {
    let response: Response;
    try {
      response = await fetch(url, { signal: controller.signal });
    } catch {
      return { kind: hung ? "hung" : "aborted" };
    }
    const head = { status: response.status, headers: response.headers };
    if (expected.outcome !== "cut") {
      try {
        return { kind: "complete", ...head, body: await response.bytes() };
      } catch {
        return { kind: hung ? "hung" : "aborted", ...head };
      }
    }
    // An endless body: take some of it, then hang up.
    const reader = response.body!.getReader();
    const parts: Uint8Array[] = [];
    let size = 0;
    try {
      while (size < CUT_AFTER) {
        const { done, value } = await reader.read();
        if (done) return { kind: "complete", ...head, body: concat(parts) };
        parts.push(value);
        size += value.length;
      }
    } catch {
      return { kind: hung ? "hung" : "aborted", ...head };
    }
    await reader.cancel();
    return { kind: "cut", ...head, body: concat(parts) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A case whose status or headers try to inject a header is read raw, as
 * fetch would hide a split response; none of it may reach the wire.
 */
async function rawCase(port: number, id: number): Promise<Seen> {
  const { text, end } = await rawExchange(port, [
    `GET /c/${id} HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n`,
  ], { deadline: CASE_TIMEOUT });
  if (end === "deadline") return { kind: "hung" };
  assert.doesNotMatch(text, /x-injected/i, `case ${id} (seed ${SEED})`);
  const split = text.indexOf("\r\n\r\n");
  if (split < 0) return { kind: "aborted" };
  const [statusLine, ...lines] = text.slice(0, split).split("\r\n");
  const headers = new Headers(
    // Connection: close answers the request's, like any server's would.
    lines.filter((line) => line !== "connection: close").map((line) => {
      const colon = line.indexOf(":");
      return [line.slice(0, colon), line.slice(colon + 1).trim()];
    }),
  );
  const body = bytesOf(text.slice(split + 4));
  const complete = end === "eof" &&
    body.length === Number(headers.get("content-length"));
  return {
    kind: complete ? "complete" : "aborted",
    status: Number(statusLine.split(" ")[1]),
    headers,
    body,
  };
}

function describeSeen(seen: Seen): string {
  const body = seen.body === undefined
    ? ""
    : ` ${JSON.stringify(latin1(seen.body.subarray(0, 60)))}`;
  return `${seen.kind} ${seen.status ?? "-"}${body}`;
}

const SERVER_HEADERS = new Set(["date", "content-length", "transfer-encoding"]);

/** What is wrong with the headers of a response the app made, if anything. */
function headerProblem(
  expected: Expected,
  headers: Headers,
): string | undefined {
  const wanted = new Map<string, string[]>();
  for (const [name, value] of expected.headers) {
    const lower = name.toLowerCase();
    wanted.set(lower, [...wanted.get(lower) ?? [], value]);
  }
  for (const [name, values] of wanted) {
    const got = name === "set-cookie"
      ? headers.getSetCookie()
      : [headers.get(name)];
    const want = name === "set-cookie" ? values : [values.join(", ")];
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      return `header ${name} is ${JSON.stringify(got)}, not ${
        JSON.stringify(want)
      }`;
    }
  }
  for (const [name, value] of headers) {
    if (!wanted.has(name) && !SERVER_HEADERS.has(name)) {
      return `header ${name}: ${value} was not the app's`;
    }
  }
  if (
    expected.length >= 0 && expected.code !== 204 &&
    headers.get("content-length") !== String(expected.length)
  ) {
    return `content-length is ${
      headers.get("content-length")
    }, not ${expected.length}`;
  }
}

/** The endless ticks from `tick` on, `size` bytes of them. */
function ticks(tick: number, size: number): Uint8Array {
  let out = "";
  for (let i = tick; out.length < size; i++) out += TICK(i);
  return encoder.encode(out).subarray(0, size);
}

/** What is wrong with what the client saw, if anything. */
function judge(expected: Expected, seen: Seen): string | undefined {
  const got = describeSeen(seen);
  switch (expected.outcome) {
    case "500": {
      if (seen.kind !== "complete" || seen.status !== 500) {
        return `expected the bare 500, got ${got}`;
      }
      const names = [...seen.headers!.keys()].sort().join(",");
      if (
        latin1(seen.body!) !== "Internal Server Error\n" ||
        names !== "content-length,content-type,date" ||
        seen.headers!.get("content-type") !== "text/plain; charset=utf-8"
      ) {
        return `expected the bare 500, got ${got} with ${names}`;
      }
      return;
    }
    case "aborted":
      if (seen.kind !== "aborted") {
        return `expected an aborted body, got ${got}`;
      }
      if (seen.status === undefined) return;
      if (seen.status !== expected.code) {
        return `expected an aborted ${expected.code}, got ${got}`;
      }
      return headerProblem(expected, seen.headers!);
    case "valid": {
      if (seen.kind !== "complete" || seen.status !== expected.code) {
        return `expected a complete ${expected.code}, got ${got}`;
      }
      if (latin1(seen.body!) !== latin1(expected.body)) {
        return `expected the body ${
          JSON.stringify(latin1(expected.body.subarray(0, 60)))
        } (${expected.body.length} bytes), got ${
          seen.body!.length
        } bytes: ${got}`;
      }
      return headerProblem(expected, seen.headers!);
    }
    case "cut": {
      if (seen.kind !== "cut" || seen.status !== expected.code) {
        return `expected an endless ${expected.code} to cut, got ${got}`;
      }
      const body = seen.body!;
      const head = expected.body.length;
      const want = concat([
        expected.body.subarray(0, body.length),
        ticks(expected.tick, Math.max(0, body.length - head)),
      ]);
      if (latin1(body) !== latin1(want)) {
        return `the endless body starts ${
          JSON.stringify(latin1(body.subarray(0, 60)))
        }, not ${JSON.stringify(latin1(want.subarray(0, 60)))}`;
      }
      return headerProblem(expected, seen.headers!);
    }
  }
}

/** Which log lines are missing or unexpected, if any. */
function logProblem(expected: Expected, lines: string[]): string | undefined {
  const left = [...lines];
  for (const parts of expected.logs) {
    const at = left.findIndex((line) => parts.every((p) => line.includes(p)));
    if (at < 0) {
      return `no log line with ${JSON.stringify(parts)}; the log: ${
        JSON.stringify(lines.map((line) => line.split("\n")[0]))
      }`;
    }
    left.splice(at, 1);
  }
  if (left.length > 0) {
    return `unexpected log lines: ${
      JSON.stringify(left.map((line) => line.split("\n")[0]))
    }`;
  }
}

function injects(plan: Plan): boolean {
  let args: string;
  try {
    args = String(plan.first.status) + JSON.stringify(plan.first.headers);
  } catch {
    return false;
  }
  return /x-injected/i.test(args);
}

// ---------------------------------------------------------------------------

const CASES = 1000;
const BATCH = 20;

Deno.test("serve() survives 1000 generated apps that break the contract, each with the outcome its rules give", async () => {
  const rng = new Rng(SEED);
  const cases = Array.from({ length: CASES }, (_, id) => {
    const plan = makePlan(rng, id);
    const state: CaseState = { closes: 0 };
    return {
      plan,
      state,
      expected: new Model(plan).run(),
      app: appFor(plan, state),
    };
  });
  // The generator reaches every rule and every outcome.
  const expectedLogs = cases.flatMap((c) => c.expected.logs.flat()).join("\n");
  for (
    const fragment of [
      ...Object.values(RULE).filter((rule) => typeof rule === "string"),
      RULE.chunk("write()"),
      RULE.chunk("the body"),
      "is a hop-by-hop header",
      "Content-Length is given twice",
      "the app broke a rule first",
      "error after the response started",
      "more than its Content-Length",
      "bytes its Content-Length promised",
      "close() failed: Error: close",
      "Cannot write: the response is already finished",
      "Cannot write: the client has gone away",
    ]
  ) {
    assert.ok(
      expectedLogs.includes(fragment),
      `seed ${SEED} misses ${fragment}`,
    );
  }
  for (const outcome of ["valid", "500", "aborted", "cut"]) {
    const count = cases.filter((c) => c.expected.outcome === outcome).length;
    assert.ok(count >= 20, `seed ${SEED}: only ${count} cases of ${outcome}`);
  }

  const logs = cases.map((): string[] => []);
  const stray: string[] = [];
  const sink = (line: string) => {
    const match = /^\[wsgi\] GET \/c\/(\d+): /.exec(line);
    if (match) logs[Number(match[1])].push(line);
    else stray.push(line);
  };
  const server = serve((environ, startResponse) => {
    const match = /^\/c\/(\d+)$/.exec(environ.PATH_INFO);
    if (match) return cases[Number(match[1])].app(environ, startResponse);
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return ["still here"];
  }, { hostname: "127.0.0.1", port: 0, onListen() {}, errors: sink });
  const port = (server.addr as Deno.NetAddr).port;
  let finished = false;
  server.finished.finally(() => finished = true);
  const problems: string[] = [];
  try {
    for (let from = 0; from < CASES; from += BATCH) {
      await Promise.all(
        cases.slice(from, from + BATCH).map(async (c) => {
          const id = c.plan.id;
          const seen = injects(c.plan) && c.expected.outcome === "500"
            ? await rawCase(port, id)
            : await fetchCase(`${server.url}c/${id}`, c.expected);
          await until(() =>
            c.state.closes >= c.expected.closes &&
            logs[id].length >= c.expected.logs.length
          );
          const problem = judge(c.expected, seen) ??
            logProblem(c.expected, logs[id]) ??
            (c.state.closes !== c.expected.closes
              ? `close() ran ${c.state.closes} times, not ${c.expected.closes}`
              : undefined) ??
            (c.expected.writeError !== undefined &&
                !String(c.state.writeError).includes(c.expected.writeError)
              ? `write() threw ${c.state.writeError}, not ${c.expected.writeError}`
              : undefined);
          if (problem) {
            problems.push(`case ${id} [${c.plan.notes.join(" ")}]: ${problem}`);
          }
        }),
      );
      // A plain request between batches: the server is still up.
      const response = await fetch(`${server.url}good`);
      assert.equal(await response.text(), "still here", `seed ${SEED}`);
      assert.equal(finished, false, `seed ${SEED}: the server stopped`);
    }
    // Nothing closes twice or logs late.
    await delay(50);
    for (const c of cases) {
      if (c.state.closes !== c.expected.closes) {
        problems.push(
          `case ${c.plan.id}: close() ran ${c.state.closes} times in the end`,
        );
      }
      if (logs[c.plan.id].length !== c.expected.logs.length) {
        problems.push(
          `case ${c.plan.id}: ${logs[c.plan.id].length} log lines in the end`,
        );
      }
    }
    assert.deepEqual(stray, [], `seed ${SEED}: log lines of no case`);
  } finally {
    await server.shutdown();
  }
  assert.equal(
    problems.length,
    0,
    `seed ${SEED} (FUZZ_SEED=${SEED} repeats it): ${problems.length} cases went wrong:\n` +
      problems.slice(0, 20).join("\n"),
  );
});

// ---------------------------------------------------------------------------
// Malformed requests over raw TCP, and what Deno.serve answers to each.

/** Checks what came back; returns what is wrong with it, if anything. */
type Check = (got: RawAnswer) => string | undefined;

interface Probe {
  name: string;
  send: (string | Uint8Array | (() => Promise<void>))[];
  /** Shut our side down after sending, so the server sees the end. */
  halfClose?: boolean;
  /** Close at once after sending, reading nothing. */
  hangUp?: boolean;
  deadline?: number;
  check: Check;
  /** What the app's `wsgi.input.read()` must throw, as `name status: message`. */
  readError?: string;
}

/** 400 Bad Request and a closed connection. With `reset`, the request's unread rest resets it, which may beat the 400 to the client. */
function is400(reset = false): Check {
  return ({ text, end }) => {
    if (reset && text === "" && end === "reset") return;
    if (
      !text.startsWith("HTTP/1.1 400 Bad Request\r\n") ||
      !text.includes("\r\nconnection: close\r\n") || !text.endsWith("\r\n\r\n")
    ) return "not a bare 400";
    if (end !== "eof" && !(reset && end === "reset")) return `ended by ${end}`;
  };
}

/** The status line and exact body of a complete response, then the close. */
function answers(status: string, body: string): Check {
  return ({ text, end }) => {
    const split = text.indexOf("\r\n\r\n");
    const got = `${text.slice(0, text.indexOf("\r\n"))} ${
      JSON.stringify(text.slice(split + 4))
    }`;
    const want = `${status} ${JSON.stringify(body)}`;
    if (got !== want) return `got ${got}, not ${want}`;
    if (end !== "eof") return `ended by ${end}`;
  };
}

const closes: Check = ({ text, end }) =>
  text === "" && end === "eof" ? undefined : "not closed without an answer";

const silent: Check = ({ text, end }) =>
  text === "" && end === "deadline" ? undefined : "not silent until we gave up";

const unseen: Check = () => undefined;

// An HTTP/2 server preface begins with a SETTINGS frame (type 4 on stream 0).
const h2Settings: Check = ({ text, end }) =>
  text.charCodeAt(3) === 4 && text.slice(5, 9) === "\0\0\0\0" && end === "eof"
    ? undefined
    : "no HTTP/2 SETTINGS frame";

/** For bytes nobody can parse: a 400, or a close without a word. */
const refused: Check = (got) =>
  got.text === "" && got.end !== "deadline" ? undefined : is400(true)(got);

/** A mutated request may still parse; what it gets is an answer, never a hang. */
const mutantCheck: Check = ({ text, end }) =>
  end === "deadline"
    ? "no answer before the deadline"
    : text === "" || /^HTTP\/1\.[01] (200 OK|400 Bad Request)\r\n/.test(text)
    ? undefined
    : `got ${JSON.stringify(text.slice(0, 40))}`;

const HOST = "Host: fuzz\r\n";
const CLOSE = "Connection: close\r\n";

/** A GET with `line` as its request line. */
function requestLine(line: string): string {
  return `${line}\r\n${HOST}\r\n`;
}

/** A GET with one more header line. */
function withHeader(line: string): string {
  return `GET / HTTP/1.1\r\n${HOST}${line}\r\n\r\n`;
}

/** A POST with these framing headers (CRLF-terminated) and body bytes. */
function post(path: string, headers: string, body: string): string {
  return `POST ${path} HTTP/1.1\r\n${HOST}${headers}\r\n${body}`;
}

function chunked(path: string, body: string): string {
  return post(path, "Transfer-Encoding: chunked\r\n", body);
}

function manyHeaders(lines: number): string {
  // Host and Connection count too.
  const extra = Array.from({ length: lines - 2 }, (_, i) => `X-H${i}: v\r\n`);
  return `GET /many HTTP/1.1\r\n${HOST}${CLOSE}${extra.join("")}\r\n`;
}

// Requests Deno.serve answers with a 400 and a close; `true` where the
// unread rest of the request resets the connection.
const BAD_REQUESTS: [string, string, boolean?][] = [
  // The request line.
  ["a method that is not a token", requestLine("G@T / HTTP/1.1")],
  ["a NUL in the method", requestLine("G\0T / HTTP/1.1")],
  ["a method of 70 KB", requestLine(`${"G".repeat(70_000)} / HTTP/1.1`), true],
  ["no HTTP version", requestLine("GET /")],
  ["an HTTP/0.9 request", "GET /\r\n\r\n"],
  ["HTTP/3.0", requestLine("GET / HTTP/3.0")],
  ["HTTP/2.0 in a request line", requestLine("GET / HTTP/2.0")],
  ["HTTP/1.2", requestLine("GET / HTTP/1.2")],
  ["HTTX/1.1", requestLine("GET / HTTX/1.1")],
  ["no request target", requestLine("GET  HTTP/1.1")],
  ["a space in the target", requestLine("GET /a b HTTP/1.1")],
  ["a NUL in the target", requestLine("GET /a\0b HTTP/1.1")],
  ["a control character in the target", requestLine("GET /a\x01b HTTP/1.1")],
  ["a byte above 0x7F in the target", requestLine("GET /caf\xe9 HTTP/1.1")],
  ["* as the target of a GET", requestLine("GET * HTTP/1.1")],
  ["an authority as the target of a GET", requestLine("GET fuzz:80 HTTP/1.1")],
  [
    "a target of 70 KB",
    requestLine(`GET /${"a".repeat(70_000)} HTTP/1.1`),
    true,
  ],
  ["blank lines only", "\r\n\r\n\r\n"],
  ["bare CR line ends", "GET / HTTP/1.1\rHost: fuzz\r\r"],
  [
    "a TLS ClientHello on the plain port",
    "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1",
  ],
  // Headers: the head may have 64 KiB and 128 lines; past that, a 400
  // (not 431).
  ["a 100 KiB header", withHeader(`X-Big: ${"v".repeat(100 * 1024)}`), true],
  ["10,000 headers", manyHeaders(10_000), true],
  ["129 header lines", manyHeaders(129)],
  ["a header line without a colon", withHeader("NoColon")],
  ["a space in a header name", withHeader("Bad Name: v")],
  ["a space before the colon", withHeader("X-A : v")],
  ["an obs-fold continuation line", withHeader("X-A: a\r\n b")],
  ["an empty header name", withHeader(": v")],
  ["a byte above 0x7F in a header name", withHeader("X-\xe9: v")],
  ["a NUL in a header value", withHeader("X-A: a\0b")],
  ["a control character in a header value", withHeader("X-A: a\x01b")],
  ["DEL in a header value", withHeader("X-A: a\x7fb")],
  ["two Host headers", withHeader("Host: other")],
  // Body framing.
  [
    "Content-Length and Transfer-Encoding",
    post(
      "/",
      "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
      "0\r\n\r\n",
    ),
  ],
  [
    "Transfer-Encoding and Content-Length",
    post(
      "/",
      "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
      "0\r\n\r\n",
    ),
  ],
  [
    "two different Content-Lengths",
    post("/", "Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"),
  ],
  ["Content-Length: 5, 5", post("/", "Content-Length: 5, 5\r\n", "hello")],
  ["a negative Content-Length", post("/", "Content-Length: -5\r\n", "hello")],
  ["a hex Content-Length", post("/", "Content-Length: 0x5\r\n", "hello")],
  ["Content-Length: +5", post("/", "Content-Length: +5\r\n", "hello")],
  [
    "a Content-Length past 2^64",
    post("/", `Content-Length: ${"9".repeat(23)}\r\n`, ""),
  ],
  [
    "an unknown Transfer-Encoding",
    post("/", "Transfer-Encoding: bogus\r\n", "hello"),
  ],
  [
    "chunked not the last coding",
    post("/", "Transfer-Encoding: chunked, gzip\r\n", "0\r\n\r\n"),
  ],
  [
    "chunked in HTTP/1.0",
    "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
  ],
];

// Broken chunked bodies. Sent with the head, the connection closes
// unanswered and the app never runs.
const BAD_CHUNKS_SENT: [string, string][] = [
  ["a chunk size that is not hex", "zz\r\nhello\r\n0\r\n\r\n"],
  ["a chunk without its CRLF", "5\r\nhelloXX0\r\n\r\n"],
  ["a chunk longer than its size", "3\r\nhello\r\n0\r\n\r\n"],
  ["a chunk size past 2^64", "ffffffffffffffffff\r\nhello\r\n0\r\n\r\n"],
  ["a negative chunk size", "-5\r\nhello\r\n0\r\n\r\n"],
  ["garbage trailers", "5\r\nhello\r\n0\r\nNo Colon\0\r\n\r\n"],
];

// What Deno.serve lets through, answered as a good request: [name,
// request, status line, the app's echo of method, target and body size].
const LET_THROUGH: [string, string, string, string][] = [
  [
    "bare LF line ends",
    "GET /lf HTTP/1.1\nHost: fuzz\nConnection: close\n\n",
    "HTTP/1.1 200 OK",
    "GET /lf 0",
  ],
  ["128 header lines", manyHeaders(128), "HTTP/1.1 200 OK", "GET /many 0"],
  [
    "a head of 60 KiB",
    `GET /big HTTP/1.1\r\n${HOST}${CLOSE}X-Big: ${
      "v".repeat(60 * 1024)
    }\r\n\r\n`,
    "HTTP/1.1 200 OK",
    "GET /big 0",
  ],
  [
    "the same Content-Length twice",
    post(
      "/twice",
      `${CLOSE}Content-Length: 5\r\nContent-Length: 5\r\n`,
      "hello",
    ),
    "HTTP/1.1 200 OK",
    "POST /twice 5",
  ],
  [
    "a lowercase method",
    `get /lower HTTP/1.1\r\n${HOST}${CLOSE}\r\n`,
    "HTTP/1.1 200 OK",
    "get /lower 0",
  ],
  [
    "a 1 KB method",
    `${"M".repeat(1024)} /m HTTP/1.1\r\n${HOST}${CLOSE}\r\n`,
    "HTTP/1.1 200 OK",
    `${"M".repeat(1024)} /m 0`,
  ],
  [
    "an absolute-form target",
    `GET http://other.test/abs?q HTTP/1.1\r\n${HOST}${CLOSE}\r\n`,
    "HTTP/1.1 200 OK",
    "GET /abs?q 0",
  ],
  [
    "blank lines before the request line",
    `\r\n\r\nGET /lead HTTP/1.1\r\n${HOST}${CLOSE}\r\n`,
    "HTTP/1.1 200 OK",
    "GET /lead 0",
  ],
  [
    "an empty Host header",
    `GET /empty HTTP/1.1\r\nHost:\r\n${CLOSE}\r\n`,
    "HTTP/1.1 200 OK",
    "GET /empty 0",
  ],
  [
    "HTTP/1.0",
    `GET /old HTTP/1.0\r\n${HOST}\r\n`,
    "HTTP/1.0 200 OK",
    "GET /old 0",
  ],
];

const BAD_REQUEST = "HTTP/1.1 400 Bad Request";
const MALFORMED_TEXT =
  "Cannot read the request body: its chunked encoding is malformed";
const CUT_SHORT_TEXT =
  "Cannot read the request body: the connection ended before the body did";
const MALFORMED = `RequestBodyError 400: ${MALFORMED_TEXT}`;
const CUT_SHORT = `RequestBodyError 400: ${CUT_SHORT_TEXT}`;

Deno.test("serve() answers malformed requests as Deno.serve does, and keeps serving good ones", async () => {
  const reading = new Map<string, () => void>();
  const lines: string[] = [];
  const readErrors = new Map<string, string>();
  const server: Server = serve(async (environ, startResponse) => {
    reading.get(environ.PATH_INFO)?.();
    const body = await environ["wsgi.input"].read().catch((error) => {
      readErrors.set(
        environ.PATH_INFO,
        `${error.name} ${error.status}: ${error.message}`,
      );
      throw error;
    });
    startResponse("200 OK", [["Content-Type", "text/plain"]]);
    return [`${environ.REQUEST_METHOD} ${environ.RAW_URI} ${body.length}`];
  }, {
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
    errors: (line) => void lines.push(line),
  });
  const port = (server.addr as Deno.NetAddr).port;
  let finished = false;
  server.finished.finally(() => finished = true);

  /** A step that waits until the app reads the body of `path`. */
  const whenReading = (path: string) => {
    const { promise, resolve } = Promise.withResolvers<void>();
    reading.set(path, resolve);
    return async () => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        promise,
        new Promise((wake) => timer = setTimeout(wake, 2000)),
      ]);
      clearTimeout(timer);
    };
  };

  const probes: Probe[] = [
    ...BAD_REQUESTS.map(([name, request, reset]): Probe => ({
      name,
      send: [request],
      check: is400(reset),
    })),
    ...BAD_CHUNKS_SENT.map(([name, body]): Probe => ({
      name,
      send: [chunked("/c", body)],
      check: closes,
    })),
    // Sent once the app reads: wsgi.input throws, and an app that lets it
    // go gets the client a 400 that says why.
    ...BAD_CHUNKS_SENT.slice(0, 3).map(([name, body], i): Probe => ({
      name: `${name}, once the app reads`,
      send: [chunked(`/late${i}`, ""), whenReading(`/late${i}`), body],
      check: answers(BAD_REQUEST, `${MALFORMED_TEXT}\n`),
      readError: MALFORMED,
    })),
    // Bodies cut short: wsgi.input throws once the client's side ends, and
    // the client, if still there, gets a 400.
    {
      name: "a body shorter than its Content-Length, then a half close",
      send: [post("/short", "Content-Length: 100\r\n", "only this")],
      halfClose: true,
      check: answers(BAD_REQUEST, `${CUT_SHORT_TEXT}\n`),
      readError: CUT_SHORT,
    },
    {
      name: "a chunked body cut short, then a half close",
      send: [chunked("/short-chunked", "5\r\nhel")],
      halfClose: true,
      check: answers(BAD_REQUEST, `${CUT_SHORT_TEXT}\n`),
      readError: CUT_SHORT,
    },
    {
      name: "a body shorter than its Content-Length, then a hang-up",
      send: [post("/gone", "Content-Length: 100\r\n", "only this")],
      hangUp: true,
      check: unseen,
      readError: CUT_SHORT,
    },
    // Deno.serve has no read timeout: a client that stops sending is
    // waited for until it leaves.
    {
      name: "a body shorter than its Content-Length, kept open",
      send: [post("/open", "Content-Length: 100\r\n", "only this")],
      deadline: 300,
      check: silent,
      readError: CUT_SHORT,
    },
    {
      name: "an unfinished head, kept open",
      send: [`GET / HTTP/1.1\r\n${HOST}`],
      deadline: 300,
      check: silent,
    },
    {
      name: "an unfinished head, then a half close",
      send: [`GET / HTTP/1.1\r\n${HOST}`],
      halfClose: true,
      check: closes,
    },
    {
      name: "garbage pipelined after a good request",
      send: [`GET /first HTTP/1.1\r\n${HOST}\r\n\x16\x03\x01garbage\r\n\r\n`],
      check: (got) => {
        const second = got.text.indexOf("HTTP/1.1 400 Bad Request\r\n");
        if (second < 0) return "no 400 for the garbage";
        const first = { text: got.text.slice(0, second), end: got.end };
        return answers("HTTP/1.1 200 OK", "GET /first 0")(first) ??
          is400()({ text: got.text.slice(second), end: got.end });
      },
    },
    ...LET_THROUGH.map(([name, request, status, echo]): Probe => ({
      name,
      send: [request],
      check: answers(status, echo),
    })),
    {
      name: "an HTTP/2 prior-knowledge preface",
      send: ["PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"],
      halfClose: true,
      check: h2Settings,
    },
  ];

  // Random bytes, and good requests with a few bytes changed.
  const rng = new Rng(SEED);
  for (let i = 0; i < 40; i++) {
    const bytes = Uint8Array.from(
      { length: 1 + rng.int(2048) },
      () => rng.int(256),
    );
    probes.push({
      name: `random bytes #${i}`,
      send: [bytes],
      halfClose: true,
      check: refused,
    });
  }
  for (let i = 0; i < 60; i++) {
    const bytes = bytesOf(
      `GET /m/${i}?q=1 HTTP/1.1\r\n${HOST}X-A: b\r\n${CLOSE}\r\n`,
    );
    for (let n = 1 + rng.int(3); n > 0; n--) {
      bytes[rng.int(bytes.length)] = rng.int(256);
    }
    probes.push({
      name: `mutant #${i} ${JSON.stringify(latin1(bytes))}`,
      send: [bytes],
      halfClose: true,
      check: mutantCheck,
    });
  }

  const problems: string[] = [];
  try {
    for (const [n, p] of probes.entries()) {
      const got = p.hangUp
        ? (await rawExchange(port, p.send, { deadline: 1 }),
          { text: "", end: "eof" as const })
        : await rawExchange(port, p.send, {
          halfClose: p.halfClose,
          deadline: p.deadline,
        });
      const problem = p.check(got);
      if (problem) {
        problems.push(
          `${p.name}: ${problem} (got ${
            JSON.stringify(got.text.slice(0, 80))
          }, ${got.end})`,
        );
      }
      if (p.readError !== undefined) {
        // Such probes start with their request line, as text.
        const path = (p.send[0] as string).split(" ")[1];
        await until(() => readErrors.has(path));
        const seen = readErrors.get(path);
        if (seen !== p.readError) {
          problems.push(
            `${p.name}: the app's read threw ${seen}, not ${p.readError}`,
          );
        }
      }
      // A good request on a new connection still gets its answer.
      const good = await rawExchange(port, [
        `POST /ok/${n} HTTP/1.1\r\n${HOST}${CLOSE}Content-Length: 4\r\n\r\nping`,
      ]);
      assert.equal(
        answers("HTTP/1.1 200 OK", `POST /ok/${n} 4`)(good),
        undefined,
        `after ${p.name} (seed ${SEED})`,
      );
      assert.equal(
        finished,
        false,
        `the server stopped after ${p.name} (seed ${SEED})`,
      );
    }
  } finally {
    await server.shutdown();
  }
  assert.deepEqual(problems, [], `seed ${SEED}`);
  // A client's bad body is not the app's error: nothing is logged.
  assert.deepEqual(lines, []);
});
