// Payload rules: a JSON object of finite numbers and well-formed strings, bounded in depth and canonical size.
import { canonicalJson, isWellFormed, plainCanonicalJson } from '../../core/canonical-json.js';
import type { JsonObject } from '../../storage/types.js';

export interface PayloadLimits {
  maxPayloadBytes: number;
  maxPayloadDepth: number;
}

export interface PayloadProblem {
  rule: 'type' | 'finite' | 'unicode' | 'maxDepth' | 'maxBytes';
  message: string;
}

const hasLoneSurrogate = (s: string) => !isWellFormed(s);

const isPlainObject = (v: object) => {
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

/**
 * UTF-8 size of the payload's RFC 8785 form: what the leaf will hold. RFC 8785 is JSON.stringify with
 * sorted keys (same string escapes, same number forms, no whitespace), so for the plain, finite,
 * well-formed objects checkPayload admits the native serializer gives the same length without sorting.
 */
export const canonicalPayloadBytes = (payload: JsonObject): number => Buffer.byteLength(JSON.stringify(payload), 'utf8');

/** Where a rule broke: the keys from the payload down, spelled out only for the message. */
interface Broken {
  rule: PayloadProblem['rule'];
  /** The message, given the value's path. */
  says: (path: string) => string;
  keys: Array<string | number>;
}

function pathOf(keys: ReadonlyArray<string | number>): string {
  let path = 'payload';
  for (const key of keys) path += typeof key === 'number' ? `[${key}]` : `.${key}`;
  return path;
}

/**
 * Most UTF-8 bytes a number can take in JSON (25, e.g. -0.0000012345678901234567; rounded up), and a string per UTF-16
 * unit (a control character is escaped as \u00XX).
 */
const MAX_NUMBER_BYTES = 32;
const MAX_BYTES_PER_UNIT = 6;

/** Bounds of the payload's canonical size, summed as the walk goes. */
interface Sizes {
  min: number;
  max: number;
}

const broken = (rule: Broken['rule'], says: Broken['says']): Broken => ({ rule, says, keys: [] });

/**
 * Checks one value, depth first. Recursion is bounded: nothing deeper than maxPayloadDepth (at most 64,
 * see config) is entered, so hostile nesting cannot overflow the stack.
 */
function walk(value: unknown, depth: number, limits: PayloadLimits, sizes: Sizes): Broken | null {
  if (typeof value === 'string') {
    if (hasLoneSurrogate(value)) return broken('unicode', (at) => `${at} holds a lone UTF-16 surrogate`);
    sizes.min += value.length + 2;
    sizes.max += value.length * MAX_BYTES_PER_UNIT + 2;
  } else if (typeof value === 'number') {
    if (!Number.isFinite(value)) return broken('finite', (at) => `${at} must be a finite number`);
    sizes.min += 1;
    sizes.max += MAX_NUMBER_BYTES;
  } else if (value === null || typeof value === 'boolean') {
    sizes.min += 4;
    sizes.max += 5;
  } else if (typeof value === 'object' && (Array.isArray(value) || isPlainObject(value))) {
    if (depth > limits.maxPayloadDepth) {
      return broken('maxDepth', (at) => `${at} is nested deeper than ${limits.maxPayloadDepth} levels`);
    }
    sizes.min += 2;
    sizes.max += 2;
    if (Array.isArray(value)) {
      sizes.max += value.length; // commas
      for (let i = 0; i < value.length; i++) {
        const b = walk(value[i], depth + 1, limits, sizes);
        if (b) {
          b.keys.unshift(i);
          return b;
        }
        if (sizes.min > limits.maxPayloadBytes) return null;
      }
    } else {
      const o = value as Record<string, unknown>;
      for (const key of Object.keys(o)) {
        if (hasLoneSurrogate(key)) return broken('unicode', (at) => `a key in ${at} holds a lone UTF-16 surrogate`);
        sizes.min += key.length + 3;
        sizes.max += key.length * MAX_BYTES_PER_UNIT + 4; // quotes, colon, comma
        const b = walk(o[key], depth + 1, limits, sizes);
        if (b) {
          b.keys.unshift(key);
          return b;
        }
        if (sizes.min > limits.maxPayloadBytes) return null;
      }
    }
  } else {
    return broken('type', (at) => `${at} must hold only JSON values`);
  }
  return null;
}

/** The first rule the payload breaks, or null. */
export function checkPayload(payload: unknown, limits: PayloadLimits): PayloadProblem | null {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload) || !isPlainObject(payload)) {
    return { rule: 'type', message: 'must be a JSON object' };
  }
  // Bounds of the canonical size: a lower one (UTF-16 units never exceed UTF-8 bytes) lets huge input
  // stop the walk early; when the upper one fits, the exact size need not be computed.
  const sizes: Sizes = { min: 0, max: 0 };
  const b = walk(payload, 1, limits, sizes);
  if (b) return { rule: b.rule, message: b.says(pathOf(b.keys)) };
  if (sizes.min > limits.maxPayloadBytes) return tooLarge(limits);
  if (sizes.max > limits.maxPayloadBytes && canonicalPayloadBytes(payload as JsonObject) > limits.maxPayloadBytes)
    return tooLarge(limits);
  return null;
}

const tooLarge = (limits: PayloadLimits): PayloadProblem => ({
  rule: 'maxBytes',
  message: `must be at most ${limits.maxPayloadBytes} bytes in canonical JSON (RFC 8785, UTF-8)`,
});

/**
 * The payload's RFC 8785 text (what the leaf and the store hold) if it keeps every rule, else the
 * first rule it breaks, as checkPayload names it. A payload that keeps them is walked once: the
 * canonical writer checks types, numbers, strings and depth as it writes.
 */
export function canonicalPayload(payload: unknown, limits: PayloadLimits): { text: string } | { problem: PayloadProblem } {
  if (payload !== null && typeof payload === 'object' && !Array.isArray(payload) && isPlainObject(payload)) {
    let text: string | undefined;
    try {
      text = plainCanonicalJson(payload, limits.maxPayloadDepth);
    } catch {
      // a rule is broken: checkPayload says which
    }
    if (text !== undefined) {
      return Buffer.byteLength(text, 'utf8') > limits.maxPayloadBytes ? { problem: tooLarge(limits) } : { text };
    }
  }
  const problem = checkPayload(payload, limits);
  return problem ? { problem } : { text: canonicalJson(payload) };
}
