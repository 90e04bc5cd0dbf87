// The leaf of an event (docs/log-format.md "The leaf of an event"): RFC 8785 JSON of exactly these members.
import { canonicalJson, canonicalString } from './canonical-json.js';
import type { JsonObject } from './json.js';
import { hashLeafTextAround } from './rfc6962/hasher.js';

/** prevHash of the event at seq 0. */
export const ZERO_HASH_HEX = '0'.repeat(64);

export const LEAF_VERSION = 1;

const MIN_TIME_MS = Date.parse('0000-01-01T00:00:00.000Z');
const MAX_TIME_MS = Date.parse('9999-12-31T23:59:59.999Z');
const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const HASH_HEX_RE = /^[0-9a-f]{64}$/;

/** Epoch ms → `YYYY-MM-DDTHH:mm:ss.sssZ`. Throws RangeError for non-integers and years outside 0000–9999. */
export function formatTime(ms: number): string {
  if (!Number.isInteger(ms)) throw new RangeError(`time must be an integer number of ms, got ${ms}`);
  if (ms < MIN_TIME_MS || ms > MAX_TIME_MS) throw new RangeError(`time ${ms} is outside years 0000-9999`);
  // Times of one batch fall within a few seconds: each second's `YYYY-MM-DDTHH:mm:ss.` is written once.
  const second = Math.floor(ms / 1000);
  const slot = second & (SECOND_SLOTS - 1);
  if (secondOf[slot] !== second) {
    secondOf[slot] = second;
    secondText[slot] = new Date(second * 1000).toISOString().slice(0, 20);
  }
  return `${secondText[slot]}${MILLIS[ms - second * 1000]}Z`;
}

const SECOND_SLOTS = 8;
const secondOf = new Array<number>(SECOND_SLOTS).fill(Number.NaN);
const secondText = new Array<string>(SECOND_SLOTS).fill('');
const MILLIS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

/** Inverse of formatTime; throws RangeError unless `s` is exactly that format and a real instant. */
export function parseTime(s: string): number {
  const ms = TIME_RE.test(s) ? Date.parse(s) : NaN;
  if (Number.isNaN(ms) || formatTime(ms) !== s) throw new RangeError(`not a leaf time: ${JSON.stringify(s)}`);
  return ms;
}

export interface LeafFields {
  sourceAppId: string;
  seq: number;
  /** Lowercase hex of the previous leaf hash; ZERO_HASH_HEX at seq 0. */
  prevHash: string;
  eventType: string;
  /** formatTime output. */
  timestamp: string;
  /** formatTime output. */
  receivedAt: string;
  payload: JsonObject;
}

/** An event as JSON, the way the API serves it (GraphQL `Event`, REST): its leaf fields and its hash. */
export interface EventJson extends LeafFields {
  /** leafHashHex of the other fields. */
  hash: string;
}

/** Everything but the times (see checkTimes) and the payload. */
function checkScalars(f: Omit<LeafFields, 'timestamp' | 'receivedAt' | 'payload'>): void {
  if (typeof f.sourceAppId !== 'string') throw new TypeError('sourceAppId must be a string');
  if (typeof f.eventType !== 'string') throw new TypeError('eventType must be a string');
  if (!Number.isSafeInteger(f.seq) || f.seq < 0) throw new RangeError(`seq must be a non-negative integer, got ${f.seq}`);
  if (typeof f.prevHash !== 'string' || !HASH_HEX_RE.test(f.prevHash))
    throw new TypeError('prevHash must be 64 lowercase hex characters');
}

function checkPayloadObject(payload: JsonObject): void {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
    throw new TypeError('payload must be a JSON object');
}

/** Everything but the times (see checkTimes). */
function checkFields(f: Omit<LeafFields, 'timestamp' | 'receivedAt'>): void {
  checkScalars(f);
  checkPayloadObject(f.payload);
}

/** Times as formatTime writes them (leafText puts them in unescaped). */
function checkTimes(f: Pick<LeafFields, 'timestamp' | 'receivedAt'>): void {
  parseTime(f.timestamp);
  parseTime(f.receivedAt);
}

/**
 * The RFC 8785 text of the leaf object of checked fields, around its payload: its members sorted by
 * name (eventType < payload < prevHash < receivedAt < seq < sourceAppId < timestamp < v); prevHash
 * and the times are checked to need no escaping; the payload is the one nested value, between the two.
 */
function leafTextAround(
  f: Omit<LeafFields, 'timestamp' | 'receivedAt' | 'payload'>,
  timestamp: string,
  receivedAt: string,
): [before: string, after: string] {
  return [
    `{"eventType":${canonicalString(f.eventType)},"payload":`,
    `,"prevHash":"${f.prevHash}","receivedAt":"${receivedAt}","seq":${f.seq},` +
      `"sourceAppId":${canonicalString(f.sourceAppId)},"timestamp":"${timestamp}","v":${LEAF_VERSION}}`,
  ];
}

function leafText(
  f: Omit<LeafFields, 'timestamp' | 'receivedAt' | 'payload'>,
  timestamp: string,
  receivedAt: string,
  payloadText: string,
): string {
  const [before, after] = leafTextAround(f, timestamp, receivedAt);
  return before + payloadText + after;
}

// The entry points: leafBytes (the leaf itself, for the spec and other implementations), leafHashHex
// (an event as the API serves it, times as text: what auditors recompute) and eventLeafHash (an event as
// the log stores it, times as epoch ms: what the sequencer, the integrator, the audit and a store's
// writer compute). All three give the same leaf for the same event.

/** UTF-8 of the RFC 8785 serialization of the leaf object. Throws on fields the contract cannot encode. */
export function leafBytes(f: LeafFields): Uint8Array {
  checkFields(f);
  checkTimes(f);
  return Buffer.from(leafText(f, f.timestamp, f.receivedAt, canonicalJson(f.payload)), 'utf8');
}

/** The event's `hash`, SHA-256(0x00 || leafBytes(f)) in lowercase hex. Throws as leafBytes does. */
export function leafHashHex(f: LeafFields): string {
  checkFields(f);
  checkTimes(f);
  const [before, after] = leafTextAround(f, f.timestamp, f.receivedAt);
  return hashLeafTextAround(before, canonicalJson(f.payload), after);
}

/** The leaf fields of an event as the log stores it: times as epoch ms (formatted here, never parsed back). */
export type EventLeafFields = Omit<LeafFields, 'timestamp' | 'receivedAt' | 'payload'> & {
  timestamp: number;
  receivedAt: number;
};

/**
 * leafHashHex of a stored event's fields. `payloadText`, when given, must be exactly
 * canonicalJson(payload) of a JSON object and is hashed as it is (a store's writer holds the text, not
 * the object); otherwise the payload object is serialized here. Throws on fields the contract cannot
 * encode (formatTime's checks apply to the times).
 */
export function eventLeafHash(e: EventLeafFields & { payload: JsonObject }, payloadText?: string): string;
export function eventLeafHash(e: EventLeafFields, payloadText: string): string;
export function eventLeafHash(e: EventLeafFields & { payload?: JsonObject }, payloadText?: string): string {
  if (payloadText === undefined) {
    checkPayloadObject(e.payload!);
    payloadText = canonicalJson(e.payload);
  } else if (e.payload !== undefined) {
    checkPayloadObject(e.payload);
  }
  const timestamp = formatTime(e.timestamp);
  const receivedAt = formatTime(e.receivedAt);
  checkScalars(e);
  if (typeof payloadText !== 'string' || payloadText[0] !== '{') throw new TypeError('payload text must be a JSON object');
  const [before, after] = leafTextAround(e, timestamp, receivedAt);
  return hashLeafTextAround(before, payloadText, after);
}
