// Payload rules: a JSON object of finite numbers and well-formed strings, bounded in depth and canonical size.
import canonicalize from 'canonicalize';
import type { JsonObject } from '../../storage/types.js';

export interface PayloadLimits {
  maxPayloadBytes: number;
  maxPayloadDepth: number;
}

export interface PayloadProblem {
  rule: 'type' | 'finite' | 'unicode' | 'maxDepth' | 'maxBytes';
  message: string;
}

const SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const hasLoneSurrogate = (s: string) => SURROGATE.test(s) && LONE_SURROGATE.test(s);

const isPlainObject = (v: object) => {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

/**
 * UTF-8 size of the payload's RFC 8785 form: what the leaf will hold. RFC 8785 is JSON.stringify with
 * sorted keys (same string escapes, same number forms, no whitespace), so for the plain, finite,
 * well-formed objects checkPayload admits the native serializer gives the same length, much faster.
 */
export const canonicalPayloadBytes = (payload: JsonObject): number => Buffer.byteLength(JSON.stringify(payload), 'utf8');

/** The reference the fast size is tested against. */
export const canonicalPayloadBytesReference = (payload: JsonObject): number =>
  Buffer.byteLength(canonicalize(payload) ?? '', 'utf8');

/** A value still to check; its path is only spelled out for the message if it breaks a rule. */
interface Pending {
  value: unknown;
  depth: number;
  parent: Pending | null;
  key: string | number;
}

function pathOf(p: Pending): string {
  let path = '';
  for (let at: Pending | null = p; at !== null; at = at.parent) {
    path = at.parent === null ? `payload${path}` : typeof at.key === 'number' ? `[${at.key}]${path}` : `.${at.key}${path}`;
  }
  return path;
}

/**
 * Most UTF-8 bytes a number can take in JSON (25, e.g. -0.0000012345678901234567; rounded up), and a string per UTF-16
 * unit (a control character is escaped as \u00XX).
 */
const MAX_NUMBER_BYTES = 32;
const MAX_BYTES_PER_UNIT = 6;

/** The first rule the payload breaks, or null. Iterative, so hostile nesting cannot overflow the stack. */
export function checkPayload(payload: unknown, limits: PayloadLimits): PayloadProblem | null {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload) || !isPlainObject(payload)) {
    return { rule: 'type', message: 'must be a JSON object' };
  }
  // Bounds of the canonical size: a lower one (UTF-16 units never exceed UTF-8 bytes) lets huge input
  // fail fast; when the upper one fits, the exact size need not be computed.
  let minBytes = 0;
  let maxBytes = 0;
  const stack: Pending[] = [{ value: payload, depth: 1, parent: null, key: '' }];
  while (stack.length > 0) {
    const at = stack.pop()!;
    const value = at.value;
    if (typeof value === 'string') {
      if (hasLoneSurrogate(value)) return { rule: 'unicode', message: `${pathOf(at)} holds a lone UTF-16 surrogate` };
      minBytes += value.length + 2;
      maxBytes += value.length * MAX_BYTES_PER_UNIT + 2;
    } else if (typeof value === 'number') {
      if (!Number.isFinite(value)) return { rule: 'finite', message: `${pathOf(at)} must be a finite number` };
      minBytes += 1;
      maxBytes += MAX_NUMBER_BYTES;
    } else if (value === null || typeof value === 'boolean') {
      minBytes += 4;
      maxBytes += 5;
    } else if (typeof value === 'object' && (Array.isArray(value) || isPlainObject(value))) {
      if (at.depth > limits.maxPayloadDepth) {
        return { rule: 'maxDepth', message: `${pathOf(at)} is nested deeper than ${limits.maxPayloadDepth} levels` };
      }
      minBytes += 2;
      maxBytes += 2;
      const depth = at.depth + 1;
      if (Array.isArray(value)) {
        maxBytes += value.length; // commas
        for (let i = 0; i < value.length; i++) stack.push({ value: value[i], depth, parent: at, key: i });
      } else {
        const o = value as Record<string, unknown>;
        for (const key of Object.keys(o)) {
          if (hasLoneSurrogate(key)) return { rule: 'unicode', message: `a key in ${pathOf(at)} holds a lone UTF-16 surrogate` };
          minBytes += key.length + 3;
          maxBytes += key.length * MAX_BYTES_PER_UNIT + 4; // quotes, colon, comma
          stack.push({ value: o[key], depth, parent: at, key });
        }
      }
    } else {
      return { rule: 'type', message: `${pathOf(at)} must hold only JSON values` };
    }
    if (minBytes > limits.maxPayloadBytes) return tooLarge(limits);
  }
  if (maxBytes > limits.maxPayloadBytes && canonicalPayloadBytes(payload as JsonObject) > limits.maxPayloadBytes) return tooLarge(limits);
  return null;
}

const tooLarge = (limits: PayloadLimits): PayloadProblem => ({
  rule: 'maxBytes',
  message: `must be at most ${limits.maxPayloadBytes} bytes in canonical JSON (RFC 8785, UTF-8)`,
});
