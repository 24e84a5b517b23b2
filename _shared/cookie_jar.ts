/**
 * A user agent's cookie store as RFC 6265 section 5 describes it, for the
 * test client: cookies kept per (domain, path, name), `Domain` and `Path`
 * matching, `Expires` read as a cookie-date, `Max-Age` over `Expires`,
 * `Secure` sent over https only. Public suffixes are not checked: the
 * client only ever talks to its own app.
 */

/** A cookie the client holds. */
export interface ClientCookie {
  /** The cookie's name. */
  name: string;
  /** The cookie's value, as the app set it. */
  value: string;
  /** The host (host-only) or the domain (and its subdomains) it is sent to. */
  domain: string;
  /** The path it is sent under. */
  path: string;
  /** Sent to `domain` itself only, because the app gave no `Domain`. */
  hostOnly: boolean;
  /** Sent over https only. */
  secure: boolean;
  /** Set with `HttpOnly` (which a test client has no reason to enforce). */
  httpOnly: boolean;
  /** When it expires, in milliseconds since the epoch; `Infinity` for a session cookie. */
  expires: number;
}

/** The cookies of one client, in the order they were first set. */
export class CookieJar {
  // Keyed by domain, path and name (RFC 6265 5.3 step 11); a Map keeps the
  // creation order that 5.4 step 2 sorts ties by.
  #cookies = new Map<string, ClientCookie>();

  /** Every unexpired cookie, oldest first. */
  list(): ClientCookie[] {
    this.#evict();
    return [...this.#cookies.values()].map((cookie) => ({ ...cookie }));
  }

  /** The cookie stored under this domain, path and name. */
  get(domain: string, path: string, name: string): ClientCookie | undefined {
    this.#evict();
    const cookie = this.#cookies.get(key(domain.toLowerCase(), path, name));
    return cookie && { ...cookie };
  }

  /**
   * Stores a cookie; one that has expired removes any it replaces. A cookie
   * that replaces another keeps the old one's place (RFC 6265 5.3 step 11).
   */
  store(cookie: ClientCookie): void {
    this.#cookies.set(key(cookie.domain, cookie.path, cookie.name), cookie);
    this.#evict();
  }

  /** Removes the cookie stored under this domain, path and name. */
  delete(domain: string, path: string, name: string): void {
    this.#cookies.delete(key(domain.toLowerCase(), path, name));
  }

  /** Stores what each `Set-Cookie` line of a response to `url` says. */
  receive(url: URL, lines: string[]): void {
    for (const line of lines) {
      const cookie = parseSetCookie(line, url);
      if (cookie !== undefined) this.store(cookie);
    }
  }

  /** The `Cookie` header for a request to `url` (RFC 6265 5.4), or "". */
  header(url: URL): string {
    this.#evict();
    const host = url.hostname;
    const secure = url.protocol === "https:";
    const matching = [...this.#cookies.values()].filter((cookie) =>
      (cookie.hostOnly
        ? host === cookie.domain
        : domainMatches(host, cookie.domain)) &&
      pathMatches(url.pathname, cookie.path) &&
      (secure || !cookie.secure)
    );
    // Longer paths first; sort() is stable, so ties stay oldest first.
    matching.sort((a, b) => b.path.length - a.path.length);
    return matching.map(({ name, value }) => `${name}=${value}`).join("; ");
  }

  // RFC 6265 5.3: expired cookies are evicted whenever one exists.
  #evict(): void {
    const now = Date.now();
    for (const [id, cookie] of this.#cookies) {
      if (cookie.expires <= now) this.#cookies.delete(id);
    }
  }
}

function key(domain: string, path: string, name: string): string {
  return JSON.stringify([domain, path, name]);
}

/**
 * Parses a `Set-Cookie` line (RFC 6265 5.2) and applies the storage model's
 * checks (5.3); returns nothing for a line a user agent ignores.
 */
function parseSetCookie(line: string, url: URL): ClientCookie | undefined {
  const [pair, ...attributes] = line.split(";");
  const eq = pair.indexOf("=");
  if (eq === -1) return undefined;
  const name = trim(pair.slice(0, eq));
  if (name === "") return undefined;
  const host = url.hostname;
  const cookie: ClientCookie = {
    name,
    value: trim(pair.slice(eq + 1)),
    domain: host,
    path: defaultPath(url.pathname),
    hostOnly: true,
    secure: false,
    httpOnly: false,
    expires: Infinity,
  };
  let maxAge: number | undefined;
  let expires: number | undefined;
  let domain = "";
  // The last of each attribute wins (5.3 step 3 and on).
  for (const attribute of attributes) {
    const at = attribute.indexOf("=");
    const key = trim(at === -1 ? attribute : attribute.slice(0, at));
    const value = at === -1 ? "" : trim(attribute.slice(at + 1));
    switch (key.toLowerCase()) {
      case "expires": {
        const time = parseCookieDate(value);
        if (time !== undefined) expires = time;
        break;
      }
      case "max-age":
        // 5.2.2: a leading "-" or digit, then digits; 0 or less is "now".
        if (/^-?\d+$/.test(value)) {
          const seconds = Number(value);
          maxAge = seconds <= 0 ? -Infinity : Date.now() + seconds * 1000;
        }
        break;
      case "domain":
        // 5.2.3: an empty value is ignored, a leading "." dropped.
        if (value !== "") {
          domain = (value.startsWith(".") ? value.slice(1) : value)
            .toLowerCase();
        }
        break;
      case "path":
        cookie.path = value.startsWith("/") ? value : defaultPath(url.pathname);
        break;
      case "secure":
        cookie.secure = true;
        break;
      case "httponly":
        cookie.httpOnly = true;
    }
  }
  // 5.3 step 3: Max-Age takes precedence over Expires.
  cookie.expires = maxAge ?? expires ?? Infinity;
  if (domain !== "") {
    // 5.3 step 6: a Domain the request host does not match drops the cookie.
    if (!domainMatches(host, domain)) return undefined;
    cookie.domain = domain;
    cookie.hostOnly = false;
  }
  return cookie;
}

// RFC 6265 5.2: whitespace around names, values and attributes is removed.
function trim(text: string): string {
  return text.replace(/^[ \t]+|[ \t]+$/g, "");
}

// RFC 6265 5.1.3: the host is the domain, or a name ending in "." + domain.
function domainMatches(host: string, domain: string): boolean {
  if (host === domain) return true;
  return host.endsWith(`.${domain}`) && !isIpAddress(host);
}

function isIpAddress(host: string): boolean {
  return host.startsWith("[") || /^\d+\.\d+\.\d+\.\d+$/.test(host);
}

// RFC 6265 5.1.4: the request path up to, not including, its last "/".
function defaultPath(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash <= 0 ? "/" : path.slice(0, slash);
}

// RFC 6265 5.1.4: the same path, or a prefix ending at a "/".
function pathMatches(path: string, cookiePath: string): boolean {
  return path === cookiePath ||
    (path.startsWith(cookiePath) &&
      (cookiePath.endsWith("/") || path[cookiePath.length] === "/"));
}

const MONTHS = [
  "jan",
  "feb",
  "mar",
  "apr",
  "may",
  "jun",
  "jul",
  "aug",
  "sep",
  "oct",
  "nov",
  "dec",
];

/**
 * RFC 6265 5.1.1, the cookie-date algorithm: tokens split at delimiters,
 * the first time, day, month and year tokens taken in that order of tries.
 * Returns milliseconds since the epoch, or nothing if the date fails.
 */
function parseCookieDate(text: string): number | undefined {
  let time: number[] | undefined;
  let day: number | undefined;
  let month: number | undefined;
  let year: number | undefined;
  // delimiter = %x09 / %x20-2F / %x3B-40 / %x5B-60 / %x7B-7E
  for (
    const token of text.split(/[\t\x20-\x2f\x3b-\x40\x5b-\x60\x7b-\x7e]+/)
  ) {
    if (token === "") continue;
    const clock = time === undefined &&
      token.match(/^(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\D|$)/);
    if (clock) {
      time = clock.slice(1, 4).map(Number);
      continue;
    }
    const dayMatch = day === undefined && token.match(/^(\d{1,2})(?:\D|$)/);
    if (dayMatch) {
      day = Number(dayMatch[1]);
      continue;
    }
    const monthIndex = month === undefined
      ? MONTHS.indexOf(token.slice(0, 3).toLowerCase())
      : -1;
    if (monthIndex !== -1) {
      month = monthIndex;
      continue;
    }
    const yearMatch = year === undefined && token.match(/^(\d{2,4})(?:\D|$)/);
    if (yearMatch) year = Number(yearMatch[1]);
  }
  if (
    time === undefined || day === undefined || month === undefined ||
    year === undefined
  ) return undefined;
  if (year >= 70 && year <= 99) year += 1900;
  else if (year <= 69) year += 2000;
  const [hour, minute, second] = time;
  if (
    day < 1 || day > 31 || year < 1601 || hour > 23 || minute > 59 ||
    second > 59
  ) return undefined;
  const date = new Date(Date.UTC(year, month, day, hour, minute, second));
  // A day the month does not have (31 April) fails too.
  return date.getUTCDate() === day ? date.getTime() : undefined;
}
