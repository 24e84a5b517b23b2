/**
 * Whether a place in a module's source lies inside a function: a V8 stack
 * line gives no name both for an anonymous function and for a module's
 * top-level code, and only the source tells them apart.
 *
 * A scan, not a parser: it follows strings, comments, template literals,
 * regular expressions and brackets, and takes a `{` for a function body
 * after `=>` or after a parameter list (a `)` not of `if`, `for`, `while`,
 * `switch`, `catch` or `with`), and an arrow's expression body up to the
 * `,`, `;`, closing bracket or new statement that ends it.
 *
 * @module
 */

const BLOCK_OWNERS = new Set([
  "if",
  "for",
  "while",
  "switch",
  "catch",
  "with",
  "await",
]);
// After these a `/` starts a regular expression, not a division.
const BEFORE_REGEX = new Set([
  "return",
  "typeof",
  "instanceof",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "case",
  "do",
  "else",
  "yield",
  "await",
]);
const PUNCTUATORS =
  /^(?:=>|\?\?=?|\?\.|\.\.\.|[=!]==?|[<>]=?|&&=?|\|\|=?|[-+*/%&|^]=?|\+\+|--|\*\*=?|<<=?|>>>?=?|[{}()[\];,.:?~#@])/;

type Context =
  | { kind: "block" | "function" | "bracket" | "template" }
  | { kind: "paren"; owner: string }
  // An arrow's expression body: ends at a `,`, `;` or closing bracket.
  | { kind: "arrow" };

/**
 * Whether `line`:`column` (1-based, as V8 counts) of `source` is inside a
 * function's body rather than top-level code.
 */
export function insideFunction(
  source: string,
  line: number,
  column: number,
): boolean {
  let offset = 0;
  for (let n = 1; n < line; n++) {
    offset = source.indexOf("\n", offset) + 1;
    if (offset === 0) return false;
  }
  const target = offset + column - 1;
  const stack: Context[] = [];
  // The last significant token, and the owner of the last closed `(`.
  let previous = "";
  let closedOwner = "";
  // A `{` after `): Type` is a function body too (a TypeScript return type).
  let returnType = -1;
  let newline = false;
  let i = 0;

  const closeArrows = () => {
    while (stack.at(-1)?.kind === "arrow") stack.pop();
  };
  // A new statement on a new line ends an arrow's expression body.
  const statementStart = (c: string) => {
    if (
      newline && stack.at(-1)?.kind === "arrow" && /[\w$'"`{]/.test(c) &&
      /[\w$'"`)\]}]$/.test(previous)
    ) {
      closeArrows();
    }
    newline = false;
  };
  // Scans a template literal's text from `i`, up to its end or a `${`.
  const templateText = () => {
    while (i < source.length && i < target) {
      const c = source[i];
      if (c === "\\") i += 2;
      else if (c === "`") {
        i++;
        previous = "`";
        return;
      } else if (c === "$" && source[i + 1] === "{") {
        i += 2;
        stack.push({ kind: "template" });
        previous = "{";
        return;
      } else i++;
    }
  };

  while (i < target && i < source.length) {
    const c = source[i];
    if (c === "\n") {
      newline = true;
      i++;
      continue;
    }
    if (c === " " || c === "\t" || c === "\r") {
      i++;
      continue;
    }
    if (c === "/" && source[i + 1] === "/") {
      const end = source.indexOf("\n", i);
      i = end < 0 ? source.length : end;
      continue;
    }
    if (c === "/" && source[i + 1] === "*") {
      const end = source.indexOf("*/", i + 2);
      i = end < 0 ? source.length : end + 2;
      continue;
    }
    statementStart(c);
    if (c === '"' || c === "'") {
      i++;
      while (i < source.length && source[i] !== c && source[i] !== "\n") {
        i += source[i] === "\\" ? 2 : 1;
      }
      i++;
      previous = c;
      continue;
    }
    if (c === "`") {
      i++;
      templateText();
      continue;
    }
    if (
      c === "/" &&
      (previous === "" || BEFORE_REGEX.has(previous) ||
        (/^[^\w$'"`)\]]/.test(previous) && previous !== "}"))
    ) {
      let inClass = false;
      i++;
      while (i < source.length && source[i] !== "\n") {
        const r = source[i];
        if (r === "\\") i++;
        else if (r === "[") inClass = true;
        else if (r === "]") inClass = false;
        else if (r === "/" && !inClass) break;
        i++;
      }
      i++;
      while (/[a-z]/.test(source[i] ?? "")) i++;
      previous = "/re/";
      continue;
    }
    const word = /^[\w$]+/.exec(source.slice(i, i + 64));
    if (word) {
      i += word[0].length;
      previous = word[0];
      continue;
    }
    const punctuator = PUNCTUATORS.exec(source.slice(i, i + 4))?.[0] ?? c;
    i += punctuator.length;
    switch (punctuator) {
      case "{": {
        const body = previous === "=>" ||
          (previous === ")" && !BLOCK_OWNERS.has(closedOwner)) ||
          returnType === stack.length;
        stack.push({ kind: body ? "function" : "block" });
        returnType = -1;
        break;
      }
      case "(":
        stack.push({ kind: "paren", owner: previous });
        break;
      case "[":
        stack.push({ kind: "bracket" });
        break;
      case "}":
      case ")":
      case "]": {
        closeArrows();
        const closed = stack.pop();
        if (closed?.kind === "template") {
          templateText();
          continue;
        }
        if (closed?.kind === "paren") closedOwner = closed.owner;
        if (returnType > stack.length) returnType = -1;
        break;
      }
      case ",":
      case ";":
        closeArrows();
        returnType = -1;
        break;
      case ":":
        if (previous === ")" && !BLOCK_OWNERS.has(closedOwner)) {
          returnType = stack.length;
        }
        break;
      case "=":
        returnType = -1;
        break;
    }
    if (punctuator === "=>" && !/^\s*\{/.test(source.slice(i, i + 64))) {
      stack.push({ kind: "arrow" });
    }
    previous = punctuator;
  }
  statementStart(source[target] ?? "");
  return stack.some((c) => c.kind === "function" || c.kind === "arrow");
}
