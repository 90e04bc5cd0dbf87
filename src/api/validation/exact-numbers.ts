// RFC 7493 (I-JSON) numbers: what is hashed must be what the client sent, so a JSON number that an IEEE
// 754 double does not keep (9007199254740993 becomes ...992, 1e-400 becomes 0, 1e400 is not finite, -0
// becomes 0 in the RFC 8785 text) is refused with BAD_USER_INPUT naming its field, rule `exactNumber`.
// JSON.parse has already rounded, so the check reads the raw text (REST and GraphQL bodies, WebSocket
// messages) or the literal's source (GraphQL documents).
import { ApiError } from '../errors.js';
import { scanJson } from './json-scan.js';

/** sign, significant digits (no leading or trailing zeros) and exponent: the value is 0.digits × 10^exp. */
function decimal(token: string): { negative: boolean; digits: string; exp: number } {
  const m = /^(-?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(token)!;
  const whole = m[2] ?? '';
  let digits = whole + (m[3] ?? '');
  let exp = Number(m[4] ?? 0) + whole.length;
  const lead = /^0*/.exec(digits)![0].length;
  digits = digits.slice(lead).replace(/0+$/, '');
  exp -= lead;
  return { negative: m[1] === '-', digits, exp: digits === '' ? 0 : exp };
}

const SHORT_PLAIN = /^(?:-?[1-9]\d*(?:\.\d*)?|-?0\.\d*[1-9]\d*|0(?:\.\d*)?)$/;

/** Whether a JSON number token is exactly the shortest decimal of the double it parses to (and not -0). */
export function keptExactly(token: string): boolean {
  // Up to 15 digits, no exponent, not a minus zero: a double keeps it exactly (the common case).
  if (token.length <= 15 && SHORT_PLAIN.test(token)) return true;
  const n = Number(token);
  if (!Number.isFinite(n) || Object.is(n, -0)) return false;
  const sent = decimal(token);
  if (sent.digits === '') return !sent.negative;
  const kept = decimal(String(n));
  return sent.negative === kept.negative && sent.digits === kept.digits && sent.exp === kept.exp;
}

export const inexactNumber = (field: string, token: string) =>
  new ApiError(
    'BAD_USER_INPUT',
    `${field || 'body'}: ${token.length > 40 ? `${token.slice(0, 40)}...` : token} is not kept exactly by a JSON number (RFC 7493 I-JSON: an IEEE 754 double, not -0); send it as a string`,
    { field: field || 'body', rule: 'exactNumber' },
  );

/**
 * Any cheap sign that a text may hold a number worth a closer look. A number token follows `:`, `,` or
 * `[` (and white space); one is worth a look if it has 16 digits with at most a decimal point among
 * them (a double keeps every decimal of up to 15 significant digits), an exponent, or is a minus zero.
 * Text inside strings (dates, hex ids such as "3e5a") is no such sign, so the common body is not
 * tokenized at all.
 */
const MAYBE = /[:,[]\s*(?:-?\d(?:\.?\d){15}|-?[\d.]+[eE]|-0(?![1-9]))/;

/**
 * The first number of a JSON text that is not kept exactly, with its field path (`[0].payload.amount`);
 * undefined when every number is kept, or when the text stops being JSON (the parser reports that).
 */
export function findInexactNumber(text: string): { field: string; token: string } | undefined {
  if (!MAYBE.test(text)) return undefined;
  const found = scanJson(text, { numbers: keptExactly });
  return found && 'token' in found ? found : undefined;
}

/** For express.json's `verify`: throws BAD_USER_INPUT for a body with a number that is not kept exactly. */
export function verifyExactNumbers(_req: unknown, _res: unknown, buf: Buffer): void {
  // latin1 is a cheap, exact view of the ASCII the first look reads; UTF-8 only when it finds something.
  if (!MAYBE.test(buf.toString('latin1'))) return;
  verifyExactNumbersText(buf.toString('utf8'));
}

/**
 * verifyExactNumbers on the body's text (decoded as UTF-8), for a caller that decodes it anyway. The
 * first look reads only ASCII (a number and the punctuation before it), which the text holds as the
 * bytes do, so it finds what it finds in the bytes.
 */
export function verifyExactNumbersText(text: string): void {
  if (!MAYBE.test(text)) return;
  const bad = findInexactNumber(text);
  if (bad) throw inexactNumber(bad.field, bad.token);
}
