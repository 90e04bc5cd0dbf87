// The leaf of an event (docs/log-format.md "The leaf of an event"): RFC 8785 JSON of exactly these members.
// Version 1 holds the payload; version 2 holds a salted commitment to it (payloadHash), so the payload
// can be erased and the leaf still recomputed. Every entry point below takes either version: a leaf is
// version 2 exactly when its fields carry a `payloadHash` string.
import { canonicalJson, rememberedStrings } from './canonical-json.js';
import { hexDecode, sha256HexOfBytesAndText, sha256HexOfHexAndText, utf8Encode } from './crypto/primitives.js';
import type { JsonObject } from './json.js';
import { isHex64 } from './hex.js';
import { hashLeafTextAround } from './rfc6962/hasher.js';
import { formatTime, parseTime } from './time.js';

export { formatTime, parseTime } from './time.js';

/** prevHash of the event at seq 0. */
export const ZERO_HASH_HEX = '0'.repeat(64);

/** Version 1: the leaf holds the payload. */
export const LEAF_VERSION = 1;
/** Version 2: the leaf holds payloadHash, a salted commitment to the payload. */
export const LEAF_VERSION_2 = 2;
export type LeafVersion = 1 | 2;
/** Bytes of a version 2 payload salt. */
export const PAYLOAD_SALT_BYTES = 32;

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

/** The fields of a version 2 leaf: those of version 1 with the payload's commitment in its place. */
export interface LeafFieldsV2 extends Omit<LeafFields, 'payload'> {
  /** payloadCommitment(salt, payload): lowercase hex of SHA-256(salt || RFC 8785 payload). */
  payloadHash: string;
}

/**
 * The fields of a leaf of either version: version 2 exactly when `payloadHash` is a string (its
 * payload, present or erased, is not part of the leaf); version 1 needs its payload object.
 */
export type AnyLeafFields = Omit<LeafFields, 'payload'> & {
  payload?: JsonObject | null | undefined;
  payloadHash?: string | null | undefined;
};

/** Which version a leaf's fields are of. */
export function leafVersionOf(f: { payloadHash?: string | null | undefined }): LeafVersion {
  return typeof f.payloadHash === 'string' ? LEAF_VERSION_2 : LEAF_VERSION;
}

/**
 * An event as JSON, the way the API serves it (GraphQL `Event`, REST): its leaf fields and its hash.
 * Version 2 events also carry payloadHash and, until erased, payloadSalt; an erased event's payload is null.
 */
export interface EventJson extends Omit<LeafFields, 'payload'> {
  payload: JsonObject | null;
  /** Version 2: the leaf's payloadHash; null or absent for version 1. */
  payloadHash?: string | null;
  /** Version 2 until erased: the salt, 64 lowercase hex characters. */
  payloadSalt?: string | null;
  /** leafHashHex of the other fields. */
  hash: string;
}

/** Everything but the times (see checkTimes) and the payload; prevHash unless the caller has shown it well-formed. */
function checkScalars(f: Omit<LeafFields, 'timestamp' | 'receivedAt' | 'payload'>, prevHashChecked = false): void {
  if (typeof f.sourceAppId !== 'string') throw new TypeError('sourceAppId must be a string');
  if (typeof f.eventType !== 'string') throw new TypeError('eventType must be a string');
  if (!Number.isSafeInteger(f.seq) || f.seq < 0) throw new RangeError(`seq must be a non-negative integer, got ${f.seq}`);
  if (!prevHashChecked && !isHex64(f.prevHash)) throw new TypeError('prevHash must be 64 lowercase hex characters');
}

function checkPayloadObject(payload: JsonObject): void {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
    throw new TypeError('payload must be a JSON object');
}

/**
 * The last timestamp and receivedAt texts parseTime accepted: a batch's events share their receivedAt
 * (and often a timestamp), and a verifier checks two times per event. The same text has the same answer.
 */
let checkedTimestamp = formatTime(0);
let checkedReceivedAt = checkedTimestamp;

/** Times as formatTime writes them (leafText puts them in unescaped). */
function checkTimes(f: Pick<LeafFields, 'timestamp' | 'receivedAt'>): void {
  if (f.timestamp !== checkedTimestamp) {
    parseTime(f.timestamp);
    checkedTimestamp = f.timestamp;
  }
  if (f.receivedAt !== checkedReceivedAt) {
    parseTime(f.receivedAt);
    checkedReceivedAt = f.receivedAt;
  }
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
    `{"eventType":${leafString(f.eventType)},"payload":`,
    `,"prevHash":"${f.prevHash}","receivedAt":"${receivedAt}","seq":${f.seq},` +
      `"sourceAppId":${leafString(f.sourceAppId)},"timestamp":"${timestamp}","v":${LEAF_VERSION}}`,
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

/**
 * The RFC 8785 text of a version 2 leaf: eventType < payloadHash < prevHash < … < v. payloadHash is
 * checked to be 64 lowercase hex unless the caller has shown it (`payloadHashChecked`: checkedLeafHashHex).
 */
function leafTextV2(
  f: Omit<LeafFields, 'timestamp' | 'receivedAt' | 'payload'>,
  timestamp: string,
  receivedAt: string,
  payloadHash: string,
  payloadHashChecked = false,
): [before: string, middle: string, after: string] {
  if (!payloadHashChecked && !isHex64(payloadHash)) throw new TypeError('payloadHash must be 64 lowercase hex characters');
  return [
    `{"eventType":${leafString(f.eventType)},"payloadHash":`,
    `"${payloadHash}"`,
    `,"prevHash":"${f.prevHash}","receivedAt":"${receivedAt}","seq":${f.seq},` +
      `"sourceAppId":${leafString(f.sourceAppId)},"timestamp":"${timestamp}","v":${LEAF_VERSION_2}}`,
  ];
}

/** Salt bytes from 64 lowercase hex characters; throws TypeError otherwise. */
export function parseSalt(saltHex: string): Uint8Array {
  if (!isHex64(saltHex)) throw new TypeError(`payloadSalt must be ${PAYLOAD_SALT_BYTES * 2} lowercase hex characters`);
  return hexDecode(saltHex)!;
}

/**
 * A version 2 leaf's payloadHash: SHA-256(salt || UTF-8 of `payloadText`) in lowercase hex, where
 * `payloadText` is the payload's RFC 8785 text (canonicalJson of a JSON object) and salt is 32 bytes.
 */
export function payloadCommitment(salt: Uint8Array, payloadText: string): string {
  if (salt.length !== PAYLOAD_SALT_BYTES) throw new RangeError(`salt must be ${PAYLOAD_SALT_BYTES} bytes, got ${salt.length}`);
  if (typeof payloadText !== 'string' || payloadText[0] !== '{') throw new TypeError('payload text must be a JSON object');
  return sha256HexOfBytesAndText(salt, payloadText);
}

/**
 * Whether a version 2 event's payload and salt are the ones its payloadHash commits to (the check a
 * verifier makes while the payload exists). False for a salt or hash that is not 64 lowercase hex.
 */
export function payloadMatchesCommitment(payload: JsonObject, saltHex: string, payloadHash: string): boolean {
  // No format check of payloadHash: the digest is 64 lowercase hex, so only such a payloadHash can equal it.
  if (!isHex64(saltHex)) return false;
  try {
    checkPayloadObject(payload);
  } catch {
    return false;
  }
  // payloadCommitment of the salt's bytes, the hex written straight into the hash input (checked above).
  return sha256HexOfHexAndText(saltHex, canonicalJson(payload)) === payloadHash;
}

/**
 * payloadMatchesCommitment with the salt as its 32 bytes (false for any other length): a verifier that
 * has checked a page's salts as text all at once (64 lowercase hex each) decodes them in one call.
 */
export function payloadMatchesCommitmentOfSalt(payload: JsonObject, salt: Uint8Array, payloadHash: string): boolean {
  if (salt.length !== PAYLOAD_SALT_BYTES) return false;
  try {
    checkPayloadObject(payload);
  } catch {
    return false;
  }
  return sha256HexOfBytesAndText(salt, canonicalJson(payload)) === payloadHash;
}

// The entry points: leafBytes (the leaf itself, for the spec and other implementations), leafHashHex
// (an event as the API serves it, times as text: what auditors recompute) and eventLeafHash (an event as
// the log stores it, times as epoch ms: what the sequencer, the integrator, the audit and a mirror's
// follower compute). All three give the same leaf for the same event.

function asV1(f: AnyLeafFields, prevHashChecked = false): LeafFields {
  if (f.payload === null || f.payload === undefined) throw new TypeError('a version 1 leaf needs its payload object');
  const v1 = f as LeafFields;
  checkScalars(v1, prevHashChecked);
  checkPayloadObject(v1.payload);
  return v1;
}

/**
 * UTF-8 of the RFC 8785 serialization of the leaf object, of either version (version 2 when `f` has a
 * payloadHash string; its payload, if any, is not part of the leaf). Throws on fields the contract
 * cannot encode.
 */
export function leafBytes(f: AnyLeafFields): Uint8Array {
  checkTimes(f);
  if (typeof f.payloadHash === 'string') {
    checkScalars(f);
    return utf8Encode(leafTextV2(f, f.timestamp, f.receivedAt, f.payloadHash).join(''));
  }
  const v1 = asV1(f);
  return utf8Encode(leafText(v1, v1.timestamp, v1.receivedAt, canonicalJson(v1.payload)));
}

/** The event's `hash`, SHA-256(0x00 || leafBytes(f)) in lowercase hex, of either version. Throws as leafBytes does. */
export function leafHashHex(f: AnyLeafFields): string {
  return checkedLeafHashHex(f, false, false);
}

/**
 * leafHashHex for a verifier that has already shown some fields well-formed, which are then not checked
 * again (the same answer and the same refusals as leafHashHex for such fields): `prevHashChecked` when
 * f.prevHash is equal to a leaf hash the verifier computed (a chain link that holds), `payloadHashChecked`
 * when f.payloadHash is equal to a SHA-256 digest in lowercase hex it computed (a version 2 payload
 * commitment that holds). Each saves a 64-character format check per event of an audit.
 */
export function checkedLeafHashHex(f: AnyLeafFields, prevHashChecked: boolean, payloadHashChecked: boolean): string {
  checkTimes(f);
  if (typeof f.payloadHash === 'string') {
    checkScalars(f, prevHashChecked);
    return hashLeafTextAround(...leafTextV2(f, f.timestamp, f.receivedAt, f.payloadHash, payloadHashChecked));
  }
  const v1 = asV1(f, prevHashChecked);
  const [before, after] = leafTextAround(v1, v1.timestamp, v1.receivedAt);
  return hashLeafTextAround(before, canonicalJson(v1.payload), after);
}

/** An event type or a log's name as a JSON literal: a log's events repeat a handful of each. */
const leafString = rememberedStrings(1024, 128);

/**
 * The leaf fields of an event as the log stores it: times as epoch ms (formatted here, never parsed
 * back); `payloadHash` a string for version 2.
 */
export type EventLeafFields = Omit<LeafFields, 'timestamp' | 'receivedAt' | 'payload'> & {
  timestamp: number;
  receivedAt: number;
  payloadHash?: string | null | undefined;
};

/**
 * leafHashHex of a stored event's fields. Version 2 (a payloadHash string): the leaf of the
 * commitment; the payload and `payloadText` play no part (an erased event has neither). Version 1:
 * `payloadText`, when given, must be exactly canonicalJson(payload) of a JSON object and is hashed as
 * it is (the sequencer has made the text for the engine already); otherwise the payload object is serialized
 * here. Throws on fields the contract cannot encode (formatTime's checks apply to the times).
 */
export function eventLeafHash(e: EventLeafFields & { payload: JsonObject | null }, payloadText?: string): string;
export function eventLeafHash(e: EventLeafFields, payloadText: string): string;
export function eventLeafHash(e: EventLeafFields & { payloadHash: string }): string;
export function eventLeafHash(e: EventLeafFields & { payload?: JsonObject | null }, payloadText?: string): string {
  if (typeof e.payloadHash === 'string') {
    const timestamp = formatTime(e.timestamp);
    const receivedAt = formatTime(e.receivedAt);
    checkScalars(e);
    return hashLeafTextAround(...leafTextV2(e, timestamp, receivedAt, e.payloadHash));
  }
  if (e.payload === null) throw new TypeError('a version 1 leaf needs its payload');
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
