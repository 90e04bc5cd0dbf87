// Leaf times (docs/log-format.md): epoch milliseconds as `YYYY-MM-DDTHH:mm:ss.sssZ`, years 0000-9999,
// and the proleptic Gregorian arithmetic behind them (H. Hinnant's days_from_civil and civil_from_days),
// written by hand without Date: the sequencer formats two times per event (in its leaf), a verifier
// parses two, and an RFC 3339 reader can build on the same arithmetic.
/** The first and last instants a leaf time holds (years 0000 and 9999). */
export const MIN_TIME_MS = Date.parse('0000-01-01T00:00:00.000Z');
export const MAX_TIME_MS = Date.parse('9999-12-31T23:59:59.999Z');
const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Epoch ms → `YYYY-MM-DDTHH:mm:ss.sssZ`. Throws RangeError for non-integers and years outside 0000–9999. */
export function formatTime(ms: number): string {
  if (!Number.isInteger(ms)) throw new RangeError(`time must be an integer number of ms, got ${ms}`);
  if (ms < MIN_TIME_MS || ms > MAX_TIME_MS) throw new RangeError(`time ${ms} is outside years 0000-9999`);
  // Times of one batch fall within a few seconds: each second's `YYYY-MM-DDTHH:mm:ss.` is written once.
  const second = Math.floor(ms / 1000);
  const slot = second & (SECOND_SLOTS - 1);
  if (secondOf[slot] !== second) {
    secondOf[slot] = second;
    secondText[slot] = secondPrefix(second);
  }
  return `${secondText[slot]}${MILLIS[ms - second * 1000]}Z`;
}

const SECOND_SLOTS = 8;
const secondOf = new Array<number>(SECOND_SLOTS).fill(Number.NaN);
const secondText = new Array<string>(SECOND_SLOTS).fill('');
const MILLIS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
const TWO_DIGITS = MILLIS.slice(0, 60).map((m) => m.slice(1));

/**
 * `YYYY-MM-DDTHH:mm:ss.` of a second since the epoch in years 0000-9999, written by hand (H. Hinnant's
 * civil_from_days): times a few seconds apart each miss the cache above, and a Date's toISOString per
 * miss was most of a range-proof page's time formatting (an audit of events seconds apart).
 */
function secondPrefix(second: number): string {
  const days = Math.floor(second / 86_400);
  const inDay = second - days * 86_400;
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const hour = Math.floor(inDay / 3600);
  const minute = Math.floor(inDay / 60) - hour * 60;
  return (
    `${String(year).padStart(4, '0')}-${TWO_DIGITS[month]}-${TWO_DIGITS[day]}T` +
    `${TWO_DIGITS[hour]}:${TWO_DIGITS[minute]}:${TWO_DIGITS[inDay % 60]}.`
  );
}

/** Inverse of formatTime; throws RangeError unless `s` is exactly that format and a real instant. */
export function parseTime(s: string): number {
  // Read by hand, without Date: a verifier parses two times per event. TIME_RE fixes every digit's
  // place; the fields must name a real instant (what Date.parse and formatTime's round trip checked).
  if (typeof s !== 'string' || !TIME_RE.test(s)) throw notLeafTime(s);
  const ms = wholeSecondsAt(s);
  if (ms === null) throw notLeafTime(s);
  return ms + digits(s, 20, 3);
}

/**
 * Epoch ms of the `YYYY-MM-DDTHH:mm:ss` at the start of `s` (the caller has matched its 14 digits in
 * those places; the separators are not read), or null unless it names a real instant: a month of 1-12,
 * a day of that month, hours 0-23, minutes and seconds 0-59.
 */
export function wholeSecondsAt(s: string): number | null {
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 2);
  const day = digits(s, 8, 2);
  const hour = digits(s, 11, 2);
  const minute = digits(s, 14, 2);
  const second = digits(s, 17, 2);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59)
    return null;
  return daysFromCivil(year, month, day) * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000;
}

const notLeafTime = (s: unknown) => new RangeError(`not a leaf time: ${JSON.stringify(s)}`);

/** The decimal number of the `n` digits of `s` at `at` (TIME_RE checked they are digits). */
export function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) v = v * 10 + s.charCodeAt(i) - 48;
  return v;
}

export const isLeapYear = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
/** Days in month m (1-12) of year y. */
export const daysInMonth = (y: number, m: number) => (m === 2 && isLeapYear(y) ? 29 : DAYS_IN_MONTH[m - 1]!);

/** Days from 1970-01-01 to the proleptic Gregorian date y-m-d (H. Hinnant's days_from_civil). */
export function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}
