/**
 * The scan that tells a nameless stack frame's anonymous function from a
 * module's top-level code. Each case marks the frame's place with `@`.
 */
import assert from "node:assert/strict";
import { insideFunction } from "../../_dev/debugger/scope.ts";

const CASES: [string, boolean][] = [
  ["throw new Error('top');", false],
  ["[1].map(() => { @throw 1; });", true],
  ["[1].@map(() => { throw 1; });", false],
  ["[1].map((x) => @x.y);", true],
  ["foo(@bar());", false],
  ["if (a) { @throw 1 }", false],
  ["if (a) { if (b) { @x() } }", false],
  ["for await (const x of y) { @x() }", false],
  ["try { @x() } catch (e) { }", false],
  ["function f(a: string): Promise<void> { @x() }", true],
  ["const g = function () { @x() };", true],
  ["class A { m() { @x() } }", true],
  ["const o = { m(x) { @x() } };", true],
  ["const f = () => 1\n@throw 2", false],
  ["const f = () =>\n  @x()", true],
  ["interface I { m(): void }\nif (a) { if (b) { @x() } }", false],
  ["const s = `a ${`b ${c}`} {`;\n@x()", false],
  ["const s = `a ${() => { @x() }}`;", true],
  ["const r = /[)}]/g; const q = 'a}'; // }\n/* } */ @x()", false],
  ["(async () => { await null; @x(); })();", true],
  ["const h = async (e: E, s: S): Promise<Body> => {\n  @x();\n};", true],
  ["setTimeout(() => @x(), 1);", true],
  ["export default {\n  fetch(req) {\n    @x();\n  },\n};", true],
  ["const t = { a: 1, b: [2, 3] };\n@x();", false],
  ["#!/usr/bin/env -S deno run\n@x();", false],
  ["const a = b ? c : d;\nif (e) {\n  if (f) { @x(); }\n}", false],
];

Deno.test("insideFunction() tells a function's body from top-level code", () => {
  for (const [text, inside] of CASES) {
    const at = text.indexOf("@");
    const source = text.replace("@", "");
    const before = source.slice(0, at);
    const line = before.split("\n").length;
    const column = at - before.lastIndexOf("\n");
    assert.equal(insideFunction(source, line, column), inside, text);
  }
});
