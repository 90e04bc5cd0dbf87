// RFC 8785 (JSON Canonicalization Scheme) serialization, fast for plain JSON data.
//
// RFC 8785 is ECMAScript's JSON.stringify with object members sorted by their names' UTF-16 code
// units (and no lone surrogates). For plain data (strings, finite numbers, booleans, null, arrays and
// plain objects, as JSON.parse makes them) this writes that directly, with the native serializer
// for every string and number; anything else (toJSON, undefined members, class instances, cycles,
// very deep nesting) goes to the `canonicalize` package, the reference this is tested against.
import canonicalize from 'canonicalize';

/** Past this nesting, the reference implementation (with its cycle detection) takes over. */
const MAX_FAST_DEPTH = 256;

/** What JSON.stringify would escape, and surrogates. */
const NEEDS_CARE = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * No UTF-16 surrogate without its pair (RFC 8785 §3.2.2.2 cannot encode one): String#isWellFormed
 * (ES2024; Node 20, current browsers).
 */
export const isWellFormed = (s: string): boolean => (s as string & { isWellFormed(): boolean }).isWellFormed();

/** A JSON string literal; throws like the reference on a lone surrogate. */
export function canonicalString(s: string): string {
  if (!NEEDS_CARE.test(s)) return `"${s}"`;
  const json = JSON.stringify(s);
  // JSON.stringify writes a lone surrogate as a \udXXX escape and never escapes a well-formed one,
  // so a string without that text in its literal is well-formed (the check below is exact).
  if (json.includes('\\ud') && !isWellFormed(s)) throw new Error('Lone surrogate is not allowed');
  return json;
}

/** Names in UTF-16 code unit order, as Array.prototype.sort without a comparator and `<` order them. */
function sortKeys(keys: string[]): string[] {
  if (keys.length > 12) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i]!;
    let j = i - 1;
    while (j >= 0 && keys[j]! > k) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = k;
  }
  return keys;
}

/**
 * canonicalString for texts that repeat (member names, event types, log names): each literal is
 * remembered, at most `maxEntries` of them and only texts of at most `maxLength` characters, so the
 * memory stays bounded whatever the input; a text not remembered is escaped each time.
 */
export function rememberedStrings(maxEntries: number, maxLength: number): (s: string) => string {
  const literals = new Map<string, string>();
  return (s) => {
    let json = literals.get(s);
    if (json === undefined) {
      json = canonicalString(s);
      if (literals.size < maxEntries && s.length <= maxLength) literals.set(s, json);
    }
    return json;
  };
}

/** Member names repeat from one payload to the next. */
const memberName = rememberedStrings(4096, 64);

/** undefined: not plain data (or nested deeper than `limit`), let the reference decide. */
function write(v: unknown, depth: number, limit: number): string | undefined {
  switch (typeof v) {
    case 'string':
      return canonicalString(v);
    case 'number':
      if (Number.isNaN(v)) throw new Error('NaN is not allowed');
      if (!Number.isFinite(v)) throw new Error('Infinity is not allowed');
      return String(v); // ECMAScript Number::toString, as JSON.stringify and RFC 8785 §3.2.2.3 write finite numbers
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object': {
      if (v === null) return 'null';
      if (depth > limit) return undefined;
      if (Array.isArray(v)) {
        if (Object.getPrototypeOf(v) !== Array.prototype) return undefined;
        let out = '[';
        for (let i = 0; i < v.length; i++) {
          const item = write(v[i], depth + 1, limit);
          if (item === undefined) return undefined;
          out += i === 0 ? item : `,${item}`;
        }
        return `${out}]`;
      }
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) return undefined;
      const o = v as Record<string, unknown>;
      if (typeof o.toJSON === 'function') return undefined;
      const keys = sortKeys(Object.keys(o));
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!;
        const item = write(o[key], depth + 1, limit);
        if (item === undefined) return undefined;
        out += `${i === 0 ? '' : ','}${memberName(key)}:${item}`;
      }
      return `${out}}`;
    }
    default:
      return undefined;
  }
}

/**
 * The RFC 8785 serialization of `value`, byte-identical to `canonicalize(value)`. Throws on what RFC
 * 8785 cannot encode (NaN, infinities, lone surrogates) and when nothing serializes (undefined).
 */
export function canonicalJson(value: unknown): string {
  const fast = write(value, 0, MAX_FAST_DEPTH);
  if (fast !== undefined) return fast;
  const json = canonicalize(value);
  if (json === undefined) throw new TypeError('value did not serialize to JSON');
  return json;
}

/**
 * canonicalJson of plain JSON data (as JSON.parse makes it) whose arrays and objects nest at most
 * `maxDepth` levels (the value itself is level 1), or undefined for anything else. Throws as
 * canonicalJson does on what RFC 8785 cannot encode.
 */
export function plainCanonicalJson(value: unknown, maxDepth: number): string | undefined {
  return write(value, 1, Math.min(maxDepth, MAX_FAST_DEPTH));
}
