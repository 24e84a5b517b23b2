/** parseHttpDate: the three forms of RFC 9110 5.6.7, and nothing else. */
import assert from "node:assert/strict";
import { parseHttpDate } from "../../_shared/http_date.ts";

/** RFC 9110's own example instant. */
const EXAMPLE = Date.UTC(1994, 10, 6, 8, 49, 37);

Deno.test("parseHttpDate() reads the three forms as the same instant, in UTC", () => {
  for (
    const value of [
      "Sun, 06 Nov 1994 08:49:37 GMT",
      "Sunday, 06-Nov-94 08:49:37 GMT",
      "Sun Nov  6 08:49:37 1994",
      "Sun Nov 06 08:49:37 1994",
    ]
  ) {
    assert.equal(parseHttpDate(value), EXAMPLE, value);
  }
  assert.equal(
    parseHttpDate("Sat, 29 Feb 2020 23:59:59 GMT"),
    Date.UTC(2020, 1, 29, 23, 59, 59),
  );
  // A leap second reads as the second after it.
  assert.equal(
    parseHttpDate("Sat, 31 Dec 2016 23:59:60 GMT"),
    Date.UTC(2017, 0, 1),
  );
  // Years below 100 stay what they say.
  assert.equal(
    parseHttpDate("Mon, 01 Jan 0001 00:00:00 GMT"),
    new Date("0001-01-01T00:00:00Z").getTime(),
  );
});

Deno.test("parseHttpDate() refuses anything that is not an HTTP-date", () => {
  for (
    const value of [
      "",
      "1994-11-06",
      "1994-11-06T08:49:37Z",
      "784111777",
      "Sun, 06 Nov 1994 08:49:37 UTC",
      "Sun, 06 Nov 1994 08:49:37 +0000",
      "Sun, 06 Nov 1994 08:49:37",
      "sun, 06 nov 1994 08:49:37 gmt",
      "Sun, 6 Nov 1994 08:49:37 GMT",
      "Sun,  06 Nov 1994 08:49:37 GMT",
      " Sun, 06 Nov 1994 08:49:37 GMT",
      "Sun, 06 Nov 94 08:49:37 GMT",
      "Sunday, 06 Nov 1994 08:49:37 GMT",
      "Sun, 06-Nov-94 08:49:37 GMT",
      "Sunday, 06-Nov-1994 08:49:37 GMT",
      "Sun Nov 6 08:49:37 1994",
      "Sun Nov  6 08:49:37 1994 GMT",
      "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 8:49:37 GMT",
      "Sun, 06 Nov 1994 24:00:00 GMT",
      "Sun, 06 Nov 1994 08:60:00 GMT",
      "Sun, 06 Nov 1994 08:49:61 GMT",
      "Sun, 00 Nov 1994 08:49:37 GMT",
      "Sun, 31 Nov 1994 08:49:37 GMT",
      "Sun, 29 Feb 2021 08:49:37 GMT",
      "Sun, 06 Nov 1994 08:49:37 GMT junk",
      "Xyz, 06 Nov 1994 08:49:37 GMT",
      "Sun, 06 Nvm 1994 08:49:37 GMT",
      "Sun, ٠٦ Nov 1994 08:49:37 GMT",
    ]
  ) {
    assert.equal(parseHttpDate(value), undefined, JSON.stringify(value));
  }
});

Deno.test("parseHttpDate() takes a two-digit year to be at most 50 years ahead", () => {
  const at = (year: number) => Date.UTC(year, 5, 1);
  const rfc850 = (yy: string) => `Monday, 01-Jun-${yy} 00:00:00 GMT`;
  const year = (value: number | undefined) => new Date(value!).getUTCFullYear();
  assert.equal(year(parseHttpDate(rfc850("94"), at(2026))), 1994);
  assert.equal(year(parseHttpDate(rfc850("76"), at(2026))), 2076);
  assert.equal(year(parseHttpDate(rfc850("77"), at(2026))), 1977);
  assert.equal(year(parseHttpDate(rfc850("30"), at(2026))), 2030);
  assert.equal(year(parseHttpDate(rfc850("05"), at(2060))), 2105);
  assert.equal(year(parseHttpDate(rfc850("20"), at(2090))), 2120);
  assert.equal(year(parseHttpDate(rfc850("40"), at(2090))), 2140);
  assert.equal(year(parseHttpDate(rfc850("41"), at(2090))), 2041);
});
