// C2SP tlog-tiles (c2sp.org/tlog-tiles): tile coordinates, their paths, and entry bundles. Tiles have
// height 8: a tile holds up to 256 hashes, and the hashes of a tile at level L are Merkle Tree Hashes
// of 256**L leaves, that is the tree nodes at level 8·L.
import { formatTime, leafBytes, ZERO_HASH_HEX } from './leaf.js';

/** Hashes in a full tile, and entries in a full entry bundle. */
export const TILE_WIDTH = 256;
/** Tree levels one tile spans. */
export const TILE_HEIGHT = 8;
/** The most bytes one entry of a bundle may have: its length is a big-endian uint16. */
export const MAX_ENTRY_BYTES = 0xffff;
/** The highest tile level the spec admits. */
export const MAX_TILE_LEVEL = 63;

/** A tile (level >= 0) or an entry bundle (level 'entries'); width 256 is a full one, 1-255 a partial one. */
export interface TileCoordinate {
  level: number | 'entries';
  index: bigint;
  width: number;
}

export class TilePathError extends Error {
  override name = 'TilePathError';
}

const LEVEL_RE = /^(?:0|[1-9][0-9]?)$/;
const WIDTH_RE = /^[1-9][0-9]{0,2}$/;
const LAST_ELEMENT_RE = /^[0-9]{3}$/;
const INNER_ELEMENT_RE = /^x[0-9]{3}$/;

/** `<N>` as zero-padded 3-digit path elements, all but the last prefixed with `x` (1234067 → x001/x234/067). */
export function formatTileIndex(index: bigint): string {
  if (index < 0n) throw new TilePathError(`tile index ${index} is negative`);
  const groups: string[] = [];
  let rest = index;
  do {
    groups.unshift((rest % 1000n).toString().padStart(3, '0'));
    rest /= 1000n;
  } while (rest > 0n);
  return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/');
}

/** The path of a tile below a log's prefix: `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`. */
export function formatTilePath(t: TileCoordinate): string {
  if (t.width < 1 || t.width > TILE_WIDTH || !Number.isInteger(t.width)) throw new TilePathError(`tile width ${t.width}`);
  const partial = t.width < TILE_WIDTH ? `.p/${t.width}` : '';
  return `tile/${t.level}/${formatTileIndex(t.index)}${partial}`;
}

/**
 * The coordinate of `tile/...` path segments after `tile/` (e.g. ['0', 'x001', '234.p', '7']). Only the
 * canonical form is accepted: L 0-63 and W 1-255 without leading zeros, N in 3-digit elements with no
 * leading `x000` element, so that each tile has one path. Throws TilePathError naming the rule broken.
 */
export function parseTilePath(segments: readonly string[]): TileCoordinate {
  if (segments.length < 2) throw new TilePathError('a tile path is tile/<L>/<N>[.p/<W>]');
  const [levelText, ...rest] = segments as [string, ...string[]];
  let level: TileCoordinate['level'];
  if (levelText === 'entries') level = 'entries';
  else if (LEVEL_RE.test(levelText) && Number(levelText) <= MAX_TILE_LEVEL) level = Number(levelText);
  else throw new TilePathError(`tile level ${JSON.stringify(levelText)} must be 0-63 (or "entries"), without leading zeros`);

  let width = TILE_WIDTH;
  const elements = [...rest];
  const last = elements[elements.length - 1]!;
  if (elements.length >= 2 && elements[elements.length - 2]!.endsWith('.p')) {
    if (!WIDTH_RE.test(last) || Number(last) >= TILE_WIDTH) {
      throw new TilePathError(`partial tile width ${JSON.stringify(last)} must be 1-255, without leading zeros`);
    }
    width = Number(last);
    elements.pop();
    elements[elements.length - 1] = elements[elements.length - 1]!.slice(0, -'.p'.length);
  }
  if (elements.length === 0) throw new TilePathError('a tile path needs the tile index <N>');
  let index = 0n;
  elements.forEach((e, i) => {
    const ok = i === elements.length - 1 ? LAST_ELEMENT_RE.test(e) : INNER_ELEMENT_RE.test(e);
    if (!ok) {
      throw new TilePathError(
        `tile index element ${JSON.stringify(e)} must be 3 digits, prefixed with x in all but the last element`,
      );
    }
    index = index * 1000n + BigInt(i === elements.length - 1 ? e : e.slice(1));
  });
  if (elements.length > 1 && elements[0] === 'x000') throw new TilePathError('tile index must not start with an x000 element');
  return { level, index, width };
}

/** The tree level of the hashes of a tile at `level` (entry bundles are at 0, like level-0 tiles). */
export const treeLevelOf = (t: TileCoordinate): number => (t.level === 'entries' ? 0 : t.level * TILE_HEIGHT);

/**
 * The tree size a tile needs: the leaves its hashes cover, (N·256 + W)·256**L. A tile can be served for a
 * tree of at least this size (a full tile, and a partial one of a size a checkpoint committed to).
 */
export function leavesCovered(t: TileCoordinate): bigint {
  const level = t.level === 'entries' ? 0 : t.level;
  return (t.index * BigInt(TILE_WIDTH) + BigInt(t.width)) * BigInt(TILE_WIDTH) ** BigInt(level);
}

/** The index (at its tree level) of the first hash of the tile. */
export const firstNodeIndex = (t: TileCoordinate): bigint => t.index * BigInt(TILE_WIDTH);

/** An entry bundle: each entry a big-endian uint16 length, then its bytes. Throws if one exceeds MAX_ENTRY_BYTES. */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  entries.forEach((e, i) => {
    if (e.length > MAX_ENTRY_BYTES) throw new RangeError(`entry ${i} has ${e.length} bytes; at most ${MAX_ENTRY_BYTES} fit`);
    total += 2 + e.length;
  });
  const out = new Uint8Array(total);
  let at = 0;
  for (const e of entries) {
    out[at] = e.length >> 8;
    out[at + 1] = e.length & 0xff;
    out.set(e, at + 2);
    at += 2 + e.length;
  }
  return out;
}

/** The entries of a bundle; throws RangeError when the bundle is cut short. */
export function decodeEntryBundle(bundle: Uint8Array): Uint8Array[] {
  const entries: Uint8Array[] = [];
  let at = 0;
  while (at < bundle.length) {
    if (at + 2 > bundle.length) throw new RangeError(`entry bundle ends inside a length at byte ${at}`);
    const length = (bundle[at]! << 8) | bundle[at + 1]!;
    if (at + 2 + length > bundle.length) throw new RangeError(`entry bundle ends inside entry ${entries.length}`);
    entries.push(bundle.subarray(at + 2, at + 2 + length));
    at += 2 + length;
  }
  return entries;
}

/**
 * The most bytes the leaf of an event of this log and type can have with a payload of `payloadBytes`
 * bytes (canonical JSON, UTF-8), whatever seq it gets: its leaf, with the payload `{}` and the largest
 * seq, plus the payload's other bytes. An event is admitted only if this is at most MAX_ENTRY_BYTES, so
 * every leaf fits in an entry bundle.
 */
export function leafBytesBound(f: { sourceAppId: string; eventType: string }, payloadBytes: number): number {
  const time = formatTime(0);
  const emptyLeaf = leafBytes({
    sourceAppId: f.sourceAppId,
    eventType: f.eventType,
    seq: Number.MAX_SAFE_INTEGER,
    prevHash: ZERO_HASH_HEX,
    timestamp: time,
    receivedAt: time,
    payload: {},
  });
  return emptyLeaf.length - '{}'.length + payloadBytes;
}
