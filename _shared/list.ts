/**
 * RFC 9110 list syntax (5.6.1) with quoted strings (5.6.4), written once for
 * every header that holds a comma-separated list.
 *
 * @module
 */

/**
 * Splits a list header into its elements: commas inside a quoted string do
 * not separate, optional whitespace (SP, HTAB) around an element is dropped,
 * and empty elements are ignored ("a recipient MUST parse and ignore a
 * reasonable number of empty list elements"). Elements keep their quotes.
 * Returns undefined for a quoted string that is never closed, which makes the
 * whole list malformed. With `quotedPairs` false a backslash is an ordinary
 * character, as in an entity-tag (RFC 9110 8.8.3 has no quoted-pair there).
 */
export function splitList(
  value: string,
  quotedPairs = true,
): string[] | undefined {
  const elements: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (quoted) {
      // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
      if (c === BACKSLASH && quotedPairs) i++;
      else if (c === DQUOTE) quoted = false;
    } else if (c === DQUOTE) quoted = true;
    else if (c === COMMA) {
      push(elements, value, start, i);
      start = i + 1;
    }
  }
  if (quoted) return undefined;
  push(elements, value, start, value.length);
  return elements;
}

/**
 * The text of an element that is one quoted string, each quoted-pair replaced
 * by the octet after its backslash (RFC 9110 5.6.4); any other element as it
 * is.
 */
export function unquote(element: string): string {
  if (element.length < 2 || element.charCodeAt(0) !== DQUOTE) return element;
  let text = "";
  for (let i = 1; i < element.length; i++) {
    const c = element.charCodeAt(i);
    if (c === BACKSLASH) text += element[++i] ?? "";
    else if (c === DQUOTE) return i === element.length - 1 ? text : element;
    else text += element[i];
  }
  return element;
}

/**
 * Whether `value` has a comma outside its quoted strings: one that would
 * make a list of a field that holds a single value.
 */
export function hasBareComma(value: string): boolean {
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (quoted) {
      if (c === BACKSLASH) i++;
      else if (c === DQUOTE) quoted = false;
    } else if (c === DQUOTE) {
      quoted = true;
    } else if (c === COMMA) {
      return true;
    }
  }
  return false;
}

const COMMA = 0x2c;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;

function push(elements: string[], value: string, from: number, to: number) {
  // OWS = *( SP / HTAB ) (RFC 9110 5.6.3), not JavaScript's wider trim().
  while (from < to && isOws(value.charCodeAt(from))) from++;
  while (to > from && isOws(value.charCodeAt(to - 1))) to--;
  if (to > from) elements.push(value.slice(from, to));
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}
