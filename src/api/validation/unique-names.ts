// RFC 7493 (I-JSON) §2.3, which RFC 8785's canonical form assumes: the members of an object have unique
// names. JSON.parse keeps the last value of a repeated name and drops the others without a word, so what
// would be stored and hashed is not what was sent, and a reader whose parser keeps the first value reads
// another event. A text in which an object repeats a name (as decoded: `"a"` and `"\u0061"` are one) is
// refused with BAD_USER_INPUT naming that object (`[0].payload`, `body` for the top level), rule
// `uniqueNames`, on every transport that takes JSON text (REST and GraphQL bodies, WebSocket messages,
// an SSE request's variables); a GraphQL document's literals are checked by graphql-js's
// UniqueInputFieldNames rule.
//
// The check after the parse is two counts: the names in the text and the members of the parsed value.
// They are equal exactly when no object repeats a name, so the common text is never tokenized; only a
// text that does repeat one is walked (json-scan.ts) to name the object.
import { ApiError } from '../errors.js';
import { scanJson } from './json-scan.js';

export const repeatedName = (field: string, name: string) =>
  new ApiError(
    'BAD_USER_INPUT',
    `${field || 'body'}: holds the member name ${JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}...` : name)} more than once (RFC 7493 I-JSON: an object's member names are unique; parsers differ on which value such an object holds)`,
    { field: field || 'body', rule: 'uniqueNames' },
  );

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const isWhiteSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

/**
 * How many member names a JSON text holds: its strings that white space and a colon follow. The text may
 * be the UTF-8 bytes read as latin1: quotes, backslashes, colons and white space are ASCII, and no byte of
 * a multi-byte UTF-8 sequence is, so the count is the same.
 */
export function countNames(text: string): number {
  let names = 0;
  const n = text.length;
  let i = 0;
  while (i < n) {
    if (text.charCodeAt(i) !== QUOTE) {
      i++;
      continue;
    }
    // The string's closing quote: the next quote after an even number of backslashes.
    let close = text.indexOf('"', i + 1);
    for (;;) {
      if (close === -1) return names; // not JSON: the parser says so
      let b = close - 1;
      while (text.charCodeAt(b) === BACKSLASH) b--;
      if ((close - 1 - b) % 2 === 0) break;
      close = text.indexOf('"', close + 1);
    }
    i = close + 1;
    while (i < n && isWhiteSpace(text.charCodeAt(i))) i++;
    if (text.charCodeAt(i) === COLON) names++;
  }
  return names;
}

/** How many members the objects of a parsed JSON value hold, at every depth (without recursion: a body may nest deeply). */
export function countMembers(value: unknown): number {
  let members = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v !== 'object' || v === null) continue;
    if (Array.isArray(v)) {
      for (const item of v) if (typeof item === 'object' && item !== null) stack.push(item);
      continue;
    }
    for (const key in v) {
      members++;
      const item = (v as Record<string, unknown>)[key];
      if (typeof item === 'object' && item !== null) stack.push(item);
    }
  }
  return members;
}

/**
 * The first object of a JSON text that repeats a member name, with its path and the name; undefined
 * when none does, or when the text is not JSON (the parser reports that). `parsed`: the text as
 * JSON.parse returned it, when the caller has parsed it; `text` may be the UTF-8 bytes.
 */
export function findRepeatedName(text: string | Buffer, parsed?: unknown): { field: string; name: string } | undefined {
  if (parsed === undefined) {
    try {
      parsed = JSON.parse(typeof text === 'string' ? text : text.toString('utf8'));
    } catch {
      return undefined;
    }
  }
  if (countNames(typeof text === 'string' ? text : text.toString('latin1')) === countMembers(parsed)) return undefined;
  const found = scanJson(typeof text === 'string' ? text : text.toString('utf8'), { names: true });
  return found && 'name' in found ? found : undefined;
}

/** Throws BAD_USER_INPUT (rule `uniqueNames`) when an object of the parsed JSON text repeats a member name. */
export function verifyUniqueNames(text: string | Buffer, parsed: unknown): void {
  const repeated = findRepeatedName(text, parsed);
  if (repeated) throw repeatedName(repeated.field, repeated.name);
}
