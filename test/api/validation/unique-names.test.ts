// The unique-name rule (RFC 7493 I-JSON §2.3) against texts built by an independent writer: JSON values
// from fast-check written with random white space and name escapes, with or without a member whose name
// repeats one of its object's (the object's path is known by construction). The count shortcut never
// changes the verdict, and the scan names the object.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countMembers, countNames, findRepeatedName, verifyUniqueNames } from '../../../src/api/validation/unique-names.js';
import { fieldPath } from '../../../src/api/validation/issues.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** A name's JSON string, some characters written as \u escapes (JSON.parse reads them as the same name). */
function nameText(name: string, escapeMask: number): string {
  let out = '"';
  for (let i = 0; i < name.length; i++) {
    const c = name[i]!;
    const plain = JSON.stringify(c).slice(1, -1);
    out += (escapeMask >> (i % 30)) & 1 ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}` : plain;
  }
  return `${out}"`;
}

interface Writer {
  ws: () => string;
  escapeMask: number;
  /** Where to add a repeated name: the n-th object (in writing order) of those that have a member. */
  repeatAt: number | null;
}

/** Writes `v`; returns its text and, when a name was repeated, the path of that object and the name. */
function write(v: Json, w: Writer): { text: string; repeated?: { field: string; name: string } } {
  let objects = 0;
  let repeated: { field: string; name: string } | undefined;
  const go = (x: Json, path: Array<string | number>): string => {
    if (x === null || typeof x !== 'object') return JSON.stringify(x);
    if (Array.isArray(x)) return `[${w.ws()}${x.map((item, i) => go(item, [...path, i])).join(`${w.ws()},${w.ws()}`)}${w.ws()}]`;
    const keys = Object.keys(x);
    const members = keys.map((k) => `${nameText(k, w.escapeMask)}${w.ws()}:${w.ws()}${go(x[k]!, [...path, k])}`);
    if (keys.length > 0 && objects++ === w.repeatAt && !repeated) {
      const name = keys[0]!;
      repeated = { field: fieldPath(path), name };
      // The repeat goes last, with its own escapes: the parser keeps it and drops the first.
      members.push(`${nameText(name, ~w.escapeMask)}${w.ws()}:${w.ws()}"again"`);
    }
    return `{${w.ws()}${members.join(`${w.ws()},${w.ws()}`)}${w.ws()}}`;
  };
  const text = go(v, []);
  return repeated ? { text, repeated } : { text };
}

const whiteSpace = fc.array(fc.constantFrom(' ', '\t', '\n', '\r'), { maxLength: 2 }).map((a) => a.join(''));
const value = fc.jsonValue({ maxDepth: 5 }) as fc.Arbitrary<Json>;
const written = fc
  .record({
    v: value,
    spaces: fc.array(whiteSpace, { minLength: 1, maxLength: 8 }),
    escapeMask: fc.integer({ min: 0, max: 2 ** 30 - 1 }),
    repeatAt: fc.option(fc.nat({ max: 6 }), { nil: null }),
  })
  .map(({ v, spaces, escapeMask, repeatAt }) => {
    let i = 0;
    return { v, ...write(v, { ws: () => spaces[i++ % spaces.length]!, escapeMask, repeatAt }) };
  });

describe('the unique-name rule', () => {
  it('finds a repeated name exactly when the writer put one, and names its object', () => {
    fc.assert(
      fc.property(written, ({ v, text, repeated }) => {
        const parsed: unknown = JSON.parse(text);
        if (repeated) expect(findRepeatedName(text, parsed)).toEqual(repeated);
        else {
          expect(parsed).toEqual(JSON.parse(JSON.stringify(v)));
          expect(countNames(text)).toBe(countMembers(parsed));
          expect(findRepeatedName(text, parsed)).toBeUndefined();
        }
        // The same verdict from the UTF-8 bytes, and without a parsed value (WebSocket messages).
        expect(findRepeatedName(Buffer.from(text, 'utf8'), parsed)).toEqual(repeated);
        expect(findRepeatedName(text)).toEqual(repeated);
      }),
      { numRuns: 2000 },
    );
  });

  it('counts names, not strings: values with quotes, colons and backslashes, white space before a colon', () => {
    const text = '{"a":"x\\":y","b\\\\":"\\\\","c" :\n{"d":["e:",":"]},"f":"\\"\\\\\\"k\\":"}';
    expect(JSON.parse(text)).toEqual({ a: 'x":y', 'b\\': '\\', c: { d: ['e:', ':'] }, f: '"\\"k":' });
    expect(countNames(text)).toBe(5);
    expect(findRepeatedName(text, JSON.parse(text))).toBeUndefined();
  });

  it('treats a name and its escaped spelling as one name, and __proto__ as a name like any other', () => {
    expect(findRepeatedName('{"payload":{"ab":1,"a\\u0062":2}}')).toEqual({ field: 'payload', name: 'ab' });
    expect(findRepeatedName('[{"__proto__":1,"__proto__":{}}]')).toEqual({ field: '[0]', name: '__proto__' });
    expect(findRepeatedName('{"__proto__":{"x":1}}')).toBeUndefined();
  });

  it('refuses with BAD_USER_INPUT naming the object (body for the top level), rule uniqueNames', () => {
    const refusal = (text: string) => {
      try {
        verifyUniqueNames(text, JSON.parse(text));
      } catch (err) {
        return { message: (err as Error).message, ...(err as { extensions: object }).extensions };
      }
      return null;
    };
    expect(refusal('{"eventType":"a","eventType":"b"}')).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'body',
      rule: 'uniqueNames',
    });
    expect(refusal('[{"payload":{"items":[{},{"n":1,"n":1}]}}]')).toMatchObject({
      field: '[0].payload.items[1]',
      message: expect.stringContaining('"n" more than once'),
    });
    expect(refusal('{"a":{"a":1},"b":{"a":1}}')).toBeNull();
  });

  it('counts the members of a deeply nested value without recursion', () => {
    const depth = 200_000;
    const text = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    const parsed: unknown = JSON.parse(text);
    expect(countMembers(parsed)).toBe(depth);
    expect(countNames(text)).toBe(depth);
    expect(findRepeatedName(text, parsed)).toBeUndefined();
  });

  it('leaves a text that is not JSON to the parser', () => {
    expect(findRepeatedName('{"a":1,"a":')).toBeUndefined();
    expect(countNames('{"a":"unterminated')).toBe(1);
  });
});
