/**
 * Host syntax, from RFC 3986 section 3.2, which RFC 9110 section 4.2.3 and
 * RFC 9112 section 3.2 use for `Host` and for a request target's authority.
 *
 * @module
 */

// reg-name (which covers IPv4address) = *( unreserved / pct-encoded /
// sub-delims ); port = *DIGIT. Neither has "/", "?", "#", "@" or a space.
const REG_NAME_PORT = /^(?:[\w\-.~!$&'()*+,;=]|%[\dA-Fa-f]{2})*(?::\d*)?$/;
// IP-literal = "[" ( IPv6address / IPvFuture ) "]", then the port.
const IP_LITERAL_PORT =
  /^\[(?:([\dA-Fa-f:.]+)|[vV][\dA-Fa-f]+\.[\w\-.~!$&'()*+,;=:]+)\](?::\d*)?$/;
const IPV4 =
  /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const H16 = /^[\dA-Fa-f]{1,4}$/;

/**
 * Whether `value` is `uri-host [":" port]`, the form of a `Host` header and
 * of the authority of a request target (userinfo is not part of it: RFC
 * 9110 section 4.2.4 has a recipient treat it as an error).
 */
export function isHostAndPort(value: string): boolean {
  if (value.charCodeAt(0) !== 91) return REG_NAME_PORT.test(value);
  const match = IP_LITERAL_PORT.exec(value);
  return match !== null && (match[1] === undefined || isIPv6(match[1]));
}

/** Whether `text` is an IPv6address of RFC 3986 section 3.2.2. */
function isIPv6(text: string): boolean {
  const halves = text.split("::");
  if (halves.length > 2) return false;
  const groups = halves.flatMap((half) => half === "" ? [] : half.split(":"));
  const last = groups.length - 1;
  // An IPv4address may stand only for the last two groups.
  const ipv4Last = last >= 0 && groups[last].includes(".") &&
    (halves.length === 1 || halves[1] !== "");
  let count = 0;
  for (let i = 0; i <= last; i++) {
    if (i === last && ipv4Last) {
      if (!IPV4.test(groups[i])) return false;
      count += 2;
    } else if (H16.test(groups[i])) {
      count += 1;
    } else {
      return false;
    }
  }
  return halves.length === 2 ? count < 8 : count === 8;
}

/**
 * Splits `host[:port]` at the colon of the port, minding an IP-literal's
 * brackets: `"[::1]:80"` gives `["[::1]", "80"]`, `"example.com"` gives
 * `["example.com", undefined]`.
 */
export function splitHostPort(
  value: string,
): [host: string, port: string | undefined] {
  const colon = value.lastIndexOf(":");
  if (colon > value.lastIndexOf("]")) {
    return [value.slice(0, colon), value.slice(colon + 1)];
  }
  return [value, undefined];
}

/**
 * The host name in `host[:port]`, without the port and without an
 * IP-literal's brackets. A name with more than one colon and no brackets is
 * a bare IPv6 address (as Deno names a bound one), which has no port.
 */
export function hostNameOf(value: string): string {
  if (
    value.charCodeAt(0) !== 91 && value.indexOf(":") !== value.lastIndexOf(":")
  ) {
    return value;
  }
  const [host] = splitHostPort(value);
  return host.charCodeAt(0) === 91 && host.endsWith("]")
    ? host.slice(1, -1)
    : host;
}

/**
 * The URL a client uses to reach a listener: `http://127.0.0.1:8000/`,
 * an IPv6 address in brackets, `https` with TLS, `http+unix://` for a unix
 * socket.
 */
export function listenUrl(
  addr: Deno.NetAddr | Deno.UnixAddr,
  tls = false,
): string {
  if ("path" in addr) return `http+unix://${addr.path}`;
  const host = addr.hostname.includes(":")
    ? `[${addr.hostname}]`
    : addr.hostname;
  return `${tls ? "https" : "http"}://${host}:${addr.port}/`;
}
