// RFC 3339 date-times to epoch milliseconds, strictly: Date.parse accepts far more than RFC 3339. The one
// parser of timestamps for REST and GraphQL (the DateTime scalar) alike. RFC 3339's note that a space may
// replace the T is not its grammar, and is not accepted. The log keeps milliseconds (the leaf's form,
// docs/log-format.md), so a fraction with a non-zero digit below the millisecond is refused rather than
// cut: what is stored and hashed is the instant that was sent, or nothing. Zeros after the third digit
// (`.120000`) and an offset (`+01:00`) name the same instant and are accepted.
//
// Both directions use the leaf times' arithmetic (src/core/time.ts), with no Date object: every event
// parses one timestamp and its answer formats two, and Date's setters and toISOString cost about three
// times as much (docs/performance.md, "Single events: timestamps, answers and headers without waste").
import { digits, formatTime, MAX_TIME_MS, MIN_TIME_MS, wholeSecondsAt } from '../../core/time.js';

// The date and time digits are read in place (wholeSecondsAt); only the fraction and the offset are captured.
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;
/** A fraction (with its dot) whose digits after the third are zeros. */
const SUB_MILLISECOND_ZEROS = /^\.\d{3}0*$/;

/** Epoch ms of an RFC 3339 date-time at most millisecond-precise, or null if it is not one. */
export function parseRfc3339(text: string): number | null {
  const m = RFC3339.exec(text);
  if (m === null) return null;
  // Leap seconds (60) cannot be represented by the log's millisecond timestamps: not a real instant here.
  const seconds = wholeSecondsAt(text);
  if (seconds === null) return null;
  // m[1] is the fraction with its dot: its first three digits are the milliseconds, any others zeros.
  const fraction = m[1];
  if (fraction !== undefined && fraction.length > 4 && !SUB_MILLISECOND_ZEROS.test(fraction)) return null;
  const millis =
    fraction === undefined
      ? 0
      : fraction.length >= 4
        ? digits(fraction, 1, 3)
        : digits(fraction, 1, fraction.length - 1) * (fraction.length === 2 ? 100 : 10);
  let offsetMinutes = 0;
  if (m[2] !== undefined) {
    const oh = digits(m[3]!, 0, 2);
    const om = digits(m[4]!, 0, 2);
    if (oh > 23 || om > 59) return null;
    offsetMinutes = (m[2] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  return seconds - offsetMinutes * 60_000 + millis;
}

/** The form the log serves and hashes: YYYY-MM-DDTHH:mm:ss.sssZ, as Date's toISOString writes it. */
export function formatTimestamp(ms: number): string {
  // Outside years 0000-9999 (and for a fraction or NaN), Date's own form, e.g. +010000-01-01T00:00:00.000Z.
  return Number.isInteger(ms) && ms >= MIN_TIME_MS && ms <= MAX_TIME_MS ? formatTime(ms) : new Date(ms).toISOString();
}
