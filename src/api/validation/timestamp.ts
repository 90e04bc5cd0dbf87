// RFC 3339 date-times to epoch milliseconds, strictly: Date.parse accepts far more than RFC 3339. The one
// parser of timestamps for REST and GraphQL (the DateTime scalar) alike. RFC 3339's note that a space may
// replace the T is not its grammar, and is not accepted.
//
// Both directions use the leaf times' arithmetic (src/core/time.ts), with no Date object: every event
// parses one timestamp and its answer formats two, and Date's setters and toISOString cost about three
// times as much (docs/performance.md, "Single-event requests beside Tessera").
import { daysFromCivil, daysInMonth, digits, formatTime, MAX_TIME_MS, MIN_TIME_MS } from '../../core/time.js';

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|([+-])(\d{2}):(\d{2}))$/;

/** Epoch ms of an RFC 3339 date-time (sub-millisecond digits truncated), or null if it is not one. */
export function parseRfc3339(text: string): number | null {
  const m = RFC3339.exec(text);
  if (m === null) return null;
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  const hour = digits(text, 11, 2);
  const minute = digits(text, 14, 2);
  const second = digits(text, 17, 2);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  // Leap seconds (60) cannot be represented by the log's millisecond timestamps.
  if (hour > 23 || minute > 59 || second > 59) return null;
  // m[7] is the fraction with its dot: its first three digits are the milliseconds.
  const fraction = m[7];
  const millis =
    fraction === undefined
      ? 0
      : fraction.length >= 4
        ? digits(fraction, 1, 3)
        : digits(fraction, 1, fraction.length - 1) * (fraction.length === 2 ? 100 : 10);
  let offsetMinutes = 0;
  if (m[9] !== undefined) {
    const oh = digits(m[10]!, 0, 2);
    const om = digits(m[11]!, 0, 2);
    if (oh > 23 || om > 59) return null;
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  return (((daysFromCivil(year, month, day) * 24 + hour) * 60 + minute - offsetMinutes) * 60 + second) * 1000 + millis;
}

/** The form the log serves and hashes: YYYY-MM-DDTHH:mm:ss.sssZ, as Date's toISOString writes it. */
export function formatTimestamp(ms: number): string {
  // Outside years 0000-9999 (and for a fraction or NaN), Date's own form, e.g. +010000-01-01T00:00:00.000Z.
  return Number.isInteger(ms) && ms >= MIN_TIME_MS && ms <= MAX_TIME_MS ? formatTime(ms) : new Date(ms).toISOString();
}
