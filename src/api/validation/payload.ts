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

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

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

/** The first rule the payload breaks, or null. Iterative, so hostile nesting cannot overflow the stack. */
export function checkPayload(payload: unknown, limits: PayloadLimits): PayloadProblem | null {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload) || !isPlainObject(payload)) {
    return { rule: 'type', message: 'must be a JSON object' };
  }
  // A lower bound of the canonical size (UTF-16 units never exceed UTF-8 bytes) lets huge input fail fast.
  let minBytes = 0;
  const stack: Array<{ value: unknown; depth: number; path: string }> = [{ value: payload, depth: 1, path: 'payload' }];
  while (stack.length > 0) {
    const { value, depth, path } = stack.pop()!;
    if (typeof value === 'string') {
      if (LONE_SURROGATE.test(value)) return { rule: 'unicode', message: `${path} holds a lone UTF-16 surrogate` };
      minBytes += value.length + 2;
    } else if (typeof value === 'number') {
      if (!Number.isFinite(value)) return { rule: 'finite', message: `${path} must be a finite number` };
      minBytes += 1;
    } else if (value === null || typeof value === 'boolean') {
      minBytes += 4;
    } else if (typeof value === 'object' && (Array.isArray(value) || isPlainObject(value))) {
      if (depth > limits.maxPayloadDepth) {
        return { rule: 'maxDepth', message: `${path} is nested deeper than ${limits.maxPayloadDepth} levels` };
      }
      minBytes += 2;
      if (Array.isArray(value)) {
        value.forEach((item, i) => stack.push({ value: item, depth: depth + 1, path: `${path}[${i}]` }));
      } else {
        for (const [key, item] of Object.entries(value)) {
          if (LONE_SURROGATE.test(key)) return { rule: 'unicode', message: `a key in ${path} holds a lone UTF-16 surrogate` };
          minBytes += key.length + 3;
          stack.push({ value: item, depth: depth + 1, path: `${path}.${key}` });
        }
      }
    } else {
      return { rule: 'type', message: `${path} must hold only JSON values` };
    }
    if (minBytes > limits.maxPayloadBytes) return tooLarge(limits);
  }
  if (canonicalPayloadBytes(payload as JsonObject) > limits.maxPayloadBytes) return tooLarge(limits);
  return null;
}

const tooLarge = (limits: PayloadLimits): PayloadProblem => ({
  rule: 'maxBytes',
  message: `must be at most ${limits.maxPayloadBytes} bytes in canonical JSON (RFC 8785, UTF-8)`,
});
