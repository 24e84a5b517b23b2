/**
 * HTTP-dates (RFC 9110 5.6.7), read exactly: `Date.parse` is no HTTP
 * parser. It reads the asctime form in the process's local time zone, and
 * it takes ISO dates and other forms that a recipient must ignore.
 *
 * @module
 */

const DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
const LONG_DAY = "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)";
const MONTHS = "JanFebMarAprMayJunJulAugSepOctNovDec";
const MONTH = "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)";
const TIME = "(\\d\\d):(\\d\\d):(\\d\\d)";

// Case-sensitive, single spaces, "GMT": the grammar's %s strings.
/** IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`. */
const IMF_FIXDATE = new RegExp(
  `^${DAY}, (\\d\\d) ${MONTH} (\\d{4}) ${TIME} GMT$`,
);
/** The obsolete RFC 850 form: `Sunday, 06-Nov-94 08:49:37 GMT`. */
const RFC_850 = new RegExp(
  `^${LONG_DAY}, (\\d\\d)-${MONTH}-(\\d\\d) ${TIME} GMT$`,
);
/** ANSI C's asctime() form: `Sun Nov  6 08:49:37 1994`. */
const ASCTIME = new RegExp(`^${DAY} ${MONTH} ( \\d|\\d\\d) ${TIME} (\\d{4})$`);

/**
 * Reads an HTTP-date in any of its three forms, always as UTC, and returns
 * it in milliseconds since the epoch; anything else, including a day or a
 * time that does not exist, is undefined. The day name is not checked
 * against the date, as in nginx and Python's `email.utils`.
 *
 * @param value A field value, such as `If-Modified-Since`'s.
 * @param now The current time, for the two-digit years of RFC 850 dates.
 */
export function parseHttpDate(
  value: string,
  now: number = Date.now(),
): number | undefined {
  let day: string, month: string, year: number, time: string[];
  let match = IMF_FIXDATE.exec(value);
  if (match !== null) {
    [, day, month] = match;
    year = Number(match[3]);
    time = match.slice(4);
  } else if ((match = RFC_850.exec(value)) !== null) {
    [, day, month] = match;
    year = fullYear(Number(match[3]), new Date(now).getUTCFullYear());
    time = match.slice(4);
  } else if ((match = ASCTIME.exec(value)) !== null) {
    [, month, day] = match;
    year = Number(match[6]);
    time = match.slice(3, 6);
  } else {
    return undefined;
  }
  const [hour, minute, second] = time.map(Number);
  const monthIndex = MONTHS.indexOf(month) / 3;
  const date = Number(day);
  // Second 60 is a leap second (RFC 5322 3.3): it reads as the next one.
  if (hour > 23 || minute > 59 || second > 60 || date < 1) return undefined;
  const result = new Date(0);
  // setUTCFullYear, unlike Date.UTC, leaves years below 100 as they are.
  result.setUTCFullYear(year, monthIndex + 1, 0);
  if (date > result.getUTCDate()) return undefined;
  result.setUTCFullYear(year, monthIndex, date);
  result.setUTCHours(hour, minute, second);
  return result.getTime();
}

/**
 * A two-digit year in full: "a timestamp that appears to be more than 50
 * years in the future" is "the most recent year in the past that had the
 * same last two digits" (RFC 9110 5.6.7).
 */
function fullYear(twoDigits: number, thisYear: number): number {
  const year = thisYear - (thisYear % 100) + twoDigits;
  if (year > thisYear + 50) return year - 100;
  if (year + 100 <= thisYear + 50) return year + 100;
  return year;
}
